/* Unit tests of the descriptor check (host/plugin_loader.c): what FH_EXECUTOR and
 * FH_PLUGIN make passes; a descriptor made otherwise that breaks the binding rules or
 * the limits gets a clear error naming what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <flowhost/error.h>
#include <flowhost/executor.h>

#include "plugin_loader.h"

static int h(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)ctx;
    (void)docs;
    (void)params;
    return 0;
}

FH_EXECUTOR(Good, NULL, NULL, FH_REQUESTS(h), FH_REQUESTS(h, "/a", "/b", "/c", "/d", "/e",
                                                           "/f", "/g", "/h"),
            FH_HANDLER(h));
FH_EXECUTOR(Empty, NULL, NULL);

static const fh_executor_type *const good_types[] = {&fh__executor_Good, &fh__executor_Empty,
                                                     NULL};

/* A descriptor of the one type whose bindings are B. */
static int check_bindings_of(const fh_binding *b)
{
    static fh_executor_type t;
    memset(&t, 0, sizeof t);
    t.struct_size = sizeof t;
    t.name = "T";
    t.bindings = b;
    const fh_executor_type *types[] = {&t, NULL};
    fh_plugin_descriptor d = {FH_PLUGIN_MAGIC, FH_ABI_MAJOR, FH_ABI_MINOR, sizeof d, types, {NULL}};
    return fh_plugin_check_descriptor(&d, "p.so");
}

static void assert_error(int rc, const char *needle)
{
    assert_int_equal(rc, FH_E_ABI);
    if (strstr(fh_last_error(), needle) == NULL)
        fail_msg("[%s] not in [%s]", needle, fh_last_error());
}

static void test_macros_pass(void **state)
{
    (void)state;
    fh_plugin_descriptor d = {FH_PLUGIN_MAGIC, FH_ABI_MAJOR, FH_ABI_MINOR, sizeof d, good_types,
                              {NULL}};
    assert_int_equal(fh_plugin_check_descriptor(&d, "p.so"), 0);
    assert_int_equal(fh__executor_Good.bindings[0].kind, FH_BIND_DEFAULT);
    assert_int_equal(fh__executor_Good.bindings[1].kind, FH_BIND_ENDPOINTS);
    assert_string_equal(fh__executor_Good.bindings[1].endpoints[7], "/h");
    assert_int_equal(fh__executor_Good.bindings[2].kind, FH_BIND_NONE);
    assert_string_equal(fh__executor_Good.bindings[2].handler_name, "h");
    assert_null(fh__executor_Good.bindings[3].handler);
    assert_null(fh__executor_Empty.bindings[0].handler);
}

static void test_bad_bindings(void **state)
{
    (void)state;
    const fh_binding no_name[] = {{h, NULL, FH_BIND_DEFAULT, {NULL}}, {NULL, NULL, 0, {NULL}}};
    assert_error(check_bindings_of(no_name), "p.so: executor type 'T': binding #0 has no handler name");
    const fh_binding kind[] = {{h, "h", 0, {NULL}}, {NULL, NULL, 0, {NULL}}};
    assert_error(check_bindings_of(kind), "handler 'h' has binding kind 0");
    const fh_binding empty[] = {{h, "h", FH_BIND_ENDPOINTS, {NULL}}, {NULL, NULL, 0, {NULL}}};
    assert_error(check_bindings_of(empty), "handler 'h' is bound to an empty list of endpoints");
    const fh_binding listed[] = {{h, "h", FH_BIND_DEFAULT, {"/a"}}, {NULL, NULL, 0, {NULL}}};
    assert_error(check_bindings_of(listed), "handler 'h' lists endpoints in a binding without endpoints");
    const fh_binding slash[] = {{h, "h", FH_BIND_ENDPOINTS, {"/a", "b"}}, {NULL, NULL, 0, {NULL}}};
    assert_error(check_bindings_of(slash), "endpoint 'b' of handler 'h' does not start with '/'");
}

static void test_limits(void **state)
{
    (void)state;
    static fh_binding many[FH_MAX_BINDINGS + 2];
    for (size_t i = 0; i < FH_MAX_BINDINGS + 1; i++)
        many[i] = (fh_binding){h, "h", FH_BIND_NONE, {NULL}};
    assert_error(check_bindings_of(many), "executor type 'T' has more than 64 bindings");
    many[FH_MAX_BINDINGS] = (fh_binding){NULL, NULL, 0, {NULL}};
    assert_int_equal(check_bindings_of(many), 0);

    const fh_executor_type *types[FH_MAX_TYPES + 2];
    for (size_t i = 0; i < FH_MAX_TYPES + 1; i++)
        types[i] = &fh__executor_Empty;
    types[FH_MAX_TYPES + 1] = NULL;
    fh_plugin_descriptor d = {FH_PLUGIN_MAGIC, FH_ABI_MAJOR, FH_ABI_MINOR, sizeof d, types, {NULL}};
    assert_error(fh_plugin_check_descriptor(&d, "p.so"), "p.so: more than 8 executor types");
    types[FH_MAX_TYPES] = NULL;
    assert_int_equal(fh_plugin_check_descriptor(&d, "p.so"), 0);
}

static void test_other_major(void **state)
{
    (void)state;
    fh_plugin_descriptor d = {FH_PLUGIN_MAGIC, 1, 0, sizeof d, good_types, {NULL}};
    assert_error(fh_plugin_check_descriptor(&d, "old.so"),
                 "old.so: plugin built for flowhost ABI 1.0, this flowhost runs ABI 2.2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_macros_pass),
        cmocka_unit_test(test_bad_bindings),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_other_major),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: typed values (value.c) and error codes (error.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pb.h"
#include <flowhost/error.h>
#include <flowhost/value.h>

static void test_scalars_keep_their_type(void **state)
{
    (void)state;
    fh_value *n = fh_value_new_null(), *b = fh_value_new_bool(true), *i = fh_value_new_int(-7),
             *d = fh_value_new_double(2.5), *s = fh_value_new_string("héllo"),
             *y = fh_value_new_bytes("a\0b", 3);
    assert_int_equal(fh_value_type(n), FH_TYPE_NULL);
    assert_int_equal(fh_value_type(b), FH_TYPE_BOOL);
    assert_int_equal(fh_value_type(i), FH_TYPE_INT);
    assert_int_equal(fh_value_type(d), FH_TYPE_DOUBLE);
    assert_int_equal(fh_value_type(s), FH_TYPE_STRING);
    assert_int_equal(fh_value_type(y), FH_TYPE_BYTES);
    assert_true(fh_value_bool(b, false));
    assert_int_equal(fh_value_int(i, 0), -7);
    assert_true(fh_value_double(d, 0) == 2.5);
    assert_string_equal(fh_value_string(s), "héllo");
    size_t len = 99;
    const char *bytes = fh_value_bytes(y, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(bytes, "a\0b", 3);
    fh_value *all[] = {n, b, i, d, s, y};
    for (size_t k = 0; k < 6; k++)
        fh_value_destroy(&all[k]);
}

static void test_getters_do_not_convert(void **state)
{
    (void)state;
    fh_value *i = fh_value_new_int(3), *d = fh_value_new_double(3.0), *s = fh_value_new_string("3");
    /* an int is not a double, except for fh_value_double */
    assert_int_equal(fh_value_int(d, -1), -1);
    assert_true(fh_value_double(i, -1) == 3.0);
    assert_int_equal(fh_value_int(s, -1), -1);
    assert_false(fh_value_bool(i, false));
    assert_null(fh_value_string(i));
    size_t len = 42;
    assert_null(fh_value_bytes(s, &len));
    assert_int_equal(len, 0);
    assert_int_equal(fh_value_len(s), 0);
    /* NULL answers as missing */
    assert_int_equal(fh_value_type(NULL), FH_TYPE_NULL);
    assert_int_equal(fh_value_int(NULL, 5), 5);
    assert_null(fh_list_at(NULL, 0));
    assert_null(fh_map_get(NULL, "a"));
    fh_value_destroy(&i);
    fh_value_destroy(&d);
    fh_value_destroy(&s);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(fh_type_name(FH_TYPE_NULL), "null");
    assert_string_equal(fh_type_name(FH_TYPE_INT), "int");
    assert_string_equal(fh_type_name(FH_TYPE_DOUBLE), "double");
    assert_string_equal(fh_type_name(FH_TYPE_MAP), "map");
    assert_string_equal(fh_type_name(FH_TYPE_BYTES), "bytes");
}

/* A Value whose oneof is unset can arrive from the wire: it reads as null everywhere. */
static void test_unset_kind_is_null(void **state)
{
    (void)state;
    Flowhost__Value *raw = malloc(sizeof *raw);
    assert_non_null(raw);
    flowhost__value__init(raw);
    fh_value *v = (fh_value *)raw;
    assert_int_equal(fh_value_type(v), FH_TYPE_NULL);
    assert_int_equal(fh_value_int(v, 9), 9);
    assert_null(fh_value_string(v));
    fh_value *null = fh_value_new_null();
    assert_true(fh_value_equal(v, null));
    fh_value *copy = fh_value_copy(v);
    assert_int_equal(fh_value_type(copy), FH_TYPE_NULL);
    fh_value_destroy(&copy);
    fh_value_destroy(&null);
    fh_value_destroy(&v);
}

static void test_destroy_nulls_pointer(void **state)
{
    (void)state;
    fh_value *v = fh_value_new_string("x");
    fh_value_destroy(&v);
    assert_null(v);
    fh_value_destroy(&v); /* twice is fine */
    fh_value_destroy(NULL);
}

static void test_list(void **state)
{
    (void)state;
    fh_value *l = fh_value_new_list();
    assert_int_equal(fh_value_type(l), FH_TYPE_LIST);
    for (int k = 0; k < 100; k++)
        assert_int_equal(fh_list_append(l, fh_value_new_int(k)), 0);
    assert_int_equal(fh_value_len(l), 100);
    assert_int_equal(fh_value_int(fh_list_at(l, 0), -1), 0);
    assert_int_equal(fh_value_int(fh_list_at(l, 99), -1), 99);
    assert_null(fh_list_at(l, 100));
    fh_value_destroy(&l);
}

/* Stored items are owned by the container even when storing fails: under ASan a leak
 * here fails the test. */
static void test_list_append_failures_take_ownership(void **state)
{
    (void)state;
    fh_value *m = fh_value_new_map();
    assert_int_equal(fh_list_append(m, fh_value_new_string("leak?")), FH_E_TYPE);
    assert_non_null(strstr(fh_last_error(), "not a list"));
    assert_int_equal(fh_value_len(m), 0);
    assert_int_equal(fh_list_append(NULL, fh_value_new_int(1)), FH_E_TYPE);
    fh_value *l = fh_value_new_list();
    assert_int_equal(fh_list_append(l, NULL), FH_E_INVAL);
    assert_int_equal(fh_value_len(l), 0);
    fh_value_destroy(&l);
    fh_value_destroy(&m);
}

static void test_map_set_get_and_order(void **state)
{
    (void)state;
    fh_value *m = fh_value_new_map();
    assert_int_equal(fh_map_set_int(m, "a", 1), 0);
    assert_int_equal(fh_map_set_string(m, "b", "two"), 0);
    assert_int_equal(fh_map_set_double(m, "c", 3.5), 0);
    assert_int_equal(fh_map_set_bool(m, "d", true), 0);
    /* replacing keeps the key's position and changes its type */
    assert_int_equal(fh_map_set_double(m, "b", 2.0), 0);
    assert_int_equal(fh_value_len(m), 4);
    const char *order[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(fh_map_key_at(m, i), order[i]);
    assert_null(fh_map_key_at(m, 4));
    assert_null(fh_map_value_at(m, 4));
    assert_int_equal(fh_value_type(fh_map_value_at(m, 1)), FH_TYPE_DOUBLE);
    assert_true(fh_map_get_double(m, "b", 0) == 2.0);
    assert_null(fh_map_get_string(m, "b", NULL)); /* no longer a string */
    assert_int_equal(fh_map_get_int(m, "a", 0), 1);
    assert_int_equal(fh_map_get_int(m, "c", -1), -1); /* a double is not an int */
    assert_true(fh_map_get_double(m, "a", 0) == 1.0); /* an int is a double */
    assert_true(fh_map_get_bool(m, "d", false));
    assert_string_equal(fh_map_get_string(m, "zz", "dflt"), "dflt");
    assert_null(fh_map_get(m, "zz"));

    assert_int_equal(fh_map_remove(m, "b"), 0);
    assert_int_equal(fh_value_len(m), 3);
    assert_string_equal(fh_map_key_at(m, 1), "c");
    assert_int_equal(fh_map_remove(m, "b"), FH_E_NOTFOUND);
    assert_non_null(strstr(fh_last_error(), "'b'"));
    /* a removed key that comes back goes to the end */
    assert_int_equal(fh_map_set_int(m, "b", 5), 0);
    assert_string_equal(fh_map_key_at(m, 3), "b");
    fh_value_destroy(&m);
}

static void test_map_set_failures_take_ownership(void **state)
{
    (void)state;
    fh_value *l = fh_value_new_list();
    assert_int_equal(fh_map_set(l, "k", fh_value_new_string("owned")), FH_E_TYPE);
    assert_int_equal(fh_map_set_int(l, "k", 1), FH_E_TYPE);
    fh_value *m = fh_value_new_map();
    assert_int_equal(fh_map_set(m, NULL, fh_value_new_string("owned")), FH_E_INVAL);
    assert_int_equal(fh_map_set(m, "k", NULL), FH_E_INVAL);
    assert_int_equal(fh_value_len(m), 0);
    assert_int_equal(fh_map_remove(l, "k"), FH_E_NOTFOUND);
    fh_value_destroy(&l);
    fh_value_destroy(&m);
}

static fh_value *sample_tree(void)
{
    fh_value *m = fh_value_new_map();
    fh_value *l = fh_value_new_list();
    fh_list_append(l, fh_value_new_int(1));
    fh_list_append(l, fh_value_new_double(1.0));
    fh_list_append(l, fh_value_new_null());
    fh_list_append(l, fh_value_new_bytes("\x00\xff", 2));
    fh_map_set(m, "list", l);
    fh_value *inner = fh_value_new_map();
    fh_map_set_string(inner, "s", "");
    fh_map_set_bool(inner, "f", false);
    fh_map_set(m, "inner", inner);
    fh_map_set(m, "empty_list", fh_value_new_list());
    fh_map_set(m, "empty_map", fh_value_new_map());
    fh_map_set(m, "empty_bytes", fh_value_new_bytes(NULL, 0));
    fh_map_set_int(m, "big", INT64_MAX);
    return m;
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    fh_value *m = sample_tree();
    fh_value *c = fh_value_copy(m);
    assert_non_null(c);
    assert_true(fh_value_equal(m, c));
    /* changing the copy leaves the original alone */
    fh_map_set_int(fh_map_get(c, "inner"), "s", 7);
    assert_false(fh_value_equal(m, c));
    assert_string_equal(fh_map_get_string(fh_map_get(m, "inner"), "s", "?"), "");
    assert_null(fh_value_copy(NULL));
    fh_value_destroy(&c);
    fh_value_destroy(&m);
}

static void test_equal_types_matter(void **state)
{
    (void)state;
    fh_value *i = fh_value_new_int(1), *d = fh_value_new_double(1.0), *b = fh_value_new_bool(true);
    assert_false(fh_value_equal(i, d));
    assert_false(fh_value_equal(i, b));
    fh_value *s1 = fh_value_new_string("ab"), *y1 = fh_value_new_bytes("ab", 2);
    assert_false(fh_value_equal(s1, y1));
    /* maps: same entries in another order are equal; a different value is not */
    fh_value *m1 = fh_value_new_map(), *m2 = fh_value_new_map();
    fh_map_set_int(m1, "x", 1);
    fh_map_set_int(m1, "y", 2);
    fh_map_set_int(m2, "y", 2);
    fh_map_set_int(m2, "x", 1);
    assert_true(fh_value_equal(m1, m2));
    fh_map_set_double(m2, "x", 1.0);
    assert_false(fh_value_equal(m1, m2));
    /* lists: order matters */
    fh_value *l1 = fh_value_new_list(), *l2 = fh_value_new_list();
    fh_list_append(l1, fh_value_new_int(1));
    fh_list_append(l1, fh_value_new_int(2));
    fh_list_append(l2, fh_value_new_int(2));
    fh_list_append(l2, fh_value_new_int(1));
    assert_false(fh_value_equal(l1, l2));
    fh_value *all[] = {i, d, b, s1, y1, m1, m2, l1, l2};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        fh_value_destroy(&all[k]);
}

/* The wire keeps int 1 and double 1.0 apart, and empty strings, bytes, lists and maps
 * keep their kind (protobuf-c skips a oneof string or message equal to its default). */
static void test_protobuf_round_trip_keeps_types(void **state)
{
    (void)state;
    fh_value *m = sample_tree();
    fh_map_set_int(m, "one_int", 1);
    fh_map_set_double(m, "one_double", 1.0);
    const Flowhost__Value *pm = FH_PB_CVALUE(m);
    size_t size = flowhost__value__get_packed_size(pm);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(flowhost__value__pack(pm, buf), size);
    Flowhost__Value *back = flowhost__value__unpack(NULL, size, buf);
    free(buf);
    assert_non_null(back);
    fh_value *v = (fh_value *)back;
    assert_int_equal(fh_value_type(fh_map_get(v, "one_int")), FH_TYPE_INT);
    assert_int_equal(fh_value_int(fh_map_get(v, "one_int"), 0), 1);
    assert_int_equal(fh_value_type(fh_map_get(v, "one_double")), FH_TYPE_DOUBLE);
    assert_int_equal(fh_value_type(fh_map_get(v, "empty_list")), FH_TYPE_LIST);
    assert_int_equal(fh_value_type(fh_map_get(v, "empty_map")), FH_TYPE_MAP);
    assert_int_equal(fh_value_type(fh_map_get(v, "empty_bytes")), FH_TYPE_BYTES);
    assert_int_equal(fh_value_type(fh_map_get(fh_map_get(v, "inner"), "s")), FH_TYPE_STRING);
    assert_int_equal(fh_value_type(fh_list_at(fh_map_get(v, "list"), 2)), FH_TYPE_NULL);
    assert_int_equal(fh_map_get_int(v, "big", 0), INT64_MAX);
    assert_true(fh_value_equal(m, v));
    /* and keeps the order of keys */
    for (size_t i = 0; i < fh_value_len(m); i++)
        assert_string_equal(fh_map_key_at(m, i), fh_map_key_at(v, i));
    fh_value_destroy(&v);
    fh_value_destroy(&m);
}

static void test_error_names_and_messages(void **state)
{
    (void)state;
    assert_string_equal(fh_err_name(FH_E_PARSE), "FH_E_PARSE");
    assert_string_equal(fh_err_name(FH_OK), "FH_OK");
    assert_string_equal(fh_err_name(FH_E_RANGE), "FH_E_RANGE");
    assert_string_equal(fh_err_name(-999), "FH_E_UNKNOWN");
    assert_string_equal(fh_strerror(FH_E_NOMEM), "out of memory");
    assert_int_equal(fh_set_error(FH_E_IO, "%s: %d", "file", 42), FH_E_IO);
    assert_string_equal(fh_last_error(), "file: 42");
    /* a message may quote the previous one */
    fh_set_error(FH_E_IO, "outer: %s", fh_last_error());
    assert_string_equal(fh_last_error(), "outer: file: 42");
    /* long messages are cut at 1023 bytes */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    fh_set_error(FH_E_INVAL, "%s", big);
    assert_int_equal(strlen(fh_last_error()), 1023);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_keep_their_type),
        cmocka_unit_test(test_getters_do_not_convert),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_unset_kind_is_null),
        cmocka_unit_test(test_destroy_nulls_pointer),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_append_failures_take_ownership),
        cmocka_unit_test(test_map_set_get_and_order),
        cmocka_unit_test(test_map_set_failures_take_ownership),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_equal_types_matter),
        cmocka_unit_test(test_protobuf_round_trip_keeps_types),
        cmocka_unit_test(test_error_names_and_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

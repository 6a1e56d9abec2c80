/* The YAML writer of `flowhost export` (host/export_yaml.h): whatever strings a manifest
 * holds come back as the same strings, never as a number, a bool or null in a YAML 1.1
 * reader (kubectl's), numbers and bools keep their types, and the same tree gives the
 * same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <flowhost/error.h>

#include "export_yaml.h"
#include "flow_yaml.h"

/* Strings that a reader would type if written plain, or that need care to write. */
static const char *const tricky[] = {
    "", "~", "null", "Null", "true", "False", "yes", "No", "on", "OFF", "y", "n",
    "0", "8081", "-1", "+1", "1e3", ".5", "0x10", "0o17", "1_000", "12:30", ".inf", "-.inf",
    ".nan", "127.0.0.1:8081", "$(FH_REPLICA)", "--listen", "- item", "a: b", "a #b", "#x",
    "{\"top_k\":3}", "[1, 2]", "'quoted'", "\"dq\"", " leading", "trailing ", "tab\there",
    "two\nlines", "trailing newline\n", "  indented\nblock\n", "*alias", "&anchor", "!tag",
    "%directive", "@at", "`tick", "|", ">", "?", ":", "-", "metadata.labels['a/b']",
    "caf\xc3\xa9", "rq:rM>}U?@Lns4=]Yk%Qp#^0A{2/6}f!x*b&z+v$"};

static fh_value *tree(void)
{
    fh_value *m = fh_value_new_map(), *l = fh_value_new_list();
    assert_non_null(m);
    assert_non_null(l);
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        assert_int_equal(fh_list_append(l, fh_value_new_string(tricky[i])), 0);
    assert_int_equal(fh_map_set(m, "strings", l), 0);
    assert_int_equal(fh_map_set_int(m, "int", 8081), 0);
    assert_int_equal(fh_map_set_int(m, "negative", -3), 0);
    assert_int_equal(fh_map_set_double(m, "double", 3.0), 0);
    assert_int_equal(fh_map_set_double(m, "fraction", 0.1), 0);
    assert_int_equal(fh_map_set_bool(m, "bool", true), 0);
    assert_int_equal(fh_map_set(m, "null", fh_value_new_null()), 0);
    assert_int_equal(fh_map_set(m, "empty map", fh_value_new_map()), 0);
    assert_int_equal(fh_map_set(m, "empty list", fh_value_new_list()), 0);
    assert_int_equal(fh_map_set_string(m, "8080", "a key that looks like a number"), 0);
    return m;
}

static void test_strings_stay_strings(void **state)
{
    (void)state;
    fh_value *m = tree();
    char *text;
    size_t len;
    assert_int_equal(fh_export_yaml(m, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    fh_yaml_node *root;
    assert_int_equal(fh_yaml_parse(text, len, "emitted", &root), 0);
    const fh_yaml_node *l = fh_yaml_map_get(root, "strings", NULL);
    assert_non_null(l);
    assert_int_equal(l->n, sizeof tricky / sizeof tricky[0]);
    for (size_t i = 0; i < l->n; i++) {
        const fh_yaml_node *n = l->items[i];
        assert_int_equal(n->kind, FH_YAML_SCALAR);
        assert_string_equal(n->text, tricky[i]);
        /* plain only when even a YAML 1.1 reader takes it for a string */
        if (!n->quoted)
            assert_int_equal(fh_yaml_type_plain(n->text, NULL, NULL, NULL), FH_YAML_PLAIN_STRING);
    }
    const char *const must_quote[] = {"", "~", "yes", "No", "on", "OFF", "y", "n", "8081",
                                      "1_000", "12:30", "0o17", ".nan", NULL};
    for (const char *const *q = must_quote; *q; q++)
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(tricky[i], *q) == 0 && !l->items[i]->quoted)
                fail_msg("'%s' is written plain: a YAML 1.1 reader would not read a string", *q);
    fh_value *back;
    assert_int_equal(fh_yaml_to_value(root, "emitted", NULL, NULL, &back), 0);
    assert_int_equal(fh_value_type(fh_map_get(back, "int")), FH_TYPE_INT);
    assert_int_equal(fh_value_int(fh_map_get(back, "negative"), 0), -3);
    assert_int_equal(fh_value_type(fh_map_get(back, "double")), FH_TYPE_DOUBLE);
    assert_true(fh_value_double(fh_map_get(back, "fraction"), 0) == 0.1);
    assert_int_equal(fh_value_type(fh_map_get(back, "bool")), FH_TYPE_BOOL);
    assert_int_equal(fh_value_type(fh_map_get(back, "null")), FH_TYPE_NULL);
    assert_int_equal(fh_value_type(fh_map_get(back, "empty map")), FH_TYPE_MAP);
    assert_int_equal(fh_value_type(fh_map_get(back, "empty list")), FH_TYPE_LIST);
    assert_string_equal(fh_value_string(fh_map_get(back, "8080")), "a key that looks like a number");
    fh_value_destroy(&back);
    fh_yaml_destroy(&root);
    free(text);
    fh_value_destroy(&m);
}

static void test_same_tree_same_bytes(void **state)
{
    (void)state;
    fh_value *a = tree(), *b = tree();
    char *ta, *tb;
    size_t la, lb;
    assert_int_equal(fh_export_yaml(a, &ta, &la), 0);
    assert_int_equal(fh_export_yaml(b, &tb, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    free(ta);
    free(tb);
    fh_value_destroy(&a);
    fh_value_destroy(&b);
}

static void test_bytes_refused(void **state)
{
    (void)state;
    fh_value *m = fh_value_new_map();
    assert_int_equal(fh_map_set(m, "b", fh_value_new_bytes("x", 1)), 0);
    char *t = (char *)"untouched";
    size_t n = 1;
    assert_int_equal(fh_export_yaml(m, &t, &n), FH_E_TYPE);
    assert_null(t);
    fh_value_destroy(&m);
}

/* Every '$' of a string value doubled, at any depth; keys (a when's "$gt") and other
 * types untouched, the input unchanged. */
static void test_double_dollars(void **state)
{
    (void)state;
    fh_value *m = fh_value_new_map(), *when = fh_value_new_map(), *l = fh_value_new_list();
    assert_int_equal(fh_map_set_string(when, "$gt", "a${X}b$$c$"), 0);
    assert_int_equal(fh_map_set(m, "when", when), 0);
    assert_int_equal(fh_list_append(l, fh_value_new_string("$(HOME)")), 0);
    assert_int_equal(fh_list_append(l, fh_value_new_int(7)), 0);
    assert_int_equal(fh_map_set(m, "list", l), 0);
    assert_int_equal(fh_map_set_string(m, "plain", "no dollar"), 0);
    fh_value *d = fh_export_double_dollars(m);
    assert_non_null(d);
    assert_string_equal(fh_value_string(fh_map_get(fh_map_get(d, "when"), "$gt")),
                        "a$${X}b$$$$c$$");
    assert_string_equal(fh_value_string(fh_list_at(fh_map_get(d, "list"), 0)), "$$(HOME)");
    assert_int_equal(fh_value_int(fh_list_at(fh_map_get(d, "list"), 1), 0), 7);
    assert_string_equal(fh_value_string(fh_map_get(d, "plain")), "no dollar");
    assert_string_equal(fh_value_string(fh_map_get(when, "$gt")), "a${X}b$$c$");
    char *t = fh_export_double_dollars_text("$");
    assert_string_equal(t, "$$");
    free(t);
    fh_value_destroy(&d);
    fh_value_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_stay_strings),
        cmocka_unit_test(test_same_tree_same_bytes),
        cmocka_unit_test(test_bytes_refused),
        cmocka_unit_test(test_double_dollars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: typed lookups (fh_map_find_*) and the convenience getters beside them
 * (value_find.c): found, absent, wrong type, NULL map, not a map, and the numeric rule. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <flowhost/error.h>
#include <flowhost/value.h>

/* {"i": 3, "d": 2.5, "di": 3.0, "dneg": -4.0, "big": 1e300, "nan": NaN, "inf": inf,
 *  "b": true, "s": "3", "y": bytes, "n": null, "l": [1], "m": {"k": 1}, "max": INT64_MAX,
 *  "two63": 2^63, "mtwo63": -2^63} */
static fh_value *sample(void)
{
    fh_value *m = fh_value_new_map(), *l = fh_value_new_list(), *in = fh_value_new_map();
    assert_int_equal(fh_list_append(l, fh_value_new_int(1)), 0);
    assert_int_equal(fh_map_set_int(in, "k", 1), 0);
    assert_int_equal(fh_map_set_int(m, "i", 3), 0);
    assert_int_equal(fh_map_set_double(m, "d", 2.5), 0);
    assert_int_equal(fh_map_set_double(m, "di", 3.0), 0);
    assert_int_equal(fh_map_set_double(m, "dneg", -4.0), 0);
    assert_int_equal(fh_map_set_double(m, "big", 1e300), 0);
    assert_int_equal(fh_map_set_double(m, "nan", NAN), 0);
    assert_int_equal(fh_map_set_double(m, "inf", INFINITY), 0);
    assert_int_equal(fh_map_set_bool(m, "b", true), 0);
    assert_int_equal(fh_map_set_string(m, "s", "3"), 0);
    assert_int_equal(fh_map_set(m, "y", fh_value_new_bytes("ab", 2)), 0);
    assert_int_equal(fh_map_set(m, "n", fh_value_new_null()), 0);
    assert_int_equal(fh_map_set(m, "l", l), 0);
    assert_int_equal(fh_map_set(m, "m", in), 0);
    assert_int_equal(fh_map_set_int(m, "max", INT64_MAX), 0);
    assert_int_equal(fh_map_set_double(m, "two63", 9223372036854775808.0), 0);
    assert_int_equal(fh_map_set_double(m, "mtwo63", -9223372036854775808.0), 0);
    return m;
}

static void test_find_int(void **state)
{
    (void)state;
    fh_value *m = sample();
    int64_t i = 42;
    assert_int_equal(fh_map_find_int(m, "i", &i), 0);
    assert_int_equal(i, 3);
    /* an integral double is an int */
    assert_int_equal(fh_map_find_int(m, "di", &i), 0);
    assert_int_equal(i, 3);
    assert_int_equal(fh_map_find_int(m, "dneg", &i), 0);
    assert_int_equal(i, -4);
    assert_int_equal(fh_map_find_int(m, "mtwo63", &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(fh_map_find_int(m, "max", &i), 0);
    assert_true(i == INT64_MAX);
    /* what is not an int leaves *out alone and names the key and what it holds */
    i = 42;
    assert_int_equal(fh_map_find_int(m, "d", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'d' is a double (2.5), not an int");
    assert_int_equal(fh_map_find_int(m, "big", &i), FH_E_TYPE);
    assert_int_equal(fh_map_find_int(m, "two63", &i), FH_E_TYPE); /* one past INT64_MAX */
    assert_int_equal(fh_map_find_int(m, "nan", &i), FH_E_TYPE);
    assert_int_equal(fh_map_find_int(m, "inf", &i), FH_E_TYPE);
    assert_int_equal(fh_map_find_int(m, "s", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'s' is a string, not an int");
    assert_int_equal(fh_map_find_int(m, "b", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'b' is a bool, not an int");
    assert_int_equal(fh_map_find_int(m, "n", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'n' is null, not an int");
    assert_int_equal(fh_map_find_int(m, "l", &i), FH_E_TYPE);
    assert_int_equal(fh_map_find_int(m, "m", &i), FH_E_TYPE);
    assert_int_equal(fh_map_find_int(m, "y", &i), FH_E_TYPE);
    assert_int_equal(fh_map_find_int(m, "absent", &i), FH_E_NOTFOUND);
    assert_string_equal(fh_last_error(), "'absent' not found");
    assert_int_equal(i, 42);
    fh_value_destroy(&m);
}

static void test_find_double(void **state)
{
    (void)state;
    fh_value *m = sample();
    double d = 42;
    assert_int_equal(fh_map_find_double(m, "d", &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(fh_map_find_double(m, "i", &d), 0); /* an int is a number */
    assert_true(d == 3.0);
    assert_int_equal(fh_map_find_double(m, "max", &d), 0); /* the nearest double */
    assert_true(d == 9223372036854775808.0);
    assert_int_equal(fh_map_find_double(m, "nan", &d), 0);
    assert_true(isnan(d));
    d = 42;
    assert_int_equal(fh_map_find_double(m, "b", &d), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'b' is a bool, not a number");
    assert_int_equal(fh_map_find_double(m, "s", &d), FH_E_TYPE);
    assert_int_equal(fh_map_find_double(m, "n", &d), FH_E_TYPE);
    assert_int_equal(fh_map_find_double(m, "absent", &d), FH_E_NOTFOUND);
    assert_true(d == 42);
    fh_value_destroy(&m);
}

/* A double in a message is written in its shortest form that reads back as the same
 * value: 0.1, not 0.10000000000000001; 17 digits only where 15 do not read back. */
static void test_double_in_message(void **state)
{
    (void)state;
    fh_value *m = fh_value_new_map();
    assert_int_equal(fh_map_set_double(m, "tenth", 0.1), 0);
    assert_int_equal(fh_map_set_double(m, "third", 1.0 / 3.0), 0);
    assert_int_equal(fh_map_set_double(m, "sum", 0.1 + 0.2), 0);
    assert_int_equal(fh_map_set_double(m, "neg", -2.75e-5), 0);
    assert_int_equal(fh_map_set_double(m, "big", 1.5e300), 0);
    int64_t i;
    assert_int_equal(fh_map_find_int(m, "tenth", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'tenth' is a double (0.1), not an int");
    assert_int_equal(fh_map_find_int(m, "third", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'third' is a double (0.33333333333333331), not an int");
    assert_int_equal(fh_map_find_int(m, "sum", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'sum' is a double (0.30000000000000004), not an int");
    assert_int_equal(fh_map_find_int(m, "neg", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'neg' is a double (-2.75e-05), not an int");
    assert_int_equal(fh_map_find_int(m, "big", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'big' is a double (1.5e+300), not an int");
    bool b;
    assert_int_equal(fh_map_find_bool(m, "tenth", &b), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'tenth' is a double (0.1), not a bool");
    fh_value_destroy(&m);
}

static void test_find_bool_and_string(void **state)
{
    (void)state;
    fh_value *m = sample();
    bool b = false;
    assert_int_equal(fh_map_find_bool(m, "b", &b), 0);
    assert_true(b);
    b = false;
    assert_int_equal(fh_map_find_bool(m, "i", &b), FH_E_TYPE); /* a number is not a bool */
    assert_string_equal(fh_last_error(), "'i' is an int, not a bool");
    assert_int_equal(fh_map_find_bool(m, "s", &b), FH_E_TYPE);
    assert_int_equal(fh_map_find_bool(m, "absent", &b), FH_E_NOTFOUND);
    assert_false(b);
    const char *s = "untouched";
    assert_int_equal(fh_map_find_string(m, "s", &s), 0);
    assert_string_equal(s, "3");
    assert_ptr_equal(s, fh_value_string(fh_map_get(m, "s"))); /* borrowed */
    s = "untouched";
    assert_int_equal(fh_map_find_string(m, "y", &s), FH_E_TYPE); /* bytes are not text */
    assert_string_equal(fh_last_error(), "'y' is a bytes, not a string");
    assert_int_equal(fh_map_find_string(m, "i", &s), FH_E_TYPE);
    assert_int_equal(fh_map_find_string(m, "n", &s), FH_E_TYPE);
    assert_int_equal(fh_map_find_string(m, "absent", &s), FH_E_NOTFOUND);
    assert_string_equal(s, "untouched");
    fh_value_destroy(&m);
}

static void test_find_list_and_map(void **state)
{
    (void)state;
    fh_value *m = sample();
    const fh_value *v = NULL;
    assert_int_equal(fh_map_find_list(m, "l", &v), 0);
    assert_ptr_equal(v, fh_map_get(m, "l"));
    assert_int_equal(fh_value_len(v), 1);
    assert_int_equal(fh_map_find_map(m, "m", &v), 0);
    assert_ptr_equal(v, fh_map_get(m, "m"));
    assert_int_equal(fh_map_get_int(v, "k", 0), 1);
    v = NULL;
    assert_int_equal(fh_map_find_list(m, "m", &v), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'m' is a map, not a list");
    assert_int_equal(fh_map_find_map(m, "l", &v), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "'l' is a list, not a map");
    assert_int_equal(fh_map_find_map(m, "n", &v), FH_E_TYPE);
    assert_int_equal(fh_map_find_list(m, "absent", &v), FH_E_NOTFOUND);
    assert_int_equal(fh_map_find_map(m, "absent", &v), FH_E_NOTFOUND);
    assert_null(v);
    fh_value_destroy(&m);
}

static void test_find_in_null_or_not_a_map(void **state)
{
    (void)state;
    int64_t i = 42;
    const fh_value *v = NULL;
    /* NULL answers as missing, as for every getter */
    assert_int_equal(fh_map_find_int(NULL, "k", &i), FH_E_NOTFOUND);
    assert_int_equal(fh_map_find_map(NULL, "k", &v), FH_E_NOTFOUND);
    /* a list is not a map to look into */
    fh_value *l = fh_value_new_list();
    assert_int_equal(fh_map_find_int(l, "k", &i), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "cannot look up 'k' in a list, not a map");
    assert_int_equal(i, 42);
    fh_value_destroy(&l);
}

/* The convenience getters: the found value, else the default — for absence, a wrong
 * type, a null, a NULL map or a list; and they leave the last error alone. */
static void test_convenience_getters(void **state)
{
    (void)state;
    fh_value *m = sample(), *l = fh_value_new_list();
    fh_set_error(FH_E_IO, "earlier");
    assert_int_equal(fh_map_get_int(m, "i", 1), 3);
    assert_int_equal(fh_map_get_int(m, "di", 1), 3); /* {"times": 3.0} is 3 times */
    assert_int_equal(fh_map_get_int(m, "d", 1), 1);
    assert_int_equal(fh_map_get_int(m, "s", 1), 1);
    assert_int_equal(fh_map_get_int(m, "n", 1), 1);
    assert_int_equal(fh_map_get_int(m, "absent", 1), 1);
    assert_int_equal(fh_map_get_int(NULL, "i", 1), 1);
    assert_int_equal(fh_map_get_int(l, "i", 1), 1);
    assert_true(fh_map_get_double(m, "i", 0) == 3.0);
    assert_true(fh_map_get_double(m, "b", 0.5) == 0.5);
    assert_true(fh_map_get_bool(m, "b", false));
    assert_false(fh_map_get_bool(m, "i", false));
    assert_string_equal(fh_map_get_string(m, "s", "x"), "3");
    assert_string_equal(fh_map_get_string(m, "y", "x"), "x");
    assert_string_equal(fh_map_get_string(m, "i", "x"), "x");
    assert_null(fh_map_get_string(NULL, "s", NULL));
    /* the scalar getters follow the same rule */
    assert_int_equal(fh_value_int(fh_map_get(m, "di"), -1), 3);
    assert_int_equal(fh_value_int(fh_map_get(m, "big"), -1), -1);
    assert_int_equal(fh_value_int(fh_map_get(m, "b"), -1), -1);
    assert_string_equal(fh_last_error(), "earlier");
    fh_value_destroy(&l);
    fh_value_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_int),
        cmocka_unit_test(test_find_double),
        cmocka_unit_test(test_double_in_message),
        cmocka_unit_test(test_find_bool_and_string),
        cmocka_unit_test(test_find_list_and_map),
        cmocka_unit_test(test_find_in_null_or_not_a_map),
        cmocka_unit_test(test_convenience_getters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

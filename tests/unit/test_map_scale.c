/* Unit tests: maps of 10^6 keys. Every bulk path that builds or reads maps — fh_map_set
 * one key at a time, copy, merge, equality, the wire, JSON in and out. Nothing here
 * measures time: linear work takes seconds, while a quadratic path (a scan per key) would
 * need hours at this size and so far outlive the test's timeout (60 s). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pb.h"
#include <flowhost/error.h>
#include <flowhost/json.h>
#include <flowhost/value.h>

#define MILLION 1000000

static void key_of(char *buf, size_t size, const char *prefix, size_t i)
{
    snprintf(buf, size, "%s%zu", prefix, i);
}

/* A map of N keys PREFIX<i> = i, built one fh_map_set at a time. */
static fh_value *map_of(const char *prefix, size_t n)
{
    fh_value *m = fh_value_new_map();
    char key[32];
    for (size_t i = 0; i < n; i++) {
        key_of(key, sizeof key, prefix, i);
        assert_int_equal(fh_map_set_int(m, key, (int64_t)i), 0);
    }
    assert_int_equal(fh_value_len(m), n);
    return m;
}

/* 10^6 keys: set, get, replace, copy, equal, the wire, merge, remove. */
static void test_map_of_a_million_keys(void **state)
{
    (void)state;
    fh_value *m = map_of("key-", MILLION);
    char key[32];
    for (size_t i = 0; i < MILLION; i++) {
        key_of(key, sizeof key, "key-", i);
        assert_int_equal(fh_map_get_int(m, key, -1), (int64_t)i);
        if (i % 8 == 0)
            assert_null(fh_map_get(m, key + 1)); /* "ey-<i>": a miss */
    }
    for (size_t i = 0; i < MILLION; i += 8) { /* replacing keeps the position */
        key_of(key, sizeof key, "key-", i);
        assert_int_equal(fh_map_set_int(m, key, -(int64_t)i), 0);
    }
    assert_int_equal(fh_value_len(m), MILLION);
    assert_string_equal(fh_map_key_at(m, 123456), "key-123456");
    assert_int_equal(fh_value_int(fh_map_value_at(m, 123456), 0), -123456);

    fh_value *c = fh_value_copy(m);
    assert_non_null(c);
    assert_true(fh_value_equal(m, c));
    assert_int_equal(fh_map_set_int(c, "key-999999", 0), 0);
    assert_false(fh_value_equal(m, c));

    /* through the wire: a decoded map has no index; its first lookup builds it */
    size_t size = flowhost__value__get_packed_size(FH_PB_CVALUE(m));
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(flowhost__value__pack(FH_PB_CVALUE(m), buf), size);
    Flowhost__Value *back = flowhost__value__unpack(NULL, size, buf);
    free(buf);
    assert_non_null(back);
    fh_value *v = (fh_value *)back;
    for (size_t i = MILLION; i-- > 0;) {
        key_of(key, sizeof key, "key-", i);
        assert_int_equal(fh_map_get_int(v, key, 1), i % 8 ? (int64_t)i : -(int64_t)i);
    }
    assert_true(fh_value_equal(v, m));
    fh_value_destroy(&v);

    /* the worker's scoped merge: 10^6 own keys over a small root, then over a root that
     * holds them all already */
    fh_value *root = fh_value_new_map();
    fh_map_set_int(root, "key-5", 5);
    fh_map_set_int(root, "param", 1);
    assert_int_equal(fh_map_merge(root, m), 0);
    assert_int_equal(fh_value_len(root), MILLION + 1);
    assert_string_equal(fh_map_key_at(root, 0), "key-5"); /* a key it held keeps its place */
    assert_string_equal(fh_map_key_at(root, 2), "key-0");
    assert_int_equal(fh_map_get_int(root, "key-777777", -1), 777777);
    assert_int_equal(fh_map_merge(c, m), 0);
    assert_true(fh_value_equal(m, c));

    /* removals from the middle keep the order and the other keys */
    for (size_t i = 500000; i < 500050; i++) {
        key_of(key, sizeof key, "key-", i);
        assert_int_equal(fh_map_remove(m, key), 0);
    }
    assert_int_equal(fh_value_len(m), MILLION - 50);
    assert_string_equal(fh_map_key_at(m, 500000), "key-500050");
    assert_int_equal(fh_map_get_int(m, "key-500051", 0), 500051);
    assert_int_equal(fh_map_get_int(m, "key-499999", 0), 499999);
    assert_null(fh_map_get(m, "key-500020"));

    fh_value_destroy(&root);
    fh_value_destroy(&c);
    fh_value_destroy(&m);
}

/* A JSON object of 10^6 keys in, and out again. */
static void test_json_object_of_a_million_keys(void **state)
{
    (void)state;
    size_t cap = (size_t)MILLION * 24 + 16, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    text[len++] = '{';
    for (size_t i = 0; i < MILLION; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s\"j%zu\":%zu", i ? "," : "", i, i);
    text[len++] = '}';
    fh_value *v = NULL;
    assert_int_equal(fh_value_from_json(text, len, &v), 0);
    free(text);
    assert_int_equal(fh_value_len(v), MILLION);
    assert_string_equal(fh_map_key_at(v, 654321), "j654321"); /* order kept */
    assert_int_equal(fh_map_get_int(v, "j654321", -1), 654321);
    char *out = fh_value_to_json(v);
    assert_non_null(out);
    const char *head = "{\"j0\":0,\"j1\":1,\"j2\":2,"; /* order kept */
    assert_int_equal(strncmp(out, head, strlen(head)), 0);
    assert_non_null(strstr(out, ",\"j999999\":999999}"));
    free(out);
    fh_value_destroy(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_of_a_million_keys),
        cmocka_unit_test(test_json_object_of_a_million_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

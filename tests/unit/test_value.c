/* Unit tests: typed values (value.c) and error codes (error.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "map_index.h"
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
    fh_value *i = fh_value_new_int(3), *d = fh_value_new_double(3.5), *s = fh_value_new_string("3");
    /* only the numeric rule converts: an int is a double, an integral double an int
     * (test_value_find.c covers that rule) */
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

/* ---- maps at scale: the hash index (map_index.c) ---- */

/* A map of N entries "k<i>" = i, put together from the protobuf structs (as a decoder
 * would: no index), with KEYS[i] overriding the key of entry i when not NULL. */
static fh_value *raw_map(size_t n, const char *const *keys)
{
    fh_value *map = fh_value_new_map();
    Flowhost__MapValue *m = FH_PB_VALUE(map)->map_value;
    m->entries = calloc(n ? n : 1, sizeof *m->entries);
    assert_non_null(m->entries);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%zu", i);
        Flowhost__MapEntry *e = malloc(sizeof *e);
        assert_non_null(e);
        flowhost__map_entry__init(e);
        e->key = strdup(keys && keys[i] ? keys[i] : key);
        e->value = FH_PB_VALUE(fh_value_new_int((int64_t)i));
        m->entries[m->n_entries++] = e;
    }
    return map;
}

static bool has_index(const fh_value *map)
{
    return FH_PB_CVALUE(map)->map_value->base.unknown_fields != NULL;
}

/* Removing from the middle of an indexed map keeps the order, and every other key is
 * still found at its new position; keys come back at the end. */
static void test_map_index_follows_changes(void **state)
{
    (void)state;
    fh_value *m = fh_value_new_map();
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(fh_map_set_int(m, key, i), 0);
    }
    assert_true(has_index(m));
    for (int i = 0; i < 1000; i += 3) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(fh_map_remove(m, key), 0);
        assert_int_equal(fh_map_remove(m, key), FH_E_NOTFOUND);
    }
    assert_int_equal(fh_value_len(m), 666);
    size_t pos = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        if (i % 3 == 0) {
            assert_null(fh_map_get(m, key));
            continue;
        }
        assert_string_equal(fh_map_key_at(m, pos), key);
        assert_int_equal(fh_map_get_int(m, key, -1), i);
        pos++;
    }
    assert_int_equal(fh_map_set_int(m, "k0", 7), 0);
    assert_string_equal(fh_map_key_at(m, 666), "k0");
    assert_int_equal(fh_map_get_int(m, "k0", -1), 7);
    /* down to nothing and up again */
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        fh_map_remove(m, key);
    }
    assert_int_equal(fh_value_len(m), 0);
    assert_int_equal(fh_map_set_int(m, "again", 1), 0);
    assert_int_equal(fh_map_get_int(m, "again", 0), 1);
    fh_value_destroy(&m);
}

/* The index never travels: a map packs to the same bytes with or without one, and the
 * map decoded from them has none until it is looked up. free_unpacked frees it (the
 * sanitizer build checks that nothing leaks). */
static void test_map_index_stays_off_the_wire(void **state)
{
    (void)state;
    fh_value *plain = raw_map(100, NULL);
    size_t size = flowhost__value__get_packed_size(FH_PB_CVALUE(plain));
    uint8_t *before = malloc(size), *after = malloc(size);
    assert_int_equal(flowhost__value__pack(FH_PB_CVALUE(plain), before), size);
    assert_false(has_index(plain));
    assert_int_equal(fh_map_get_int(plain, "k42", -1), 42);
    assert_true(has_index(plain));
    assert_int_equal(flowhost__value__get_packed_size(FH_PB_CVALUE(plain)), size);
    assert_int_equal(flowhost__value__pack(FH_PB_CVALUE(plain), after), size);
    assert_memory_equal(before, after, size);
    Flowhost__Value *back = flowhost__value__unpack(NULL, size, after);
    assert_non_null(back);
    assert_false(has_index((fh_value *)back));
    assert_true(fh_value_equal((fh_value *)back, plain));
    protobuf_c_message_free_unpacked(&back->base, NULL);
    free(before);
    free(after);
    fh_value_destroy(&plain);
}

/* A key repeated on the wire: the last entry wins, as for protobuf's map fields. */
static void test_map_duplicate_keys_last_wins(void **state)
{
    (void)state;
    for (size_t n = 4; n <= 64; n *= 16) { /* scanned, then indexed */
        const char *keys[64] = {0};
        keys[1] = "dup";
        keys[n - 1] = "dup";
        fh_value *m = raw_map(n, keys);
        assert_int_equal(fh_value_len(m), n); /* the entries as they came */
        assert_int_equal(fh_map_get_int(m, "dup", -1), (int64_t)(n - 1));
        /* equality and JSON see the key once, with its last value */
        fh_value *clean = fh_value_new_map();
        char key[32];
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof key, "k%zu", i);
            if (i != 1)
                fh_map_set_int(clean, i == n - 1 ? "dup" : key, (int64_t)i);
        }
        assert_true(fh_value_equal(m, clean));
        assert_true(fh_value_equal(clean, m));
        fh_map_set_int(clean, "dup", 1); /* the shadowed value is not the map's */
        assert_false(fh_value_equal(m, clean));
        /* set replaces the value that counts */
        assert_int_equal(fh_map_set_int(m, "dup", 99), 0);
        assert_int_equal(fh_value_len(m), n);
        assert_int_equal(fh_map_get_int(m, "dup", -1), 99);
        assert_int_equal(fh_value_int(fh_map_value_at(m, n - 1), -1), 99);
        /* remove removes every entry of the key */
        assert_int_equal(fh_map_remove(m, "dup"), 0);
        assert_int_equal(fh_value_len(m), n - 2);
        assert_null(fh_map_get(m, "dup"));
        assert_int_equal(fh_map_get_int(m, "k2", -1), 2);
        assert_string_equal(fh_map_key_at(m, 1), "k2");
        fh_value_destroy(&clean);
        fh_value_destroy(&m);
    }
}

/* A map from the wire that carries fields this version does not know keeps them (they
 * are forwarded), gets no index, and still answers every operation right. */
static void test_map_with_unknown_fields(void **state)
{
    (void)state;
    fh_value *v = raw_map(40, NULL);
    size_t size = flowhost__value__get_packed_size(FH_PB_CVALUE(v));
    /* Value{map_value: MapValue{entries..., field 9: varint 1}} */
    uint8_t *buf = malloc(size + 8);
    size_t inner = flowhost__map_value__get_packed_size(FH_PB_CVALUE(v)->map_value);
    size_t n = 0;
    buf[n++] = 8 << 3 | 2;
    size_t len = inner + 2;
    do {
        buf[n++] = (uint8_t)((len & 0x7f) | (len >> 7 ? 0x80 : 0));
        len >>= 7;
    } while (len);
    n += flowhost__map_value__pack(FH_PB_CVALUE(v)->map_value, buf + n);
    buf[n++] = 9 << 3 | 0;
    buf[n++] = 1;
    Flowhost__Value *back = flowhost__value__unpack(NULL, n, buf);
    assert_non_null(back);
    assert_int_equal(back->map_value->base.n_unknown_fields, 1);
    fh_value *w = (fh_value *)back;
    for (int i = 0; i < 40; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(fh_map_get_int(w, key, -1), i);
    }
    assert_true(fh_value_equal(w, v));
    assert_int_equal(fh_map_set_int(w, "new", 1), 0);
    assert_int_equal(fh_map_remove(w, "k3"), 0);
    assert_int_equal(fh_map_get_int(w, "new", 0), 1);
    assert_null(fh_map_get(w, "k3"));
    assert_int_equal(back->map_value->base.n_unknown_fields, 1);
    /* the unknown field still travels */
    size_t again = flowhost__value__get_packed_size(back);
    uint8_t *out = malloc(again);
    flowhost__value__pack(back, out);
    assert_non_null(memchr(out, 9 << 3 | 0, again));
    free(out);
    free(buf);
    fh_value_destroy(&w);
    fh_value_destroy(&v);
}

/* Entries changed behind the API's back (a new array): the stale index is never used,
 * and the next change through the API replaces it. */
static void test_map_stale_index_is_not_used(void **state)
{
    (void)state;
    fh_value *m = raw_map(50, NULL);
    assert_int_equal(fh_map_get_int(m, "k10", -1), 10);
    Flowhost__MapValue *mv = FH_PB_VALUE(m)->map_value;
    Flowhost__MapEntry **moved = malloc(50 * sizeof *moved);
    for (size_t i = 0; i < 50; i++) /* reversed, in a new array */
        moved[i] = mv->entries[49 - i];
    free(mv->entries);
    mv->entries = moved;
    assert_int_equal(fh_map_get_int(m, "k10", -1), 10);
    assert_string_equal(fh_map_key_at(m, 39), "k10");
    assert_int_equal(fh_map_set_int(m, "k10", 11), 0);
    assert_int_equal(fh_value_int(fh_map_value_at(m, 39), -1), 11);
    assert_int_equal(fh_map_set_int(m, "k50", 50), 0);
    for (int i = 0; i <= 50; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(fh_map_get_int(m, key, -1), i == 10 ? 11 : i);
    }
    fh_value_destroy(&m);
}

/* fh_map_merge: SRC over DST in SRC's order; keys DST holds keep their place; SRC may be
 * DST or inside it. */
static void test_map_merge(void **state)
{
    (void)state;
    fh_value *dst = fh_value_new_map(), *src = fh_value_new_map();
    fh_map_set_int(dst, "a", 1);
    fh_map_set_int(dst, "b", 2);
    fh_map_set_int(src, "c", 30);
    fh_map_set_int(src, "a", 10);
    fh_value *inner = fh_value_new_map();
    fh_map_set_int(inner, "x", 1);
    fh_map_set(src, "m", inner);
    assert_int_equal(fh_map_merge(dst, src), 0);
    const char *order[] = {"a", "b", "c", "m"};
    assert_int_equal(fh_value_len(dst), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(fh_map_key_at(dst, i), order[i]);
    assert_int_equal(fh_map_get_int(dst, "a", 0), 10);
    /* deep: the merged map is a copy */
    fh_map_set_int(fh_map_get(dst, "m"), "x", 2);
    assert_int_equal(fh_map_get_int(fh_map_get(src, "m"), "x", 0), 1);
    /* into itself, and from a map inside it */
    fh_value *before = fh_value_copy(dst);
    assert_int_equal(fh_map_merge(dst, dst), 0);
    assert_true(fh_value_equal(dst, before));
    fh_map_set_int(fh_map_get(dst, "m"), "m", 5);
    assert_int_equal(fh_map_merge(dst, fh_map_get(dst, "m")), 0);
    assert_int_equal(fh_map_get_int(dst, "m", 0), 5);
    assert_int_equal(fh_map_get_int(dst, "x", 0), 2);
    fh_value *l = fh_value_new_list();
    assert_int_equal(fh_map_merge(dst, l), FH_E_TYPE);
    assert_int_equal(fh_map_merge(l, dst), FH_E_TYPE);
    fh_value_destroy(&l);
    fh_value_destroy(&before);
    fh_value_destroy(&src);
    fh_value_destroy(&dst);
}

/* Random sets, removals and lookups on one map, checked against a plain list of keys and
 * values kept beside it: the index stays right through growth, removals (backward-shift
 * deletion, positions moving down) and keys coming back. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void test_map_random_operations_match_a_list(void **state)
{
    (void)state;
    enum { POOL = 3000, OPS = 200000 };
    int64_t *model_val = malloc(POOL * sizeof *model_val); /* by key number */
    int *model_order = malloc(POOL * sizeof *model_order); /* key numbers in map order */
    assert_non_null(model_val);
    assert_non_null(model_order);
    size_t n = 0;
    for (size_t k = 0; k < POOL; k++)
        model_val[k] = -1; /* absent */
    fh_value *m = fh_value_new_map();
    char key[32];
    for (int op = 0; op < OPS; op++) {
        /* a pool that grows then stays, so the map both grows and shrinks */
        size_t k = rnd() % (op < OPS / 4 ? 1 + (size_t)op * POOL / (OPS / 4) : POOL);
        snprintf(key, sizeof key, "r%zu", k);
        uint64_t what = rnd() % 10;
        if (what < 5) {
            int64_t v = (int64_t)(rnd() % 1000000);
            assert_int_equal(fh_map_set_int(m, key, v), 0);
            if (model_val[k] < 0)
                model_order[n++] = (int)k;
            model_val[k] = v;
        } else if (what < 8) {
            int rc = fh_map_remove(m, key);
            assert_int_equal(rc, model_val[k] < 0 ? FH_E_NOTFOUND : 0);
            if (model_val[k] >= 0) {
                size_t i = 0;
                while (model_order[i] != (int)k)
                    i++;
                memmove(&model_order[i], &model_order[i + 1], (n - i - 1) * sizeof *model_order);
                n--;
                model_val[k] = -1;
            }
        } else {
            assert_int_equal(fh_map_get_int(m, key, -1), model_val[k]);
        }
        if (op % 5000 == 0 || op == OPS - 1) {
            assert_int_equal(fh_value_len(m), n);
            for (size_t i = 0; i < n; i++) {
                snprintf(key, sizeof key, "r%d", model_order[i]);
                assert_string_equal(fh_map_key_at(m, i), key);
                assert_int_equal(fh_map_get_int(m, key, -1), model_val[model_order[i]]);
            }
        }
    }
    free(model_val);
    free(model_order);
    fh_value_destroy(&m);
}

/* Lookups on a const map build its index on first use: several threads doing so at once
 * all get right answers (and the sanitizer build sees no leak of a losing build). */
typedef struct reader {
    const fh_value *map;
    size_t n;
    size_t wrong;
} reader;

static void *read_all(void *arg)
{
    reader *r = arg;
    char key[32];
    for (size_t i = 0; i < r->n; i++) {
        snprintf(key, sizeof key, "k%zu", i);
        if (fh_map_get_int(r->map, key, -1) != (int64_t)i)
            r->wrong++;
    }
    return NULL;
}

static void test_map_concurrent_first_lookups(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        fh_value *m = raw_map(5000, NULL);
        pthread_t t[4];
        reader r[4];
        for (int k = 0; k < 4; k++) {
            r[k] = (reader){m, 5000, 0};
            assert_int_equal(pthread_create(&t[k], NULL, read_all, &r[k]), 0);
        }
        for (int k = 0; k < 4; k++) {
            pthread_join(t[k], NULL);
            assert_int_equal(r[k].wrong, 0);
        }
        fh_value_destroy(&m);
    }
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
        cmocka_unit_test(test_map_index_follows_changes),
        cmocka_unit_test(test_map_index_stays_off_the_wire),
        cmocka_unit_test(test_map_duplicate_keys_last_wins),
        cmocka_unit_test(test_map_with_unknown_fields),
        cmocka_unit_test(test_map_stale_index_is_not_used),
        cmocka_unit_test(test_map_merge),
        cmocka_unit_test(test_map_random_operations_match_a_list),
        cmocka_unit_test(test_map_concurrent_first_lookups),
        cmocka_unit_test(test_error_names_and_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

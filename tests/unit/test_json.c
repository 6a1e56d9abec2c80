/* Unit tests: values and documents to and from JSON (json.c), the NDJSON reader
 * (ndjson.c), and the jansson-level helpers (json_internal.h). */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <cmocka.h>

#include "json_internal.h"
#include "pb.h"
#include <flowhost/error.h>
#include <flowhost/json.h>

static fh_value *parse_value(const char *text)
{
    fh_value *v = NULL;
    int rc = fh_value_from_json(text, strlen(text), &v);
    if (rc != 0)
        fail_msg("parsing %s: %s", text, fh_last_error());
    return v;
}

static fh_doc *parse_doc(const char *text)
{
    fh_doc *d = NULL;
    int rc = fh_doc_from_json(text, strlen(text), &d);
    if (rc != 0)
        fail_msg("parsing %s: %s", text, fh_last_error());
    return d;
}

/* Asserts that V prints as EXPECTED. */
static void assert_value_json(const fh_value *v, const char *expected)
{
    char *s = fh_value_to_json(v);
    assert_non_null(s);
    assert_string_equal(s, expected);
    free(s);
}

static void assert_doc_json(const fh_doc *d, const char *expected)
{
    char *s = fh_doc_to_json(d);
    assert_non_null(s);
    assert_string_equal(s, expected);
    free(s);
}

/* ---- values ---- */

static void test_value_to_json(void **state)
{
    (void)state;
    fh_value *m = fh_value_new_map();
    fh_map_set_int(m, "i", 1);
    fh_map_set_double(m, "d", 1.0);
    fh_map_set_double(m, "f", 0.1);
    fh_map_set_bool(m, "b", true);
    fh_map_set(m, "n", fh_value_new_null());
    fh_map_set_string(m, "s", "q\"\n");
    fh_value *l = fh_value_new_list();
    fh_list_append(l, fh_value_new_int(-3));
    fh_list_append(l, fh_value_new_string("two"));
    fh_map_set(m, "l", l);
    fh_map_set(m, "y", fh_value_new_bytes("\x00\x01\x02\xff", 4));
    fh_map_set_int(m, "a_last", INT64_MIN); /* insertion order, not sorted */
    assert_value_json(m, "{\"i\":1,\"d\":1.0,\"f\":0.1,\"b\":true,\"n\":null,\"s\":\"q\\\"\\n\","
                         "\"l\":[-3,\"two\"],\"y\":\"AAEC/w==\","
                         "\"a_last\":-9223372036854775808}");
    fh_value_destroy(&m);
}

/* Doubles print with the fewest digits that read back exactly. */
static void test_value_reals_round_trip_exactly(void **state)
{
    (void)state;
    const double samples[] = {0.1, 1.0 / 3.0, 1e300, -2.5e-308, 123456789.125, 0.30000000000000004};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        fh_value *d = fh_value_new_double(samples[i]);
        char *s = fh_value_to_json(d);
        fh_value *back = parse_value(s);
        assert_int_equal(fh_value_type(back), FH_TYPE_DOUBLE);
        assert_true(fh_value_double(back, 0) == samples[i]);
        free(s);
        fh_value_destroy(&back);
        fh_value_destroy(&d);
    }
}

static void test_value_from_json_keeps_int_and_double_apart(void **state)
{
    (void)state;
    fh_value *v = parse_value("{\"i\": 1, \"d\": 1.0, \"e\": 1e2, \"big\": 9007199254740993,"
                              " \"l\": [true, null, \"s\"], \"m\": {\"z\": 1, \"a\": 2}}");
    assert_int_equal(fh_value_type(fh_map_get(v, "i")), FH_TYPE_INT);
    assert_int_equal(fh_value_type(fh_map_get(v, "d")), FH_TYPE_DOUBLE);
    assert_int_equal(fh_value_type(fh_map_get(v, "e")), FH_TYPE_DOUBLE);
    /* beyond 2^53: would lose its last digit as a double */
    assert_int_equal(fh_map_get_int(v, "big", 0), 9007199254740993LL);
    const fh_value *l = fh_map_get(v, "l");
    assert_int_equal(fh_value_type(fh_list_at(l, 0)), FH_TYPE_BOOL);
    assert_int_equal(fh_value_type(fh_list_at(l, 1)), FH_TYPE_NULL);
    assert_string_equal(fh_map_key_at(fh_map_get(v, "m"), 0), "z"); /* order kept */

    /* through the wire and back to JSON: still an int and a double */
    const Flowhost__Value *pv = FH_PB_CVALUE(v);
    size_t size = flowhost__value__get_packed_size(pv);
    uint8_t *buf = malloc(size);
    flowhost__value__pack(pv, buf);
    fh_value *w = (fh_value *)flowhost__value__unpack(NULL, size, buf);
    free(buf);
    assert_non_null(w);
    assert_int_equal(fh_value_type(fh_map_get(w, "i")), FH_TYPE_INT);
    assert_int_equal(fh_value_type(fh_map_get(w, "d")), FH_TYPE_DOUBLE);
    assert_value_json(w, "{\"i\":1,\"d\":1.0,\"e\":100.0,\"big\":9007199254740993,"
                         "\"l\":[true,null,\"s\"],\"m\":{\"z\":1,\"a\":2}}");
    fh_value_destroy(&w);
    fh_value_destroy(&v);

    /* a bare scalar is a value too */
    v = parse_value("1");
    assert_int_equal(fh_value_type(v), FH_TYPE_INT);
    fh_value_destroy(&v);
    v = parse_value("1.0");
    assert_int_equal(fh_value_type(v), FH_TYPE_DOUBLE);
    fh_value_destroy(&v);
}

static void test_value_from_json_errors(void **state)
{
    (void)state;
    fh_value *v = NULL;
    const char *bad = "{\n  \"a\": 1,\n  \"b\": }";
    assert_int_equal(fh_value_from_json(bad, strlen(bad), &v), FH_E_PARSE);
    assert_null(v);
    assert_non_null(strstr(fh_last_error(), "line 3, column"));
    /* LEN is honoured: the text need not be NUL-terminated */
    assert_int_equal(fh_value_from_json("[1,2]garbage", 5, &v), 0);
    assert_int_equal(fh_value_len(v), 2);
    fh_value_destroy(&v);
    assert_int_equal(fh_value_from_json("[1,2]garbage", 6, &v), FH_E_PARSE);
    assert_int_equal(fh_value_from_json("", 0, &v), FH_E_PARSE);
    assert_int_equal(fh_value_from_json("{\"a\":1,\"a\":2}", 13, &v), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "duplicate"));
    assert_int_equal(fh_value_from_json("1", 1, NULL), FH_E_INVAL);
}

static void test_value_depth_limit(void **state)
{
    (void)state;
    size_t depth = FH_JSON_MAX_VALUE_DEPTH + 10;
    char *text = malloc(2 * depth + 1);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    text[2 * depth] = '\0';
    fh_value *v = NULL;
    assert_int_equal(fh_value_from_json(text, 2 * depth, &v), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "nested deeper"));
    /* 100 levels are fine */
    assert_int_equal(fh_value_from_json(text + depth - 100, 200, &v), 0);
    fh_value_destroy(&v);
    free(text);
}

static void test_value_not_representable(void **state)
{
    (void)state;
    fh_value *d = fh_value_new_double(1.0 / 0.0);
    assert_null(fh_value_to_json(d));
    assert_non_null(strstr(fh_last_error(), "inf"));
    fh_value_destroy(&d);
}

static void test_bytes_base64(void **state)
{
    (void)state;
    /* every length mod 3 and every byte value */
    const char *expected[] = {"\"\"", "\"AA==\"", "\"AAE=\"", "\"AAEC\"", "\"AAECAw==\""};
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t n = 0; n < 5; n++) {
        fh_value *b = fh_value_new_bytes(all, n);
        assert_value_json(b, expected[n]);
        fh_value_destroy(&b);
    }
    fh_doc *d = fh_doc_new();
    for (size_t n = 1; n <= 256; n += 51) {
        fh_doc_set_blob(d, all, n);
        char *s = fh_doc_to_json(d);
        fh_doc *back = parse_doc(s);
        size_t len;
        const void *blob = fh_doc_blob(back, &len);
        assert_int_equal(len, n);
        assert_memory_equal(blob, all, n);
        free(s);
        fh_doc_destroy(&back);
    }
    fh_doc_destroy(&d);
    /* padding is optional when reading; bad characters are refused */
    d = parse_doc("{\"blob\": \"aGk\"}");
    size_t len;
    assert_memory_equal(fh_doc_blob(d, &len), "hi", 2);
    assert_int_equal(len, 2);
    fh_doc_destroy(&d);
    assert_int_equal(fh_doc_from_json("{\"blob\": \"a*==\"}", 16, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "field 'blob' is not valid base64"));
    assert_int_equal(fh_doc_from_json("{\"blob\": \"a\"}", 13, &d), FH_E_PARSE);
}

/* ---- documents ---- */

static void test_doc_to_json(void **state)
{
    (void)state;
    fh_doc *d = fh_doc_new();
    fh_doc_set_id(d, "d1");
    /* only the id: every other field is at its default and left out */
    assert_doc_json(d, "{\"id\":\"d1\"}");
    fh_doc_set_text(d, "hi");
    fh_doc_set_blob(d, "hi", 2);
    fh_doc_set_mime_type(d, "text/plain");
    fh_map_set_int(fh_doc_tags(d), "n", 1);
    fh_map_set_double(fh_doc_tags(d), "x", 1.0);
    const float e[3] = {0.1f, 1.0f, -2.5f};
    fh_doc_set_embedding(d, e, 3);
    const uint64_t shape[2] = {1, 2};
    const int16_t t[2] = {1, -1};
    fh_doc_set_tensor(d, "int16", shape, 2, t, sizeof t);
    fh_doc *c = fh_doc_new();
    fh_doc_set_id(c, "c1");
    fh_doc_add_chunk(d, c);
    fh_doc *m = fh_doc_new();
    fh_doc_set_id(m, "m1");
    fh_doc_set_score(m, "cosine", 0.93);
    fh_doc_add_match(d, m);
    fh_doc_set_weight(d, 2.0);
    fh_doc_set_granularity(d, 0);
    assert_doc_json(d, "{\"id\":\"d1\",\"text\":\"hi\",\"blob\":\"aGk=\",\"mime_type\":\"text/plain\","
                       "\"tags\":{\"n\":1,\"x\":1.0},\"embedding\":[0.1,1.0,-2.5],"
                       "\"tensor\":{\"dtype\":\"int16\",\"shape\":[1,2],\"data\":\"AQD//w==\"},"
                       "\"chunks\":[{\"id\":\"c1\",\"parent_id\":\"d1\",\"granularity\":1}],"
                       "\"matches\":[{\"id\":\"m1\",\"scores\":{\"cosine\":0.93},\"adjacency\":1}],"
                       "\"weight\":2.0}");
    /* and back: the same document, the same text */
    char *s = fh_doc_to_json(d);
    fh_doc *back = parse_doc(s);
    assert_doc_json(back, s);
    size_t n;
    const float *be = fh_doc_embedding(back, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(be, e, sizeof e); /* float32 exact after the round trip */
    free(s);
    fh_doc_destroy(&back);
    fh_doc_destroy(&d);
}

static void test_doc_from_json_fields(void **state)
{
    (void)state;
    fh_doc *d = parse_doc("{\"text\": \"t\", \"uri\": \"u\", \"weight\": 3, \"granularity\": 2,"
                          " \"embedding\": [1, 2.5], \"scores\": {\"a\": 1, \"b\": 0.5},"
                          " \"tags\": {\"k\": [1, 1.0]}, \"parent_id\": null}");
    /* an id is made when absent */
    const char *id = fh_doc_id(d);
    assert_int_equal(strlen(id), 32);
    assert_int_equal(strspn(id, "0123456789abcdef"), 32);
    assert_string_equal(fh_doc_text(d), "t");
    assert_string_equal(fh_doc_uri(d), "u");
    assert_true(fh_doc_weight(d) == 3.0);
    assert_int_equal(fh_doc_granularity(d), 2);
    size_t n;
    const float *e = fh_doc_embedding(d, &n);
    assert_int_equal(n, 2);
    assert_true(e[0] == 1.0f && e[1] == 2.5f);
    double s;
    assert_true(fh_doc_score(d, "a", &s) && s == 1.0);
    assert_string_equal(fh_doc_score_at(d, 1, &s), "b");
    const fh_value *k = fh_map_get(fh_doc_tags_get(d), "k");
    assert_int_equal(fh_value_type(fh_list_at(k, 0)), FH_TYPE_INT);
    assert_int_equal(fh_value_type(fh_list_at(k, 1)), FH_TYPE_DOUBLE);
    fh_doc_destroy(&d);

    d = parse_doc("{\"id\": \"given\"}");
    assert_string_equal(fh_doc_id(d), "given");
    fh_doc_destroy(&d);
}

static void test_doc_unknown_field(void **state)
{
    (void)state;
    fh_doc *d = NULL;
    const char *text = "{\"id\": \"x\",\n \"colour\": \"red\"}";
    assert_int_equal(fh_doc_from_json(text, strlen(text), &d), FH_E_PARSE);
    assert_null(d);
    assert_string_equal(fh_last_error(), "line 2, column 2: unknown field 'colour' in document");
    /* inside a chunk the path says where */
    text = "{\"chunks\": [{\"text\": \"a\"}, {\"txt\": \"b\"}]}";
    assert_int_equal(fh_doc_from_json(text, strlen(text), &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "unknown field 'chunks[1].txt' in document"));
    text = "{\"tensor\": {\"dtype\": \"int8\", \"data\": \"AA==\", \"rank\": 1}}";
    assert_int_equal(fh_doc_from_json(text, strlen(text), &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "'tensor.rank'"));
    /* an empty key is an unknown field too, and finding where it is must end (it once
     * looped forever: tests/fuzz/crashes/json/timeout-empty-key.json) */
    text = "{\"\":1}";
    assert_int_equal(fh_doc_from_json(text, strlen(text), &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "unknown field '' in document"));
}

static void test_doc_wrong_types(void **state)
{
    (void)state;
    struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"{\"text\": 5}", "field 'text' must be a string, not an integer"},
        {"{\"id\": [\"x\"]}", "field 'id' must be a string"},
        {"{\"tags\": [1]}", "field 'tags' must be an object"},
        {"{\"weight\": \"1\"}", "field 'weight' must be a number"},
        {"{\"granularity\": 1.5}", "field 'granularity' must be an integer, not a real"},
        {"{\"embedding\": [1, \"2\"]}", "field 'embedding' must be an array of numbers"},
        {"{\"scores\": {\"a\": true}}", "score 'scores.a' must be a number"},
        {"{\"chunks\": {}}", "field 'chunks' must be an array of documents"},
        {"{\"chunks\": [1]}", "a document must be a JSON object, not an integer"},
        {"{\"matches\": [{\"text\": false}]}", "field 'matches[0].text' must be a string"},
        {"[{\"text\": \"a\"}]", "a document must be a JSON object, not an array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fh_doc *d = NULL;
        int rc = fh_doc_from_json(cases[i].json, strlen(cases[i].json), &d);
        if (rc != FH_E_TYPE || !strstr(fh_last_error(), cases[i].message))
            fail_msg("%s: got %d '%s', want '%s'", cases[i].json, rc, fh_last_error(),
                     cases[i].message);
        assert_null(d);
    }
    fh_doc *d = NULL;
    /* a syntax error is a parse error with a position */
    assert_int_equal(fh_doc_from_json("{\"text\": }", 10, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "line 1, column 10"));
    assert_int_equal(fh_doc_from_json("{\"granularity\": 3000000000}", 27, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "out of range"));
}

static void test_doc_tensor_json(void **state)
{
    (void)state;
    fh_doc *d = parse_doc("{\"tensor\": {\"dtype\": \"int16\", \"shape\": [2], \"data\": \"AQD//w==\"}}");
    const char *dtype;
    size_t ndim, nbytes;
    const int16_t *t = fh_doc_tensor(d, &dtype, NULL, &ndim, &nbytes);
    assert_string_equal(dtype, "int16");
    assert_int_equal(ndim, 1);
    assert_int_equal(nbytes, 4);
    assert_int_equal(t[0], 1);
    assert_int_equal(t[1], -1);
    fh_doc_destroy(&d);
    /* the size must agree with dtype and shape */
    const char *bad = "{\"tensor\": {\"dtype\": \"int16\", \"shape\": [3], \"data\": \"AQD//w==\"}}";
    assert_int_equal(fh_doc_from_json(bad, strlen(bad), &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "field 'tensor'"));
    bad = "{\"tensor\": {\"shape\": [1], \"data\": \"AA==\"}}";
    assert_int_equal(fh_doc_from_json(bad, strlen(bad), &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "tensor.dtype"));
    bad = "{\"tensor\": {\"dtype\": \"int8\", \"shape\": [-1]}}";
    assert_int_equal(fh_doc_from_json(bad, strlen(bad), &d), FH_E_TYPE);

    /* an embedding of another dtype keeps its n-d array form through JSON */
    d = fh_doc_new();
    fh_doc_set_id(d, "e");
    const uint64_t shape[1] = {2};
    fh_doc_set_tensor(d, "int8", shape, 1, "\x01\x02", 2);
    FH_PB_DOC(d)->embedding = FH_PB_DOC(d)->tensor;
    FH_PB_DOC(d)->tensor = NULL;
    char *s = fh_doc_to_json(d);
    assert_string_equal(s, "{\"id\":\"e\",\"embedding\":{\"dtype\":\"int8\",\"shape\":[2],\"data\":\"AQI=\"}}");
    fh_doc *back = parse_doc(s);
    assert_string_equal(FH_PB_DOC(back)->embedding->dtype, "int8");
    assert_null(FH_PB_DOC(back)->tensor);
    free(s);
    fh_doc_destroy(&back);
    fh_doc_destroy(&d);
}

static void test_doc_nested_chunks(void **state)
{
    (void)state;
    fh_doc *d = parse_doc("{\"id\": \"root\", \"granularity\": 1, \"chunks\": ["
                          "  {\"id\": \"c0\", \"chunks\": [{\"id\": \"c00\", \"text\": \"deep\"}]},"
                          "  {\"id\": \"c1\", \"parent_id\": \"other\", \"granularity\": 7}],"
                          " \"matches\": [{\"id\": \"m0\"}, {\"id\": \"m1\", \"adjacency\": 0}]}");
    assert_int_equal(fh_doc_chunk_count(d), 2);
    fh_doc *c0 = fh_doc_chunk_at(d, 0);
    /* filled in as fh_doc_add_chunk would, even though "granularity" came after... */
    assert_string_equal(fh_doc_parent_id(c0), "root");
    assert_int_equal(fh_doc_granularity(c0), 2);
    fh_doc *c00 = fh_doc_chunk_at(c0, 0);
    assert_string_equal(fh_doc_text(c00), "deep");
    assert_string_equal(fh_doc_parent_id(c00), "c0");
    assert_int_equal(fh_doc_granularity(c00), 3);
    /* ...but what the input says wins */
    fh_doc *c1 = fh_doc_chunk_at(d, 1);
    assert_string_equal(fh_doc_parent_id(c1), "other");
    assert_int_equal(fh_doc_granularity(c1), 7);
    assert_int_equal(fh_doc_adjacency(fh_doc_match_at(d, 0)), 1);
    assert_int_equal(fh_doc_adjacency(fh_doc_match_at(d, 1)), 0);
    fh_doc_destroy(&d);
}

/* Builds {"chunks":[{"chunks":[ ... ]}]} nested N deep. */
static char *nested_chunks(size_t n)
{
    const char *open = "{\"chunks\":[", *close = "]}";
    char *s = malloc(n * (strlen(open) + strlen(close)) + 3);
    char *p = s;
    for (size_t i = 0; i < n; i++)
        p = stpcpy(p, open);
    p = stpcpy(p, "{}");
    for (size_t i = 0; i < n; i++)
        p = stpcpy(p, close);
    return s;
}

static void test_doc_depth_limit(void **state)
{
    (void)state;
    fh_doc *d = NULL;
    char *ok = nested_chunks(FH_JSON_MAX_DOC_DEPTH);
    assert_int_equal(fh_doc_from_json(ok, strlen(ok), &d), 0);
    char *s = fh_doc_to_json(d);
    assert_non_null(s);
    free(s);
    /* one more level made through the API cannot be written */
    fh_doc *leaf = d;
    while (fh_doc_chunk_count(leaf))
        leaf = fh_doc_chunk_at(leaf, 0);
    fh_doc_add_chunk(leaf, fh_doc_new());
    assert_null(fh_doc_to_json(d));
    assert_non_null(strstr(fh_last_error(), "nested deeper"));
    fh_doc_destroy(&d);
    free(ok);

    char *deep = nested_chunks(FH_JSON_MAX_DOC_DEPTH + 1);
    assert_int_equal(fh_doc_from_json(deep, strlen(deep), &d), FH_E_PARSE);
    assert_null(d);
    assert_non_null(strstr(fh_last_error(), "nested deeper than 64"));
    free(deep);
}

static void test_jansson_helpers(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:i, s:f, s:[s]}", "i", 1, "d", 1.0, "l", "x");
    fh_value *v = NULL;
    assert_int_equal(fh_value_from_jansson(j, &v), 0);
    assert_int_equal(fh_value_type(fh_map_get(v, "i")), FH_TYPE_INT);
    assert_int_equal(fh_value_type(fh_map_get(v, "d")), FH_TYPE_DOUBLE);
    json_t *back = fh_value_to_jansson(v);
    assert_true(json_equal(j, back));
    char *s = fh_jansson_dumps(back);
    assert_string_equal(s, "{\"i\":1,\"d\":1.0,\"l\":[\"x\"]}");
    free(s);
    json_decref(back);
    fh_value_destroy(&v);
    json_decref(j);

    fh_doc *d = NULL;
    j = json_pack("{s:s, s:s}", "id", "x", "text", "t");
    assert_int_equal(fh_doc_from_jansson(j, &d), 0);
    json_t *dj = fh_doc_to_jansson(d);
    assert_true(json_equal(j, dj));
    json_decref(dj);
    fh_doc_destroy(&d);
    json_decref(j);
    j = json_pack("{s:i}", "text", 1);
    assert_int_equal(fh_doc_from_jansson(j, &d), FH_E_TYPE);
    assert_string_equal(fh_last_error(), "field 'text' must be a string, not an integer");
    json_decref(j);
}

/* ---- NDJSON ---- */

static char *data_path(const char *name)
{
    const char *dir = getenv("FH_TEST_DATA");
    if (!dir)
        fail_msg("FH_TEST_DATA is not set");
    char *p = NULL;
    if (asprintf(&p, "%s/ndjson/%s", dir, name) < 0)
        fail_msg("out of memory");
    return p;
}

/* A line of NUL bytes is not blank: it is an error, never skipped as if empty. */
static void test_ndjson_nul_line_is_not_blank(void **state)
{
    (void)state;
    char path[] = "/tmp/fh-json-nul.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char bytes[] = "{\"id\": \"a\"}\n\0\0\0\n{\"id\": \"b\"}\n";
    assert_int_equal(write(fd, bytes, sizeof bytes - 1), (ssize_t)(sizeof bytes - 1));
    close(fd);
    fh_ndjson_reader *r = NULL;
    assert_int_equal(fh_ndjson_open(path, &r), 0);
    fh_doc *d = NULL;
    assert_int_equal(fh_ndjson_next(r, &d), 1);
    fh_doc_destroy(&d);
    assert_true(fh_ndjson_next(r, &d) < 0);
    assert_null(d);
    fh_ndjson_close(&r);
    unlink(path);
}

static void test_ndjson_reads_and_skips_blank_lines(void **state)
{
    (void)state;
    char *path = data_path("good.ndjson");
    fh_ndjson_reader *r = NULL;
    assert_int_equal(fh_ndjson_open(path, &r), 0);
    fh_doc *d = NULL;
    assert_int_equal(fh_ndjson_next(r, &d), 1);
    assert_string_equal(fh_doc_id(d), "a");
    assert_string_equal(fh_doc_text(d), "first");
    fh_doc_destroy(&d);
    assert_int_equal(fh_ndjson_next(r, &d), 1); /* after two blank lines, with \r\n */
    assert_string_equal(fh_doc_text(d), "second");
    assert_int_equal(fh_value_type(fh_map_get(fh_doc_tags_get(d), "n")), FH_TYPE_INT);
    assert_int_equal(fh_value_type(fh_map_get(fh_doc_tags_get(d), "x")), FH_TYPE_DOUBLE);
    fh_doc_destroy(&d);
    assert_int_equal(fh_ndjson_next(r, &d), 1);
    assert_string_equal(fh_doc_parent_id(fh_doc_chunk_at(d, 0)), "c");
    fh_doc_destroy(&d);
    assert_int_equal(fh_ndjson_next(r, &d), 0);
    assert_int_equal(fh_ndjson_next(r, &d), 0); /* and stays at the end */
    fh_ndjson_close(&r);
    assert_null(r);
    fh_ndjson_close(&r);
    free(path);
}

/* Reads PATH up to its first error and checks the message starts with PATH:PREFIX. */
static void expect_ndjson_error(const char *name, int want_docs, int want_rc, const char *where,
                                const char *what)
{
    char *path = data_path(name);
    fh_ndjson_reader *r = NULL;
    assert_int_equal(fh_ndjson_open(path, &r), 0);
    fh_doc *d = NULL;
    int rc, docs = 0;
    while ((rc = fh_ndjson_next(r, &d)) == 1) {
        docs++;
        fh_doc_destroy(&d);
    }
    assert_int_equal(docs, want_docs);
    assert_int_equal(rc, want_rc);
    char *prefix = NULL;
    assert_true(asprintf(&prefix, "%s:%s", path, where) > 0);
    if (strncmp(fh_last_error(), prefix, strlen(prefix)) != 0 || !strstr(fh_last_error(), what))
        fail_msg("got '%s', want '%s ... %s'", fh_last_error(), prefix, what);
    free(prefix);
    fh_ndjson_close(&r);
    free(path);
}

static void test_ndjson_errors_name_file_line_column(void **state)
{
    (void)state;
    /* line 3 is {"id":"c", "text": } — jansson stops at column 20 */
    expect_ndjson_error("bad_line3.ndjson", 2, FH_E_PARSE, "3:20: ", "unexpected token");
    /* line numbers count blank lines; the column points at the unknown key */
    expect_ndjson_error("unknown_field.ndjson", 1, FH_E_PARSE, "3:12: ",
                        "unknown field 'colour'");
    expect_ndjson_error("not_object.ndjson", 1, FH_E_TYPE, "2:1: ", "must be a JSON object");
}

static void test_ndjson_missing_file(void **state)
{
    (void)state;
    fh_ndjson_reader *r = NULL;
    assert_int_equal(fh_ndjson_open("/nonexistent/x.ndjson", &r), FH_E_IO);
    assert_null(r);
    assert_string_equal(fh_last_error(), "/nonexistent/x.ndjson: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_to_json),
        cmocka_unit_test(test_value_reals_round_trip_exactly),
        cmocka_unit_test(test_value_from_json_keeps_int_and_double_apart),
        cmocka_unit_test(test_value_from_json_errors),
        cmocka_unit_test(test_value_depth_limit),
        cmocka_unit_test(test_value_not_representable),
        cmocka_unit_test(test_bytes_base64),
        cmocka_unit_test(test_doc_to_json),
        cmocka_unit_test(test_doc_from_json_fields),
        cmocka_unit_test(test_doc_unknown_field),
        cmocka_unit_test(test_doc_wrong_types),
        cmocka_unit_test(test_doc_tensor_json),
        cmocka_unit_test(test_doc_nested_chunks),
        cmocka_unit_test(test_doc_depth_limit),
        cmocka_unit_test(test_jansson_helpers),
        cmocka_unit_test(test_ndjson_reads_and_skips_blank_lines),
        cmocka_unit_test(test_ndjson_nul_line_is_not_blank),
        cmocka_unit_test(test_ndjson_errors_name_file_line_column),
        cmocka_unit_test(test_ndjson_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

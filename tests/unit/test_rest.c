/* Unit tests: Jina 2's REST JSON both ways (host/gateway/rest*.c): request bodies of
 * every shape into envelope and documents, replies into response bodies, the API's paths,
 * its OpenAPI description and page. */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "codec.h"
#include "flow_config.h"
#include "pb.h"
#include "rest.h"
#include <flowhost/error.h>
#include <flowhost/json.h>

/* ---- helpers ------------------------------------------------------------------------ */

/* A parsed request, decoded back: what a worker would see. */
typedef struct parsed {
    fh_rest_request req;
    Flowhost__Envelope *env;
    fh_docs *docs;
} parsed;

static int parse_ep(const char *body, const char *endpoint, size_t max, parsed *p,
                    fh_rest_error *err)
{
    memset(p, 0, sizeof *p);
    fh_rest_parse_options o = {.max_bytes = max, .endpoint = endpoint};
    int rc = fh_rest_parse_request(body, body ? strlen(body) : 0, &o, &p->req, err);
    if (rc != 0)
        return rc;
    assert_int_equal(fh_envelope_decode(zmq_msg_data(&p->req.envelope),
                                        zmq_msg_size(&p->req.envelope), &p->env),
                     0);
    assert_int_equal(fh_docs_decode_wire(&p->req.docs, &p->docs), 0);
    assert_int_equal(fh_docs_len(p->docs), p->req.n_docs);
    return 0;
}

/* Parses BODY, which must be good. */
static void parse_ok(const char *body, const char *endpoint, parsed *p)
{
    fh_rest_error err;
    int rc = parse_ep(body, endpoint, 1 << 20, p, &err);
    if (rc != 0)
        fail_msg("parsing %s: %s", body, err.message);
}

static void parsed_free(parsed *p)
{
    fh_rest_request_close(&p->req);
    if (p->env)
        flowhost__envelope__free_unpacked(p->env, NULL);
    fh_docs_destroy(&p->docs);
}

/* Parses BODY, which must be refused with STATUS and a message holding WANT (and, when
 * LINE > 0, at LINE and COLUMN). */
static void parse_bad(const char *body, const char *endpoint, size_t max, int status,
                      const char *want, int line, int column)
{
    parsed p;
    fh_rest_error err;
    int rc = parse_ep(body, endpoint, max, &p, &err);
    if (rc == 0) {
        parsed_free(&p);
        fail_msg("accepted %s", body);
    }
    if (err.http_status != status || strstr(err.message, want) == NULL)
        fail_msg("%.60s: status %d '%s', wanted %d '%s'", body, err.http_status, err.message,
                 status, want);
    if (line > 0 && (err.line != line || err.column != column))
        fail_msg("%.60s: at %d:%d, wanted %d:%d (%s)", body, err.line, err.column, line, column,
                 err.message);
    assert_null(strchr(err.message, '\n')); /* one line */
    /* nothing is left to close: closing the empty request is harmless */
    fh_rest_request_close(&p.req);
}

static const fh_value *param(const parsed *p, const char *key)
{
    return fh_map_get((const fh_value *)p->env->parameters, key);
}

/* ---- requests ----------------------------------------------------------------------- */

static void test_request_basic(void **state)
{
    (void)state;
    parsed p;
    parse_ok("{\"data\": [{\"text\": \"hello\"}, {\"id\": \"d2\", \"text\": \"world\"}],"
             " \"parameters\": {\"top_k\": 3, \"ratio\": 1.0, \"name\": \"x\"}}",
             "/index", &p);
    assert_string_equal(p.env->endpoint, "/index");
    assert_int_equal(strlen(p.env->request_id), 32); /* generated */
    assert_string_equal(p.env->request_id, p.req.request_id);
    assert_int_equal(fh_docs_len(p.docs), 2);
    assert_string_equal(fh_doc_text(fh_docs_at(p.docs, 0)), "hello");
    assert_true(strlen(fh_doc_id(fh_docs_at(p.docs, 0))) > 0);
    assert_string_equal(fh_doc_id(fh_docs_at(p.docs, 1)), "d2");
    /* ints stay ints, doubles doubles */
    assert_int_equal(fh_value_type(param(&p, "top_k")), FH_TYPE_INT);
    assert_int_equal(fh_value_int(param(&p, "top_k"), -99), 3);
    assert_int_equal(fh_value_type(param(&p, "ratio")), FH_TYPE_DOUBLE);
    assert_int_equal(fh_value_type(param(&p, "name")), FH_TYPE_STRING);
    parsed_free(&p);
}

static void test_request_post(void **state)
{
    (void)state;
    parsed p;
    parse_ok("{\"exec_endpoint\": \"/foo\", \"data\": [\"a\", \"b\"], \"request_id\": \"r-1\"}",
             NULL, &p);
    assert_string_equal(p.env->endpoint, "/foo");
    assert_string_equal(p.env->request_id, "r-1");
    assert_int_equal(fh_docs_len(p.docs), 2); /* strings are the texts of documents */
    assert_string_equal(fh_doc_text(fh_docs_at(p.docs, 1)), "b");
    parsed_free(&p);
    parse_ok("{\"execEndpoint\": \"/bar\", \"requestId\": \"r-2\", \"targetPeapod\": \"\"}", NULL,
             &p); /* Jina's camelCase spellings */
    assert_string_equal(p.env->endpoint, "/bar");
    assert_string_equal(p.env->request_id, "r-2");
    assert_int_equal(fh_docs_len(p.docs), 0);
    parsed_free(&p);
    /* the URL's endpoint, repeated in the body, is fine */
    parse_ok("{\"exec_endpoint\": \"/index\"}", "/index", &p);
    parsed_free(&p);
}

static void test_request_empty(void **state)
{
    (void)state;
    const char *bodies[] = {"", "  \n", "{}", "{\"data\": null, \"parameters\": null}",
                            "{\"data\": []}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        parsed p;
        parse_ok(bodies[i], "/search", &p);
        assert_int_equal(fh_docs_len(p.docs), 0); /* one request without documents */
        assert_int_equal(fh_value_type((const fh_value *)p.env->parameters), FH_TYPE_MAP);
        assert_int_equal(fh_value_len((const fh_value *)p.env->parameters), 0);
        parsed_free(&p);
    }
}

static void test_request_broken_json(void **state)
{
    (void)state;
    parse_bad("{\"data\": [1,", "/index", 1 << 20, 400, "end of file", 1, 12);
    parse_bad("{\n  \"data\": [],\n  \"parameters\": {\"a\": tru}\n}", "/index", 1 << 20, 400,
              "line 3", 3, 25);
    parse_bad("{\"a\": 1, \"a\": 2}", "/index", 1 << 20, 400, "duplicate", 0, 0);
    parse_bad("not json", "/index", 1 << 20, 400, "line 1, column", 0, 0);
    parse_bad("{\"data\": [\"\\u0000\"]}", "/index", 1 << 20, 400, "NUL", 0, 0);
    parse_bad("{\"data\": [\"\xff\xfe\"]}", "/index", 1 << 20, 400, "unable to decode byte 0xff", 1, 11);
}

static void test_request_wrong_types(void **state)
{
    (void)state;
    parse_bad("[1, 2]", "/index", 1 << 20, 400, "must be a JSON object, not an array", 0, 0);
    parse_bad("{\"data\": 5}", "/index", 1 << 20, 400, "'data' must be an array", 1, 10);
    parse_bad("{\"data\": {\"text\": \"x\"}}", "/index", 1 << 20, 400, "not an object", 1, 10);
    parse_bad("{\"parameters\": [1]}", "/index", 1 << 20, 400, "'parameters' must be an object",
              1, 16);
    parse_bad("{\"exec_endpoint\": 7}", NULL, 1 << 20, 400, "must be a string", 1, 19);
    parse_bad("{\"exec_endpoint\": \"\"}", NULL, 1 << 20, 400, "1 to 1024 bytes", 1, 19);
    parse_bad("{\"data\": []}", NULL, 1 << 20, 400, "needs \"exec_endpoint\"", 0, 0);
    parse_bad("{\"exec_endpoint\": \"/search\"}", "/index", 1 << 20, 400,
              "the path says '/index'", 1, 19);
    /* data[1] is pointed at, on its own line */
    parse_bad("{\"data\": [\n {\"text\": \"a\"},\n 5\n]}", "/index", 1 << 20, 400,
              "data[1] must be a document object or a string, not an integer", 3, 2);
    parse_bad("{\"data\": [{\"text\": \"a\"}, {\"text\": 5}]}", "/index", 1 << 20, 400,
              "data[1]: field 'text' must be a string", 1, 26);
    parse_bad("{\"data\": [[{\"text\": \"a\"}, {\"text\": \"b\"}]]}", "/index", 1 << 20, 400,
              "groundtruth", 1, 11);
    parse_bad("{\"data\": [], \"top_k\": 3}", "/index", 1 << 20, 400, "unknown key 'top_k'",
              1, 23);
    parse_bad("{\"exec_endpoint\": \"/a\", \"execEndpoint\": \"/b\"}", NULL, 1 << 20, 400,
              "'exec_endpoint' and 'execEndpoint' are the same key", 1, 41);
    parse_bad("{\"target_peapod\": \"enc*\"}", "/index", 1 << 20, 400, "not supported", 1, 19);
    parse_bad("{\"request_id\": 12}", "/index", 1 << 20, 400, "'request_id' must be a string",
              1, 16);
    parse_bad("{\"data\": [{\"chunks\": 3}]}", "/index", 1 << 20, 400,
              "field 'chunks' must be an array", 1, 11);
}

static void test_request_unicode(void **state)
{
    (void)state;
    parsed p;
    parse_ok("{\"data\": [{\"text\": \"h\xc3\xa9llo \xf0\x9f\x90\xb2\", \"tags\": "
             "{\"cl\xc3\xa9\": \"\\u00e9\\ud83d\\udc32\"}}]}",
             "/index", &p);
    const fh_doc *d = fh_docs_at(p.docs, 0);
    assert_string_equal(fh_doc_text(d), "h\xc3\xa9llo \xf0\x9f\x90\xb2");
    assert_string_equal(fh_value_string(fh_map_get(fh_doc_tags_get(d), "cl\xc3\xa9")),
                        "\xc3\xa9\xf0\x9f\x90\xb2");
    parsed_free(&p);
    /* positions count characters, as jansson's do */
    parse_bad("{\"data\": [\"\xc3\xa9\xc3\xa9\", 5]}", "/index", 1 << 20, 400, "data[1]", 1, 17);
}

static void test_request_numbers(void **state)
{
    (void)state;
    parsed p;
    parse_ok("{\"data\": [{\"tags\": {\"i\": 1, \"d\": 1.0, \"big\": 9007199254740993,"
             " \"neg\": -9223372036854775808, \"e\": 1e3, \"tiny\": 0.1}}],"
             " \"parameters\": {\"list\": [1, 2.5, \"x\", null, true, {\"k\": -1}]}}",
             "/index", &p);
    const fh_value *tags = fh_doc_tags_get(fh_docs_at(p.docs, 0));
    assert_int_equal(fh_value_type(fh_map_get(tags, "i")), FH_TYPE_INT);
    assert_int_equal(fh_value_type(fh_map_get(tags, "d")), FH_TYPE_DOUBLE);
    assert_true(fh_value_int(fh_map_get(tags, "big"), 0) == 9007199254740993LL);
    assert_true(fh_value_int(fh_map_get(tags, "neg"), 0) == INT64_MIN);
    assert_int_equal(fh_value_type(fh_map_get(tags, "e")), FH_TYPE_DOUBLE);
    const fh_value *list = param(&p, "list");
    assert_int_equal(fh_value_len(list), 6);
    assert_int_equal(fh_value_type(fh_list_at(list, 0)), FH_TYPE_INT);
    assert_int_equal(fh_value_type(fh_list_at(list, 1)), FH_TYPE_DOUBLE);
    assert_int_equal(fh_value_type(fh_list_at(list, 3)), FH_TYPE_NULL);
    assert_int_equal(fh_value_type(fh_map_get(fh_list_at(list, 5), "k")), FH_TYPE_INT);
    parsed_free(&p);
    /* past int64: jansson refuses it rather than rounding it */
    parse_bad("{\"parameters\": {\"n\": 9223372036854775808}}", "/index", 1 << 20, 400,
              "too big", 0, 0);
}

/* Jina 2's forms of a document: camelCase names, buffer, NdArrayProto, NamedScoreProto,
 * unknown keys as tags, its fields flowhost has not at their defaults. */
static void test_request_jina_documents(void **state)
{
    (void)state;
    parsed p;
    /* [1.5, -2] as float32, little endian: 0000c03f 000000c0 */
    parse_ok("{\"data\": [{\"id\": \"1\", \"prop1\": \"val\", \"n\": 2,"
             " \"parentId\": \"p\", \"mimeType\": \"text/plain\", \"buffer\": \"AAEC\","
             " \"embedding\": {\"dense\": {\"buffer\": \"AADAPwAAAMA=\", \"shape\": [2],"
             " \"dtype\": \"<f4\"}},"
             " \"blob\": {\"dense\": {\"buffer\": \"AQAAAAAAAAA=\", \"shape\": [1, 1],"
             " \"dtype\": \"<i8\"}},"
             " \"scores\": {\"cosine\": {\"value\": 0.5, \"opName\": \"x\"}},"
             " \"location\": [], \"offset\": 0, \"modality\": \"\", \"evaluations\": {},"
             " \"matches\": [{\"id\": \"m\", \"mimeType\": \"a/b\", \"extra\": 1}]}]}",
             "/index", &p);
    const fh_doc *d = fh_docs_at(p.docs, 0);
    const fh_value *tags = fh_doc_tags_get(d);
    assert_string_equal(fh_value_string(fh_map_get(tags, "prop1")), "val");
    assert_int_equal(fh_value_int(fh_map_get(tags, "n"), -99), 2);
    assert_int_equal(fh_value_len(tags), 2); /* the Jina-only defaults are not tags */
    assert_string_equal(fh_doc_parent_id(d), "p");
    assert_string_equal(fh_doc_mime_type(d), "text/plain");
    size_t n;
    const uint8_t *blob = (const uint8_t *)fh_doc_blob(d, &n);
    assert_int_equal(n, 3);
    assert_int_equal(blob[2], 2);
    const float *emb = fh_doc_embedding(d, &n);
    assert_int_equal(n, 2);
    assert_true(emb[0] == 1.5f && emb[1] == -2.0f);
    const char *dtype;
    const uint64_t *shape;
    size_t ndim, nbytes;
    const void *data = fh_doc_tensor(d, &dtype, &shape, &ndim, &nbytes);
    assert_non_null(data);
    assert_string_equal(dtype, "int64");
    assert_int_equal(ndim, 2);
    assert_int_equal(nbytes, 8);
    double score;
    assert_true(fh_doc_score(d, "cosine", &score));
    assert_true(score == 0.5);
    const fh_doc *m = fh_doc_match_at(d, 0);
    assert_string_equal(fh_doc_mime_type(m), "a/b");
    assert_int_equal(fh_value_int(fh_map_get(fh_doc_tags_get(m), "extra"), -99), 1);
    parsed_free(&p);

    parse_bad("{\"data\": [{\"modality\": \"image\"}]}", "/index", 1 << 20, 400,
              "field 'modality' (Jina 2's) is not supported", 1, 11);
    parse_bad("{\"data\": [{\"parentId\": \"a\", \"parent_id\": \"b\"}]}", "/index", 1 << 20,
              400, "the same field", 1, 11);
    parse_bad("{\"data\": [{\"x\": 1, \"tags\": 5}]}", "/index", 1 << 20, 400,
              "'tags' must be an object", 1, 11);
    parse_bad("{\"data\": [{\"embedding\": {\"dense\": {\"buffer\": \"AAAA\", \"dtype\": \">f4\"}}}]}",
              "/index", 1 << 20, 400, "big-endian", 1, 11);
    parse_bad("{\"data\": [{\"chunks\": [{\"scores\": {\"s\": {\"value\": \"x\"}}}]}]}", "/index",
              1 << 20, 400, "chunks[0].scores.s", 1, 11);
}

static void test_request_limits(void **state)
{
    (void)state;
    /* over the byte limit: refused before parsing */
    parse_bad("{\"data\": [\"0123456789\"]}", "/index", 16, 413, "more than the 16", 0, 0);
    /* values packed denser than one per 4 bytes of the limit */
    size_t n = 100000;
    char *body = malloc(2 * n + 64);
    size_t o = (size_t)sprintf(body, "{\"parameters\": {\"l\": [");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(body + o, i ? ",0" : "0");
    sprintf(body + o, "]}}");
    parse_bad(body, "/index", 2 * n + 64, 413, "JSON values", 0, 0);
    /* within the value count but over the envelope's decoded bound */
    parse_bad(body, "/index", 4 * n + 64, 413, "'parameters' take more than", 1, 16);
    free(body);

    /* nesting: parameters deeper than the SDK's bound (256), documents deeper than 64,
       and far deeper than jansson's own (2048): each a 400, never a crash */
    size_t depth = 300;
    body = malloc(2 * depth + 64);
    o = (size_t)sprintf(body, "{\"parameters\": {\"a\": ");
    for (size_t i = 0; i < depth; i++)
        body[o++] = '[';
    for (size_t i = 0; i < depth; i++)
        body[o++] = ']';
    sprintf(body + o, "}}");
    parse_bad(body, "/index", 1 << 20, 400, "nested deeper than 256", 1, 16);
    free(body);

    depth = 100;
    body = malloc(16 * depth + 64);
    o = (size_t)sprintf(body, "{\"data\": [");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(body + o, "{\"chunks\": [");
    o += (size_t)sprintf(body + o, "{}");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(body + o, "]}");
    sprintf(body + o, "]}");
    parse_bad(body, "/index", 1 << 20, 400, "nested deeper than 64", 1, 11);
    free(body);

    depth = 100000;
    body = malloc(depth + 64);
    o = (size_t)sprintf(body, "{\"data\": ");
    memset(body + o, '[', depth);
    body[o + depth] = '\0';
    parse_bad(body, "/index", 1 << 20, 400, "depth", 0, 0);
    free(body);

    /* a request id or endpoint past its bound */
    char id[FH_REST_MAX_ID + 64];
    snprintf(id, sizeof id, "{\"request_id\": \"%0*d\"}", FH_REST_MAX_ID + 1, 0);
    parse_bad(id, "/index", 1 << 20, 400, "1 to 256 bytes", 1, 16);
}

/* AddressSanitizer's redzones and quarantine take about twice the memory. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_FACTOR 40L
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_FACTOR 40L
#endif
#endif
#ifndef RSS_FACTOR
#define RSS_FACTOR 20L
#endif

/* A body as long as the limit, of the smallest values it may hold, costs memory in
 * proportion to the limit: HEAD, then ITEM until the body is MAX bytes, then TAIL. */
static void memory_bound(const char *head, const char *item, const char *tail)
{
    size_t max = 8 << 20, n = strlen(item);
    char *body = malloc(max);
    size_t o = (size_t)sprintf(body, "%s", head);
    while (o + n + 16 < max) {
        memcpy(body + o, item, n);
        o += n;
    }
    o += (size_t)sprintf(body + o, "%s", tail);
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    parsed p;
    fh_rest_error err;
    int rc = parse_ep(body, "/index", max, &p, &err);
    getrusage(RUSAGE_SELF, &after);
    if (rc == 0)
        parsed_free(&p);
    free(body);
    long grown_kb = after.ru_maxrss - before.ru_maxrss;
    print_message("body %zu bytes, %s (%d): peak RSS grew %ld KiB (%.1f x the body)\n", o,
                  rc == 0 ? "accepted" : "refused", err.http_status, grown_kb,
                  grown_kb * 1024.0 / (double)o);
    /* jansson's tree alone is 10 to 13 x this body; the SDK's values built from it
       before their decoded size was checked once took 28 x (tags) and 80 x (strings) */
    assert_true(grown_kb * 1024L < RSS_FACTOR * (long)max);
}

/* Each runs in a process of its own (ru_maxrss only grows): see main. */
static void test_request_memory_tags(void **state)
{
    (void)state;
    /* one value per 4 bytes of tags: {"data": [{"tags": {"a": [0,  0,  0, ...]}}]} */
    memory_bound("{\"data\": [{\"tags\": {\"a\": [0", ",  0", "]}}]}");
}

static void test_request_memory_strings(void **state)
{
    (void)state;
    /* as many documents as the count of values lets in: {"data": ["aaaaaa", ...]}, one
       per 9 bytes (a shorter string is refused before it is parsed) */
    memory_bound("{\"data\": [\"aaaaaa\"", ",\"aaaaaa\"", "]}");
}

/* ---- responses ---------------------------------------------------------------------- */

/* Writes the response of P's request as if it came back from the executor "enc" (with
 * STATUS_ERROR, failed there) and parses it. */
static json_t *round_trip(parsed *p, bool failed)
{
    fh_envelope_add_route(p->env, "gateway", 1624428277000000LL, 1624428277500000LL);
    fh_envelope_add_route(p->env, "enc", 1624428277100000LL, 1624428277200000LL);
    if (failed)
        fh_envelope_set_error(p->env, "enc", "division by zero");
    char *text = NULL;
    size_t len = 0;
    fh_rest_error err;
    int rc = fh_rest_write_response(p->env, &p->req.docs, 1 << 20, &text, &len, &err);
    if (rc != 0)
        fail_msg("writing the response: %s", err.message);
    assert_int_equal(strlen(text), len);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL)
        fail_msg("the response is not JSON: %s: %s", je.text, text);
    free(text);
    return j;
}

static void test_response_shape(void **state)
{
    (void)state;
    parsed p;
    parse_ok("{\"data\": [{\"id\": \"a\", \"text\": \"hi\", \"tags\": {\"n\": 1, \"x\": 0.5},"
             " \"parentId\": \"r\", \"scores\": {\"s\": {\"value\": 0.25}},"
             " \"chunks\": [{\"id\": \"c\", \"text\": \"h\"}], \"buffer\": \"AAEC\","
             " \"embedding\": [0.1, 2]}],"
             " \"parameters\": {\"top_k\": 3, \"w\": 2.5, \"s\": [\"x\", {\"deep\": 7}]},"
             " \"request_id\": \"req-1\"}",
             "/search", &p);
    json_t *j = round_trip(&p, false);
    /* Jina 2's top-level field names, in its order */
    const char *top[] = {"requestId", "data", "header", "parameters", "routes", "status"};
    const char *key;
    json_t *v;
    size_t i = 0;
    json_object_foreach (j, key, v) {
        assert_true(i < 6);
        assert_string_equal(key, top[i++]);
    }
    assert_int_equal(i, 6);
    assert_string_equal(json_string_value(json_object_get(j, "requestId")), "req-1");
    json_t *header = json_object_get(j, "header");
    assert_string_equal(json_string_value(json_object_get(header, "execEndpoint")), "/search");
    assert_string_equal(json_string_value(json_object_get(header, "targetPeapod")), "");
    assert_true(json_is_false(json_object_get(header, "noPropagate")));
    /* parameters keep their types */
    json_t *params = json_object_get(j, "parameters");
    assert_true(json_is_integer(json_object_get(params, "top_k")));
    assert_int_equal(json_integer_value(json_object_get(params, "top_k")), 3);
    assert_true(json_is_real(json_object_get(params, "w")));
    assert_true(json_is_integer(json_object_get(json_array_get(json_object_get(params, "s"), 1), "deep")));
    /* status and routes */
    json_t *status = json_object_get(j, "status");
    assert_int_equal(json_integer_value(json_object_get(status, "code")), 0);
    assert_string_equal(json_string_value(json_object_get(status, "description")), "");
    assert_null(json_object_get(status, "exception"));
    json_t *routes = json_object_get(j, "routes");
    assert_int_equal(json_array_size(routes), 2);
    json_t *r1 = json_array_get(routes, 1);
    assert_string_equal(json_string_value(json_object_get(r1, "pod")), "enc");
    assert_string_equal(json_string_value(json_object_get(r1, "podId")), "enc/0");
    assert_string_equal(json_string_value(json_object_get(r1, "startTime")),
                        "2021-06-23T06:04:37.100000Z");
    assert_string_equal(json_string_value(json_object_get(r1, "endTime")),
                        "2021-06-23T06:04:37.200000Z");
    /* the documents, with Jina 2's names and defaults */
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(json_object_get(data, "groundtruths")), 0);
    json_t *docs = json_object_get(data, "docs");
    assert_int_equal(json_array_size(docs), 1);
    json_t *d = json_array_get(docs, 0);
    const char *fields[] = {"id",      "granularity", "adjacency", "parentId", "text",
                            "uri",     "chunks",      "weight",    "matches",  "mimeType",
                            "tags",    "embedding",   "scores",    "blob"};
    i = 0;
    json_object_foreach (d, key, v) {
        assert_true(i < 14);
        assert_string_equal(key, fields[i++]);
    }
    assert_int_equal(i, 14);
    assert_string_equal(json_string_value(json_object_get(d, "text")), "hi");
    assert_string_equal(json_string_value(json_object_get(d, "parentId")), "r");
    assert_string_equal(json_string_value(json_object_get(d, "mimeType")), "");
    assert_true(json_is_integer(json_object_get(json_object_get(d, "tags"), "n")));
    assert_true(json_is_real(json_object_get(json_object_get(d, "tags"), "x")));
    assert_true(json_real_value(json_object_get(json_object_get(json_object_get(d, "scores"), "s"),
                                                "value")) == 0.25);
    assert_string_equal(json_string_value(json_object_get(d, "blob")), "AAEC");
    json_t *emb = json_object_get(d, "embedding");
    assert_int_equal(json_array_size(emb), 2);
    assert_true(json_real_value(json_array_get(emb, 0)) == 0.1);
    json_t *c = json_array_get(json_object_get(d, "chunks"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "parentId")), "a");
    assert_int_equal(json_integer_value(json_object_get(c, "granularity")), 1);
    assert_true(json_is_null(json_object_get(c, "embedding")));
    json_decref(j);
    parsed_free(&p);
}

/* The documents of a response, posted again, come back the same: Jina 2's names and
 * defaults read back to the documents they were written from. */
static void test_response_reposts(void **state)
{
    (void)state;
    parsed p;
    parse_ok("{\"data\": [{\"text\": \"h\xc3\xa9\", \"tags\": {\"n\": 1, \"x\": 0.1, \"l\": [1, 2.5]},"
             " \"parentId\": \"r\", \"mimeType\": \"t/p\", \"uri\": \"u\", \"weight\": 0.3,"
             " \"scores\": {\"s\": {\"value\": 0.25}}, \"buffer\": \"AAEC\", \"embedding\": [0.1, 2],"
             " \"blob\": {\"dense\": {\"buffer\": \"AQAAAAAAAAA=\", \"shape\": [1], \"dtype\": \"<i8\"}},"
             " \"chunks\": [{\"text\": \"c\", \"chunks\": [{\"text\": \"cc\"}]}],"
             " \"matches\": [{\"id\": \"m\", \"scores\": {\"cos\": {\"value\": 1}}}]}, \"plain\","
             /* embeddings the SDK's number arrays would turn into 1-D float32 */
             " {\"embedding\": {\"dense\": {\"buffer\": \"mpmZmZmZuT8AAAAAAAAAQA==\", \"shape\": [2],"
             " \"dtype\": \"<f8\"}}},"
             " {\"embedding\": {\"dtype\": \"float32\", \"shape\": [1, 2], \"data\": \"AADAPwAAAMA=\"},"
             " \"chunks\": [{\"embedding\": {\"dtype\": \"float64\", \"shape\": [1],"
             " \"data\": \"AAAAAAAA8D8=\"}}]}]}",
             "/index", &p);
    json_t *first = round_trip(&p, false);
    parsed_free(&p);
    json_t *docs = json_object_get(json_object_get(first, "data"), "docs");
    json_t *e64 = json_object_get(json_array_get(docs, 2), "embedding");
    assert_string_equal(json_string_value(json_object_get(e64, "dtype")), "float64");
    json_t *e2d = json_object_get(json_array_get(docs, 3), "embedding");
    assert_int_equal(json_array_size(json_object_get(e2d, "shape")), 2);
    json_t *again = json_pack("{s:O}", "data", docs);
    char *body = json_dumps(again, JSON_COMPACT);
    json_decref(again);
    parse_ok(body, "/index", &p);
    free(body);
    json_t *second = round_trip(&p, false);
    parsed_free(&p);
    assert_true(json_equal(docs, json_object_get(json_object_get(second, "data"), "docs")));
    json_decref(first);
    json_decref(second);
}

/* The response's text as jansson would write it (compact, UTF-8 as it is, its escapes),
 * each real with the fewest digits that read back exactly. */
static void test_response_text(void **state)
{
    (void)state;
    parsed p;
    parse_ok("{\"data\": [{\"text\": \"q\\\"b\\\\s\\n\\t\\u0001\\u001f/h\u00c3\u00a9\","
             " \"tags\": {\"a\": 0.1, \"b\": 1e20, \"c\": 1e-7, \"d\": -0.0, \"e\": 2.5,"
             " \"f\": 0.3333333333333333, \"g\": -9223372036854775808, \"h\": 3.0,"
             " \"i\": 1.2345678901234568e17, \"j\": 5e-324}}]}",
             "/index", &p);
    fh_envelope_add_route(p.env, "gateway", 1624428277000000LL, 1624428277500000LL);
    char *text = NULL;
    size_t len = 0;
    fh_rest_error err;
    assert_int_equal(fh_rest_write_response(p.env, &p.req.docs, 1 << 20, &text, &len, &err), 0);
    assert_int_equal(strlen(text), len);
    const char *want[] = {
        "\"text\":\"q\\\"b\\\\s\\n\\t\\u0001\\u001F/h\u00c3\u00a9\"",
        "\"tags\":{\"a\":0.1,\"b\":1e20,\"c\":1e-7,\"d\":-0.0,\"e\":2.5,"
        "\"f\":0.3333333333333333,\"g\":-9223372036854775808,\"h\":3.0,"
        "\"i\":1.2345678901234568e17,\"j\":4.94065645841247e-324}",
        "\"weight\":0.0,", "\"embedding\":null,", "\"routes\":[{\"pod\":\"gateway\","};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (strstr(text, want[i]) == NULL)
            fail_msg("[%s] not in %s", want[i], text);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    json_t *tags = json_object_get(json_array_get(json_object_get(json_object_get(j, "data"),
                                                                  "docs"), 0), "tags");
    assert_true(json_real_value(json_object_get(tags, "f")) == 1.0 / 3.0);
    assert_true(json_real_value(json_object_get(tags, "j")) == 5e-324);
    json_decref(j);
    free(text);
    parsed_free(&p);
}

static void test_response_error(void **state)
{
    (void)state;
    parsed p;
    parse_ok("{\"data\": [\"x\"]}", "/index", &p);
    json_t *j = round_trip(&p, true);
    json_t *status = json_object_get(j, "status");
    assert_int_equal(json_integer_value(json_object_get(status, "code")), 3);
    assert_string_equal(json_string_value(json_object_get(status, "description")),
                        "division by zero");
    json_t *ex = json_object_get(status, "exception");
    assert_string_equal(json_string_value(json_object_get(ex, "executor")), "enc");
    assert_string_equal(json_string_value(json_array_get(json_object_get(ex, "args"), 0)),
                        "division by zero");
    json_t *routes = json_object_get(j, "routes");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(routes, 0), "status"), "code")),
                     0);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(routes, 1), "status"), "code")),
                     3);
    json_decref(j);
    parsed_free(&p);
    /* an executor's message need not be UTF-8: the answer stays JSON */
    parse_ok("{\"data\": [\"x\"]}", "/index", &p);
    fh_envelope_add_route(p.env, "enc\xff", 1624428277100000LL, 1624428277200000LL);
    fh_envelope_set_error(p.env, "enc\xff", "bad \xc3( byte \xed\xa0\x80");
    char *text = NULL;
    fh_rest_error err;
    assert_int_equal(fh_rest_write_response(p.env, &p.req.docs, 1 << 20, &text, NULL, &err), 0);
    json_error_t je;
    j = json_loads(text, 0, &je);
    if (j == NULL)
        fail_msg("not JSON (%s): %s", je.text, text);
    status = json_object_get(j, "status");
    assert_string_equal(json_string_value(json_object_get(status, "description")),
                        "bad \xef\xbf\xbd( byte \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    routes = json_object_get(j, "routes");
    assert_string_equal(json_string_value(json_object_get(json_array_get(routes, 0), "podId")),
                        "enc\xef\xbf\xbd/0");
    json_decref(j);
    free(text);
    parsed_free(&p);
}

static void test_response_frame_and_limits(void **state)
{
    (void)state;
    parsed p;
    parse_ok("{\"data\": [\"0123456789\", \"abcdefghij\"], \"request_id\": \"f\"}", "/index", &p);
    char *text = NULL;
    fh_rest_error err;
    assert_int_equal(fh_rest_write_response_frame(zmq_msg_data(&p.req.envelope),
                                                  zmq_msg_size(&p.req.envelope), &p.req.docs,
                                                  1 << 20, &text, NULL, &err),
                     0);
    assert_non_null(strstr(text, "\"requestId\":\"f\""));
    free(text);
    /* over the response's byte limit */
    assert_int_equal(fh_rest_write_response(p.env, &p.req.docs, 64, &text, NULL, &err),
                     FH_E_RANGE);
    assert_null(text);
    assert_int_equal(err.http_status, 500);
    /* an envelope frame that does not decode */
    assert_true(fh_rest_write_response_frame("\xff\xff\xff", 3, NULL, 1 << 20, &text, NULL,
                                             &err) < 0);
    assert_null(text);
    /* no documents at all */
    assert_int_equal(fh_rest_write_response(p.env, NULL, 1 << 20, &text, NULL, &err), 0);
    assert_non_null(strstr(text, "\"docs\":[]"));
    free(text);
    parsed_free(&p);
}

/* jansson quotes the text near a syntax error as it is: a raw newline, or a UTF-8
 * sequence cut short, must not reach the message (one line, valid UTF-8 for the JSON of
 * the error). */
static void test_error_message_clean(void **state)
{
    (void)state;
    const char *bodies[] = {"{\"data\": [\"h\\\n00e9\"]}", "{\"data\": [\"a\tb\"]}",
                            "{\"data\": [\"\xc3\"]}", "{\"data\": [x\xe2\x82]}",
                            "{\"data\": [\"\xf0\x9f\x90\"]}", NULL};
    /* a long name in a message, cut to fit it, maybe inside a character */
    char long_key[1200];
    size_t o = (size_t)sprintf(long_key, "{\"data\": [{\"tensor\": {\"dtype\": \"f\", \"xx");
    for (int k = 0; k < 500; k++)
        o += (size_t)sprintf(long_key + o, "\xc3\xa9");
    sprintf(long_key + o, "\": 1}}]}");
    bodies[sizeof bodies / sizeof bodies[0] - 1] = long_key;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        parsed p;
        fh_rest_error err;
        assert_int_not_equal(parse_ep(bodies[i], "/index", 1 << 20, &p, &err), 0);
        assert_int_equal(err.http_status, 400);
        for (const char *c = err.message; *c; c++)
            if ((unsigned char)*c < 0x20)
                fail_msg("control character 0x%02x in '%s'", *c, err.message);
        char *text = fh_rest_error_json(&err);
        if (text == NULL)
            fail_msg("no JSON for the error '%s'", err.message);
        free(text);
    }
}

static void test_error_json(void **state)
{
    (void)state;
    parsed p;
    fh_rest_error err;
    assert_int_not_equal(parse_ep("{\"data\": 5}", "/index", 1 << 20, &p, &err), 0);
    char *text = fh_rest_error_json(&err);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "'data'"));
    assert_int_equal(json_integer_value(json_object_get(j, "line")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "column")), 10);
    json_decref(j);
    free(text);
}

/* ---- paths, OpenAPI, the page ------------------------------------------------------- */

static fh_flow_config *flow_with_bindings(void)
{
    const char *yaml = "jtype: Flow\nversion: '1'\nexecutors:\n"
                       "  - name: enc\n    uses_requests:\n      /encode: foo\n"
                       "      default: bar\n      /index: baz\n";
    fh_flow_config *cfg = NULL;
    if (fh_flow_config_parse(yaml, strlen(yaml), "t.yml", "/tmp", &cfg) != 0)
        fail_msg("flow: %s", fh_last_error());
    return cfg;
}

static void test_match(void **state)
{
    (void)state;
    fh_flow_config *cfg = flow_with_bindings();
    const char *extra[] = {"/plugin-bound", "/docs", "/encode"};
    fh_rest_endpoints e;
    assert_int_equal(fh_rest_endpoints_init(&e, cfg, extra, 3), 0);
    const char *want[] = {"/index", "/search", "/update", "/delete", "/encode", "/plugin-bound"};
    assert_int_equal(e.n, 6);
    for (size_t i = 0; i < e.n; i++)
        assert_string_equal(e.paths[i], want[i]);
    const char *ep = NULL, *allow = NULL;
    assert_int_equal(fh_rest_match(&e, "POST", "/post", &ep, &allow), FH_REST_POST);
    assert_int_equal(fh_rest_match(&e, "POST", "/index", &ep, &allow), FH_REST_ENDPOINT);
    assert_string_equal(ep, "/index");
    assert_int_equal(fh_rest_match(&e, "PUT", "/update", &ep, &allow), FH_REST_ENDPOINT);
    assert_int_equal(fh_rest_match(&e, "POST", "/update", &ep, &allow), FH_REST_ENDPOINT);
    assert_int_equal(fh_rest_match(&e, "DELETE", "/delete", &ep, &allow), FH_REST_ENDPOINT);
    assert_int_equal(fh_rest_match(&e, "POST", "/encode", &ep, &allow), FH_REST_ENDPOINT);
    assert_string_equal(ep, "/encode");
    assert_int_equal(fh_rest_match(&e, "GET", "/index", &ep, &allow), FH_REST_BAD_METHOD);
    assert_string_equal(allow, "POST");
    assert_int_equal(fh_rest_match(&e, "GET", "/delete", &ep, &allow), FH_REST_BAD_METHOD);
    assert_string_equal(allow, "POST, DELETE");
    assert_int_equal(fh_rest_match(&e, "GET", "/post", &ep, &allow), FH_REST_BAD_METHOD);
    assert_int_equal(fh_rest_match(&e, "GET", "/openapi.json", &ep, &allow), FH_REST_OPENAPI);
    assert_int_equal(fh_rest_match(&e, "HEAD", "/docs", &ep, &allow), FH_REST_DOCS);
    assert_int_equal(fh_rest_match(&e, "POST", "/docs", &ep, &allow), FH_REST_BAD_METHOD);
    assert_string_equal(allow, "GET, HEAD");
    assert_int_equal(fh_rest_match(&e, "GET", "/health/ready", &ep, &allow), FH_REST_NOT_REST);
    assert_int_equal(fh_rest_match(&e, "POST", "/unknown", &ep, &allow), FH_REST_NOT_REST);
    assert_int_equal(fh_rest_match(&e, "POST", "nopath", &ep, &allow), FH_REST_NOT_REST);
    fh_rest_endpoints_clear(&e);
    fh_flow_config_destroy(&cfg);
}

/* Every {"$ref": "#/components/schemas/NAME"} under J names a schema of SCHEMAS. */
static void check_refs(const json_t *j, const json_t *schemas, size_t *n)
{
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach ((json_t *)j, key, v) {
            if (strcmp(key, "$ref") == 0) {
                const char *r = json_string_value(v);
                assert_non_null(r);
                assert_int_equal(strncmp(r, "#/components/schemas/", 21), 0);
                if (json_object_get(schemas, r + 21) == NULL)
                    fail_msg("dangling $ref %s", r);
                (*n)++;
            } else {
                check_refs(v, schemas, n);
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach ((json_t *)j, i, v)
            check_refs(v, schemas, n);
    }
}

static void test_openapi(void **state)
{
    (void)state;
    fh_flow_config *cfg = flow_with_bindings();
    const char *extra[] = {"/plugin-bound"};
    fh_rest_endpoints e;
    assert_int_equal(fh_rest_endpoints_init(&e, cfg, extra, 1), 0);
    char *text = fh_rest_openapi(&e, "my flow");
    assert_non_null(text);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL)
        fail_msg("not JSON: %s", je.text);
    assert_int_equal(strncmp(json_string_value(json_object_get(j, "openapi")), "3.", 2), 0);
    json_t *info = json_object_get(j, "info");
    assert_string_equal(json_string_value(json_object_get(info, "title")), "my flow");
    assert_non_null(json_string_value(json_object_get(info, "version")));
    json_t *paths = json_object_get(j, "paths");
    const char *want[][2] = {{"/post", "post"},     {"/index", "post"},   {"/search", "post"},
                             {"/update", "put"},    {"/update", "post"},  {"/delete", "delete"},
                             {"/encode", "post"},   {"/plugin-bound", "post"},
                             {"/openapi.json", "get"}, {"/docs", "get"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *op = json_object_get(json_object_get(paths, want[i][0]), want[i][1]);
        if (op == NULL)
            fail_msg("no %s %s", want[i][1], want[i][0]);
        assert_non_null(json_object_get(json_object_get(op, "responses"), "200"));
    }
    assert_int_equal(json_object_size(paths), 9);
    json_t *post_body = json_object_get(json_object_get(json_object_get(paths, "/post"), "post"),
                                        "requestBody");
    assert_true(json_is_true(json_object_get(post_body, "required")));
    json_t *schemas = json_object_get(json_object_get(j, "components"), "schemas");
    const char *names[] = {"Document", "NdArray", "Request", "PostRequest", "Response",
                           "Route",    "Status",  "Error"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_non_null(json_object_get(schemas, names[i]));
    json_t *doc_props = json_object_get(json_object_get(schemas, "Document"), "properties");
    assert_non_null(json_object_get(doc_props, "parentId"));
    assert_non_null(json_object_get(doc_props, "chunks"));
    size_t refs = 0;
    check_refs(j, schemas, &refs);
    assert_true(refs > 20);
    json_decref(j);
    free(text);
    fh_rest_endpoints_clear(&e);
    fh_flow_config_destroy(&cfg);
}

static void test_docs_page(void **state)
{
    (void)state;
    const char *extra[] = {"/a<b>&\"c"};
    fh_rest_endpoints e;
    assert_int_equal(fh_rest_endpoints_init(&e, NULL, extra, 1), 0);
    char *html = fh_rest_docs_html(&e, "t<i>tle");
    assert_non_null(html);
    assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
    const char *paths[] = {"/post", "/index", "/search", "/update", "/delete", "/openapi.json",
                           "/docs", "/a&lt;b&gt;&amp;&quot;c"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (strstr(html, paths[i]) == NULL)
            fail_msg("no %s in the page", paths[i]);
    assert_non_null(strstr(html, "t&lt;i&gt;tle"));
    assert_null(strstr(html, "<i>"));
    assert_non_null(strstr(html, "id=\"Document\""));
    /* self-contained: no script, nothing fetched from elsewhere */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "<link"));
    free(html);
    fh_rest_endpoints_clear(&e);
}

int main(int argc, char **argv)
{
    /* peak RSS is per process: the second memory test runs alone, from a child */
    if (argc > 1 && strcmp(argv[1], "memory-strings") == 0) {
        const struct CMUnitTest alone[] = {cmocka_unit_test(test_request_memory_strings)};
        return cmocka_run_group_tests(alone, NULL, NULL);
    }
    int child = 1;
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], "memory-strings", (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
        child = WEXITSTATUS(status);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_basic),
        cmocka_unit_test(test_request_post),
        cmocka_unit_test(test_request_empty),
        cmocka_unit_test(test_request_broken_json),
        cmocka_unit_test(test_request_wrong_types),
        cmocka_unit_test(test_request_unicode),
        cmocka_unit_test(test_request_numbers),
        cmocka_unit_test(test_request_jina_documents),
        cmocka_unit_test(test_request_limits),
        cmocka_unit_test(test_request_memory_tags),
        cmocka_unit_test(test_response_shape),
        cmocka_unit_test(test_response_reposts),
        cmocka_unit_test(test_response_text),
        cmocka_unit_test(test_response_error),
        cmocka_unit_test(test_response_frame_and_limits),
        cmocka_unit_test(test_error_message_clean),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_openapi),
        cmocka_unit_test(test_docs_page),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc != 0 ? rc : child != 0;
}

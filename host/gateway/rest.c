/* A REST request body (Jina 2's request model) into an envelope frame and the
 * documents' frames; where a value sits in a body, for the messages. */
#include "rest_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "codec.h"
#include "json_internal.h"
#include "pb.h"
#include "util.h"

/* Length of the valid UTF-8 sequence at S (N bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                          : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range: no overlong form,
                                           no surrogate, nothing past U+10FFFF */
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    for (size_t i = 1; i < len; i++)
        if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xBF))
            return 0;
    return len;
}

/* Makes S one line of valid UTF-8, in place: what jansson quotes near a syntax error is
 * the raw input (a newline, a tab), and a message cut to fit its buffer may end inside a
 * character; either would break the error's JSON or its one line. Control characters
 * become spaces, bytes of no valid character '?'. */
static void clean_message(char *s)
{
    unsigned char *in = (unsigned char *)s, *out = in;
    size_t n = strlen(s);
    while (n > 0) {
        size_t len = utf8_len(in, n);
        if (len == 0) {
            *out++ = '?';
            in++;
            n--;
            continue;
        }
        if (len == 1 && (*in < 0x20 || *in == 0x7F)) {
            *out++ = ' ';
        } else {
            memmove(out, in, len);
            out += len;
        }
        in += len;
        n -= len;
    }
    *out = '\0';
}

int fh_rest_fail(fh_rest_error *err, int code, int status, int line, int column,
                 const char *fmt, ...)
{
    if (err == NULL)
        return code;
    char text[sizeof err->message - 48]; /* room for the position in front */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    err->http_status = status;
    err->line = line;
    err->column = column;
    if (line > 0)
        snprintf(err->message, sizeof err->message, "line %d, column %d: %s", line, column,
                 text);
    else
        snprintf(err->message, sizeof err->message, "%s", text);
    clean_message(err->message);
    return code;
}

char *fh_rest_error_json(const fh_rest_error *err)
{
    json_t *o = json_pack("{s:s}", "detail", err ? err->message : "");
    if (o && err && err->line > 0) {
        json_object_set_new(o, "line", json_integer(err->line));
        json_object_set_new(o, "column", json_integer(err->column));
    }
    char *text = o ? fh_jansson_dumps(o) : NULL;
    json_decref(o);
    return text;
}

/* ---- positions ---------------------------------------------------------------------- */

static size_t skip_ws(const char *t, size_t len, size_t i)
{
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n'))
        i++;
    return i;
}

/* I at an opening quote: the index after the closing one. */
static size_t skip_string(const char *t, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return len;
}

/* I at the start of a value: the index just after it. Containers are skipped by
 * counting brackets (strings skipped whole), so that no input can recurse. */
static size_t skip_value(const char *t, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (t[i] == '"')
        return skip_string(t, len, i);
    if (t[i] != '{' && t[i] != '[') {
        while (i < len && t[i] != ',' && t[i] != ']' && t[i] != '}' && t[i] != ' ' &&
               t[i] != '\t' && t[i] != '\r' && t[i] != '\n')
            i++;
        return i;
    }
    size_t depth = 0;
    while (i < len) {
        char c = t[i];
        if (c == '"') {
            i = skip_string(t, len, i);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return len;
}

/* I at the value of an object: the index of the value of KEY in it, or LEN. */
static size_t find_key(const char *t, size_t len, size_t i, const char *key)
{
    if (i >= len || t[i] != '{')
        return len;
    size_t klen = strlen(key);
    i++;
    for (;;) {
        i = skip_ws(t, len, i);
        if (i >= len || t[i] != '"')
            return len;
        size_t kstart = i + 1, kend = skip_string(t, len, i);
        bool match = kend - 1 - kstart == klen && memcmp(t + kstart, key, klen) == 0;
        i = skip_ws(t, len, kend);
        if (i >= len || t[i] != ':')
            return len;
        i = skip_ws(t, len, i + 1);
        if (match)
            return i;
        i = skip_ws(t, len, skip_value(t, len, i));
        if (i >= len || t[i] != ',')
            return len;
        i++;
    }
}

/* I at the value of an array: the index of its element INDEX, or LEN. */
static size_t find_index(const char *t, size_t len, size_t i, size_t index)
{
    if (i >= len || t[i] != '[')
        return len;
    i = skip_ws(t, len, i + 1);
    for (size_t k = 0; k < index; k++) {
        i = skip_ws(t, len, skip_value(t, len, i));
        if (i >= len || t[i] != ',')
            return len;
        i = skip_ws(t, len, i + 1);
    }
    return i < len && t[i] != ']' ? i : len;
}

int fh_rest_locate(const char *text, size_t len, const fh_rest_step *steps, size_t n,
                   int *line, int *column)
{
    if (text == NULL)
        return -1;
    size_t i = skip_ws(text, len, 0);
    for (size_t s = 0; s < n && i < len; s++)
        i = steps[s].key ? find_key(text, len, i, steps[s].key)
                         : find_index(text, len, i, steps[s].index);
    if (i >= len)
        return -1;
    int l = 1, c = 1;
    for (size_t k = 0; k < i; k++) {
        if (text[k] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)text[k] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *column = c;
    return 0;
}

/* ---- the request -------------------------------------------------------------------- */

/* Parsing one body: the text, for positions, and where failures go. */
typedef struct req_ctx {
    const char *text;
    size_t len;
    size_t max;
    fh_rest_error *err;
} req_ctx;


/* A 400 about the value at STEPS, with its position when found. */
static int fail_at(req_ctx *c, int code, const fh_rest_step *steps, size_t n, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static int fail_at(req_ctx *c, int code, const fh_rest_step *steps, size_t n, const char *fmt,
                   ...)
{
    char text[sizeof c->err->message - 48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    int line = 0, column = 0;
    if (fh_rest_locate(c->text, c->len, steps, n, &line, &column) != 0)
        line = column = 0;
    int status = code == FH_E_NOMEM ? 500 : code == FH_E_RANGE ? 413 : 400;
    return fh_rest_fail(c->err, code, status, line, column, "%s", text);
}

/* The keys of the request model, Jina's snake_case and camelCase spellings, and
 * flowhost's request_id. */
enum req_key { K_DATA, K_PARAMETERS, K_ENDPOINT, K_TARGET, K_REQUEST_ID, K_UNKNOWN };

static enum req_key key_of(const char *k)
{
    static const struct {
        const char *name;
        enum req_key key;
    } keys[] = {
        {"data", K_DATA},
        {"parameters", K_PARAMETERS},
        {"exec_endpoint", K_ENDPOINT},
        {"execEndpoint", K_ENDPOINT},
        {"target_peapod", K_TARGET},
        {"targetPeapod", K_TARGET},
        {"target_executor", K_TARGET}, /* Jina 3's name */
        {"targetExecutor", K_TARGET},
        {"request_id", K_REQUEST_ID},
        {"requestId", K_REQUEST_ID},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(k, keys[i].name) == 0)
            return keys[i].key;
    return K_UNKNOWN;
}

/* What jansson's tree of TEXT costs, in units of about one small node (~40 bytes),
 * counted from its structure without parsing it: every value but the first follows a
 * ',' , ':' , '[' or '{' (counted at the ',', '[' and '{'), and every string, key or
 * value, takes one more for its copy. An upper bound, linear in LEN. */
static size_t count_values(const char *t, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (c == '"') {
            i = skip_string(t, len, i) - 1;
            n++;
        } else if (c == ',' || c == '[' || c == '{') {
            n++;
        }
    }
    return n;
}

/* A string field (exec_endpoint, request_id): non-empty, at most MAX bytes. */
static int string_field(req_ctx *c, const char *key, const json_t *v, size_t max,
                        const char **out)
{
    fh_rest_step at = {key, 0};
    if (!json_is_string(v))
        return fail_at(c, FH_E_TYPE, &at, 1, "'%s' must be a string, not %s", key,
                       fh_json_type_name(v));
    size_t n = json_string_length(v);
    if (n == 0 || n > max)
        return fail_at(c, FH_E_PARSE, &at, 1, "'%s' must hold 1 to %zu bytes, not %zu", key,
                       max, n);
    *out = json_string_value(v);
    return 0;
}

/* The least protobuf-c allocates for the value J decoded: a Flowhost__Value for each
 * value, a Flowhost__MapEntry for each key. fh_pb_measure counts at least this much, so
 * that refusing on it refuses nothing the flow would take, and does so before the SDK
 * builds the values. Recursion is bounded by jansson's parsing depth. */
static size_t value_cost(const json_t *j)
{
    size_t cost = sizeof(Flowhost__Value);
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach ((json_t *)j, key, v)
            cost += sizeof(Flowhost__MapEntry) + value_cost(v);
    } else if (json_is_array(j)) {
        json_array_foreach (j, i, v)
            cost += value_cost(v);
    }
    return cost;
}

/* The same for a document in the SDK's JSON: its struct, its tags, its chunks and
 * matches (their nesting is bounded by fh_rest_doc_from_jina). */
static size_t doc_cost(const json_t *j)
{
    size_t cost = sizeof(Flowhost__Document);
    const json_t *tags = json_object_get(j, "tags");
    if (json_is_object(tags))
        cost += value_cost(tags);
    const char *lists[] = {"chunks", "matches"};
    for (size_t k = 0; k < 2; k++) {
        size_t i;
        json_t *child;
        json_array_foreach (json_object_get(j, lists[k]), i, child)
            cost += doc_cost(child);
    }
    return cost;
}

/* Checks data[I] and what it adds to *COST, the least the documents take decoded, and
 * turns a document object from Jina 2's forms into the SDK's (fh_rest_doc_from_jina). */
static int data_check(req_ctx *c, json_t *item, size_t i, size_t *cost)
{
    fh_rest_step at[2] = {{"data", 0}, {NULL, i}};
    size_t max = FH_DECODE_DOCS_FACTOR * c->max;
    if (json_is_string(item)) {
        *cost += sizeof(Flowhost__Document) + json_string_length(item);
    } else if (json_is_array(item)) {
        return fail_at(c, FH_E_TYPE, at, 2,
                       "data[%zu] is an array: pairs of (document, groundtruth) are not "
                       "supported; give a document object or a string",
                       i);
    } else if (!json_is_object(item)) {
        return fail_at(c, FH_E_TYPE, at, 2,
                       "data[%zu] must be a document object or a string, not %s", i,
                       fh_json_type_name(item));
    } else {
        char why[400];
        int rc = fh_rest_doc_from_jina(item, why, sizeof why);
        if (rc != 0)
            return fail_at(c, rc, at, 2, "data[%zu]: %s", i, why);
        *cost += doc_cost(item);
    }
    if (*cost > max)
        return fail_at(c, FH_E_RANGE, at, 2,
                       "data[%zu]: the documents take more than %zu bytes decoded (%d x the "
                       "flow's max_message_size)",
                       i, max, FH_DECODE_DOCS_FACTOR);
    return 0;
}

/* data[I], checked, into a new document in *OUT. */
static int data_item(req_ctx *c, json_t *item, size_t i, fh_doc **out)
{
    if (json_is_string(item)) { /* Jina 2 makes a document of a string's content */
        fh_doc *d = fh_doc_new();
        if (d == NULL || fh_doc_set_text(d, json_string_value(item)) != 0) {
            fh_doc_destroy(&d);
            return fail_at(c, FH_E_NOMEM, NULL, 0, "out of memory reading data[%zu]", i);
        }
        *out = d;
        return 0;
    }
    fh_rest_step at[2] = {{"data", 0}, {NULL, i}};
    int rc = fh_doc_from_jansson(item, out);
    if (rc != 0)
        return fail_at(c, rc, at, 2, "data[%zu]: %s", i, fh_last_error());
    return 0;
}

/* DATA (an array) into a new document array in *OUT. Every item is checked, and what
 * the documents take decoded, before the first is built; each item is dropped from the
 * tree once converted, so that the tree and the documents are not both held whole. */
static int read_data(req_ctx *c, json_t *data, fh_docs **out)
{
    size_t cost = 0;
    for (size_t i = 0; i < json_array_size(data); i++) {
        int rc = data_check(c, json_array_get(data, i), i, &cost);
        if (rc != 0)
            return rc;
    }
    fh_docs *docs = fh_docs_new();
    if (docs == NULL)
        return fail_at(c, FH_E_NOMEM, NULL, 0, "out of memory");
    for (size_t i = 0; i < json_array_size(data); i++) {
        fh_doc *d = NULL;
        int rc = data_item(c, json_array_get(data, i), i, &d);
        if (rc == 0 && fh_docs_append(docs, d) != 0)
            rc = fail_at(c, FH_E_NOMEM, NULL, 0, "out of memory");
        if (rc != 0) {
            fh_docs_destroy(&docs);
            return rc;
        }
        json_array_set_new(data, i, json_null());
    }
    *out = docs;
    return 0;
}

/* The parts of a request body, borrowed from its tree. */
typedef struct req_fields {
    json_t *data, *parameters;
    const char *endpoint, *request_id;
} req_fields;

static int read_fields(req_ctx *c, json_t *root, const char *url_endpoint, req_fields *f)
{
    const char *key, *seen[K_UNKNOWN] = {NULL};
    json_t *v;
    json_object_foreach (root, key, v) {
        fh_rest_step at = {key, 0};
        enum req_key k = key_of(key);
        if (k != K_UNKNOWN && seen[k] != NULL) /* exec_endpoint and execEndpoint */
            return fail_at(c, FH_E_PARSE, &at, 1, "'%s' and '%s' are the same key", seen[k],
                           key);
        if (k != K_UNKNOWN)
            seen[k] = key;
        switch (k) {
        case K_DATA:
            if (!json_is_array(v) && !json_is_null(v))
                return fail_at(c, FH_E_TYPE, &at, 1,
                               "'data' must be an array of documents, not %s", fh_json_type_name(v));
            f->data = v;
            break;
        case K_PARAMETERS:
            if (!json_is_object(v) && !json_is_null(v))
                return fail_at(c, FH_E_TYPE, &at, 1, "'parameters' must be an object, not %s",
                               fh_json_type_name(v));
            f->parameters = v;
            break;
        case K_ENDPOINT: {
            const char *e;
            int rc = string_field(c, key, v, FH_REST_MAX_ENDPOINT, &e);
            if (rc != 0)
                return rc;
            if (url_endpoint && strcmp(e, url_endpoint) != 0)
                return fail_at(c, FH_E_PARSE, &at, 1,
                               "'%s' is '%s' but the path says '%s'; post to /post to name "
                               "the endpoint in the body",
                               key, e, url_endpoint);
            f->endpoint = e;
            break;
        }
        case K_TARGET:
            if (!json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
                return fail_at(c, FH_E_PARSE, &at, 1,
                               "'%s' is not supported: every executor of the flow sees the "
                               "request (bind the endpoint only where it should run)",
                               key);
            break;
        case K_REQUEST_ID: {
            int rc = string_field(c, key, v, FH_REST_MAX_ID, &f->request_id);
            if (rc != 0)
                return rc;
            break;
        }
        case K_UNKNOWN:
            return fail_at(c, FH_E_PARSE, &at, 1,
                           "unknown key '%s' in the request (keys: data, parameters, "
                           "exec_endpoint, request_id)",
                           key);
        }
    }
    if (url_endpoint)
        f->endpoint = url_endpoint;
    if (f->endpoint == NULL)
        return fail_at(c, FH_E_PARSE, NULL, 0,
                       "no endpoint: POST /post needs \"exec_endpoint\" (\"/index\", ...)");
    return 0;
}

/* Packs the envelope of F into OUT's frame and checks its decoded size. */
static int pack_envelope(req_ctx *c, const req_fields *f, bool no_wait, fh_rest_request *out)
{
    fh_rest_step params_at = {"parameters", 0};
    if (f->parameters && value_cost(f->parameters) > c->max)
        return fail_at(c, FH_E_RANGE, &params_at, 1,
                       "'parameters' take more than %zu bytes decoded (the flow's "
                       "max_message_size)",
                       c->max);
    fh_value *params = NULL;
    int rc = f->parameters && json_is_object(f->parameters)
                 ? fh_value_from_jansson(f->parameters, &params)
                 : ((params = fh_value_new_map()) ? 0 : FH_E_NOMEM);
    if (rc != 0) {
        fh_rest_step at = {"parameters", 0};
        return fail_at(c, rc, &at, 1, "'parameters': %s",
                       rc == FH_E_NOMEM && !params ? "out of memory" : fh_last_error());
    }
    if (f->request_id)
        snprintf(out->request_id, sizeof out->request_id, "%s", f->request_id);
    else
        fh_random_hex(out->request_id, 32);
    Flowhost__Envelope env = FLOWHOST__ENVELOPE__INIT;
    env.request_id = out->request_id;
    env.endpoint = (char *)f->endpoint;
    env.parameters = FH_PB_VALUE(params);
    env.no_wait = no_wait;
    rc = fh_pb_pack_msg(&env.base, &out->envelope);
    fh_value_destroy(&params);
    if (rc != 0)
        return fail_at(c, FH_E_NOMEM, NULL, 0, "out of memory packing the request");
    size_t decoded = 0;
    rc = fh_pb_measure(&flowhost__envelope__descriptor, zmq_msg_data(&out->envelope),
                       zmq_msg_size(&out->envelope), c->max, &decoded);
    if (rc != 0) {
        zmq_msg_close(&out->envelope);
        zmq_msg_init(&out->envelope);
        /* the request id and endpoint are bounded: only the parameters can be at fault,
           or a string holding a NUL, which jansson refuses before */
        fh_rest_step at = {"parameters", 0};
        return fail_at(c, FH_E_RANGE, &at, 1,
                       "'parameters' take more than %zu bytes decoded (the flow's "
                       "max_message_size)",
                       c->max);
    }
    return 0;
}

/* Packs DOCS into OUT's frames (their large buffers taken) and checks their decoded
 * size, as a worker will count it. */
static int pack_docs(req_ctx *c, fh_docs *docs, fh_rest_request *out)
{
    out->n_docs = fh_docs_len(docs);
    if (fh_docs_pack_wire(docs, 1, &out->docs) != 0)
        return fail_at(c, FH_E_NOMEM, NULL, 0, "out of memory packing the documents");
    size_t max = FH_DECODE_DOCS_FACTOR * c->max, blobs = 0;
    for (size_t i = 0; i < out->docs.n_blobs; i++)
        blobs += zmq_msg_size(&out->docs.blobs[i]);
    int rc = blobs > max ? FH_E_RANGE
                         : fh_pb_measure(&flowhost__document_array__descriptor,
                                         zmq_msg_data(&out->docs.docs),
                                         zmq_msg_size(&out->docs.docs), max - blobs, NULL);
    if (rc != 0) {
        fh_wire_docs_close(&out->docs);
        fh_rest_step at = {"data", 0};
        return fail_at(c, FH_E_RANGE, &at, 1,
                       "the documents take more than %zu bytes decoded (%d x the flow's "
                       "max_message_size)",
                       max, FH_DECODE_DOCS_FACTOR);
    }
    return 0;
}

static void request_empty(fh_rest_request *r)
{
    memset(r, 0, sizeof *r);
    zmq_msg_init(&r->envelope);
    fh_wire_docs_init(&r->docs);
}

void fh_rest_request_close(fh_rest_request *r)
{
    if (r == NULL)
        return;
    zmq_msg_close(&r->envelope);
    fh_wire_docs_close(&r->docs);
    request_empty(r);
}

/* A body may hold at most one unit of count_values per this many bytes of the limit:
 * jansson takes about 40 bytes a unit (measured: test_request_memory_tags and _strings),
 * so that its tree stays within about 10 x max_bytes whatever the body holds. */
#define REST_BYTES_PER_VALUE 4

int fh_rest_parse_request(const char *body, size_t len, const fh_rest_parse_options *o,
                          fh_rest_request *out, fh_rest_error *err)
{
    fh_rest_error scratch;
    if (err == NULL)
        err = &scratch;
    memset(err, 0, sizeof *err);
    if (out == NULL || o == NULL || (body == NULL && len > 0))
        return fh_rest_fail(err, FH_E_INVAL, 500, 0, 0, "fh_rest_parse_request: NULL argument");
    request_empty(out);
    req_ctx c = {.text = body, .len = len, .max = o->max_bytes ? o->max_bytes : FH_DECODE_DEFAULT_MAX,
                 .err = err};
    if (len > c.max)
        return fh_rest_fail(err, FH_E_RANGE, 413, 0, 0,
                            "the body has %zu bytes, more than the %zu the flow takes "
                            "(max_message_size)",
                            len, c.max);
    size_t values = count_values(body, len);
    if (values > c.max / REST_BYTES_PER_VALUE + 1)
        return fh_rest_fail(err, FH_E_RANGE, 413, 0, 0,
                            "the body holds %zu JSON values and strings, more than the %zu a "
                            "body may (one per %d bytes of max_message_size)",
                            values, c.max / REST_BYTES_PER_VALUE + 1, REST_BYTES_PER_VALUE);
    size_t start = skip_ws(body, len, 0);
    json_error_t je;
    json_t *root = start == len ? json_object() /* an empty body asks nothing: {} */
                                : json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (root == NULL && start == len)
        return fh_rest_fail(err, FH_E_NOMEM, 500, 0, 0, "out of memory");
    if (root == NULL)
        return fh_rest_fail(err, FH_E_PARSE, 400, je.line > 0 ? je.line : 1,
                            je.column > 0 ? je.column : 1, "%s", je.text);
    int rc;
    req_fields f = {0};
    fh_docs *docs = NULL;
    if (!json_is_object(root)) {
        rc = fail_at(&c, FH_E_TYPE, NULL, 0, "the body must be a JSON object, not %s",
                     fh_json_type_name(root));
    } else if ((rc = read_fields(&c, root, o->endpoint, &f)) == 0 &&
               (rc = pack_envelope(&c, &f, o->no_wait, out)) == 0) {
        if (f.data && json_is_array(f.data))
            rc = read_data(&c, f.data, &docs);
        else if ((docs = fh_docs_new()) == NULL)
            rc = fail_at(&c, FH_E_NOMEM, NULL, 0, "out of memory");
        if (rc == 0) {
            json_decref(root); /* the documents are read: the tree is not needed */
            root = NULL;
            rc = pack_docs(&c, docs, out);
        }
    }
    json_decref(root);
    fh_docs_destroy(&docs);
    if (rc != 0)
        fh_rest_request_close(out);
    return rc;
}

/* A reply (envelope and documents) into the response body of Jina 2's REST gateway:
 * MessageToDict of its RequestProto, camelCase, defaults included. */
#include "rest_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "codec.h"
#include "json_internal.h"
#include "util.h"

/* ---- the response's text -----------------------------------------------------------
 *
 * The tree is written here rather than by json_dumps, which costs the gateway's one
 * thread more than everything else an HTTP request does: for every object and array it
 * prints the node's address and keeps it in a hash table (its loop check: a tree built
 * here has no loops), and the SDK's writer first walks the whole tree for the precision
 * its most demanding real needs. Here the text grows in one buffer, bounded by the
 * response's limit as it grows, and each real gets the fewest digits (15 to 17) that read
 * back exactly. The text is what json_dumps writes with JSON_COMPACT, keys in their
 * order, UTF-8 as it is (jansson's strings are valid UTF-8), '/' unescaped. */

/* Room for N more bytes (and a NUL); false (B->code set) when out of memory or over
 * B->max. */
static bool room(fh_rest_text *b, size_t n)
{
    if (b->code != 0)
        return false;
    if (b->len + n > b->max) {
        b->code = FH_E_RANGE;
        return false;
    }
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL) {
        b->code = FH_E_NOMEM;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void fh_rest_put(fh_rest_text *b, const char *s, size_t n)
{
    if (room(b, n)) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
    }
}

static void put_char(fh_rest_text *b, char c)
{
    if (room(b, 1))
        b->data[b->len++] = c;
}

void fh_rest_put_string(fh_rest_text *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    put_char(b, '"');
    size_t run = 0; /* bytes to copy as they are, from s + i - run */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        fh_rest_put(b, s + i - run, run);
        run = 0;
        char esc[6] = {'\\', 0};
        size_t k = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            fh_rest_put(b, esc, 2);
            esc[0] = '0';
            esc[1] = '0';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            k = 4;
        }
        fh_rest_put(b, esc, k);
    }
    fh_rest_put(b, s + n - run, run);
    put_char(b, '"');
}

static void put_integer(fh_rest_text *b, json_int_t v)
{
    char digits[24];
    size_t k = sizeof digits;
    /* in unsigned arithmetic: the most negative value has no positive of its own */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        digits[--k] = '-';
    fh_rest_put(b, digits + k, sizeof digits - k);
}

/* D with the fewest significant digits (15 to 17) that read back as D, as jansson writes
 * a real (".0" after one that looks like an integer). */
static void put_real(fh_rest_text *b, double d)
{
    char text[40];
    int n = 0;
    if (d == 0.0 || (d > -1e15 && d < 1e15 && d == (double)(int64_t)d)) {
        /* an integral value: 15 digits hold it exactly */
        n = snprintf(text, sizeof text, "%.15g", d);
    } else {
        for (int p = 15; p <= 17; p++) {
            n = snprintf(text, sizeof text, "%.*g", p, d);
            if (p == 17 || strtod(text, NULL) == d)
                break;
        }
    }
    if (n < 0 || (size_t)n >= sizeof text - 2) {
        b->code = FH_E_RANGE;
        return;
    }
    char *e = strchr(text, 'e');
    if (e != NULL) {
        /* jansson's exponent: no '+', no leading zeros ("1e+07" is "1e7") */
        char *from = e + 1, *to = e + 1;
        if (*from == '-')
            *to++ = *from++;
        else if (*from == '+')
            from++;
        while (*from == '0' && from[1] != '\0')
            from++;
        memmove(to, from, strlen(from) + 1);
        n = (int)strlen(text);
    } else if (strchr(text, '.') == NULL) {
        text[n++] = '.';
        text[n++] = '0';
    }
    fh_rest_put(b, text, (size_t)n);
}

void fh_rest_put_json(fh_rest_text *b, const json_t *j, int depth)
{
    if (depth > 2 * FH_JSON_MAX_VALUE_DEPTH + 64) {
        b->code = FH_E_RANGE;
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        put_char(b, '{');
        /* Not json_object_foreach: it looks every key up again, twice, to step on. */
        json_t *o = (json_t *)j;
        for (void *it = json_object_iter(o); it != NULL && b->code == 0;
             it = json_object_iter_next(o, it)) {
            if (it != json_object_iter(o))
                put_char(b, ',');
            const char *key = json_object_iter_key(it);
            fh_rest_put_string(b, key, json_object_iter_key_len(it));
            put_char(b, ':');
            fh_rest_put_json(b, json_object_iter_value(it), depth + 1);
        }
        put_char(b, '}');
        return;
    }
    case JSON_ARRAY: {
        put_char(b, '[');
        for (size_t i = 0; i < json_array_size(j) && b->code == 0; i++) {
            if (i > 0)
                put_char(b, ',');
            fh_rest_put_json(b, json_array_get(j, i), depth + 1);
        }
        put_char(b, ']');
        return;
    }
    case JSON_STRING:
        fh_rest_put_string(b, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER:
        put_integer(b, json_integer_value(j));
        return;
    case JSON_REAL:
        put_real(b, json_real_value(j));
        return;
    case JSON_TRUE:
        FH_REST_PUT_LIT(b, "true");
        return;
    case JSON_FALSE:
        FH_REST_PUT_LIT(b, "false");
        return;
    case JSON_NULL:
        FH_REST_PUT_LIT(b, "null");
        return;
    }
}

/* Jina 2's StatusProto codes flowhost's two map to. */
#define JINA_STATUS_SUCCESS 0
#define JINA_STATUS_ERROR 3

/* The length of the valid UTF-8 sequence at S (N bytes left), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
             : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (k == 0 || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || /* overlong, surrogate */
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))   /* overlong, > U+10FFFF */
        return 0;
    return k;
}

/* Appends the C string S (NULL: "") as a JSON string. S comes from a worker (an error
 * message, an executor's name) and need not be UTF-8: a byte that is not part of a valid
 * sequence is written as U+FFFD, so that the text stays JSON. */
static void put_cstring(fh_rest_text *t, const char *s)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)u), i = 0, k;
    while (i < n && (k = utf8_len(u + i, n - i)) > 0)
        i += k;
    if (i == n) { /* all valid: as it is */
        fh_rest_put_string(t, (const char *)u, n);
        return;
    }
    char *fixed = malloc(3 * n + 1);
    if (fixed == NULL) {
        t->code = FH_E_NOMEM;
        return;
    }
    size_t o = 0;
    for (i = 0; i < n;) {
        if ((k = utf8_len(u + i, n - i)) > 0) {
            memcpy(fixed + o, u + i, k);
            o += k;
            i += k;
        } else {
            memcpy(fixed + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    fh_rest_put_string(t, fixed, o);
    free(fixed);
}

/* {"code", "description"} and, for an error, Jina's "exception" with the executor. */
static void put_status(fh_rest_text *t, const Flowhost__Status *s)
{
    if (s == NULL || s->code == FLOWHOST__STATUS__CODE__SUCCESS) {
        FH_REST_PUT_LIT(t, "{\"code\":0,\"description\":\"\"}");
        return;
    }
    FH_REST_PUT_LIT(t, "{\"code\":3,\"description\":");
    put_cstring(t, s->description);
    FH_REST_PUT_LIT(t, ",\"exception\":{\"name\":\"ExecutorError\",\"args\":[");
    put_cstring(t, s->description);
    FH_REST_PUT_LIT(t, "],\"stacks\":[],\"executor\":");
    put_cstring(t, s->executor);
    FH_REST_PUT_LIT(t, "}}");
}

/* Routes as Jina 2's RouteProto: pod, podId (NAME/REPLICA), start and end times as
 * RFC 3339, and a status: the error on the route of the executor that set it. Written
 * as text (a jansson tree and its pack formats cost more than the rest of the envelope). */
static void put_routes(fh_rest_text *t, const Flowhost__Envelope *env)
{
    const Flowhost__Status *st = env->status;
    bool failed = st && st->code != FLOWHOST__STATUS__CODE__SUCCESS;
    FH_REST_PUT_LIT(t, "[");
    for (size_t i = 0; i < env->n_routes && t->code == 0; i++) {
        const Flowhost__Route *r = env->routes[i];
        const char *pod = r->executor ? r->executor : "";
        char time[40], replica[16];
        if (i > 0)
            FH_REST_PUT_LIT(t, ",");
        FH_REST_PUT_LIT(t, "{\"pod\":");
        put_cstring(t, pod);
        /* podId: NAME/REPLICA, one JSON string */
        FH_REST_PUT_LIT(t, ",\"podId\":");
        size_t len = strlen(pod);
        int n = snprintf(replica, sizeof replica, "/%u", r->replica);
        char *id = malloc(len + (size_t)n + 1);
        if (id == NULL) {
            t->code = FH_E_NOMEM;
            return;
        }
        memcpy(id, pod, len);
        memcpy(id + len, replica, (size_t)n + 1);
        put_cstring(t, id);
        free(id);
        FH_REST_PUT_LIT(t, ",\"startTime\":");
        fh_format_time_us(r->start_time_us, time, sizeof time);
        put_cstring(t, time);
        FH_REST_PUT_LIT(t, ",\"endTime\":");
        fh_format_time_us(r->end_time_us, time, sizeof time);
        put_cstring(t, time);
        FH_REST_PUT_LIT(t, ",\"status\":");
        bool here = failed && st->executor && strcmp(st->executor, pod) == 0;
        put_status(t, here ? st : NULL);
        FH_REST_PUT_LIT(t, "}");
    }
    FH_REST_PUT_LIT(t, "]");
}

/* Appends the documents of DOCS (NULL: none), decoded within MAX bytes, as a JSON array.
 * Returns 0, or an FH_E_ code with fh_last_error() set. */
static int put_docs(fh_rest_text *t, const fh_wire_docs *docs, size_t max)
{
    fh_docs *decoded = NULL;
    fh_wire_docs none;
    fh_wire_docs_init(&none);
    int rc = fh_docs_decode_wire_max(docs ? docs : &none, max, &decoded);
    if (rc != 0)
        return rc;
    FH_REST_PUT_LIT(t, "[");
    for (size_t i = 0; rc == 0 && t->code == 0 && i < fh_docs_len(decoded); i++) {
        if (i > 0)
            FH_REST_PUT_LIT(t, ",");
        rc = fh_rest_put_doc(t, fh_docs_at(decoded, i));
    }
    FH_REST_PUT_LIT(t, "]");
    fh_docs_destroy(&decoded);
    return rc;
}

/* Appends the JSON text of J (taken: released here; NULL: out of memory, and T stops). */
static void put_taken(fh_rest_text *t, json_t *j, int depth)
{
    if (j == NULL) {
        if (t->code == 0)
            t->code = FH_E_NOMEM;
        return;
    }
    fh_rest_put_json(t, j, depth);
    json_decref(j);
}

int fh_rest_write_response(const Flowhost__Envelope *env, const fh_wire_docs *docs,
                           size_t max_bytes, char **out, size_t *out_len, fh_rest_error *err)
{
    fh_rest_error scratch;
    if (err == NULL)
        err = &scratch;
    memset(err, 0, sizeof *err);
    if (out == NULL || env == NULL)
        return fh_rest_fail(err, FH_E_INVAL, 500, 0, 0, "fh_rest_write_response: NULL argument");
    *out = NULL;
    size_t max = max_bytes ? max_bytes : FH_DECODE_DEFAULT_MAX;
    /* Jina 2's RequestProto, its fields in its order: the text is written as it goes, only
     * the small parts (parameters, routes, status) through a jansson tree. */
    fh_rest_text t = {.max = max};
    FH_REST_PUT_LIT(&t, "{\"requestId\":");
    put_cstring(&t, env->request_id); /* from a worker: not checked as UTF-8 by protobuf-c */
    FH_REST_PUT_LIT(&t, ",\"data\":{\"docs\":");
    int rc = put_docs(&t, docs, FH_DECODE_DOCS_FACTOR * max);
    if (rc != 0) {
        free(t.data);
        return fh_rest_fail(err, rc, 500, 0, 0, "cannot write the reply's documents: %s",
                            fh_last_error());
    }
    FH_REST_PUT_LIT(&t, ",\"groundtruths\":[]},\"header\":{\"execEndpoint\":");
    put_cstring(&t, env->endpoint);
    FH_REST_PUT_LIT(&t, ",\"targetPeapod\":\"\",\"noPropagate\":false},\"parameters\":");
    if (env->parameters && fh_value_type((const fh_value *)env->parameters) == FH_TYPE_MAP) {
        json_t *params = fh_value_to_jansson((const fh_value *)env->parameters);
        if (params == NULL) {
            free(t.data);
            return fh_rest_fail(err, FH_E_RANGE, 500, 0, 0,
                                "cannot write the reply's parameters: %s", fh_last_error());
        }
        put_taken(&t, params, 1);
    } else {
        FH_REST_PUT_LIT(&t, "{}");
    }
    FH_REST_PUT_LIT(&t, ",\"routes\":");
    put_routes(&t, env);
    FH_REST_PUT_LIT(&t, ",\"status\":");
    put_status(&t, env->status);
    FH_REST_PUT_LIT(&t, "}");
    if (t.code != 0) {
        free(t.data);
        if (t.code == FH_E_RANGE)
            return fh_rest_fail(err, FH_E_RANGE, 500, 0, 0,
                                "the response would take more than %zu bytes", max);
        return fh_rest_fail(err, FH_E_NOMEM, 500, 0, 0, "out of memory writing the response");
    }
    t.data[t.len] = '\0'; /* room() keeps a byte for it */
    *out = t.data;
    if (out_len)
        *out_len = t.len;
    return 0;
}

int fh_rest_write_response_frame(const void *env_buf, size_t env_len,
                                 const fh_wire_docs *docs, size_t max_bytes, char **out,
                                 size_t *out_len, fh_rest_error *err)
{
    fh_rest_error scratch;
    if (err == NULL)
        err = &scratch;
    memset(err, 0, sizeof *err);
    if (out == NULL)
        return fh_rest_fail(err, FH_E_INVAL, 500, 0, 0,
                            "fh_rest_write_response_frame: NULL argument");
    *out = NULL;
    Flowhost__Envelope *env = NULL;
    int rc = fh_envelope_decode_max(env_buf, env_len, max_bytes ? max_bytes : FH_DECODE_DEFAULT_MAX,
                                    &env, NULL);
    if (rc != 0)
        return fh_rest_fail(err, rc, 500, 0, 0, "%s", fh_last_error());
    rc = fh_rest_write_response(env, docs, max_bytes, out, out_len, err);
    flowhost__envelope__free_unpacked(env, NULL);
    return rc;
}

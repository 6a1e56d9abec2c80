/* Values and documents to and from JSON, with jansson doing all parsing and printing.
 * The mapping is documented in json.h; the jansson-level entry points are declared in
 * json_internal.h for the rest of the SDK. */
#define _GNU_SOURCE /* memmem */
#include "json_internal.h"
#include "pb.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>
#include <flowhost/json.h>

/* ---- base64 (RFC 4648, standard alphabet, padded) ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A new json string holding the base64 of DATA; NULL when out of memory. */
static json_t *b64_encode(const uint8_t *data, size_t len)
{
    size_t outlen = 4 * ((len + 2) / 3);
    char *out = malloc(outlen + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            n |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            n |= data[i + 2];
        out[o++] = b64_alphabet[(n >> 18) & 63];
        out[o++] = b64_alphabet[(n >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(n >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64_alphabet[n & 63] : '=';
    }
    json_t *s = json_stringn(out, o);
    free(out);
    return s;
}

static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes base64 S (padding optional) into a new malloc'd buffer (at least one byte,
 * so that it is never NULL). Returns 0, FH_E_PARSE for a bad character or length, or
 * FH_E_NOMEM. Leaves fh_last_error() alone: callers say which field was bad. */
static int b64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
    while (len && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return FH_E_PARSE;
    uint8_t *buf = malloc(len / 4 * 3 + 3);
    if (!buf)
        return FH_E_NOMEM;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int d = b64_digit((unsigned char)s[i]);
        if (d < 0) {
            free(buf);
            return FH_E_PARSE;
        }
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *outlen = o;
    return 0;
}

/* ---- printing ---- */

/* Fewest significant digits (15..17) that print D so that it reads back exactly. */
static int real_digits(double d)
{
    char buf[40];
    for (int p = 15; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            return p;
    }
    return 17;
}

/* Largest real_digits over the reals in J. jansson takes one precision per dump, so the
 * whole text uses the one its most demanding number needs: 0.1 prints as 0.1, and no
 * double is ever changed by a round trip. */
static int tree_digits(const json_t *j, int max)
{
    if (max == 17)
        return max;
    switch (json_typeof(j)) {
    case JSON_REAL: {
        int p = real_digits(json_real_value(j));
        return p > max ? p : max;
    }
    case JSON_ARRAY: {
        size_t i;
        const json_t *item;
        json_array_foreach (j, i, item)
            max = tree_digits(item, max);
        return max;
    }
    case JSON_OBJECT: {
        const char *key;
        const json_t *item;
        json_object_foreach ((json_t *)j, key, item)
            max = tree_digits(item, max);
        return max;
    }
    default:
        return max;
    }
}

char *fh_jansson_dumps(const json_t *j)
{
    if (!j)
        return NULL;
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER;
    char *s = json_dumps(j, flags | JSON_REAL_PRECISION(tree_digits(j, 15)));
    if (!s)
        fh_set_error(FH_E_NOMEM, "out of memory printing JSON");
    return s;
}

/* ---- values to JSON ---- */

/* Records why building JSON failed; a NULL with nothing recorded means out of memory
 * (jansson's constructors fail only that way). */
typedef struct build_ctx {
    bool reported;
} build_ctx;

static json_t *build_fail(build_ctx *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *build_fail(build_ctx *b, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fh_set_error(code, "%s", msg);
    b->reported = true;
    return NULL;
}

static json_t *build_done(build_ctx *b, json_t *j)
{
    if (!j && !b->reported)
        fh_set_error(FH_E_NOMEM, "out of memory building JSON");
    return j;
}

static json_t *value_to(const Flowhost__Value *v, int depth, build_ctx *b)
{
    if (depth > FH_JSON_MAX_VALUE_DEPTH)
        return build_fail(b, FH_E_RANGE, "value nested deeper than %d levels",
                          FH_JSON_MAX_VALUE_DEPTH);
    json_t *j = NULL;
    switch (fh_value_type((const fh_value *)v)) {
    case FH_TYPE_NULL:
        j = json_null();
        break;
    case FH_TYPE_BOOL:
        j = json_boolean(v->bool_value);
        break;
    case FH_TYPE_INT:
        j = json_integer((json_int_t)v->int_value);
        break;
    case FH_TYPE_DOUBLE:
        if (!isfinite(v->double_value))
            return build_fail(b, FH_E_RANGE, "%g cannot be written as JSON", v->double_value);
        j = json_real(v->double_value);
        break;
    case FH_TYPE_STRING:
        /* jansson refuses invalid UTF-8, which a string from the wire may hold; running
         * out of memory for a string is far less likely, so NULL is reported as that. */
        if (!(j = json_string(v->string_value)))
            return build_fail(b, FH_E_PARSE, "string value is not valid UTF-8");
        break;
    case FH_TYPE_BYTES:
        j = b64_encode(v->bytes_value.data, v->bytes_value.len);
        break;
    case FH_TYPE_LIST:
        if (!(j = json_array()))
            break;
        for (size_t i = 0; i < v->list_value->n_values; i++) {
            json_t *item = value_to(v->list_value->values[i], depth + 1, b);
            if (!item || json_array_append_new(j, item) < 0) {
                json_decref(j);
                return NULL;
            }
        }
        break;
    case FH_TYPE_MAP:
        if (!(j = json_object()))
            break;
        for (size_t i = 0; i < v->map_value->n_entries; i++) {
            const Flowhost__MapEntry *e = v->map_value->entries[i];
            json_t *item = value_to(e->value, depth + 1, b);
            if (!item || json_object_set_new(j, e->key, item) < 0) {
                json_decref(j);
                return NULL;
            }
        }
        break;
    }
    return j;
}

json_t *fh_value_to_jansson(const fh_value *v)
{
    build_ctx b = {false};
    return build_done(&b, value_to(FH_PB_CVALUE(v), 0, &b));
}

char *fh_value_to_json(const fh_value *v)
{
    json_t *j = fh_value_to_jansson(v);
    if (!j)
        return NULL;
    char *s = fh_jansson_dumps(j);
    json_decref(j);
    return s;
}

/* ---- parse errors ---- */

/* Context of one conversion from JSON: the source text (to point at a field) and where
 * the error goes. */
typedef struct parse_ctx {
    const char *text; /* source of the JSON, NULL when converting a json_t directly */
    size_t len;
    struct fh_json_error *err;
} parse_ctx;

/* Points ERR at the first `"KEY" :` in the text. jansson keeps no positions for keys,
 * so this is a search, not a parse; in valid JSON a string followed by ':' is always a
 * key, so it finds the right line unless the same key appears earlier in a nested
 * object. Keys that would need escaping are not searched. */
static void locate_key(parse_ctx *c, const char *key)
{
    if (!c->text || !key || !key[0] || strpbrk(key, "\"\\"))
        return; /* an empty key would match everywhere, and never move the search on */
    size_t klen = strlen(key);
    const char *end = c->text + c->len, *p = c->text;
    while ((p = memmem(p, (size_t)(end - p), key, klen)) != NULL) {
        const char *after = p + klen;
        if (p > c->text && p[-1] == '"' && after < end && *after == '"') {
            const char *q = after + 1;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
                q++;
            if (q < end && *q == ':') {
                int line = 1, column = 1;
                for (const char *s = c->text; s < p - 1; s++) {
                    if (*s == '\n') {
                        line++;
                        column = 1;
                    } else if (((unsigned char)*s & 0xC0) != 0x80) {
                        column++; /* count characters, as jansson does, not bytes */
                    }
                }
                c->err->line = line;
                c->err->column = column;
                return;
            }
        }
        p = after;
    }
}

/* Records a failure about field KEY (may be NULL) and returns CODE. */
static int parse_fail(parse_ctx *c, int code, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int parse_fail(parse_ctx *c, int code, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->text, sizeof c->err->text, fmt, ap);
    va_end(ap);
    locate_key(c, key);
    return code;
}

/* Sets fh_last_error() from ERR, with "line L, column C: " in front when known. */
static int report(int code, const struct fh_json_error *err)
{
    if (err->line > 0)
        return fh_set_error(code, "line %d, column %d: %s", err->line, err->column, err->text);
    return fh_set_error(code, "%s", err->text);
}

const char *fh_json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* ---- values from JSON ---- */

static int value_from(const json_t *j, int depth, parse_ctx *c, Flowhost__Value **out)
{
    if (depth > FH_JSON_MAX_VALUE_DEPTH)
        return parse_fail(c, FH_E_PARSE, NULL, "value nested deeper than %d levels",
                          FH_JSON_MAX_VALUE_DEPTH);
    fh_value *v = NULL;
    switch (json_typeof(j)) {
    case JSON_NULL:
        v = fh_value_new_null();
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v = fh_value_new_bool(json_is_true(j));
        break;
    case JSON_INTEGER: /* 1 stays an int ... */
        v = fh_value_new_int(json_integer_value(j));
        break;
    case JSON_REAL: /* ... and 1.0 a double */
        v = fh_value_new_double(json_real_value(j));
        break;
    case JSON_STRING:
        v = fh_value_new_string(json_string_value(j));
        break;
    case JSON_ARRAY: {
        size_t i;
        const json_t *item;
        if (!(v = fh_value_new_list()))
            break;
        json_array_foreach (j, i, item) {
            Flowhost__Value *iv;
            int rc = value_from(item, depth + 1, c, &iv);
            if (rc == 0)
                rc = fh_list_append(v, (fh_value *)iv);
            if (rc < 0) {
                fh_value_destroy(&v);
                return rc == FH_E_NOMEM ? parse_fail(c, rc, NULL, "out of memory") : rc;
            }
        }
        break;
    }
    case JSON_OBJECT: {
        const char *key;
        const json_t *item;
        if (!(v = fh_value_new_map()))
            break;
        json_object_foreach ((json_t *)j, key, item) {
            Flowhost__Value *iv;
            int rc = value_from(item, depth + 1, c, &iv);
            if (rc == 0)
                rc = fh_map_set(v, key, (fh_value *)iv);
            if (rc < 0) {
                fh_value_destroy(&v);
                return rc == FH_E_NOMEM ? parse_fail(c, rc, NULL, "out of memory") : rc;
            }
        }
        break;
    }
    }
    if (!v)
        return parse_fail(c, FH_E_NOMEM, NULL, "out of memory");
    *out = FH_PB_VALUE(v);
    return 0;
}

int fh_value_from_jansson(const json_t *j, fh_value **out)
{
    if (!j || !out)
        return fh_set_error(FH_E_INVAL, "fh_value_from_jansson: NULL argument");
    struct fh_json_error err = {0};
    parse_ctx c = {.err = &err};
    Flowhost__Value *v = NULL;
    int rc = value_from(j, 0, &c, &v);
    if (rc < 0)
        return report(rc, &err);
    *out = (fh_value *)v;
    return 0;
}

/* Parses LEN bytes of TEXT with jansson; on a syntax error fills ERR. Any JSON value is
 * accepted at the top; callers check its type. */
static int load(const char *text, size_t len, json_t **out, struct fh_json_error *err)
{
    json_error_t je;
    json_t *j = json_loadb(text ? text : "", text ? len : 0,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        err->line = je.line > 0 ? je.line : 1;
        err->column = je.column > 0 ? je.column : 1;
        snprintf(err->text, sizeof err->text, "%s", je.text);
        return FH_E_PARSE;
    }
    *out = j;
    return 0;
}

int fh_value_from_json(const char *text, size_t len, fh_value **out)
{
    if (!out)
        return fh_set_error(FH_E_INVAL, "fh_value_from_json: NULL out");
    struct fh_json_error err = {0};
    json_t *j;
    int rc = load(text, len, &j, &err);
    if (rc < 0)
        return report(rc, &err);
    parse_ctx c = {.text = text, .len = len, .err = &err};
    Flowhost__Value *v = NULL;
    rc = value_from(j, 0, &c, &v);
    json_decref(j);
    if (rc < 0)
        return report(rc, &err);
    *out = (fh_value *)v;
    return 0;
}

/* ---- documents to JSON ---- */

/* Adds VAL under KEY (stealing the reference); false when VAL is NULL or out of
 * memory, so that the callers can chain with &&. */
static bool put(json_t *obj, const char *key, json_t *val)
{
    if (!val)
        return false;
    return json_object_set_new(obj, key, val) == 0;
}

static bool put_string(json_t *obj, const char *key, const char *s)
{
    return !s || !*s || put(obj, key, json_string(s));
}

/* The {dtype, shape, data} form of an n-d array. */
static json_t *ndarray_object(const Flowhost__NdArray *a)
{
    json_t *o = json_object(), *shape = json_array();
    bool ok = o && shape;
    for (size_t i = 0; ok && i < a->n_shape; i++)
        ok = json_array_append_new(shape, json_integer((json_int_t)a->shape[i])) == 0;
    if (ok)
        ok = put(o, "dtype", json_string(a->dtype)) && put(o, "shape", shape) &&
             (shape = NULL, put(o, "data", b64_encode(a->buffer.data, a->buffer.len)));
    json_decref(shape);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Shortest double that reads back as F: printing a float32 through a double would
 * otherwise show 0.1f as 0.10000000149011612. */
static double float_to_short_double(float f)
{
    char buf[32];
    for (int p = 6; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return (double)f;
}

/* An embedding as an array of numbers (float32 and float64); any other dtype keeps the
 * n-d array form so that nothing is lost. */
static json_t *embedding_json(const Flowhost__NdArray *e, build_ctx *b)
{
    bool f32 = strcmp(e->dtype, "float32") == 0, f64 = strcmp(e->dtype, "float64") == 0;
    size_t item = f32 ? 4 : 8;
    if ((!f32 && !f64) || e->buffer.len % item != 0)
        return ndarray_object(e);
    json_t *a = json_array();
    for (size_t i = 0; a && i < e->buffer.len / item; i++) {
        double d;
        if (f32) {
            float f;
            memcpy(&f, e->buffer.data + i * 4, 4);
            d = float_to_short_double(f);
        } else {
            memcpy(&d, e->buffer.data + i * 8, 8);
        }
        if (!isfinite(d)) {
            json_decref(a);
            return build_fail(b, FH_E_RANGE, "embedding[%zu] is %g, which JSON cannot hold",
                              i, d);
        }
        if (json_array_append_new(a, json_real(d)) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *doc_to(const Flowhost__Document *d, int depth, build_ctx *b);

static json_t *doc_list(Flowhost__Document *const *docs, size_t n, int depth, build_ctx *b)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *item = doc_to(docs[i], depth + 1, b);
        if (!item || json_array_append_new(a, item) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *scores_json(const Flowhost__Document *d, build_ctx *b)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < d->n_scores; i++) {
        double v = d->scores[i]->value;
        if (!isfinite(v)) {
            json_decref(o);
            return build_fail(b, FH_E_RANGE, "score '%s' is %g, which JSON cannot hold",
                              d->scores[i]->name, v);
        }
        if (!put(o, d->scores[i]->name, json_real(v))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* Fields in the proto's order; each at its default is left out. */
static json_t *doc_to(const Flowhost__Document *d, int depth, build_ctx *b)
{
    if (depth > FH_JSON_MAX_DOC_DEPTH)
        return build_fail(b, FH_E_RANGE, "chunks/matches nested deeper than %d levels",
                          FH_JSON_MAX_DOC_DEPTH);
    json_t *o = json_object();
    if (!o)
        return NULL;
    const fh_value *tags = (const fh_value *)d->tags;
    bool ok = put_string(o, "id", d->id) && put_string(o, "parent_id", d->parent_id) &&
              put_string(o, "text", d->text) &&
              (!d->blob.len || put(o, "blob", b64_encode(d->blob.data, d->blob.len))) &&
              put_string(o, "uri", d->uri) && put_string(o, "mime_type", d->mime_type) &&
              (fh_value_len(tags) == 0 || put(o, "tags", value_to(d->tags, 1, b))) &&
              (!d->embedding || put(o, "embedding", embedding_json(d->embedding, b))) &&
              (!d->tensor || put(o, "tensor", ndarray_object(d->tensor))) &&
              (!d->n_chunks || put(o, "chunks", doc_list(d->chunks, d->n_chunks, depth, b))) &&
              (!d->n_matches || put(o, "matches", doc_list(d->matches, d->n_matches, depth, b))) &&
              (!d->n_scores || put(o, "scores", scores_json(d, b))) &&
              (d->weight == 0 || put(o, "weight", json_real(d->weight))) &&
              (!d->granularity || put(o, "granularity", json_integer(d->granularity))) &&
              (!d->adjacency || put(o, "adjacency", json_integer(d->adjacency)));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *fh_doc_to_jansson(const fh_doc *d)
{
    if (!d) {
        fh_set_error(FH_E_INVAL, "fh_doc_to_jansson: NULL document");
        return NULL;
    }
    build_ctx b = {false};
    return build_done(&b, doc_to(FH_PB_CDOC(d), 0, &b));
}

char *fh_doc_to_json(const fh_doc *d)
{
    json_t *j = fh_doc_to_jansson(d);
    if (!j)
        return NULL;
    char *s = fh_jansson_dumps(j);
    json_decref(j);
    return s;
}

/* ---- documents from JSON ---- */

static int doc_from(const json_t *j, int depth, parse_ctx *c, const char *path,
                    Flowhost__Document **out);

/* Every message names the field with its path inside the document ("chunks[1].text"). */
static int type_fail(parse_ctx *c, const char *path, const char *key, const char *want,
                     const json_t *got)
{
    return parse_fail(c, FH_E_TYPE, key, "field '%s%s' must be %s, not %s", path, key, want,
                      fh_json_type_name(got));
}

static int field_string(parse_ctx *c, const char *path, const char *key, const json_t *v,
                        char **field)
{
    if (!json_is_string(v))
        return type_fail(c, path, key, "a string", v);
    if (fh_pb_set_string(field, json_string_value(v)) < 0)
        return parse_fail(c, FH_E_NOMEM, NULL, "out of memory");
    return 0;
}

static int field_int32(parse_ctx *c, const char *path, const char *key, const json_t *v,
                       int32_t *field)
{
    if (!json_is_integer(v))
        return type_fail(c, path, key, "an integer", v);
    json_int_t i = json_integer_value(v);
    if (i < INT32_MIN || i > INT32_MAX)
        return parse_fail(c, FH_E_PARSE, key, "field '%s%s' is out of range (%lld)", path,
                          key, (long long)i);
    *field = (int32_t)i;
    return 0;
}

static int field_base64(parse_ctx *c, const char *path, const char *key, const json_t *v,
                        uint8_t **data, size_t *len)
{
    if (!json_is_string(v))
        return type_fail(c, path, key, "a base64 string", v);
    int rc = b64_decode(json_string_value(v), json_string_length(v), data, len);
    if (rc == FH_E_NOMEM)
        return parse_fail(c, rc, NULL, "out of memory");
    if (rc < 0)
        return parse_fail(c, rc, key, "field '%s%s' is not valid base64", path, key);
    return 0;
}

/* {dtype, shape, data} into D's tensor; fh_doc_set_tensor checks that the size agrees
 * with dtype and shape. */
static int field_tensor(parse_ctx *c, const char *path, const char *key, const json_t *v,
                        Flowhost__Document *d)
{
    if (!json_is_object(v))
        return type_fail(c, path, key, "an object {dtype, shape, data}", v);
    const char *k;
    const json_t *item;
    json_object_foreach ((json_t *)v, k, item) {
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data"))
            return parse_fail(c, FH_E_PARSE, k, "unknown field '%s%s.%s' in document", path,
                              key, k);
    }
    const json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
                 *data = json_object_get(v, "data");
    if (!json_is_string(dtype) || !json_string_length(dtype))
        return parse_fail(c, dtype ? FH_E_TYPE : FH_E_PARSE, key,
                          "field '%s%s.dtype' must be a non-empty string", path, key);
    if (shape && !json_is_array(shape))
        return parse_fail(c, FH_E_TYPE, key, "field '%s%s.shape' must be an array", path, key);
    size_t ndim = json_array_size(shape);
    uint64_t *dims = malloc((ndim ? ndim : 1) * sizeof *dims);
    if (!dims)
        return parse_fail(c, FH_E_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < ndim; i++) {
        const json_t *n = json_array_get(shape, i);
        if (!json_is_integer(n) || json_integer_value(n) < 0) {
            free(dims);
            return parse_fail(c, FH_E_TYPE, key,
                              "field '%s%s.shape' must hold non-negative integers", path, key);
        }
        dims[i] = (uint64_t)json_integer_value(n);
    }
    uint8_t *bytes = NULL;
    size_t nbytes = 0;
    int rc = 0;
    if (data)
        rc = field_base64(c, path, "data", data, &bytes, &nbytes);
    if (rc == 0 && fh_doc_set_tensor((fh_doc *)d, json_string_value(dtype), dims, ndim, bytes,
                                     nbytes) < 0)
        rc = parse_fail(c, FH_E_PARSE, key, "field '%s%s': %s", path, key, fh_last_error());
    free(bytes);
    free(dims);
    return rc;
}

/* An array of numbers becomes a float32 embedding; the object form (written for other
 * dtypes) is read like a tensor and moved over. */
static int field_embedding(parse_ctx *c, const char *path, const char *key, const json_t *v,
                           Flowhost__Document *d)
{
    if (json_is_object(v)) {
        Flowhost__NdArray *saved = d->tensor;
        d->tensor = NULL;
        int rc = field_tensor(c, path, key, v, d);
        if (rc == 0) {
            if (d->embedding)
                protobuf_c_message_free_unpacked(&d->embedding->base, NULL);
            d->embedding = d->tensor;
        }
        d->tensor = saved;
        return rc;
    }
    if (!json_is_array(v))
        return type_fail(c, path, key, "an array of numbers", v);
    size_t n = json_array_size(v);
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f)
        return parse_fail(c, FH_E_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_number(x)) {
            free(f);
            return type_fail(c, path, key, "an array of numbers", x);
        }
        f[i] = (float)json_number_value(x);
    }
    int rc = fh_doc_set_embedding((fh_doc *)d, f, n);
    free(f);
    return rc < 0 ? parse_fail(c, rc, NULL, "%s", fh_last_error()) : 0;
}

static int field_scores(parse_ctx *c, const char *path, const char *key, const json_t *v,
                        Flowhost__Document *d)
{
    if (!json_is_object(v))
        return type_fail(c, path, key, "an object {name: number}", v);
    const char *name;
    const json_t *x;
    json_object_foreach ((json_t *)v, name, x) {
        if (!json_is_number(x))
            return parse_fail(c, FH_E_TYPE, name, "score '%s%s.%s' must be a number, not %s",
                              path, key, name, fh_json_type_name(x));
        if (fh_doc_set_score((fh_doc *)d, name, json_number_value(x)) < 0)
            return parse_fail(c, FH_E_NOMEM, NULL, "out of memory");
    }
    return 0;
}

/* chunks / matches: an array of documents, each parsed with DEPTH + 1. */
static int field_docs(parse_ctx *c, const char *path, const char *key, const json_t *v,
                      int depth, Flowhost__Document *d, bool chunks)
{
    if (!json_is_array(v))
        return type_fail(c, path, key, "an array of documents", v);
    size_t i;
    const json_t *item;
    json_array_foreach (v, i, item) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s[%zu].", path, key, i);
        Flowhost__Document *child;
        int rc = doc_from(item, depth + 1, c, sub, &child);
        if (rc < 0)
            return rc;
        Flowhost__Document ***arr = chunks ? &d->chunks : &d->matches;
        size_t *n = chunks ? &d->n_chunks : &d->n_matches;
        Flowhost__Document **grown = realloc(*arr, (*n + 1) * sizeof *grown);
        if (!grown) {
            protobuf_c_message_free_unpacked(&child->base, NULL);
            return parse_fail(c, FH_E_NOMEM, NULL, "out of memory");
        }
        *arr = grown;
        (*arr)[(*n)++] = child;
    }
    return 0;
}

/* Reads one field KEY of a document object into D. */
static int doc_field(parse_ctx *c, const char *path, const char *key, const json_t *v,
                     int depth, Flowhost__Document *d)
{
    /* null stands for "not set", as some writers emit it for empty fields. */
    if (json_is_null(v) && strcmp(key, "tags") != 0)
        return 0;
    if (!strcmp(key, "id"))
        return field_string(c, path, key, v, &d->id);
    if (!strcmp(key, "parent_id"))
        return field_string(c, path, key, v, &d->parent_id);
    if (!strcmp(key, "text"))
        return field_string(c, path, key, v, &d->text);
    if (!strcmp(key, "uri"))
        return field_string(c, path, key, v, &d->uri);
    if (!strcmp(key, "mime_type"))
        return field_string(c, path, key, v, &d->mime_type);
    if (!strcmp(key, "blob")) {
        uint8_t *data;
        size_t len;
        int rc = field_base64(c, path, key, v, &data, &len);
        if (rc < 0)
            return rc;
        free(d->blob.data);
        d->blob.data = len ? data : NULL;
        d->blob.len = len;
        if (!len)
            free(data);
        return 0;
    }
    if (!strcmp(key, "tags")) {
        if (json_is_null(v))
            return 0;
        if (!json_is_object(v))
            return type_fail(c, path, key, "an object", v);
        Flowhost__Value *tags;
        int rc = value_from(v, 1, c, &tags);
        if (rc < 0)
            return rc;
        if (d->tags)
            protobuf_c_message_free_unpacked(&d->tags->base, NULL);
        d->tags = tags;
        return 0;
    }
    if (!strcmp(key, "embedding"))
        return field_embedding(c, path, key, v, d);
    if (!strcmp(key, "tensor"))
        return field_tensor(c, path, key, v, d);
    if (!strcmp(key, "chunks"))
        return field_docs(c, path, key, v, depth, d, true);
    if (!strcmp(key, "matches"))
        return field_docs(c, path, key, v, depth, d, false);
    if (!strcmp(key, "scores"))
        return field_scores(c, path, key, v, d);
    if (!strcmp(key, "weight")) {
        if (!json_is_number(v))
            return type_fail(c, path, key, "a number", v);
        d->weight = json_number_value(v);
        return 0;
    }
    if (!strcmp(key, "granularity"))
        return field_int32(c, path, key, v, &d->granularity);
    if (!strcmp(key, "adjacency"))
        return field_int32(c, path, key, v, &d->adjacency);
    return parse_fail(c, FH_E_PARSE, key, "unknown field '%s%s' in document", path, key);
}

/* Chunks and matches that do not say otherwise get what fh_doc_add_chunk /
 * fh_doc_add_match would give them (parent_id and granularity, adjacency), so that an
 * input written by hand nests like one built through the API. Done top-down once the
 * whole tree is read: fields come in any order, and a chunk's granularity depends on
 * its parent's final one. J is the JSON D was read from (the recursion is bounded by
 * the depth check of doc_from). */
static void doc_link_children(Flowhost__Document *d, const json_t *j)
{
    const json_t *chunks = json_object_get(j, "chunks");
    for (size_t i = 0; i < d->n_chunks; i++) {
        const json_t *cj = json_array_get(chunks, i);
        Flowhost__Document *ch = d->chunks[i];
        if (!json_object_get(cj, "granularity"))
            ch->granularity = d->granularity + 1;
        /* out of memory here just leaves the chunk without a parent_id */
        if (!*ch->parent_id)
            (void)fh_pb_set_string(&ch->parent_id, d->id);
        doc_link_children(ch, cj);
    }
    const json_t *matches = json_object_get(j, "matches");
    for (size_t i = 0; i < d->n_matches; i++) {
        const json_t *mj = json_array_get(matches, i);
        if (!json_object_get(mj, "adjacency"))
            d->matches[i]->adjacency = d->adjacency + 1;
        doc_link_children(d->matches[i], mj);
    }
}

static int doc_from(const json_t *j, int depth, parse_ctx *c, const char *path,
                    Flowhost__Document **out)
{
    if (depth > FH_JSON_MAX_DOC_DEPTH)
        return parse_fail(c, FH_E_PARSE, NULL, "document '%s' nested deeper than %d levels",
                          path, FH_JSON_MAX_DOC_DEPTH);
    if (!json_is_object(j))
        return parse_fail(c, FH_E_TYPE, NULL, "a document must be a JSON object, not %s",
                          fh_json_type_name(j));
    Flowhost__Document *d = malloc(sizeof *d);
    if (!d)
        return parse_fail(c, FH_E_NOMEM, NULL, "out of memory");
    flowhost__document__init(d);
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)j, key, v) {
        int rc = doc_field(c, path, key, v, depth, d);
        if (rc < 0) {
            protobuf_c_message_free_unpacked(&d->base, NULL);
            return rc;
        }
    }
    if (!*d->id) { /* no id given: make one, as fh_doc_new does */
        fh_doc *fresh = fh_doc_new();
        if (!fresh) {
            protobuf_c_message_free_unpacked(&d->base, NULL);
            return parse_fail(c, FH_E_NOMEM, NULL, "out of memory");
        }
        fh_pb_clear_string(&d->id);
        d->id = FH_PB_DOC(fresh)->id;
        FH_PB_DOC(fresh)->id = (char *)protobuf_c_empty_string;
        fh_doc_destroy(&fresh);
    }
    if (depth == 0)
        doc_link_children(d, j);
    *out = d;
    return 0;
}

int fh_doc_from_jansson(const json_t *j, fh_doc **out)
{
    if (!j || !out)
        return fh_set_error(FH_E_INVAL, "fh_doc_from_jansson: NULL argument");
    struct fh_json_error err = {0};
    parse_ctx c = {.err = &err};
    Flowhost__Document *d;
    int rc = doc_from(j, 0, &c, "", &d);
    if (rc < 0)
        return report(rc, &err);
    *out = (fh_doc *)d;
    return 0;
}

int fh_doc_parse_json(const char *text, size_t len, fh_doc **out, struct fh_json_error *err)
{
    memset(err, 0, sizeof *err);
    json_t *j;
    int rc = load(text, len, &j, err);
    if (rc < 0)
        return rc;
    parse_ctx c = {.text = text, .len = len, .err = err};
    Flowhost__Document *d;
    rc = doc_from(j, 0, &c, "", &d);
    json_decref(j);
    if (rc < 0)
        return rc;
    *out = (fh_doc *)d;
    return 0;
}

int fh_doc_from_json(const char *text, size_t len, fh_doc **out)
{
    if (!out)
        return fh_set_error(FH_E_INVAL, "fh_doc_from_json: NULL out");
    struct fh_json_error err;
    int rc = fh_doc_parse_json(text, len, out, &err);
    return rc < 0 ? report(rc, &err) : 0;
}

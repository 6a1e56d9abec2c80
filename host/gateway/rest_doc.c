/* Documents between Jina 2's dicts (what its REST gateway reads and writes) and the
 * SDK's JSON (json.h). The SDK does the conversion; this only renames and reshapes. */
#include "rest_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <flowhost/error.h>

#include "json_internal.h"
#include "pb.h"

/* ---- Jina 2 to the SDK -------------------------------------------------------------- */

/* Records WHY (a field path and what is wrong) and returns CODE. */
static int why_fail(char *why, size_t why_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int why_fail(char *why, size_t why_len, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return code;
}

/* Fields of Jina 2's DocumentProto that flowhost has no place for. Jina writes them
 * with their defaults (its REST responses include every field), so a document read back
 * from a Jina response carries them: at their default they are dropped, otherwise
 * refused rather than lost. */
static const char *const jina_only[] = {
    "location", "offset",      "modality",     "evaluations", "siblings",
    "contentHash", "content_hash", "contentType", "content_type", "graph", NULL,
};

static bool is_jina_only(const char *key)
{
    for (size_t i = 0; jina_only[i]; i++)
        if (strcmp(key, jina_only[i]) == 0)
            return true;
    return false;
}

/* null, false, 0, "", [] or {}. */
static bool is_default(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return true;
    case JSON_INTEGER:
        return json_integer_value(v) == 0;
    case JSON_REAL:
        return json_real_value(v) == 0.0;
    case JSON_STRING:
        return json_string_length(v) == 0;
    case JSON_ARRAY:
        return json_array_size(v) == 0;
    case JSON_OBJECT:
        return json_object_size(v) == 0;
    default:
        return false;
    }
}

/* numpy's array-interface type strings (what Jina 2 writes in NdArrayProto.dtype) to the
 * SDK's dtype names. Other names pass through (the SDK checks them). */
static const char *numpy_dtype(const char *s)
{
    static const struct {
        const char *numpy, *name;
    } map[] = {
        {"<f2", "float16"}, {"<f4", "float32"}, {"<f8", "float64"}, {"|i1", "int8"},
        {"<i2", "int16"},   {"<i4", "int32"},   {"<i8", "int64"},   {"|u1", "uint8"},
        {"<u2", "uint16"},  {"<u4", "uint32"},  {"<u8", "uint64"},  {"|b1", "bool"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i].numpy) == 0)
            return map[i].name;
    return s;
}

/* An NdArrayProto {dense: {buffer, shape, dtype}} at KEY of J becomes the SDK's
 * {dtype, shape, data} under NEW_KEY (KEY itself removed when they differ). Any other
 * value is left for the SDK to judge. */
static int ndarray_from_jina(json_t *j, const char *path, const char *key, const char *new_key,
                             char *why, size_t why_len)
{
    json_t *v = json_object_get(j, key);
    json_t *dense = json_object_get(v, "dense");
    if (!json_is_object(v) || (!dense && !json_object_get(v, "sparse")))
        return 0;
    if (strcmp(key, new_key) != 0 && json_object_get(j, new_key))
        return why_fail(why, why_len, FH_E_PARSE,
                        "fields '%s%s' (Jina 2's n-d array) and '%s%s' are the same field",
                        path, key, path, new_key);
    if (json_object_get(v, "sparse") && !is_default(json_object_get(v, "sparse")))
        return why_fail(why, why_len, FH_E_PARSE,
                        "field '%s%s': sparse arrays are not supported", path, key);
    if (!json_is_object(dense))
        return why_fail(why, why_len, FH_E_TYPE, "field '%s%s.dense' must be an object",
                        path, key);
    json_t *dtype = json_object_get(dense, "dtype"), *buffer = json_object_get(dense, "buffer");
    if (buffer == NULL || (json_is_string(buffer) && json_string_length(buffer) == 0)) {
        json_object_del(j, key); /* no bytes: no array, as Jina's default NdArrayProto */
        return 0;
    }
    if (!json_is_string(dtype))
        return why_fail(why, why_len, FH_E_TYPE, "field '%s%s.dense.dtype' must be a string",
                        path, key);
    const char *name = numpy_dtype(json_string_value(dtype));
    if (name[0] == '>')
        return why_fail(why, why_len, FH_E_PARSE,
                        "field '%s%s.dense.dtype' is '%s': big-endian arrays are not "
                        "supported",
                        path, key, name);
    json_t *shape = json_object_get(dense, "shape");
    json_t *sdk = json_object();
    bool ok = sdk != NULL && json_object_set_new(sdk, "dtype", json_string(name)) == 0 &&
              json_object_set_new(sdk, "shape", shape ? json_incref(shape) : json_array()) == 0 &&
              json_object_set_new(sdk, "data", buffer ? json_incref(buffer) : json_string("")) == 0;
    if (!ok) {
        json_decref(sdk);
        return why_fail(why, why_len, FH_E_NOMEM, "out of memory");
    }
    if (json_object_set_new(j, new_key, sdk) != 0) /* V and what it holds are freed here */
        return why_fail(why, why_len, FH_E_NOMEM, "out of memory");
    if (strcmp(key, new_key) != 0)
        json_object_del(j, key);
    return 0;
}

/* scores {name: {value, opName, ...}} (Jina 2's NamedScoreProto) to {name: value}. */
static int scores_from_jina(json_t *j, char *why, size_t why_len)
{
    json_t *scores = json_object_get(j, "scores");
    if (!json_is_object(scores))
        return 0;
    const char *name;
    json_t *s;
    json_object_foreach (scores, name, s) {
        if (!json_is_object(s))
            continue;
        json_t *value = json_object_get(s, "value");
        if (value == NULL)
            value = json_real(0.0); /* Jina 2 leaves a zero value out */
        else
            json_incref(value);
        if (value == NULL || json_object_set_new(scores, name, value) != 0)
            return why_fail(why, why_len, FH_E_NOMEM, "out of memory");
    }
    return 0;
}

/* Renames FROM to TO in J; both given is an error. */
static int rename_key(json_t *j, const char *path, const char *from, const char *to, char *why,
                      size_t why_len)
{
    json_t *v = json_object_get(j, from);
    if (v == NULL)
        return 0;
    if (json_object_get(j, to))
        return why_fail(why, why_len, FH_E_PARSE, "fields '%s%s' and '%s%s' are the same field",
                        path, from, path, to);
    if (json_object_set(j, to, v) != 0)
        return why_fail(why, why_len, FH_E_NOMEM, "out of memory");
    json_object_del(j, from);
    return 0;
}

static bool sdk_field(const char *key)
{
    static const char *const fields[] = {
        "id",     "parent_id", "text",   "blob",    "uri",       "mime_type",
        "tags",   "embedding", "tensor", "chunks",  "matches",   "scores",
        "weight", "granularity", "adjacency", NULL,
    };
    for (size_t i = 0; fields[i]; i++)
        if (strcmp(key, fields[i]) == 0)
            return true;
    return false;
}

static int doc_from_jina(json_t *j, int depth, const char *path, char *why, size_t why_len);

static int children_from_jina(json_t *j, int depth, const char *path, const char *key,
                              char *why, size_t why_len)
{
    json_t *a = json_object_get(j, key);
    if (!json_is_array(a))
        return 0; /* the SDK says what is wrong with it */
    size_t i;
    json_t *child;
    json_array_foreach (a, i, child) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s[%zu].", path, key, i);
        int rc = doc_from_jina(child, depth + 1, sub, why, why_len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int doc_from_jina(json_t *j, int depth, const char *path, char *why, size_t why_len)
{
    if (depth > FH_JSON_MAX_DOC_DEPTH)
        return why_fail(why, why_len, FH_E_PARSE, "document '%s' nested deeper than %d levels",
                        path, FH_JSON_MAX_DOC_DEPTH);
    if (!json_is_object(j))
        return 0; /* the SDK says what is wrong with it */
    int rc;
    if ((rc = rename_key(j, path, "parentId", "parent_id", why, why_len)) != 0 ||
        (rc = rename_key(j, path, "mimeType", "mime_type", why, why_len)) != 0)
        return rc;
    /* Jina 2's blob is an n-d array (flowhost's tensor), its buffer the bytes (flowhost's
       blob): a blob that is an NdArrayProto moves first, then buffer can take its name. */
    if ((rc = ndarray_from_jina(j, path, "blob", "tensor", why, why_len)) != 0 ||
        (rc = ndarray_from_jina(j, path, "embedding", "embedding", why, why_len)) != 0)
        return rc;
    json_t *buffer = json_object_get(j, "buffer");
    if (buffer && is_default(buffer))
        json_object_del(j, "buffer");
    else if ((rc = rename_key(j, path, "buffer", "blob", why, why_len)) != 0)
        return rc;
    json_t *content = json_object_get(j, "content");
    if (content) { /* Jina 2's content property: a string is the text */
        if (!json_is_string(content))
            return why_fail(why, why_len, FH_E_TYPE,
                            "field '%scontent' must be a string (the text); give blob or "
                            "tensor for other content",
                            path);
        if ((rc = rename_key(j, path, "content", "text", why, why_len)) != 0)
            return rc;
    }
    if ((rc = scores_from_jina(j, why, why_len)) != 0)
        return rc;
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe (j, tmp, key, v) {
        if (sdk_field(key))
            continue;
        if (is_jina_only(key)) {
            if (!is_default(v))
                return why_fail(why, why_len, FH_E_PARSE,
                                "field '%s%s' (Jina 2's) is not supported by flowhost", path,
                                key);
            json_object_del(j, key);
            continue;
        }
        /* Jina 2's Document(dict) keeps what it does not know as tags */
        json_t *tags = json_object_get(j, "tags");
        if (tags == NULL || json_is_null(tags)) {
            if ((tags = json_object()) == NULL || json_object_set_new(j, "tags", tags) != 0)
                return why_fail(why, why_len, FH_E_NOMEM, "out of memory");
        }
        if (!json_is_object(tags))
            return why_fail(why, why_len, FH_E_TYPE,
                            "field '%stags' must be an object (it also takes the unknown "
                            "field '%s')",
                            path, key);
        if (json_object_set(tags, key, v) != 0)
            return why_fail(why, why_len, FH_E_NOMEM, "out of memory");
        json_object_del(j, key);
    }
    if ((rc = children_from_jina(j, depth, path, "chunks", why, why_len)) != 0 ||
        (rc = children_from_jina(j, depth, path, "matches", why, why_len)) != 0)
        return rc;
    return 0;
}

int fh_rest_doc_from_jina(json_t *j, char *why, size_t why_len)
{
    return doc_from_jina(j, 0, "", why, why_len);
}

/* ---- the SDK to Jina 2 -------------------------------------------------------------- */

/* Writes "NAME": and the value at KEY of SDK, or DEF (JSON text) when it has none. */
static void put_field(fh_rest_text *t, const char *name, json_t *sdk, const char *key,
                      const char *def)
{
    fh_rest_put(t, name, strlen(name));
    json_t *v = json_object_get(sdk, key);
    if (v != NULL)
        fh_rest_put_json(t, v, 2);
    else
        fh_rest_put(t, def, strlen(def));
}

static int put_doc(fh_rest_text *t, json_t *sdk, const Flowhost__Document *d);

/* "NAME":[...] of the array at KEY of SDK (the JSON of D's chunks or matches, KIDS), each
 * document in Jina 2's shape; [] when absent. */
static int put_children(fh_rest_text *t, const char *name, json_t *sdk, const char *key,
                        Flowhost__Document *const *kids)
{
    fh_rest_put(t, name, strlen(name));
    FH_REST_PUT_LIT(t, "[");
    json_t *in = json_object_get(sdk, key);
    for (size_t i = 0; i < json_array_size(in) && t->code == 0; i++) {
        if (i > 0)
            FH_REST_PUT_LIT(t, ",");
        int rc = put_doc(t, json_array_get(in, i), kids[i]);
        if (rc != 0)
            return rc;
    }
    FH_REST_PUT_LIT(t, "]");
    return 0;
}

/* "scores": {name: value} of SDK as Jina 2's {name: {"value": value}}. */
static void put_scores(fh_rest_text *t, json_t *sdk)
{
    FH_REST_PUT_LIT(t, ",\"scores\":{");
    json_t *in = json_object_get(sdk, "scores");
    for (void *it = json_object_iter(in); it != NULL && t->code == 0;
         it = json_object_iter_next(in, it)) {
        if (it != json_object_iter(in))
            FH_REST_PUT_LIT(t, ",");
        fh_rest_put_string(t, json_object_iter_key(it), json_object_iter_key_len(it));
        FH_REST_PUT_LIT(t, ":{\"value\":");
        fh_rest_put_json(t, json_object_iter_value(it), 4);
        FH_REST_PUT_LIT(t, "}");
    }
    FH_REST_PUT_LIT(t, "}");
}

/* The embedding of D as the SDK writes a tensor, {dtype, shape, data}, when the SDK's
 * array of numbers would not read back the same: the SDK writes a float64 or an n-d
 * embedding as a flat array, which it reads as a 1-D float32 one. NULL (with *KEEP true)
 * when the array is exact; NULL with *KEEP false when out of memory. */
static json_t *embedding_exact(const Flowhost__Document *d, bool *keep)
{
    const Flowhost__NdArray *e = d->embedding;
    *keep = true;
    if (e == NULL || (strcmp(e->dtype, "float32") == 0 && e->n_shape <= 1))
        return NULL;
    /* the SDK's own writer, through a document that holds the array as its tensor */
    *keep = false;
    fh_doc *tmp = fh_doc_new();
    if (tmp == NULL || fh_doc_set_tensor(tmp, e->dtype, e->shape, e->n_shape, e->buffer.data,
                                         e->buffer.len) != 0) {
        fh_doc_destroy(&tmp);
        return NULL;
    }
    json_t *j = fh_doc_to_jansson(tmp);
    json_t *t = json_incref(json_object_get(j, "tensor"));
    json_decref(j);
    fh_doc_destroy(&tmp);
    return t;
}

/* SDK, the SDK's JSON of the document D (depth bounded by the SDK's writer), written in
 * Jina 2's shape, fields in Jina's order (MessageToDict of its DocumentProto). */
static int put_doc(fh_rest_text *t, json_t *sdk, const Flowhost__Document *d)
{
    bool keep;
    json_t *emb = embedding_exact(d, &keep);
    if (emb == NULL && !keep)
        return fh_set_error(FH_E_NOMEM, "out of memory writing a document's JSON");
    if (emb != NULL && json_object_set_new(sdk, "embedding", emb) != 0)
        return fh_set_error(FH_E_NOMEM, "out of memory writing a document's JSON");
    put_field(t, "{\"id\":", sdk, "id", "\"\"");
    put_field(t, ",\"granularity\":", sdk, "granularity", "0");
    put_field(t, ",\"adjacency\":", sdk, "adjacency", "0");
    put_field(t, ",\"parentId\":", sdk, "parent_id", "\"\"");
    put_field(t, ",\"text\":", sdk, "text", "\"\"");
    put_field(t, ",\"uri\":", sdk, "uri", "\"\"");
    int rc = put_children(t, ",\"chunks\":", sdk, "chunks", d->chunks);
    if (rc != 0)
        return rc;
    put_field(t, ",\"weight\":", sdk, "weight", "0.0");
    if ((rc = put_children(t, ",\"matches\":", sdk, "matches", d->matches)) != 0)
        return rc;
    put_field(t, ",\"mimeType\":", sdk, "mime_type", "\"\"");
    put_field(t, ",\"tags\":", sdk, "tags", "{}");
    put_field(t, ",\"embedding\":", sdk, "embedding", "null");
    put_scores(t, sdk);
    if (json_object_get(sdk, "blob") != NULL)
        put_field(t, ",\"blob\":", sdk, "blob", "null");
    if (json_object_get(sdk, "tensor") != NULL)
        put_field(t, ",\"tensor\":", sdk, "tensor", "null");
    FH_REST_PUT_LIT(t, "}");
    return 0;
}

int fh_rest_put_doc(fh_rest_text *t, const fh_doc *d)
{
    /* the SDK's writer fails on what JSON cannot hold (a NaN score) far more often than
       on memory */
    json_t *sdk = fh_doc_to_jansson(d);
    if (sdk == NULL)
        return FH_E_RANGE;
    int rc = put_doc(t, sdk, FH_PB_CDOC(d));
    json_decref(sdk);
    return rc;
}

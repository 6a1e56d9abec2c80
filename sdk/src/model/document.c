/* Documents and document arrays. An fh_doc is the generated Flowhost__Document and an
 * fh_docs a Flowhost__DocumentArray (see pb.h): what a handler edits is what goes on
 * the wire, with no conversion step in between. */
#include "pb.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include <flowhost/document.h>
#include <flowhost/error.h>

#define D(d) FH_PB_DOC(d)
#define CD(d) FH_PB_CDOC(d)

/* Length of a generated document id, in hex digits (128 bits, like a UUID). */
#define FH_DOC_ID_HEX 32

fh_doc *fh_doc_new(void)
{
    Flowhost__Document *d = malloc(sizeof *d);
    char *id = malloc(FH_DOC_ID_HEX + 1);
    if (!d || !id) {
        free(d);
        free(id);
        return NULL;
    }
    flowhost__document__init(d);
    fh_random_hex(id, FH_DOC_ID_HEX);
    d->id = id;
    return (fh_doc *)d;
}

/* Copies through the wire format: one packed buffer then one unpack. It is a single
 * well-tested code path that cannot miss a field added to the proto later, and costs two
 * linear passes, which is cheap next to what a handler does with a document. */
fh_doc *fh_doc_copy(const fh_doc *d)
{
    if (!d)
        return NULL;
    size_t size = flowhost__document__get_packed_size(CD(d));
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return NULL;
    flowhost__document__pack(CD(d), buf);
    Flowhost__Document *copy = flowhost__document__unpack(NULL, size, buf);
    free(buf);
    return (fh_doc *)copy;
}

void fh_doc_destroy(fh_doc **d)
{
    if (!d || !*d)
        return;
    protobuf_c_message_free_unpacked(&D(*d)->base, NULL);
    *d = NULL;
}

/* ---- strings ---- */

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static int set_string(fh_doc *d, char **field, const char *s, const char *what)
{
    if (!d)
        return fh_set_error(FH_E_INVAL, "fh_doc_set_%s: NULL document", what);
    return fh_pb_set_string(field, s);
}

const char *fh_doc_id(const fh_doc *d)
{
    return d ? str_or_empty(CD(d)->id) : "";
}

int fh_doc_set_id(fh_doc *d, const char *id)
{
    return set_string(d, d ? &D(d)->id : NULL, id, "id");
}

const char *fh_doc_parent_id(const fh_doc *d)
{
    return d ? str_or_empty(CD(d)->parent_id) : "";
}

int fh_doc_set_parent_id(fh_doc *d, const char *id)
{
    return set_string(d, d ? &D(d)->parent_id : NULL, id, "parent_id");
}

const char *fh_doc_text(const fh_doc *d)
{
    return d ? str_or_empty(CD(d)->text) : "";
}

int fh_doc_set_text(fh_doc *d, const char *text)
{
    return set_string(d, d ? &D(d)->text : NULL, text, "text");
}

const char *fh_doc_uri(const fh_doc *d)
{
    return d ? str_or_empty(CD(d)->uri) : "";
}

int fh_doc_set_uri(fh_doc *d, const char *uri)
{
    return set_string(d, d ? &D(d)->uri : NULL, uri, "uri");
}

const char *fh_doc_mime_type(const fh_doc *d)
{
    return d ? str_or_empty(CD(d)->mime_type) : "";
}

int fh_doc_set_mime_type(fh_doc *d, const char *mime)
{
    return set_string(d, d ? &D(d)->mime_type : NULL, mime, "mime_type");
}

/* ---- blob ---- */

const void *fh_doc_blob(const fh_doc *d, size_t *len)
{
    size_t n = d ? CD(d)->blob.len : 0;
    if (len)
        *len = n;
    return n ? CD(d)->blob.data : NULL;
}

int fh_doc_set_blob(fh_doc *d, const void *data, size_t len)
{
    if (!d || (len && !data))
        return fh_set_error(FH_E_INVAL, "fh_doc_set_blob: NULL %s", d ? "data" : "document");
    uint8_t *copy = NULL;
    if (len) {
        if (!(copy = malloc(len)))
            return fh_set_error(FH_E_NOMEM, "fh_doc_set_blob: out of memory (%zu bytes)", len);
        memcpy(copy, data, len);
    }
    free(D(d)->blob.data);
    D(d)->blob.data = copy;
    D(d)->blob.len = len;
    return 0;
}

int fh_doc_take_blob(fh_doc *d, void *data, size_t len)
{
    if (!d || !data || !len)
        return fh_set_error(FH_E_INVAL, "fh_doc_take_blob: %s", !d ? "NULL document"
                                                                   : !data ? "NULL data" : "no bytes");
    if (D(d)->blob.data != data) /* taking its own blob again changes nothing */
        free(D(d)->blob.data);
    D(d)->blob.data = data;
    D(d)->blob.len = len;
    return 0;
}

/* ---- tags ---- */

fh_value *fh_doc_tags(fh_doc *d)
{
    if (!d)
        return NULL;
    /* Tags that arrived as something other than a map (another client's mistake) are
     * replaced: the accessor promises a map. */
    if (D(d)->tags && fh_value_type((fh_value *)D(d)->tags) != FH_TYPE_MAP) {
        protobuf_c_message_free_unpacked(&D(d)->tags->base, NULL);
        D(d)->tags = NULL;
    }
    if (!D(d)->tags)
        D(d)->tags = FH_PB_VALUE(fh_value_new_map());
    return (fh_value *)D(d)->tags;
}

const fh_value *fh_doc_tags_get(const fh_doc *d)
{
    if (!d || !CD(d)->tags || fh_value_type((const fh_value *)CD(d)->tags) != FH_TYPE_MAP)
        return NULL;
    return (const fh_value *)CD(d)->tags;
}

/* ---- n-d arrays ---- */

static void ndarray_free(Flowhost__NdArray **a)
{
    if (*a)
        protobuf_c_message_free_unpacked(&(*a)->base, NULL);
    *a = NULL;
}

/* A new NdArray holding copies of DTYPE, SHAPE and DATA; NULL when out of memory. */
static Flowhost__NdArray *ndarray_new(const char *dtype, const uint64_t *shape, size_t ndim,
                                      const void *data, size_t nbytes)
{
    Flowhost__NdArray *a = malloc(sizeof *a);
    if (!a)
        return NULL;
    flowhost__nd_array__init(a);
    if (fh_pb_set_string(&a->dtype, dtype) < 0)
        goto fail;
    if (ndim) {
        if (!(a->shape = malloc(ndim * sizeof *a->shape)))
            goto fail;
        memcpy(a->shape, shape, ndim * sizeof *a->shape);
        a->n_shape = ndim;
    }
    if (nbytes) {
        if (!(a->buffer.data = malloc(nbytes)))
            goto fail;
        memcpy(a->buffer.data, data, nbytes);
        a->buffer.len = nbytes;
    }
    return a;
fail:
    ndarray_free(&a);
    return NULL;
}

const float *fh_doc_embedding(const fh_doc *d, size_t *n)
{
    const Flowhost__NdArray *e = d ? CD(d)->embedding : NULL;
    /* Anything but a whole number of float32s is not an embedding we can hand out as
     * float *; the buffer is malloc'd, so it is suitably aligned. */
    if (!e || strcmp(str_or_empty(e->dtype), "float32") != 0 || e->buffer.len == 0 ||
        e->buffer.len % sizeof(float) != 0) {
        if (n)
            *n = 0;
        return NULL;
    }
    if (n)
        *n = e->buffer.len / sizeof(float);
    return (const float *)e->buffer.data;
}

int fh_doc_set_embedding(fh_doc *d, const float *v, size_t n)
{
    if (!d || (n && !v))
        return fh_set_error(FH_E_INVAL, "fh_doc_set_embedding: NULL %s",
                            d ? "vector" : "document");
    if (n == 0) {
        ndarray_free(&D(d)->embedding);
        return 0;
    }
    if (n > SIZE_MAX / sizeof(float))
        return fh_set_error(FH_E_RANGE, "fh_doc_set_embedding: %zu floats is too many", n);
    /* The wire format is little endian, as is every machine we run on: plain memcpy. */
    uint64_t shape = n;
    Flowhost__NdArray *a = ndarray_new("float32", &shape, 1, v, n * sizeof(float));
    if (!a)
        return fh_set_error(FH_E_NOMEM, "fh_doc_set_embedding: out of memory");
    ndarray_free(&D(d)->embedding);
    D(d)->embedding = a;
    return 0;
}

const void *fh_doc_tensor(const fh_doc *d, const char **dtype, const uint64_t **shape,
                          size_t *ndim, size_t *nbytes)
{
    const Flowhost__NdArray *t = d ? CD(d)->tensor : NULL;
    if (dtype)
        *dtype = t ? str_or_empty(t->dtype) : "";
    if (shape)
        *shape = t ? t->shape : NULL;
    if (ndim)
        *ndim = t ? t->n_shape : 0;
    if (nbytes)
        *nbytes = t ? t->buffer.len : 0;
    if (!t)
        return NULL;
    /* A present tensor with no elements still answers non-NULL, so that "absent" and
     * "empty" stay distinct. */
    return t->buffer.data ? (const void *)t->buffer.data : (const void *)"";
}

/* Bytes per element of the numpy dtypes we know; 0 for others (not checked). */
static size_t dtype_size(const char *dtype)
{
    static const struct {
        const char *name;
        size_t size;
    } known[] = {
        {"bool", 1},    {"int8", 1},    {"uint8", 1},   {"int16", 2},  {"uint16", 2},
        {"float16", 2}, {"int32", 4},   {"uint32", 4},  {"float32", 4}, {"int64", 8},
        {"uint64", 8},  {"float64", 8}, {"complex64", 8}, {"complex128", 16},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].name, dtype) == 0)
            return known[i].size;
    return 0;
}

/* DTYPE NULL removes the tensor. For a known dtype, NBYTES must match the shape, so that
 * a reader can trust shape and data to agree; FH_E_INVAL otherwise. */
int fh_doc_set_tensor(fh_doc *d, const char *dtype, const uint64_t *shape, size_t ndim,
                      const void *data, size_t nbytes)
{
    if (!d)
        return fh_set_error(FH_E_INVAL, "fh_doc_set_tensor: NULL document");
    if (!dtype) {
        ndarray_free(&D(d)->tensor);
        return 0;
    }
    if (!*dtype || (ndim && !shape) || (nbytes && !data))
        return fh_set_error(FH_E_INVAL, "fh_doc_set_tensor: %s",
                            !*dtype ? "empty dtype" : ndim && !shape ? "NULL shape" : "NULL data");
    size_t item = dtype_size(dtype);
    if (item) {
        /* Count elements with overflow checks: shapes can come from outside input. */
        uint64_t count = 1;
        for (size_t i = 0; i < ndim; i++) {
            if (shape[i] && count > UINT64_MAX / shape[i])
                return fh_set_error(FH_E_INVAL, "fh_doc_set_tensor: shape too large");
            count *= shape[i];
        }
        if (count > UINT64_MAX / item || count * item != nbytes)
            return fh_set_error(FH_E_INVAL,
                                "fh_doc_set_tensor: %zu bytes do not match a %s tensor of "
                                "%llu elements",
                                nbytes, dtype, (unsigned long long)count);
    }
    Flowhost__NdArray *a = ndarray_new(dtype, shape, ndim, data, nbytes);
    if (!a)
        return fh_set_error(FH_E_NOMEM, "fh_doc_set_tensor: out of memory");
    ndarray_free(&D(d)->tensor);
    D(d)->tensor = a;
    return 0;
}

/* ---- numbers ---- */

double fh_doc_weight(const fh_doc *d)
{
    return d ? CD(d)->weight : 0.0;
}

void fh_doc_set_weight(fh_doc *d, double w)
{
    if (d)
        D(d)->weight = w;
}

int32_t fh_doc_granularity(const fh_doc *d)
{
    return d ? CD(d)->granularity : 0;
}

void fh_doc_set_granularity(fh_doc *d, int32_t g)
{
    if (d)
        D(d)->granularity = g;
}

int32_t fh_doc_adjacency(const fh_doc *d)
{
    return d ? CD(d)->adjacency : 0;
}

void fh_doc_set_adjacency(fh_doc *d, int32_t a)
{
    if (d)
        D(d)->adjacency = a;
}

/* ---- scores ---- */

bool fh_doc_score(const fh_doc *d, const char *name, double *out)
{
    if (!d || !name)
        return false;
    for (size_t i = 0; i < CD(d)->n_scores; i++) {
        if (strcmp(str_or_empty(CD(d)->scores[i]->name), name) == 0) {
            if (out)
                *out = CD(d)->scores[i]->value;
            return true;
        }
    }
    return false;
}

int fh_doc_set_score(fh_doc *d, const char *name, double value)
{
    if (!d || !name)
        return fh_set_error(FH_E_INVAL, "fh_doc_set_score: NULL %s", d ? "name" : "document");
    Flowhost__Document *doc = D(d);
    for (size_t i = 0; i < doc->n_scores; i++) {
        if (strcmp(str_or_empty(doc->scores[i]->name), name) == 0) {
            doc->scores[i]->value = value;
            return 0;
        }
    }
    Flowhost__NamedScore **grown = realloc(doc->scores, (doc->n_scores + 1) * sizeof *grown);
    if (!grown)
        return fh_set_error(FH_E_NOMEM, "fh_doc_set_score: out of memory");
    doc->scores = grown;
    Flowhost__NamedScore *s = malloc(sizeof *s);
    if (!s)
        return fh_set_error(FH_E_NOMEM, "fh_doc_set_score: out of memory");
    flowhost__named_score__init(s);
    if (fh_pb_set_string(&s->name, name) < 0) {
        free(s);
        return FH_E_NOMEM;
    }
    s->value = value;
    doc->scores[doc->n_scores++] = s;
    return 0;
}

size_t fh_doc_score_count(const fh_doc *d)
{
    return d ? CD(d)->n_scores : 0;
}

const char *fh_doc_score_at(const fh_doc *d, size_t i, double *value)
{
    if (!d || i >= CD(d)->n_scores)
        return NULL;
    if (value)
        *value = CD(d)->scores[i]->value;
    return str_or_empty(CD(d)->scores[i]->name);
}

/* ---- repeated documents: chunks, matches, and the array ---- */

/* Appends ITEM to the repeated field (*ITEMS, *N); takes ownership of ITEM. */
static int docs_push(Flowhost__Document ***items, size_t *n, fh_doc *item, const char *what)
{
    if (!item)
        return fh_set_error(FH_E_INVAL, "%s: NULL document", what);
    Flowhost__Document **grown = realloc(*items, (*n + 1) * sizeof *grown);
    if (!grown) {
        fh_doc_destroy(&item);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", what);
    }
    *items = grown;
    (*items)[(*n)++] = D(item);
    return 0;
}

/* Detaches the I-th of (ITEMS, *N) and returns it; the rest move down. */
static Flowhost__Document *docs_take(Flowhost__Document **items, size_t *n, size_t i)
{
    if (i >= *n)
        return NULL;
    Flowhost__Document *taken = items[i];
    memmove(&items[i], &items[i + 1], (*n - i - 1) * sizeof *items);
    (*n)--;
    return taken;
}

size_t fh_doc_chunk_count(const fh_doc *d)
{
    return d ? CD(d)->n_chunks : 0;
}

fh_doc *fh_doc_chunk_at(const fh_doc *d, size_t i)
{
    return d && i < CD(d)->n_chunks ? (fh_doc *)CD(d)->chunks[i] : NULL;
}

int fh_doc_add_chunk(fh_doc *d, fh_doc *chunk)
{
    if (!d || !chunk) {
        fh_doc_destroy(&chunk);
        return fh_set_error(FH_E_INVAL, "fh_doc_add_chunk: NULL %s", d ? "chunk" : "document");
    }
    if (fh_doc_set_parent_id(chunk, fh_doc_id(d)) < 0) {
        fh_doc_destroy(&chunk);
        return FH_E_NOMEM;
    }
    D(chunk)->granularity = CD(d)->granularity + 1;
    return docs_push(&D(d)->chunks, &D(d)->n_chunks, chunk, "fh_doc_add_chunk");
}

int fh_doc_remove_chunk(fh_doc *d, size_t i)
{
    fh_doc *c = d ? (fh_doc *)docs_take(D(d)->chunks, &D(d)->n_chunks, i) : NULL;
    if (!c)
        return fh_set_error(FH_E_RANGE, "chunk %zu out of range (%zu chunks)", i,
                            fh_doc_chunk_count(d));
    fh_doc_destroy(&c);
    return 0;
}

size_t fh_doc_match_count(const fh_doc *d)
{
    return d ? CD(d)->n_matches : 0;
}

fh_doc *fh_doc_match_at(const fh_doc *d, size_t i)
{
    return d && i < CD(d)->n_matches ? (fh_doc *)CD(d)->matches[i] : NULL;
}

int fh_doc_add_match(fh_doc *d, fh_doc *match)
{
    if (!d || !match) {
        fh_doc_destroy(&match);
        return fh_set_error(FH_E_INVAL, "fh_doc_add_match: NULL %s", d ? "match" : "document");
    }
    D(match)->adjacency = CD(d)->adjacency + 1;
    return docs_push(&D(d)->matches, &D(d)->n_matches, match, "fh_doc_add_match");
}

int fh_doc_remove_match(fh_doc *d, size_t i)
{
    fh_doc *m = d ? (fh_doc *)docs_take(D(d)->matches, &D(d)->n_matches, i) : NULL;
    if (!m)
        return fh_set_error(FH_E_RANGE, "match %zu out of range (%zu matches)", i,
                            fh_doc_match_count(d));
    fh_doc_destroy(&m);
    return 0;
}

fh_docs *fh_docs_new(void)
{
    Flowhost__DocumentArray *a = malloc(sizeof *a);
    if (a)
        flowhost__document_array__init(a);
    return (fh_docs *)a;
}

void fh_docs_destroy(fh_docs **docs)
{
    if (!docs || !*docs)
        return;
    protobuf_c_message_free_unpacked(&FH_PB_DOCS(*docs)->base, NULL);
    *docs = NULL;
}

size_t fh_docs_len(const fh_docs *docs)
{
    return docs ? FH_PB_CDOCS(docs)->n_docs : 0;
}

fh_doc *fh_docs_at(const fh_docs *docs, size_t i)
{
    return docs && i < FH_PB_CDOCS(docs)->n_docs ? (fh_doc *)FH_PB_CDOCS(docs)->docs[i] : NULL;
}

fh_doc *fh_docs_find(const fh_docs *docs, const char *id)
{
    if (!docs || !id)
        return NULL;
    for (size_t i = 0; i < FH_PB_CDOCS(docs)->n_docs; i++)
        if (strcmp(fh_doc_id((fh_doc *)FH_PB_CDOCS(docs)->docs[i]), id) == 0)
            return (fh_doc *)FH_PB_CDOCS(docs)->docs[i];
    return NULL;
}

int fh_docs_append(fh_docs *docs, fh_doc *d)
{
    if (!docs) {
        fh_doc_destroy(&d);
        return fh_set_error(FH_E_INVAL, "fh_docs_append: NULL array");
    }
    return docs_push(&FH_PB_DOCS(docs)->docs, &FH_PB_DOCS(docs)->n_docs, d, "fh_docs_append");
}

fh_doc *fh_docs_take(fh_docs *docs, size_t i)
{
    if (!docs)
        return NULL;
    return (fh_doc *)docs_take(FH_PB_DOCS(docs)->docs, &FH_PB_DOCS(docs)->n_docs, i);
}

int fh_docs_splice(fh_docs *dst, fh_docs *src, size_t n)
{
    Flowhost__DocumentArray *d = FH_PB_DOCS(dst), *s = FH_PB_DOCS(src);
    if (n == 0)
        return 0;
    Flowhost__Document **grown = realloc(d->docs, (d->n_docs + n) * sizeof *grown);
    if (grown == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    d->docs = grown;
    memcpy(d->docs + d->n_docs, s->docs, n * sizeof *s->docs);
    d->n_docs += n;
    memmove(s->docs, s->docs + n, (s->n_docs - n) * sizeof *s->docs);
    s->n_docs -= n;
    return 0;
}

int fh_docs_remove(fh_docs *docs, size_t i)
{
    fh_doc *d = fh_docs_take(docs, i);
    if (!d)
        return fh_set_error(FH_E_RANGE, "document %zu out of range (%zu documents)", i,
                            fh_docs_len(docs));
    fh_doc_destroy(&d);
    return 0;
}

void fh_docs_clear(fh_docs *docs)
{
    if (!docs)
        return;
    Flowhost__DocumentArray *a = FH_PB_DOCS(docs);
    for (size_t i = 0; i < a->n_docs; i++)
        protobuf_c_message_free_unpacked(&a->docs[i]->base, NULL);
    free(a->docs);
    a->docs = NULL;
    a->n_docs = 0;
}

/* The merge of document arrays at a join or over shards: see reduce.h for the rule.
 *
 * Documents are the generated protobuf-c structs (pb.h), every part of them malloc'd on
 * its own, so a merge moves pointers: a field that a later document gives and the first
 * lacks is swapped into the first (the later one, which is then destroyed, takes the
 * first's empty value with it), and a document kept whole is moved into the result's
 * array. Nothing is copied, and every step leaves each tree whole, so a failure half-way
 * only has to destroy what is left. */
#include "reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "pb.h"
#include "siphash.h"

#include <flowhost/error.h>

/* Lists this short are searched by a scan rather than hashed. */
#define SCAN_MAX 8

/* ---- an index of documents by id ---- */

/* Open addressing with linear probing over document pointers, sized once for every
 * document the list can come to hold (at most half full), so it never grows. Ids are
 * hashed with the keyed SipHash: they come from clients. */
typedef struct id_index {
    Flowhost__Document **slot; /* NULL: free */
    size_t mask;               /* slots - 1 (a power of two) */
} id_index;

static int index_init(id_index *x, size_t most)
{
    size_t n = 16;
    while (n < 2 * most) {
        if (n > SIZE_MAX / 4 / sizeof *x->slot)
            return fh_set_error(FH_E_NOMEM, "cannot merge documents: out of memory");
        n *= 2;
    }
    x->slot = calloc(n, sizeof *x->slot);
    x->mask = n - 1;
    return x->slot ? 0 : fh_set_error(FH_E_NOMEM, "cannot merge documents: out of memory");
}

static void index_free(id_index *x)
{
    free(x->slot);
    x->slot = NULL;
}

/* The document of X whose id is ID, or NULL with *AT the free slot where it would go. */
static Flowhost__Document *index_find(const id_index *x, const char *id, size_t *at)
{
    size_t i = (size_t)fh_siphash(id, strlen(id)) & x->mask;
    for (; x->slot[i] != NULL; i = (i + 1) & x->mask)
        if (strcmp(x->slot[i]->id, id) == 0)
            return x->slot[i];
    *at = i;
    return NULL;
}

/* Adds D unless X holds its id already (the first document of an id is the one found). */
static void index_add(id_index *x, Flowhost__Document *d)
{
    size_t at;
    if (index_find(x, d->id, &at) == NULL)
        x->slot[at] = d;
}

/* ---- one document into another ---- */

static bool str_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

static bool ndarray_empty(const Flowhost__NdArray *a)
{
    return a == NULL || (a->buffer.len == 0 && a->n_shape == 0 && !a->buffer_attached);
}

static bool tags_empty(const Flowhost__Value *v)
{
    return v == NULL || fh_value_len((const fh_value *)v) == 0;
}

#define SWAP(type, a, b)                                                                   \
    do {                                                                                   \
        type swap_ = (a);                                                                  \
        (a) = (b);                                                                         \
        (b) = swap_;                                                                       \
    } while (0)

static int reduce_list(Flowhost__Document ***dst, size_t *n_dst, Flowhost__Document ***src,
                       size_t *n_src, id_index *shared);

/* Merges B into A (same id): each field A lacks and B has is swapped in, then chunks and
 * matches are merged. B is left whole (holding what A did not take) for the caller to
 * destroy. */
static int merge_doc(Flowhost__Document *a, Flowhost__Document *b)
{
    if (str_empty(a->parent_id) && !str_empty(b->parent_id))
        SWAP(char *, a->parent_id, b->parent_id);
    if (str_empty(a->text) && !str_empty(b->text))
        SWAP(char *, a->text, b->text);
    if (a->blob.len == 0 && !a->blob_attached && (b->blob.len > 0 || b->blob_attached)) {
        SWAP(ProtobufCBinaryData, a->blob, b->blob);
        SWAP(protobuf_c_boolean, a->blob_attached, b->blob_attached);
    }
    if (str_empty(a->uri) && !str_empty(b->uri))
        SWAP(char *, a->uri, b->uri);
    if (str_empty(a->mime_type) && !str_empty(b->mime_type))
        SWAP(char *, a->mime_type, b->mime_type);
    if (tags_empty(a->tags) && !tags_empty(b->tags))
        SWAP(Flowhost__Value *, a->tags, b->tags);
    if (ndarray_empty(a->embedding) && !ndarray_empty(b->embedding))
        SWAP(Flowhost__NdArray *, a->embedding, b->embedding);
    if (ndarray_empty(a->tensor) && !ndarray_empty(b->tensor))
        SWAP(Flowhost__NdArray *, a->tensor, b->tensor);
    if (a->n_scores == 0 && b->n_scores > 0) {
        SWAP(Flowhost__NamedScore **, a->scores, b->scores);
        SWAP(size_t, a->n_scores, b->n_scores);
    }
    if (a->weight == 0 && b->weight != 0)
        a->weight = b->weight;
    if (a->granularity == 0)
        a->granularity = b->granularity;
    if (a->adjacency == 0)
        a->adjacency = b->adjacency;
    int rc = reduce_list(&a->chunks, &a->n_chunks, &b->chunks, &b->n_chunks, NULL);
    if (rc == 0)
        rc = reduce_list(&a->matches, &a->n_matches, &b->matches, &b->n_matches, NULL);
    return rc;
}

/* ---- one list into another ---- */

static void free_doc(Flowhost__Document *d)
{
    protobuf_c_message_free_unpacked(&d->base, NULL);
}

/* Destroys SRC[FROM..N-1] and the array; *SRC and *N are left empty. */
static void drop_rest(Flowhost__Document ***src, size_t *n, size_t from)
{
    for (size_t i = from; i < *n; i++)
        free_doc((*src)[i]);
    free(*src);
    *src = NULL;
    *n = 0;
}

/* The document of DST[0..N-1] whose id is ID, the first one, or NULL. */
static Flowhost__Document *scan_find(Flowhost__Document **dst, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(dst[i]->id, id) == 0)
            return dst[i];
    return NULL;
}

/* Merges the list SRC into DST (chunks into chunks, matches into matches, or the
 * documents of a part into the result): each document of SRC is merged into DST's
 * document of its id, or appended. SHARED, when given, indexes DST already and has room
 * for every document of SRC; otherwise a short list is scanned and a longer one indexed
 * here. SRC is emptied whatever the outcome (its documents merged, moved or destroyed).
 * Returns 0 or FH_E_NOMEM; DST stays whole either way. */
static int reduce_list(Flowhost__Document ***dst, size_t *n_dst, Flowhost__Document ***src,
                       size_t *n_src, id_index *shared)
{
    size_t n = *n_src;
    if (n == 0)
        return 0;
    id_index local = {0};
    id_index *idx = shared;
    Flowhost__Document **grown = NULL;
    if (*n_dst > SIZE_MAX / sizeof *grown - n ||
        (grown = realloc(*dst, (*n_dst + n) * sizeof *grown)) == NULL) {
        drop_rest(src, n_src, 0);
        return fh_set_error(FH_E_NOMEM, "cannot merge documents: out of memory");
    }
    *dst = grown;
    if (idx == NULL && *n_dst + n > SCAN_MAX) {
        if (index_init(&local, *n_dst + n) != 0) {
            drop_rest(src, n_src, 0);
            return FH_E_NOMEM;
        }
        for (size_t i = 0; i < *n_dst; i++)
            index_add(&local, (*dst)[i]);
        idx = &local;
    }
    int rc = 0;
    size_t i = 0;
    for (; rc == 0 && i < n; i++) {
        Flowhost__Document *d = (*src)[i];
        size_t at = 0;
        Flowhost__Document *same = idx ? index_find(idx, d->id, &at) : scan_find(*dst, *n_dst, d->id);
        if (same == NULL) {
            (*dst)[(*n_dst)++] = d; /* room was made above */
            if (idx != NULL)
                idx->slot[at] = d;
            continue;
        }
        rc = merge_doc(same, d);
        free_doc(d);
    }
    drop_rest(src, n_src, i);
    index_free(&local);
    return rc;
}

/* ---- matches sorted by score, cut to top_k ---- */

typedef struct ranked {
    Flowhost__Document *match;
    double score;
    bool has;      /* the score is present and a number */
    size_t at;     /* position before sorting: ties keep it */
} ranked;

static int by_score_desc(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->has != b->has)
        return a->has ? -1 : 1;
    if (a->has && a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->at < b->at ? -1 : a->at > b->at;
}

static int by_score_asc(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->has != b->has)
        return a->has ? -1 : 1;
    if (a->has && a->score != b->score)
        return a->score < b->score ? -1 : 1;
    return a->at < b->at ? -1 : a->at > b->at;
}

/* The score NAME of D: true with *OUT when D has it. */
static bool score_of(const Flowhost__Document *d, const char *name, double *out)
{
    for (size_t i = 0; i < d->n_scores; i++)
        if (d->scores[i] != NULL && strcmp(d->scores[i]->name, name) == 0) {
            *out = d->scores[i]->value;
            return true;
        }
    return false;
}

/* Sorts D's matches by score and keeps the TOP_K best; then the same for D's chunks.
 * Returns 0 or FH_E_NOMEM (D's matches then unchanged). */
static int sort_matches(Flowhost__Document *d, const fh_reduce_options *o)
{
    if (d->n_matches > 0) {
        const char *name = o->score;
        for (size_t i = 0; name == NULL && i < d->n_matches; i++)
            if (d->matches[i]->n_scores > 0 && d->matches[i]->scores[0] != NULL)
                name = d->matches[i]->scores[0]->name;
        ranked *r = malloc(d->n_matches * sizeof *r);
        if (r == NULL)
            return fh_set_error(FH_E_NOMEM, "cannot merge documents: out of memory");
        for (size_t i = 0; i < d->n_matches; i++) {
            r[i] = (ranked){.match = d->matches[i], .at = i};
            r[i].has = name != NULL && score_of(d->matches[i], name, &r[i].score) &&
                       !isnan(r[i].score);
        }
        qsort(r, d->n_matches, sizeof *r, o->lower_is_better ? by_score_asc : by_score_desc);
        size_t keep = (uint64_t)o->top_k < d->n_matches ? (size_t)o->top_k : d->n_matches;
        for (size_t i = 0; i < d->n_matches; i++) {
            if (i < keep)
                d->matches[i] = r[i].match;
            else
                free_doc(r[i].match);
        }
        d->n_matches = keep;
        free(r);
    }
    for (size_t i = 0; i < d->n_chunks; i++) {
        int rc = sort_matches(d->chunks[i], o);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- the entries ---- */

int64_t fh_reduce_top_k(const fh_value *params)
{
    int64_t k = fh_map_get_int(params, "top_k", 0);
    return k > 0 ? k : 0;
}

int fh_reduce_docs(fh_docs **parts, size_t n, const fh_reduce_options *opts, fh_docs **out)
{
    static const fh_reduce_options none = {0};
    const fh_reduce_options *o = opts ? opts : &none;
    *out = NULL;
    int rc = n == 0 ? fh_set_error(FH_E_INVAL, "cannot merge documents: no parts") : 0;
    size_t total = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (parts[i] == NULL)
            rc = fh_set_error(FH_E_INVAL, "cannot merge documents: part %zu of %zu is NULL", i + 1, n);
        else
            total += FH_PB_DOCS(parts[i])->n_docs;
    }
    id_index idx = {0};
    if (rc == 0)
        rc = index_init(&idx, total);
    Flowhost__DocumentArray *res = rc == 0 ? FH_PB_DOCS(parts[0]) : NULL;
    if (rc == 0) {
        parts[0] = NULL;
        for (size_t i = 0; i < res->n_docs; i++)
            index_add(&idx, res->docs[i]);
    }
    for (size_t i = 1; rc == 0 && i < n; i++) {
        Flowhost__DocumentArray *p = FH_PB_DOCS(parts[i]);
        rc = reduce_list(&res->docs, &res->n_docs, &p->docs, &p->n_docs, &idx);
    }
    index_free(&idx);
    for (size_t i = 0; rc == 0 && o->top_k > 0 && i < res->n_docs; i++)
        rc = sort_matches(res->docs[i], o);
    for (size_t i = 0; i < n; i++)
        fh_docs_destroy(&parts[i]);
    if (rc != 0) {
        fh_docs *r = (fh_docs *)res;
        fh_docs_destroy(&r);
        return rc;
    }
    *out = (fh_docs *)res;
    return 0;
}

/* Whether P holds no documents: no documents frame (or an empty one: an array of none
 * packs to 0 bytes) and no blob frame. */
static bool wire_empty(const fh_wire_docs *p)
{
    return zmq_msg_size((zmq_msg_t *)&p->docs) == 0 && p->n_blobs == 0;
}

static bool frame_same(const zmq_msg_t *a, const zmq_msg_t *b)
{
    size_t len = zmq_msg_size((zmq_msg_t *)a);
    if (len != zmq_msg_size((zmq_msg_t *)b))
        return false;
    const void *da = zmq_msg_data((zmq_msg_t *)a), *db = zmq_msg_data((zmq_msg_t *)b);
    return da == db || memcmp(da, db, len) == 0;
}

/* Whether A and B are the same frames, byte for byte. */
static bool wire_same(const fh_wire_docs *a, const fh_wire_docs *b)
{
    if (a->n_blobs != b->n_blobs || !frame_same(&a->docs, &b->docs))
        return false;
    for (size_t i = 0; i < a->n_blobs; i++)
        if (!frame_same(&a->blobs[i], &b->blobs[i]))
            return false;
    return true;
}

/* The fast paths of fh_reduce_wire: 1 when OUT was made from the parts without decoding
 * (or the shared result is refused: *RC says), 0 when they must be decoded. */
static int reduce_undecoded(const fh_wire_docs *parts, size_t n, size_t max, fh_wire_docs *out,
                            int *rc)
{
    const fh_wire_docs *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (wire_empty(&parts[i]))
            continue;
        if (first == NULL)
            first = &parts[i];
        else if (!wire_same(first, &parts[i]))
            return 0;
    }
    *rc = 0;
    if (first == NULL)
        return 1; /* nobody has documents: OUT stays empty */
    size_t size = fh_wire_docs_size(first);
    if (size > max)
        *rc = fh_set_error(FH_E_RANGE, "cannot merge documents: they take %zu bytes, over "
                           "max_message_size (%zu)", size, max);
    else
        *rc = fh_wire_docs_share(out, first);
    return 1;
}

int fh_reduce_wire(const fh_wire_docs *parts, size_t n, const fh_reduce_options *opts,
                   fh_wire_docs *out)
{
    static const fh_reduce_options none = {0};
    const fh_reduce_options *o = opts ? opts : &none;
    fh_wire_docs_init(out);
    if (n == 0)
        return fh_set_error(FH_E_INVAL, "cannot merge documents: no parts");
    size_t max = o->max_message_size ? o->max_message_size : FH_DECODE_DEFAULT_MAX;
    int rc;
    if (o->top_k <= 0 && reduce_undecoded(parts, n, max, out, &rc))
        return rc;

    /* Everything decoded at once may take what one message's documents may. */
    size_t budget = max > SIZE_MAX / FH_DECODE_DOCS_FACTOR ? SIZE_MAX : FH_DECODE_DOCS_FACTOR * max;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t blobs = 0, decoded = 0;
        for (size_t b = 0; b < parts[i].n_blobs; b++)
            blobs += zmq_msg_size(&parts[i].blobs[b]);
        zmq_msg_t *f = (zmq_msg_t *)&parts[i].docs;
        /* The walk allocates nothing and is linear in a frame that arrived within
         * the socket's limit: no bound is needed for it, only on what it finds. */
        rc = fh_pb_measure(&flowhost__document_array__descriptor, zmq_msg_data(f),
                           zmq_msg_size(f), SIZE_MAX, &decoded);
        if (rc != 0)
            return fh_set_error(rc, "cannot merge documents: part %zu of %zu: %s", i + 1, n,
                                fh_last_error());
        if (blobs > budget - used || decoded > budget - used - blobs)
            return fh_set_error(FH_E_RANGE, "cannot merge documents: with part %zu of %zu they "
                                "would take more than %zu bytes decoded (%d x max_message_size)",
                                i + 1, n, budget, FH_DECODE_DOCS_FACTOR);
        used += decoded + blobs;
    }
    fh_docs **docs = calloc(n, sizeof *docs);
    if (docs == NULL)
        return fh_set_error(FH_E_NOMEM, "cannot merge documents: out of memory");
    rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = fh_docs_decode_wire_max(&parts[i], budget, &docs[i])) != 0)
            rc = fh_set_error(rc, "cannot merge documents: part %zu of %zu: %s", i + 1, n,
                              fh_last_error());
    fh_docs *res = NULL;
    if (rc == 0)
        rc = fh_reduce_docs(docs, n, o, &res);
    for (size_t i = 0; i < n; i++)
        fh_docs_destroy(&docs[i]);
    free(docs);
    if (rc != 0)
        return rc;
    size_t size = protobuf_c_message_get_packed_size(&FH_PB_DOCS(res)->base);
    if (size > max)
        rc = fh_set_error(FH_E_RANGE, "cannot merge documents: the result takes %zu bytes, "
                          "over max_message_size (%zu)", size, max);
    else
        rc = fh_docs_pack_wire(res, 1, out);
    fh_docs_destroy(&res);
    return rc;
}

/* CosineIndexer: keeps documents and their embeddings in a docstore under its workspace,
 * and answers /search with the top-k documents by cosine similarity.
 *
 *   /index, /update  store each document (it needs an embedding: put an encoder first);
 *                    a document whose id is stored already is replaced. The documents go
 *                    on without their embeddings, which are stored.
 *   /search          each query document (with an embedding) gets its top_k matches, best
 *                    first, each with the score "cosine" (and no embedding).
 *   /delete          deletes the documents with the ids of the request's documents.
 *
 * The vectors are also kept in memory (documents stay on disk), so that a search is one
 * pass over a dense matrix. uses_with: top_k (int, default 5); parameters.top_k
 * overrides it per request. Embeddings are expected to be of unit length (NgramEncoder
 * makes them so): the dot product is then the cosine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/docstore.h>

#include "search.h"

typedef struct indexer {
    fh_docstore *store;
    int64_t top_k;
    size_t dim;    /* of the first vector stored; 0 before */
    size_t n, cap; /* rows */
    char **ids;    /* row -> id */
    float *vecs;   /* row-major, n x dim */
} indexer;

static ssize_t find_row(const indexer *x, const char *id)
{
    /* Linear: updates and deletes are rare next to searches, which scan every row. */
    for (size_t r = 0; r < x->n; r++)
        if (strcmp(x->ids[r], id) == 0)
            return (ssize_t)r;
    return -1;
}

/* Puts VEC (x->dim floats) as the row of ID: replaces its row or adds one. */
static int set_row(fh_ctx *ctx, indexer *x, const char *id, const float *vec, size_t dim)
{
    if (x->dim == 0)
        x->dim = dim;
    if (dim != x->dim)
        return fh_ctx_fail(ctx, "document '%s' has an embedding of %zu values, the index holds %zu",
                           id, dim, x->dim);
    ssize_t r = find_row(x, id);
    if (r < 0) {
        if (x->n == x->cap) {
            size_t cap = x->cap ? 2 * x->cap : 1024;
            char **ids = realloc(x->ids, cap * sizeof *ids);
            if (ids == NULL)
                return fh_ctx_fail(ctx, "out of memory");
            x->ids = ids;
            float *vecs = realloc(x->vecs, cap * x->dim * sizeof *vecs);
            if (vecs == NULL)
                return fh_ctx_fail(ctx, "out of memory");
            x->vecs = vecs;
            x->cap = cap;
        }
        if ((x->ids[x->n] = strdup(id)) == NULL)
            return fh_ctx_fail(ctx, "out of memory");
        r = (ssize_t)x->n++;
    }
    memcpy(x->vecs + (size_t)r * x->dim, vec, x->dim * sizeof *vec);
    return 0;
}

static void remove_row(indexer *x, size_t r)
{
    free(x->ids[r]);
    x->n--;
    if (r != x->n) { /* the last row takes its place: order does not matter here */
        x->ids[r] = x->ids[x->n];
        memcpy(x->vecs + r * x->dim, x->vecs + x->n * x->dim, x->dim * sizeof *x->vecs);
    }
}

static void indexer_fini(void *state)
{
    indexer *x = state;
    if (x == NULL)
        return;
    fh_docstore_close(&x->store);
    for (size_t r = 0; r < x->n; r++)
        free(x->ids[r]);
    free(x->ids);
    free(x->vecs);
    free(x);
}

static int indexer_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    indexer *x = calloc(1, sizeof *x);
    if (x == NULL)
        return fh_ctx_fail(ctx, "out of memory");
    *state = x;
    x->top_k = fh_map_get_int(with, "top_k", 5);
    char path[4096];
    snprintf(path, sizeof path, "%s/index", metas->workspace);
    if (fh_docstore_open(path, FH_DOCSTORE_CREATE, &x->store) != 0)
        return fh_ctx_fail(ctx, "%s", fh_last_error());
    /* Rebuild the vectors from what an earlier run stored. */
    size_t len = fh_docstore_len(x->store);
    for (size_t i = 0; i < len; i++) {
        fh_doc *d;
        if (fh_docstore_get_at(x->store, i, &d) != 0)
            return fh_ctx_fail(ctx, "%s", fh_last_error());
        size_t dim;
        const float *vec = fh_doc_embedding(d, &dim);
        int rc = vec ? set_row(ctx, x, fh_doc_id(d), vec, dim) : 0;
        fh_doc_destroy(&d);
        if (rc != 0)
            return rc;
    }
    fh_ctx_log(ctx, FH_LOG_INFO, "%zu documents in %s", len, path);
    return 0;
}

static int store_docs(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    indexer *x = fh_ctx_state(ctx);
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_doc *d = fh_docs_at(docs, i);
        size_t dim;
        const float *vec = fh_doc_embedding(d, &dim);
        if (vec == NULL)
            return fh_ctx_fail(ctx, "document '%s' has no embedding: put an encoder before me",
                               fh_doc_id(d));
        int rc = set_row(ctx, x, fh_doc_id(d), vec, dim);
        if (rc != 0)
            return rc;
        if (fh_docstore_put(x->store, d) != 0)
            return fh_ctx_fail(ctx, "%s", fh_last_error());
        fh_doc_set_embedding(d, NULL, 0); /* stored: no need to send it back */
    }
    return 0;
}

static int delete_docs(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    indexer *x = fh_ctx_state(ctx);
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        const char *id = fh_doc_id(fh_docs_at(docs, i));
        ssize_t r = find_row(x, id);
        if (r < 0)
            continue; /* deleting what is not there is not an error */
        remove_row(x, (size_t)r);
        if (fh_docstore_delete(x->store, id) != 0)
            return fh_ctx_fail(ctx, "%s", fh_last_error());
    }
    return 0;
}

/* The K best rows for VEC, best first, in ROWS/SCORES (K entries at most); returns how
 * many. Insertion into a small sorted array: k is small next to n. */
static size_t top_k(const indexer *x, const float *vec, size_t k, size_t *rows, float *scores)
{
    size_t have = 0;
    for (size_t r = 0; r < x->n; r++) {
        const float *v = x->vecs + r * x->dim;
        float s = 0;
        for (size_t j = 0; j < x->dim; j++)
            s += v[j] * vec[j];
        if (have == k && s <= scores[k - 1])
            continue;
        size_t at = have < k ? have++ : k - 1;
        while (at > 0 && scores[at - 1] < s) {
            scores[at] = scores[at - 1];
            rows[at] = rows[at - 1];
            at--;
        }
        scores[at] = s;
        rows[at] = r;
    }
    return have;
}

static int search(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    indexer *x = fh_ctx_state(ctx);
    int64_t k = fh_map_get_int(params, "top_k", x->top_k);
    if (k < 1 || k > 1000)
        return fh_ctx_fail(ctx, "top_k must be an int from 1 to 1000");
    size_t *rows = malloc((size_t)k * sizeof *rows);
    float *scores = malloc((size_t)k * sizeof *scores);
    int rc = rows && scores ? 0 : fh_ctx_fail(ctx, "out of memory");
    for (size_t i = 0; rc == 0 && i < fh_docs_len(docs); i++) {
        fh_doc *q = fh_docs_at(docs, i);
        size_t dim;
        const float *vec = fh_doc_embedding(q, &dim);
        if (vec == NULL || dim != x->dim) {
            if (x->n == 0)
                continue; /* an empty index matches nothing */
            rc = fh_ctx_fail(ctx, "query '%s' needs an embedding of %zu values", fh_doc_id(q), x->dim);
            break;
        }
        size_t found = top_k(x, vec, (size_t)k, rows, scores);
        for (size_t m = 0; rc == 0 && m < found; m++) {
            fh_doc *match;
            if (fh_docstore_get(x->store, x->ids[rows[m]], &match) != 0) {
                rc = fh_ctx_fail(ctx, "%s", fh_last_error());
                break;
            }
            fh_doc_set_embedding(match, NULL, 0);
            if (fh_doc_set_score(match, "cosine", scores[m]) != 0 || fh_doc_add_match(q, match) != 0)
                rc = fh_ctx_fail(ctx, "out of memory");
        }
    }
    free(rows);
    free(scores);
    return rc;
}

FH_EXECUTOR(CosineIndexer, indexer_init, indexer_fini,
            FH_REQUESTS(store_docs, "/index", "/update"),
            FH_REQUESTS(search, "/search"),
            FH_REQUESTS(delete_docs, "/delete"));

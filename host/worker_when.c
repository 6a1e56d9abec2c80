/* `when:` at the worker: the handler gets only the documents the executor's condition
 * matches; the others are set aside and put back around what the handler gives.
 *
 * The rule, per request (in a batch each request is filtered on its own before the
 * merge): the handler gets the matching documents in their order, even when there are
 * none (as Jina calls an executor with an empty list). When it gives back as many as it
 * got, each goes back to the place of the one it replaces, so a request's documents keep
 * their order. When it gives back another number, its documents all go in at the place
 * of the first matching document (at the end when none matched), the documents set
 * aside keeping their order around them. A failing handler changes nothing: the
 * request's documents go on as they came (worker_request.c).
 * In a branch of a graph that leads to a join (the spec's when_only_matched), the
 * documents set aside are not put back, as in Jina: each branch carries the documents it
 * handled, and the join brings them together (otherwise a branch's untouched copy of a
 * document would take the place of another branch's changes). */
#include "worker_internal.h"

#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "flow_when.h"
#include "pb.h"

/* The documents of one request that its condition left out. */
struct fh_when_aside {
    Flowhost__DocumentArray *rest; /* the documents that did not match, in order */
    bool *matched;                 /* per document as it came: whether it matched */
    size_t n;                      /* documents as they came */
    size_t n_matched;
    bool drop_rest;                /* the others are not put back (when_only_matched) */
};

void fh_worker_when_aside_free(fh_when_aside **a)
{
    if (a == NULL || *a == NULL)
        return;
    fh_docs *rest = (fh_docs *)(*a)->rest;
    fh_docs_destroy(&rest);
    free((*a)->matched);
    free(*a);
    *a = NULL;
}

int fh_worker_when_pick(const worker *w, fh_job *j)
{
    if (w->when == NULL || j->docs == NULL)
        return 0;
    Flowhost__DocumentArray *docs = FH_PB_DOCS(j->docs);
    size_t n = docs->n_docs;
    fh_when_aside *a = calloc(1, sizeof *a);
    fh_docs *rest = fh_docs_new();
    if (a == NULL || rest == NULL || (a->matched = calloc(n ? n : 1, sizeof *a->matched)) == NULL ||
        (n > 0 && (FH_PB_DOCS(rest)->docs = malloc(n * sizeof *docs->docs)) == NULL)) {
        fh_docs_destroy(&rest);
        if (a != NULL)
            free(a->matched);
        free(a);
        return fh_set_error(FH_E_NOMEM, "out of memory sorting documents by 'when'");
    }
    a->rest = FH_PB_DOCS(rest);
    a->n = n;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        Flowhost__Document *d = docs->docs[i];
        if (fh_when_match(w->when, (const fh_doc *)d)) {
            a->matched[i] = true;
            docs->docs[kept++] = d;
        } else {
            a->rest->docs[a->rest->n_docs++] = d;
        }
    }
    docs->n_docs = kept;
    a->n_matched = kept;
    a->drop_rest = w->spec->when_only_matched;
    if (kept == n) /* nothing set aside: nothing to put back */
        fh_worker_when_aside_free(&a);
    j->aside = a;
    return 0;
}

int fh_worker_when_restore(fh_job *j, fh_docs *own)
{
    fh_when_aside *a = j->aside;
    if (a == NULL)
        return 0;
    if (a->drop_rest) { /* a branch before a join carries only what it handled */
        fh_worker_when_aside_free(&j->aside);
        return 0;
    }
    Flowhost__DocumentArray *out = FH_PB_DOCS(own), *rest = a->rest;
    size_t n_out = out->n_docs, n_rest = rest->n_docs, total = n_out + n_rest;
    Flowhost__Document **all = malloc((total ? total : 1) * sizeof *all);
    if (all == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory putting documents back after 'when'");
    size_t o = 0, r = 0, k = 0;
    if (n_out == a->n_matched) { /* each in the place of the one it replaces */
        for (size_t i = 0; i < a->n; i++)
            all[k++] = a->matched[i] ? out->docs[o++] : rest->docs[r++];
    } else { /* all of them where the first matching one was */
        size_t first = 0;
        while (first < a->n && !a->matched[first])
            first++;
        while (r < first && r < n_rest) /* the ones before it did not match */
            all[k++] = rest->docs[r++];
        while (o < n_out)
            all[k++] = out->docs[o++];
        while (r < n_rest)
            all[k++] = rest->docs[r++];
    }
    free(out->docs);
    out->docs = all;
    out->n_docs = total;
    rest->n_docs = 0; /* moved: the aside frees only its own array */
    fh_worker_when_aside_free(&j->aside);
    return 0;
}

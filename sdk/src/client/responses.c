/* Responses: the lifetime of one, and the list return_results keeps. */
#include "response.h"

#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

struct fh_responses {
    fh_response **items;
    size_t n, cap;
};

void fh_response_init(fh_response *r, Flowhost__Envelope *env, fh_wire_docs *docs)
{
    memset(r, 0, sizeof *r);
    r->env = env;
    fh_wire_docs_move(&r->docs_frames, docs);
}

void fh_response_clear(fh_response *r)
{
    if (r->env != NULL)
        flowhost__envelope__free_unpacked(r->env, NULL);
    r->env = NULL;
    fh_wire_docs_close(&r->docs_frames);
    fh_docs_destroy(&r->docs);
    fh_value_destroy(&r->no_params);
}

int fh_responses_keep(fh_responses **list, fh_response *r)
{
    if (*list == NULL && (*list = calloc(1, sizeof **list)) == NULL)
        goto oom;
    fh_responses *l = *list;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        fh_response **items = realloc(l->items, cap * sizeof *items);
        if (items == NULL)
            goto oom;
        l->items = items;
        l->cap = cap;
    }
    fh_response *kept = malloc(sizeof *kept);
    if (kept == NULL)
        goto oom;
    *kept = *r; /* the envelope, documents and parameters move with it... */
    fh_wire_docs_move(&kept->docs_frames, &r->docs_frames); /* ...and the frames, as ZeroMQ allows */
    memset(r, 0, sizeof *r);
    fh_wire_docs_init(&r->docs_frames);
    l->items[l->n++] = kept;
    return 0;
oom:
    fh_response_clear(r);
    return fh_set_error(FH_E_NOMEM, "out of memory keeping a response");
}

size_t fh_responses_len(const fh_responses *list) { return list ? list->n : 0; }

const fh_response *fh_responses_at(const fh_responses *list, size_t i)
{
    return list && i < list->n ? list->items[i] : NULL;
}

void fh_responses_destroy(fh_responses **list)
{
    if (list == NULL || *list == NULL)
        return;
    for (size_t i = 0; i < (*list)->n; i++) {
        fh_response_clear((*list)->items[i]);
        free((*list)->items[i]);
    }
    free((*list)->items);
    free(*list);
    *list = NULL;
}

/* The graph of a flow's executors: see flow_graph.h. */
#include "flow_graph.h"

#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

/* Who needs whom, turned around: the executors that need J are
 * by[start[J] .. start[J + 1]). */
typedef struct dependents {
    size_t *start; /* n + 1 entries */
    size_t *by;
} dependents;

static void dependents_free(dependents *d)
{
    free(d->start);
    free(d->by);
}

static int dependents_build(const fh_flow_executor *xs, size_t n, dependents *d)
{
    size_t edges = 0;
    for (size_t i = 0; i < n; i++)
        edges += xs[i].n_needs;
    d->start = calloc(n + 1, sizeof *d->start);
    d->by = malloc((edges ? edges : 1) * sizeof *d->by);
    if (!d->start || !d->by) {
        dependents_free(d);
        return FH_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < xs[i].n_needs; k++)
            d->start[xs[i].needs[k] + 1]++;
    for (size_t j = 0; j < n; j++)
        d->start[j + 1] += d->start[j];
    size_t *fill = malloc((n ? n : 1) * sizeof *fill);
    if (!fill) {
        dependents_free(d);
        return FH_E_NOMEM;
    }
    memcpy(fill, d->start, n * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < xs[i].n_needs; k++)
            d->by[fill[xs[i].needs[k]]++] = i;
    free(fill);
    return 0;
}

/* A min-heap of indexes, so that of the executors ready at once the first declared
 * goes first and the order reads like the file. */
static void heap_push(size_t *h, size_t *len, size_t v)
{
    size_t i = (*len)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static size_t heap_pop(size_t *h, size_t *len)
{
    size_t top = h[0], last = h[--*len], i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *len)
            break;
        if (c + 1 < *len && h[c + 1] < h[c])
            c++;
        if (h[c] >= last)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*len)
        h[i] = last;
    return top;
}

/* Kahn's algorithm. Stores in *DONE how many executors could be ordered (N when there
 * is no cycle); WAITING (N entries) keeps, per executor, the needs not yet met. */
static int order_kahn(const fh_flow_executor *xs, size_t n, size_t *order, size_t *done,
                      size_t *waiting)
{
    dependents d;
    if (dependents_build(xs, n, &d) < 0)
        return FH_E_NOMEM;
    size_t *heap = malloc((n ? n : 1) * sizeof *heap);
    if (!heap) {
        dependents_free(&d);
        return FH_E_NOMEM;
    }
    size_t len = 0, out = 0;
    for (size_t i = 0; i < n; i++) {
        waiting[i] = xs[i].n_needs;
        if (waiting[i] == 0)
            heap_push(heap, &len, i);
    }
    while (len > 0) {
        size_t j = heap_pop(heap, &len);
        order[out++] = j;
        for (size_t k = d.start[j]; k < d.start[j + 1]; k++)
            if (--waiting[d.by[k]] == 0)
                heap_push(heap, &len, d.by[k]);
    }
    free(heap);
    dependents_free(&d);
    *done = out;
    return 0;
}

int fh_flow_graph_order(const fh_flow_executor *xs, size_t n, size_t *order)
{
    size_t *waiting = malloc((n ? n : 1) * sizeof *waiting), done;
    if (!waiting)
        return FH_E_NOMEM;
    int rc = order_kahn(xs, n, order, &done, waiting);
    free(waiting);
    if (rc < 0)
        return rc;
    return done == n ? 0 : FH_E_PARSE;
}

int fh_flow_graph_cycle(const fh_flow_executor *xs, size_t n, size_t *cycle,
                        size_t *n_cycle)
{
    *n_cycle = 0;
    size_t *waiting = malloc((n ? n : 1) * sizeof *waiting);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    size_t *seen_at = malloc((n ? n : 1) * sizeof *seen_at), done;
    if (!waiting || !order || !seen_at) {
        free(waiting);
        free(order);
        free(seen_at);
        return FH_E_NOMEM;
    }
    int rc = order_kahn(xs, n, order, &done, waiting);
    if (rc == 0 && done == n)
        rc = 1;
    if (rc == 0) {
        /* Every executor Kahn left has a need it left too; walking from one to such a
           need must come back to an executor already walked: that loop is a cycle. */
        size_t start = 0;
        while (waiting[start] == 0)
            start++;
        for (size_t i = 0; i < n; i++)
            seen_at[i] = SIZE_MAX;
        size_t len = 0, at = start;
        while (seen_at[at] == SIZE_MAX) {
            seen_at[at] = len;
            order[len++] = at; /* the walk, each entry needing the next */
            size_t next = SIZE_MAX;
            for (size_t k = 0; k < xs[at].n_needs && next == SIZE_MAX; k++)
                if (waiting[xs[at].needs[k]] > 0)
                    next = xs[at].needs[k];
            at = next;
        }
        /* The loop is order[seen_at[at] .. len); the way it runs is the walk backwards. */
        size_t first = seen_at[at], m = len - first, low = 0;
        for (size_t k = 0; k < m; k++) {
            cycle[k] = order[len - 1 - k];
            if (cycle[k] < cycle[low])
                low = k;
        }
        /* Start with the executor declared first, as a reader would look for it. */
        for (size_t k = 0; k < m; k++)
            order[k] = cycle[(low + k) % m];
        memcpy(cycle, order, m * sizeof *cycle);
        *n_cycle = m;
    }
    free(waiting);
    free(order);
    free(seen_at);
    return rc;
}

bool fh_flow_graph_is_sink(const fh_flow_executor *xs, size_t n, size_t i)
{
    if (xs[i].floating)
        return false;
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < xs[j].n_needs; k++)
            if (xs[j].needs[k] == i && !xs[j].floating) /* a floating one waits for nothing */
                return false;
    return true;
}

size_t fh_flow_graph_sinks(const fh_flow_executor *xs, size_t n, size_t *sinks)
{
    size_t m = 0;
    /* Marks in SINKS itself first (1: needed by someone), then compacts: no allocation. */
    for (size_t i = 0; i < n; i++)
        sinks[i] = xs[i].floating;
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < xs[j].n_needs; k++)
            sinks[xs[j].needs[k]] = 1;
    for (size_t i = 0; i < n; i++)
        if (!sinks[i])
            sinks[m++] = i;
    return m;
}

fh_polling fh_flow_graph_polling(const fh_flow_executor *x, const char *endpoint)
{
    for (size_t i = 0; endpoint && i < x->n_pollings; i++)
        if (strcmp(x->pollings[i].endpoint, endpoint) == 0)
            return x->pollings[i].polling;
    return x->polling;
}

const char *fh_polling_name(fh_polling p)
{
    return p == FH_POLLING_ALL ? "ALL" : "ANY";
}

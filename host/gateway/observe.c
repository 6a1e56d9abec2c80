/* What the gateway tells its metrics (metrics.h): the events as they happen, and its
 * state as gauges just before a scrape (gw_metrics_text). Every call here costs an index
 * into an array: the hot path gains no allocation and no lock. */
#define _GNU_SOURCE
#include "gateway_internal.h"
#include "http_internal.h"

#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "codec.h"
#include "util.h"

int gw_observe_init(fh_gateway *g)
{
    fh_metrics_unit *units = calloc(g->n_execs ? g->n_execs : 1, sizeof *units);
    if (units == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    for (size_t u = 0; u < g->n_execs; u++) {
        const gw_exec *x = &g->execs[u];
        units[u] = (fh_metrics_unit){.executor = x->cfg->name,
                                     .shard = x->shard,
                                     .replicas = (uint32_t)x->n_workers,
                                     .batching = x->cfg->n_batching > 0};
    }
    fh_metrics_layout layout = {.units = units, .n_units = g->n_execs};
    int rc = fh_metrics_new(&layout, &g->metrics);
    free(units);
    if (rc != 0)
        return rc;
    /* The endpoints the flow's executors bind get their series first: a client naming
     * others cannot take their place. */
    for (size_t k = 0; k < g->cfg->n_executors; k++)
        for (size_t b = 0; b < g->cfg->executors[k].n_requests; b++)
            if (g->cfg->executors[k].requests[b].endpoint[0] == '/')
                fh_metrics_endpoint(g->metrics, g->cfg->executors[k].requests[b].endpoint);
    return 0;
}

void gw_observe_free(fh_gateway *g)
{
    fh_metrics_destroy(&g->metrics);
}

void gw_observe_answer(fh_gateway *g, int i, const zmq_msg_t *env_frame)
{
    slot *s = &g->slots[i];
    if (g->metrics == NULL)
        return;
    /* An HTTP request that left its slot (its client gone, or answered 504) was counted
     * then (http.c): its answer now reaches nobody. */
    if (s->via_http && s->http == NULL)
        return;
    fh_metrics_status status = FH_METRICS_SUCCESS;
    fh_envelope_peek_t pk;
    if (s->rejected)
        status = FH_METRICS_REJECTED;
    else if (s->timed_out)
        status = FH_METRICS_TIMEOUT;
    else if (fh_envelope_peek(zmq_msg_data((zmq_msg_t *)env_frame),
                              zmq_msg_size((zmq_msg_t *)env_frame), &pk) != 0 ||
             pk.status_code != FLOWHOST__STATUS__CODE__SUCCESS)
        status = FH_METRICS_ERROR;
    int endpoint = fh_metrics_endpoint(g->metrics, s->env ? s->env->endpoint : NULL);
    fh_metrics_request_done(g->metrics, endpoint, status, fh_monotonic_us() - s->start_mono_us);
}

void gw_observe_call(fh_gateway *g, const gw_worker *w, int i, int64_t began_us, int64_t now_us)
{
    if (g->metrics == NULL)
        return;
    int64_t wait = began_us - g->slots[i].at_us;
    fh_metrics_executor_call(g->metrics, w->ex->index, w->replica, now_us - began_us,
                             wait > 0 ? wait : 0);
}

void gw_observe_batch(fh_gateway *g, const gw_worker *w, uint32_t docs)
{
    if (g->metrics != NULL && docs > 0)
        fh_metrics_batch(g->metrics, w->ex->index, w->replica, docs);
}

void gw_observe_error(fh_gateway *g, const gw_exec *x, fh_metrics_error_kind kind)
{
    if (g->metrics != NULL && x != NULL)
        fh_metrics_executor_error(g->metrics, x->index, kind);
}

void gw_observe_restart(fh_gateway *g, const gw_worker *w)
{
    if (g->metrics != NULL)
        fh_metrics_worker_restart(g->metrics, w->ex->index, w->replica);
}

void gw_observe_reload(fh_gateway *g, const gw_worker *w)
{
    if (g->metrics != NULL)
        fh_metrics_worker_reload(g->metrics, w->ex->index, w->replica);
}

int gw_metrics_text(fh_gateway *g, fh_prom_buf *out)
{
    if (g->metrics == NULL)
        return fh_set_error(FH_E_STATE, "the flow has no metrics");
    fh_metrics_set_flow(g->metrics, g->inflight, g->inflight_bytes);
    fh_metrics_set_http(g->metrics, g->http ? g->http->n_conns : 0);
    for (size_t u = 0; u < g->n_execs; u++) {
        const gw_exec *x = &g->execs[u];
        uint32_t ready = 0;
        for (size_t k = 0; k < x->n_workers; k++) {
            ready += x->workers[k].ready && !x->workers[k].down;
            fh_metrics_set_worker(g->metrics, u, (uint32_t)k, x->workers[k].held_n);
        }
        fh_metrics_set_unit(g->metrics, u, x->queued, ready);
    }
    return fh_metrics_write(g->metrics, out);
}

/* Flows as graphs: a request's branches, its joins, shards polled ALL, floating executors.
 *
 * A flow whose executors each follow the one before (one shard each, none floating) is a
 * chain: a request walks it alone, in its own slot, one step at a time, as it always did.
 * Any other flow is a graph. A request then walks it in slots that carry it: its own
 * slot, and branch slots that share its frames (ZeroMQ reference counts, no copy) where
 * the graph forks. Every carrier goes through the one dispatch (dispatch.c): credit,
 * replicas, queues and lost workers work the same for all.
 *
 * What an executor sends back goes on to each executor that needs it. An executor that
 * needs several waits for all of them: their outputs wait in the request's walk (its
 * parts), in the order of its `needs`, and are merged (reduce.h) into the one request it
 * gets; its parameters are the request's, its routes those of every branch, once each,
 * in the order they ended. An executor polled ALL gets the request on every shard, and
 * the shards' replies are merged the same way (with the request's top_k). What nobody
 * needs is what the gateway answers with: the outputs of the executors nobody needs
 * (its sinks), merged in the flow's order.
 *
 * An error (on_error skip) stops the request: nothing more starts, and once every
 * carrier still out is back it is answered with that error (the first one). With
 * on_error ignore it goes on, marked failed. A floating executor gets a copy nobody waits
 * for (detached): its errors are logged and counted, and at most as many copies as the
 * flow has request slots are out at once, times the shards of the widest floating
 * executor (more are dropped, and said so).
 *
 * Re-entry: sending a carrier may fail it at once (an executor that is down), which comes
 * back here, and may even complete the request (on_error ignore). A walk is answered
 * only once no carrier of it is live, and the carrier in hand is counted live until it is
 * sent on or released, last: the walk outlives every function working on it. */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "codec.h"
#include "flow_graph.h"
#include "pb.h"
#include "reduce.h"
#include "util.h"

/* One input of a join (or reply of a shard, or output of a sink), as it came. */
typedef struct gw_part {
    bool in;
    zmq_msg_t env;
    fh_wire_docs docs;
} gw_part;

/* A request's walk through a graph. */
typedef struct gw_walk {
    uint32_t live;         /* its carriers at executors or on their way, its own slot too */
    int branches;          /* its branch slots (linked by sib); -1 ends */
    bool failed;           /* an executor failed it (on_error skip): nothing more starts */
    bool answered;         /* its answer is on its way: nothing more is done for it */
    gw_part error;         /* then: the first failed envelope and documents, its answer */
    gw_part answer;        /* its answer, once its last sink is in */
    zmq_msg_t request_env; /* the envelope as the client sent it: a join's parameters */
    size_t bytes;          /* what its parts hold (counted in g->inflight_bytes) */
    uint32_t end_wait;     /* sinks not in yet */
    uint32_t *need_wait;   /* per executor of several needs: needs not in yet */
    uint32_t *shard_wait;  /* per executor polled ALL now: shards not back yet */
    gw_part parts[];       /* g->graph.n_parts */
} gw_walk;

static const fh_flow_executor *exec_cfg(const fh_gateway *g, size_t node)
{
    return &g->cfg->executors[node];
}

/* ---- the graph ---------------------------------------------------------------------- */

static bool is_chain(const fh_flow_config *cfg)
{
    for (size_t i = 0; i < cfg->n_executors; i++) {
        const fh_flow_executor *x = &cfg->executors[i];
        if (x->floating || x->shards > 1 || x->n_needs != (i > 0 ? 1u : 0u) ||
            (i > 0 && x->needs[0] != i - 1))
            return false;
    }
    return true;
}

int gw_graph_init(fh_gateway *g)
{
    const fh_flow_config *cfg = g->cfg;
    gw_graph *gr = &g->graph;
    size_t n = cfg->n_executors, units = 0;
    gr->chain = is_chain(cfg);
    for (size_t i = 0; i < n; i++)
        units += cfg->executors[i].shards > 1 ? (size_t)cfg->executors[i].shards : 1;
    g->execs = calloc(units ? units : 1, sizeof *g->execs);
    gr->unit = calloc(n + 1, sizeof *gr->unit);
    if (g->execs == NULL || gr->unit == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    g->n_execs = units;
    for (size_t i = 0, u = 0; i < n; i++) {
        const fh_flow_executor *x = &cfg->executors[i];
        uint32_t shards = x->shards > 1 ? (uint32_t)x->shards : 1;
        gr->unit[i] = u;
        for (uint32_t k = 0; k < shards; k++, u++)
            g->execs[u] = (gw_exec){.cfg = x, .index = u, .node = i, .shard = k, .shards = shards};
    }
    if (gr->chain)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (cfg->executors[i].n_needs > GW_MAX_NEEDS || cfg->executors[i].shards > GW_MAX_NEEDS)
            return fh_set_error(FH_E_RANGE, "executor '%s': more than %d needs or shards",
                                cfg->executors[i].name, GW_MAX_NEEDS);
    gr->next = calloc(n, sizeof *gr->next);
    gr->n_next = calloc(n, sizeof *gr->n_next);
    gr->sink = calloc(n, sizeof *gr->sink);
    gr->sinks = calloc(n, sizeof *gr->sinks);
    gr->sources = calloc(n, sizeof *gr->sources);
    gr->join_at = calloc(n, sizeof *gr->join_at);
    gr->shard_at = calloc(n, sizeof *gr->shard_at);
    if (!gr->next || !gr->n_next || !gr->sink || !gr->sinks || !gr->sources || !gr->join_at ||
        !gr->shard_at)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < cfg->executors[i].n_needs; k++)
            gr->n_next[cfg->executors[i].needs[k]]++;
    for (size_t i = 0; i < n; i++) {
        if (gr->n_next[i] > GW_MAX_NEEDS)
            return fh_set_error(FH_E_RANGE, "executor '%s': more than %d executors need it",
                                cfg->executors[i].name, GW_MAX_NEEDS);
        if (gr->n_next[i] > 0 && !(gr->next[i] = calloc(gr->n_next[i], sizeof **gr->next)))
            return fh_set_error(FH_E_NOMEM, "out of memory");
        gr->n_next[i] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const fh_flow_executor *x = &cfg->executors[i];
        for (size_t k = 0; k < x->n_needs; k++)
            gr->next[x->needs[k]][gr->n_next[x->needs[k]]++] = i;
        if (x->n_needs == 0)
            gr->sources[gr->n_sources++] = i;
    }
    for (size_t i = 0; i < n; i++) {
        const fh_flow_executor *x = &cfg->executors[i];
        gr->sink[i] = fh_flow_graph_is_sink(cfg->executors, n, i);
        if (gr->sink[i])
            gr->sinks[gr->n_sinks++] = i;
        if (x->n_needs > 1) {
            gr->join_at[i] = gr->n_parts;
            gr->n_parts += x->n_needs;
        }
        if (x->shards > 1) {
            gr->shard_at[i] = gr->n_parts;
            gr->n_parts += (size_t)x->shards;
        }
        size_t shards = x->shards > 1 ? (size_t)x->shards : 1;
        if (!x->floating)
            gr->width += shards;
        else if (shards > gr->float_width)
            gr->float_width = shards;
    }
    /* Whether a join comes after each executor: in reverse topological order would do;
     * the flow is small, so each looks down its successors until the marks settle. */
    if (!(gr->feeds_join = calloc(n, sizeof *gr->feeds_join)))
        return fh_set_error(FH_E_NOMEM, "out of memory");
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < gr->n_next[i] && !gr->feeds_join[i]; k++) {
                size_t t = gr->next[i][k];
                if (cfg->executors[t].n_needs > 1 || gr->feeds_join[t])
                    changed = gr->feeds_join[i] = true;
            }
    }
    if (gr->n_sinks > GW_MAX_NEEDS)
        return fh_set_error(FH_E_RANGE, "more than %d executors end the flow", GW_MAX_NEEDS);
    if (gr->n_sinks > 1) {
        gr->end_at = gr->n_parts;
        gr->n_parts += gr->n_sinks;
    }
    return 0;
}

void gw_graph_free(fh_gateway *g)
{
    gw_graph *gr = &g->graph;
    for (size_t i = 0; gr->next && i < g->cfg->n_executors; i++)
        free(gr->next[i]);
    free(gr->next);
    free(gr->n_next);
    free(gr->sink);
    free(gr->sinks);
    free(gr->sources);
    free(gr->join_at);
    free(gr->feeds_join);
    free(gr->shard_at);
    free(gr->unit);
    free(g->execs);
    memset(gr, 0, sizeof *gr);
    g->execs = NULL;
}

bool gw_is_branch(const fh_gateway *g, int i)
{
    return (size_t)i >= g->n_slots;
}

/* ---- branch slots ------------------------------------------------------------------- */

static gw_walk *walk_of(fh_gateway *g, int i)
{
    int r = g->slots[i].req;
    return r >= 0 ? g->slots[r].walk : NULL;
}

/* Takes I off its request's list of branches. */
static void unlink_branch(fh_gateway *g, int i)
{
    gw_walk *wk = walk_of(g, i);
    if (wk == NULL)
        return;
    for (int *p = &wk->branches; *p >= 0; p = &g->slots[*p].sib)
        if (*p == i) {
            *p = g->slots[i].sib;
            break;
        }
    g->slots[i].sib = -1;
}

void gw_branch_free(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    if (s->req < 0)
        g->detached--;
    else
        unlink_branch(g, i);
    gw_slot_clear(g, i);
    s->next = g->branch_free;
    g->branch_free = i;
}

/* Makes slot I (a branch, or request R's own) hold ENV and DOCS (moved: both are left
 * empty), counted in what the flow holds. The decoded envelope keeps its ids; the rest
 * is decoded when needed (gw_slot_env). Returns 0 or FH_E_NOMEM / FH_E_PROTOCOL. */
static int hold(fh_gateway *g, int i, zmq_msg_t *env, fh_wire_docs *docs)
{
    slot *s = &g->slots[i];
    Flowhost__Envelope *ids = NULL;
    int rc = fh_envelope_decode_ids(zmq_msg_data(env), zmq_msg_size(env), &ids);
    if (rc != 0) {
        zmq_msg_close(env);
        zmq_msg_init(env);
        fh_wire_docs_close(docs);
        return rc;
    }
    if (s->env)
        flowhost__envelope__free_unpacked(s->env, NULL);
    s->env = ids;
    s->env_stale = true;
    zmq_msg_close(&s->env_frame);
    zmq_msg_init(&s->env_frame);
    zmq_msg_move(&s->env_frame, env);
    fh_wire_docs_close(&s->docs);
    fh_wire_docs_move(&s->docs, docs);
    size_t bytes = zmq_msg_size(&s->env_frame) + fh_wire_docs_size(&s->docs);
    g->inflight_bytes = g->inflight_bytes - s->bytes + bytes;
    s->bytes = bytes;
    s->env_decoded = 0;
    return 0;
}

/* A new branch slot of request R (-1: detached, nobody waits for it), empty; -1 when
 * none is free. */
static int branch_alloc(fh_gateway *g, int r)
{
    int b = g->branch_free;
    if (b < 0 || (r < 0 && g->detached >= g->detached_max))
        return -1;
    slot *d = &g->slots[b];
    g->branch_free = d->next;
    *d = (slot){.used = true, .next = -1, .req = r, .sib = -1};
    zmq_msg_init(&d->env_frame);
    fh_wire_docs_init(&d->docs);
    if (r >= 0) {
        gw_walk *wk = g->slots[r].walk;
        d->sib = wk->branches;
        wk->branches = b;
    } else {
        g->detached++;
    }
    d->start_us = r >= 0 ? g->slots[r].start_us : fh_now_us();
    d->start_mono_us = r >= 0 ? g->slots[r].start_mono_us : fh_monotonic_us();
    return b;
}

/* A copy of what slot I carries, in a new branch of request R (-1: detached); -1 when
 * none can be made (no branch slot, out of memory). */
static int copy_of(fh_gateway *g, int i, int r)
{
    int b = branch_alloc(g, r);
    if (b < 0)
        return -1;
    slot *s = &g->slots[i];
    zmq_msg_t env;
    fh_wire_docs docs;
    zmq_msg_init(&env);
    if (zmq_msg_copy(&env, &s->env_frame) != 0 || fh_wire_docs_share(&docs, &s->docs) != 0) {
        zmq_msg_close(&env);
        gw_branch_free(g, b);
        return -1;
    }
    if (hold(g, b, &env, &docs) != 0) {
        gw_branch_free(g, b);
        return -1;
    }
    g->slots[b].step = s->step;
    return b;
}

/* ---- parts -------------------------------------------------------------------------- */

static void part_close(fh_gateway *g, gw_walk *wk, gw_part *p)
{
    if (!p->in)
        return;
    size_t bytes = zmq_msg_size(&p->env) + fh_wire_docs_size(&p->docs);
    wk->bytes -= bytes;
    g->inflight_bytes -= bytes;
    zmq_msg_close(&p->env);
    fh_wire_docs_close(&p->docs);
    p->in = false;
}

/* Puts a copy of what slot I carries (frames shared) into part P. Returns 0 or
 * FH_E_NOMEM. */
static int deposit(fh_gateway *g, gw_walk *wk, gw_part *p, int i)
{
    slot *s = &g->slots[i];
    part_close(g, wk, p);
    zmq_msg_init(&p->env);
    if (zmq_msg_copy(&p->env, &s->env_frame) != 0 || fh_wire_docs_share(&p->docs, &s->docs) != 0) {
        zmq_msg_close(&p->env);
        return fh_set_error(FH_E_NOMEM, "out of memory at a join");
    }
    p->in = true;
    size_t bytes = zmq_msg_size(&p->env) + fh_wire_docs_size(&p->docs);
    wk->bytes += bytes;
    g->inflight_bytes += bytes;
    return 0;
}

/* Same routes: the one executor call. */
static bool same_route(const Flowhost__Route *a, const Flowhost__Route *b)
{
    return a->start_time_us == b->start_time_us && a->end_time_us == b->end_time_us &&
           a->replica == b->replica && a->shard == b->shard &&
           strcmp(a->executor, b->executor) == 0;
}

/* The envelope of a merge of the N parts P: the request's (its id, endpoint,
 * parameters), the first error among the parts, and every route of the parts once, in
 * the order they ended. Stored in *OUT (the caller frees it). Returns 0 or an error. */
static int merge_envelopes(fh_gateway *g, gw_walk *wk, gw_part *const *p, size_t n,
                           Flowhost__Envelope **out)
{
    size_t max = (size_t)g->cfg->max_message_size;
    Flowhost__Envelope *env = NULL;
    int rc = fh_envelope_decode_max(zmq_msg_data(&wk->request_env),
                                    zmq_msg_size(&wk->request_env), max, &env, NULL);
    if (rc != 0)
        return rc;
    for (size_t k = 0; k < env->n_routes; k++)
        flowhost__route__free_unpacked(env->routes[k], NULL);
    env->n_routes = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        Flowhost__Envelope *e = NULL;
        rc = fh_envelope_decode_max(zmq_msg_data(&p[k]->env), zmq_msg_size(&p[k]->env), max,
                                    &e, NULL);
        if (rc != 0)
            break;
        if (env->status == NULL && e->status != NULL &&
            e->status->code == FLOWHOST__STATUS__CODE__ERROR) {
            env->status = e->status;
            e->status = NULL;
        }
        Flowhost__Route **routes = realloc(env->routes, (env->n_routes + e->n_routes + 1) *
                                                            sizeof *routes);
        if (routes == NULL) {
            flowhost__envelope__free_unpacked(e, NULL);
            rc = fh_set_error(FH_E_NOMEM, "out of memory at a join");
            break;
        }
        env->routes = routes;
        for (size_t r = 0; r < e->n_routes; r++) {
            Flowhost__Route *route = e->routes[r];
            size_t at = env->n_routes;
            bool seen = false;
            for (size_t q = 0; q < env->n_routes && !seen; q++)
                seen = same_route(env->routes[q], route);
            if (seen) {
                flowhost__route__free_unpacked(route, NULL);
                continue;
            }
            /* In the order they ended; equal ends keep the order they came in. */
            while (at > 0 && env->routes[at - 1]->end_time_us > route->end_time_us)
                at--;
            memmove(env->routes + at + 1, env->routes + at,
                    (env->n_routes - at) * sizeof *env->routes);
            env->routes[at] = route;
            env->n_routes++;
        }
        e->n_routes = 0;
        flowhost__envelope__free_unpacked(e, NULL);
    }
    if (rc != 0) {
        flowhost__envelope__free_unpacked(env, NULL);
        return rc;
    }
    *out = env;
    return 0;
}

/* Merges the N parts P (in order; TOP_K: a shard merge's cut, 0: none) into slot I, a
 * carrier of the walk. Returns 0, or an error with fh_last_error() saying why. */
static int merge_into(fh_gateway *g, gw_walk *wk, gw_part *const *p, size_t n, int64_t top_k,
                      int i)
{
    fh_wire_docs parts[GW_MAX_NEEDS];
    for (size_t k = 0; k < n; k++)
        parts[k] = p[k]->docs; /* read only: fh_reduce_wire does not take them */
    fh_reduce_options opts = {.top_k = top_k, .max_message_size = (size_t)g->cfg->max_message_size};
    fh_wire_docs docs;
    int rc = fh_reduce_wire(parts, n, &opts, &docs);
    if (rc != 0)
        return rc;
    Flowhost__Envelope *env;
    if ((rc = merge_envelopes(g, wk, p, n, &env)) != 0) {
        fh_wire_docs_close(&docs);
        return rc;
    }
    zmq_msg_t frame;
    rc = fh_pb_pack_msg(&env->base, &frame);
    flowhost__envelope__free_unpacked(env, NULL);
    if (rc != 0) {
        fh_wire_docs_close(&docs);
        return rc;
    }
    return hold(g, i, &frame, &docs);
}

/* ---- the walk ----------------------------------------------------------------------- */

static void send_to_node(fh_gateway *g, int i, size_t node);
static void output(fh_gateway *g, int i);

/* Carrier I of a walk is done: a branch is freed, the request's slot only holds it. */
static void release(fh_gateway *g, int i)
{
    gw_walk *wk = walk_of(g, i);
    wk->live--;
    if (gw_is_branch(g, i)) {
        gw_branch_free(g, i);
    } else {
        slot *s = &g->slots[i];
        s->carrying = false;
        size_t docs = fh_wire_docs_size(&s->docs);
        fh_wire_docs_close(&s->docs);
        s->bytes -= docs;
        g->inflight_bytes -= docs;
    }
}

/* Request R's walk has nothing out: it is answered with its error, or its answer. */
static void settle(fh_gateway *g, int r)
{
    slot *s = &g->slots[r];
    gw_walk *wk = s->walk;
    if (wk == NULL || wk->live > 0 || wk->answered)
        return;
    wk->answered = true;
    gw_part *p = wk->failed ? &wk->error : &wk->answer;
    if (p->in) {
        zmq_msg_t env;
        fh_wire_docs docs;
        zmq_msg_init(&env);
        zmq_msg_copy(&env, &p->env);
        if (fh_wire_docs_share(&docs, &p->docs) != 0)
            fh_wire_docs_init(&docs);
        if (hold(g, r, &env, &docs) != 0)
            fh_envelope_set_error(s->env, "gateway", "out of memory answering the request");
        gw_finish(g, r);
        return;
    }
    /* Only out of memory gets here: said rather than left hanging. */
    gw_slot_env(g, r);
    fh_envelope_set_error(s->env, "gateway", "the request's walk through the flow ended "
                                              "without an answer (out of memory)");
    gw_finish(g, r);
}

/* Request R's answer is what carrier I holds: kept, and sent once nothing of the request
 * is out any more (a carrier that failed at once may still be on its way back). */
static void answer_with(fh_gateway *g, int r, int i)
{
    gw_walk *wk = g->slots[r].walk;
    if (deposit(g, wk, &wk->answer, i) != 0)
        wk->answer.in = false; /* settle says so */
    release(g, i);
    settle(g, r);
}

/* Walk WK failed at carrier I (its envelope holds the error): nothing more starts. A
 * carrier back after that adds its routes to the answer: every executor that saw the
 * request is named. */
static void stop_walk(fh_gateway *g, gw_walk *wk, int i)
{
    if (!wk->failed) {
        wk->failed = true;
        g->slots[g->slots[i].req].timed_out = g->slots[i].timed_out; /* its answer's cause */
        if (deposit(g, wk, &wk->error, i) != 0)
            wk->error.in = false;
        return;
    }
    if (!wk->error.in)
        return;
    gw_part carrier = {.in = true};
    zmq_msg_init(&carrier.env);
    zmq_msg_copy(&carrier.env, &g->slots[i].env_frame);
    gw_part *ps[2] = {&wk->error, &carrier};
    Flowhost__Envelope *env;
    zmq_msg_t frame;
    int rc = merge_envelopes(g, wk, ps, 2, &env);
    zmq_msg_close(&carrier.env);
    if (rc != 0)
        return; /* the answer names fewer routes */
    Flowhost__Envelope *err = NULL;
    if (fh_envelope_decode_max(zmq_msg_data(&wk->error.env), zmq_msg_size(&wk->error.env),
                               (size_t)g->cfg->max_message_size, &err, NULL) == 0) {
        /* The failed envelope stays as it was but for its routes. */
        Flowhost__Route **routes = err->routes;
        size_t n = err->n_routes;
        err->routes = env->routes;
        err->n_routes = env->n_routes;
        env->routes = routes;
        env->n_routes = n;
        if (fh_pb_pack_msg(&err->base, &frame) == 0) {
            size_t before = zmq_msg_size(&wk->error.env);
            zmq_msg_move(&wk->error.env, &frame); /* releases what it held */
            zmq_msg_close(&frame);
            wk->bytes = wk->bytes - before + zmq_msg_size(&wk->error.env);
            g->inflight_bytes = g->inflight_bytes - before + zmq_msg_size(&wk->error.env);
        }
        flowhost__envelope__free_unpacked(err, NULL);
    }
    flowhost__envelope__free_unpacked(env, NULL);
}

/* A copy for floating executor NODE was not made: too many are out (or no memory). */
static void behind(fh_gateway *g, size_t node, const char *request_id)
{
    gw_log("floating executor '%s' is behind: request %s not sent to it (%zu copies out)",
           exec_cfg(g, node)->name, request_id, g->detached);
}

/* Slot I (request R's own, which has no walk yet) starts its walk. */
void gw_walk_start(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    const gw_graph *gr = &g->graph;
    size_t n = g->cfg->n_executors;
    gw_walk *wk = calloc(1, sizeof *wk + gr->n_parts * sizeof(gw_part));
    uint32_t *waits = calloc(2 * n + 1, sizeof *waits);
    if (wk == NULL || waits == NULL) {
        free(wk);
        free(waits);
        gw_fail(g, i, NULL, "out of memory starting the request");
        return;
    }
    wk->need_wait = waits;
    wk->shard_wait = waits + n;
    wk->branches = -1;
    zmq_msg_init(&wk->request_env);
    zmq_msg_copy(&wk->request_env, &s->env_frame);
    for (size_t k = 0; k < n; k++)
        wk->need_wait[k] = (uint32_t)exec_cfg(g, k)->n_needs;
    wk->end_wait = (uint32_t)gr->n_sinks;
    s->walk = wk;
    s->carrying = true;
    wk->live = 1;
    /* Its own slot carries it to the first source nobody floats; copies go to the rest. */
    size_t own = n;
    for (size_t k = 0; k < gr->n_sources && own == n; k++)
        if (!exec_cfg(g, gr->sources[k])->floating)
            own = gr->sources[k];
    for (size_t k = 0; k < gr->n_sources; k++) {
        size_t src = gr->sources[k];
        if (src == own)
            continue;
        bool floating = exec_cfg(g, src)->floating;
        int b = copy_of(g, i, floating ? -1 : i);
        if (b < 0) {
            if (floating) {
                behind(g, src, s->env->request_id);
                continue;
            }
            gw_fail(g, i, NULL, "the flow has no room for the request's branches");
            return;
        }
        if (!floating)
            wk->live++;
        send_to_node(g, b, src);
    }
    if (own == n) { /* only floating executors: answered as it came */
        answer_with(g, i, i);
        return;
    }
    send_to_node(g, i, own);
}

/* The shard of sharded executor X a request polled ANY goes to: the one with the least
 * work held or queued among those not down; equal ones take turns (an idle flow spreads
 * its requests over every shard). */
static size_t any_shard(fh_gateway *g, size_t node)
{
    gw_exec *first = &g->execs[g->graph.unit[node]];
    uint32_t best = first->shard_turn % first->shards;
    size_t best_load = SIZE_MAX;
    for (uint32_t n = 0; n < first->shards; n++) {
        uint32_t k = (first->shard_turn + n) % first->shards;
        const gw_exec *x = first + k;
        if (gw_exec_down(x))
            continue;
        size_t load = x->queued;
        for (size_t w = 0; w < x->n_workers; w++)
            load += x->workers[w].held_n;
        if (load < best_load) {
            best = k;
            best_load = load;
        }
    }
    first->shard_turn = best + 1;
    return g->graph.unit[node] + best;
}

/* Slot I goes to executor NODE: detached there when NODE floats. */
static void send_to_node(fh_gateway *g, int i, size_t node)
{
    slot *s = &g->slots[i];
    s->step = node;
    if (exec_cfg(g, node)->floating && s->req >= 0) { /* nobody waits for it from now on */
        gw_walk *wk = walk_of(g, i);
        unlink_branch(g, i);
        wk->live--;
        s->req = -1;
        g->detached++;
    }
    gw_walk_send(g, i);
}

void gw_walk_send(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    size_t node = s->step;
    const fh_flow_executor *x = exec_cfg(g, node);
    size_t first = g->graph.unit[node];
    if (x->shards <= 1) {
        s->unit = first;
        gw_dispatch(g, &g->execs[first], i);
        return;
    }
    if (fh_flow_graph_polling(x, s->env->endpoint) == FH_POLLING_ANY) {
        s->unit = any_shard(g, node);
        gw_dispatch(g, &g->execs[s->unit], i);
        return;
    }
    /* ALL: a carrier per shard, their replies merged when all are back. */
    gw_walk *wk = walk_of(g, i);
    if (s->req < 0 && g->detached + (size_t)x->shards - 1 > g->detached_max) {
        behind(g, node, s->env->request_id); /* a floating one: not sent at all */
        gw_branch_free(g, i);
        return;
    }
    int carriers[GW_MAX_NEEDS];
    carriers[0] = i;
    uint32_t made = 1;
    for (uint32_t k = 1; k < (uint32_t)x->shards; k++, made++) {
        int b = copy_of(g, i, s->req);
        if (b < 0)
            break;
        carriers[k] = b;
        if (wk != NULL)
            wk->live++;
    }
    if (made < (uint32_t)x->shards) {
        for (uint32_t k = 1; k < made; k++) {
            if (wk != NULL)
                wk->live--;
            gw_branch_free(g, carriers[k]);
        }
        if (s->req < 0) {
            behind(g, node, s->env->request_id);
            gw_branch_free(g, i);
            return;
        }
        gw_fail(g, i, NULL, "the flow has no room for the request's branches to every shard");
        return;
    }
    if (wk != NULL)
        wk->shard_wait[node] = made;
    for (uint32_t k = made; k-- > 0;) { /* its own carrier last: see the top of the file */
        g->slots[carriers[k]].unit = first + k;
        gw_dispatch(g, &g->execs[first + k], carriers[k]);
    }
}

/* A detached carrier I is back from X. */
static void detached_done(fh_gateway *g, int i, const fh_flow_executor *x, bool failed)
{
    if (failed) {
        slot *s = &g->slots[i];
        const char *why = "";
        if (gw_slot_env(g, i) == 0 && s->env->status != NULL)
            why = s->env->status->description;
        gw_log("executor '%s' (nobody waits for it) failed request %s: %.300s",
               x ? x->name : exec_cfg(g, s->step)->name, s->env->request_id, why);
    }
    gw_branch_free(g, i);
}

void gw_step_done(fh_gateway *g, int i, const fh_flow_executor *x, bool failed)
{
    slot *s = &g->slots[i];
    bool stop = failed && (x == NULL || x->on_error == FH_ON_ERROR_SKIP);
    if (g->graph.chain) {
        if (stop) {
            gw_finish(g, i);
        } else {
            s->step++;
            gw_advance(g, i);
        }
        return;
    }
    if (s->req < 0) {
        detached_done(g, i, x, failed);
        return;
    }
    int r = s->req;
    gw_walk *wk = g->slots[r].walk;
    if (wk == NULL || (i == r && !s->carrying)) {
        /* A request not walking yet, or one that only holds its branches (the drain's
         * last sweep): answered now. */
        gw_finish(g, r);
        return;
    }
    if (stop || wk->failed) {
        stop_walk(g, wk, i);
        release(g, i);
        settle(g, r);
        return;
    }
    size_t node = s->step;
    if (wk->shard_wait[node] > 0) { /* a shard's reply: merged when all are back */
        const gw_exec *unit = &g->execs[s->unit];
        gw_part *p = &wk->parts[g->graph.shard_at[node] + unit->shard];
        if (deposit(g, wk, p, i) != 0) {
            gw_fail(g, i, NULL, fh_last_error());
            return;
        }
        if (--wk->shard_wait[node] > 0) {
            release(g, i);
            return;
        }
        gw_part *ps[GW_MAX_NEEDS] = {NULL};
        size_t n = unit->shards < GW_MAX_NEEDS ? (size_t)unit->shards : GW_MAX_NEEDS;
        for (size_t k = 0; k < n; k++)
            ps[k] = &wk->parts[g->graph.shard_at[node] + k];
        Flowhost__Envelope *req = NULL;
        int64_t top_k = 0;
        if (fh_envelope_decode_max(zmq_msg_data(&wk->request_env), zmq_msg_size(&wk->request_env),
                                   (size_t)g->cfg->max_message_size, &req, NULL) == 0) {
            top_k = fh_reduce_top_k((const fh_value *)req->parameters);
            flowhost__envelope__free_unpacked(req, NULL);
        }
        int rc = merge_into(g, wk, ps, n, top_k, i);
        for (size_t k = 0; k < n; k++)
            part_close(g, wk, ps[k]);
        if (rc != 0) {
            char why[600];
            snprintf(why, sizeof why, "merging the replies of the shards of executor '%s': %s",
                     exec_cfg(g, node)->name, fh_last_error());
            gw_fail(g, i, NULL, why);
            return;
        }
    }
    output(g, i);
}

/* Frees the carriers GO[0..N-1] made for walk WK and not sent (-1 and I are skipped). */
static void drop_made(fh_gateway *g, gw_walk *wk, const int *go, size_t n, int i)
{
    for (size_t k = 0; k < n; k++)
        if (go[k] >= 0 && go[k] != i) {
            if (g->slots[go[k]].req >= 0)
                wk->live--;
            gw_branch_free(g, go[k]);
        }
}

/* Completes the join of executor T in walk WK: its inputs merged, in the order of its
 * needs, into a new carrier of request R. Returns it, -2 when T floats and its copy
 * cannot be made or merged (it is skipped, and said), or -1 (WHY says why). */
static int join(fh_gateway *g, gw_walk *wk, int r, size_t t, char *why, size_t why_len)
{
    const fh_flow_executor *tx = exec_cfg(g, t);
    int b = branch_alloc(g, tx->floating ? -1 : r);
    if (b < 0 && tx->floating) { /* a floating join is skipped, never the request */
        for (size_t q = 0; q < tx->n_needs; q++)
            part_close(g, wk, &wk->parts[g->graph.join_at[t] + q]);
        behind(g, t, g->slots[r].env->request_id);
        return -2;
    }
    if (b < 0) {
        snprintf(why, why_len, "the flow has no room for the request's branches");
        return -1;
    }
    if (!tx->floating)
        wk->live++;
    gw_part *ps[GW_MAX_NEEDS];
    for (size_t q = 0; q < tx->n_needs; q++)
        ps[q] = &wk->parts[g->graph.join_at[t] + q];
    int rc = merge_into(g, wk, ps, tx->n_needs, 0, b);
    for (size_t q = 0; q < tx->n_needs; q++)
        part_close(g, wk, ps[q]);
    if (rc != 0) {
        snprintf(why, why_len, "merging the inputs of executor '%s': %s", tx->name,
                 fh_last_error());
        if (!tx->floating)
            wk->live--;
        gw_branch_free(g, b);
        if (tx->floating) { /* nobody waits for it: said, never the request's failure */
            gw_log("floating executor '%s' skipped request %s: %s", tx->name,
                   g->slots[r].env->request_id, why);
            return -2;
        }
        return -1;
    }
    g->slots[b].step = t;
    return b;
}

/* Carrier I holds the output of the executor at its step: on to what needs it. */
static void output(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    int r = s->req;
    gw_walk *wk = g->slots[r].walk;
    const gw_graph *gr = &g->graph;
    size_t node = s->step, n_next = gr->n_next[node];
    /* The carriers that go on, and where: -1 for a copy of I not made yet. */
    int go[GW_MAX_NEEDS];
    size_t go_to[GW_MAX_NEEDS], n_go = 0;
    char why[700];
    for (size_t k = 0; k < n_next; k++) {
        size_t t = gr->next[node][k];
        const fh_flow_executor *tx = exec_cfg(g, t);
        if (tx->n_needs == 1) {
            go[n_go] = -1;
            go_to[n_go++] = t;
            continue;
        }
        size_t at = 0;
        while (at < tx->n_needs && tx->needs[at] != node)
            at++;
        if (deposit(g, wk, &wk->parts[gr->join_at[t] + at], i) != 0) {
            snprintf(why, sizeof why, "%s", fh_last_error());
            drop_made(g, wk, go, n_go, i);
            gw_fail(g, i, NULL, why);
            return;
        }
        if (--wk->need_wait[t] > 0)
            continue;
        int b = join(g, wk, r, t, why, sizeof why);
        if (b == -2)
            continue;
        if (b < 0) {
            drop_made(g, wk, go, n_go, i);
            gw_fail(g, i, NULL, why); /* the walk ends with this error once all are back */
            return;
        }
        go[n_go] = b;
        go_to[n_go++] = t;
    }
    bool sink = gr->sink[node];
    if (sink && gr->n_sinks > 1) {
        size_t at = 0;
        while (gr->sinks[at] != node)
            at++;
        if (deposit(g, wk, &wk->parts[gr->end_at + at], i) != 0) {
            snprintf(why, sizeof why, "%s", fh_last_error());
            drop_made(g, wk, go, n_go, i);
            gw_fail(g, i, NULL, why);
            return;
        }
        wk->end_wait--;
    }
    /* Slot I itself takes the last step to an executor that does not float (a sink's
     * slot answers instead); every other direct step gets a copy. */
    size_t own = n_go;
    for (size_t k = n_go; k-- > 0 && !sink && own == n_go;)
        if (go[k] < 0 && !exec_cfg(g, go_to[k])->floating)
            own = k;
    if (own < n_go)
        go[own] = i;
    for (size_t k = 0; k < n_go; k++) {
        if (go[k] >= 0)
            continue;
        bool floating = exec_cfg(g, go_to[k])->floating;
        int b = copy_of(g, i, floating ? -1 : r);
        if (b < 0 && floating) {
            behind(g, go_to[k], s->env->request_id);
            continue;
        }
        if (b < 0) {
            if (own < n_go)
                go[own] = -1;
            drop_made(g, wk, go, n_go, i);
            gw_fail(g, i, NULL, "the flow has no room for the request's branches");
            return;
        }
        if (!floating)
            wk->live++;
        go[k] = b;
    }
    for (size_t k = 0; k < n_go; k++)
        if (go[k] >= 0 && go[k] != i)
            send_to_node(g, go[k], go_to[k]);
    if (own < n_go) { /* last: see the top of the file */
        send_to_node(g, i, go_to[own]);
        return;
    }
    if (!sink || (gr->n_sinks > 1 && wk->end_wait > 0)) {
        release(g, i);
        settle(g, r);
        return;
    }
    if (gr->n_sinks > 1) { /* the last sink is in: their outputs merged, in flow order */
        gw_part *ps[GW_MAX_NEEDS];
        for (size_t q = 0; q < gr->n_sinks; q++)
            ps[q] = &wk->parts[gr->end_at + q];
        int rc = merge_into(g, wk, ps, gr->n_sinks, 0, i);
        for (size_t q = 0; q < gr->n_sinks; q++)
            part_close(g, wk, ps[q]);
        if (rc != 0) {
            snprintf(why, sizeof why, "merging the outputs of the flow's last executors: %s",
                     fh_last_error());
            gw_fail(g, i, NULL, why);
            return;
        }
    }
    answer_with(g, r, i);
}

void gw_walk_end(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    gw_walk *wk = s->walk;
    if (wk == NULL)
        return;
    /* Branches still out finish for nobody. */
    for (int b = wk->branches; b >= 0;) {
        int next = g->slots[b].sib;
        g->slots[b].req = -1;
        g->slots[b].sib = -1;
        g->detached++;
        b = next;
    }
    for (size_t k = 0; k < g->graph.n_parts; k++)
        part_close(g, wk, &wk->parts[k]);
    part_close(g, wk, &wk->error);
    part_close(g, wk, &wk->answer);
    zmq_msg_close(&wk->request_env);
    free(wk->need_wait);
    free(wk);
    s->walk = NULL;
}

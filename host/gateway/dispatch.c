/* Dispatch: the requests held at each worker, the choice of a replica, replies, and what
 * becomes of a lost worker's requests.
 *
 * A worker runs one handler call at a time, in the order it received its requests. So
 * that it never waits a round trip for its next one, the gateway keeps up to its
 * executor's credit of requests at it (a ring, oldest first; besides the one it runs, at
 * most max_message_size bytes), and sends each request to the replica that would be done
 * with it soonest. What no replica should take now waits in the executor's queue, in
 * order, and a request never overtakes one waiting there.
 *
 * Replies come back in the order the requests went: a reply answers the oldest request
 * held (one that names another request means the worker is out of step, and it is given
 * up). A reply whose envelope names its request is passed on as it came, not decoded.
 * When a worker is lost, its board (board.h) says which requests its call was running:
 * they fail with the worker, the ones behind them go back to the front of the queue. */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <stdio.h>
#include <string.h>

#include <flowhost/error.h>

#include "board.h"
#include "codec.h"
#include "pb.h"
#include "util.h"

/* ---- the executor's queue ----------------------------------------------------------- */

static void enqueue(fh_gateway *g, gw_exec *x, int i)
{
    x->queued++;
    g->slots[i].next = -1;
    if (x->queue_tail < 0)
        x->queue_head = i;
    else
        g->slots[x->queue_tail].next = i;
    x->queue_tail = i;
}

/* Puts I first in X's queue. */
static void enqueue_front(fh_gateway *g, gw_exec *x, int i)
{
    x->queued++;
    g->slots[i].next = x->queue_head;
    x->queue_head = i;
    if (x->queue_tail < 0)
        x->queue_tail = i;
}

int gw_dequeue(fh_gateway *g, gw_exec *x)
{
    int i = x->queue_head;
    if (i >= 0) {
        x->queued--;
        x->queue_head = g->slots[i].next;
        if (x->queue_head < 0)
            x->queue_tail = -1;
    }
    return i;
}

/* ---- what a worker holds ------------------------------------------------------------ */

int gw_held_head(const gw_worker *w)
{
    return w->held_n > 0 ? w->held[w->held_first].slot : -1;
}

int gw_held_pop(gw_worker *w)
{
    int i = gw_held_head(w);
    if (i >= 0) {
        w->held_bytes -= w->held[w->held_first].bytes;
        w->held_first = (w->held_first + 1) % w->ex->credit;
        w->held_n--;
    }
    return i;
}

/* How many more requests W may be given now (counted in requests). */
static uint32_t room(const gw_worker *w)
{
    if (!w->ready)
        return 0;
    if (w->down) /* a probe worker gets one request; its answer closes the breaker */
        return w->probing && w->held_n == 0 ? 1 : 0;
    return w->ex->credit - w->held_n;
}

/* Whether W may be given a request of BYTES now: it has room, and what waits at it
 * besides the request it runs stays within max_message_size, so that a worker's queue
 * never holds more than one of the largest messages. */
static bool takes(const fh_gateway *g, const gw_worker *w, size_t bytes)
{
    return room(w) > 0 &&
           (w->held_n == 0 || w->held_bytes + bytes <= (size_t)g->cfg->max_message_size);
}

/* The bytes slot I is sent to a worker with. */
static size_t wire_bytes(const fh_gateway *g, int i)
{
    const slot *s = &g->slots[i];
    return zmq_msg_size((zmq_msg_t *)&s->env_frame) + fh_wire_docs_size(&s->docs);
}

bool gw_exec_down(const gw_exec *x)
{
    for (size_t k = 0; k < x->n_workers; k++)
        if (!x->workers[k].down)
            return false;
    return true;
}

/* A replica's estimate of its time per request is forgotten after it has been idle this
 * long: whatever made it slow may be over, and only a request can tell. */
#define SERVICE_FORGET_US 1000000

/* Whether W's time per request is known, and recent. */
static bool service_known(const gw_worker *w, int64_t now)
{
    return w->service_us > 0 && !(w->held_n == 0 && now - w->idle_since_us >= SERVICE_FORGET_US);
}

/* The replica of X a request of BYTES should go to now, or NULL when it should wait at X: the one
 * that would be done with it soonest (shortest expected delay), among the replicas that
 * take requests; ties go to the one holding fewest, then to the one after the replica
 * chosen last, so that equal replicas take turns. When that replica has no room left,
 * the request waits for it rather than queue behind a slower one: a replica ten times
 * slower gets about a tenth of the requests, and never a line of them. */
static gw_worker *pick(const fh_gateway *g, gw_exec *x, size_t bytes)
{
    if (x->n_workers == 1)
        return takes(g, &x->workers[0], bytes) ? &x->workers[0] : NULL;
    gw_worker *best = NULL;
    int64_t best_us = 0, now = fh_monotonic_us();
    for (size_t k = 0; k < x->n_workers; k++) {
        gw_worker *w = &x->workers[(x->turn + k) % x->n_workers];
        if (!w->ready || (w->down && room(w) == 0))
            continue;
        /* A replica whose time is not known gets one request, which measures it: a slow
         * new replica must not take a credit's worth at once. */
        bool known = service_known(w, now);
        if (!known && w->held_n > 0)
            continue;
        int64_t us = known ? (int64_t)(w->held_n + 1) * w->service_us : 0;
        if (best == NULL || us < best_us || (us == best_us && w->held_n < best->held_n)) {
            best = w;
            best_us = us;
        }
    }
    if (best == NULL || !takes(g, best, bytes))
        return NULL;
    x->turn = (best->replica + 1) % x->n_workers;
    return best;
}

/* Sends slot I to W, which has room. */
static void send_to(fh_gateway *g, gw_worker *w, int i)
{
    slot *s = &g->slots[i];
    zmq_msg_t env_frame;
    fh_wire_docs docs;
    if (fh_wire_docs_share(&docs, &s->docs) != 0) {
        gw_fail(g, i, w->ex->cfg, "out of memory sending the request on");
        return;
    }
    /* Copies share the buffers (reference counts): the slot keeps the request so that a
     * worker's death can still be answered for. */
    zmq_msg_init(&env_frame);
    zmq_msg_copy(&env_frame, &s->env_frame);
    if (w->held_n == 0)
        w->head_since_us = fh_monotonic_us();
    size_t bytes = wire_bytes(g, i);
    w->held[(w->held_first + w->held_n) % w->ex->credit] = (gw_held_entry){i, bytes};
    w->held_n++;
    w->held_bytes += bytes;
    w->sent++;
    if (fh_wire_send_docs(g->back, w->id, w->id_len, FH_CMD_REQUEST, &env_frame, &docs,
                          ZMQ_DONTWAIT) != 0) {
        /* Its connection is gone (ROUTER_MANDATORY): so is the worker, for the flow. It
         * never began this request: that one goes back to the queue. */
        char why[700];
        snprintf(why, sizeof why, "cannot reach executor '%s': %s", w->ex->cfg->name,
                 fh_last_error());
        gw_lose_worker(g, w, why);
    }
}

void gw_dispatch(fh_gateway *g, gw_exec *x, int i)
{
    g->slots[i].at_us = fh_monotonic_us();
    gw_worker *w = x->queue_head < 0 ? pick(g, x, wire_bytes(g, i)) : NULL;
    if (w != NULL) {
        send_to(g, w, i);
        return;
    }
    if (gw_exec_down(x)) {
        for (size_t k = 0; k < x->n_workers; k++)
            if (room(&x->workers[k]) > 0) { /* a ready probe: this request is its test */
                send_to(g, &x->workers[k], i);
                return;
            }
        gw_observe_error(g, x, FH_METRICS_E_UNAVAILABLE);
        gw_fail(g, i, x->cfg, x->workers[0].down_reason);
        return;
    }
    enqueue(g, x, i);
}

void gw_feed(fh_gateway *g, gw_exec *x)
{
    gw_worker *w;
    while (x->queue_head >= 0 && (w = pick(g, x, wire_bytes(g, x->queue_head))) != NULL)
        send_to(g, w, gw_dequeue(g, x));
}

/* ---- replies ------------------------------------------------------------------------ */

/* Whether the envelope PK was read from names ENV's request and endpoint. */
static bool same_ids(const fh_envelope_peek_t *pk, const Flowhost__Envelope *env)
{
    return pk->request_id != NULL && pk->endpoint != NULL &&
           pk->request_id_len == strlen(env->request_id) &&
           memcmp(pk->request_id, env->request_id, pk->request_id_len) == 0 &&
           pk->endpoint_len == strlen(env->endpoint) &&
           memcmp(pk->endpoint, env->endpoint, pk->endpoint_len) == 0;
}

/* Takes the documents of the reply M into slot I; when they cannot be taken or are over
 * the limit, fails the request by executor CFG (its documents go on as they came to it)
 * and returns false. */
static bool take_docs(fh_gateway *g, int i, fh_wire_msg *m, const fh_flow_executor *cfg)
{
    slot *s = &g->slots[i];
    char why[LIMIT_WHY_MAX] = "";
    fh_wire_docs reply;
    fh_wire_docs_init(&reply);
    if (fh_wire_docs_take(&reply, m, 4) != 0 || !gw_within_limit(g, &reply, "reply", why)) {
        if (why[0] == '\0')
            snprintf(why, sizeof why, "the executor's reply: %s", fh_last_error());
        fh_wire_docs_close(&reply);
        gw_fail(g, i, cfg, why); /* the envelope gets the error, re-encoded */
        return false;
    }
    fh_wire_docs_close(&s->docs);
    fh_wire_docs_move(&s->docs, &reply);
    return true;
}

/* Slot I came back from executor CFG (FAILED: with an error): counts what it holds now,
 * then answers it (an error and on_error skip) or sends it on. */
static void step_on(fh_gateway *g, int i, const fh_flow_executor *cfg, bool failed)
{
    slot *s = &g->slots[i];
    size_t bytes = zmq_msg_size(&s->env_frame) + s->env_decoded + fh_wire_docs_size(&s->docs);
    g->inflight_bytes = g->inflight_bytes - s->bytes + bytes;
    s->bytes = bytes;
    gw_step_done(g, i, cfg, failed);
}

/* The reply M of W to slot I, whose envelope was measured well-formed and names the
 * slot's request: passed on as it came, not decoded (the slot's decoded envelope goes
 * stale until something needs it: gw_slot_env). FAILED: it carries an error. */
static void pass_on(fh_gateway *g, gw_worker *w, int i, fh_wire_msg *m, bool failed)
{
    slot *s = &g->slots[i];
    zmq_msg_move(&s->env_frame, &m->frames[3]); /* releases the frame it held */
    s->env_stale = true;
    if (failed)
        gw_observe_error(g, w->ex, FH_METRICS_E_HANDLER);
    if (take_docs(g, i, m, w->ex->cfg))
        step_on(g, i, w->ex->cfg, failed);
}

void gw_on_reply(fh_gateway *g, gw_worker *w, fh_wire_msg *m)
{
    gw_exec *x = w->ex;
    int head = gw_held_head(w);
    if (head < 0) {
        gw_log("dropped a reply from executor '%s': it holds no request", x->cfg->name);
        return;
    }
    /* A reply answers the oldest request the worker holds. One that names another request
     * means the worker is out of step (it skipped a reply): every later reply would go to
     * the wrong request. Its process is given up; what it had not begun goes on. */
    size_t len;
    const void *buf = fh_wire_data(m, 3, &len);
    fh_envelope_peek_t pk;
    const char *want = g->slots[head].env->request_id;
    int peeked = buf != NULL ? fh_envelope_peek(buf, len, &pk) : FH_E_PROTOCOL;
    if (peeked == 0 && pk.request_id_len > 0 &&
        (pk.request_id_len != strlen(want) || memcmp(pk.request_id, want, pk.request_id_len) != 0)) {
        char why[300];
        snprintf(why, sizeof why, "executor '%s' answered out of order", x->cfg->name);
        gw_lose_worker(g, w, why);
        return;
    }
    int i = gw_held_pop(w);
    /* The next one it holds begins now (it runs them in order), and this one took from
     * when it began until now. */
    int64_t now = fh_monotonic_us(), took = now - w->head_since_us;
    gw_observe_call(g, w, i, w->head_since_us, now);
    if (peeked == 0 && pk.last_route != NULL && x->cfg->n_batching > 0)
        gw_observe_batch(g, w, fh_route_batch(pk.last_route, pk.last_route_len));
    w->service_us = w->service_us > 0 ? (7 * w->service_us + took) / 8 : took;
    w->head_since_us = now;
    if (w->held_n == 0)
        w->idle_since_us = now;
    w->crashes = 0; /* it answered: it works */
    if (w->down && w->probing) { /* the probe answered: the breaker closes */
        w->down = false;
        w->probing = false;
        gw_log("executor '%s' is up again: its new worker answered a request", x->cfg->name);
    }
    /* The requests waiting for this executor go first: slot I must not overtake them on
     * its way back through gw_advance(). */
    gw_feed(g, x);
    slot *s = &g->slots[i];
    if (buf != NULL &&
        fh_pb_measure(&flowhost__envelope__descriptor, buf, len, (size_t)g->cfg->max_message_size,
                      NULL) == 0 &&
        peeked == 0 && same_ids(&pk, s->env)) {
        pass_on(g, w, i, m, pk.status_code == FLOWHOST__STATUS__CODE__ERROR);
        return;
    }
    Flowhost__Envelope *env;
    size_t decoded = 0;
    if (buf == NULL || fh_envelope_decode_max(buf, len, (size_t)g->cfg->max_message_size, &env,
                                              &decoded) != 0) {
        gw_fail(g, i, x->cfg, "the executor's reply could not be decoded");
        return;
    }
    /* A worker answers for the request the gateway gave it, whatever its reply says. */
    char *tmp = env->request_id;
    env->request_id = s->env->request_id;
    s->env->request_id = tmp;
    tmp = env->endpoint;
    env->endpoint = s->env->endpoint;
    s->env->endpoint = tmp;
    bool same = strcmp(env->request_id, s->env->request_id) == 0 &&
                strcmp(env->endpoint, s->env->endpoint) == 0;
    flowhost__envelope__free_unpacked(s->env, NULL);
    s->env = env;
    s->env_stale = false;
    s->env_decoded = decoded;
    if (!take_docs(g, i, m, x->cfg))
        return;
    if (same) {
        zmq_msg_move(&s->env_frame, &m->frames[3]);
    } else { /* the frame sent on must say what the envelope says */
        zmq_msg_close(&s->env_frame);
        if (fh_pb_pack_msg(&env->base, &s->env_frame) != 0)
            zmq_msg_init(&s->env_frame);
    }
    bool failed = env->status != NULL && env->status->code == FLOWHOST__STATUS__CODE__ERROR;
    if (failed)
        gw_observe_error(g, x, FH_METRICS_E_HANDLER);
    step_on(g, i, x->cfg, failed);
}

/* ---- a lost worker's requests ------------------------------------------------------- */

/* The request number whose low 32 bits are V32, among the requests up to SENT. */
static uint64_t widen(uint64_t sent, uint32_t v32)
{
    uint64_t back = (uint32_t)((uint32_t)sent - v32);
    return back <= sent ? sent - back : 0;
}

void gw_release_held(fh_gateway *g, gw_worker *w, pid_t pid, const char *why)
{
    gw_exec *x = w->ex;
    uint32_t n = w->held_n;
    if (n == 0)
        return;
    int held[GW_CREDIT_MAX];
    uint64_t answered = w->sent - n; /* requests 1..answered were answered */
    /* The requests its last handler call ran: without a board, the oldest held. */
    uint64_t first = answered + 1, last = answered + 1;
    uint32_t first32, last32;
    if (fh_board_read(w->board, pid, &first32, &last32)) {
        last = widen(w->sent, last32);
        first = last == 0 ? 0 : widen(w->sent, first32);
        if (last <= answered) /* that call is over: it began nothing it holds */
            first = last = answered;
    }
    for (uint32_t k = 0; k < n; k++)
        held[k] = gw_held_pop(w);
    /* Not begun: back to the front of the queue, in their order, before anything fails
     * (a failure may let a new request in, which must queue behind them). */
    for (uint32_t k = n; k-- > 0;)
        if (answered + 1 + k > last)
            enqueue_front(g, x, held[k]);
    fh_metrics_error_kind kind = w->timing_out ? FH_METRICS_E_TIMEOUT : FH_METRICS_E_CRASH;
    for (uint32_t k = 0; k < n && answered + 1 + k <= last; k++) {
        gw_observe_error(g, x, kind);
        g->slots[held[k]].timed_out = w->timing_out;
        if (answered + 1 + k >= first) {
            gw_fail(g, held[k], x->cfg, why);
        } else {
            char lost[900];
            snprintf(lost, sizeof lost, "%s, after it handled this request: its reply was lost",
                     why);
            gw_fail(g, held[k], x->cfg, lost);
        }
    }
}

/* Routing: slots, the walk of a request through the executors, the prefetch gate. */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "codec.h"
#include "pb.h"
#include "util.h"

/* ---- slots -------------------------------------------------------------------------- */

int gw_slot_alloc(fh_gateway *g)
{
    int i = g->free_head;
    if (i < 0)
        return -1;
    g->free_head = g->slots[i].next;
    slot *s = &g->slots[i];
    s->used = true;
    s->next = -1;
    s->step = 0;
    s->unit = 0;
    s->req = i;
    s->sib = -1;
    /* A request's clocks start when it takes its slot, whichever door it came through:
       its route and its duration (observe.c) read them. */
    s->start_us = fh_now_us();
    s->start_mono_us = fh_monotonic_us();
    s->carrying = false;
    s->walk = NULL;
    s->at_us = 0;
    s->timed_out = false;
    s->rejected = false;
    s->gated = false;
    s->env = NULL;
    s->env_stale = false;
    s->env_decoded = 0;
    s->via_http = false; /* HTTP: set by http.c */
    s->http = NULL;
    zmq_msg_init(&s->env_frame);
    fh_wire_docs_init(&s->docs);
    g->inflight++;
    return i;
}

void gw_slot_clear(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    g->inflight_bytes -= s->bytes;
    s->bytes = 0;
    if (s->env)
        flowhost__envelope__free_unpacked(s->env, NULL);
    s->env = NULL;
    zmq_msg_close(&s->env_frame);
    fh_wire_docs_close(&s->docs);
    s->used = false;
}

void gw_slot_free(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    if (s->walk != NULL)
        gw_walk_end(g, i);
    if (s->http != NULL) /* HTTP: freed unanswered */
        gw_http_detach(g, i);
    gw_replies_forget(g, i);
    gw_slot_clear(g, i);
    s->next = g->free_head;
    g->free_head = i;
    g->inflight--;
}

int gw_slot_env(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    if (!s->env_stale)
        return 0;
    Flowhost__Envelope *env;
    size_t decoded = 0;
    /* The frame was measured (well-formed, within max_message_size) when it came: only
     * memory can fail. */
    int rc = fh_envelope_decode_max(zmq_msg_data(&s->env_frame), zmq_msg_size(&s->env_frame),
                                    (size_t)g->cfg->max_message_size, &env, &decoded);
    if (rc != 0)
        return rc;
    flowhost__envelope__free_unpacked(s->env, NULL);
    s->env = env;
    s->env_stale = false;
    size_t bytes = s->bytes - s->env_decoded + decoded;
    g->inflight_bytes = g->inflight_bytes - s->bytes + bytes;
    s->bytes = bytes;
    s->env_decoded = decoded;
    return 0;
}

/* ---- routing ------------------------------------------------------------------------ */


/* Sends ENV_FRAME (moved) and the documents of slot I to its client, and frees the slot. */
static void send_answer(fh_gateway *g, int i, zmq_msg_t *env_frame)
{
    slot *s = &g->slots[i];
    gw_observe_answer(g, i, env_frame);
    if (s->walk != NULL) /* its branches still at work finish for nobody */
        gw_walk_end(g, i);
    if (s->via_http) /* HTTP: the answer is JSON on its connection */
        gw_http_answer(g, i, env_frame);
    else if (gw_replies_send(g, i, env_frame) != 0)
        gw_log("dropped the reply to request %s: the client is gone or not reading",
               s->env->request_id);
    gw_release_gate(g, i);
    gw_slot_free(g, i);
}

/* Answers the client of slot I with the slot's envelope (plus the gateway's route, first
 * as in Jina) and documents, and frees the slot. */
void gw_finish(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    if (s->env_stale && zmq_msg_size(&s->env_frame) > 0) {
        /* The frame is the latest and was measured well-formed when it came: the answer is
         * it, the gateway's route written before it, the prefetch after (no decoding). */
        Flowhost__Route gw = FLOWHOST__ROUTE__INIT;
        gw.executor = (char *)"gateway";
        gw.start_time_us = s->start_us;
        gw.end_time_us = fh_now_us();
        zmq_msg_t env_frame;
        uint32_t prefetch = g->cfg->prefetch > 0 ? (uint32_t)g->cfg->prefetch : 0;
        if (fh_envelope_wrap_reply(zmq_msg_data(&s->env_frame), zmq_msg_size(&s->env_frame), &gw,
                                   prefetch, &env_frame) == 0) {
            send_answer(g, i, &env_frame);
            return;
        }
    }
    if (gw_slot_env(g, i) != 0) { /* answered with the envelope it has, and why */
        s->env_stale = false;
        fh_envelope_set_error(s->env, "gateway", fh_last_error());
    }
    Flowhost__Envelope *env = s->env;
    zmq_msg_t env_frame;
    env->prefetch = g->cfg->prefetch > 0 ? (uint32_t)g->cfg->prefetch : 0;
    int rc = fh_envelope_add_route(env, "gateway", s->start_us, fh_now_us());
    if (rc == 0) {
        Flowhost__Route *gw = env->routes[env->n_routes - 1];
        memmove(env->routes + 1, env->routes, (env->n_routes - 1) * sizeof *env->routes);
        env->routes[0] = gw;
        rc = fh_pb_pack_msg(&env->base, &env_frame);
    }
    if (rc != 0) {
        gw_log("dropped the reply to request %s: %s", env->request_id, fh_last_error());
        gw_release_gate(g, i);
        gw_slot_free(g, i);
        return;
    }
    send_answer(g, i, &env_frame);
}

/* Marks slot I failed by executor X (NAME) with WHY, then follows X's on_error. */
void gw_fail(fh_gateway *g, int i, const fh_flow_executor *x, const char *why)
{
    slot *s = &g->slots[i];
    if (gw_slot_env(g, i) != 0)
        s->env_stale = false; /* the error goes on the envelope it has */
    bool set = fh_envelope_set_error(s->env, x ? x->name : "gateway", why) == 0;
    if (set) { /* the envelope changed: the frame sent on must be re-encoded from it */
        zmq_msg_close(&s->env_frame);
        if (fh_pb_pack_msg(&s->env->base, &s->env_frame) != 0)
            zmq_msg_init(&s->env_frame);
    }
    /* Without its error in the frame, a request cannot go on: it is answered. */
    gw_step_done(g, i, set && zmq_msg_size(&s->env_frame) > 0 ? x : NULL, true);
}

/* Sends slot I to the executor at its step, queues it there, or answers it. */
void gw_advance(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    if (g->drain_expired) { /* a request let in from its client's gate too late */
        gw_fail(g, i, NULL, g->drain_why);
        return;
    }
    if (!g->graph.chain) {
        if (s->walk == NULL && !gw_is_branch(g, i))
            gw_walk_start(g, i);
        else
            gw_walk_send(g, i);
        return;
    }
    if (s->step >= g->n_execs) {
        gw_finish(g, i);
        return;
    }
    gw_dispatch(g, &g->execs[s->step], i);
}

/* ---- the prefetch gate: at most cfg->prefetch requests of one client inside ---------- */

/* Lets slot I in, or parks it behind its client's requests already inside. */
void gw_enter_gate(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    fh_client_entry *c = fh_client_table_get(&g->clients, s->client, s->client_len);
    if (c == NULL) { /* cannot happen: the table holds as many clients as there are slots */
        gw_advance(g, i);
        return;
    }
    s->gated = true;
    if (g->cfg->prefetch > 0 && c->inflight >= (uint32_t)g->cfg->prefetch) {
        s->next = -1;
        if (c->parked_tail < 0)
            c->parked_head = i;
        else
            g->slots[c->parked_tail].next = i;
        c->parked_tail = i;
        return;
    }
    c->inflight++;
    gw_advance(g, i);
}

/* Slot I is done: its client may let its next parked request in. */
void gw_release_gate(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    if (!s->gated)
        return;
    s->gated = false;
    fh_client_entry *c = fh_client_table_find(&g->clients, s->client, s->client_len);
    if (c == NULL)
        return;
    c->inflight--;
    int next = c->parked_head;
    if (next >= 0) {
        c->parked_head = g->slots[next].next;
        if (c->parked_head < 0)
            c->parked_tail = -1;
        c->inflight++;
        gw_advance(g, next); /* may finish at once and come back here: c is not used after */
    } else if (c->inflight == 0) {
        fh_client_table_remove(&g->clients, c);
    }
}

/* Messages from clients: a request is checked, given a slot and let through the gate. */
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

/* ---- client messages ---------------------------------------------------------------- */

/* Request ids are text: 1 to MAX_REQUEST_ID bytes, none a control character (a NUL
 * would cut the id short; a newline would forge log lines). */
static bool valid_request_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > MAX_REQUEST_ID)
        return false;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)id[k] < 0x20 || (unsigned char)id[k] == 0x7f)
            return false;
    return true;
}

/* Makes a refused request's id fit for its reply and the log: control characters
 * become '?', and it is cut to MAX_REQUEST_ID bytes. */
static void tame_request_id(char *id)
{
    size_t n = strlen(id);
    if (n > MAX_REQUEST_ID)
        id[n = MAX_REQUEST_ID] = '\0';
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)id[k] < 0x20 || (unsigned char)id[k] == 0x7f)
            id[k] = '?';
}

static bool valid_endpoint(const char *ep)
{
    size_t n = strlen(ep);
    if (n == 0 || n > MAX_ENDPOINT || ep[0] != '/')
        return false;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)ep[k] < 0x21 || (unsigned char)ep[k] > 0x7e)
            return false;
    return true;
}

/* A slot for the request in M (its client, ENV taken over, the time it came), or -1 when
 * there is none (ENV is then freed). */
static int take_slot(fh_gateway *g, fh_wire_msg *m, Flowhost__Envelope *env)
{
    int i = gw_slot_alloc(g);
    if (i < 0) { /* cannot happen: the socket is not read while the flow is full */
        flowhost__envelope__free_unpacked(env, NULL);
        return -1;
    }
    slot *s = &g->slots[i];
    size_t idlen;
    const void *id = fh_wire_data(m, 0, &idlen);
    memcpy(s->client, id, idlen);
    s->client_len = idlen;
    s->env = env;
    s->admitted = false;
    return i;
}


/* Whether DOCS, all frames together, are within the flow's max_message_size (each frame
 * is checked by ZeroMQ; blob frames add up). If not, WHY (LIMIT_WHY_MAX bytes) says so,
 * naming WHAT; else WHY is "". */
bool gw_within_limit(const fh_gateway *g, const fh_wire_docs *docs, const char *what,
                         char *why)
{
    size_t size = fh_wire_docs_size(docs);
    why[0] = '\0';
    if (size <= (size_t)g->cfg->max_message_size)
        return true;
    snprintf(why, LIMIT_WHY_MAX, "the %s's documents are %zu bytes, over the flow's max_message_size (%d)",
             what, size, g->cfg->max_message_size);
    return false;
}

/* Answers a request the gateway refuses, without taking a slot for long. */
void gw_refuse_slot(fh_gateway *g, int i, const char *why)
{
    slot *s = &g->slots[i];
    s->env_stale = false; /* the answer is the envelope as decoded (its ids), not the frame */
    s->rejected = true;
    fh_wire_docs_close(&s->docs);
    fh_wire_docs_init(&s->docs);
    if (s->env->parameters != NULL) {
        flowhost__value__free_unpacked(s->env->parameters, NULL);
        s->env->parameters = NULL;
    }
    if (fh_envelope_set_error(s->env, "gateway", why) != 0) {
        gw_slot_free(g, i);
        return;
    }
    gw_finish(g, i);
}

static void refuse(fh_gateway *g, fh_wire_msg *m, Flowhost__Envelope *env, bool ids_only,
                   const char *why)
{
    size_t idlen, envlen;
    const void *id = fh_wire_data(m, 0, &idlen);
    if (gw_replies_unread(g, id, idlen)) { /* it would not read the answer either */
        flowhost__envelope__free_unpacked(env, NULL);
        return;
    }
    /* The answer is the envelope as the client sent it but for its parameters: decoded
     * whole when ENV holds its ids only (IDS_ONLY) and it can be. */
    const void *envbuf = fh_wire_data(m, 3, &envlen);
    Flowhost__Envelope *full;
    if (ids_only && envbuf != NULL &&
        fh_envelope_decode_max(envbuf, envlen, (size_t)g->cfg->max_message_size, &full, NULL) == 0) {
        char *t = full->request_id; /* the ids as checked (and tamed for the log) */
        full->request_id = env->request_id;
        env->request_id = t;
        t = full->endpoint;
        full->endpoint = env->endpoint;
        env->endpoint = t;
        flowhost__envelope__free_unpacked(env, NULL);
        env = full;
    }
    int i = take_slot(g, m, env);
    if (i >= 0)
        gw_refuse_slot(g, i, why);
}

void gw_on_client_message(fh_gateway *g, fh_wire_msg *m)
{
    gw_door_delivered(g, m);
    size_t idlen, envlen;
    fh_wire_data(m, 0, &idlen);
    int cmd = fh_wire_command(m, 1);
    if (cmd < 0 || idlen == 0 || idlen > MAX_ID) {
        gw_log("dropped a client message: %s", cmd < 0 ? fh_last_error() : "bad routing id");
        return;
    }
    if (cmd == FH_CMD_HEARTBEAT) { /* a probe (flowhost ping): answered with the flow's
                                    * readiness, "" when ready, else why not */
        char why[300];
        gw_flow_ready(g, why, sizeof why);
        zmq_msg_t pay;
        if (zmq_msg_init_size(&pay, strlen(why)) == 0) {
            memcpy(zmq_msg_data(&pay), why, strlen(why));
            fh_wire_send(g->front, fh_wire_data(m, 0, &idlen), idlen, FH_CMD_HEARTBEAT, &pay, 1,
                         ZMQ_DONTWAIT);
        }
        return;
    }
    if (cmd != FH_CMD_REQUEST) {
        gw_log("dropped a client message: unexpected command %d", cmd);
        return;
    }
    const void *envbuf = fh_wire_data(m, 3, &envlen);
    Flowhost__Envelope *env = NULL;
    size_t decoded = 0;
    /* A well-formed envelope within max_message_size decoded (measured), without a status:
     * only its ids are decoded now; the frame goes on as it came, decoded only if the
     * gateway ever needs more (gw_slot_env). */
    fh_envelope_peek_t pk;
    bool raw = envbuf != NULL &&
               fh_pb_measure(&flowhost__envelope__descriptor, envbuf, envlen,
                             (size_t)g->cfg->max_message_size, NULL) == 0 &&
               fh_envelope_peek(envbuf, envlen, &pk) == 0 && !pk.has_status &&
               fh_envelope_decode_ids(envbuf, envlen, &env) == 0;
    if (raw) {
        env->no_wait = pk.no_wait;
        decoded = sizeof *env + strlen(env->request_id) + strlen(env->endpoint) + 2;
    }
    /* Else in full: it may cost at most max_message_size decoded, checked before. */
    int rc = raw ? 0
         : envbuf == NULL
             ? FH_E_PROTOCOL
             : fh_envelope_decode_max(envbuf, envlen, (size_t)g->cfg->max_message_size, &env,
                                      &decoded);
    if (rc == FH_E_RANGE) {
        /* Well-formed but refused (too large decoded, a NUL in a string): its id can be
         * read, so the client hears why instead of waiting. */
        char why[LIMIT_WHY_MAX + 200];
        snprintf(why, sizeof why, "%s", fh_last_error());
        if (fh_envelope_decode_ids(envbuf, envlen, &env) == 0) {
            tame_request_id(env->request_id);
            gw_log("refused request %.64s: %s", env->request_id, why);
            refuse(g, m, env, false, why);
            return;
        }
        fh_set_error(rc, "%s", why);
    }
    if (rc != 0) {
        gw_log("dropped a client message: %s", envbuf ? fh_last_error() : "no envelope");
        return;
    }
    if (!valid_request_id(env->request_id)) {
        tame_request_id(env->request_id);
        refuse(g, m, env, raw, "invalid request id: it must be 1 to 256 bytes of text "
               "without control characters");
        return;
    }
    if (g->draining) {
        refuse(g, m, env, raw, "the flow is shutting down: request refused");
        return;
    }
    if (env->no_wait && g->inflight + g->reserve >= g->n_slots) {
        char why[160];
        snprintf(why, sizeof why, "busy: the flow is full (%zu requests in flight); try again later",
                 g->inflight);
        refuse(g, m, env, raw, why);
        return;
    }
    if (!valid_endpoint(env->endpoint)) {
        refuse(g, m, env, raw, "invalid endpoint: it must start with '/' and hold "
               "printable characters only");
        return;
    }
    int i = take_slot(g, m, env);
    if (i < 0)
        return;
    slot *s = &g->slots[i];
    if (env->status == NULL) {
        zmq_msg_move(&s->env_frame, &m->frames[3]);
        s->env_stale = raw; /* the frame says more than the ids decoded */
    } else { /* a client cannot send a request already failed: the frame sent on to the
              * executors must not say so either, so it is encoded again */
        flowhost__status__free_unpacked(env->status, NULL);
        env->status = NULL;
        zmq_msg_close(&s->env_frame);
        if (fh_pb_pack_msg(&env->base, &s->env_frame) != 0) {
            zmq_msg_init(&s->env_frame);
            gw_fail(g, i, NULL, fh_last_error());
            return;
        }
    }
    char why[LIMIT_WHY_MAX] = "";
    if (fh_wire_docs_take(&s->docs, m, 4) != 0 || !gw_within_limit(g, &s->docs, "request", why)) {
        if (why[0] == '\0')
            snprintf(why, sizeof why, "%s", fh_last_error());
        fh_wire_docs_close(&s->docs); /* not sent back */
        gw_fail(g, i, NULL, why);
        return;
    }
    /* What the slot holds: the frames as they came, and the envelope decoded. */
    s->bytes = zmq_msg_size(&s->env_frame) + decoded + fh_wire_docs_size(&s->docs);
    s->env_decoded = decoded;
    g->inflight_bytes += s->bytes;
    gw_replies_admit(g, i);
}

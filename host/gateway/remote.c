/* Workers on other machines: executors with `host:` (Jina's external executors), served
 * by `flowhost worker --listen` there (worker_listen.h).
 *
 * The gateway's workers' ROUTER connects to each of them as well as it binds for the
 * local ones: every connect names the peer (ZMQ_CONNECT_ROUTING_ID, so that the gateway
 * can speak first and knows who answers) and takes the CURVE keys set just before it
 * (libzmq copies the socket's options into each connection when it is made: a worker
 * with a `worker_key` gets a CURVE client connection, one without a plain one).
 *
 * A remote worker is never started nor restarted here. The gateway announces itself (a
 * READY holding a GatewayHello) every ANNOUNCE_MS until the worker answers with its
 * WorkerHello; from then on it is a worker like any other (credit, batching, heartbeats
 * and timeouts of workers.c). When it is lost (silence past the heartbeat bound, a
 * `timeout`, a reply out of order, or the worker saying DISCONNECT), every request it
 * held gets an error at once (it may have run them: none is sent twice), its executor's
 * other replicas serve on, and it is down (health, metrics) until it answers an
 * announce again. Its connection is made anew at once: what the old one queued is
 * dropped with it, and a link that came back after a cut needs no TCP timeout to pass.
 * While it does not answer, the connection is made anew every RECONNECT_MS.
 */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "codec.h"
#include "pb.h"
#include "util.h"

#define ANNOUNCE_MS 500      /* a worker not ready is told who the gateway is this often */
#define RECONNECT_MS 10000   /* and its connection made anew this often */
#define CONNECT_TIMEOUT_MS 1000 /* a TCP connect waits this long for an answer */
#define MONITOR_ENDPOINT "inproc://flowhost-back-monitor"

static const char *where(const gw_worker *w)
{
    return w->endpoint + 6; /* after tcp:// */
}

static gw_worker *remote_by_endpoint(fh_gateway *g, const char *ep)
{
    GW_FOR_WORKERS(g, w)
        if (w->remote && strcmp(w->endpoint, ep) == 0)
            return w;
    return NULL;
}

/* Connects the workers' socket to W, with W's routing id and keys. */
static int connect_one(fh_gateway *g, gw_worker *w)
{
    const fh_flow_executor *x = w->ex->cfg;
    void *s = g->back;
    /* A new routing id for each connection: libzmq lets an old connection go in its own
     * time, and two connections of one id at once abort the process. Not starting with
     * a zero byte: those are libzmq's own. */
    w->id_len = (size_t)snprintf((char *)w->id, sizeof w->id, "remote-%zu-%u-%llu",
                                 w->ex->index, w->replica,
                                 (unsigned long long)++w->connections);
    int rc = zmq_setsockopt(s, ZMQ_CONNECT_ROUTING_ID, w->id, w->id_len);
    if (rc == 0 && x->has_worker_key)
        rc = zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, x->worker_key, FH_KEY_TEXT) != 0 ||
             zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, g->cfg->gateway_key.public_key,
                            FH_KEY_TEXT) != 0 ||
             zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, g->cfg->gateway_key.secret_key,
                            FH_KEY_TEXT) != 0;
    else if (rc == 0) /* back to no mechanism (a NULL username resets it) */
        rc = zmq_setsockopt(s, ZMQ_PLAIN_USERNAME, NULL, 0);
    /* A connection attempt to a machine that is unreachable (a link cut) gives up after
     * this and libzmq tries again at once: a link that comes back is used within it, not
     * after TCP's SYN back-off. */
    int connect_ms = CONNECT_TIMEOUT_MS;
    if (rc == 0)
        rc = zmq_setsockopt(s, ZMQ_CONNECT_TIMEOUT, &connect_ms, sizeof connect_ms);
    if (rc != 0 || zmq_connect(s, w->endpoint) != 0)
        return fh_set_error(FH_E_ZMQ, "executor '%s': cannot connect to %s: %s", x->name,
                            where(w), zmq_strerror(errno));
    w->connected_ms = fh_monotonic_ms();
    w->announced_ms = 0;
    w->conn_fd = -1; /* until the monitor says CONNECTED */
    return 0;
}

/* A new connection to W: the old one, and what it queued, are dropped. */
static void reconnect(fh_gateway *g, gw_worker *w)
{
    zmq_disconnect(g->back, w->endpoint);
    if (connect_one(g, w) != 0)
        gw_log("%s", fh_last_error());
}

/* Tells W who the gateway is, and what the flow says of its executor. */
static void announce(fh_gateway *g, gw_worker *w)
{
    const gw_exec *ex = w->ex;
    const fh_flow_executor *x = ex->cfg;
    Flowhost__GatewayHello h = FLOWHOST__GATEWAY_HELLO__INIT;
    /* Every rule the flow gives (at most one per endpoint it names). */
    Flowhost__BatchRule *rules = calloc(x->n_batching + 1, sizeof *rules);
    Flowhost__BatchRule **rp = calloc(x->n_batching + 1, sizeof *rp);
    if (rules == NULL || rp == NULL) { /* told again at the next announce */
        free(rules);
        free(rp);
        gw_log("executor '%s': out of memory announcing the gateway to %s", x->name, where(w));
        w->announced_ms = fh_monotonic_ms();
        return;
    }
    h.token = g->token;
    h.executor = x->name;
    h.replica = w->replica;
    h.replicas = (uint32_t)ex->n_workers;
    h.shard = ex->shard;
    h.shards = ex->shards;
    h.max_message_size = g->cfg->max_message_size;
    for (size_t k = 0; k < x->n_batching; k++) {
        flowhost__batch_rule__init(&rules[k]);
        rules[k].endpoint = x->batching[k].endpoint;
        rules[k].preferred_batch_size = (uint32_t)x->batching[k].preferred_batch_size;
        rules[k].timeout_ms = (uint32_t)x->batching[k].timeout_ms;
        rp[k] = &rules[k];
        h.n_batching = k + 1;
    }
    h.batching = rp;
    h.when = x->when_text ? x->when_text : (char *)"";
    h.when_only_matched = g->graph.feeds_join && g->graph.feeds_join[ex->node];
    zmq_msg_t frame;
    if (fh_pb_pack_msg(&h.base, &frame) == 0)
        fh_wire_send(g->back, w->id, w->id_len, FH_CMD_READY, &frame, 1, ZMQ_DONTWAIT);
    free(rules);
    free(rp);
    w->announced_ms = fh_monotonic_ms();
}

int gw_remote_init(fh_gateway *g)
{
    if (getrandom(&g->token, sizeof g->token, 0) != (ssize_t)sizeof g->token)
        g->token = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    bool any = false;
    GW_FOR_WORKERS(g, w) {
        const gw_exec *ex = w->ex;
        const fh_flow_executor *x = ex->cfg;
        if (x->n_hosts == 0)
            continue;
        size_t at = (size_t)ex->shard * ex->n_workers + w->replica; /* shard-major */
        w->remote = true;
        snprintf(w->endpoint, sizeof w->endpoint, "tcp://%s", x->hosts[at]);
        any = true;
    }
    if (!any)
        return 0;
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                 ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECTED;
    g->back_monitor = zmq_socket(g->zctx, ZMQ_PAIR);
    if (g->back_monitor == NULL || zmq_socket_monitor(g->back, MONITOR_ENDPOINT, events) != 0 ||
        zmq_connect(g->back_monitor, MONITOR_ENDPOINT) != 0)
        return fh_set_error(FH_E_ZMQ, "cannot watch the workers' connections: %s",
                            zmq_strerror(errno));
    GW_FOR_WORKERS(g, w)
        if (w->remote) {
            int rc = connect_one(g, w);
            if (rc != 0)
                return rc;
            announce(g, w);
        }
    return 0;
}

/* Handshakes that failed: said once per worker until it is ready again. */
static void read_monitor(fh_gateway *g)
{
    for (;;) {
        zmq_msg_t ev, ep;
        zmq_msg_init(&ev);
        if (g->back_monitor == NULL || zmq_msg_recv(&ev, g->back_monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
        }
        zmq_msg_close(&ev);
        zmq_msg_init(&ep);
        zmq_msg_recv(&ep, g->back_monitor, 0);
        char addr[300];
        snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&ep), (const char *)zmq_msg_data(&ep));
        zmq_msg_close(&ep);
        gw_worker *w = remote_by_endpoint(g, addr);
        if (w == NULL)
            continue;
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            w->refused_said = false;
            continue;
        }
        if (event == ZMQ_EVENT_CONNECTED) {
            w->conn_fd = (int)value;
            continue;
        }
        if (event == ZMQ_EVENT_DISCONNECTED) {
            /* Its process ended, or its machine said the connection is gone: its
             * requests are answered now, not at the heartbeat bound. Only its current
             * connection: one given up (reconnect) closes in its own time, maybe after
             * the worker answered on the new one. (Events come in order: a descriptor
             * reused by the new connection is closed first.) */
            if (w->ready && (w->conn_fd < 0 || (int)value == w->conn_fd)) {
                char why[300];
                snprintf(why, sizeof why, "executor '%s': the connection to its worker at %s "
                         "closed", w->ex->cfg->name, where(w));
                gw_remote_lose(g, w, why);
            }
            continue;
        }
        char why[400];
        bool curve = w->ex->cfg->has_worker_key;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            snprintf(why, sizeof why, "the worker refused the gateway's key (status %u): it "
                     "is not one of the worker's --allow", (unsigned)value);
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) /* VALUE: an errno */
            snprintf(why, sizeof why, "the %shandshake failed: %s%s", curve ? "CURVE " : "",
                     strerror((int)value),
                     curve ? "" : " (what listens there is not a flowhost worker, or one "
                                  "that requires keys: its --key)");
        else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            snprintf(why, sizeof why, curve ? "the worker speaks no CURVE (it has no --key), "
                     "the flow gives it a worker_key" : "the worker requires CURVE (it has "
                     "--key): give the flow its public key as 'worker_key'");
        else if (curve)
            snprintf(why, sizeof why, "the CURVE handshake failed (protocol error %#x): the "
                     "flow's worker_key is not that worker's public key", (unsigned)value);
        else
            snprintf(why, sizeof why, "the handshake failed (protocol error %#x): what "
                     "listens there is not a flowhost worker", (unsigned)value);
        if (!w->refused_said)
            gw_log("executor '%s': its worker at %s: %s", w->ex->cfg->name, where(w), why);
        w->refused_said = true;
        snprintf(w->down_reason, sizeof w->down_reason, "executor '%s': its worker at %s is "
                 "unreachable: %s", w->ex->cfg->name, where(w), why);
    }
}

void gw_remote_lose(fh_gateway *g, gw_worker *w, const char *why)
{
    gw_exec *x = w->ex;
    gw_log("%s; it is down until it answers again (a remote worker is not restarted)%s", why,
           w->held_n ? "; the requests it held get an error" : "");
    w->ready = false;
    int i;
    while ((i = gw_held_pop(w)) >= 0) { /* it may have run them: none is sent again */
        gw_observe_error(g, x, w->timing_out ? FH_METRICS_E_TIMEOUT : FH_METRICS_E_CRASH);
        g->slots[i].timed_out = w->timing_out;
        gw_fail(g, i, x->cfg, why);
    }
    w->timing_out = false;
    w->down = true;
    w->probing = false;
    w->lost_ms = fh_monotonic_ms();
    snprintf(w->down_reason, sizeof w->down_reason, "executor '%s' is down: %s", x->cfg->name,
             why);
    if (gw_exec_down(x)) {
        while ((i = gw_dequeue(g, x)) >= 0) {
            gw_observe_error(g, x, FH_METRICS_E_UNAVAILABLE);
            gw_fail(g, i, x->cfg, w->down_reason);
        }
    }
    reconnect(g, w);
    announce(g, w);
    gw_feed(g, x);
}

/* A READY from remote worker W: its WorkerHello (ready, or why it will not serve). */
static void on_ready(fh_gateway *g, gw_worker *w, fh_wire_msg *m)
{
    size_t len;
    const void *buf = fh_wire_data(m, 3, &len);
    Flowhost__WorkerHello *h =
        buf ? (Flowhost__WorkerHello *)fh_pb_unpack(&flowhost__worker_hello__descriptor, buf, len)
            : NULL;
    const char *name = w->ex->cfg->name;
    if (h == NULL) {
        gw_log("executor '%s': dropped a malformed READY from its worker at %s", name, where(w));
        return;
    }
    if (w->ready) { /* an announce answered twice */
        flowhost__worker_hello__free_unpacked(h, NULL);
        return;
    }
    /* The connections' events up to this answer first: a connection given up that
     * closed meanwhile is seen while W is not ready, and the current one is known. */
    read_monitor(g);
    if (h->status != NULL && h->status->code == FLOWHOST__STATUS__CODE__ERROR) {
        if (!w->refused_said)
            gw_log("executor '%s': its worker at %s refused: %s", name, where(w),
                   h->status->description);
        w->refused_said = true;
        snprintf(w->down_reason, sizeof w->down_reason, "executor '%s': its worker at %s "
                 "refused: %s", name, where(w), h->status->description);
        flowhost__worker_hello__free_unpacked(h, NULL);
        return;
    }
    flowhost__worker_hello__free_unpacked(h, NULL);
    int64_t now = fh_monotonic_ms();
    if (w->lost_ms > 0)
        gw_log("executor '%s': its worker at %s is back (%lld ms after it was lost)", name,
               where(w), (long long)(now - w->lost_ms));
    w->ready = true;
    w->down = false;
    w->probing = false;
    w->refused_said = false;
    w->sent = 0;
    w->held_first = w->held_n = 0;
    w->held_bytes = 0;
    w->service_us = 0;
    w->heard_ms = w->pinged_ms = now;
    w->idle_since_us = fh_monotonic_us();
    if (w->starts++ > 0)
        gw_observe_restart(g, w); /* health and metrics: it came back */
    gw_feed(g, w->ex);
}

bool gw_remote_message(fh_gateway *g, gw_worker *w, fh_wire_msg *m, int cmd)
{
    if (w == NULL || !w->remote)
        return false;
    if (cmd == FH_CMD_READY) {
        on_ready(g, w, m);
        return true;
    }
    if (cmd == FH_CMD_DISCONNECT) {
        if (w->ready) {
            char why[300];
            snprintf(why, sizeof why, "executor '%s': its worker at %s left (it stopped, or "
                     "it no longer serves this gateway)", w->ex->cfg->name, where(w));
            gw_remote_lose(g, w, why);
        }
        return true;
    }
    return !w->ready; /* a worker not ready has nothing else to say */
}

void gw_remote_check(fh_gateway *g, gw_worker *w, int64_t now, int64_t *next)
{
    read_monitor(g);
    if (w->ready) {
        gw_check_worker(g, w, now, next);
        return;
    }
    if (g->draining)
        return;
    if (now - w->connected_ms >= RECONNECT_MS)
        reconnect(g, w);
    if (now - w->announced_ms >= ANNOUNCE_MS)
        announce(g, w);
    int64_t at = w->announced_ms + ANNOUNCE_MS;
    if (*next < 0 || at < *next)
        *next = at;
}

int gw_remote_tick(fh_gateway *g)
{
    int64_t now = fh_monotonic_ms(), next = -1;
    GW_FOR_WORKERS(g, w)
        if (w->remote && !w->ready)
            gw_remote_check(g, w, now, &next);
    return next < 0 ? -1 : next > now ? (int)(next - now) : 0;
}

void gw_remote_not_ready(fh_gateway *g)
{
    GW_FOR_WORKERS(g, w) {
        if (!w->remote || w->ready)
            continue;
        if (w->down_reason[0] == '\0')
            snprintf(w->down_reason, sizeof w->down_reason, "executor '%s' is down: its "
                     "worker at %s did not answer", w->ex->cfg->name, where(w));
        gw_log("%s (the flow serves without it; it is taken in when it answers)",
               w->down_reason);
        w->down = true;
        w->lost_ms = fh_monotonic_ms();
    }
}

void gw_remote_stop(fh_gateway *g)
{
    bool any = false;
    GW_FOR_WORKERS(g, w)
        if (w->remote) {
            any = true;
            if (w->ready) /* it gives the gateway up now, not after the heartbeat bound */
                fh_wire_send(g->back, w->id, w->id_len, FH_CMD_DISCONNECT, NULL, 0, ZMQ_DONTWAIT);
            w->ready = false;
        }
    if (any) { /* time for those to leave when the socket closes */
        int linger = 500;
        zmq_setsockopt(g->back, ZMQ_LINGER, &linger, sizeof linger);
    }
}

void gw_remote_free(fh_gateway *g)
{
    if (g->back_monitor != NULL) {
        /* Stopped before its reader goes: an event the socket sends after that (a
         * connection closing as the flow stops) would be lost with its frames never
         * freed (the endpoint's name, malloc'd when long). */
        zmq_socket_monitor(g->back, NULL, 0);
        zmq_close(g->back_monitor);
    }
    g->back_monitor = NULL;
}

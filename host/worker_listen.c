/* A remote worker: its options, and the listener thread between its gateway and the
 * worker runtime. See worker_listen.h. */
#define _GNU_SOURCE
#include "worker_listen.h"
#include "worker_internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <flowhost/error.h>
#include <flowhost/keys.h>

#include "flow_config.h"
#include "flow_when.h"
#include "listen_guard.h"
#include "codec.h"
#include "context.h"
#include "log.h"
#include "pb.h"
#include "util.h"
#include "wire.h"
#include "worker_spec.h"
#include "zap.h"

#define INNER_ENDPOINT "inproc://flowhost-worker"
#define MONITOR_ENDPOINT "inproc://flowhost-worker-monitor"
#define POLL_MS 200
/* Log lines about strangers (requests from a gateway this worker does not serve): the
 * first, then one in this many. */
#define LOG_EVERY 100
/* The most requests of one gateway the runtime may hold: the most credit a flow gives a
 * worker (GW_CREDIT_MAX, FH_FLOW_MAX_CREDIT). Twice this, with a gone gateway's, stays
 * below the inproc queue's high-water marks (1000 each side). */
#define FH_WORKER_IN_FLIGHT_MAX FH_FLOW_MAX_CREDIT
/* A connection that has not finished its handshake this long is closed (libzmq's
 * default, 30 s, lets a flood of idle connections hold every descriptor). */
#define HANDSHAKE_MS 5000
#define BACKLOG 32
/* Descriptors kept for the worker's own use (libzmq's mailboxes, the executor's files)
 * and for the connections libzmq accepts before the listener sees them (the backlog,
 * and a burst while this thread waits for a core): connections are held back in the
 * kernel beyond the limit less this and the backlog. */
#define RESERVE_FDS 64
/* The connection events the monitor's queue holds (libzmq drops those it has no room
 * for: a flood of connections must not lose a gateway's). */
#define MONITOR_QUEUE 100000
enum { FD_OPEN = 1, FD_CLOSED = 2 };

typedef struct fh_worker_listener {
    pthread_t thread;
    bool started;
    worker *w;                    /* the runtime: its stale_through only, from here */
    void *inner;                  /* DEALER at INNER_ENDPOINT: the worker's "gateway" */
    void *outer;                  /* ROUTER bound at ENDPOINT once the executor is ready */
    void *zap, *monitor;          /* with CURVE: the ZAP handler; the handshake events */
    char endpoint[300];
    char name[128];               /* the executor's, for the log */
    bool curve;
    fh_keypair key;
    unsigned char (*allow)[32];   /* the gateways let in, and the worker's own key */
    size_t n_allow;
    int sigfd;
    _Atomic bool stop;            /* the main thread is done: end */
    bool stopping;                /* a signal came, or the runtime failed: serve nothing */
    int result;                   /* 0, or -1: it could not serve (said why) */
    /* the gateway served */
    unsigned char gw_id[256];
    size_t gw_len;                /* 0: none */
    uint64_t gw_token;
    char gw_addr[64];
    int gw_fd;                    /* its connection's descriptor (-1: not known) */
    uint32_t gw_replica, gw_shard; /* which of its workers this one is */
    char gw_executor[128];
    int64_t gw_heard_ms;
    /* requests passed to the runtime, and answers back from it */
    uint64_t fwd, answered;
    uint64_t owed_old;            /* answers still to come for a gateway that went */
    unsigned long strangers;
    unsigned long failed_handshakes;
    unsigned long refused;
    unsigned long refused_gateways; /* gateways refused while another is served */
    unsigned long refused_twice;    /* the served gateway's asks to be another worker */
    unsigned long refused_hellos;   /* hellos with settings this worker cannot take */
    unsigned long over_credit;      /* requests dropped: the runtime held too many */
    bool beat_owed;               /* a HEARTBEAT passed to the runtime, not answered yet */
    bool hello_owed;              /* the gateway served waits for its hello (send_hello) */
    int64_t max_message_size;     /* --max-message-size: the largest frame taken from
                                     anyone, and the most a flow may set */
    zmq_msg_t hello;              /* the runtime's WorkerHello, sent to each gateway */
    bool have_hello;
    /* Connections: counted by descriptor (the monitor's ACCEPTED and DISCONNECTED); at
     * MAX_OPEN a filter on the listening socket holds new ones back in the kernel, so
     * that libzmq never finds its descriptors spent (its accept loop then spins). */
    int listen_fd;                /* -1: not known yet */
    unsigned char *fd_state;      /* n_fd of them: FD_OPEN, FD_CLOSED or 0 (not seen) */
    size_t n_fd, open, max_open;
    bool filtered;
} fh_worker_listener;

static void say(const fh_worker_listener *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const fh_worker_listener *l, const char *fmt, ...)
{
    char line[1200];
    int n = snprintf(line, sizeof line, "worker %s: ", l->name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fh_log_emit(NULL, FH_LOG_WARNING, NULL, line);
}

/* ---- the gateway ------------------------------------------------------------------ */

/* Gives up the gateway served (WHY, for the log; TELL: say DISCONNECT to it). What the
 * runtime holds for it is answered into nothing. */
static void drop_gateway(fh_worker_listener *l, const char *why, bool tell)
{
    if (l->gw_len == 0)
        return;
    uint64_t held = l->fwd - l->answered - l->owed_old;
    say(l, "dropped the gateway at %s: %s", l->gw_addr[0] ? l->gw_addr : "?", why);
    if (held > 0)
        say(l, "%llu request%s of that gateway dropped (answered by it already; a "
            "handler still running has its result dropped)", (unsigned long long)held,
            held == 1 ? "" : "s");
    if (tell)
        fh_wire_send(l->outer, l->gw_id, l->gw_len, FH_CMD_DISCONNECT, NULL, 0, ZMQ_DONTWAIT);
    l->owed_old = l->fwd - l->answered;
    atomic_store(&l->w->stale_through, l->fwd);
    l->gw_len = 0;
}

/* Answers the READY of a gateway this worker does not serve with why not. */
static void refuse(fh_worker_listener *l, const void *id, size_t len, const char *why)
{
    Flowhost__WorkerHello h = FLOWHOST__WORKER_HELLO__INIT;
    Flowhost__Status st = FLOWHOST__STATUS__INIT;
    h.executor = l->name;
    h.pid = (int32_t)getpid();
    h.status = &st;
    st.code = FLOWHOST__STATUS__CODE__ERROR;
    st.executor = l->name;
    st.description = (char *)why;
    zmq_msg_t frame;
    if (fh_pb_pack_msg(&h.base, &frame) == 0)
        fh_wire_send(l->outer, id, len, FH_CMD_READY, &frame, 1, ZMQ_DONTWAIT);
}

/* Answers the gateway served with the runtime's WorkerHello: it is then ready for
 * requests. Not while the runtime still owes answers to a gateway that went (the
 * handler a `timeout` gave up on, still running): the gateway's requests would wait
 * behind it and time out too; the hello goes when the last of those is answered. */
static void send_hello(fh_worker_listener *l)
{
    if (l->owed_old > 0) {
        l->hello_owed = true;
        return;
    }
    l->hello_owed = false;
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    if (zmq_msg_copy(&copy, &l->hello) == 0)
        fh_wire_send(l->outer, l->gw_id, l->gw_len, FH_CMD_READY, &copy, 1, ZMQ_DONTWAIT);
    zmq_msg_close(&copy);
}

static void read_monitor(fh_worker_listener *l);

/* Whether this worker can take the settings of the hello GH: what a flow could not say
 * is refused (a batch timeout past the flow's own bound would hold a request for days),
 * and a max_message_size over the worker's own (frames it would not take). Returns 0,
 * or -1 with why in WHY (SIZE bytes). */
static int check_hello(const fh_worker_listener *l, const Flowhost__GatewayHello *gh, char *why,
                       size_t size)
{
    if (gh->max_message_size < 0 || gh->max_message_size > l->max_message_size) {
        snprintf(why, size, "the flow's max_message_size (%lld) is over this worker's "
                 "--max-message-size (%lld)", (long long)gh->max_message_size,
                 (long long)l->max_message_size);
        return -1;
    }
    for (size_t k = 0; k < gh->n_batching; k++) {
        const Flowhost__BatchRule *r = gh->batching[k];
        if (r->endpoint[0] != '/' || r->preferred_batch_size < 1 ||
            r->preferred_batch_size > FH_FLOW_MAX_BATCH ||
            r->timeout_ms > FH_FLOW_MAX_BATCH_TIMEOUT) {
            snprintf(why, size, "its batching rule for '%.100s' is not one a flow can give "
                     "(preferred_batch_size %u: 1 to %d; timeout %u ms: at most %d)",
                     r->endpoint, r->preferred_batch_size, FH_FLOW_MAX_BATCH, r->timeout_ms,
                     FH_FLOW_MAX_BATCH_TIMEOUT);
            return -1;
        }
    }
    struct fh_when *when = NULL;
    if (gh->when[0] != '\0') {
        if (fh_when_compile_json(gh->when, &when) != 0) {
            snprintf(why, size, "its 'when' does not compile: %s", fh_last_error());
            return -1;
        }
        fh_when_destroy(&when);
    }
    return 0;
}

/* A READY from ID: a gateway announces itself (M's frame 3 is its GatewayHello). */
static void on_announce(fh_worker_listener *l, fh_wire_msg *m, const unsigned char *id,
                        size_t len)
{
    size_t plen;
    const void *buf = fh_wire_data(m, 3, &plen);
    Flowhost__GatewayHello *gh =
        buf ? (Flowhost__GatewayHello *)fh_pb_unpack(&flowhost__gateway_hello__descriptor, buf, plen)
            : NULL;
    const char *addr = zmq_msg_gets(&m->frames[1], "Peer-Address");
    if (gh == NULL || len > sizeof l->gw_id) {
        say(l, "dropped a malformed READY from %s", addr ? addr : "?");
        if (gh)
            flowhost__gateway_hello__free_unpacked(gh, NULL);
        return;
    }
    /* Its connection may have closed already: the listener reads the connections'
     * events before the messages, so a close that came in the same turn as this READY
     * was read while this gateway was not yet served, and ignored. Served now, the gone
     * gateway would keep the worker from the next ones until its silence gave it up.
     * So every event before this READY first (its ACCEPTED, a close, the served
     * gateway's close), then its connection's state. */
    const char *fd_text = zmq_msg_gets(&m->frames[1], "__fd"); /* libzmq's own property */
    int fd = fd_text != NULL ? atoi(fd_text) : -1;
    read_monitor(l);
    if (fd >= 0 && (size_t)fd < l->n_fd && l->fd_state[fd] == FD_CLOSED) {
        flowhost__gateway_hello__free_unpacked(gh, NULL);
        return;
    }
    int64_t now = fh_monotonic_ms();
    if (l->gw_len == len && memcmp(l->gw_id, id, len) == 0) { /* said again: answered again */
        l->gw_heard_ms = now;
        send_hello(l);
        flowhost__gateway_hello__free_unpacked(gh, NULL);
        return;
    }
    bool alive = l->gw_len > 0 && now - l->gw_heard_ms < FH_WORKER_GATEWAY_LOST_MS;
    if (alive && gh->token == l->gw_token &&
        (gh->replica != l->gw_replica || gh->shard != l->gw_shard ||
         strcmp(gh->executor, l->gw_executor) != 0)) {
        /* The same gateway, for another of its workers: an address listed twice, or a
         * load balancer that sent two of its connections here. The first keeps it. */
        char why[400];
        snprintf(why, sizeof why, "this worker (at %s) already serves this gateway as "
                 "executor '%s' replica %u shard %u; each worker of a flow needs an address "
                 "of its own", l->endpoint + 6, l->gw_executor, l->gw_replica, l->gw_shard);
        if (l->refused_twice++ % LOG_EVERY == 0)
            say(l, "refused to serve its gateway as executor '%s' replica %u shard %u too "
                "(%lu times so far): it serves it as replica %u shard %u", gh->executor,
                gh->replica, gh->shard, l->refused_twice, l->gw_replica, l->gw_shard);
        refuse(l, id, len, why);
        flowhost__gateway_hello__free_unpacked(gh, NULL);
        return;
    }
    if (alive && gh->token != l->gw_token) {
        char why[300];
        snprintf(why, sizeof why, "this worker (at %s) serves another gateway (at %s); it "
                 "serves one at a time", l->endpoint + 6, l->gw_addr);
        if (l->refused_gateways++ % LOG_EVERY == 0)
            say(l, "refused the gateway at %s (%lu times so far): it serves the gateway at %s",
                addr ? addr : "?", l->refused_gateways, l->gw_addr);
        refuse(l, id, len, why);
        flowhost__gateway_hello__free_unpacked(gh, NULL);
        return;
    }
    char why[700];
    if (check_hello(l, gh, why, sizeof why) != 0) {
        if (l->refused_hellos++ % LOG_EVERY == 0)
            say(l, "refused the gateway at %s (%lu times so far): %s", addr ? addr : "?",
                l->refused_hellos, why);
        refuse(l, id, len, why);
        flowhost__gateway_hello__free_unpacked(gh, NULL);
        return;
    }
    if (l->gw_len > 0)
        drop_gateway(l, gh->token == l->gw_token ? "it came back on a new connection"
                                                 : "a new gateway came, and it was silent",
                     true);
    memcpy(l->gw_id, id, len);
    l->gw_len = len;
    l->gw_token = gh->token;
    l->gw_replica = gh->replica;
    l->gw_shard = gh->shard;
    snprintf(l->gw_executor, sizeof l->gw_executor, "%s", gh->executor);
    l->gw_heard_ms = now;
    snprintf(l->gw_addr, sizeof l->gw_addr, "%s", addr ? addr : "?");
    l->gw_fd = fd;
    say(l, "serving the gateway at %s (executor '%s' of its flow, replica %u of %u, shard %u "
        "of %u)", l->gw_addr, gh->executor, gh->replica, gh->replicas ? gh->replicas : 1,
        gh->shard, gh->shards ? gh->shards : 1);
    flowhost__gateway_hello__free_unpacked(gh, NULL);
    /* Its settings to the runtime before its first request (inproc keeps the order).
     * The queue to the runtime is bounded (forward_request, one heartbeat): full only
     * if something is badly wrong; then this gateway is not served. */
    if (fh_wire_send(l->inner, NULL, 0, FH_CMD_READY, &m->frames[3], 1, ZMQ_DONTWAIT) != 0) {
        drop_gateway(l, "its settings could not be passed to the executor (its queue is full)",
                     true);
        return;
    }
    send_hello(l);
}

/* Passes a REQUEST of the gateway served (M) to the runtime, never waiting: this thread
 * must stay free for pings, ZAP and heartbeats while a long handler runs. What the
 * runtime holds is bounded: the gateway's own at most its credit (an honest gateway
 * never sends more), all of them twice that (a gateway that went may still be owed
 * answers). A request over the bound is dropped and logged: its gateway is not keeping
 * to its credit, and loses this worker at its deadline. */
static void forward_request(fh_worker_listener *l, fh_wire_msg *m)
{
    uint64_t held = l->fwd - l->answered;
    bool over = held - l->owed_old >= FH_WORKER_IN_FLIGHT_MAX ||
                held >= 2 * (uint64_t)FH_WORKER_IN_FLIGHT_MAX;
    if (!over &&
        fh_wire_send(l->inner, NULL, 0, FH_CMD_REQUEST, &m->frames[3], m->n - 3, ZMQ_DONTWAIT) == 0) {
        l->fwd++;
        return;
    }
    if (l->over_credit++ % LOG_EVERY == 0)
        say(l, "dropped a request of its gateway (%lu so far): it holds %llu already, the "
            "most a flow's credit allows is %d", l->over_credit, (unsigned long long)held,
            FH_WORKER_IN_FLIGHT_MAX);
}

/* A message on the bound socket: [id][signature][command][payload...]. */
static void on_outer(fh_worker_listener *l, fh_wire_msg *m)
{
    size_t len;
    const unsigned char *id = fh_wire_data(m, 0, &len);
    int cmd = fh_wire_command(m, 1);
    if (cmd < 0 || id == NULL)
        return; /* not flowhost's: dropped */
    bool ours = l->gw_len > 0 && len == l->gw_len && memcmp(id, l->gw_id, len) == 0;
    if (ours)
        l->gw_heard_ms = fh_monotonic_ms();
    switch (cmd) {
    case FH_CMD_READY:
        on_announce(l, m, id, len);
        break;
    case FH_CMD_HEARTBEAT:
        if (ours) { /* the runtime answers: a wedged one is seen by the gateway */
            /* One at a time: while the runtime owes an answer, the next ones would only
             * queue behind a long handler (whose beat thread speaks for it meanwhile). */
            if (!l->beat_owed &&
                fh_wire_send(l->inner, NULL, 0, FH_CMD_HEARTBEAT, NULL, 0, ZMQ_DONTWAIT) == 0)
                l->beat_owed = true;
        } else if (m->n > 3) {
            /* A gateway's ping (it carries its token), to a worker that does not serve it:
             * one that took this worker for another (restarted on the same address). */
            fh_wire_send(l->outer, id, len, FH_CMD_DISCONNECT, NULL, 0, ZMQ_DONTWAIT);
        } else { /* a probe (flowhost ping): the executor is loaded, so ready */
            zmq_msg_t empty;
            zmq_msg_init(&empty);
            fh_wire_send(l->outer, id, len, FH_CMD_HEARTBEAT, &empty, 1, ZMQ_DONTWAIT);
        }
        break;
    case FH_CMD_REQUEST:
        if (ours) {
            forward_request(l, m);
        } else {
            /* A gateway that takes this worker for its own (it was restarted, or gave the
             * gateway up): told at once, so that it answers its requests now. */
            if (l->strangers++ % LOG_EVERY == 0)
                say(l, "dropped a request from a gateway it does not serve (%lu so far): "
                    "told it DISCONNECT", l->strangers);
            fh_wire_send(l->outer, id, len, FH_CMD_DISCONNECT, NULL, 0, ZMQ_DONTWAIT);
        }
        break;
    case FH_CMD_DISCONNECT:
        if (ours)
            drop_gateway(l, "it said it is stopping", false);
        break;
    default:
        break;
    }
}

/* ---- the runtime ------------------------------------------------------------------ */

/* Holds new connections back in the kernel (ON: a filter that drops every packet on the
 * listening socket, so none completes and no descriptor is spent) or lets them in. */
static void set_filter(fh_worker_listener *l, bool on)
{
    if (l->listen_fd < 0 || l->filtered == on)
        return;
    int rc = fh_listen_hold_back(l->listen_fd, on);
    if (rc != 0) {
        say(l, "cannot %s new connections: %s", on ? "hold back" : "let in", strerror(errno));
        return;
    }
    l->filtered = on;
    if (on)
        say(l, "%zu connections open (the descriptor limit less a reserve): new ones wait",
            l->open);
}

/* Binds the socket gateways connect to: after the executor is ready, so that a probe
 * that gets an answer knows it is. Returns 0 or -1 (said why). */
static int bind_outer(fh_worker_listener *l, void *zctx)
{
    int one = 1, zero = 0;
    l->outer = zmq_socket(zctx, ZMQ_ROUTER);
    /* Replies are bounded by what the gateway sends (its credit): never dropped here.
     * Frames: the worker's own limit (--max-message-size), from the first byte, before
     * any hello: a stranger cannot make it hold more; a flow cannot raise it (a hello
     * over it is refused), only lower what is decoded. */
    if (l->outer == NULL || fh_wire_socket_defaults(l->outer, 0, l->max_message_size) != 0 ||
        zmq_setsockopt(l->outer, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(l->outer, ZMQ_SNDHWM, &zero, sizeof zero) != 0) {
        say(l, "cannot make its socket: %s", zmq_strerror(errno));
        return -1;
    }
    /* Connections that close (the gateway's, when its process or machine goes: what it
     * held is dropped at once) and, with CURVE, handshakes that fail. */
    int events = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                 ZMQ_EVENT_LISTENING | ZMQ_EVENT_ACCEPTED;
    int handshake = HANDSHAKE_MS, backlog = BACKLOG;
    size_t limit = fh_raise_fd_limit();
    l->max_open = limit > 2 * (RESERVE_FDS + BACKLOG) ? limit - RESERVE_FDS - BACKLOG
                                                       : limit / 4;
    l->n_fd = limit;
    l->fd_state = calloc(limit, sizeof *l->fd_state);
    if (l->fd_state == NULL ||
        zmq_setsockopt(l->outer, ZMQ_HANDSHAKE_IVL, &handshake, sizeof handshake) != 0 ||
        zmq_setsockopt(l->outer, ZMQ_BACKLOG, &backlog, sizeof backlog) != 0) {
        say(l, "cannot make its socket: %s", l->fd_state ? zmq_strerror(errno) : "out of memory");
        return -1;
    }
    l->monitor = zmq_socket(zctx, ZMQ_PAIR);
    int queue = MONITOR_QUEUE;
    if (l->monitor == NULL ||
        zmq_setsockopt(l->monitor, ZMQ_RCVHWM, &queue, sizeof queue) != 0 ||
        zmq_socket_monitor(l->outer, MONITOR_ENDPOINT, events) != 0 ||
        zmq_connect(l->monitor, MONITOR_ENDPOINT) != 0) {
        say(l, "cannot watch its connections: %s", zmq_strerror(errno));
        return -1;
    }
    if (l->curve) {
        l->zap = zmq_socket(zctx, ZMQ_REP);
        if (l->zap == NULL || zmq_bind(l->zap, FH_ZAP_ENDPOINT) != 0 ||
            zmq_setsockopt(l->outer, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
            zmq_setsockopt(l->outer, ZMQ_CURVE_SECRETKEY, l->key.secret_key, FH_KEY_TEXT) != 0 ||
            zmq_setsockopt(l->outer, ZMQ_ZAP_DOMAIN, "flowhost", 8) != 0) {
            say(l, "cannot set CURVE up: %s", zmq_strerror(errno));
            return -1;
        }
    }
    if (zmq_bind(l->outer, l->endpoint) != 0) {
        say(l, "cannot listen on %s: %s", l->endpoint + 6, zmq_strerror(errno));
        return -1;
    }
    /* The address bound (a port of 0 or '*' is chosen by the system): what a flow names. */
    size_t len = sizeof l->endpoint;
    zmq_getsockopt(l->outer, ZMQ_LAST_ENDPOINT, l->endpoint, &len);
    say(l, "ready, listening on %s%s", l->endpoint + 6, l->curve ? " (CURVE)" : "");
    return 0;
}

/* A message from the runtime: [signature][command][payload...]. Returns -1 when the
 * listener cannot serve (the executor did not start, or the bind failed). */
static int on_inner(fh_worker_listener *l, fh_wire_msg *m, void *zctx)
{
    int cmd = fh_wire_command(m, 0);
    if (cmd == FH_CMD_READY && !l->have_hello) {
        size_t len;
        const void *buf = fh_wire_data(m, 2, &len);
        Flowhost__WorkerHello *h =
            buf ? (Flowhost__WorkerHello *)fh_pb_unpack(&flowhost__worker_hello__descriptor, buf, len)
                : NULL;
        bool failed = h == NULL ||
                      (h->status != NULL && h->status->code == FLOWHOST__STATUS__CODE__ERROR);
        if (failed)
            say(l, "cannot start: %s", h && h->status->description ? h->status->description
                                                                   : "a malformed READY");
        if (h)
            flowhost__worker_hello__free_unpacked(h, NULL);
        if (failed)
            return -1;
        zmq_msg_init(&l->hello);
        zmq_msg_move(&l->hello, &m->frames[2]);
        l->have_hello = true;
        /* A signal during a slow init: the worker is stopping, it never listens. */
        return l->stopping ? 0 : bind_outer(l, zctx);
    }
    if (cmd == FH_CMD_HEARTBEAT)
        l->beat_owed = false;
    if (cmd == FH_CMD_REPLY) {
        l->answered++;
        if (l->owed_old > 0) { /* of a gateway that went: nobody to give it to */
            if (--l->owed_old == 0 && l->hello_owed && l->gw_len > 0 && l->outer != NULL)
                send_hello(l);
            return 0;
        }
    }
    if ((cmd == FH_CMD_REPLY || cmd == FH_CMD_HEARTBEAT) && l->gw_len > 0 && l->outer != NULL &&
        fh_wire_send(l->outer, l->gw_id, l->gw_len, (fh_cmd)cmd, &m->frames[2], m->n - 2,
                     ZMQ_DONTWAIT) != 0 && cmd == FH_CMD_REPLY)
        /* Its connection is gone: the gateway answers the request at its deadline. */
        drop_gateway(l, "its connection is gone", false);
    return 0;
}

/* ---- CURVE: who gets in ----------------------------------------------------------- */

static void serve_zap(fh_worker_listener *l)
{
    fh_zap_request r;
    while (fh_zap_recv(l->zap, &r)) {
        const unsigned char *key = fh_zap_complete(&r) ? fh_zap_curve_key(&r) : NULL;
        bool known = false;
        for (size_t i = 0; key != NULL && i < l->n_allow && !known; i++)
            known = memcmp(l->allow[i], key, 32) == 0;
        if (known) {
            fh_zap_reply(l->zap, &r, "200", "OK");
            continue;
        }
        char text[48] = "none";
        if (key != NULL)
            zmq_z85_encode(text, key, 32);
        if (l->refused++ % LOG_EVERY == 0)
            say(l, "refused a connection from %s (%lu so far): %s %s",
                r.address[0] ? r.address : "?", l->refused,
                key ? "its key is not one of --allow:" : "no CURVE key (this worker requires "
                                                          "CURVE):", text);
        fh_zap_reply(l->zap, &r, "400", key ? "key not allowed" : "CURVE required");
    }
}

/* Connections closed (the gateway's), and handshakes that failed: a wrong key on either
 * side. */
static void read_monitor(fh_worker_listener *l)
{
    for (;;) {
        zmq_msg_t ev, ep;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, l->monitor, ZMQ_DONTWAIT) < 0) {
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
        zmq_msg_recv(&ep, l->monitor, 0);
        zmq_msg_close(&ep);
        int fd = (int)value;
        bool tracked = fd >= 0 && (size_t)fd < l->n_fd;
        if (event == ZMQ_EVENT_LISTENING) {
            l->listen_fd = fd;
            continue;
        }
        if (event == ZMQ_EVENT_ACCEPTED) {
            if (tracked && l->fd_state[fd] != FD_OPEN) {
                l->fd_state[fd] = FD_OPEN;
                l->open++;
            }
            continue;
        }
        if (event == ZMQ_EVENT_DISCONNECTED && tracked) {
            if (l->fd_state[fd] == FD_OPEN)
                l->open--;
            l->fd_state[fd] = FD_CLOSED;
        }
        if (event == ZMQ_EVENT_DISCONNECTED && l->gw_len > 0 && fd == l->gw_fd) {
            drop_gateway(l, "its connection closed", false);
            continue;
        }
        if ((event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
             event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) && l->failed_handshakes++ % LOG_EVERY == 0)
            say(l, "a connection failed its CURVE handshake (error %#x; %lu so far): a gateway "
                "(or probe) without this worker's public key as its 'worker_key', or without "
                "CURVE", (unsigned)value, l->failed_handshakes);
    }
}

/* ---- the thread ------------------------------------------------------------------- */

static void *listener_main(void *arg)
{
    fh_worker_listener *l = arg;
    void *zctx = l->w->zctx;
    while (!atomic_load(&l->stop)) {
        zmq_pollitem_t items[5] = {{l->inner, 0, ZMQ_POLLIN, 0}, {NULL, l->sigfd, ZMQ_POLLIN, 0}};
        int n = 2;
        if (l->outer != NULL)
            items[n++] = (zmq_pollitem_t){l->outer, 0, ZMQ_POLLIN, 0};
        if (l->monitor != NULL)
            items[n++] = (zmq_pollitem_t){l->monitor, 0, ZMQ_POLLIN, 0};
        if (l->zap != NULL)
            items[n++] = (zmq_pollitem_t){l->zap, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(items, n, POLL_MS) < 0 && errno != EINTR)
            break;
        fh_wire_msg m;
        while (fh_wire_recv(l->inner, &m, ZMQ_DONTWAIT) == 0) {
            int rc = on_inner(l, &m, zctx);
            fh_wire_close(&m);
            if (rc != 0 && l->result == 0) {
                l->result = -1;
                l->stopping = true;
                /* The runtime ends; nothing is served. */
                fh_wire_send(l->inner, NULL, 0, FH_CMD_DISCONNECT, NULL, 0, ZMQ_DONTWAIT);
            }
        }
        /* Connections closed before the messages: a gateway that went is given up before
         * a new one on the same descriptor is taken. */
        if (l->monitor != NULL) {
            read_monitor(l);
            set_filter(l, l->open >= l->max_open);
        }
        for (int k = 0; k < 256 && l->outer != NULL && !l->stopping &&
                        fh_wire_recv(l->outer, &m, ZMQ_DONTWAIT) == 0; k++) {
            on_outer(l, &m);
            fh_wire_close(&m);
        }
        if (l->zap != NULL)
            serve_zap(l);
        struct signalfd_siginfo si;
        if (l->sigfd >= 0 && read(l->sigfd, &si, sizeof si) == (ssize_t)sizeof si && !l->stopping) {
            say(l, "stopping (signal %u)", si.ssi_signo);
            drop_gateway(l, "this worker is stopping", true);
            l->stopping = true;
            fh_wire_send(l->inner, NULL, 0, FH_CMD_DISCONNECT, NULL, 0, ZMQ_DONTWAIT);
        }
        if (l->gw_len > 0 && fh_monotonic_ms() - l->gw_heard_ms >= FH_WORKER_GATEWAY_LOST_MS) {
            char why[120];
            snprintf(why, sizeof why, "no word from it for %d ms", FH_WORKER_GATEWAY_LOST_MS);
            drop_gateway(l, why, true);
        }
    }
    return NULL;
}

void fh_worker_listen_settings(worker *w, fh_wire_msg *m)
{
    size_t len;
    const void *buf = fh_wire_data(m, 2, &len);
    Flowhost__GatewayHello *gh =
        buf ? (Flowhost__GatewayHello *)fh_pb_unpack(&flowhost__gateway_hello__descriptor, buf, len)
            : NULL;
    /* The gateway before is gone: its settings go first, whatever this hello holds, so
     * that nothing points into the hello freed here. */
    if (w->gw_hello == NULL) {
        w->own = *w->spec;
    } else {
        *w->spec = w->own;
        flowhost__gateway_hello__free_unpacked(w->gw_hello, NULL);
        w->gw_hello = NULL;
    }
    fh_when_destroy(&w->when);
    const char *when_text = gh != NULL && gh->when[0] != '\0' ? gh->when : w->own.when;
    if (when_text[0] != '\0' && fh_when_compile_json(when_text, &w->when) != 0) {
        /* The listener compiled it already: only memory can fail here. */
        fprintf(stderr, "flowhost worker %s: the gateway's 'when' is not taken: %s\n",
                w->spec->name, fh_last_error());
        w->when = NULL;
    }
    if (gh == NULL) {
        fprintf(stderr, "flowhost worker %s: a malformed gateway hello: its own settings "
                "kept\n", w->spec->name);
        return;
    }
    w->gw_hello = gh;
    /* Its requests, routes and errors name it as the flow does (parameters scoped by
     * that name reach it), whatever its own options named it. */
    if (gh->executor[0] != '\0')
        w->spec->name = gh->executor;
    w->spec->batching = gh->batching;
    w->spec->n_batching = gh->n_batching;
    /* Never above the worker's own limit (its socket takes no larger frame). */
    if (gh->max_message_size > 0 && gh->max_message_size < w->own.max_message_size)
        w->spec->max_message_size = gh->max_message_size;
    w->spec->replica = gh->replica;
    w->spec->replicas = gh->replicas ? gh->replicas : 1;
    w->spec->shard = gh->shard;
    w->spec->shards = gh->shards ? gh->shards : 1;
    w->spec->when_only_matched = gh->when_only_matched;
}

int fh_worker_listen_end(worker *w)
{
    fh_worker_listener *l = w->listener;
    if (l->started) {
        atomic_store(&l->stop, true);
        pthread_join(l->thread, NULL);
    }
    int rc = l->result;
    if (l->inner)
        zmq_close(l->inner);
    if (l->outer) { /* a DISCONNECT to the gateway just said gets its moment to leave */
        int linger = 500;
        zmq_setsockopt(l->outer, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(l->outer);
    }
    if (l->zap)
        zmq_close(l->zap);
    if (l->monitor)
        zmq_close(l->monitor);
    if (l->have_hello)
        zmq_msg_close(&l->hello);
    if (l->sigfd >= 0)
        close(l->sigfd);
    explicit_bzero(&l->key, sizeof l->key);
    free(l->allow);
    free(l->fd_state);
    free(l);
    w->listener = NULL;
    return rc;
}

/* ---- options ---------------------------------------------------------------------- */

/* What line of the generated flow came from which option. */
typedef struct opt_line {
    const char *option;
} opt_line;

/* A growing string. */
typedef struct fh_buf_t {
    char *p;
    size_t len, cap;
    bool failed;
} fh_buf_t;

static void put(fh_buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(fh_buf_t *b, const char *s) { put(b, s, strlen(s)); }

static void put_quoted(fh_buf_t *b, const char *text)
{
    puts_(b, "\"");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(b, esc);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    puts_(b, "\"");
}

/* A JSON value on one line: its newlines (outside strings there only) become spaces. */
static void put_json(fh_buf_t *b, const char *json)
{
    for (const char *p = json; *p; p++)
        put(b, *p == '\n' || *p == '\r' ? " " : p, 1);
}

/* The message of the flow loader's error about LINE, the option it came from put in
 * front ("--uses-with: 'uses_with' must be a mapping, not a list"). */
static void say_option_error(const opt_line *lines, size_t n_lines)
{
    const char *e = fh_last_error();
    const char *prefix = "flowhost worker options:";
    int line = 0, col = 0, used = 0;
    if (strncmp(e, prefix, strlen(prefix)) == 0 &&
        sscanf(e + strlen(prefix), "%d:%d: %n", &line, &col, &used) == 2 && used > 0 &&
        line >= 2) {
        /* A YAML error past the end is about the last option's value. */
        size_t at = (size_t)line <= n_lines ? (size_t)line - 1 : n_lines - 1;
        fprintf(stderr, "flowhost worker: %s: %s\n", lines[at].option, e + strlen(prefix) + used);
    } else
        fprintf(stderr, "flowhost worker: %s\n", e);
}

/* Reads the options' executor through the flow loader into a spec the caller frees with
 * flowhost__executor_spec__free_unpacked. Returns NULL when the options are wrong (said
 * on stderr). */
static Flowhost__ExecutorSpec *build_spec(const fh_worker_listen_options *o)
{
    fh_buf_t b = {0};
    opt_line lines[16] = {{NULL}};
    size_t n = 0;
    puts_(&b, "executors:\n");
    lines[n++].option = NULL;
    puts_(&b, "  - uses: ");
    put_quoted(&b, o->uses);
    puts_(&b, "\n");
    lines[n++].option = "--uses";
    const char *json_opts[][2] = {{"uses_with", o->uses_with}, {"uses_metas", o->uses_metas},
                                  {"uses_requests", o->uses_requests}};
    const char *names[] = {"--uses-with", "--uses-metas", "--uses-requests"};
    for (size_t k = 0; k < 3; k++) {
        if (json_opts[k][1] == NULL)
            continue;
        puts_(&b, "    ");
        puts_(&b, json_opts[k][0]);
        puts_(&b, ": ");
        put_json(&b, json_opts[k][1]);
        puts_(&b, "\n");
        lines[n++].option = names[k];
    }
    if (o->name != NULL) {
        puts_(&b, "    name: ");
        put_quoted(&b, o->name);
        puts_(&b, "\n");
        lines[n++].option = "--name";
    }
    char cwd[PATH_MAX];
    if (b.failed || getcwd(cwd, sizeof cwd) == NULL) {
        fprintf(stderr, "flowhost worker: %s\n", b.failed ? "out of memory" : strerror(errno));
        free(b.p);
        return NULL;
    }
    fh_flow_config *cfg = NULL;
    if (fh_flow_config_parse(b.p, b.len, "flowhost worker options", cwd, &cfg) != 0) {
        say_option_error(lines, n);
        free(b.p);
        return NULL;
    }
    free(b.p);
    for (size_t i = 0; i < cfg->n_warnings; i++) {
        const char *wn = cfg->warnings[i];
        const char *rest = strstr(wn, ": ");
        fprintf(stderr, "flowhost worker: warning: %s\n", rest ? rest + 2 : wn);
    }
    const fh_flow_executor *x = &cfg->executors[0];
    Flowhost__ExecutorSpec spec = FLOWHOST__EXECUTOR_SPEC__INIT;
    fh_worker_spec_mem mem = {0};
    char workspace[PATH_MAX + 300];
    if (o->workspace != NULL && o->workspace[0] == '/')
        snprintf(workspace, sizeof workspace, "%s", o->workspace);
    else if (o->workspace != NULL)
        snprintf(workspace, sizeof workspace, "%s/%s", cwd, o->workspace);
    else if (x->workspace != NULL)
        snprintf(workspace, sizeof workspace, "%s", x->workspace);
    else
        snprintf(workspace, sizeof workspace, "%s/workspace/%s", cwd, x->name);
    Flowhost__ExecutorSpec *out = NULL;
    if (fh_worker_spec_fill(&spec, cfg, x, o->self_exe, &mem) == 0) {
        spec.workspace = workspace;
        spec.gateway = (char *)INNER_ENDPOINT;
        spec.replica = o->replica;
        spec.replicas = 1;
        spec.shard = o->shard;
        spec.shards = o->shards > 0 ? o->shards : 1;
        spec.board = (char *)"";
        spec.max_message_size = o->max_message_size > 0 ? o->max_message_size
                                                        : FH_FLOW_DEFAULT_MAX_MESSAGE;
        size_t len = flowhost__executor_spec__get_packed_size(&spec);
        uint8_t *buf = malloc(len ? len : 1);
        if (buf != NULL) {
            flowhost__executor_spec__pack(&spec, buf);
            out = flowhost__executor_spec__unpack(NULL, len, buf);
            free(buf);
        }
    }
    if (out == NULL)
        fprintf(stderr, "flowhost worker: out of memory\n");
    fh_worker_spec_mem_free(&mem);
    fh_flow_config_destroy(&cfg);
    return out;
}

/* The keys: --key (the worker's pair) and --allow (the gateways'). */
static int read_keys(const fh_worker_listen_options *o, fh_worker_listener *l)
{
    if (o->key == NULL && o->n_allow == 0)
        return 0;
    if (o->key == NULL || o->n_allow == 0) {
        fprintf(stderr, "flowhost worker: %s\n",
                o->key ? "--key needs --allow: the public keys of the gateways it lets in"
                       : "--allow needs --key: the worker's own key pair (flowhost keygen)");
        return -1;
    }
    if (fh_keypair_load(o->key, &l->key) != 0) {
        fprintf(stderr, "flowhost worker: --key: %s\n", fh_last_error());
        return -1;
    }
    l->allow = calloc(o->n_allow + 1, sizeof *l->allow);
    if (l->allow == NULL) {
        fprintf(stderr, "flowhost worker: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < o->n_allow; i++) {
        char text[FH_KEY_TEXT + 1];
        if (fh_public_key_load(o->allow[i], text) != 0) {
            fprintf(stderr, "flowhost worker: --allow %s: %s\n", o->allow[i], fh_last_error());
            return -1;
        }
        zmq_z85_decode(l->allow[l->n_allow++], text);
    }
    /* Its own key: a probe run beside it (flowhost ping --key) uses the worker's pair. */
    zmq_z85_decode(l->allow[l->n_allow++], l->key.public_key);
    l->curve = true;
    return 0;
}

int fh_worker_listen_main(const fh_worker_listen_options *o)
{
    if (strncmp(o->listen, "tcp://", 6) != 0 || strlen(o->listen) > 290 ||
        strrchr(o->listen, ':') == o->listen + 3) {
        fprintf(stderr, "flowhost worker: --listen must be tcp://ADDR:PORT, not '%s'\n",
                o->listen);
        return 2;
    }
    for (size_t i = 0; i < o->n_env; i++) {
        const char *eq = strchr(o->env[i], '=');
        if (eq == NULL || eq == o->env[i]) {
            fprintf(stderr, "flowhost worker: --env must be K=V, not '%s'\n", o->env[i]);
            return 2;
        }
    }
    fh_worker_listener *l = calloc(1, sizeof *l);
    if (l == NULL) {
        fprintf(stderr, "flowhost worker: out of memory\n");
        return 1;
    }
    l->sigfd = -1;
    l->listen_fd = -1;
    snprintf(l->endpoint, sizeof l->endpoint, "%s", o->listen);
    l->max_message_size = o->max_message_size > 0 ? o->max_message_size
                                                  : FH_FLOW_DEFAULT_MAX_MESSAGE;
    worker w = {.log_level = fh_log_level_from_env(), .self = getpid(), .remote = true,
                .listener = l};
    l->w = &w;
    if (read_keys(o, l) != 0) {
        fh_worker_listen_end(&w);
        return 2;
    }
    /* The executor's environment, before anything of it runs. */
    for (size_t i = 0; i < o->n_env; i++) {
        char *kv = strdup(o->env[i]);
        char *eq = kv ? strchr(kv, '=') : NULL;
        if (eq != NULL)
            *eq = '\0';
        if (eq == NULL || setenv(kv, eq + 1, 1) != 0) {
            fprintf(stderr, "flowhost worker: --env %s: %s\n", o->env[i], strerror(errno));
            free(kv);
            fh_worker_listen_end(&w);
            return 1;
        }
        free(kv);
    }
    if ((w.spec = build_spec(o)) == NULL) {
        fh_worker_listen_end(&w);
        return 2;
    }
    snprintf(l->name, sizeof l->name, "%s", w.spec->name);
    /* SIGINT and SIGTERM end it cleanly (fini runs): blocked in every thread, read by the
     * listener. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    l->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    w.zctx = zmq_ctx_new();
    l->inner = w.zctx ? zmq_socket(w.zctx, ZMQ_DEALER) : NULL;
    int zero = 0;
    if (l->sigfd < 0 || l->inner == NULL ||
        zmq_setsockopt(l->inner, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_bind(l->inner, INNER_ENDPOINT) != 0 ||
        pthread_create(&l->thread, NULL, listener_main, l) != 0) {
        fprintf(stderr, "flowhost worker %s: cannot start: %s\n", w.spec->name, strerror(errno));
        flowhost__executor_spec__free_unpacked(w.spec, NULL);
        fh_worker_listen_end(&w);
        if (w.zctx)
            zmq_ctx_term(w.zctx);
        return 1;
    }
    l->started = true;
    return fh_worker_run(&w);
}

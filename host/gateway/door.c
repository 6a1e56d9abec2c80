/* The client socket's door: who gets in, how many at once, and what one may hold.
 *
 * Descriptors. Every client connection costs the host a descriptor, and libzmq aborts
 * the whole process when it cannot get one for its own use (accepting a restarted
 * worker on the ipc socket, a new socket's mailbox). So the soft descriptor limit is
 * raised to the hard one, a reserve is kept for the host's own sockets, files and
 * restarts, and client connections are bounded by with.max_connections, lowered to what
 * the limit allows. A socket monitor counts the connections (accepted, gone); at the
 * bound, a socket filter that drops every packet is put on the listening socket, so the
 * kernel lets no new connection complete (a client's connect waits and retries, no
 * descriptor is spent, nothing spins), and taken off once a connection has gone.
 * Connections that were already on their way when the filter went on are refused by
 * the ZAP handler below.
 *
 * Who. libzmq asks a ZAP handler (RFC 27) about every connection once its handshake is
 * done: the gateway's loop serves that socket. It refuses a connection over the bound
 * (status 500: libzmq tells the client, and ZeroMQ clients try again later) and, when
 * the flow has with.server_key (CURVE), a client whose public key is not one of
 * with.client_keys (400). Without keys, a flow that listens beyond the loopback
 * interface is logged as open to anyone who can reach it.
 *
 * What one connection may hold. libzmq reads a multipart message whole before the
 * gateway sees any of it, and bounds each frame (max_message_size), not the number of
 * frames: a peer that sends frames that all say "more follows" grows the host forever.
 * The door compares, for each connection, the bytes the kernel received (TCP_INFO)
 * with those the gateway was given (frames and their ZMTP framing) and what still waits
 * in the kernel: the difference is what libzmq holds. A connection that holds more than
 * a client ever needs to (FRONT_RCVHWM + 2 requests of 2 x max_message_size) is shut
 * down. It is checked every DOOR_CHECK_MS: a peer can get ahead of the check by what it
 * sends in that time.
 */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <flowhost/error.h>

#include "listen_guard.h"
#include "util.h"
#include "zap.h"

/* Descriptors the host keeps for itself (its sockets, libzmq's mailboxes and pollers,
 * files, the pipes of a restart), plus this many per executor. */
#define RESERVE_FDS 64
#define RESERVE_PER_EXECUTOR 8
/* HTTP: descriptors of its own (listening socket, libmicrohttpd's epoll and wake-up
 * descriptors, the gateway's watch set), and its spare connections (told 503) at most. */
#define HTTP_OWN_FDS 8
#define HTTP_SPARE 32
/* Connections the kernel completes on its own before the filter is on: at most this
 * many wait to be accepted. */
#define BACKLOG 64
/* A connection must finish its handshake within this time, or it is closed. */
#define HANDSHAKE_MS 10000
/* How often what each connection holds is looked at. */
#define DOOR_CHECK_MS 50
/* Bytes a connection may send besides messages: the handshake, then heartbeats. */
#define CHATTER_BYTES 4096
#define CHATTER_PER_S 128
/* Connection events that may wait to be read. */
#define MONITOR_QUEUE (1 << 20)
/* Log lines about refused connections: the first, then one in this many. */
#define LOG_EVERY 1000

#define MONITOR_ENDPOINT "inproc://flowhost-front-monitor"

typedef struct conn {
    bool open;
    size_t at;              /* its place in the list of open descriptors */
    uint64_t delivered;     /* bytes the gateway was given from it, framing included */
    int64_t since_ms;       /* when it was accepted */
} conn;

struct gw_door {
    void *zap;              /* REP at FH_ZAP_ENDPOINT */
    void *monitor;          /* PAIR: the client socket's connection events */
    int listen_fd;          /* the client socket's listening descriptor, -1: unknown */
    uint16_t port;          /* its port, to recognise its connections */
    bool filtered;          /* new connections are held back in the kernel */
    size_t open;            /* connections accepted and not gone */
    size_t max;             /* the bound */
    size_t http_max;        /* HTTP connections served... */
    size_t http_spare;      /* ...and beyond them, told 503 (0, 0: no HTTP) */
    conn *conns;            /* by descriptor, N_CONNS of them */
    size_t n_conns;
    int *open_fds;          /* the descriptors of the OPEN connections */
    bool curve;
    uint8_t (*keys)[32];    /* the client keys let in, sorted */
    size_t n_keys;
    uint64_t held_max;      /* what one connection may hold inside libzmq */
    int64_t checked_ms;
    unsigned long refused, dropped;
};

static int compare_keys(const void *a, const void *b) { return memcmp(a, b, 32); }

int gw_door_init(fh_gateway *g)
{
    struct gw_door *d = calloc(1, sizeof *d);
    if (d == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    g->door = d;
    d->listen_fd = -1;
    d->checked_ms = fh_monotonic_ms();
    const fh_flow_config *cfg = g->cfg;
    size_t limit = fh_raise_fd_limit();
    size_t workers = gw_worker_count(g);
    size_t reserve = RESERVE_FDS + RESERVE_PER_EXECUTOR * workers + BACKLOG +
                     (cfg->http ? HTTP_OWN_FDS : 0);
    /* Room for two ZeroMQ connections, and two HTTP ones (one of them spare). */
    size_t least = 2 + (cfg->http ? 2 : 0);
    if (limit < reserve + least)
        return fh_set_error(FH_E_STATE, "the descriptor limit (ulimit -n) is %zu: a flow of %zu "
                            "workers needs more than %zu", limit, workers, reserve + least - 1);
    /* Client connections of both doors share what the reserve leaves: over it, each gets
     * its share in proportion to what the flow asks, so that a flood on one door cannot
     * take the descriptors of a worker's restart (libzmq aborts without one). */
    size_t room = limit - reserve;
    size_t zmq_want = (size_t)cfg->max_connections;
    size_t http_want = cfg->http ? (size_t)cfg->http_max_connections + HTTP_SPARE : 0;
    d->max = zmq_want;
    size_t http_room = http_want;
    if (zmq_want + http_want > room) {
        http_room = cfg->http ? (size_t)((double)room * (double)http_want /
                                         (double)(zmq_want + http_want)) : 0;
        if (cfg->http && http_room < 2)
            http_room = 2;
        if (room - http_room < d->max)
            d->max = room - http_room;
        if (d->max < 1)
            d->max = 1;
    }
    if (d->max < zmq_want)
        gw_log("max_connections lowered to %zu: the descriptor limit is %zu (ulimit -n)", d->max,
               limit);
    if (cfg->http && http_room >= http_want) {
        d->http_max = (size_t)cfg->http_max_connections;
        d->http_spare = HTTP_SPARE;
    } else if (cfg->http) {
        /* The spare connections come out of HTTP's share: at most half of it. */
        d->http_spare = http_room / 2 < HTTP_SPARE ? http_room / 2 : HTTP_SPARE;
        d->http_max = http_room - d->http_spare;
        if (d->http_max > (size_t)cfg->http_max_connections)
            d->http_max = (size_t)cfg->http_max_connections;
        if (d->http_max < (size_t)cfg->http_max_connections)
            gw_log("http_max_connections lowered to %zu: the descriptor limit is %zu (ulimit -n), "
                   "shared with max_connections", d->http_max, limit);
    }
    d->n_conns = limit;
    d->conns = calloc(d->n_conns, sizeof *d->conns);
    d->open_fds = calloc(d->n_conns, sizeof *d->open_fds);
    /* A client may have FRONT_RCVHWM requests queued in libzmq and one on its way, each
     * at most an envelope and documents of max_message_size. */
    d->held_max = (uint64_t)(FRONT_RCVHWM + 2) * 2 * (uint64_t)cfg->max_message_size;
    d->curve = cfg->curve;
    if (d->conns == NULL || d->open_fds == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    if (d->curve) {
        d->keys = calloc(cfg->n_client_keys ? cfg->n_client_keys : 1, sizeof *d->keys);
        if (d->keys == NULL)
            return fh_set_error(FH_E_NOMEM, "out of memory");
        for (size_t i = 0; i < cfg->n_client_keys; i++)
            if (zmq_z85_decode(d->keys[d->n_keys], cfg->client_keys[i]) != NULL)
                d->n_keys++;
        qsort(d->keys, d->n_keys, sizeof *d->keys, compare_keys);
    }
    /* The ZAP handler and the monitor exist before the first connection can. */
    int one = 1, handshake = HANDSHAKE_MS, backlog = BACKLOG, events = MONITOR_QUEUE;
    d->zap = zmq_socket(g->zctx, ZMQ_REP);
    d->monitor = zmq_socket(g->zctx, ZMQ_PAIR);
    /* libzmq drops events the monitor's queue has no room for: a lost one would miscount
     * (check_held corrects a connection counted that is gone). */
    if (d->zap == NULL || d->monitor == NULL || zmq_bind(d->zap, FH_ZAP_ENDPOINT) != 0 ||
        zmq_setsockopt(d->monitor, ZMQ_RCVHWM, &events, sizeof events) != 0 ||
        zmq_socket_monitor(g->front, MONITOR_ENDPOINT,
                           ZMQ_EVENT_LISTENING | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0 ||
        zmq_connect(d->monitor, MONITOR_ENDPOINT) != 0)
        return fh_set_error(FH_E_ZMQ, "cannot watch the client socket: %s", zmq_strerror(errno));
    /* A ZAP domain makes libzmq ask the handler about NULL connections too. */
    if (zmq_setsockopt(g->front, ZMQ_ZAP_DOMAIN, "flowhost", 8) != 0 ||
        zmq_setsockopt(g->front, ZMQ_HANDSHAKE_IVL, &handshake, sizeof handshake) != 0 ||
        zmq_setsockopt(g->front, ZMQ_BACKLOG, &backlog, sizeof backlog) != 0)
        return fh_set_error(FH_E_ZMQ, "client socket options: %s", zmq_strerror(errno));
    if (d->curve && (zmq_setsockopt(g->front, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
                     zmq_setsockopt(g->front, ZMQ_CURVE_SECRETKEY, cfg->server_key.secret_key,
                                    FH_KEY_TEXT + 1) != 0))
        return fh_set_error(FH_E_ZMQ, "cannot set the server key: %s", zmq_strerror(errno));
    return 0;
}

size_t gw_door_max(const fh_gateway *g) { return g->door->max; }

void gw_door_http_bounds(const fh_gateway *g, size_t *served, size_t *spare)
{
    *served = g->door->http_max;
    *spare = g->door->http_spare;
}

void gw_door_free(fh_gateway *g)
{
    struct gw_door *d = g->door;
    if (d == NULL)
        return;
    if (d->zap)
        zmq_close(d->zap);
    if (d->monitor) {
        /* Stopped before its reader goes: an event the socket sends after that (a
         * connection closing as the flow stops) would be lost, its frames never freed. */
        if (g->front)
            zmq_socket_monitor(g->front, NULL, 0);
        zmq_close(d->monitor);
    }
    free(d->conns);
    free(d->open_fds);
    free(d->keys);
    free(d);
    g->door = NULL;
}

/* Holds back new connections in the kernel (ON) or lets them complete again. */
static void set_filter(struct gw_door *d, bool on)
{
    if (d->listen_fd < 0 || d->filtered == on)
        return;
    int rc = fh_listen_hold_back(d->listen_fd, on);
    if (rc != 0) {
        gw_log("cannot %s new client connections: %s", on ? "hold back" : "let in",
               strerror(errno));
        return;
    }
    d->filtered = on;
    if (on)
        gw_log("%zu client connections (max_connections): new ones wait", d->open);
}

/* Connection FD is gone. */
static void forget(struct gw_door *d, int fd)
{
    conn *c = &d->conns[fd];
    if (!c->open)
        return;
    c->open = false;
    int last = d->open_fds[--d->open];
    d->open_fds[c->at] = last;
    d->conns[last].at = c->at;
}

/* Reads the monitor's events: connections come and go. */
static void read_events(struct gw_door *d)
{
    for (;;) {
        zmq_msg_t ev, ep;
        zmq_msg_init(&ev);
        zmq_msg_init(&ep);
        if (zmq_msg_recv(&ev, d->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            zmq_msg_close(&ep);
            return;
        }
        /* Frame 1: a 16-bit event and a 32-bit value (here a descriptor); frame 2: the
         * endpoint. */
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
        }
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&ep, d->monitor, 0);
        zmq_msg_close(&ev);
        zmq_msg_close(&ep);
        int fd = (int)value;
        if (event == ZMQ_EVENT_LISTENING) {
            d->listen_fd = fd;
            struct sockaddr_storage ss;
            socklen_t len = sizeof ss;
            if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
                d->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                         : ((struct sockaddr_in *)&ss)->sin_port);
        } else if (event == ZMQ_EVENT_ACCEPTED && fd >= 0 && (size_t)fd < d->n_conns) {
            if (!d->conns[fd].open) {
                d->conns[fd].at = d->open;
                d->open_fds[d->open++] = fd;
            }
            d->conns[fd].open = true;
            d->conns[fd].delivered = 0;
            d->conns[fd].since_ms = fh_monotonic_ms();
        } else if (event == ZMQ_EVENT_DISCONNECTED && fd >= 0 && (size_t)fd < d->n_conns) {
            forget(d, fd);
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && d->refused++ % LOG_EVERY == 0) {
            /* ZAP is not asked about these: the handshake failed before. */
            char code[32];
            snprintf(code, sizeof code, "protocol error 0x%x", value);
            gw_log("refused a client connection: %s (%lu refused so far)",
                   value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                       ? (d->curve ? "it has no keys" : "it has keys, the flow has none")
                   : value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
                       ? "its handshake does not decrypt (a wrong server key?)"
                       : code,
                   d->refused);
        }
    }
}

/* Answers the ZAP requests waiting. */
static void serve_zap(struct gw_door *d)
{
    for (;;) {
        /* Connections accepted while earlier requests were answered count too: a
         * connection's ACCEPTED event always comes before its request. ZMQ_EVENTS makes
         * the monitor socket see what arrived (a receive alone looks only now and then). */
        int ready;
        size_t len = sizeof ready;
        zmq_getsockopt(d->monitor, ZMQ_EVENTS, &ready, &len);
        read_events(d);
        fh_zap_request r;
        if (!fh_zap_recv(d->zap, &r))
            return;
        const char *address = r.address;
        const char *why = NULL, *code = "200";
        if (!fh_zap_complete(&r)) {
            why = "a malformed ZAP request", code = "500";
        } else if (d->open > d->max) {
            why = "too many connections (max_connections)", code = "500";
        } else if (d->curve) {
            const unsigned char *key = fh_zap_curve_key(&r);
            bool known = key != NULL && bsearch(key, d->keys, d->n_keys, 32, compare_keys) != NULL;
            if (!known)
                why = key ? "unknown client key" : "no client key (the flow requires CURVE)",
                code = "400";
        }
        if (why != NULL && d->refused++ % LOG_EVERY == 0)
            gw_log("refused a client connection from %s: %s (%lu refused so far)",
                   address[0] ? address : "?", why, d->refused);
        /* A REP socket answers every request, a malformed one too. */
        fh_zap_reply(d->zap, &r, code, why ? why : "OK");
    }
}

/* ZMTP framing of one frame of SIZE bytes as libzmq sends it: a short or a long header;
 * with CURVE, inside a MESSAGE command (name, nonce, flags, MAC). */
static uint64_t framed(size_t size, bool curve)
{
    uint64_t body = curve ? 8 + 8 + 1 + 16 + (uint64_t)size : (uint64_t)size;
    return body + (body < 256 ? 2 : 9);
}

void gw_door_delivered(fh_gateway *g, const fh_wire_msg *m)
{
    struct gw_door *d = g->door;
    const char *fd_text = m->n > 1 ? zmq_msg_gets((zmq_msg_t *)&m->frames[1], "__fd") : NULL;
    int fd = fd_text ? atoi(fd_text) : -1;
    if (fd < 0 || (size_t)fd >= d->n_conns || !d->conns[fd].open)
        return;
    /* Frame 0 is the routing id ZeroMQ puts in front: it did not travel (and does not
     * always carry the connection's properties). Dropped frames count without their
     * framing: a sender of those only reaches its bound sooner. */
    uint64_t bytes = m->dropped_bytes;
    for (size_t i = 1; i < m->n; i++)
        bytes += framed(zmq_msg_size((zmq_msg_t *)&m->frames[i]), d->curve);
    d->conns[fd].delivered += bytes;
}

/* Whether FD is still one of the client socket's connections (it may have been closed
 * and reused since its last event was read). */
static bool is_client_connection(const struct gw_door *d, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port) == d->port;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == d->port;
    return false;
}

/* Shuts down the connections that hold more than a client ever needs to. One system
 * call per connection, a second one and more only for a connection over its bound. */
static void check_held(struct gw_door *d, int64_t now)
{
    for (size_t k = 0; k < d->open;) {
        int fd = d->open_fds[k];
        conn *c = &d->conns[fd];
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
            /* Closed, or reused for something else, without its event: it is gone. */
            forget(d, fd);
            continue;
        }
        k++;
        if (len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
            continue;
        uint64_t allowed = c->delivered + d->held_max + CHATTER_BYTES +
                           (uint64_t)(now - c->since_ms) / 1000 * CHATTER_PER_S;
        int queued = 0; /* what still waits in the kernel is not libzmq's */
        if (ti.tcpi_bytes_received <= allowed || ioctl(fd, SIOCINQ, &queued) != 0 ||
            ti.tcpi_bytes_received - (uint64_t)(queued > 0 ? queued : 0) <= allowed ||
            !is_client_connection(d, fd))
            continue;
        uint64_t held = ti.tcpi_bytes_received - (uint64_t)(queued > 0 ? queued : 0) - c->delivered;
        char peer[INET6_ADDRSTRLEN] = "?";
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
            inet_ntop(ss.ss_family,
                      ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                               : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
                      peer, sizeof peer);
        /* libzmq sees the connection end and frees what it held; the descriptor stays
         * libzmq's until then. */
        shutdown(fd, SHUT_RDWR);
        c->delivered = ti.tcpi_bytes_received; /* not shut down twice */
        if (d->dropped++ % LOG_EVERY == 0)
            gw_log("dropped a client connection from %s: it holds %llu bytes of messages not "
                   "yet complete, more than a client may (%llu)", peer, (unsigned long long)held,
                   (unsigned long long)d->held_max);
    }
}

size_t gw_door_poll_items(fh_gateway *g, zmq_pollitem_t *items)
{
    items[0] = (zmq_pollitem_t){g->door->zap, 0, ZMQ_POLLIN, 0};
    items[1] = (zmq_pollitem_t){g->door->monitor, 0, ZMQ_POLLIN, 0};
    return 2;
}

void gw_door_service(fh_gateway *g, const zmq_pollitem_t *items)
{
    struct gw_door *d = g->door;
    /* Events before ZAP: a connection is counted before it is asked about. */
    if (items[1].revents & ZMQ_POLLIN)
        read_events(d);
    if (items[0].revents & ZMQ_POLLIN)
        serve_zap(d);
    int64_t now = fh_monotonic_ms();
    if (d->open > 0 && now - d->checked_ms >= DOOR_CHECK_MS) {
        d->checked_ms = now;
        check_held(d, now);
    }
    set_filter(d, d->open >= d->max);
}

int gw_door_timer(const fh_gateway *g)
{
    const struct gw_door *d = g->door;
    if (d->open == 0)
        return -1;
    int64_t left = d->checked_ms + DOOR_CHECK_MS - fh_monotonic_ms();
    return left > 0 ? (int)left : 0;
}

/* Whether the client socket listens on a loopback address only. */
static bool loopback_only(const char *address)
{
    char host[300];
    snprintf(host, sizeof host, "%s", address);
    char *colon = strrchr(host, ':');
    if (colon != NULL)
        *colon = '\0';
    char *h = host;
    if (h[0] == '[') { /* [::1] */
        h++;
        h[strcspn(h, "]")] = '\0';
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

int gw_door_bound(fh_gateway *g)
{
    /* The LISTENING event (the listening descriptor) was sent while binding; ZMQ_EVENTS
     * makes the monitor socket see it. */
    for (int tries = 0; g->door->listen_fd < 0 && tries < 10; tries++) {
        int ready;
        size_t len = sizeof ready;
        zmq_pollitem_t item = {g->door->monitor, 0, ZMQ_POLLIN, 0};
        zmq_getsockopt(g->door->monitor, ZMQ_EVENTS, &ready, &len);
        read_events(g->door);
        if (g->door->listen_fd < 0)
            zmq_poll(&item, 1, 10);
    }
    if (g->door->listen_fd < 0)
        gw_log("cannot find the client socket's listening descriptor: max_connections is "
               "enforced only by refusing connections");
    if (!g->door->curve && !loopback_only(g->address))
        gw_log("warning: the flow listens on %s without authentication: anyone who can reach "
               "it can use it (set with.server_key and with.client_keys)", g->address);
    return 0;
}

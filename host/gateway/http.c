/* The HTTP gateway: Jina 2's REST API (rest.h), health and metrics on libmicrohttpd,
 * driven from the gateway's own loop (no thread of its own: MHD's epoll descriptor is
 * one of the loop's poll items, MHD_run is called every turn).
 *
 * A request's way: its body is read as it arrives, up to max_message_size (over it: 413
 * at once, nothing more kept); once whole it is converted (rest.c) and its connection
 * suspended; it waits in a FIFO until the flow has a slot and room in its byte budget
 * (as a ZeroMQ client's request waits in its socket), then becomes a slot like any other
 * and walks the flow. gw_finish gives the answer back here (gw_http_answer): the JSON is
 * written, the connection resumed and the response queued. Every request has a deadline
 * (http_timeout, or X-Flowhost-Timeout): past it, the answer is 504 and the slot, still
 * at work, answers for nobody. A connection that is gone is noticed when its answer is
 * written; its slot is detached the same way.
 *
 * Bounds: connections (http_max_connections), header size (http_max_header_size: MHD's
 * memory per connection), body size (max_message_size), the bodies held at once (those
 * being read, each counted at its Content-Length from its start, and the requests
 * waiting for a slot: the gateway's byte budget, 4 x max_message_size; without room, a
 * new body is answered 503), the time to send a whole request
 * (http_read_timeout: a connection that has not, from its start or from its previous
 * answer, is shut down: slowloris and idle keep-alive connections alike).
 *
 * This file: the server in the gateway's loop (set-up, poll, MHD_run), admission into
 * slots, deadlines and read timeouts, answers from slots; http_request.c: one request. */
#define _GNU_SOURCE
#include "http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "codec.h"
#include "util.h"

#define SCAN_MS 100              /* deadlines and read timeouts are checked this often */
#define MAX_TLS_FILE (1 << 20)   /* a certificate or key file larger than this is refused */

/* ---- the gateway's side ------------------------------------------------------------- */

#define LOG_PER_SECOND 10 /* libmicrohttpd's lines logged per second, at most */

/* libmicrohttpd's messages: while the server starts, kept for the error that says why it
 * could not; then logged, at most LOG_PER_SECOND a second (bad clients are many). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct gw_http *h = cls;
    char line[600];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == '.'))
        line[--n] = '\0';
    if (h->starting) {
        if (h->start_why[0] == '\0') /* the first says most: later ones follow from it */
            snprintf(h->start_why, sizeof h->start_why, "%.299s", line);
        return;
    }
    int64_t now = fh_monotonic_ms();
    if (now - h->log_second_ms >= 1000) {
        if (h->log_dropped > 0)
            gw_log("http: %zu more messages of libmicrohttpd not shown", h->log_dropped);
        h->log_second_ms = now;
        h->log_lines = 0;
        h->log_dropped = 0;
    }
    if (h->log_lines++ < LOG_PER_SECOND)
        gw_log("http: %s", line);
    else
        h->log_dropped++;
}

/* The contents of the PEM file PATH into *OUT (new, NUL-terminated). */
static int read_pem(const char *path, const char *key, char **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fh_set_error(FH_E_IO, "%s %s: %s", key, path, strerror(errno));
    char *buf = malloc(MAX_TLS_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_TLS_FILE + 1, f) : 0;
    bool err = ferror(f);
    fclose(f);
    if (buf == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    if (err || n == 0 || n > MAX_TLS_FILE) {
        free(buf);
        return fh_set_error(FH_E_IO, "%s %s: %s", key, path,
                            err ? "cannot be read" : n == 0 ? "is empty" : "is over 1 MiB");
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* The address to listen on: the flow's host (a numeric IPv4 or IPv6 address, or a name
 * resolved once), port PORT. */
static int listen_address(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        return fh_set_error(FH_E_INVAL, "HTTP: cannot resolve host '%s': %s", host, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET)
        in4->sin_port = htons((uint16_t)port);
    else
        in6->sin6_port = htons((uint16_t)port);
    return 0;
}

int gw_http_init(fh_gateway *g)
{
    const fh_flow_config *cfg = g->cfg;
    if (!cfg->http)
        return 0;
    struct gw_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    g->http = h;
    h->epfd = -1;
    h->watch_fd = -1;
    int rc = fh_rest_endpoints_init(&h->eps, cfg, NULL, 0);
    if (rc != 0)
        return rc;
    const char *slash = strrchr(cfg->path, '/');
    h->openapi = fh_rest_openapi(&h->eps, slash ? slash + 1 : cfg->path);
    h->docs = fh_rest_docs_html(&h->eps, slash ? slash + 1 : cfg->path);
    if (h->openapi == NULL || h->docs == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    gw_door_http_bounds(g, &h->max_conns, &h->spare_conns);
    h->openapi_len = strlen(h->openapi);
    h->docs_len = strlen(h->docs);
    struct sockaddr_storage ss;
    if ((rc = listen_address(cfg->host, cfg->port_http, &ss)) != 0)
        return rc;
    /* Not MHD_USE_TURBO: with it, a TLS connection cut in its handshake is never closed
     * and MHD asks to run at once, for ever (a core at 100%, connections kept). */
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    if (cfg->ssl_certfile != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return fh_set_error(FH_E_STATE, "ssl_certfile: this libmicrohttpd has no TLS");
        if ((rc = read_pem(cfg->ssl_certfile, "ssl_certfile", &h->tls_cert)) != 0 ||
            (rc = read_pem(cfg->ssl_keyfile, "ssl_keyfile", &h->tls_key)) != 0)
            return rc;
        flags |= MHD_USE_TLS;
        h->tls = true;
    }
    /* MHD's idle timeout, in whole seconds: the read timeout (checked here to the 100 ms)
     * covers reading; this one also bounds a client that does not read its answer. */
    unsigned idle_s = (unsigned)((cfg->http_read_timeout_ms + 999) / 1000);
    struct MHD_OptionItem tls_opts[] = {
        {h->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->tls_cert},
        {h->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, h->tls_key},
        {MHD_OPTION_END, 0, NULL}};
    h->starting = true;
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, gw_http_on_request, g,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, /* first: every message goes there */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(h->max_conns + h->spare_conns),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->http_max_header_size,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
        MHD_OPTION_NOTIFY_COMPLETED, gw_http_on_completed, g,
        MHD_OPTION_NOTIFY_CONNECTION, gw_http_on_connection, g,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    h->starting = false;
    if (h->d == NULL)
        return fh_set_error(FH_E_IO, "cannot serve HTTP on %s:%d: %s", cfg->host, cfg->port_http,
                            h->start_why[0] ? h->start_why
                            : h->tls ? "is the certificate and key pair valid?"
                                     : "is the port in use?");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    if (di == NULL || pi == NULL)
        return fh_set_error(FH_E_STATE, "HTTP: libmicrohttpd gave no epoll descriptor or port");
    h->epfd = di->epoll_fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if ((h->watch_fd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        epoll_ctl(h->watch_fd, EPOLL_CTL_ADD, h->epfd, &ev) != 0)
        return fh_set_error(FH_E_IO, "HTTP: epoll: %s", strerror(errno));
    bool v6 = ss.ss_family == AF_INET6;
    snprintf(h->address, sizeof h->address, "%s%s%s:%u", v6 ? "[" : "", cfg->host, v6 ? "]" : "",
             (unsigned)pi->port);
    snprintf(h->url, sizeof h->url, "%s://%s", h->tls ? "https" : "http", h->address);
    return 0;
}

const char *gw_http_address(const fh_gateway *g)
{
    return g->http ? g->http->address : NULL;
}

const char *fh_gateway_http_url(const fh_gateway *g)
{
    return g->http ? g->http->url : NULL;
}

bool gw_http_tls(const fh_gateway *g)
{
    return g->http && g->http->tls;
}

void gw_http_free(fh_gateway *g)
{
    struct gw_http *h = g->http;
    if (h == NULL)
        return;
    if (h->d != NULL) {
        h->stopping = true;
        /* Requests still waiting are let go: their slots answer for nobody. */
        for (req_list *l = &h->pending; l->head;)
            gw_http_answer_error_later(g, l->head, MHD_HTTP_SERVICE_UNAVAILABLE, "the flow stopped");
        for (req_list *l = &h->inside; l->head;) {
            http_req *r = l->head;
            g->slots[r->slot].http = NULL;
            r->slot = -1;
            gw_http_answer_error_later(g, r, MHD_HTTP_SERVICE_UNAVAILABLE, "the flow stopped");
        }
        /* MHD resumes them in MHD_run; one that was reading is closed there (stopping). */
        for (int k = 0; k < 3; k++)
            MHD_run(h->d);
        MHD_stop_daemon(h->d);
    }
    if (h->watch_fd >= 0)
        close(h->watch_fd);
    fh_rest_endpoints_clear(&h->eps);
    free(h->openapi);
    free(h->docs);
    free(h->tls_cert);
    free(h->tls_key);
    free(h);
    g->http = NULL;
}

size_t gw_http_poll_items(fh_gateway *g, zmq_pollitem_t *items)
{
    if (g->http == NULL)
        return 0;
    items[0] = (zmq_pollitem_t){NULL, g->http->watch_fd, ZMQ_POLLIN, 0};
    return 1;
}

int gw_http_timer(const fh_gateway *g)
{
    const struct gw_http *h = g->http;
    if (h == NULL)
        return -1;
    int wait = -1;
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(h->d, &t) == MHD_YES)
        wait = t > 1000 ? 1000 : (int)t;
    if (h->conns != NULL || h->pending.n || h->inside.n) {
        int64_t left = h->next_scan_ms - fh_monotonic_ms();
        int scan = left < 0 ? 0 : (int)left;
        if (wait < 0 || scan < wait)
            wait = scan;
    }
    return wait;
}

/* ---- clients that go away while their request waits ------------------------------- */

/* MHD does not look at a suspended connection: a client that closes it while its request
 * waits (for a slot, or for the flow's answer) would keep its connection, its place in
 * http_max_connections and its request until the answer. Its descriptor is watched here
 * for the peer's FIN or RST (EPOLLRDHUP, EPOLLHUP) rather than for data, so that a
 * client that pipelines its next request is not taken for gone, nor polled for ever. A
 * client that half-closes after its request (shutdown(SHUT_WR)) is taken for gone, as
 * nginx and Jina's uvicorn take it. */
void gw_http_watch(struct gw_http *h, http_req *r)
{
    if (r->hc == NULL || r->hc->fd < 0 || r->watched)
        return;
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = r};
    if (epoll_ctl(h->watch_fd, EPOLL_CTL_ADD, r->hc->fd, &ev) == 0)
        r->watched = true; /* else: noticed when its answer is written, as before */
}

void gw_http_unwatch(struct gw_http *h, http_req *r)
{
    if (!r->watched)
        return;
    r->watched = false;
    epoll_ctl(h->watch_fd, EPOLL_CTL_DEL, r->hc->fd, NULL);
}

/* Counts how the HTTP request R ended, now that it leaves the flow's answer behind (its
 * client gone, or its deadline past): inside a slot, under the slot's endpoint and time,
 * and the slot's answer is then not counted again (observe.c); waiting for a slot, under
 * the endpoint it names. */
static void count_end(fh_gateway *g, http_req *r, fh_metrics_status status)
{
    if (g->metrics == NULL)
        return;
    if (r->state == REQ_INSIDE && r->slot >= 0) {
        const slot *s = &g->slots[r->slot];
        fh_metrics_request_done(g->metrics,
                                fh_metrics_endpoint(g->metrics, s->env ? s->env->endpoint : NULL),
                                status, fh_monotonic_us() - s->start_mono_us);
        return;
    }
    if (r->state != REQ_PENDING || !r->has_rr)
        return;
    int id;
    Flowhost__Envelope *env = NULL;
    if (r->endpoint != NULL)
        id = fh_metrics_endpoint(g->metrics, r->endpoint);
    else if (fh_envelope_decode_ids(zmq_msg_data(&r->rr.envelope),
                                    zmq_msg_size(&r->rr.envelope), &env) == 0)
        id = fh_metrics_endpoint(g->metrics, env->endpoint);
    else
        id = fh_metrics_endpoint(g->metrics, NULL);
    if (env != NULL)
        flowhost__envelope__free_unpacked(env, NULL);
    int64_t waited_ms = fh_monotonic_ms() - (r->deadline_ms - r->timeout_ms);
    fh_metrics_request_done(g->metrics, id, status, waited_ms * 1000);
}

/* R's client went away: a request still waiting for a slot is dropped, one inside a slot
 * lets it go on for nobody (its answer is dropped on arrival: gw_http_answer), and the
 * connection is closed once MHD has it back. */
static void client_gone(fh_gateway *g, http_req *r)
{
    count_end(g, r, FH_METRICS_CANCELLED);
    if (r->slot >= 0) {
        g->slots[r->slot].http = NULL;
        r->slot = -1;
    }
    r->closing = true;
    gw_http_answer_later(g, r, 0, NULL);
}

/* The suspended connections whose client closed them. */
static void watch_events(fh_gateway *g)
{
    struct gw_http *h = g->http;
    struct epoll_event ev[64];
    int n;
    do {
        n = epoll_wait(h->watch_fd, ev, 64, 0);
        for (int k = 0; k < n; k++) {
            http_req *r = ev[k].data.ptr;
            /* NULL: MHD's own descriptor. Unwatched already: a stale event of this batch. */
            if (r != NULL && r->watched && r->suspended)
                client_gone(g, r);
        }
    } while (n == 64);
}

/* Lets the requests that wait in while the flow has room, in order; refuses them when
 * the flow drains. */
static void admit(fh_gateway *g)
{
    struct gw_http *h = g->http;
    while (h->pending.head != NULL) {
        http_req *r = h->pending.head;
        if (g->draining) {
            gw_http_answer_error_later(g, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "the flow is shutting down: request refused");
            continue;
        }
        if (g->inflight >= g->n_slots || g->inflight_bytes >= g->max_bytes)
            return;
        Flowhost__Envelope *env = NULL;
        if (fh_envelope_decode_ids(zmq_msg_data(&r->rr.envelope), zmq_msg_size(&r->rr.envelope),
                                   &env) != 0) {
            gw_http_answer_error_later(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, fh_last_error());
            continue;
        }
        int i = gw_slot_alloc(g);
        if (i < 0) { /* cannot happen: room was checked */
            flowhost__envelope__free_unpacked(env, NULL);
            return;
        }
        gw_http_list_remove(&h->pending, r);
        slot *s = &g->slots[i];
        env->no_wait = r->no_wait;
        s->env = env;
        s->client_len = 0; /* its clocks started with the slot (gw_slot_alloc) */
        s->admitted = false;
        s->http = r;
        s->via_http = true;
        zmq_msg_move(&s->env_frame, &r->rr.envelope);
        s->env_stale = true; /* the frame says more than the ids decoded */
        fh_wire_docs_move(&s->docs, &r->rr.docs);
        fh_rest_request_close(&r->rr);
        r->has_rr = false;
        gw_http_set_held(h, r, 0);
        size_t decoded = sizeof *env + strlen(env->request_id) + strlen(env->endpoint) + 2;
        s->bytes = zmq_msg_size(&s->env_frame) + decoded + fh_wire_docs_size(&s->docs);
        s->env_decoded = decoded;
        g->inflight_bytes += s->bytes;
        r->slot = i;
        r->state = REQ_INSIDE;
        gw_http_list_push(&h->inside, r);
        gw_advance(g, i); /* may answer at once (gw_http_answer) */
    }
}

/* Past their deadline: 504. Reading too long: shut down. */
static void scan(fh_gateway *g, int64_t now)
{
    struct gw_http *h = g->http;
    h->next_scan_ms = now + SCAN_MS;
    for (int k = 0; k < 2; k++) {
        req_list *l = k ? &h->inside : &h->pending;
        for (http_req *r = l->head, *next; r != NULL; r = next) {
            next = r->next;
            if (r->deadline_ms > now)
                continue;
            count_end(g, r, FH_METRICS_TIMEOUT);
            if (r->slot >= 0) {
                g->slots[r->slot].http = NULL;
                r->slot = -1;
            }
            char why[160];
            snprintf(why, sizeof why, "no answer within %d ms (the request's deadline: "
                     "http_timeout, or X-Flowhost-Timeout)", r->timeout_ms);
            gw_http_answer_error_later(g, r, MHD_HTTP_GATEWAY_TIMEOUT, why);
        }
    }
    size_t cut = 0;
    for (http_conn *c = h->conns; c != NULL; c = c->next) {
        if (c->busy || c->cut || c->fd < 0 || now - c->since_ms < g->cfg->http_read_timeout_ms)
            continue;
        /* MHD sees the connection end at its next turn and closes it. */
        shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
        cut++;
    }
    if (cut > 0)
        gw_log("http: closed %zu connection%s that sent no whole request within %d ms "
               "(http_read_timeout)", cut, cut == 1 ? "" : "s", g->cfg->http_read_timeout_ms);
}

void gw_http_service(fh_gateway *g)
{
    struct gw_http *h = g->http;
    if (h == NULL)
        return;
    h->resumed = false;
    watch_events(g); /* before admit: a request whose client is gone takes no slot */
    MHD_run(h->d);
    h->resumed = false;
    admit(g);
    int64_t now = fh_monotonic_ms();
    if (now >= h->next_scan_ms)
        scan(g, now);
    /* What admit and scan answered is written at once, not at the next turn. */
    if (h->resumed) {
        h->resumed = false;
        MHD_run(h->d);
    }
}

bool gw_http_busy(const fh_gateway *g)
{
    const struct gw_http *h = g->http;
    if (h == NULL)
        return false;
    if (fh_monotonic_ms() >= g->drain_deadline_ms)
        return false;
    for (const http_conn *c = h->conns; c != NULL; c = c->next)
        if (c->busy)
            return true;
    return h->pending.n > 0;
}

void gw_http_answer(fh_gateway *g, int i, zmq_msg_t *env_frame)
{
    slot *s = &g->slots[i];
    http_req *r = s->http;
    s->http = NULL;
    if (r == NULL) { /* its client is gone, or was answered 504 */
        zmq_msg_close(env_frame);
        return;
    }
    r->slot = -1;
    char *body = NULL;
    size_t len = 0;
    fh_rest_error err;
    size_t max = (size_t)FH_GATEWAY_BUDGET_MESSAGES * (size_t)g->cfg->max_message_size;
    int rc = fh_rest_write_response_frame(zmq_msg_data(env_frame), zmq_msg_size(env_frame),
                                          &s->docs, max, &body, &len, &err);
    zmq_msg_close(env_frame);
    if (rc != 0) {
        gw_log("the answer to HTTP request %.64s cannot be written: %s", s->env->request_id,
               err.message);
        gw_http_answer_error_later(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, err.message);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        gw_http_answer_later(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (!g->cfg->http_keep_alive || g->draining)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    gw_http_answer_later(g, r, MHD_HTTP_OK, resp);
}

void gw_http_detach(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    http_req *r = s->http;
    s->http = NULL;
    if (r == NULL)
        return;
    r->slot = -1;
    gw_http_answer_error_later(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                       "the gateway could not answer this request (see the flow's log)");
}


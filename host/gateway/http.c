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
 * answer, is shut down: slowloris and idle keep-alive connections alike). */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include <flowhost/error.h>

#include "codec.h"
#include "prom.h"
#include "rest.h"
#include "status_page.h"
#include "util.h"

#define SCAN_MS 100              /* deadlines and read timeouts are checked this often */
#define MAX_TLS_FILE (1 << 20)   /* a certificate or key file larger than this is refused */
#define RETRY_AFTER "1"          /* seconds a 503 asks the client to wait */
/* Connections taken beyond http_max_connections, to be told 503 rather than left in the
 * listen queue; beyond these, connections do wait there (the kernel's bounded queue). */
#define SPARE_CONNECTIONS 32

/* One TCP connection (MHD's socket context). */
typedef struct http_conn {
    struct http_conn *prev, *next; /* in h->conns */
    int fd;
    int64_t since_ms;  /* it has been reading a request since (its start, or the end of
                          its previous answer) */
    bool busy;         /* its request is read whole: it waits for the flow, not the client */
    bool cut;          /* shut down for reading too slowly */
} http_conn;

typedef enum req_state {
    REQ_READING = 0,   /* the body is arriving */
    REQ_PENDING,       /* read and converted, suspended, waiting for a slot */
    REQ_INSIDE,        /* a slot carries it */
    REQ_ANSWERED       /* its response is made (queued, or queued once resumed) */
} req_state;

/* One HTTP request (MHD's per-request context). */
typedef struct gw_http_req {
    struct gw_http_req *prev, *next; /* in h->pending or h->inside */
    struct MHD_Connection *conn;
    http_conn *hc;
    req_state state;
    const char *endpoint;     /* POST /ENDPOINT: borrowed from h->eps; NULL: /post */
    char *body;               /* what arrived of the body, at most max_message_size */
    size_t len, cap;
    bool too_big;             /* over max_message_size: 413 queued, the rest dropped */
    bool no_room;             /* a body without Content-Length outgrew the bodies' budget:
                                 the rest dropped, 503 once it is in */
    bool no_wait;             /* X-Flowhost-No-Wait: refused at once when the flow is full */
    bool has_length;          /* it has a Content-Length... */
    size_t expect;            /* ...of this many bytes */
    int timeout_ms;           /* its deadline, from when it is read whole */
    int64_t deadline_ms;
    fh_rest_request rr;       /* the converted request (REQ_PENDING) */
    bool has_rr;
    int slot;                 /* REQ_INSIDE: the slot carrying it; else -1 */
    bool suspended;
    size_t held;              /* bytes it counts in h->held */
    struct MHD_Response *response; /* REQ_ANSWERED, while suspended: queued on resume */
    unsigned status;
} http_req;

typedef struct req_list {
    http_req *head, *tail;
    size_t n;
} req_list;

struct gw_http {
    struct MHD_Daemon *d;
    int epfd;                 /* MHD's epoll descriptor: readable when it has work */
    char address[320];        /* "HOST:PORT" it listens on */
    char url[330];            /* "http://HOST:PORT" (https with TLS) */
    bool tls;
    fh_rest_endpoints eps;    /* the endpoints served by path */
    char *openapi, *docs;     /* GET /openapi.json and GET /docs, made once */
    size_t openapi_len, docs_len;
    http_conn *conns;         /* every open connection */
    size_t n_conns;
    req_list pending;         /* read, waiting for a slot: in order */
    req_list inside;          /* carried by slots */
    size_t held;              /* bytes of bodies being read and of requests pending: at
                                 most the gateway's max_bytes */
    int64_t next_scan_ms;
    char *tls_cert, *tls_key; /* the PEM files' contents (MHD keeps pointers to them) */
    bool starting;            /* MHD_start_daemon runs: its messages go to START_WHY */
    bool stopping;            /* gw_http_free runs: nothing is suspended any more */
    bool resumed;             /* a connection was resumed since MHD_run last ran */
    char start_why[300];
    int64_t log_second_ms;    /* mhd_log's rate: the second it counts in... */
    size_t log_lines, log_dropped; /* ...lines logged and dropped in it */
};

/* ---- lists -------------------------------------------------------------------------- */

static void list_push(req_list *l, http_req *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static void list_remove(req_list *l, http_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
    l->n--;
}

/* The list R is on, by its state, or NULL. */
static req_list *list_of(struct gw_http *h, http_req *r)
{
    return r->state == REQ_PENDING ? &h->pending : r->state == REQ_INSIDE ? &h->inside : NULL;
}

/* R now holds BYTES of body or converted request. */
static void set_held(struct gw_http *h, http_req *r, size_t bytes)
{
    h->held = h->held - r->held + bytes;
    r->held = bytes;
}

/* ---- responses ---------------------------------------------------------------------- */

/* A response of LEN bytes of DATA (copied) with CONTENT_TYPE, or NULL. */
static struct MHD_Response *make_response(const fh_gateway *g, const char *data, size_t len,
                                          const char *content_type)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data,
                                                                MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return NULL;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (!g->cfg->http_keep_alive || g->draining)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    return resp;
}

/* A JSON error body {"detail": WHY} (FastAPI's shape, as rest.c writes them). */
static struct MHD_Response *error_response(const fh_gateway *g, const char *why)
{
    fh_rest_error err = {.http_status = 500};
    snprintf(err.message, sizeof err.message, "%s", why);
    char *body = fh_rest_error_json(&err);
    if (body == NULL)
        return NULL;
    struct MHD_Response *resp = make_response(g, body, strlen(body), "application/json");
    free(body);
    return resp;
}

/* Queues RESP (consumed) with STATUS on R's connection, from inside the access handler. */
static enum MHD_Result queue(http_req *r, unsigned status, struct MHD_Response *resp)
{
    if (resp == NULL)
        return MHD_NO; /* out of memory: MHD closes the connection */
    r->state = REQ_ANSWERED;
    enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result queue_error(const fh_gateway *g, http_req *r, unsigned status,
                                   const char *why)
{
    struct MHD_Response *resp = error_response(g, why);
    if (resp != NULL && status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER);
    return queue(r, status, resp);
}

/* Answers R, which waits suspended (pending or inside), from outside MHD_run: the
 * response is queued when MHD calls the handler again after the resume. RESP is taken. */
static void answer_later(fh_gateway *g, http_req *r, unsigned status, struct MHD_Response *resp)
{
    struct gw_http *h = g->http;
    req_list *l = list_of(h, r);
    if (l != NULL)
        list_remove(l, r);
    if (r->has_rr) {
        fh_rest_request_close(&r->rr);
        r->has_rr = false;
    }
    set_held(h, r, 0);
    r->state = REQ_ANSWERED;
    r->response = resp; /* NULL (out of memory): the connection is closed on resume */
    r->status = status;
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
        h->resumed = true;
    }
}

static void answer_error_later(fh_gateway *g, http_req *r, unsigned status, const char *why)
{
    struct MHD_Response *resp = error_response(g, why);
    if (resp != NULL && status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER);
    answer_later(g, r, status, resp);
}

/* Answers the gateway's own GET paths (health, metrics); false when PATH is none. */
static bool own_path(fh_gateway *g, http_req *r, const char *method, const char *path,
                     enum MHD_Result *out)
{
    bool live = strcmp(path, "/health/live") == 0, ready = strcmp(path, "/health/ready") == 0;
    bool metrics = strcmp(path, "/metrics") == 0;
    if (!live && !ready && !metrics)
        return false;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        struct MHD_Response *resp = error_response(g, "method not allowed: this path takes GET");
        if (resp != NULL)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        *out = queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        return true;
    }
    if (live) {
        static const char body[] = "{\"live\":true}";
        *out = queue(r, MHD_HTTP_OK, make_response(g, body, sizeof body - 1, "application/json"));
    } else if (ready) {
        bool ok;
        char *body = gw_health_json(g, &ok);
        if (body == NULL) {
            *out = queue_error(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return true;
        }
        *out = queue(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                     make_response(g, body, strlen(body), "application/json"));
        free(body);
    } else {
        fh_prom_buf b = {0};
        if (gw_metrics_text(g, &b) != 0)
            *out = queue_error(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, fh_last_error());
        else
            *out = queue(r, MHD_HTTP_OK, make_response(g, b.data ? b.data : "", b.len,
                                                       FH_METRICS_CONTENT_TYPE));
        fh_prom_buf_free(&b);
    }
    return true;
}

/* ---- the status page (status_page.h) ------------------------------------------------ */

/* Answers GET / with the status page; false when PATH is another. */
static bool status_page_path(fh_gateway *g, http_req *r, const char *method, const char *path,
                             enum MHD_Result *out)
{
    if (strcmp(path, "/") != 0)
        return false;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        struct MHD_Response *resp = error_response(g, "method not allowed: this path takes GET");
        if (resp != NULL)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        *out = queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        return true;
    }
    char *page;
    size_t len;
    if (fh_status_page_html(g->cfg, &page, &len) != 0) {
        *out = queue_error(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, fh_last_error());
        return true;
    }
    *out = queue(r, MHD_HTTP_OK, make_response(g, page, len, "text/html; charset=utf-8"));
    free(page);
    return true;
}

/* ---- requests ----------------------------------------------------------------------- */

/* Reads X-Flowhost-Timeout (ms) and X-Flowhost-No-Wait into R: false (WHY set) when one
 * is not what it must be. */
static bool read_headers(const fh_gateway *g, http_req *r, char *why, size_t size)
{
    r->timeout_ms = g->cfg->http_timeout_ms;
    const char *t = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Flowhost-Timeout");
    if (t != NULL) {
        char *end;
        errno = 0;
        long long ms = strtoll(t, &end, 10);
        if (errno != 0 || end == t || *end != '\0' || ms < 1 || ms > 86400000) {
            snprintf(why, size, "header X-Flowhost-Timeout must be a number of milliseconds, "
                     "1 to 86400000, not '%.40s'", t);
            return false;
        }
        r->timeout_ms = (int)ms;
    }
    const char *nw = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Flowhost-No-Wait");
    if (nw != NULL) {
        if (strcmp(nw, "1") == 0 || strcasecmp(nw, "true") == 0)
            r->no_wait = true;
        else if (strcmp(nw, "0") != 0 && strcasecmp(nw, "false") != 0) {
            snprintf(why, size, "header X-Flowhost-No-Wait must be 1, 0, true or false, not "
                     "'%.40s'", nw);
            return false;
        }
    }
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    r->has_length = cl != NULL;
    r->expect = cl != NULL ? (size_t)strtoull(cl, NULL, 10) : 0;
    if (cl != NULL && strtoull(cl, NULL, 10) > (unsigned long long)g->cfg->max_message_size) {
        r->too_big = true;
        snprintf(why, size, "the body is %s bytes, over the flow's max_message_size (%d)", cl,
                 g->cfg->max_message_size);
        return false;
    }
    return true;
}

/* Whether a request that does not wait finds the flow full (as clients.c judges it). */
static bool flow_full(const fh_gateway *g)
{
    return g->inflight + g->reserve >= g->n_slots || g->inflight_bytes >= g->max_bytes ||
           g->http->pending.n > 0;
}

/* The body of R is whole: converted, then R waits for a slot, suspended. */
static enum MHD_Result body_read(fh_gateway *g, http_req *r)
{
    struct gw_http *h = g->http;
    fh_rest_parse_options o = {.max_bytes = (size_t)g->cfg->max_message_size,
                               .endpoint = r->endpoint, .no_wait = r->no_wait};
    fh_rest_error err;
    int rc = fh_rest_parse_request(r->body ? r->body : "", r->len, &o, &r->rr, &err);
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
    set_held(h, r, rc == 0 ? zmq_msg_size(&r->rr.envelope) + fh_wire_docs_size(&r->rr.docs) : 0);
    if (rc != 0) {
        char *body = fh_rest_error_json(&err);
        struct MHD_Response *resp = body ? make_response(g, body, strlen(body), "application/json")
                                         : NULL;
        free(body);
        return queue(r, (unsigned)err.http_status, resp);
    }
    r->has_rr = true;
    if (g->draining)
        return queue_error(g, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "the flow is shutting down: request refused");
    if (r->no_wait && flow_full(g)) {
        char why[160];
        snprintf(why, sizeof why, "busy: the flow is full (%zu requests in flight); try again "
                 "later", g->inflight);
        return queue_error(g, r, MHD_HTTP_SERVICE_UNAVAILABLE, why);
    }
    if (r->hc)
        r->hc->busy = true;
    r->deadline_ms = fh_monotonic_ms() + r->timeout_ms;
    r->state = REQ_PENDING;
    list_push(&h->pending, r);
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    return MHD_YES;
}

/* 503 for a body the bodies' budget has no room for. */
static enum MHD_Result busy_bodies(fh_gateway *g, http_req *r)
{
    char why[200];
    snprintf(why, sizeof why, "busy: the request bodies being received take the gateway's "
             "budget (%zu bytes); try again later", g->max_bytes);
    return queue_error(g, r, MHD_HTTP_SERVICE_UNAVAILABLE, why);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **ctx)
{
    (void)version;
    fh_gateway *g = cls;
    struct gw_http *h = g->http;
    http_req *r = *ctx;
    if (r == NULL) { /* the request line and headers are in */
        if ((r = calloc(1, sizeof *r)) == NULL)
            return MHD_NO;
        *ctx = r;
        r->conn = conn;
        r->slot = -1;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->hc = ci ? ci->socket_context : NULL;
        if (h->n_conns > (size_t)g->cfg->http_max_connections) {
            /* One of the spare connections: told so, and closed. */
            char why[160];
            snprintf(why, sizeof why, "busy: the flow serves %d HTTP connections at most "
                     "(http_max_connections); try again later", g->cfg->http_max_connections);
            struct MHD_Response *resp = error_response(g, why);
            if (resp != NULL) {
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
            }
            return queue(r, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
        }
        const char *ep = NULL, *allow = NULL;
        enum MHD_Result out;
        switch (fh_rest_match(&h->eps, method, url, &ep, &allow)) {
        case FH_REST_OPENAPI:
            return queue(r, MHD_HTTP_OK, make_response(g, h->openapi, h->openapi_len,
                                                       "application/json"));
        case FH_REST_DOCS:
            return queue(r, MHD_HTTP_OK, make_response(g, h->docs, h->docs_len,
                                                       "text/html; charset=utf-8"));
        case FH_REST_BAD_METHOD: {
            char why[200];
            snprintf(why, sizeof why, "method %.20s not allowed on %.100s: it takes %s", method,
                     url, allow ? allow : "POST");
            struct MHD_Response *resp = error_response(g, why);
            if (resp != NULL && allow != NULL)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
            return queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        }
        case FH_REST_NOT_REST: {
            if (own_path(g, r, method, url, &out))
                return out;
            if (status_page_path(g, r, method, url, &out))
                return out;
            char why[200];
            snprintf(why, sizeof why, "no such path: %.120s", url);
            return queue_error(g, r, MHD_HTTP_NOT_FOUND, why);
        }
        case FH_REST_ENDPOINT:
            r->endpoint = ep;
            break;
        case FH_REST_POST:
            break;
        }
        char why[200];
        if (!read_headers(g, r, why, sizeof why))
            return queue_error(g, r, r->too_big ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_BAD_REQUEST,
                               why);
        /* A body with a Content-Length takes room for all of it now in the bodies'
         * budget (those being read and those waiting for a slot): without room, 503. */
        if (r->has_length && r->expect > 0) {
            if (h->held + r->expect > g->max_bytes)
                return busy_bodies(g, r);
            set_held(h, r, r->expect);
        }
        return MHD_YES;
    }
    if (r->state == REQ_ANSWERED) {
        *upload_size = 0;
        if (r->response == NULL && r->status == 0) /* queued already */
            return MHD_YES;
        struct MHD_Response *resp = r->response;
        r->response = NULL;
        unsigned status = r->status;
        r->status = 0;
        if (resp == NULL)
            return MHD_NO;
        enum MHD_Result ok = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    if (r->state != REQ_READING) /* suspended: not called */
        return MHD_YES;
    if (h->stopping) /* the server stops: a request still reading is closed */
        return MHD_NO;
    if (*upload_size > 0) {
        size_t n = *upload_size;
        size_t max = (size_t)g->cfg->max_message_size;
        if (r->too_big || r->no_room || r->len + n > max) {
            /* Over the limit (a body without Content-Length): nothing more is kept; the
             * answer goes once the client has sent it (MHD takes no answer midway). */
            *upload_size = 0;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            r->too_big = true;
            set_held(h, r, 0);
            return MHD_YES;
        }
        *upload_size = 0;
        if (r->len + n > r->held) {
            /* A body without Content-Length: it takes room as it grows. Without room,
             * the rest is dropped and the answer is 503 once it is in. */
            if (h->held + (r->len + n - r->held) > g->max_bytes) {
                free(r->body);
                r->body = NULL;
                r->len = r->cap = 0;
                set_held(h, r, 0);
                r->no_room = true;
                return MHD_YES;
            }
            set_held(h, r, r->len + n);
        }
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n)
                cap *= 2;
            if (cap > max)
                cap = max;
            char *b = realloc(r->body, cap);
            if (b == NULL)
                return queue_error(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->no_room)
        return busy_bodies(g, r);
    if (r->too_big) {
        char why[200];
        snprintf(why, sizeof why, "the body is over the flow's max_message_size (%d bytes)",
                 g->cfg->max_message_size);
        return queue_error(g, r, MHD_HTTP_CONTENT_TOO_LARGE, why);
    }
    return body_read(g, r);
}

/* MHD is done with a request: written, failed, or its connection gone. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    fh_gateway *g = cls;
    struct gw_http *h = g->http;
    http_req *r = *ctx;
    if (r == NULL)
        return;
    *ctx = NULL;
    req_list *l = list_of(h, r);
    if (l != NULL)
        list_remove(l, r);
    if (r->slot >= 0) { /* the slot answers for nobody now */
        g->slots[r->slot].http = NULL;
        r->slot = -1;
    }
    set_held(h, r, 0);
    if (r->hc != NULL) {
        r->hc->busy = false;
        r->hc->since_ms = fh_monotonic_ms();
    }
    free(r->body);
    if (r->has_rr)
        fh_rest_request_close(&r->rr);
    if (r->response != NULL)
        MHD_destroy_response(r->response);
    free(r);
}

/* Connections: their start and their end, for the read timeout. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    fh_gateway *g = cls;
    struct gw_http *h = g->http;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        http_conn *c = calloc(1, sizeof *c);
        if (c == NULL)
            return; /* no read timeout for it: MHD's idle timeout still applies */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        c->since_ms = fh_monotonic_ms();
        h->n_conns++;
        c->next = h->conns;
        if (h->conns)
            h->conns->prev = c;
        h->conns = c;
        *socket_ctx = c;
        return;
    }
    http_conn *c = *socket_ctx;
    if (c == NULL)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->n_conns--;
    free(c);
    *socket_ctx = NULL;
}

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
    int rc = fh_rest_endpoints_init(&h->eps, cfg, NULL, 0);
    if (rc != 0)
        return rc;
    const char *slash = strrchr(cfg->path, '/');
    h->openapi = fh_rest_openapi(&h->eps, slash ? slash + 1 : cfg->path);
    h->docs = fh_rest_docs_html(&h->eps, slash ? slash + 1 : cfg->path);
    if (h->openapi == NULL || h->docs == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    h->openapi_len = strlen(h->openapi);
    h->docs_len = strlen(h->docs);
    struct sockaddr_storage ss;
    if ((rc = listen_address(cfg->host, cfg->port_http, &ss)) != 0)
        return rc;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
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
        flags, 0, NULL, NULL, on_request, g,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, /* first: every message goes there */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_max_connections + SPARE_CONNECTIONS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->http_max_header_size,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, g,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, g,
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
            answer_error_later(g, l->head, MHD_HTTP_SERVICE_UNAVAILABLE, "the flow stopped");
        for (req_list *l = &h->inside; l->head;) {
            http_req *r = l->head;
            g->slots[r->slot].http = NULL;
            r->slot = -1;
            answer_error_later(g, r, MHD_HTTP_SERVICE_UNAVAILABLE, "the flow stopped");
        }
        /* MHD resumes them in MHD_run; one that was reading is closed there (stopping). */
        for (int k = 0; k < 3; k++)
            MHD_run(h->d);
        MHD_stop_daemon(h->d);
    }
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
    items[0] = (zmq_pollitem_t){NULL, g->http->epfd, ZMQ_POLLIN, 0};
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

/* Lets the requests that wait in while the flow has room, in order; refuses them when
 * the flow drains. */
static void admit(fh_gateway *g)
{
    struct gw_http *h = g->http;
    while (h->pending.head != NULL) {
        http_req *r = h->pending.head;
        if (g->draining) {
            answer_error_later(g, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "the flow is shutting down: request refused");
            continue;
        }
        if (g->inflight >= g->n_slots || g->inflight_bytes >= g->max_bytes)
            return;
        Flowhost__Envelope *env = NULL;
        if (fh_envelope_decode_ids(zmq_msg_data(&r->rr.envelope), zmq_msg_size(&r->rr.envelope),
                                   &env) != 0) {
            answer_error_later(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, fh_last_error());
            continue;
        }
        int i = gw_slot_alloc(g);
        if (i < 0) { /* cannot happen: room was checked */
            flowhost__envelope__free_unpacked(env, NULL);
            return;
        }
        list_remove(&h->pending, r);
        slot *s = &g->slots[i];
        env->no_wait = r->no_wait;
        s->env = env;
        s->client_len = 0;
        s->admitted = false;
        s->http = r;
        s->via_http = true;
        zmq_msg_move(&s->env_frame, &r->rr.envelope);
        s->env_stale = true; /* the frame says more than the ids decoded */
        fh_wire_docs_move(&s->docs, &r->rr.docs);
        fh_rest_request_close(&r->rr);
        r->has_rr = false;
        set_held(h, r, 0);
        size_t decoded = sizeof *env + strlen(env->request_id) + strlen(env->endpoint) + 2;
        s->bytes = zmq_msg_size(&s->env_frame) + decoded + fh_wire_docs_size(&s->docs);
        s->env_decoded = decoded;
        g->inflight_bytes += s->bytes;
        r->slot = i;
        r->state = REQ_INSIDE;
        list_push(&h->inside, r);
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
            if (r->slot >= 0) {
                g->slots[r->slot].http = NULL;
                r->slot = -1;
            }
            char why[160];
            snprintf(why, sizeof why, "no answer within %d ms (the request's deadline: "
                     "http_timeout, or X-Flowhost-Timeout)", r->timeout_ms);
            answer_error_later(g, r, MHD_HTTP_GATEWAY_TIMEOUT, why);
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
        answer_error_later(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, err.message);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        answer_later(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (!g->cfg->http_keep_alive || g->draining)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    answer_later(g, r, MHD_HTTP_OK, resp);
}

void gw_http_detach(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    http_req *r = s->http;
    s->http = NULL;
    if (r == NULL)
        return;
    r->slot = -1;
    answer_error_later(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                       "the gateway could not answer this request (see the flow's log)");
}

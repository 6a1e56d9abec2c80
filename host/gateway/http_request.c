/* One HTTP request, from its headers to its answer: the path it asks (the REST API,
 * health, metrics), its body read within max_message_size and the bodies' budget, its
 * conversion, and the wait for a slot (http.c lets it in). See http.c. */
#define _GNU_SOURCE
#include "http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "prom.h"
#include "status_page.h"
#include "util.h"

/* ---- lists -------------------------------------------------------------------------- */

void gw_http_list_push(req_list *l, http_req *r)
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

void gw_http_list_remove(req_list *l, http_req *r)
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
req_list *gw_http_list_of(struct gw_http *h, http_req *r)
{
    return r->state == REQ_PENDING ? &h->pending : r->state == REQ_INSIDE ? &h->inside : NULL;
}

/* R now holds BYTES of body or converted request. */
void gw_http_set_held(struct gw_http *h, http_req *r, size_t bytes)
{
    h->held = h->held - r->held + bytes;
    r->held = bytes;
}

/* ---- responses ---------------------------------------------------------------------- */

/* A response of LEN bytes of DATA (copied) with CONTENT_TYPE, or NULL. */
struct MHD_Response *gw_http_response(const fh_gateway *g, const char *data, size_t len,
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
struct MHD_Response *gw_http_error_response(const fh_gateway *g, const char *why)
{
    fh_rest_error err = {.http_status = 500};
    snprintf(err.message, sizeof err.message, "%s", why);
    /* A message may quote what the client sent (a path, a header): bytes that are not
     * printable ASCII become '?', so that the answer can always be written. */
    for (char *p = err.message; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    char *body = fh_rest_error_json(&err);
    if (body == NULL)
        return NULL;
    struct MHD_Response *resp = gw_http_response(g, body, strlen(body), "application/json");
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
    struct MHD_Response *resp = gw_http_error_response(g, why);
    if (resp != NULL && status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER);
    return queue(r, status, resp);
}

/* Answers R, which waits suspended (pending or inside), from outside MHD_run: the
 * response is queued when MHD calls the handler again after the resume. RESP is taken. */
void gw_http_answer_later(fh_gateway *g, http_req *r, unsigned status, struct MHD_Response *resp)
{
    struct gw_http *h = g->http;
    req_list *l = gw_http_list_of(h, r);
    if (l != NULL)
        gw_http_list_remove(l, r);
    if (r->has_rr) {
        fh_rest_request_close(&r->rr);
        r->has_rr = false;
    }
    gw_http_set_held(h, r, 0);
    r->state = REQ_ANSWERED;
    r->response = resp; /* NULL (out of memory): the connection is closed on resume */
    r->status = status;
    gw_http_unwatch(h, r);
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
        h->resumed = true;
    }
}

void gw_http_answer_error_later(fh_gateway *g, http_req *r, unsigned status, const char *why)
{
    struct MHD_Response *resp = gw_http_error_response(g, why);
    if (resp != NULL && status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER);
    gw_http_answer_later(g, r, status, resp);
}

/* ---- health, metrics ---------------------------------------------------------------- */

/* Whether METHOD is GET or HEAD; if not, R is answered 405 (in *OUT) and false returned. */
static bool get_only(fh_gateway *g, http_req *r, const char *method, enum MHD_Result *out)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return true;
    struct MHD_Response *resp = gw_http_error_response(g, "method not allowed: this path takes GET");
    if (resp != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    *out = queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
    return false;
}

/* Answers the gateway's own GET paths (health, metrics); false when PATH is none. */
static bool own_path(fh_gateway *g, http_req *r, const char *method, const char *path,
                     enum MHD_Result *out)
{
    bool live = strcmp(path, "/health/live") == 0, ready = strcmp(path, "/health/ready") == 0;
    bool metrics = strcmp(path, "/metrics") == 0;
    if (!live && !ready && !metrics)
        return false;
    if (!get_only(g, r, method, out))
        return true;
    if (live) {
        static const char body[] = "{\"live\":true}";
        *out = queue(r, MHD_HTTP_OK, gw_http_response(g, body, sizeof body - 1, "application/json"));
    } else if (ready) {
        bool ok;
        char *body = gw_health_json(g, &ok);
        if (body == NULL) {
            *out = queue_error(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return true;
        }
        *out = queue(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                     gw_http_response(g, body, strlen(body), "application/json"));
        free(body);
    } else if (!g->cfg->monitoring) {
        *out = queue_error(g, r, MHD_HTTP_NOT_FOUND, "metrics are off (with.monitoring: false)");
    } else {
        fh_prom_buf b = {0};
        if (gw_metrics_text(g, &b) != 0)
            *out = queue_error(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, fh_last_error());
        else
            *out = queue(r, MHD_HTTP_OK, gw_http_response(g, b.data ? b.data : "", b.len,
                                                       FH_METRICS_CONTENT_TYPE));
        fh_prom_buf_free(&b);
    }
    return true;
}

/* ---- the status page (status_page.h) ------------------------------------------------ */

/* GET / (or HEAD): the status page; false when PATH is another. */
static bool status_page_path(fh_gateway *g, http_req *r, const char *method, const char *path,
                             enum MHD_Result *out)
{
    if (strcmp(path, "/") != 0)
        return false;
    if (!get_only(g, r, method, out))
        return true;
    char *page;
    size_t len;
    if (fh_status_page_html(g->cfg, &page, &len) != 0) {
        *out = queue_error(g, r, MHD_HTTP_INTERNAL_SERVER_ERROR, fh_last_error());
        return true;
    }
    *out = queue(r, MHD_HTTP_OK, gw_http_response(g, page, len, "text/html; charset=utf-8"));
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

/* What the framing headers of a request say: its Content-Length fields and whether it
 * has a Transfer-Encoding. */
typedef struct framing {
    const char *length;   /* the first Content-Length value */
    bool lengths_differ;  /* another Content-Length field says otherwise */
    bool chunked;         /* a Transfer-Encoding field */
    const char *coding;   /* the first Transfer-Encoding value */
    int codings;          /* Transfer-Encoding fields */
    int hosts;            /* Host fields */
} framing;

static enum MHD_Result framing_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    framing *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->chunked = true;
        if (f->codings++ == 0)
            f->coding = value ? value : "";
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        f->hosts++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->length == NULL)
            f->length = value ? value : "";
        else if (strcmp(f->length, value ? value : "") != 0)
            f->lengths_differ = true;
    }
    return MHD_YES;
}

/* Whether R's body is framed in one way only (RFC 9112 6.3): libmicrohttpd takes the
 * first of several Content-Length fields and lets Transfer-Encoding win over one, which
 * a proxy in front may read otherwise (request smuggling); it reads a body with another
 * coding than chunked until the connection closes (the client waits for its read
 * timeout). And an HTTP/1.1 request names its Host (RFC 9112 3.2). False, WHY and
 * *STATUS set (400, or 501 for a coding other than chunked): answered, and the
 * connection closed (its next bytes cannot be told from this body). */
static bool one_framing(http_req *r, const char *version, unsigned *status, char *why,
                        size_t size)
{
    framing f = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, framing_field, &f);
    *status = MHD_HTTP_BAD_REQUEST;
    bool v11 = version != NULL && strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    if (f.hosts == 0 && v11) {
        snprintf(why, size, "an HTTP/1.1 request must have a Host header (RFC 9112, section 3.2)");
        return false;
    }
    if (f.hosts > 1) {
        snprintf(why, size, "the request has %d Host fields: one is allowed (RFC 9112, section "
                 "3.2)", f.hosts);
        return false;
    }
    if (f.codings > 0 && !v11) {
        snprintf(why, size, "Transfer-Encoding in an %.20s request: its body's length is unknown "
                 "(RFC 9112, section 6.1)", version ? version : "HTTP/1.0");
        return false;
    }
    if (f.codings > 1) {
        snprintf(why, size, "the request has %d Transfer-Encoding fields: only one, chunked, "
                 "is taken", f.codings);
        return false;
    }
    if (f.codings == 1 && strcasecmp(f.coding, "chunked") != 0) {
        *status = MHD_HTTP_NOT_IMPLEMENTED;
        snprintf(why, size, "Transfer-Encoding '%.40s' is not supported: only chunked",
                 f.coding);
        return false;
    }
    if (f.lengths_differ) {
        snprintf(why, size, "the request has Content-Length fields that differ: its body's "
                 "length is unknown (RFC 9112, section 6.3)");
        return false;
    }
    if (f.chunked && f.length != NULL) {
        snprintf(why, size, "the request has both Transfer-Encoding and Content-Length: its "
                 "body's length is ambiguous (RFC 9112, section 6.1)");
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
    gw_http_set_held(h, r, rc == 0 ? zmq_msg_size(&r->rr.envelope) + fh_wire_docs_size(&r->rr.docs) : 0);
    if (rc != 0) {
        char *body = fh_rest_error_json(&err);
        struct MHD_Response *resp = body ? gw_http_response(g, body, strlen(body), "application/json")
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
    gw_http_list_push(&h->pending, r);
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    gw_http_watch(h, r);
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

enum MHD_Result gw_http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **ctx)
{
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
        if (h->n_conns > h->max_conns) {
            /* One of the spare connections: told so, and closed. */
            char why[160];
            snprintf(why, sizeof why, "busy: the flow serves %zu HTTP connections at most "
                     "(http_max_connections); try again later", h->max_conns);
            struct MHD_Response *resp = gw_http_error_response(g, why);
            if (resp != NULL) {
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
            }
            return queue(r, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
        }
        char framing_why[200];
        unsigned framing_status;
        if (!one_framing(r, version, &framing_status, framing_why, sizeof framing_why)) {
            struct MHD_Response *resp = gw_http_error_response(g, framing_why);
            if (resp != NULL)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
            return queue(r, framing_status, resp);
        }
        const char *ep = NULL, *allow = NULL;
        enum MHD_Result out;
        switch (fh_rest_match(&h->eps, method, url, &ep, &allow)) {
        case FH_REST_OPENAPI:
            return queue(r, MHD_HTTP_OK, gw_http_response(g, h->openapi, h->openapi_len,
                                                       "application/json"));
        case FH_REST_DOCS:
            return queue(r, MHD_HTTP_OK, gw_http_response(g, h->docs, h->docs_len,
                                                       "text/html; charset=utf-8"));
        case FH_REST_BAD_METHOD: {
            char why[200];
            snprintf(why, sizeof why, "method %.20s not allowed on %.100s: it takes %s", method,
                     url, allow ? allow : "POST");
            struct MHD_Response *resp = gw_http_error_response(g, why);
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
            gw_http_set_held(h, r, r->expect);
        }
        return MHD_YES;
    }
    if (r->state == REQ_ANSWERED) {
        *upload_size = 0;
        if (r->closing) /* its client went away: MHD closes the connection */
            return MHD_NO;
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
            gw_http_set_held(h, r, 0);
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
                gw_http_set_held(h, r, 0);
                r->no_room = true;
                return MHD_YES;
            }
            gw_http_set_held(h, r, r->len + n);
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
void gw_http_on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
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
    gw_http_unwatch(h, r);
    req_list *l = gw_http_list_of(h, r);
    if (l != NULL)
        gw_http_list_remove(l, r);
    if (r->slot >= 0) { /* the slot answers for nobody now */
        g->slots[r->slot].http = NULL;
        r->slot = -1;
    }
    gw_http_set_held(h, r, 0);
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
void gw_http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
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


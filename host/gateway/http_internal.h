/* Internal to the HTTP gateway: http.c (the server in the gateway's loop: set-up,
 * admission of requests into slots, deadlines, read timeouts, answers from slots) and
 * http_request.c (one request, from its headers to its answer: paths, bodies and their
 * budget, health, metrics). See http.c for the whole. Everything runs on the gateway's
 * one thread. */
#ifndef FH_HOST_HTTP_INTERNAL_H
#define FH_HOST_HTTP_INTERNAL_H

#include <microhttpd.h>

#include "gateway_internal.h"
#include "rest.h"

#define RETRY_AFTER "1"          /* seconds a 503 asks the client to wait */

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
    bool watched;             /* suspended, its descriptor in h->watch_fd (for its close) */
    bool closing;             /* its client went away: closed, unanswered, on resume */
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
    int watch_fd;             /* what the gateway's loop polls: an epoll set of EPFD and
                                 of the suspended connections, which MHD does not watch
                                 (their client closing: EPOLLRDHUP) */
    char address[320];        /* "HOST:PORT" it listens on */
    char url[330];            /* "http://HOST:PORT" (https with TLS) */
    bool tls;
    fh_rest_endpoints eps;    /* the endpoints served by path */
    char *openapi, *docs;     /* GET /openapi.json and GET /docs, made once */
    size_t openapi_len, docs_len;
    http_conn *conns;         /* every open connection */
    size_t n_conns;
    size_t max_conns;         /* connections served: http_max_connections, or fewer as the
                                 descriptor limit allows (door.c)... */
    size_t spare_conns;       /* ...and taken beyond them, to be told 503 rather than left
                                 in the listen queue; beyond these, connections do wait
                                 there (the kernel's bounded queue) */
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


/* http_request.c */
/* Appends R to L / takes it off L. */
void gw_http_list_push(req_list *l, http_req *r);
void gw_http_list_remove(req_list *l, http_req *r);
/* The list R is on, by its state (pending or inside), or NULL. */
req_list *gw_http_list_of(struct gw_http *h, http_req *r);
/* R now holds BYTES of body or converted request, counted in h->held. */
void gw_http_set_held(struct gw_http *h, http_req *r, size_t bytes);
/* A response of LEN bytes of DATA (copied) with CONTENT_TYPE ("Connection: close" when
 * keep-alive is off or the flow drains); NULL when out of memory. The caller queues or
 * destroys it. */
struct MHD_Response *gw_http_response(const fh_gateway *g, const char *data, size_t len,
                                      const char *content_type);
/* A JSON error response {"detail": WHY}; NULL when out of memory. */
struct MHD_Response *gw_http_error_response(const fh_gateway *g, const char *why);
/* Answers R, which waits suspended (pending or inside), from outside MHD_run: RESP (taken;
 * NULL: the connection is closed) is queued with STATUS when MHD calls the handler again
 * after the resume. R leaves its list and drops its converted request. */
void gw_http_answer_later(fh_gateway *g, http_req *r, unsigned status, struct MHD_Response *resp);
/* Watches R's connection, just suspended, for its client closing (h->watch_fd) / stops. */
void gw_http_watch(struct gw_http *h, http_req *r);
void gw_http_unwatch(struct gw_http *h, http_req *r);
/* The same with a JSON error, and Retry-After with a 503. */
void gw_http_answer_error_later(fh_gateway *g, http_req *r, unsigned status, const char *why);
/* libmicrohttpd's callbacks (CLS is the gateway): a request's every step, its end, and
 * a connection's start and end. */
enum MHD_Result gw_http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload, size_t *upload_size, void **ctx);
void gw_http_on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                          enum MHD_RequestTerminationCode toe);
void gw_http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                           enum MHD_ConnectionNotificationCode code);

#endif

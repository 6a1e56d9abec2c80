/* The client: see client.h. One DEALER socket; a post keeps a window of requests in
 * flight and pulls its input only when the window has room. Whatever it waits for (room,
 * input, responses), responses that have arrived are delivered first: they never wait
 * for the input. */
#define _GNU_SOURCE
#include <flowhost/client.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <flowhost/error.h>
#include <flowhost/keys.h>
#include <flowhost/source.h>

#include "codec.h"
#include "json_internal.h"
#include "pb.h"
#include "progress.h"
#include "response.h"
#include "util.h"
#include "wire.h"

struct fh_client {
    void *zctx;
    void *sock;
    void *monitor;       /* connection events of sock */
    bool connected;      /* a connection to the gateway is up */
    bool secure;         /* CURVE: the connection is up once its handshake is done */
    unsigned long disconnects; /* connections lost so far */
    bool handshaken;     /* a handshake with the flow succeeded once */
    char refused[400];   /* why the flow refused the connection for good, or "" */
    char turned_away[300]; /* why it last turned the connection away (ZeroMQ tries
                              again), or "" */
    char address[256];   /* as given, for messages */
    char error[1024];    /* the message of the last failing call on this client */
};

_Static_assert(FH_INPUT_WAIT == FH_SOURCE_WAIT, "a source is an input that can wait");

/* Keeps the message of a failing call on C (RC < 0) as C's own, and returns RC. */
static int client_failed(fh_client *c, int rc)
{
    if (rc < 0 && c != NULL)
        snprintf(c->error, sizeof c->error, "%s", fh_last_error());
    return rc;
}

const char *fh_client_error(const fh_client *c)
{
    return c ? c->error : "";
}


void fh_post_options_init(fh_post_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->request_size = 100;
}

/* "HOST:PORT" -> "tcp://HOST:PORT"; ZeroMQ endpoints are kept. */
static int endpoint_of(const char *address, char *out, size_t size)
{
    if (strstr(address, "://") != NULL) {
        snprintf(out, size, "%s", address);
        return 0;
    }
    const char *colon = strrchr(address, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || colon == address || end == colon + 1 || *end != '\0' || port < 1 ||
        port > 65535)
        return fh_set_error(FH_E_INVAL, "invalid address '%s': expected HOST:PORT", address);
    if ((size_t)snprintf(out, size, "tcp://%s", address) >= size)
        return fh_set_error(FH_E_INVAL, "address too long");
    return 0;
}

/* Makes a client; KEYS (may be NULL) turns CURVE on. */
static int client_new(const char *address, const fh_client_keys *keys, fh_client **out)
{
    char ep[512];
    *out = NULL;
    int rc = endpoint_of(address, ep, sizeof ep);
    if (rc != 0)
        return rc;
    char server[FH_KEY_TEXT + 1], public[FH_KEY_TEXT + 1], secret[FH_KEY_TEXT + 1];
    if (keys != NULL) {
        const char *given[] = {keys->server_key, keys->public_key, keys->secret_key};
        const char *name[] = {"server key", "public key", "secret key"};
        char *copy[] = {server, public, secret};
        for (int i = 0; i < 3; i++) {
            uint8_t bin[32];
            if (given[i] == NULL || strlen(given[i]) != FH_KEY_TEXT ||
                zmq_z85_decode(bin, given[i]) == NULL)
                return fh_set_error(FH_E_INVAL, "the %s is not 40 characters of Z85", name[i]);
            memcpy(copy[i], given[i], FH_KEY_TEXT + 1);
        }
        if (!fh_curve_available())
            return fh_set_error(FH_E_STATE, "this libzmq cannot do CURVE (it is built without "
                                            "libsodium)");
    }
    fh_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    int hwm = FH_CLIENT_MAX_INFLIGHT * 2;
    c->zctx = zmq_ctx_new();
    c->sock = c->zctx ? zmq_socket(c->zctx, ZMQ_DEALER) : NULL;
    c->secure = keys != NULL;
    if (c->sock == NULL || fh_wire_socket_defaults(c->sock, 0, 0) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        (keys != NULL &&
         (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, server, FH_KEY_TEXT + 1) != 0 ||
          zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, public, FH_KEY_TEXT + 1) != 0 ||
          zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, secret, FH_KEY_TEXT + 1) != 0))) {
        rc = fh_set_error(FH_E_ZMQ, "cannot create a client socket: %s", zmq_strerror(errno));
        explicit_bzero(secret, sizeof secret);
        fh_client_destroy(&c);
        return rc;
    }
    explicit_bzero(secret, sizeof secret);
    /* The monitor tells when the connection is up, when the gateway goes away, and why
     * a handshake failed, so that a post fails instead of waiting forever. */
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://fh-client-monitor-%p", (void *)c);
    c->monitor = zmq_socket(c->zctx, ZMQ_PAIR);
    if (c->monitor == NULL ||
        zmq_socket_monitor(c->sock, mon,
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
        zmq_connect(c->monitor, mon) != 0) {
        rc = fh_set_error(FH_E_ZMQ, "cannot watch the client socket: %s", zmq_strerror(errno));
        fh_client_destroy(&c);
        return rc;
    }
    snprintf(c->address, sizeof c->address, "%s", address);
    if (zmq_connect(c->sock, ep) != 0) {
        rc = fh_set_error(FH_E_INVAL, "cannot connect to '%s': %s", address, zmq_strerror(errno));
        fh_client_destroy(&c);
        return rc;
    }
    *out = c;
    return 0;
}

int fh_client_new(const char *address, fh_client **out)
{
    return client_new(address, NULL, out);
}

int fh_client_new_secure(const char *address, const fh_client_keys *keys, fh_client **out)
{
    if (keys == NULL) {
        *out = NULL;
        return fh_set_error(FH_E_INVAL, "fh_client_new_secure needs keys");
    }
    return client_new(address, keys, out);
}

void fh_client_destroy(fh_client **cp)
{
    fh_client *c = cp ? *cp : NULL;
    if (c == NULL)
        return;
    if (c->sock)
        zmq_close(c->sock);
    if (c->monitor)
        zmq_close(c->monitor);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    free(c);
    *cp = NULL;
}

/* ---- one post ----------------------------------------------------------------------- */

/* Sequence numbers of a post's requests, by their place in a ring twice the largest
 * window: a request can only be answered while fewer than a window were sent after it. */
#define FH_PENDING_RING (2 * FH_CLIENT_MAX_INFLIGHT)
/* While connected and waiting, the connection's events are read this often. */
#define EVENTS_CHECK_MS 100

typedef struct post {
    fh_client *c;
    const char *endpoint;
    const fh_post_options *opts;
    const fh_docs *docs;       /* array input, or NULL */
    size_t docs_pos;
    fh_input_fn next;          /* pull input, or NULL */
    void *input_user;
    int wait_fd;               /* readable when NEXT may have more after FH_INPUT_WAIT;
                                  -1: NEXT blocks instead */
    Flowhost__DocumentArray batch; /* the next request's documents, filled across calls
                                      to NEXT (docs NULL until its first document) */
    bool input_waiting;        /* NEXT said FH_INPUT_WAIT: wait for wait_fd */
    int input_rc;              /* NEXT's error, or 0: the input ended on it */
    char input_error[1024];    /* its message, kept while the responses are awaited */
    size_t docs_sent;          /* documents in the requests sent */
    int64_t clock;             /* when the wait for a response began: the last response,
                                  or a send with nothing in flight (timeout_ms) */
    size_t request_size;
    size_t window;
    size_t inflight;
    size_t sent;
    bool input_done;
    unsigned long disconnects; /* c->disconnects when requests went out */
    unsigned char *pending;    /* pending[seq % FH_PENDING_RING]: request seq is unanswered */
    int64_t connect_wait;      /* fh_monotonic_ms() when the wait for a connection began
                                  (the connect timeout counts from it), 0 while connected:
                                  a long post that meets a brief reconnect gets the whole
                                  timeout for it */
    int64_t events_due;        /* when the connection's events are to be read again */
    fh_progress progress;      /* show_progress */
    char prefix[17];           /* request ids of this post start with it */
} post;

static int drain(post *p);

/* Fills the next request's documents into p->batch: borrowed from the array input, or
 * owned (pulled) from the input function. Returns 1 when the batch is complete (full, or
 * the input is over: p->input_done), FH_INPUT_WAIT when the input has nothing yet (the
 * batch keeps what it has), or negative (no memory, or a callback stopped the post while
 * responses were delivered between calls to the input). A bad input is not a failure here:
 * it ends the input, keeping its code and message in p->input_rc and p->input_error. */
static int collect(post *p)
{
    Flowhost__DocumentArray *a = &p->batch;
    if (a->docs == NULL && (a->docs = malloc(p->request_size * sizeof *a->docs)) == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    while (a->n_docs < p->request_size) {
        if (p->docs != NULL) {
            if (p->docs_pos >= fh_docs_len(p->docs))
                break;
            a->docs[a->n_docs++] = FH_PB_DOC(fh_docs_at(p->docs, p->docs_pos++));
            continue;
        }
        if (p->next == NULL)
            break;
        /* An input without a descriptor may block in its call: what has arrived is
         * delivered before each call, not only between requests (a request may take
         * request_size calls). */
        int rc = p->wait_fd < 0 ? drain(p) : 0;
        if (rc != 0)
            return rc;
        fh_doc *d = NULL;
        rc = p->next(p->input_user, &d);
        if (rc == FH_INPUT_WAIT && p->wait_fd >= 0)
            return FH_INPUT_WAIT;
        if (rc == FH_INPUT_WAIT || rc > 1) {
            fh_doc_destroy(&d);
            rc = fh_set_error(FH_E_INVAL, "the input function returned %d (FH_INPUT_WAIT is for "
                              "fh_client_post_input_fd)", rc);
        }
        if (rc < 0) {
            p->input_rc = rc;
            snprintf(p->input_error, sizeof p->input_error, "%s", fh_last_error());
            break;
        }
        if (rc == 0 || d == NULL)
            break;
        a->docs[a->n_docs++] = FH_PB_DOC(d);
    }
    if (a->n_docs < p->request_size)
        p->input_done = true;
    return 1;
}

static void release(Flowhost__DocumentArray *a, bool owned)
{
    for (size_t i = 0; owned && i < a->n_docs; i++) {
        fh_doc *d = (fh_doc *)a->docs[i];
        fh_doc_destroy(&d);
    }
    free(a->docs);
}

static void read_events(fh_client *c);

/* Sends the next request. Returns 1 sent, 0 the input is over, FH_INPUT_WAIT (nothing
 * sent: the input has no document yet), or negative. */
static int send_next(post *p)
{
    int n = collect(p);
    if (n == FH_INPUT_WAIT)
        return n;
    Flowhost__DocumentArray a = p->batch;
    bool owned = p->next != NULL;
    p->batch = (Flowhost__DocumentArray)FLOWHOST__DOCUMENT_ARRAY__INIT;
    /* Nothing to send: the input is over (an empty input sends one request without
     * documents, unless it was a bad one). */
    if (n < 0 || (a.n_docs == 0 && (p->sent > 0 || p->input_rc < 0))) {
        release(&a, owned);
        p->input_done = true;
        return n < 0 ? n : 0;
    }
    n = (int)a.n_docs;
    char id[64];
    snprintf(id, sizeof id, "%s-%zx", p->prefix, p->sent);
    Flowhost__Envelope env = FLOWHOST__ENVELOPE__INIT;
    env.request_id = id;
    env.endpoint = (char *)p->endpoint;
    env.parameters = (Flowhost__Value *)p->opts->parameters;
    env.no_wait = p->opts->no_wait;
    zmq_msg_t env_frame;
    fh_wire_docs docs;
    /* Documents made by the input are the client's: their large blobs go out as frames
     * of their own, not copied. The caller's documents are left as they are. */
    int rc = fh_pb_pack_msg(&env.base, &env_frame);
    if (rc == 0 && (rc = fh_docs_pack_wire((fh_docs *)&a, owned, &docs)) != 0)
        zmq_msg_close(&env_frame);
    release(&a, owned);
    if (rc != 0)
        return rc;
    if (p->inflight == 0) { /* a connection lost with nothing out lost nothing */
        read_events(p->c);
        p->disconnects = p->c->disconnects;
        p->clock = fh_monotonic_ms();
    }
    if ((rc = fh_wire_send_docs(p->c->sock, NULL, 0, FH_CMD_REQUEST, &env_frame, &docs, 0)) != 0)
        return rc == FH_E_TIMEOUT ? fh_set_error(FH_E_TIMEOUT, "the gateway does not take requests")
                                  : rc;
    p->pending[p->sent % FH_PENDING_RING] = 1;
    p->sent++;
    p->inflight++;
    p->docs_sent += (size_t)n;
    return 1;
}

static int call(fh_response_fn fn, const fh_response *r, const post *p)
{
    if (fn == NULL || fn(r, p->opts->user) == 0)
        return 0;
    if (p->opts->continue_on_error)
        return 0;
    return fh_set_error(FH_E_STATE, "a response callback failed (request %s)",
                        fh_response_request_id(r));
}

/* Hands one received message to the callbacks. Returns 0 or negative (stop). */
static int deliver(post *p, fh_wire_msg *m)
{
    size_t len;
    if (fh_wire_command(m, 0) != FH_CMD_REPLY)
        return 0;
    const void *buf = fh_wire_data(m, 2, &len);
    Flowhost__Envelope *env;
    if (buf == NULL || fh_envelope_decode(buf, len, &env) != 0)
        return 0; /* not something this client can use: nothing to answer */
    /* Ids are PREFIX-SEQ (hex): a reply of another post, or one already answered (a
     * duplicate), is dropped. */
    size_t n = sizeof p->prefix - 1;
    char *end = NULL;
    unsigned long long seq = strncmp(env->request_id, p->prefix, n) == 0 && env->request_id[n] == '-'
                                 ? strtoull(env->request_id + n + 1, &end, 16)
                                 : 0;
    if (end == NULL || *end != '\0' || seq >= p->sent || !p->pending[seq % FH_PENDING_RING]) {
        flowhost__envelope__free_unpacked(env, NULL);
        return 0;
    }
    p->pending[seq % FH_PENDING_RING] = 0;
    p->inflight--;
    p->clock = fh_monotonic_ms();
    if (p->opts->prefetch == 0) /* the flow's own bound, now that it told it */
        p->window = env->prefetch > 0 && env->prefetch < FH_CLIENT_MAX_INFLIGHT ? env->prefetch
                                                                               : FH_CLIENT_MAX_INFLIGHT;
    fh_wire_docs docs;
    fh_wire_docs_init(&docs);
    if (fh_wire_docs_take(&docs, m, 3) != 0) {
        /* More blob frames than a flow sends, or no memory to hold them: the documents
         * are lost, the response is not. */
        fh_envelope_set_error(env, "client", fh_last_error());
    }
    fh_response r;
    fh_response_init(&r, env, &docs);
    bool ok = fh_response_status(&r) == FH_RESPONSE_SUCCESS;
    if (p->opts->show_progress)
        fh_progress_update(&p->progress, !ok);
    int rc = call(ok ? p->opts->on_done : p->opts->on_error, &r, p);
    if (rc == 0)
        rc = call(p->opts->on_always, &r, p);
    if (p->opts->results != NULL) {
        int kept = fh_responses_keep(p->opts->results, &r);
        rc = rc ? rc : kept;
    }
    fh_response_clear(&r);
    return rc;
}

/* Why a handshake failed, from a monitor event: the flow refused the connection for
 * good (REFUSED), or for now (TURNED_AWAY: at its connection limit; ZeroMQ retries). */
static void handshake_failed(fh_client *c, uint16_t event, uint32_t value)
{
    const char *why = NULL;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        /* The flow closed the connection before the handshake was done: with CURVE on
         * either side, it does not say why (the other side's mechanism, a key it does not
         * know, a wrong server key). */
        if (!c->handshaken)
            snprintf(c->turned_away, sizeof c->turned_away, "%s",
                     c->secure ? "it closed the connection during the handshake: does it use "
                                 "keys, is the server key its own, does it know this client's key?"
                               : "it closed the connection during the handshake: does it let in "
                                 "only clients with keys (CURVE)?");
        return;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 500) {
        snprintf(c->turned_away, sizeof c->turned_away,
                 "it turned the connection away: it is at its connection limit");
        return;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        why = "it does not know this client's key";
    else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        why = c->secure ? "it does not use keys (no server_key): connect without them"
                        : "it lets in only clients with keys (CURVE): give its public key "
                          "and this client's key pair";
    else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC && c->secure)
        why = "the handshake did not decrypt: is the server key the flow's?";
    else
        return; /* a cut connection: ZeroMQ tries again */
    snprintf(c->refused, sizeof c->refused, "the flow at %s refused the connection: %s",
             c->address, why);
}

/* Reads the monitor's events: connected or not. With keys, a connection is up once its
 * handshake succeeded. */
static void read_events(fh_client *c)
{
    for (;;) {
        zmq_msg_t ev, ep;
        zmq_msg_init(&ev);
        zmq_msg_init(&ep);
        if (zmq_msg_recv(&ev, c->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            zmq_msg_close(&ep);
            return;
        }
        /* Frame 1: a 16-bit event and a 32-bit value; frame 2: the endpoint. */
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= sizeof event + sizeof value) {
            memcpy(&event, zmq_msg_data(&ev), sizeof event);
            memcpy(&value, (char *)zmq_msg_data(&ev) + sizeof event, sizeof value);
        }
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&ep, c->monitor, 0);
        zmq_msg_close(&ev);
        zmq_msg_close(&ep);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            c->handshaken = true;
        if (event == (c->secure ? ZMQ_EVENT_HANDSHAKE_SUCCEEDED : ZMQ_EVENT_CONNECTED)) {
            c->connected = true;
            c->turned_away[0] = '\0';
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            c->connected = false;
            c->disconnects++;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            handshake_failed(c, event, value);
        }
    }
}

/* Delivers every response that has arrived, without waiting. Returns 0 or negative
 * (a callback stopped the post). */
static int drain(post *p)
{
    fh_wire_msg m;
    while (p->inflight > 0 && fh_wire_recv(p->c->sock, &m, ZMQ_DONTWAIT) == 0) {
        int rc = deliver(p, &m);
        fh_wire_close(&m);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Waits until the input's descriptor is readable: nothing is in flight, so there is no
 * response to wait for and no deadline. */
static int wait_input(post *p)
{
    for (;;) {
        zmq_pollitem_t item = {NULL, p->wait_fd, ZMQ_POLLIN, 0};
        int n = zmq_poll(&item, 1, -1);
        if (n > 0) {
            p->input_waiting = false;
            return 0;
        }
        if (n < 0 && errno != EINTR)
            return fh_set_error(FH_E_ZMQ, "poll: %s", zmq_strerror(errno));
    }
}

/* Waits for at least one response and delivers every one that is there, or, when
 * p->input_waiting and there is room to send, for the input's descriptor to be readable
 * (then clears p->input_waiting), whichever comes first. Fails when no response comes
 * within timeout_ms, when no connection is made within the connect timeout (counted from
 * when this wait for a connection began, not from the post's start), or when the
 * connection goes away with requests unanswered (they are lost: ZeroMQ drops what was
 * queued for a peer that left). */
static int receive(post *p)
{
    fh_client *c = p->c;
    bool want_input = p->input_waiting && p->inflight < p->window;
    if (p->inflight == 0)
        return want_input ? wait_input(p) : 0;
    int limit = p->opts->connect_timeout_ms ? p->opts->connect_timeout_ms
                                            : FH_CLIENT_CONNECT_TIMEOUT_MS;
    for (;;) {
        /* Events first: a connection made while the post was busy building a large
         * request counts, however long ago the post began. Once connected, they are read
         * every EVENTS_CHECK_MS, however the waits end (responses, timeouts, signals),
         * not on every response. */
        int64_t now = fh_monotonic_ms();
        if (!c->connected || now >= p->events_due) {
            read_events(c);
            p->events_due = now + EVENTS_CHECK_MS;
        }
        if (c->connected)
            p->connect_wait = 0;
        else if (p->connect_wait == 0)
            p->connect_wait = now;
        if (c->refused[0] != '\0')
            return fh_set_error(FH_E_ZMQ, "%s", c->refused);
        /* A connection lost while requests were out lost them, even if it came back:
         * ZeroMQ drops what it queued for a peer that left. */
        if (c->disconnects != p->disconnects && !c->handshaken && c->turned_away[0] != '\0')
            return fh_set_error(FH_E_ZMQ, "the flow at %s refused the connection (%zu request%s "
                                "unanswered): %s", c->address, p->inflight,
                                p->inflight == 1 ? "" : "s", c->turned_away);
        if (c->disconnects != p->disconnects)
            return fh_set_error(FH_E_ZMQ,
                                "the flow at %s closed the connection (%zu request%s unanswered): "
                                "it stopped, or refused a message over its max_message_size",
                                c->address, p->inflight, p->inflight == 1 ? "" : "s");
        int timeout = -1;
        if (p->opts->timeout_ms > 0) {
            timeout = (int)(p->clock + p->opts->timeout_ms - now);
            if (timeout <= 0)
                return fh_set_error(FH_E_TIMEOUT, "no response within %d ms (%zu request%s unanswered)",
                                    p->opts->timeout_ms, p->inflight, p->inflight == 1 ? "" : "s");
        }
        if (!c->connected && limit > 0) {
            int left = (int)(p->connect_wait + limit - now);
            if (left <= 0)
                return fh_set_error(FH_E_TIMEOUT, "cannot reach a flow at %s (no connection after %d ms%s%s)",
                                    c->address, limit, c->turned_away[0] ? ": " : "", c->turned_away);
            timeout = timeout < 0 || left < timeout ? left : timeout;
        }
        /* Connected, only the socket is watched (every socket in a poll costs system
         * calls on each response) until the events are due again. */
        if (c->connected) {
            int due = p->events_due > now ? (int)(p->events_due - now) : 0;
            timeout = timeout < 0 || due < timeout ? due : timeout;
        }
        /* The socket first, the input's descriptor last: the monitor is watched only
         * while not connected. */
        zmq_pollitem_t items[3] = {{c->sock, 0, ZMQ_POLLIN, 0}, {c->monitor, 0, ZMQ_POLLIN, 0},
                                   {NULL, p->wait_fd, ZMQ_POLLIN, 0}};
        int count = 1;
        if (!c->connected)
            count = 2;
        if (want_input) {
            if (count == 1)
                items[1] = items[2];
            count++;
        }
        int n = zmq_poll(items, count, timeout);
        if (n < 0 && errno != EINTR)
            return fh_set_error(FH_E_ZMQ, "poll: %s", zmq_strerror(errno));
        if (n <= 0)
            continue;
        if (!c->connected && (items[1].revents & ZMQ_POLLIN)) {
            read_events(c);
            if (c->connected) /* a later wait is a new one, whatever returns now */
                p->connect_wait = 0;
        }
        bool input_ready = want_input && items[count - 1].revents != 0;
        if (input_ready)
            p->input_waiting = false;
        if (items[0].revents & ZMQ_POLLIN)
            return drain(p);
        if (input_ready)
            return 0;
    }
}

/* The most bytes a message keeps (error.h). */
#define MESSAGE_MAX 1023

/* Shortens S to at most MAX bytes by taking out its middle ("..." in its place): the
 * beginning (a file's name) and the end (the line, the reason) of a message tell the
 * most. UTF-8 characters are kept whole. */
static void shorten(char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max || max < 5)
        return;
    size_t head = (max - 3) / 2, tail = max - 3 - head;
    while (head > 0 && ((unsigned char)s[head] & 0xC0) == 0x80)
        head--; /* s[head] would begin the "...": back to a character's first byte */
    size_t from = len - tail;
    while (from < len && ((unsigned char)s[from] & 0xC0) == 0x80)
        from++;
    memcpy(s + head, "...", 3);
    memmove(s + head + 3, s + from, len - from + 1);
}

/* The failure of a post whose input was bad (p->input_rc): the input's message, with
 * what became of the documents before it, and the post's own failure RC (fh_last_error())
 * after them when the wait failed too. The input's message (and the wait's) are shortened
 * so that the count always fits in a message. */
static int input_failed(post *p, int rc)
{
    if (rc == 0 && p->docs_sent == 0) /* nothing went out: nothing to account for */
        return fh_set_error(p->input_rc, "%s", p->input_error);
    const char *s = p->docs_sent == 1 ? "" : "s";
    char then[MESSAGE_MAX + 1] = "";
    if (rc != 0)
        snprintf(then, sizeof then, "%s", fh_last_error());
    char count[80];
    int fixed = rc == 0 ? snprintf(count, sizeof count, " (%zu document%s sent and answered)",
                                   p->docs_sent, s)
                        : snprintf(count, sizeof count, " (%zu document%s sent; then: )",
                                   p->docs_sent, s);
    size_t room = MESSAGE_MAX - (size_t)fixed; /* for the input's message and the wait's */
    if (strlen(p->input_error) + strlen(then) > room) {
        /* Each keeps at least half the room; what one does not use, the other may. */
        size_t input_len = strlen(p->input_error);
        shorten(then, input_len < room / 2 ? room - input_len : room / 2);
        shorten(p->input_error, room - strlen(then));
    }
    if (rc == 0)
        return fh_set_error(p->input_rc, "%s%s", p->input_error, count);
    return fh_set_error(p->input_rc, "%s (%zu document%s sent; then: %s)", p->input_error,
                        p->docs_sent, s, then);
}

static int run_post(post *p)
{
    if (p->c == NULL || p->endpoint == NULL || p->endpoint[0] == '\0')
        return fh_set_error(FH_E_INVAL, "post needs a client and an endpoint");
    if (p->opts->parameters != NULL && fh_value_type(p->opts->parameters) != FH_TYPE_MAP)
        return fh_set_error(FH_E_INVAL, "parameters must be a map");
    p->request_size = p->opts->request_size ? p->opts->request_size : 100;
    if (p->request_size > FH_CLIENT_MAX_REQUEST_SIZE)
        return fh_set_error(FH_E_INVAL, "request_size %zu is over the limit of %d", p->request_size,
                            FH_CLIENT_MAX_REQUEST_SIZE);
    /* Without a prefetch of its own, the client sends one request, learns the flow's
     * bound from the reply, and keeps to it from then on. */
    p->window = p->opts->prefetch ? p->opts->prefetch : 1;
    if (p->window > FH_CLIENT_MAX_INFLIGHT)
        p->window = FH_CLIENT_MAX_INFLIGHT;
    p->batch = (Flowhost__DocumentArray)FLOWHOST__DOCUMENT_ARRAY__INIT;
    fh_random_hex(p->prefix, sizeof p->prefix - 1);
    if (p->opts->results != NULL)
        *p->opts->results = NULL;
    if (p->opts->show_progress)
        fh_progress_start(&p->progress, stderr);
    read_events(p->c);
    p->disconnects = p->c->disconnects;
    p->events_due = fh_monotonic_ms() + EVENTS_CHECK_MS;
    if ((p->pending = calloc(FH_PENDING_RING, 1)) == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    /* A send blocks only while ZeroMQ's queue to the gateway is full: bound it like a
     * response. */
    int sndtimeo = p->opts->timeout_ms > 0 ? p->opts->timeout_ms : -1;
    zmq_setsockopt(p->c->sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    int rc = 0;
    while (rc == 0) {
        /* What has arrived is delivered before the input is asked for more: a slow
         * input never holds a response back. */
        if ((rc = drain(p)) != 0)
            break;
        if (!p->input_done && !p->input_waiting && p->inflight < p->window) {
            int sent = send_next(p);
            if (sent == FH_INPUT_WAIT)
                p->input_waiting = true;
            else if (sent < 0)
                rc = sent;
            continue;
        }
        if (p->inflight == 0 && p->input_done)
            break;
        rc = receive(p);
    }
    if (p->opts->show_progress)
        fh_progress_finish(&p->progress);
    release(&p->batch, p->next != NULL);
    free(p->pending);
    if (p->input_rc < 0)
        return input_failed(p, rc);
    return rc;
}

int fh_client_post(fh_client *c, const char *endpoint, const fh_docs *docs,
                   const fh_post_options *opts)
{
    fh_post_options dflt;
    if (opts == NULL) {
        fh_post_options_init(&dflt);
        opts = &dflt;
    }
    post p = {.c = c, .endpoint = endpoint, .opts = opts, .docs = docs, .wait_fd = -1};
    return client_failed(c, run_post(&p));
}

int fh_client_post_input_fd(fh_client *c, const char *endpoint, fh_input_fn next,
                            void *input_user, int fd, const fh_post_options *opts)
{
    fh_post_options dflt;
    if (opts == NULL) {
        fh_post_options_init(&dflt);
        opts = &dflt;
    }
    if (next == NULL)
        return client_failed(c, fh_set_error(FH_E_INVAL, "post needs an input function"));
    post p = {.c = c, .endpoint = endpoint, .opts = opts, .next = next, .input_user = input_user,
              .wait_fd = fd < 0 ? -1 : fd};
    return client_failed(c, run_post(&p));
}

int fh_client_post_input(fh_client *c, const char *endpoint, fh_input_fn next,
                         void *input_user, const fh_post_options *opts)
{
    return fh_client_post_input_fd(c, endpoint, next, input_user, -1, opts);
}

/* ---- responses ---------------------------------------------------------------------- */

const char *fh_response_request_id(const fh_response *r) { return r->env->request_id; }
const char *fh_response_endpoint(const fh_response *r) { return r->env->endpoint; }

fh_response_code fh_response_status(const fh_response *r)
{
    return r->env->status && r->env->status->code == FLOWHOST__STATUS__CODE__ERROR
               ? FH_RESPONSE_ERROR
               : FH_RESPONSE_SUCCESS;
}

const char *fh_response_error_executor(const fh_response *r)
{
    return r->env->status ? r->env->status->executor : "";
}

const char *fh_response_error_description(const fh_response *r)
{
    return r->env->status ? r->env->status->description : "";
}

size_t fh_response_route_count(const fh_response *r) { return r->env->n_routes; }

const char *fh_response_route(const fh_response *r, size_t i, int64_t *start_us, int64_t *end_us)
{
    if (i >= r->env->n_routes)
        return NULL;
    if (start_us)
        *start_us = r->env->routes[i]->start_time_us;
    if (end_us)
        *end_us = r->env->routes[i]->end_time_us;
    return r->env->routes[i]->executor;
}

int fh_response_route_replica(const fh_response *r, size_t i)
{
    if (i >= r->env->n_routes || r->env->routes[i]->replicas <= 1)
        return -1;
    return (int)r->env->routes[i]->replica;
}

int fh_response_route_shard(const fh_response *r, size_t i)
{
    if (i >= r->env->n_routes || r->env->routes[i]->shards <= 1)
        return -1;
    return (int)r->env->routes[i]->shard;
}

const fh_value *fh_response_parameters(const fh_response *r)
{
    if (fh_value_type((const fh_value *)r->env->parameters) == FH_TYPE_MAP)
        return (const fh_value *)r->env->parameters;
    fh_response *mr = (fh_response *)r; /* filled once, on first use */
    if (mr->no_params == NULL)
        mr->no_params = fh_value_new_map();
    return mr->no_params;
}

const fh_docs *fh_response_docs(const fh_response *r)
{
    fh_response *mr = (fh_response *)r; /* decoded once, on first use */
    if (mr->docs == NULL) {
        if (fh_docs_decode_wire(&mr->docs_frames, &mr->docs) != 0)
            return NULL;
        fh_wire_docs_close(&mr->docs_frames); /* decoded: the frames are not needed again */
    }
    return mr->docs;
}

static json_t *routes_json(const fh_response *r)
{
    json_t *routes = json_array();
    for (size_t i = 0; routes && i < fh_response_route_count(r); i++) {
        int64_t start, end;
        const char *name = fh_response_route(r, i, &start, &end);
        char s[40], e[40];
        fh_format_time_us(start, s, sizeof s);
        fh_format_time_us(end, e, sizeof e);
        json_t *route = json_pack("{s:s, s:s, s:s}", "executor", name, "start_time", s,
                                  "end_time", e);
        int replica = fh_response_route_replica(r, i);
        if (route != NULL && replica >= 0)
            json_object_set_new(route, "replica", json_integer(replica));
        int shard = fh_response_route_shard(r, i);
        if (route != NULL && shard >= 0)
            json_object_set_new(route, "shard", json_integer(shard));
        json_array_append_new(routes, route);
    }
    return routes;
}

char *fh_response_to_json(const fh_response *r)
{
    const fh_docs *docs = fh_response_docs(r);
    if (docs == NULL)
        return NULL;
    json_t *jdocs = json_array();
    for (size_t i = 0; jdocs && i < fh_docs_len(docs); i++)
        json_array_append_new(jdocs, fh_doc_to_jansson(fh_docs_at(docs, i)));
    bool ok = fh_response_status(r) == FH_RESPONSE_SUCCESS;
    json_t *status = ok ? json_pack("{s:s}", "code", "SUCCESS")
                        : json_pack("{s:s, s:s, s:s}", "code", "ERROR", "executor",
                                    fh_response_error_executor(r), "description",
                                    fh_response_error_description(r));
    json_t *o = json_pack("{s:s, s:s, s:o*, s:o*, s:o*, s:o*}", "request_id",
                          fh_response_request_id(r), "endpoint", fh_response_endpoint(r),
                          "status", status, "routes", routes_json(r), "parameters",
                          fh_value_to_jansson(fh_response_parameters(r)), "docs", jdocs);
    if (o == NULL) {
        fh_set_error(FH_E_NOMEM, "cannot build the response's JSON");
        return NULL;
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

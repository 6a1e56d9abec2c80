/* flowhost — the client: post documents with parameters to a running flow.
 *
 * A client connects to a flow's gateway and posts requests to an endpoint. A post cuts
 * its input into requests of `request_size` documents (an empty input gives one request
 * with no documents), keeps at most `prefetch` of them in flight, pulls its input only
 * when it has room, and calls on_done (success) or on_error (error), then on_always, once
 * per response, in the order responses arrive. Responses may arrive out of order; each
 * carries its request id.
 *
 * Responses stream, whatever the pace of the input: a post hands every response that has
 * arrived to the callbacks before each call to its input, and while it waits it waits
 * for the input and the responses at once. An input that can say "nothing yet" (see
 * fh_client_post_input_fd) is waited on together with the connection, so a response is
 * delivered as soon as it arrives. An input function that blocks inside its call (a
 * plain fh_input_fn) holds the post for that long: responses that arrive meanwhile are
 * delivered when it returns, before it is called again.
 *
 * A client is used by one thread at a time. Its last failure's message stays with it
 * (fh_client_error) until its next failure.
 */
#ifndef FLOWHOST_CLIENT_H
#define FLOWHOST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flowhost/document.h>
#include <flowhost/value.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fh_client fh_client;
typedef struct fh_response fh_response;
typedef struct fh_responses fh_responses;

/* Status of a response. */
typedef enum fh_response_code { FH_RESPONSE_SUCCESS = 0, FH_RESPONSE_ERROR = 1 } fh_response_code;

/* A callback that receives one response. RESP is borrowed: valid during the call only.
 * Returning non-zero reports an error of the callback: the post stops with FH_E_STATE
 * unless the options say continue_on_error. */
typedef int (*fh_response_fn)(const fh_response *resp, void *user);

/* An input the post pulls from, one document at a time, only when it has room to send.
 * Return 1 and set *OUT to a new document (the post takes ownership), 0 at the end of the
 * input, FH_INPUT_WAIT (only with fh_client_post_input_fd) when no document is ready, or a
 * negative FH_E... code with fh_set_error() for a bad input. A bad input ends the post's
 * input: the documents given before it are sent (a last, short request), the responses
 * of every request sent are awaited and delivered, then the post returns that code. */
typedef int (*fh_input_fn)(void *user, fh_doc **out);

/* What an fh_input_fn returns when it has no document ready without blocking: the post
 * waits until the input's descriptor is readable (or a response arrives), then calls it
 * again. Equal to FH_SOURCE_WAIT of source.h. */
#define FH_INPUT_WAIT 2

typedef struct fh_post_options {
    const fh_value *parameters; /* a map, or NULL for none; borrowed for the post */
    size_t request_size;        /* documents per request; 0 means 100 */
    unsigned prefetch;          /* requests in flight at most; 0: the flow's prefetch
                                   (learnt from its first reply), or when it has none
                                   FH_CLIENT_MAX_INFLIGHT */
    int timeout_ms;             /* per response; 0: wait forever */
    int connect_timeout_ms;     /* no connection to the gateway this long after the post
                                   began to wait for one (at its start, or when it sends
                                   after the connection went away between requests) is an
                                   error; 0: FH_CLIENT_CONNECT_TIMEOUT_MS; -1: wait */
    fh_response_fn on_done;     /* a success; may be NULL */
    fh_response_fn on_error;    /* an error; may be NULL */
    fh_response_fn on_always;   /* after either; may be NULL */
    void *user;                 /* passed to the callbacks */
    bool continue_on_error;     /* a failing callback does not stop the post */
    bool show_progress;         /* a progress display on stderr, updated per response */
    bool no_wait;               /* when the flow is full, requests are answered at once
                                   with a "busy" error instead of waiting for room */
    fh_responses **results;     /* return_results: when set, every response is also kept,
                                   and *results gets them all when the post returns (also
                                   when it fails); the caller frees them with
                                   fh_responses_destroy. Memory grows with the number of
                                   responses: for large inputs use the callbacks. */
} fh_post_options;

/* How long a post waits for a connection to the gateway by default, in ms. */
#define FH_CLIENT_CONNECT_TIMEOUT_MS 5000

/* The most documents one request may hold (request_size). */
#define FH_CLIENT_MAX_REQUEST_SIZE 1000000

/* The most requests one post keeps in flight when prefetch is 0. */
#define FH_CLIENT_MAX_INFLIGHT 1024

/* Fills *OPTS with the defaults (request_size 100, prefetch 0, no callbacks). */
void fh_post_options_init(fh_post_options *opts);

/* Connects to a gateway at ADDRESS: "HOST:PORT" or a ZeroMQ endpoint ("tcp://...",
 * "ipc://..."). The connection is made in the background: this does not wait for the
 * gateway. Stores a new client the caller owns in *OUT. Returns 0, or FH_E_INVAL
 * (malformed address), FH_E_ZMQ, FH_E_NOMEM. */
int fh_client_new(const char *address, fh_client **out);

/* The keys of a client of a flow that lets in only the clients it knows (with.server_key,
 * with.client_keys: CURVE, see keys.h and docs/protocol.md): the flow's public key, and
 * the client's own key pair. Each is 40 characters of Z85 text. */
typedef struct fh_client_keys {
    const char *server_key;  /* the flow's public key */
    const char *public_key;  /* this client's public key */
    const char *secret_key;  /* this client's secret key */
} fh_client_keys;

/* fh_client_new for a flow with keys: the connection is authenticated and encrypted
 * (CURVE). KEYS is copied. Returns 0, or FH_E_INVAL (malformed address or key),
 * FH_E_STATE (this libzmq cannot do CURVE), FH_E_ZMQ, FH_E_NOMEM. A post on a connection
 * the flow refuses (a key it does not know, a key where it wants none or none where it
 * wants one, a wrong server key) fails at once with FH_E_ZMQ and fh_last_error() saying
 * which. */
int fh_client_new_secure(const char *address, const fh_client_keys *keys, fh_client **out);

/* Closes the connection and frees *C; sets *C to NULL. Accepts NULL. */
void fh_client_destroy(fh_client **c);

/* Posts DOCS (borrowed; NULL or empty: one request without documents) to ENDPOINT.
 * Returns when every response has been handed to the callbacks: 0 (whatever the
 * responses' statuses), FH_E_TIMEOUT when a response did not come within timeout_ms or
 * no connection was made within connect_timeout_ms, FH_E_ZMQ when the gateway closed
 * the connection with requests unanswered or refused it (keys), FH_E_STATE when a
 * callback failed (see fh_response_fn), or another negative code. */
int fh_client_post(fh_client *c, const char *endpoint, const fh_docs *docs,
                   const fh_post_options *opts);

/* Like fh_client_post, but pulls the documents from NEXT(INPUT_USER, &doc). A bad input
 * (NEXT returns a negative code) returns that code after the responses of the requests
 * already sent were delivered, with fh_last_error() holding NEXT's message and how many
 * documents were sent: "data.ndjson:3:1: ... (2 documents sent and answered)" (a message
 * too long to hold the count too is shortened in its middle, "..."). NEXT must
 * not return FH_INPUT_WAIT here (FH_E_INVAL). */
int fh_client_post_input(fh_client *c, const char *endpoint, fh_input_fn next,
                         void *input_user, const fh_post_options *opts);

/* fh_client_post_input for an input that never blocks: NEXT returns FH_INPUT_WAIT when it
 * has no document yet, and FD (a descriptor the caller keeps open for the post) becomes
 * readable when it may have one. The post waits on FD and the connection at once, so
 * each response is delivered as soon as it arrives, however slow the input (a live pipe).
 * A partly filled request waits for the rest of its documents (or the input's end). For
 * a source: fh_client_post_input_fd(c, ep, fh_source_input, src, fh_source_wait_fd(src),
 * &opts). FD -1: as fh_client_post_input. Returns as fh_client_post_input. */
int fh_client_post_input_fd(fh_client *c, const char *endpoint, fh_input_fn next,
                            void *input_user, int fd, const fh_post_options *opts);

/* The message of the last failure of a call on C (a post, or a flow's post through it):
 * kept until the next failing call on C, whatever fails in between elsewhere (unlike
 * fh_last_error()). "" when none. Borrowed from C; valid until its next failing call or
 * fh_client_destroy. C NULL: "". */
const char *fh_client_error(const fh_client *c);

/* --- responses: every pointer is borrowed from RESP ---------------------------------- */

const char *fh_response_request_id(const fh_response *resp);
const char *fh_response_endpoint(const fh_response *resp);
fh_response_code fh_response_status(const fh_response *resp);
/* For an error: the executor that set it and its message ("" when none). */
const char *fh_response_error_executor(const fh_response *resp);
const char *fh_response_error_description(const fh_response *resp);
/* Routes: the gateway's first, then one per executor that saw the request, in order.
 * fh_response_route fills the I-th route (times in microseconds since the Unix epoch;
 * end 0 when unset) and returns its executor name, or NULL when out of range. */
size_t fh_response_route_count(const fh_response *resp);
const char *fh_response_route(const fh_response *resp, size_t i, int64_t *start_us,
                              int64_t *end_us);
/* The replica (0-based) of the executor of the I-th route that served the request, or -1
 * when that executor has one replica (or I is out of range). In JSON: "replica". */
int fh_response_route_replica(const fh_response *resp, size_t i);
/* The shard of a sharded executor that served route I, or -1 when the executor has one
 * shard (or I is out of range). */
int fh_response_route_shard(const fh_response *resp, size_t i);
/* The request's parameters as sent (a map, never NULL). */
const fh_value *fh_response_parameters(const fh_response *resp);
/* The documents of the response (never NULL; decoded on first use; NULL only when they
 * cannot be decoded, with fh_last_error() saying why). */
const fh_docs *fh_response_docs(const fh_response *resp);
/* The response as one JSON object (request_id, endpoint, status, routes, parameters,
 * docs), without a newline. The caller frees it with free(). NULL on failure. */
char *fh_response_to_json(const fh_response *resp);

/* --- responses kept by return_results -------------------------------------------------
 * In arrival order. Pointers returned are borrowed from the list. */
size_t fh_responses_len(const fh_responses *list);
/* The I-th response, or NULL when out of range. */
const fh_response *fh_responses_at(const fh_responses *list, size_t i);
/* Frees *LIST and every response in it; sets *LIST to NULL. Accepts NULL. */
void fh_responses_destroy(fh_responses **list);

#ifdef __cplusplus
}
#endif
#endif

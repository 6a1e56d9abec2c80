/* The JSON of Jina 2's REST API, both ways, for the HTTP gateway: a request body into
 * what the dispatch takes (an envelope frame and the documents' frames), a reply into a
 * response body, the OpenAPI description of a flow and the page that shows it.
 *
 * Pure: no gateway state, no I/O; the HTTP server calls these. The shapes, with
 * examples, are in docs/http.md. In short:
 *   request   {"data": [documents or strings], "parameters": {...},
 *              "exec_endpoint": "/index", "request_id": "..."}   (camelCase keys too)
 *   response  {"requestId", "data": {"docs", "groundtruths"}, "header": {"execEndpoint",
 *              "targetPeapod", "noPropagate"}, "parameters", "routes", "status"}
 * Documents are the SDK's JSON (json.h: types kept, ints stay ints, bytes in base64),
 * read and written with Jina 2's names where they differ (parentId, mimeType, scores as
 * {name: {value}}), and read in Jina 2's forms too (buffer, NdArrayProto, unknown keys as
 * tags).
 *
 * Every failure fills an fh_rest_error: the HTTP status to answer with and a one-line
 * message saying what and where ("line 1, column 12: ..."). Functions never print.
 */
#ifndef FH_HOST_REST_H
#define FH_HOST_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

#include "flow_config.h"
#include "flowhost.pb-c.h"
#include "wire.h"

/* Bounds of what a request may hold, besides the caller's byte limit. */
#define FH_REST_MAX_ID 256        /* bytes of a request_id given by the client */
#define FH_REST_MAX_ENDPOINT 1024 /* bytes of an endpoint */

/* Why a call failed: the status to answer with, and where in the body. */
typedef struct fh_rest_error {
    int http_status;   /* 400 bad JSON or wrong types, 413 over a limit, 500 anything
                          else (out of memory, a reply that cannot be written); paths
                          are classified by fh_rest_match (404, 405) */
    int line, column;  /* 1-based position in the body the message is about; 0 when it
                          is not about a place */
    char message[512]; /* one line, the position in front when known:
                          "line 3, column 9: 'parameters' must be an object, not an array" */
} fh_rest_error;

/* ERR as the JSON body of an error response, FastAPI's shape: {"detail": MESSAGE} and,
 * when the message is about a place in the body, "line" and "column". A new string the
 * caller frees with free(); NULL when out of memory. */
char *fh_rest_error_json(const fh_rest_error *err);

/* What a request body asks. */
typedef struct fh_rest_parse_options {
    size_t max_bytes;     /* a longer body is refused (413) before it is parsed; also the
                             bound of the envelope decoded, and (times
                             FH_DECODE_DOCS_FACTOR) of the documents, as the gateway and
                             the workers count them. 0: FH_DECODE_DEFAULT_MAX */
    const char *endpoint; /* the endpoint the URL names (POST /index: "/index"), or NULL
                             for POST /post, where the body's exec_endpoint says it */
    bool no_wait;         /* copied to the envelope: answer "busy" at once when the flow
                             is full */
} fh_rest_parse_options;

/* A request made from a body: what fh_wire_send_docs sends as a REQUEST. */
typedef struct fh_rest_request {
    zmq_msg_t envelope;  /* the packed Flowhost__Envelope: request_id, endpoint,
                            parameters (a map, never absent), no_wait */
    fh_wire_docs docs;   /* the documents as a client packs them: buffers of
                            FH_BLOB_FRAME_MIN bytes or more as frames of their own */
    size_t n_docs;       /* how many documents */
    char request_id[FH_REST_MAX_ID + 1]; /* the body's, or a generated one (32 hex) */
} fh_rest_request;

/* Parses BODY (LEN bytes, need not be NUL-terminated; an empty body is {}) as Jina 2's
 * request model into *OUT (not initialised on entry). Refused, with ERR filled and *OUT
 * left empty (nothing to close):
 *   413  LEN over O->max_bytes; more than O->max_bytes / 4 JSON values (strings count
 *        twice), checked on the text before it is parsed; parameters over max_bytes or
 *        documents over FH_DECODE_DOCS_FACTOR x max_bytes decoded, checked before the
 *        SDK builds them (so that memory stays within about 10 x max_bytes);
 *   400  not JSON (jansson's message, with line and column), not an object, an unknown
 *        key, a key of the wrong type, no endpoint (POST /post without exec_endpoint), an
 *        exec_endpoint that differs from the URL's, a target_peapod (flowhost does not
 *        target executors), a document the SDK's JSON refuses (data[I] and why, at the
 *        line and column of data[I]), nesting deeper than the SDK's JSON bounds;
 *   500  out of memory.
 * Returns 0, or the negative FH_E_ code (FH_E_PARSE, FH_E_TYPE, FH_E_RANGE,
 * FH_E_NOMEM). The caller owns *OUT on success: send it or fh_rest_request_close it. */
int fh_rest_parse_request(const char *body, size_t len, const fh_rest_parse_options *o,
                          fh_rest_request *out, fh_rest_error *err);

/* Closes the frames R holds; R is left empty. Accepts an empty R. */
void fh_rest_request_close(fh_rest_request *r);

/* Writes the response body of a reply: ENV (borrowed) and the documents in DOCS (the
 * frames as received, borrowed; NULL or empty: no documents) as Jina 2's response JSON.
 * The documents are decoded with at most FH_DECODE_DOCS_FACTOR x MAX_BYTES decoded, and
 * the body may take at most MAX_BYTES (0: FH_DECODE_DEFAULT_MAX). *OUT gets a new
 * NUL-terminated string the caller frees with free(), *OUT_LEN (may be NULL) its length.
 * Returns 0, or FH_E_RANGE (over a bound; a number JSON cannot hold), FH_E_PROTOCOL
 * (documents that do not decode) or FH_E_NOMEM, with ERR filled (status 500) and *OUT
 * NULL. */
int fh_rest_write_response(const Flowhost__Envelope *env, const fh_wire_docs *docs,
                           size_t max_bytes, char **out, size_t *out_len, fh_rest_error *err);

/* fh_rest_write_response from the envelope frame as received (ENV_BUF, ENV_LEN bytes,
 * decoded with at most MAX_BYTES decoded). FH_E_PROTOCOL when it does not decode. */
int fh_rest_write_response_frame(const void *env_buf, size_t env_len,
                                 const fh_wire_docs *docs, size_t max_bytes, char **out,
                                 size_t *out_len, fh_rest_error *err);

/* What a method and path of the REST API are. */
typedef enum fh_rest_route {
    FH_REST_NOT_REST = 0, /* not a path of this API: health, metrics, the status page or
                             an unknown path are the caller's to answer */
    FH_REST_POST,         /* POST /post: the body names the endpoint */
    FH_REST_ENDPOINT,     /* POST /index, PUT /update, ...: the path is the endpoint */
    FH_REST_OPENAPI,      /* GET /openapi.json */
    FH_REST_DOCS,         /* GET /docs */
    FH_REST_BAD_METHOD    /* a path of this API with a method it does not take (405) */
} fh_rest_route;

/* The endpoints the flow serves by path: Jina's four (/index, /search, /update,
 * /delete), then every endpoint an executor binds in CFG (uses_requests; a "default"
 * binding is no endpoint), then the N_EXTRA endpoints of EXTRA (those the plugins bind
 * themselves, as their workers report them; may be NULL), each once, in that order.
 * Only endpoints that start with '/' and are no path of their own (/post, /docs,
 * /openapi.json) are served by path; the others are reached through /post. */
typedef struct fh_rest_endpoints {
    char **paths; /* malloc'd strings, n entries */
    size_t n;
} fh_rest_endpoints;

/* Fills *OUT (not initialised on entry) from CFG (may be NULL: Jina's four only) and
 * EXTRA. Returns 0 or FH_E_NOMEM (*OUT then empty). */
int fh_rest_endpoints_init(fh_rest_endpoints *out, const fh_flow_config *cfg,
                           const char *const *extra, size_t n_extra);

/* Frees what E holds; E is left empty. */
void fh_rest_endpoints_clear(fh_rest_endpoints *e);

/* Classifies METHOD ("POST") and PATH ("/index", no query string) against the endpoints
 * E. For FH_REST_ENDPOINT, *ENDPOINT (may be NULL) points at the endpoint (borrowed from
 * E). For FH_REST_BAD_METHOD, *ALLOW (may be NULL) gets the methods the path takes, for
 * the Allow header ("POST, PUT"; a static string). Jina's methods are taken
 * (PUT /update, DELETE /delete) and POST on every endpoint. */
fh_rest_route fh_rest_match(const fh_rest_endpoints *e, const char *method, const char *path,
                            const char **endpoint, const char **allow);

/* The OpenAPI 3.0 description of the API on E: every path with its methods, the request
 * and response bodies and the document schema. TITLE (may be NULL) names the service.
 * Returns a new JSON string the caller frees with free(), or NULL when out of memory
 * (fh_last_error() set). */
char *fh_rest_openapi(const fh_rest_endpoints *e, const char *title);

/* A self-contained HTML page (no script, no external asset) listing what
 * fh_rest_openapi describes: every path with its methods and the schemas. Returns a new
 * string the caller frees with free(), or NULL when out of memory. */
char *fh_rest_docs_html(const fh_rest_endpoints *e, const char *title);

#endif

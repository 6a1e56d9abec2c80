/* Internal: ZeroMQ framing shared by the client, the gateway and the workers.
 *
 * Every message is [signature "FHP1"][command, 1 byte][payload frames...], preceded by
 * the peer's routing id where a ROUTER socket receives or sends it. Payloads:
 *   READY      WorkerHello                    worker -> gateway
 *              GatewayHello                   gateway -> remote worker (its announce)
 *   REQUEST    Envelope, DocumentArray, blobs client -> gateway -> worker
 *   REPLY      Envelope, DocumentArray, blobs worker -> gateway -> client
 *   HEARTBEAT  (none; a readiness text to a   either way
 *              probe; the gateway's token to
 *              a remote worker)
 *   DISCONNECT (none)                         gateway -> worker: finish and exit; either
 *                                             way with a remote worker: given up
 * "blobs" are zero to FH_WIRE_MAX_BLOBS frames: the large blobs of the documents, each
 * sent as a frame of its own so that it is never copied into the DocumentArray (see
 * codec.h).
 */
#ifndef FH_SDK_WIRE_H
#define FH_SDK_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define FH_WIRE_SIGNATURE "FHP1"
#define FH_WIRE_SIGNATURE_LEN 4
#define FH_WIRE_MAX_BLOBS 16 /* blob frames after a documents frame, at most */
/* routing id + signature + command + envelope + documents + blobs */
#define FH_WIRE_MAX_FRAMES (5 + FH_WIRE_MAX_BLOBS)

typedef enum fh_cmd {
    FH_CMD_READY = 1,
    FH_CMD_REQUEST = 2,
    FH_CMD_REPLY = 3,
    FH_CMD_HEARTBEAT = 4,
    FH_CMD_DISCONNECT = 5
} fh_cmd;

/* A received multipart message. Frames are owned by the message until sent or closed. */
typedef struct fh_wire_msg {
    zmq_msg_t frames[FH_WIRE_MAX_FRAMES];
    size_t n;         /* frames held */
    int truncated;    /* more frames arrived than fit: they were read and dropped */
    size_t dropped_bytes; /* the bytes of those frames */
} fh_wire_msg;

/* Receives a whole multipart message from SOCK into M (FLAGS as zmq_msg_recv, e.g.
 * ZMQ_DONTWAIT). Returns 0; FH_E_TIMEOUT when ZMQ_DONTWAIT found nothing (EAGAIN); or
 * FH_E_ZMQ. On failure M holds no frames. */
int fh_wire_recv(void *sock, fh_wire_msg *m, int flags);

/* Checks that frames AT and AT+1 of M are the signature and a known command; returns
 * the command, or FH_E_PROTOCOL with a message saying what is wrong. */
int fh_wire_command(const fh_wire_msg *m, size_t at);

/* Frame I of M: its data and size (NULL/0 when I is out of range). */
const void *fh_wire_data(const fh_wire_msg *m, size_t i, size_t *size);

/* Closes every frame M still holds. */
void fh_wire_close(fh_wire_msg *m);

/* Sends, in order, an optional routing id (ID/ID_LEN; none when ID is NULL), the
 * signature, CMD, then NPAY payload frames. Payload frames are moved (sent and left
 * closed/empty) whatever the outcome. FLAGS: 0 or ZMQ_DONTWAIT. Returns 0, FH_E_TIMEOUT
 * (EAGAIN with ZMQ_DONTWAIT, before anything was sent), or FH_E_ZMQ. */
int fh_wire_send(void *sock, const void *id, size_t id_len, fh_cmd cmd, zmq_msg_t *payload,
                 size_t npay, int flags);

/* The documents of a request or reply as they travel: the DocumentArray frame and the
 * blob frames after it. Owns its frames. Zero-initialised (or fh_wire_docs_init) is
 * empty: no documents frame, no blobs. */
typedef struct fh_wire_docs {
    zmq_msg_t docs;           /* the DocumentArray (empty: no documents) */
    zmq_msg_t *blobs;         /* N_BLOBS frames, malloc'd; NULL when there are none */
    size_t n_blobs;
} fh_wire_docs;

/* Makes D empty. Call before any other use unless D is zero-initialised. */
void fh_wire_docs_init(fh_wire_docs *d);

/* Closes every frame D holds and frees its array; D is left empty. */
void fh_wire_docs_close(fh_wire_docs *d);

/* Moves frames AT.. of M (the documents frame, then blob frames; none: no documents)
 * into D, after closing what D held. M keeps its frames before AT. Returns 0, or
 * FH_E_PROTOCOL (more than FH_WIRE_MAX_BLOBS blob frames) or FH_E_NOMEM; D is then empty
 * and M's frames from AT on are closed. */
int fh_wire_docs_take(fh_wire_docs *d, fh_wire_msg *m, size_t at);

/* Moves SRC's frames into DST (not initialised on entry, or empty); SRC is left empty. */
void fh_wire_docs_move(fh_wire_docs *dst, fh_wire_docs *src);

/* Makes DST (empty on entry) share SRC's frames (ZeroMQ reference counts: no copy of the
 * bytes). Returns 0 or FH_E_NOMEM (DST is then empty). */
int fh_wire_docs_share(fh_wire_docs *dst, const fh_wire_docs *src);

/* Bytes in all of D's frames. */
size_t fh_wire_docs_size(const fh_wire_docs *d);

/* fh_wire_send for a REQUEST or REPLY: the envelope frame ENV, then DOCS' frames (all
 * moved, whatever the outcome: ENV and DOCS are left empty). */
int fh_wire_send_docs(void *sock, const void *id, size_t id_len, fh_cmd cmd, zmq_msg_t *env,
                      fh_wire_docs *docs, int flags);

/* Sets the socket options every flowhost socket gets: linger, and a receive size limit
 * of MAX_MSG bytes (0: no limit). Returns 0 or FH_E_ZMQ. */
int fh_wire_socket_defaults(void *sock, int linger_ms, int64_t max_msg);

#endif

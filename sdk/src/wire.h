/* Internal: ZeroMQ framing shared by the client, the gateway and the workers.
 *
 * Every message is [signature "FHP1"][command, 1 byte][payload frames...], preceded by
 * the peer's routing id where a ROUTER socket receives or sends it. Payloads:
 *   READY      WorkerHello                    worker -> gateway
 *   REQUEST    Envelope, DocumentArray        client -> gateway -> worker
 *   REPLY      Envelope, DocumentArray        worker -> gateway -> client
 *   HEARTBEAT  (none)                         either way
 *   DISCONNECT (none)                         gateway -> worker: finish and exit
 */
#ifndef FH_SDK_WIRE_H
#define FH_SDK_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define FH_WIRE_SIGNATURE "FHP1"
#define FH_WIRE_SIGNATURE_LEN 4
#define FH_WIRE_MAX_FRAMES 6 /* routing id + signature + command + 2 payloads, + 1 spare */

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

/* Sets the socket options every flowhost socket gets: linger, and a receive size limit
 * of MAX_MSG bytes (0: no limit). Returns 0 or FH_E_ZMQ. */
int fh_wire_socket_defaults(void *sock, int linger_ms, int64_t max_msg);

#endif

/* ZeroMQ framing: see wire.h. */
#include "wire.h"

#include <errno.h>
#include <string.h>

#include <flowhost/error.h>

int fh_wire_recv(void *sock, fh_wire_msg *m, int flags)
{
    m->n = 0;
    m->truncated = 0;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, m->n == 0 ? flags : 0) < 0) {
            int err = errno;
            zmq_msg_close(&part);
            fh_wire_close(m);
            if (err == EAGAIN)
                return FH_E_TIMEOUT;
            return fh_set_error(FH_E_ZMQ, "receive: %s", zmq_strerror(err));
        }
        int more = zmq_msg_more(&part);
        if (m->n < FH_WIRE_MAX_FRAMES) {
            zmq_msg_init(&m->frames[m->n]);
            zmq_msg_move(&m->frames[m->n++], &part);
            zmq_msg_close(&part);
        } else {
            m->truncated = 1;
            zmq_msg_close(&part);
        }
        if (!more)
            return 0;
    }
}

int fh_wire_command(const fh_wire_msg *m, size_t at)
{
    size_t len;
    const void *sig = fh_wire_data(m, at, &len);
    if (sig == NULL || len != FH_WIRE_SIGNATURE_LEN ||
        memcmp(sig, FH_WIRE_SIGNATURE, FH_WIRE_SIGNATURE_LEN) != 0)
        return fh_set_error(FH_E_PROTOCOL, "not a flowhost message (bad protocol signature)");
    const unsigned char *cmd = fh_wire_data(m, at + 1, &len);
    if (cmd == NULL || len != 1 || cmd[0] < FH_CMD_READY || cmd[0] > FH_CMD_DISCONNECT)
        return fh_set_error(FH_E_PROTOCOL, "unknown flowhost command");
    if (m->truncated)
        return fh_set_error(FH_E_PROTOCOL, "too many frames in a flowhost message");
    return cmd[0];
}

const void *fh_wire_data(const fh_wire_msg *m, size_t i, size_t *size)
{
    if (i >= m->n) {
        *size = 0;
        return NULL;
    }
    zmq_msg_t *f = (zmq_msg_t *)&m->frames[i];
    *size = zmq_msg_size(f);
    return zmq_msg_data(f);
}

void fh_wire_close(fh_wire_msg *m)
{
    for (size_t i = 0; i < m->n; i++)
        zmq_msg_close(&m->frames[i]);
    m->n = 0;
}

static int send_copy(void *sock, const void *data, size_t len, int flags)
{
    return zmq_send(sock, data, len, flags) < 0 ? -1 : 0;
}

int fh_wire_send(void *sock, const void *id, size_t id_len, fh_cmd cmd, zmq_msg_t *payload,
                 size_t npay, int flags)
{
    unsigned char c = (unsigned char)cmd;
    int more = ZMQ_SNDMORE;
    int rc = 0;
    /* Only the first frame may come back with EAGAIN: after it, ZeroMQ takes the rest
     * of the message atomically. */
    if (id != NULL && send_copy(sock, id, id_len, flags | more) < 0)
        goto failed;
    if (send_copy(sock, FH_WIRE_SIGNATURE, FH_WIRE_SIGNATURE_LEN,
                  (id == NULL ? flags : 0) | more) < 0)
        goto failed;
    if (send_copy(sock, &c, 1, npay > 0 ? more : 0) < 0)
        goto failed;
    for (size_t i = 0; i < npay; i++) {
        if (zmq_msg_send(&payload[i], sock, i + 1 < npay ? more : 0) < 0) {
            for (size_t j = i; j < npay; j++)
                zmq_msg_close(&payload[j]);
            return fh_set_error(FH_E_ZMQ, "send: %s", zmq_strerror(errno));
        }
    }
    return 0;
failed:
    rc = errno;
    for (size_t j = 0; j < npay; j++)
        zmq_msg_close(&payload[j]);
    if (rc == EAGAIN)
        return FH_E_TIMEOUT;
    return fh_set_error(FH_E_ZMQ, "send: %s", zmq_strerror(rc));
}

int fh_wire_socket_defaults(void *sock, int linger_ms, int64_t max_msg)
{
    if (zmq_setsockopt(sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms) != 0)
        return fh_set_error(FH_E_ZMQ, "socket option: %s", zmq_strerror(errno));
    if (max_msg > 0 && zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg) != 0)
        return fh_set_error(FH_E_ZMQ, "socket option: %s", zmq_strerror(errno));
    return 0;
}

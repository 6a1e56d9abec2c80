/* ZeroMQ framing: see wire.h. */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

int fh_wire_recv(void *sock, fh_wire_msg *m, int flags)
{
    m->n = 0;
    m->truncated = 0;
    m->dropped_bytes = 0;
    for (;;) {
        /* Straight into the message's next frame while there is room (no move). */
        zmq_msg_t extra, *part = m->n < FH_WIRE_MAX_FRAMES ? &m->frames[m->n] : &extra;
        zmq_msg_init(part);
        if (zmq_msg_recv(part, sock, m->n == 0 ? flags : 0) < 0) {
            int err = errno;
            zmq_msg_close(part);
            fh_wire_close(m);
            if (err == EAGAIN)
                return FH_E_TIMEOUT;
            return fh_set_error(FH_E_ZMQ, "receive: %s", zmq_strerror(err));
        }
        int more = zmq_msg_more(part);
        if (part != &extra) {
            m->n++;
        } else {
            m->truncated = 1;
            m->dropped_bytes += zmq_msg_size(part);
            zmq_msg_close(part);
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

void fh_wire_docs_init(fh_wire_docs *d)
{
    zmq_msg_init(&d->docs);
    d->blobs = NULL;
    d->n_blobs = 0;
}

void fh_wire_docs_close(fh_wire_docs *d)
{
    zmq_msg_close(&d->docs);
    for (size_t i = 0; i < d->n_blobs; i++)
        zmq_msg_close(&d->blobs[i]);
    free(d->blobs);
    fh_wire_docs_init(d);
}

int fh_wire_docs_take(fh_wire_docs *d, fh_wire_msg *m, size_t at)
{
    fh_wire_docs_close(d);
    if (at >= m->n)
        return 0;
    size_t n = m->n - at - 1;
    int rc = 0;
    if (n > FH_WIRE_MAX_BLOBS)
        rc = fh_set_error(FH_E_PROTOCOL, "%zu blob frames (at most %d)", n, FH_WIRE_MAX_BLOBS);
    else if (n > 0 && (d->blobs = calloc(n, sizeof *d->blobs)) == NULL)
        rc = fh_set_error(FH_E_NOMEM, "out of memory taking %zu blob frames", n);
    if (rc != 0) {
        for (size_t i = at; i < m->n; i++) {
            zmq_msg_close(&m->frames[i]);
            zmq_msg_init(&m->frames[i]);
        }
        return rc;
    }
    zmq_msg_move(&d->docs, &m->frames[at]);
    for (size_t i = 0; i < n; i++) {
        zmq_msg_init(&d->blobs[i]);
        zmq_msg_move(&d->blobs[i], &m->frames[at + 1 + i]);
    }
    d->n_blobs = n;
    return 0;
}

void fh_wire_docs_move(fh_wire_docs *dst, fh_wire_docs *src)
{
    zmq_msg_init(&dst->docs);
    zmq_msg_move(&dst->docs, &src->docs);
    dst->blobs = src->blobs;
    dst->n_blobs = src->n_blobs;
    src->blobs = NULL;
    src->n_blobs = 0;
}

int fh_wire_docs_share(fh_wire_docs *dst, const fh_wire_docs *src)
{
    fh_wire_docs_init(dst);
    if (src->n_blobs > 0 && (dst->blobs = calloc(src->n_blobs, sizeof *dst->blobs)) == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory sharing %zu blob frames", src->n_blobs);
    /* zmq_msg_copy only fails on an invalid message; these are all initialised. */
    zmq_msg_copy(&dst->docs, (zmq_msg_t *)&src->docs);
    for (size_t i = 0; i < src->n_blobs; i++) {
        zmq_msg_init(&dst->blobs[i]);
        zmq_msg_copy(&dst->blobs[i], &src->blobs[i]);
    }
    dst->n_blobs = src->n_blobs;
    return 0;
}

size_t fh_wire_docs_size(const fh_wire_docs *d)
{
    size_t n = zmq_msg_size((zmq_msg_t *)&d->docs);
    for (size_t i = 0; i < d->n_blobs; i++)
        n += zmq_msg_size(&d->blobs[i]);
    return n;
}

int fh_wire_send_docs(void *sock, const void *id, size_t id_len, fh_cmd cmd, zmq_msg_t *env,
                      fh_wire_docs *docs, int flags)
{
    zmq_msg_t frames[2 + FH_WIRE_MAX_BLOBS];
    size_t n = 0;
    if (docs->n_blobs > FH_WIRE_MAX_BLOBS) { /* cannot be made by fh_wire_docs_take or the codec */
        zmq_msg_close(env);
        fh_wire_docs_close(docs);
        return fh_set_error(FH_E_PROTOCOL, "%zu blob frames (at most %d)", docs->n_blobs,
                            FH_WIRE_MAX_BLOBS);
    }
    zmq_msg_init(&frames[n]);
    zmq_msg_move(&frames[n++], env);
    zmq_msg_init(&frames[n]);
    zmq_msg_move(&frames[n++], &docs->docs);
    for (size_t i = 0; i < docs->n_blobs; i++) {
        zmq_msg_init(&frames[n]);
        zmq_msg_move(&frames[n++], &docs->blobs[i]);
    }
    fh_wire_docs_close(docs);
    return fh_wire_send(sock, id, id_len, cmd, frames, n, flags);
}

int fh_wire_socket_defaults(void *sock, int linger_ms, int64_t max_msg)
{
    if (zmq_setsockopt(sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms) != 0)
        return fh_set_error(FH_E_ZMQ, "socket option: %s", zmq_strerror(errno));
    if (max_msg > 0 && zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg) != 0)
        return fh_set_error(FH_E_ZMQ, "socket option: %s", zmq_strerror(errno));
    return 0;
}

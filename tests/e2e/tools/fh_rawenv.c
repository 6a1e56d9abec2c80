/* fh_rawenv ADDRESS ENDPOINT CASE [TIMEOUT_MS]: sends one request whose envelope is hand-made
 * (CASE names it) with an empty documents frame, and prints the decoded answer in a canonical
 * form (times left out) so that two builds' answers can be compared:
 *   answer: id=.. ep=.. routes=[a,b] prefetch=N no_wait=B status=CODE/EXEC/DESC params=B unknown=N
 * or "no reply", or "undecodable reply (N bytes)". */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "codec.h"
#include "flowhost.pb-c.h"
#include "wire.h"

typedef struct buf {
    uint8_t p[1 << 16];
    size_t len;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    memcpy(b->p + b->len, d, n);
    b->len += n;
}
static void put_varint(buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        put(b, &c, 1);
    } while (v);
}
static void put_ld(buf *b, unsigned f, const void *d, size_t n)
{
    put_varint(b, (uint64_t)f << 3 | 2);
    put_varint(b, n);
    put(b, d, n);
}
static void put_vi(buf *b, unsigned f, uint64_t v)
{
    put_varint(b, (uint64_t)f << 3 | 0);
    put_varint(b, v);
}
static void put_route(buf *b, const char *ex)
{
    buf r = {.len = 0};
    put_ld(&r, 1, ex, strlen(ex));
    put_ld(b, 4, r.p, r.len);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: fh_rawenv ADDRESS ENDPOINT CASE [TIMEOUT_MS]\n");
        return 2;
    }
    const char *ep = argv[2], *c = argv[3];
    int timeout = argc > 4 ? atoi(argv[4]) : 3000;
    static buf e;
    e.len = 0;
    put_ld(&e, 1, "rid-1", 5);
    if (strcmp(c, "noep") != 0)
        put_ld(&e, 2, ep, strlen(ep));
    if (!strcmp(c, "plain") || !strcmp(c, "noep")) {
    } else if (!strcmp(c, "client_routes")) {
        put_route(&e, "evil");
    } else if (!strcmp(c, "client_prefetch")) {
        put_vi(&e, 6, 999);
    } else if (!strcmp(c, "unknown_field")) {
        put_vi(&e, 15, 7);
    } else if (!strcmp(c, "wt_status_varint")) { /* status (a message) as a varint */
        put_vi(&e, 5, 1);
    } else if (!strcmp(c, "wt_prefetch_ld")) { /* prefetch (uint32) length-delimited */
        put_ld(&e, 6, "ab", 2);
    } else if (!strcmp(c, "wt_nowait_ld")) {
        put_ld(&e, 7, "ab", 2);
    } else if (!strcmp(c, "wt_routes_varint")) {
        put_vi(&e, 4, 3);
    } else if (!strcmp(c, "wt_params_fixed32")) { /* parameters (a message) as 32-bit */
        put_varint(&e, 3 << 3 | 5);
        put(&e, "abcd", 4);
    } else if (!strcmp(c, "wt_id_varint")) { /* a second request_id as a varint */
        put_vi(&e, 1, 5);
    } else if (!strcmp(c, "refused_with_routes")) { /* ep set by caller to something invalid */
        put_route(&e, "evil");
        put_vi(&e, 15, 7);
    } else if (!strcmp(c, "nowait_wide")) { /* no_wait: a 10-byte varint whose only set bit is 64 */
        put_varint(&e, 7 << 3 | 0);
        uint8_t v[10] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
        put(&e, v, 10);
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    char addr[300];
    snprintf(addr, sizeof addr, "tcp://%s", argv[1]);
    if (zmq_connect(s, addr) != 0)
        return 1;
    unsigned char cmd = FH_CMD_REQUEST;
    zmq_send(s, FH_WIRE_SIGNATURE, FH_WIRE_SIGNATURE_LEN, ZMQ_SNDMORE);
    zmq_send(s, &cmd, 1, ZMQ_SNDMORE);
    zmq_send(s, e.p, e.len, ZMQ_SNDMORE);
    zmq_send(s, "", 0, 0);
    fh_wire_msg m;
    if (fh_wire_recv(s, &m, 0) != 0) {
        printf("no reply\n");
        return 0;
    }
    size_t len;
    const void *data = fh_wire_data(&m, 2, &len);
    Flowhost__Envelope *env =
        data ? flowhost__envelope__unpack(NULL, len, data) : NULL;
    if (env == NULL) {
        printf("undecodable reply (%zu bytes)\n", len);
        return 0;
    }
    printf("answer: id=%s ep=%s routes=[", env->request_id, env->endpoint);
    for (size_t k = 0; k < env->n_routes; k++)
        printf("%s%s", k ? "," : "", env->routes[k]->executor);
    printf("] prefetch=%u no_wait=%d status=", env->prefetch, env->no_wait);
    if (env->status)
        printf("%d/%s/%s", env->status->code, env->status->executor, env->status->description);
    else
        printf("none");
    printf(" params=%d unknown=%u\n", env->parameters != NULL, env->base.n_unknown_fields);
    flowhost__envelope__free_unpacked(env, NULL);
    fh_wire_close(&m);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

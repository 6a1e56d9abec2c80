/* fh_peer ENDPOINT STEP...: a hostile peer of a remote worker (`flowhost worker --listen`):
 * a gateway or a stranger on one DEALER, doing the STEPs in order. Steps:
 *   id:NAME        the routing id of the next connect
 *   conn           connect to ENDPOINT
 *   hello:TOKEN:EXECUTOR:MAX_MESSAGE_SIZE:BATCH_SIZE:BATCH_TIMEOUT:WHEN
 *                  a READY with a GatewayHello (BATCH_SIZE 0: no batching rule; else one
 *                  for /index)
 *   hb             a HEARTBEAT without a token (a probe); hbt:TOKEN with one
 *   req:ENDPOINT:ID
 *                  a REQUEST with an envelope, no documents
 *   sreq:MS        a REQUEST to /index with parameters {sleep_ms: MS}
 *   flood:N        N REQUESTs to /index with parameters {sleep_ms: 0}
 *   reqbad         a REQUEST whose envelope is not protobuf; reqnone: one with no frames
 *   big:N          a REQUEST with a frame of N bytes
 *   disc           a DISCONNECT
 *   raw:N          one frame of N bytes that is not flowhost's
 *   recv:MS        prints what comes ("got: cmd=N [SIZE] status=... / hello-ok exec=...")
 *                  until MS of silence
 *   sleep:MS       waits
 *   close          closes the socket (linger 0)
 * Exits 0 when every step could be done, 1 when a connect failed, 2 for a bad step. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "flowhost.pb-c.h"

static void *ctx, *s;
static const char *ep;
static char idbuf[256] = "";
static void sendf(const void *d, size_t n, int more) { zmq_send(s, d, n, more ? ZMQ_SNDMORE : 0); }
/* Appends to LINE (SIZE bytes), cut at its end. */
static void add(char *line, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *line, size_t size, const char *fmt, ...)
{
    size_t len = strlen(line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + len, size - len, fmt, ap);
    va_end(ap);
}
static void hdr(int cmd, int more) {
    sendf("FHP1", 4, 1);
    unsigned char c = cmd;
    sendf(&c, 1, more);
}
int main(int argc, char **argv) {
    ctx = zmq_ctx_new();
    ep = argv[1];
    for (int i = 2; i < argc; i++) {
        char *a = strdup(argv[i]);
        char *arg = strchr(a, ':');
        if (arg)
            *arg++ = 0;
        if (!strcmp(a, "id"))
            snprintf(idbuf, sizeof idbuf, "%s", arg);
        else if (!strcmp(a, "conn")) {
            s = zmq_socket(ctx, ZMQ_DEALER);
            int z = 0;
            zmq_setsockopt(s, ZMQ_LINGER, &z, sizeof z);
            if (idbuf[0])
                zmq_setsockopt(s, ZMQ_ROUTING_ID, idbuf, strlen(idbuf));
            if (zmq_connect(s, ep)) {
                perror("connect");
                return 1;
            }
        } else if (!strcmp(a, "hello")) {
            Flowhost__GatewayHello h = FLOWHOST__GATEWAY_HELLO__INIT;
            char *f[6] = {0};
            int k = 0;
            char *p = arg;
            while (k < 6 && p) {
                f[k++] = p;
                p = k < 6 ? strchr(p, ':') : NULL; /* the WHEN keeps its colons */
                if (p)
                    *p++ = 0;
            }
            h.token = strtoull(f[0], 0, 0);
            h.executor = f[1] ? f[1] : "";
            h.max_message_size = f[2] ? strtoll(f[2], 0, 0) : 0;
            Flowhost__BatchRule r = FLOWHOST__BATCH_RULE__INIT, *rp = &r;
            unsigned long bs = f[3] ? strtoul(f[3], 0, 0) : 0;
            if (bs) {
                r.endpoint = "/index";
                r.preferred_batch_size = bs;
                r.timeout_ms = f[4] ? strtoul(f[4], 0, 0) : 0;
                h.batching = &rp;
                h.n_batching = 1;
            }
            h.when = (f[5] && *f[5]) ? f[5] : "";
            h.replicas = 1;
            h.shards = 1;
            size_t n = flowhost__gateway_hello__get_packed_size(&h);
            uint8_t *b = malloc(n + 1);
            flowhost__gateway_hello__pack(&h, b);
            hdr(1, 1);
            sendf(b, n, 0);
            free(b);
        } else if (!strcmp(a, "hb")) {
            hdr(4, 0);
        } else if (!strcmp(a, "hbt")) {
            uint64_t t = strtoull(arg, 0, 0);
            hdr(4, 1);
            sendf(&t, 8, 0);
        } else if (!strcmp(a, "req")) {
            char *rid = strchr(arg, ':');
            *rid++ = 0;
            Flowhost__Envelope e = FLOWHOST__ENVELOPE__INIT;
            e.request_id = rid;
            e.endpoint = arg;
            size_t n = flowhost__envelope__get_packed_size(&e);
            uint8_t *b = malloc(n + 1);
            flowhost__envelope__pack(&e, b);
            hdr(2, 1);
            sendf(b, n, 0);
            free(b);
        } else if (!strcmp(a, "sreq") || !strcmp(a, "flood")) {
            long ms = 0;
            int cnt = 1;
            if (!strcmp(a, "sreq"))
                ms = atol(arg);
            else
                cnt = atoi(arg);
            for (int q = 0; q < cnt; q++) {
                Flowhost__Envelope e = FLOWHOST__ENVELOPE__INIT;
                char rid[32];
                snprintf(rid, sizeof rid, "r%d", q);
                e.request_id = rid;
                e.endpoint = "/index";
                Flowhost__Value v = FLOWHOST__VALUE__INIT, root = FLOWHOST__VALUE__INIT;
                v.kind_case = FLOWHOST__VALUE__KIND_INT_VALUE;
                v.int_value = ms;
                Flowhost__MapEntry me = FLOWHOST__MAP_ENTRY__INIT, *mep = &me;
                me.key = "sleep_ms";
                me.value = &v;
                Flowhost__MapValue mv = FLOWHOST__MAP_VALUE__INIT;
                mv.n_entries = 1;
                mv.entries = &mep;
                root.kind_case = FLOWHOST__VALUE__KIND_MAP_VALUE;
                root.map_value = &mv;
                e.parameters = &root;
                size_t n = flowhost__envelope__get_packed_size(&e);
                uint8_t *b = malloc(n + 1);
                flowhost__envelope__pack(&e, b);
                hdr(2, 1);
                sendf(b, n, 0);
                free(b);
            }
        } else if (!strcmp(a, "reqbad")) {
            hdr(2, 1);
            sendf("\xff\xff\xff\xff\xff", 5, 0);
        } else if (!strcmp(a, "reqnone")) {
            hdr(2, 0);
        } else if (!strcmp(a, "big")) {
            size_t n = strtoull(arg, 0, 0);
            char *b = calloc(1, n);
            hdr(2, 1);
            sendf(b, n, 0);
            free(b);
        } else if (!strcmp(a, "disc")) {
            hdr(5, 0);
        } else if (!strcmp(a, "raw")) {
            size_t n = strtoull(arg, 0, 0);
            char *b = malloc(n);
            memset(b, 'x', n);
            sendf(b, n, 0);
            free(b);
        } else if (!strcmp(a, "recv")) {
            int ms = atoi(arg);
            zmq_setsockopt(s, ZMQ_RCVTIMEO, &ms, sizeof ms);
            for (;;) {
                zmq_msg_t m;
                zmq_msg_init(&m);
                int fr = 0, got = 0, cmd = -1;
                char line[2000] = "";
                do {
                    if (zmq_msg_recv(&m, s, 0) < 0)
                        break;
                    got = 1;
                    size_t sz = zmq_msg_size(&m);
                    const void *data = zmq_msg_data(&m);
                    if (fr == 1 && sz == 1) {
                        cmd = *(const unsigned char *)data;
                        add(line, sizeof line, "cmd=%d ", cmd);
                    } else if (fr >= 2) {
                        add(line, sizeof line, "[%zu] ", sz);
                    }
                    if (fr == 2 && cmd == 1 && sz < 65536) {
                        Flowhost__WorkerHello *h = flowhost__worker_hello__unpack(0, sz, data);
                        if (h && h->status && h->status->code != FLOWHOST__STATUS__CODE__SUCCESS)
                            add(line, sizeof line, "status=%s ", h->status->description);
                        else if (h)
                            add(line, sizeof line, "hello-ok exec=%s ", h->executor);
                        if (h)
                            flowhost__worker_hello__free_unpacked(h, 0);
                    } else if (fr == 2 && cmd == 3 && sz < 65536) {
                        Flowhost__Envelope *e = flowhost__envelope__unpack(0, sz, data);
                        if (e && e->status)
                            add(line, sizeof line, "reply id=%s code=%d executor=%s error=%s ",
                                e->request_id, e->status->code, e->status->executor,
                                e->status->description);
                        else if (e)
                            add(line, sizeof line, "reply id=%s ok ", e->request_id);
                        if (e)
                            flowhost__envelope__free_unpacked(e, 0);
                    }
                    fr++;
                } while (zmq_msg_more(&m));
                zmq_msg_close(&m);
                if (!got)
                    break;
                printf("  got: %s\n", line);
                fflush(stdout);
            }
        } else if (!strcmp(a, "sleep"))
            usleep(atoi(arg) * 1000);
        else if (!strcmp(a, "close")) {
            zmq_close(s);
            s = NULL;
        } else {
            fprintf(stderr, "?%s\n", a);
            return 2;
        }
        free(a);
    }
    if (s)
        zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

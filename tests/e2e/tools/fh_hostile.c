/* fh_hostile MODE ADDRESS ...: a client that tries to exhaust a flow's host. Each mode
 * does one thing and prints what came back, for the test scripts to check:
 *
 *   params ADDRESS ENTRIES      a request whose parameters hold ENTRIES empty map entries
 *                               (2 bytes each on the wire); prints its reply
 *   docs ADDRESS N              a request of N empty documents (2 bytes each); its reply
 *   ids ADDRESS                 requests whose ids hold a NUL, a newline, 300 bytes; the
 *                               replies
 *   noread ADDRESS N BYTES      N requests of one document of BYTES bytes of text, sent as
 *                               fast as the flow takes them; never reads a reply; prints
 *                               "sent N" when done and waits to be killed
 *   endless ADDRESS MB          speaks ZMTP itself: a handshake, then frames of 64 KiB that
 *                               all say "more follows", MB of them; prints how much went
 *                               out and whether the flow closed the connection
 *   conns ADDRESS N SECONDS [GAP_MS]
 *                               opens N connections (GAP_MS apart) that greet as a ZMTP DEALER and then
 *                               say nothing; prints how many were accepted (within 50 ms)
 *                               and how many of those the flow closed within a second;
 *                               holds them SECONDS, or until standard input ends
 *
 * ADDRESS is HOST:PORT. Exits 0 when it could do what it was asked (whatever the flow
 * answered), 1 otherwise. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "codec.h"
#include "flowhost.pb-c.h"
#include "wire.h"

#define REPLY_TIMEOUT_MS 30000

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            perror("fh_hostile");
            exit(1);
        }
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_varint(buf *b, uint64_t v)
{
    uint8_t c[10];
    size_t n = 0;
    do {
        c[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c[n] |= 0x80;
        n++;
    } while (v);
    put(b, c, n);
}

/* Field NUMBER, length-delimited, holding N bytes at DATA. */
static void put_field(buf *b, unsigned number, const void *data, size_t n)
{
    put_varint(b, (uint64_t)number << 3 | 2);
    put_varint(b, n);
    put(b, data, n);
}

static void *connect_dealer(void *ctx, const char *address)
{
    char ep[512];
    snprintf(ep, sizeof ep, "tcp://%s", address);
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, timeout = REPLY_TIMEOUT_MS;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_connect(s, ep) != 0) {
        fprintf(stderr, "fh_hostile: connect %s: %s\n", ep, zmq_strerror(zmq_errno()));
        exit(1);
    }
    return s;
}

/* Sends a REQUEST: the envelope ENV, then the documents DOCS (NULL: no frame). */
static void send_request(void *s, const buf *env, const buf *docs)
{
    unsigned char cmd = FH_CMD_REQUEST;
    zmq_send(s, FH_WIRE_SIGNATURE, FH_WIRE_SIGNATURE_LEN, ZMQ_SNDMORE);
    zmq_send(s, &cmd, 1, ZMQ_SNDMORE);
    zmq_send(s, env->p, env->len, docs ? ZMQ_SNDMORE : 0);
    if (docs)
        zmq_send(s, docs->p, docs->len, 0);
}

/* Waits for a reply and prints "reply: ID STATUS DESCRIPTION" or "no reply". */
static void print_reply(void *s)
{
    fh_wire_msg m;
    if (fh_wire_recv(s, &m, 0) != 0) {
        printf("no reply\n");
        return;
    }
    size_t len;
    const void *data = fh_wire_data(&m, 2, &len);
    Flowhost__Envelope *env = NULL;
    if (fh_wire_command(&m, 0) != FH_CMD_REPLY || data == NULL ||
        fh_envelope_decode(data, len, &env) != 0) {
        printf("malformed reply\n");
    } else {
        int err = env->status && env->status->code == FLOWHOST__STATUS__CODE__ERROR;
        printf("reply: %s %s %s\n", env->request_id, err ? "ERROR" : "SUCCESS",
               err ? env->status->description : "");
        flowhost__envelope__free_unpacked(env, NULL);
    }
    fflush(stdout);
    fh_wire_close(&m);
}

static buf envelope(const char *id, size_t id_len, const buf *params)
{
    buf env = {0};
    put_field(&env, 1, id, id_len);
    put_field(&env, 2, "/x", 2);
    if (params)
        put_field(&env, 3, params->p, params->len);
    return env;
}

static int mode_params(void *ctx, const char *address, size_t entries)
{
    buf e = {0}, map = {0};
    for (size_t i = 0; i < entries; i++)
        put_field(&e, 1, "", 0);
    put_field(&map, 8, e.p, e.len);
    buf env = envelope("params", 6, &map);
    fprintf(stderr, "fh_hostile: an envelope of %zu bytes\n", env.len);
    void *s = connect_dealer(ctx, address);
    send_request(s, &env, NULL);
    print_reply(s);
    zmq_close(s);
    free(e.p), free(map.p), free(env.p);
    return 0;
}

static int mode_docs(void *ctx, const char *address, size_t n)
{
    buf docs = {0};
    for (size_t i = 0; i < n; i++)
        put_field(&docs, 1, "", 0);
    buf env = envelope("docs", 4, NULL);
    fprintf(stderr, "fh_hostile: a documents frame of %zu bytes\n", docs.len);
    void *s = connect_dealer(ctx, address);
    send_request(s, &env, &docs);
    print_reply(s);
    zmq_close(s);
    free(docs.p), free(env.p);
    return 0;
}

static int mode_ids(void *ctx, const char *address)
{
    void *s = connect_dealer(ctx, address);
    char longid[300];
    memset(longid, 'i', sizeof longid);
    struct {
        const char *id;
        size_t len;
    } ids[] = {{"nul\0after", 9}, {"line\nbreak", 10}, {longid, sizeof longid}, {"", 0},
               {"fine-id", 7}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        buf env = envelope(ids[i].id, ids[i].len, NULL);
        send_request(s, &env, NULL);
        print_reply(s);
        free(env.p);
    }
    zmq_close(s);
    return 0;
}

static int mode_noread(void *ctx, const char *address, long n, size_t bytes)
{
    char ep[512];
    snprintf(ep, sizeof ep, "tcp://%s", address);
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    /* Take in as little as possible: the replies must stay with the flow. */
    int one = 1, small = 4096, linger = 0, hwm = 100000;
    zmq_setsockopt(s, ZMQ_RCVHWM, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_RCVBUF, &small, sizeof small);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, ep) != 0)
        return 1;
    buf doc = {0}, docs = {0};
    char *text = malloc(bytes);
    memset(text, 't', bytes);
    put_field(&doc, 3, text, bytes);
    put_field(&docs, 1, doc.p, doc.len);
    for (long i = 0; i < n; i++) {
        char id[32];
        int len = snprintf(id, sizeof id, "noread-%ld", i);
        buf env = envelope(id, (size_t)len, NULL);
        send_request(s, &env, &docs);
        free(env.p);
    }
    printf("sent %ld\n", n);
    fflush(stdout);
    pause();
    return 0;
}

/* ---- raw ZMTP ----------------------------------------------------------------------- */

static int tcp_connect(const char *address, int timeout_ms)
{
    char host[256];
    snprintf(host, sizeof host, "%s", address);
    char *colon = strrchr(host, ':');
    if (colon == NULL)
        return -1;
    *colon = '\0';
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd p = {fd, POLLOUT, 0};
    int err = 0;
    socklen_t l = sizeof err;
    if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0 ||
        err != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Writes all of DATA, waiting up to 2 s at a time. Returns 0, or -1 when the peer closed
 * or stopped reading. */
static int write_all(int fd, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN)
            return -1;
        struct pollfd q = {fd, POLLOUT, 0};
        if (poll(&q, 1, 2000) != 1 || (q.revents & (POLLERR | POLLHUP)))
            return -1;
    }
    return 0;
}

/* The ZMTP 3.0 greeting of a NULL-mechanism client, and its READY command (DEALER). */
static int zmtp_hello(int fd)
{
    uint8_t greeting[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0};
    memcpy(greeting + 12, "NULL", 4);
    uint8_t ready[] = {0x04, 28, 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k', 'e', 't',
                       '-', 'T', 'y', 'p', 'e', 0, 0, 0, 6, 'D', 'E', 'A', 'L', 'E', 'R'};
    return write_all(fd, greeting, sizeof greeting) == 0 && write_all(fd, ready, sizeof ready) == 0
               ? 0
               : -1;
}

/* Reads N bytes into BUF, waiting up to MS for each part. Returns 0 or -1. */
static int read_all(int fd, void *into, size_t n, int ms)
{
    uint8_t *p = into;
    while (n > 0) {
        struct pollfd q = {fd, POLLIN, 0};
        if (poll(&q, 1, ms) != 1)
            return -1;
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Waits for the flow's greeting and READY, as a client must before it sends messages.
 * Returns 0, or -1 (an ERROR, a closed connection, nothing within 5 s). */
static int zmtp_wait_ready(int fd)
{
    uint8_t greeting[64], head[2], body[256];
    if (read_all(fd, greeting, sizeof greeting, 5000) != 0 || read_all(fd, head, 2, 5000) != 0 ||
        head[0] != 0x04 || read_all(fd, body, head[1], 5000) != 0)
        return -1;
    return head[1] >= 6 && memcmp(body, "\x05READY", 6) == 0 ? 0 : -1;
}

/* Whether the peer closed FD (a read of 0 or an error), waiting up to MS. */
static int peer_closed(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, ms) == 1) {
        char b[4096];
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN))
            return 1;
    }
    return 0;
}

static int mode_endless(const char *address, long mb)
{
    int fd = tcp_connect(address, 5000);
    if (fd < 0 || zmtp_hello(fd) != 0) {
        printf("no connection\n");
        return 1;
    }
    if (zmtp_wait_ready(fd) != 0) {
        printf("sent 0 MB; closed by the flow: yes (in the handshake)\n");
        close(fd);
        return 0;
    }
    /* A long frame header (flags: more + long, 8-byte size), then 64 KiB of bytes. */
    size_t frame = 64 * 1024;
    uint8_t *f = calloc(1, 9 + frame);
    f[0] = 0x01 | 0x02;
    for (int i = 0; i < 8; i++)
        f[1 + i] = (uint8_t)((uint64_t)frame >> (56 - 8 * i));
    long long sent = 0, want = (long long)mb << 20;
    int closed = 0;
    while (sent < want) {
        if (write_all(fd, f, 9 + frame) != 0) {
            closed = 1;
            break;
        }
        sent += (long long)frame;
    }
    if (!closed)
        closed = peer_closed(fd, 2000);
    printf("sent %lld MB; closed by the flow: %s\n", sent >> 20, closed ? "yes" : "no");
    fflush(stdout);
    free(f);
    close(fd);
    return 0;
}

static int mode_conns(const char *address, int n, int seconds, int gap_ms)
{
    int *fds = calloc((size_t)n, sizeof *fds);
    int accepted = 0;
    for (int i = 0; i < n; i++) {
        if (gap_ms > 0 && i > 0)
            usleep((useconds_t)gap_ms * 1000);
        /* A connection the flow does not take within 50 ms waits (the kernel completes
         * a connection at once when nothing holds it back): count it as not accepted. */
        fds[i] = tcp_connect(address, 50);
        if (fds[i] >= 0 && zmtp_hello(fds[i]) == 0)
            accepted++;
    }
    /* The flow refuses what is over its bound once the handshake is done: give it a
     * second. */
    int closed = 0;
    usleep(1000000);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0 && peer_closed(fds[i], 0))
            closed++;
    printf("connections: %d accepted, %d closed by the flow\n", accepted, closed);
    fflush(stdout);
    for (int s = 0; s < seconds * 10; s++) {
        struct pollfd p = {0, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) /* the test may end the hold by closing stdin */
            break;
    }
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fh_hostile MODE HOST:PORT ... (see the source)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *mode = argv[1], *address = argv[2];
    if (strcmp(mode, "endless") == 0 && argc == 4)
        return mode_endless(address, atol(argv[3]));
    if (strcmp(mode, "conns") == 0 && (argc == 5 || argc == 6))
        return mode_conns(address, atoi(argv[3]), atoi(argv[4]), argc == 6 ? atoi(argv[5]) : 0);
    void *ctx = zmq_ctx_new();
    int rc = 2;
    if (strcmp(mode, "params") == 0 && argc == 4)
        rc = mode_params(ctx, address, (size_t)atol(argv[3]));
    else if (strcmp(mode, "docs") == 0 && argc == 4)
        rc = mode_docs(ctx, address, (size_t)atol(argv[3]));
    else if (strcmp(mode, "ids") == 0 && argc == 3)
        rc = mode_ids(ctx, address);
    else if (strcmp(mode, "noread") == 0 && argc == 5)
        rc = mode_noread(ctx, address, atol(argv[3]), (size_t)atol(argv[4]));
    else
        fprintf(stderr, "fh_hostile: unknown mode or arguments\n");
    zmq_ctx_term(ctx);
    return rc;
}

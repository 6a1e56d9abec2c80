/* Sends a flow messages nested far too deep: an envelope whose parameters nest lists
 * 300,000 levels down, and documents whose chunks nest as deep. Either can exhaust the
 * stack of a recursive decoder. Prints what came back, one line per message:
 *   envelope: no reply        (the gateway dropped it)
 *   documents: ERROR <description>
 * Usage: fh_deep ADDRESS   (tcp://HOST:PORT) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define DEPTH 300000

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            exit(2);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_varint(buf *b, size_t v)
{
    unsigned char c[10];
    size_t n = 0;
    do {
        c[n] = v & 0x7f;
        v >>= 7;
        if (v)
            c[n] |= 0x80;
        n++;
    } while (v);
    put(b, c, n);
}

static size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

/* Wraps INNER (a message) as field FIELD of a new message: key, length, bytes. */
static buf wrap(const buf *inner, unsigned field)
{
    buf out = {0};
    put_varint(&out, field << 3 | 2);
    put_varint(&out, inner->len);
    put(&out, inner->p, inner->len);
    return out;
}

/* INNER wrapped N times, each time as field FIELDS[k % 2]: the outermost first. Built in
 * one pass from the lengths (wrapping one level at a time would copy N^2 bytes). */
static buf nest(const buf *inner, const unsigned fields[2], size_t n)
{
    size_t *len = malloc((n + 1) * sizeof *len);
    if (len == NULL)
        exit(2);
    len[0] = inner->len;
    for (size_t k = 1; k <= n; k++)
        len[k] = 1 + varint_len(len[k - 1]) + len[k - 1];
    buf out = {0};
    for (size_t k = n; k >= 1; k--) {
        put_varint(&out, fields[(k - 1) % 2] << 3 | 2);
        put_varint(&out, len[k - 1]);
    }
    put(&out, inner->p, inner->len);
    free(len);
    return out;
}

/* DEPTH levels of Value{list_value: ListValue{values: [ ... ]}}. */
static buf deep_value(void)
{
    buf v = {0};
    put(&v, "\x18\x01", 2); /* Value{int_value: 1} */
    const unsigned fields[2] = {1, 7}; /* ListValue.values, then Value.list_value */
    buf out = nest(&v, fields, 2 * DEPTH);
    free(v.p);
    return out;
}

/* A DocumentArray of one document whose chunks nest DEPTH levels. */
static buf deep_docs(void)
{
    buf d = {0};
    put(&d, "\x1a\x01x", 3); /* Document{text: "x"} */
    const unsigned fields[2] = {10, 10}; /* Document.chunks */
    buf doc = nest(&d, fields, DEPTH);
    buf arr = wrap(&doc, 1); /* DocumentArray.docs */
    free(d.p);
    free(doc.p);
    return arr;
}

static buf envelope(const char *id, const buf *params)
{
    buf e = {0};
    buf s = {0};
    put(&s, id, strlen(id));
    buf f1 = wrap(&s, 1);
    put(&e, f1.p, f1.len);
    free(f1.p);
    s.len = 0;
    put(&s, "/x", 2);
    buf f2 = wrap(&s, 2);
    put(&e, f2.p, f2.len);
    free(f2.p);
    free(s.p);
    if (params) {
        buf f3 = wrap(params, 3);
        put(&e, f3.p, f3.len);
        free(f3.p);
    }
    return e;
}

static void send_request(void *sock, const buf *env, const buf *docs)
{
    unsigned char cmd = 2; /* REQUEST */
    zmq_send(sock, "FHP1", 4, ZMQ_SNDMORE);
    zmq_send(sock, &cmd, 1, ZMQ_SNDMORE);
    zmq_send(sock, env->p, env->len, ZMQ_SNDMORE);
    zmq_send(sock, docs ? docs->p : NULL, docs ? docs->len : 0, 0);
}

/* Waits up to MS for a reply; prints its status description, or "no reply". */
static void await(void *sock, const char *what, int ms)
{
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, ms) <= 0) {
        printf("%s: no reply\n", what);
        return;
    }
    char frames[4][4096];
    int sizes[4] = {0}, n = 0, more = 1;
    while (more && n < 4) {
        sizes[n] = zmq_recv(sock, frames[n], sizeof frames[n], 0);
        size_t sz = sizeof more;
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
        n++;
    }
    /* The envelope is frame 2: print its printable bytes, enough to see the status. */
    printf("%s: reply:", what);
    for (int i = 0; n > 2 && i < sizes[2] && i < (int)sizeof frames[2]; i++)
        putchar(frames[2][i] >= 0x20 && frames[2][i] < 0x7f ? frames[2][i] : ' ');
    printf("\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fh_deep tcp://HOST:PORT\n");
        return 2;
    }
    void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
    zmq_connect(sock, argv[1]);
    buf params = deep_value();
    buf env = envelope("deep-params", &params);
    send_request(sock, &env, NULL);
    await(sock, "envelope", 2000);
    buf docs = deep_docs();
    buf env2 = envelope("deep-docs", NULL);
    send_request(sock, &env2, &docs);
    await(sock, "documents", 10000);
    free(params.p);
    free(env.p);
    free(docs.p);
    free(env2.p);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 0;
}

/* fh_delay_relay LISTEN_ADDR:PORT TARGET_ADDR:PORT DELAY_MS: a TCP relay that holds every
 * chunk it reads for DELAY_MS before writing it on, in both directions, for tests of links
 * with latency where the kernel has no netem qdisc. Runs until killed (SIGTERM, SIGINT).
 *
 * Bounds: at most MAX_PAIRS connections at once (more are closed at accept), at most
 * MAX_HELD bytes held per direction (over that the relay stops reading that side: TCP's
 * own flow control then slows the sender). An end that closes is closed on the other side
 * once what was held for it has been written. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 32
#define MAX_HELD (8u << 20)
#define CHUNK 65536

typedef struct chunk {
    struct chunk *next;
    int64_t due_ms;
    size_t len, off;
    unsigned char data[];
} chunk;

/* One direction: bytes read from `from`, held, written to `to`. */
typedef struct lane {
    int from, to;
    chunk *head, *tail;
    size_t held;
    bool eof; /* `from` closed: shut `to` for writing once the lane is empty */
} lane;

typedef struct pair {
    bool used;
    lane lanes[2];
} pair;

static pair pairs[MAX_PAIRS];
static int64_t delay_ms;
static volatile sig_atomic_t stop;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Splits "ADDR:PORT" at its last colon and resolves it; exits with a message on failure. */
static struct addrinfo *resolve(const char *spec, bool passive)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof host) {
        fprintf(stderr, "fh_delay_relay: %s: expected ADDR:PORT\n", spec);
        exit(2);
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                             .ai_flags = passive ? AI_PASSIVE : 0};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "fh_delay_relay: %s: %s\n", spec, gai_strerror(rc));
        exit(2);
    }
    return ai;
}

static void lane_free(lane *l)
{
    while (l->head != NULL) {
        chunk *c = l->head;
        l->head = c->next;
        free(c);
    }
    l->tail = NULL;
    l->held = 0;
}

static void pair_close(pair *p)
{
    close(p->lanes[0].from);
    close(p->lanes[0].to);
    lane_free(&p->lanes[0]);
    lane_free(&p->lanes[1]);
    p->used = false;
}

/* Reads what `from` has into a new held chunk. Returns false when the pair must close. */
static bool lane_read(lane *l)
{
    chunk *c = malloc(sizeof *c + CHUNK);
    if (c == NULL)
        return false;
    ssize_t n = recv(l->from, c->data, CHUNK, MSG_DONTWAIT);
    if (n <= 0) {
        free(c);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        if (n < 0)
            return false;
        l->eof = true;
        return true;
    }
    c->next = NULL;
    c->len = (size_t)n;
    c->off = 0;
    c->due_ms = now_ms() + delay_ms;
    if (l->tail != NULL)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->held += (size_t)n;
    return true;
}

/* Writes the chunks that are due. Returns false when the pair must close. */
static bool lane_write(lane *l, int64_t now)
{
    while (l->head != NULL && l->head->due_ms <= now) {
        chunk *c = l->head;
        ssize_t n = send(l->to, c->data + c->off, c->len - c->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c->off += (size_t)n;
        l->held -= (size_t)n;
        if (c->off < c->len)
            return true;
        l->head = c->next;
        if (l->head == NULL)
            l->tail = NULL;
        free(c);
    }
    if (l->eof && l->head == NULL)
        shutdown(l->to, SHUT_WR);
    return true;
}

static void accept_one(int listener, const struct addrinfo *target)
{
    int in = accept(listener, NULL, NULL);
    if (in < 0)
        return;
    int slot = -1;
    for (int i = 0; i < MAX_PAIRS && slot < 0; i++)
        if (!pairs[i].used)
            slot = i;
    int out = slot < 0 ? -1 : socket(target->ai_family, SOCK_STREAM, 0);
    if (out < 0 || connect(out, target->ai_addr, target->ai_addrlen) != 0) {
        if (out >= 0)
            close(out);
        close(in); /* the client sees its connection refused, as with a host that is down */
        return;
    }
    pair *p = &pairs[slot];
    memset(p, 0, sizeof *p);
    p->used = true;
    p->lanes[0].from = in;
    p->lanes[0].to = out;
    p->lanes[1].from = out;
    p->lanes[1].to = in;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fputs("usage: fh_delay_relay LISTEN_ADDR:PORT TARGET_ADDR:PORT DELAY_MS\n", stderr);
        return 2;
    }
    delay_ms = strtoll(argv[3], NULL, 10);
    struct addrinfo *la = resolve(argv[1], true), *ta = resolve(argv[2], false);
    int listener = socket(la->ai_family, SOCK_STREAM, 0), one = 1;
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(listener, la->ai_addr, la->ai_addrlen) != 0 || listen(listener, 16) != 0) {
        fprintf(stderr, "fh_delay_relay: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    while (!stop) {
        struct pollfd fds[1 + 4 * MAX_PAIRS];
        int where[1 + 4 * MAX_PAIRS]; /* pair * 2 + lane, reading; + 2*MAX_PAIRS: writing */
        nfds_t n = 0;
        int64_t now = now_ms(), wake = -1;
        fds[n++] = (struct pollfd){.fd = listener, .events = POLLIN};
        for (int i = 0; i < MAX_PAIRS; i++) {
            for (int k = 0; pairs[i].used && k < 2; k++) {
                lane *l = &pairs[i].lanes[k];
                if (!l->eof && l->held < MAX_HELD) {
                    where[n] = i * 2 + k;
                    fds[n++] = (struct pollfd){.fd = l->from, .events = POLLIN};
                }
                if (l->head != NULL && l->head->due_ms <= now) {
                    where[n] = 2 * MAX_PAIRS + i * 2 + k;
                    fds[n++] = (struct pollfd){.fd = l->to, .events = POLLOUT};
                } else if (l->head != NULL) {
                    int64_t in = l->head->due_ms - now;
                    if (wake < 0 || in < wake)
                        wake = in;
                }
            }
        }
        if (poll(fds, n, (int)wake) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN)
            accept_one(listener, ta);
        now = now_ms();
        for (nfds_t j = 1; j < n; j++) {
            if (fds[j].revents == 0)
                continue;
            int w = where[j], reading = w < 2 * MAX_PAIRS;
            pair *p = &pairs[(reading ? w : w - 2 * MAX_PAIRS) / 2];
            lane *l = &p->lanes[w % 2];
            if (p->used && !(reading ? lane_read(l) : lane_write(l, now)))
                pair_close(p);
        }
        for (int i = 0; i < MAX_PAIRS; i++) {
            pair *p = &pairs[i];
            if (p->used && (!lane_write(&p->lanes[0], now) || !lane_write(&p->lanes[1], now)))
                pair_close(p);
            else if (p->used && p->lanes[0].eof && p->lanes[1].eof && p->lanes[0].head == NULL &&
                     p->lanes[1].head == NULL)
                pair_close(p);
        }
    }
    for (int i = 0; i < MAX_PAIRS; i++)
        if (pairs[i].used)
            pair_close(&pairs[i]);
    close(listener);
    freeaddrinfo(la);
    freeaddrinfo(ta);
    return 0;
}

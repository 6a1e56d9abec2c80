/* raw_star: the transport limit. The same star as flowhost — a client DEALER over tcp
 * loopback to a router's ROUTER, a second ROUTER over ipc to K worker DEALERs, each
 * request sent to worker 1, its reply to worker 2, ..., then back to the client — with
 * frames of the same sizes (signature, command, an envelope-sized frame, a documents
 * frame as big as flowhost's for the same documents), but nothing decoded: the router
 * keeps up to C requests at each worker (--credit, default 1: one at a time; the
 * gateway's default is 16), queues the rest in order, and forwards the frames as they
 * came. A worker answers its requests in the order they came, so a reply answers the
 * oldest request held at that worker.
 *
 *   raw_star [--k K] [--credit C] [--request-size N] [--blob] [--window W]
 *            [--requests N] [--warmup N] [--label TEXT]
 *
 * Prints one JSON object: throughput (requests/s, bytes/s of documents) and, per
 * request, latency percentiles. --window 1 measures latency with one in flight. */
#include "bench_common.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define SIG "FHP1"
enum { CMD_READY = 1, CMD_REQUEST = 2, CMD_REPLY = 3 };
#define MAX_K 16
#define MAX_ID 256
#define BATCH 64
#define MAX_CREDIT 1024

static void die(const char *what)
{
    fprintf(stderr, "raw_star: %s: %s\n", what, zmq_strerror(errno));
    _exit(1);
}

/* Receives a multipart message into F (at most N frames); returns the count. */
static size_t recv_all(void *sock, zmq_msg_t *f, size_t n, int flags)
{
    size_t k = 0;
    for (;;) {
        zmq_msg_init(&f[k]);
        if (zmq_msg_recv(&f[k], sock, k == 0 ? flags : 0) < 0) {
            zmq_msg_close(&f[k]);
            if (k == 0 && errno == EAGAIN)
                return 0;
            die("recv");
        }
        int more = zmq_msg_more(&f[k]);
        if (k + 1 < n)
            k++;
        else
            zmq_msg_close(&f[k]);
        if (!more)
            return k;
    }
}

static void send_bytes(void *sock, const void *p, size_t n, int more)
{
    if (zmq_send(sock, p, n, more ? ZMQ_SNDMORE : 0) < 0)
        die("send");
}

static void send_msg(void *sock, zmq_msg_t *m, int more)
{
    if (zmq_msg_send(m, sock, more ? ZMQ_SNDMORE : 0) < 0)
        die("send");
}

/* ---- worker: pass the bytes on ------------------------------------------------------ */

static void worker_main(const char *back_ep, int index)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, back_ep) != 0)
        die("worker connect");
    unsigned char cmd = CMD_READY;
    send_bytes(s, SIG, 4, 1);
    send_bytes(s, &cmd, 1, 1);
    send_bytes(s, &index, sizeof index, 0);
    zmq_msg_t f[6];
    for (;;) {
        size_t n = recv_all(s, f, 6, 0);
        if (n < 4) {
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
            continue;
        }
        cmd = CMD_REPLY;
        send_bytes(s, SIG, 4, 1);
        send_bytes(s, &cmd, 1, 1);
        send_msg(s, &f[2], 1);
        send_msg(s, &f[3], 0);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
}

/* ---- router: the gateway's shape, without decoding ---------------------------------- */

typedef struct rslot {
    unsigned char client[MAX_ID];
    size_t client_len;
    zmq_msg_t env, docs;
    int step, next;
} rslot;

typedef struct rworker {
    unsigned char id[MAX_ID];
    size_t id_len;
    int held[MAX_CREDIT]; /* the requests sent to it, oldest first (a ring) */
    int held_first, held_n;
    int head, tail;       /* the requests waiting for room at it */
} rworker;

static rslot *slots;
static int free_head = -1, n_slots;
static rworker workers[MAX_K];
static int k_workers, credit = 1;
static void *front, *back;

static int slot_alloc(void)
{
    if (free_head < 0) {
        int n = n_slots ? n_slots * 2 : 256;
        rslot *s = realloc(slots, (size_t)n * sizeof *s);
        if (s == NULL)
            die("oom");
        slots = s;
        for (int i = n - 1; i >= n_slots; i--) {
            slots[i].next = free_head;
            free_head = i;
        }
        n_slots = n;
    }
    int i = free_head;
    free_head = slots[i].next;
    return i;
}

static void send_to_worker(rworker *w, int i)
{
    rslot *s = &slots[i];
    unsigned char cmd = CMD_REQUEST;
    zmq_msg_t env, docs; /* copies share the buffers, like the gateway's */
    zmq_msg_init(&env);
    zmq_msg_init(&docs);
    zmq_msg_copy(&env, &s->env);
    zmq_msg_copy(&docs, &s->docs);
    w->held[(w->held_first + w->held_n) % credit] = i;
    w->held_n++;
    send_bytes(back, w->id, w->id_len, 1);
    send_bytes(back, SIG, 4, 1);
    send_bytes(back, &cmd, 1, 1);
    send_msg(back, &env, 1);
    send_msg(back, &docs, 0);
}

static void advance(int i)
{
    rslot *s = &slots[i];
    if (s->step >= k_workers) {
        unsigned char cmd = CMD_REPLY;
        send_bytes(front, s->client, s->client_len, 1);
        send_bytes(front, SIG, 4, 1);
        send_bytes(front, &cmd, 1, 1);
        send_msg(front, &s->env, 1);
        send_msg(front, &s->docs, 0);
        zmq_msg_close(&s->env);
        zmq_msg_close(&s->docs);
        s->next = free_head;
        free_head = i;
        return;
    }
    rworker *w = &workers[s->step];
    if (w->held_n < credit && w->head < 0) {
        send_to_worker(w, i);
    } else {
        s->next = -1;
        if (w->tail < 0)
            w->head = i;
        else
            slots[w->tail].next = i;
        w->tail = i;
    }
}

static void router_main(const char *back_ep, int ready_fd)
{
    void *ctx = zmq_ctx_new();
    front = zmq_socket(ctx, ZMQ_ROUTER);
    back = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(front, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(back, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(front, "tcp://127.0.0.1:*") != 0 || zmq_bind(back, back_ep) != 0)
        die("router bind");
    char ep[256];
    size_t eplen = sizeof ep;
    zmq_getsockopt(front, ZMQ_LAST_ENDPOINT, ep, &eplen);
    for (int i = 0; i < k_workers; i++)
        {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].head = workers[i].tail = -1;
    }
    int ready = 0;
    zmq_msg_t f[6];
    while (ready < k_workers) {
        size_t n = recv_all(back, f, 6, 0);
        int idx = -1;
        if (n >= 4 && zmq_msg_size(&f[3]) == sizeof idx)
            memcpy(&idx, zmq_msg_data(&f[3]), sizeof idx);
        if (idx >= 0 && idx < k_workers && workers[idx].id_len == 0) {
            workers[idx].id_len = zmq_msg_size(&f[0]);
            memcpy(workers[idx].id, zmq_msg_data(&f[0]), workers[idx].id_len);
            ready++;
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
    if (write(ready_fd, ep, strlen(ep) + 1) < 0)
        die("ready pipe");
    close(ready_fd);
    for (;;) {
        zmq_pollitem_t items[2] = {{front, 0, ZMQ_POLLIN, 0}, {back, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (items[0].revents & ZMQ_POLLIN) {
            for (int b = 0; b < BATCH; b++) {
                size_t n = recv_all(front, f, 6, ZMQ_DONTWAIT);
                if (n == 0)
                    break;
                if (n >= 5) {
                    int i = slot_alloc();
                    rslot *s = &slots[i];
                    s->client_len = zmq_msg_size(&f[0]);
                    memcpy(s->client, zmq_msg_data(&f[0]), s->client_len);
                    zmq_msg_init(&s->env);
                    zmq_msg_init(&s->docs);
                    zmq_msg_move(&s->env, &f[3]);
                    zmq_msg_move(&s->docs, &f[4]);
                    s->step = 0;
                    advance(i);
                }
                for (size_t j = 0; j < n; j++)
                    zmq_msg_close(&f[j]);
            }
        }
        if (items[1].revents & ZMQ_POLLIN) {
            for (int b = 0; b < BATCH; b++) {
                size_t n = recv_all(back, f, 6, ZMQ_DONTWAIT);
                if (n == 0)
                    break;
                rworker *w = NULL;
                for (int k = 0; k < k_workers; k++)
                    if (workers[k].id_len == zmq_msg_size(&f[0]) &&
                        memcmp(workers[k].id, zmq_msg_data(&f[0]), workers[k].id_len) == 0)
                        w = &workers[k];
                if (w != NULL && w->held_n > 0 && n >= 5) {
                    int i = w->held[w->held_first];
                    rslot *s = &slots[i];
                    w->held_first = (w->held_first + 1) % credit;
                    w->held_n--;
                    zmq_msg_close(&s->env);
                    zmq_msg_close(&s->docs);
                    zmq_msg_init(&s->env);
                    zmq_msg_init(&s->docs);
                    zmq_msg_move(&s->env, &f[3]);
                    zmq_msg_move(&s->docs, &f[4]);
                    int q; /* refill the worker's credit from its queue */
                    while (w->held_n < credit && (q = w->head) >= 0) {
                        w->head = slots[q].next;
                        if (w->head < 0)
                            w->tail = -1;
                        send_to_worker(w, q);
                    }
                    s->step++;
                    advance(i);
                }
                for (size_t j = 0; j < n; j++)
                    zmq_msg_close(&f[j]);
            }
        }
    }
}

/* ---- client ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    int k = 3, request_size = 10, blob = 0, window = 64, requests = 20000, warmup = 1000;
    const char *label = "raw";
    static const struct option opts[] = {{"k", required_argument, NULL, 'k'},
                                         {"credit", required_argument, NULL, 'c'},
                                         {"request-size", required_argument, NULL, 's'},
                                         {"blob", no_argument, NULL, 'b'},
                                         {"window", required_argument, NULL, 'w'},
                                         {"requests", required_argument, NULL, 'n'},
                                         {"warmup", required_argument, NULL, 'u'},
                                         {"label", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': k = atoi(optarg); break;
        case 'c': credit = atoi(optarg); break;
        case 's': request_size = atoi(optarg); break;
        case 'b': blob = 1; break;
        case 'w': window = atoi(optarg); break;
        case 'n': requests = atoi(optarg); break;
        case 'u': warmup = atoi(optarg); break;
        case 'l': label = optarg; break;
        default: return 2;
        }
    }
    if (k < 1 || k > MAX_K || window < 1 || requests < 1 || credit < 1 || credit > MAX_CREDIT) {
        fprintf(stderr, "raw_star: bad arguments\n");
        return 2;
    }
    k_workers = k;
    size_t env_size, docs_size;
    if (bench_frame_sizes((size_t)request_size, blob, (size_t)k, &env_size, &docs_size) != 0) {
        fprintf(stderr, "raw_star: cannot compute frame sizes\n");
        return 1;
    }
    if (env_size < sizeof(uint64_t) + sizeof(int64_t))
        env_size = sizeof(uint64_t) + sizeof(int64_t);

    char dir[] = "/tmp/raw_star.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char back_ep[300];
    snprintf(back_ep, sizeof back_ep, "ipc://%s/back", dir);
    int pfd[2];
    if (pipe(pfd) != 0)
        return 1;
    pid_t pids[MAX_K + 1];
    fflush(NULL);
    pids[0] = fork();
    if (pids[0] == 0) {
        close(pfd[0]);
        router_main(back_ep, pfd[1]);
        _exit(0);
    }
    close(pfd[1]);
    for (int i = 0; i < k; i++) {
        pids[i + 1] = fork();
        if (pids[i + 1] == 0) {
            close(pfd[0]);
            worker_main(back_ep, i);
            _exit(0);
        }
    }
    char front_ep[256] = "";
    ssize_t got = read(pfd[0], front_ep, sizeof front_ep - 1);
    close(pfd[0]);
    if (got <= 0) {
        fprintf(stderr, "raw_star: the router did not start\n");
        return 1;
    }

    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, front_ep) != 0)
        die("client connect");

    /* The templates a request is copied from: what a client's encoder would write. */
    unsigned char *env_t = calloc(1, env_size), *docs_t = malloc(docs_size);
    for (size_t i = 0; i < docs_size; i++)
        docs_t[i] = (unsigned char)(i * 31 + 7);
    int total = warmup + requests;
    int64_t *lat = malloc((size_t)total * sizeof *lat);
    int sent = 0, received = 0;
    int64_t t_start = 0;
    int64_t t0 = bench_now_ns();
    unsigned char cmd = CMD_REQUEST;
    zmq_msg_t f[6];
    while (received < total) {
        while (sent < total && sent - received < window) {
            uint64_t seq = (uint64_t)sent;
            int64_t now = bench_now_ns();
            memcpy(env_t, &seq, sizeof seq);
            memcpy(env_t + sizeof seq, &now, sizeof now);
            zmq_msg_t env, docs;
            zmq_msg_init_size(&env, env_size);
            memcpy(zmq_msg_data(&env), env_t, env_size);
            zmq_msg_init_size(&docs, docs_size);
            memcpy(zmq_msg_data(&docs), docs_t, docs_size);
            send_bytes(s, SIG, 4, 1);
            send_bytes(s, &cmd, 1, 1);
            send_msg(s, &env, 1);
            send_msg(s, &docs, 0);
            sent++;
        }
        /* Like flowhost's client: wait for one reply, take every reply there is, then
         * refill the window. */
        int flags = 0;
        size_t n;
        while (received < total && (n = recv_all(s, f, 6, flags)) > 0) {
            flags = ZMQ_DONTWAIT;
            if (n >= 4 && zmq_msg_size(&f[2]) >= 16) {
                int64_t sent_at;
                memcpy(&sent_at, (char *)zmq_msg_data(&f[2]) + 8, sizeof sent_at);
                lat[received] = bench_now_ns() - sent_at;
                received++;
                if (received == warmup)
                    t_start = bench_now_ns();
            }
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
        }
    }
    int64_t t_end = bench_now_ns();
    if (warmup == 0)
        t_start = t0;
    double secs = (double)(t_end - t_start) / 1e9;
    int64_t *m = lat + warmup;
    int64_t p50 = bench_percentile(m, (size_t)requests, 50), p99 = bench_percentile(m, (size_t)requests, 99);
    printf("{\"bench\":\"%s\",\"k\":%d,\"credit\":%d,\"request_size\":%d,\"blob\":%d,\"window\":%d,"
           "\"requests\":%d,\"env_size\":%zu,\"docs_size\":%zu,\"seconds\":%.4f,"
           "\"rps\":%.1f,\"bytes_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
           label, k, credit, request_size, blob, window, requests, env_size, docs_size, secs,
           requests / secs, (double)requests * docs_size / secs, p50 / 1e3, p99 / 1e3);
    fflush(stdout);

    zmq_close(s);
    zmq_ctx_term(ctx);
    for (int i = 0; i <= k; i++)
        kill(pids[i], SIGTERM); /* not KILL: a profiler in the child may write its data */
    for (int i = 0; i <= k; i++)
        waitpid(pids[i], NULL, 0);
    unlink(back_ep + 6);
    rmdir(dir);
    free(env_t);
    free(docs_t);
    free(lat);
    return 0;
}

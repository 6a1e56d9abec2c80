/* flow_bench: flowhost measured through its real client API, against `flowhost run`.
 *
 *   flow_bench flow  --bin FLOWHOST [--k K] [--uses pass|PLUGIN.so] [--request-size N]
 *                    [--blob] [--window W] [--requests N] [--lat-requests N]
 *                    [--warmup N] [--reps R] [--segments S] [--label TEXT]
 *                    [--replicas N] [--credit C] [--with YAML] [--batching YAML]
 *                    [--shape chain|fan|join] [--shards N]
 *       starts a flow of K executors (pass: entries without `uses`, the built-in
 *       pass-through; else every executor uses PLUGIN.so), then per repetition posts
 *       N requests with W in flight (throughput, and the latency of each of those
 *       requests: load_p50_us, load_p99_us) and L with one in flight (latency: p50_us,
 *       p99_us). One JSON object per repetition; it also carries the time the flow took
 *       to be ready and the resident memory of the host and of its first worker, idle
 *       and under load. --segments S adds the throughput of each S-th of the run.
 *       Every executor gets `replicas: N`, `credit: C`, `uses_with: YAML` and
 *       `uses_dynamic_batching: YAML` when they are given (YAML in flow style, e.g.
 *       --batching '{/bench: {preferred_batch_size: 32, timeout: 10}}'). --shape fan starts
 *       every executor at the gateway (branches in parallel, merged in the response);
 *       join adds a pass-through executor that needs them all; --shards N gives every
 *       executor N shards polled ALL; --no-metrics turns the flow's metrics off
 *       (with.monitoring: false); --remote serves every executor (each replica) by a
 *       `flowhost worker --listen` on loopback that the flow names with `host:` (the
 *       worker memory figures are then 0: they are not the host's children).
 *   flow_bench ready --bin FLOWHOST [--k K] [--reps R]
 *       starts and stops a flow of K pass-through executors R times: time from spawning
 *       `flowhost run` to its ready line. One JSON object. */
#include "bench_common.h"

#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flowhost/client.h>
#include <flowhost/error.h>

#define MAX_REMOTE 64

typedef struct flow_proc {
    pid_t pid;
    char address[256];
    char dir[64];
    char yaml[128];
    pid_t remote[MAX_REMOTE]; /* --remote: the workers started beside the flow */
    int n_remote;
} flow_proc;

typedef struct exec_opts {
    int replicas, credit;     /* 0: not set */
    int shards;               /* 0: not set; else every executor has them, polled ALL */
    bool no_metrics;          /* with.monitoring: false */
    bool remote;              /* every replica a `flowhost worker --listen` on loopback */
    const char *bin;          /* --remote: the flowhost binary */
    const char *shape;        /* chain (default), fan: every executor starts at the gateway
                                 (the response merges them), join: the same, then one
                                 pass-through executor that needs them all */
    const char *with;         /* uses_with, or NULL */
    const char *batching;     /* uses_dynamic_batching, or NULL */
} exec_opts;

/* A free TCP port on loopback (the kernel's pick; free again when this returns), or 0. */
static int free_port(void)
{
    int sock = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (sock >= 0 && bind(sock, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(sock, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (sock >= 0)
        close(sock);
    return port;
}

/* Starts `BIN worker --listen tcp://127.0.0.1:PORT --uses USES` (USES "pass": the
 * pass-through) for F, its pid kept in F->remote. Returns the port, or 0. */
static int remote_start(flow_proc *f, const char *bin, const char *uses, int replica)
{
    int port = free_port();
    if (port == 0 || f->n_remote == MAX_REMOTE)
        return 0;
    char listen[64], rep[16];
    snprintf(listen, sizeof listen, "tcp://127.0.0.1:%d", port);
    snprintf(rep, sizeof rep, "%d", replica);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        execl(bin, bin, "worker", "--listen", listen, "--uses",
              strcmp(uses, "pass") == 0 ? "" : uses, "--replica", rep, (char *)NULL);
        _exit(127);
    }
    f->remote[f->n_remote++] = pid;
    return port;
}

static int write_yaml(flow_proc *f, int k, const char *uses, const exec_opts *xo)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/flow_bench.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->yaml, sizeof f->yaml, "%s/flow.yml", f->dir);
    FILE *y = fopen(f->yaml, "w");
    if (y == NULL)
        return -1;
    fprintf(y, "jtype: Flow\nversion: '1'\nwith:\n  workspace: %s/ws\n%sexecutors:\n", f->dir,
            xo != NULL && xo->no_metrics ? "  monitoring: false\n" : "");
    const char *shape = xo != NULL && xo->shape != NULL ? xo->shape : "chain";
    for (int i = 0; i < k; i++) {
        fprintf(y, "  - name: exec%d\n", i);
        if (strcmp(shape, "chain") != 0)
            fprintf(y, "    needs: gateway\n");
        if (xo != NULL && xo->shards > 1)
            fprintf(y, "    shards: %d\n    polling: ALL\n", xo->shards);
        if (xo != NULL && xo->remote) {
            fprintf(y, "    host: [");
            for (int r = 0; r < (xo->replicas > 0 ? xo->replicas : 1); r++) {
                int port = remote_start(f, xo->bin, uses != NULL ? uses : "pass", r);
                if (port == 0) {
                    fclose(y);
                    return -1;
                }
                fprintf(y, "%s'127.0.0.1:%d'", r ? ", " : "", port);
            }
            fprintf(y, "]\n");
        } else if (uses != NULL && strcmp(uses, "pass") != 0)
            fprintf(y, "    uses: %s\n", uses);
        if (xo != NULL && xo->replicas > 0)
            fprintf(y, "    replicas: %d\n", xo->replicas);
        if (xo != NULL && xo->credit > 0)
            fprintf(y, "    credit: %d\n", xo->credit);
        if (xo != NULL && xo->with != NULL)
            fprintf(y, "    uses_with: %s\n", xo->with);
        if (xo != NULL && xo->batching != NULL)
            fprintf(y, "    uses_dynamic_batching: %s\n", xo->batching);
    }
    if (strcmp(shape, "join") == 0) {
        fprintf(y, "  - name: join\n    needs: [");
        for (int i = 0; i < k; i++)
            fprintf(y, "%sexec%d", i ? ", " : "", i);
        fprintf(y, "]\n");
    }
    return fclose(y);
}

/* Spawns `BIN run --ready-fd` on F's YAML and waits for the ready line. Returns the
 * nanoseconds it took, or -1. */
static int64_t flow_start(flow_proc *f, const char *bin)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    int64_t t0 = bench_now_ns();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", fds[1]);
        execl(bin, bin, "run", "--ready-fd", fd, f->yaml, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fds[0], f->address + used, sizeof f->address - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        if (memchr(f->address, '\n', used) != NULL)
            break;
    }
    int64_t t1 = bench_now_ns();
    close(fds[0]);
    f->address[used] = '\0';
    f->pid = pid;
    char *nl = strchr(f->address, '\n');
    if (nl == NULL || f->address[0] == '!') {
        fprintf(stderr, "flow_bench: the flow did not start: %s\n", f->address);
        return -1;
    }
    *nl = '\0';
    return t1 - t0;
}

static void flow_stop(flow_proc *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
    for (int i = 0; i < f->n_remote; i++) {
        kill(f->remote[i], SIGTERM);
        waitpid(f->remote[i], NULL, 0);
    }
    f->n_remote = 0;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "flow_bench: cannot remove %s\n", f->dir);
}

/* VmRSS of PID in KiB, or -1. */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    long kib = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (fp)
        fclose(fp);
    return kib;
}

/* A child of PARENT (the first worker: the lowest pid), or 0. */
static pid_t first_child(pid_t parent)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t best = 0;
    while (d && (e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        if (rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == parent &&
            (best == 0 || pid < best))
            best = (pid_t)pid;
    }
    if (d)
        closedir(d);
    return best;
}

/* ---- posting ------------------------------------------------------------------------ */

typedef struct run {
    uint64_t docs_left, next_id, first_id;
    size_t request_size;
    const void *blob;
    int64_t *sent_at;      /* when request I's first document was made (ns), or NULL */
    int64_t *load_lat;     /* latency of the I-th response (ns), when sent_at is set */
    /* per response */
    size_t done, errors;
    int64_t *done_at;      /* when response I arrived (ns), or NULL */
    size_t cap;
    pid_t gw, worker;
    long gw_rss_max, worker_rss_max;
    size_t sample_every;   /* responses between two samples of resident memory */
} run;

static int next_doc(void *user, fh_doc **out)
{
    run *r = user;
    if (r->docs_left == 0)
        return 0;
    r->docs_left--;
    uint64_t n = r->next_id - r->first_id;
    if (r->sent_at != NULL && n % r->request_size == 0 && n / r->request_size < r->cap)
        r->sent_at[n / r->request_size] = bench_now_ns();
    *out = r->blob ? bench_blob_doc(r->next_id, r->blob) : bench_text_doc(r->next_id);
    r->next_id++;
    return *out ? 1 : fh_set_error(FH_E_NOMEM, "out of memory");
}

static int on_done(const fh_response *resp, void *user)
{
    run *r = user;
    int64_t now = bench_now_ns();
    if (r->done_at != NULL && r->done < r->cap)
        r->done_at[r->done] = now;
    if (r->sent_at != NULL && r->done < r->cap) {
        /* request ids are PREFIX-SEQ, SEQ in hex from 0 in each post */
        const char *id = strrchr(fh_response_request_id(resp), '-');
        unsigned long long seq = id ? strtoull(id + 1, NULL, 16) : r->cap;
        r->load_lat[r->done] = seq < r->cap ? now - r->sent_at[seq] : 0;
    }
    r->done++;
    if (r->gw > 0 && r->sample_every > 0 && r->done % r->sample_every == r->sample_every / 2) { /* resident memory under load */
        long g = rss_kib(r->gw), w = rss_kib(r->worker);
        if (g > r->gw_rss_max)
            r->gw_rss_max = g;
        if (w > r->worker_rss_max)
            r->worker_rss_max = w;
    }
    return 0;
}

static int on_error(const fh_response *resp, void *user)
{
    run *r = user;
    if (r->errors++ == 0)
        fprintf(stderr, "flow_bench: error response: %s\n", fh_response_error_description(resp));
    return 0;
}

static int post(fh_client *c, run *r, size_t requests, size_t request_size, unsigned window)
{
    r->docs_left = (uint64_t)requests * request_size;
    r->first_id = r->next_id;
    r->request_size = request_size;
    r->done = 0;
    fh_post_options o;
    fh_post_options_init(&o);
    o.request_size = request_size;
    o.prefetch = window;
    o.timeout_ms = 60000;
    o.on_done = on_done;
    o.on_error = on_error;
    o.user = r;
    int rc = fh_client_post_input(c, "/bench", next_doc, r, &o);
    if (rc != 0)
        fprintf(stderr, "flow_bench: post: %s\n", fh_last_error());
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: flow_bench flow|ready --bin FLOWHOST [options]\n");
        return 2;
    }
    const char *mode = argv[1];
    const char *bin = NULL, *uses = "pass", *label = NULL;
    int k = 3, request_size = 10, blob = 0, window = 64, requests = 20000, lat_requests = 2000;
    int warmup = 1000, reps = 3, segments = 0;
    exec_opts xo = {0};
    static const struct option opts[] = {{"bin", required_argument, NULL, 'B'},
                                         {"k", required_argument, NULL, 'k'},
                                         {"uses", required_argument, NULL, 'U'},
                                         {"request-size", required_argument, NULL, 's'},
                                         {"blob", no_argument, NULL, 'b'},
                                         {"window", required_argument, NULL, 'w'},
                                         {"requests", required_argument, NULL, 'n'},
                                         {"lat-requests", required_argument, NULL, 'L'},
                                         {"warmup", required_argument, NULL, 'u'},
                                         {"reps", required_argument, NULL, 'r'},
                                         {"segments", required_argument, NULL, 'S'},
                                         {"label", required_argument, NULL, 'l'},
                                         {"replicas", required_argument, NULL, 'R'},
                                         {"credit", required_argument, NULL, 'C'},
                                         {"with", required_argument, NULL, 'W'},
                                         {"batching", required_argument, NULL, 'D'},
                                         {"shape", required_argument, NULL, 'P'},
                                         {"shards", required_argument, NULL, 'H'},
                                         {"no-metrics", no_argument, NULL, 'M'},
                                         {"remote", no_argument, NULL, 'T'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'B': bin = optarg; break;
        case 'k': k = atoi(optarg); break;
        case 'U': uses = optarg; break;
        case 's': request_size = atoi(optarg); break;
        case 'b': blob = 1; break;
        case 'w': window = atoi(optarg); break;
        case 'n': requests = atoi(optarg); break;
        case 'L': lat_requests = atoi(optarg); break;
        case 'u': warmup = atoi(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'S': segments = atoi(optarg); break;
        case 'l': label = optarg; break;
        case 'R': xo.replicas = atoi(optarg); break;
        case 'C': xo.credit = atoi(optarg); break;
        case 'W': xo.with = optarg; break;
        case 'D': xo.batching = optarg; break;
        case 'P': xo.shape = optarg; break;
        case 'H': xo.shards = atoi(optarg); break;
        case 'M': xo.no_metrics = true; break;
        case 'T': xo.remote = true; break;
        default: return 2;
        }
    }
    if (bin == NULL || k < 1 || reps < 1 || window < 1) {
        fprintf(stderr, "flow_bench: bad arguments (--bin is required)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    xo.bin = bin;

    if (strcmp(mode, "ready") == 0) {
        int64_t *t = calloc((size_t)reps, sizeof *t);
        for (int i = 0; i < reps; i++) {
            flow_proc f = {0};
            if (write_yaml(&f, k, "pass", NULL) != 0 || (t[i] = flow_start(&f, bin)) < 0)
                return 1;
            flow_stop(&f);
        }
        int64_t lo = bench_percentile(t, (size_t)reps, 0), hi = t[reps - 1];
        int64_t med = bench_percentile(t, (size_t)reps, 50);
        printf("{\"bench\":\"ready\",\"k\":%d,\"reps\":%d,\"ready_ms\":[", k, reps);
        for (int i = 0; i < reps; i++)
            printf("%s%.2f", i ? "," : "", t[i] / 1e6);
        printf("],\"median_ms\":%.2f,\"min_ms\":%.2f,\"max_ms\":%.2f}\n", med / 1e6, lo / 1e6,
               hi / 1e6);
        free(t);
        return 0;
    }
    if (strcmp(mode, "flow") != 0) {
        fprintf(stderr, "flow_bench: unknown mode %s\n", mode);
        return 2;
    }

    flow_proc f = {0};
    int64_t ready_ns;
    if (write_yaml(&f, k, uses, &xo) != 0 || (ready_ns = flow_start(&f, bin)) < 0) {
        flow_stop(&f);
        return 1;
    }
    pid_t worker = first_child(f.pid);
    fh_client *cl;
    if (fh_client_new(f.address, &cl) != 0) {
        fprintf(stderr, "flow_bench: %s\n", fh_last_error());
        flow_stop(&f);
        return 1;
    }
    void *blob_buf = NULL;
    if (blob) {
        blob_buf = malloc(BENCH_BLOB_SIZE);
        for (size_t i = 0; i < BENCH_BLOB_SIZE; i++)
            ((unsigned char *)blob_buf)[i] = (unsigned char)(i * 31 + 7);
    }
    size_t env_size = 0, docs_size = 0;
    bench_frame_sizes((size_t)request_size, blob, (size_t)k, &env_size, &docs_size);
    run r = {.blob = blob_buf, .gw = f.pid, .worker = worker};
    /* Warm up (connections, allocator), then the idle footprint. */
    if (post(cl, &(run){.blob = blob_buf}, (size_t)warmup, (size_t)request_size, (unsigned)window) != 0)
        goto fail;
    usleep(200000);
    long gw_idle = rss_kib(f.pid), worker_idle = rss_kib(worker);
    r.cap = (size_t)requests;
    r.sample_every = requests >= 40 ? (size_t)requests / 20 : 2;
    r.done_at = malloc(r.cap * sizeof *r.done_at);
    r.sent_at = malloc(r.cap * sizeof *r.sent_at);
    r.load_lat = malloc(r.cap * sizeof *r.load_lat);
    int64_t *lat = malloc(((size_t)lat_requests + 1) * sizeof *lat);
    for (int rep = 0; rep < reps; rep++) {
        r.gw_rss_max = r.worker_rss_max = 0;
        int64_t t0 = bench_now_ns();
        if (post(cl, &r, (size_t)requests, (size_t)request_size, (unsigned)window) != 0)
            goto fail;
        int64_t t1 = bench_now_ns();
        if (r.done != (size_t)requests || r.errors)
            fprintf(stderr, "flow_bench: %zu of %d answered, %zu errors\n", r.done, requests, r.errors);
        double secs = (double)(t1 - t0) / 1e9;
        size_t nl = r.done < r.cap ? r.done : r.cap;
        double load_p50 = bench_percentile(r.load_lat, nl, 50) / 1e3;
        double load_p99 = bench_percentile(r.load_lat, nl, 99) / 1e3;
        /* Latency: one request in flight; each gap between answers is one round trip
         * (the next request is built and sent right after an answer). */
        double p50 = 0, p99 = 0;
        if (lat_requests > 0) {
            run lr = {.blob = blob_buf, .done_at = lat + 1, .cap = (size_t)lat_requests};
            lat[0] = bench_now_ns();
            if (post(cl, &lr, (size_t)lat_requests, (size_t)request_size, 1) != 0)
                goto fail;
            for (int i = lat_requests; i > 0; i--)
                lat[i] -= lat[i - 1];
            p50 = bench_percentile(lat + 1, (size_t)lat_requests, 50) / 1e3;
            p99 = bench_percentile(lat + 1, (size_t)lat_requests, 99) / 1e3;
        }
        printf("{\"bench\":\"%s\",\"k\":%d,\"uses\":\"%s\",\"request_size\":%d,\"blob\":%d,"
               "\"window\":%d,\"requests\":%d,\"rep\":%d,\"env_size\":%zu,\"docs_size\":%zu,"
               "\"seconds\":%.4f,\"rps\":%.1f,\"bytes_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
               "\"load_p50_us\":%.1f,\"load_p99_us\":%.1f,\"replicas\":%d,\"credit\":%d,"
               "\"batching\":%d,\"ready_ms\":%.2f,\"host_rss_idle_kib\":%ld,\"host_rss_load_kib\":%ld,"
               "\"worker_rss_idle_kib\":%ld,\"worker_rss_load_kib\":%ld",
               label ? label : "flowhost", k, strcmp(uses, "pass") == 0 ? "pass" : "plugin",
               request_size, blob, window, requests, rep, env_size, docs_size, secs,
               requests / secs, (double)requests * docs_size / secs, p50, p99, load_p50, load_p99,
               xo.replicas ? xo.replicas : 1, xo.credit, xo.batching != NULL, ready_ns / 1e6,
               gw_idle, r.gw_rss_max, worker_idle, r.worker_rss_max);
        if (segments > 0) {
            printf(",\"segment_rps\":[");
            size_t per = (size_t)requests / (size_t)segments;
            for (int s = 0; s < segments; s++) {
                int64_t a = s == 0 ? t0 : r.done_at[s * per - 1];
                int64_t b = r.done_at[(s + 1) * per - 1];
                printf("%s%.1f", s ? "," : "", (double)per / ((double)(b - a) / 1e9));
            }
            printf("]");
        }
        printf("}\n");
        fflush(stdout);
    }
    free(lat);
    free(r.done_at);
    free(r.sent_at);
    free(r.load_lat);
    fh_client_destroy(&cl);
    flow_stop(&f);
    free(blob_buf);
    return 0;
fail:
    fh_client_destroy(&cl);
    flow_stop(&f);
    return 1;
}

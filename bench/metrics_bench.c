/* metrics_bench: what the gateway's metrics cost (host/gateway/metrics.c).
 *
 *   metrics_bench [--ops N] [--reps R]
 *
 * One JSON object per measure and repetition:
 *   {"bench":"metrics","op":OP,"ops":N,"seconds":S,"ns_per_op":X}
 * Operations, over a flow of 3 executors of 2 replicas with 32 endpoints seen:
 *   request_done     fh_metrics_request_done: a counter and a duration histogram, what
 *                    one answered request costs
 *   executor_call    fh_metrics_executor_call: two histograms (handler time, queue wait),
 *                    what one executor's reply costs
 *   endpoint_hit     fh_metrics_endpoint of an endpoint that has its series ("/search")
 *   endpoint_other   fh_metrics_endpoint of endpoints past the bound (each new, 1,000
 *                    names in turn): what a client sending random endpoints costs
 *   write            one scrape: fh_metrics_write of the whole registry into a reused
 *                    buffer (one op = one scrape; "bytes" says its size)
 * Durations cycle through 4096 values spread from 10 us to 100 s (log-uniform), so the
 * bucket search is not the same branch every time. */
#include "bench_common.h"

#include <getopt.h>

#include "metrics.h"

static void report(const char *op, size_t ops, int64_t ns, size_t bytes)
{
    printf("{\"bench\":\"metrics\",\"op\":\"%s\",\"ops\":%zu,\"seconds\":%.6f,"
           "\"ns_per_op\":%.1f",
           op, ops, (double)ns / 1e9, ops ? (double)ns / (double)ops : 0.0);
    if (bytes)
        printf(",\"bytes\":%zu", bytes);
    printf("}\n");
    fflush(stdout);
}

static void die(const char *what)
{
    fprintf(stderr, "metrics_bench: %s failed\n", what);
    exit(1);
}

#define N_DURATIONS 4096

static void run(size_t ops)
{
    static const fh_metrics_unit units[] = {
        {.executor = "encoder", .replicas = 2, .batching = true},
        {.executor = "ranker", .replicas = 2},
        {.executor = "indexer", .replicas = 2},
    };
    fh_metrics_layout layout = {.units = units, .n_units = 3};
    fh_metrics *m;
    if (fh_metrics_new(&layout, &m) != 0)
        die("fh_metrics_new");
    int ids[FH_METRICS_ENDPOINTS_DEFAULT];
    for (int i = 0; i < FH_METRICS_ENDPOINTS_DEFAULT; i++) {
        char name[32];
        snprintf(name, sizeof name, i == 1 ? "/search" : "/endpoint-%d", i);
        ids[i] = fh_metrics_endpoint(m, name);
    }
    static int64_t durations[N_DURATIONS];
    uint64_t x = 88172645463325252ull; /* xorshift: the same values every run */
    for (size_t i = 0; i < N_DURATIONS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double e = 1.0 + 7.0 * (double)(x % 1000000) / 1e6; /* 10^1 .. 10^8 us */
        double us = 1;
        for (int k = 0; k < (int)e; k++)
            us *= 10;
        us *= 1.0 + 9.0 * (e - (int)e);
        durations[i] = (int64_t)us;
    }

    int64_t t0 = bench_now_ns();
    for (size_t i = 0; i < ops; i++)
        fh_metrics_request_done(m, ids[i % FH_METRICS_ENDPOINTS_DEFAULT],
                                (fh_metrics_status)(i & 1), durations[i % N_DURATIONS]);
    report("request_done", ops, bench_now_ns() - t0, 0);

    t0 = bench_now_ns();
    for (size_t i = 0; i < ops; i++)
        fh_metrics_executor_call(m, i % 3, (uint32_t)(i >> 2) & 1, durations[i % N_DURATIONS],
                                 durations[(i + 7) % N_DURATIONS]);
    report("executor_call", ops, bench_now_ns() - t0, 0);

    int sum = 0;
    t0 = bench_now_ns();
    for (size_t i = 0; i < ops; i++)
        sum += fh_metrics_endpoint(m, "/search");
    report("endpoint_hit", ops, bench_now_ns() - t0, 0);
    if (sum != (int)ops)
        die("endpoint_hit");

    static char names[1000][24];
    for (size_t i = 0; i < 1000; i++)
        snprintf(names[i], sizeof names[i], "/random-%zu", i);
    sum = 0;
    t0 = bench_now_ns();
    for (size_t i = 0; i < ops; i++)
        sum += fh_metrics_endpoint(m, names[i % 1000]) == FH_METRICS_ENDPOINTS_DEFAULT;
    report("endpoint_other", ops, bench_now_ns() - t0, 0);
    if (sum != (int)ops)
        die("endpoint_other");

    fh_prom_buf b = {0};
    size_t scrapes = ops / 10000 ? ops / 10000 : 1;
    t0 = bench_now_ns();
    for (size_t i = 0; i < scrapes; i++) {
        b.len = 0;
        if (fh_metrics_write(m, &b) != 0)
            die("fh_metrics_write");
    }
    report("write", scrapes, bench_now_ns() - t0, b.len);
    fh_prom_buf_free(&b);
    fh_metrics_destroy(&m);
}

int main(int argc, char **argv)
{
    size_t ops = 10000000;
    int reps = 1;
    static const struct option opts[] = {
        {"ops", required_argument, NULL, 'o'}, {"reps", required_argument, NULL, 'r'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o': ops = strtoull(optarg, NULL, 10); break;
        case 'r': reps = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: metrics_bench [--ops N] [--reps R]\n");
            return 2;
        }
    }
    if (ops == 0 || ops > (size_t)1 << 40) {
        fprintf(stderr, "metrics_bench: --ops wants 1 to 2^40\n");
        return 2;
    }
    for (int r = 0; r < reps; r++)
        run(ops);
    return 0;
}

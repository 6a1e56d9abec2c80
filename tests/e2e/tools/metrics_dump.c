/* metrics_dump: prints the metrics of a populated flow, as `GET /metrics` would serve
 * them, for test_metrics_format.sh to give to `promtool check metrics`.
 *
 * The flow: an executor with two replicas and dynamic batching, a sharded one, and one
 * whose name holds every character a label value must escape (quote, backslash, newline)
 * and a byte that is not UTF-8. Requests are answered on more endpoints than have series
 * of their own, odd ones among them (quotes, a backslash, a newline; invalid UTF-8 and
 * "other" while there is still room, which must not get series of their own), with
 * durations in every bucket and past the last; every error kind, restarts and the gauges
 * are set. Prints the exposition on stdout; exits 0, or 1 with a one-line reason on
 * stderr. */
#include <stdio.h>
#include <stdlib.h>

#include <flowhost/error.h>

#include "metrics.h"

int main(void)
{
    static const fh_metrics_unit units[] = {
        {.executor = "encoder", .shard = 0, .replicas = 2, .batching = true},
        {.executor = "indexer", .shard = 0, .replicas = 1},
        {.executor = "indexer", .shard = 1, .replicas = 1},
        {.executor = "odd \"name\" \\ with\na newline and \xff", .shard = 0, .replicas = 1},
    };
    fh_metrics_layout layout = {.units = units, .n_units = 4, .max_endpoints = 8};
    fh_metrics *m;
    if (fh_metrics_new(&layout, &m) != 0) {
        fprintf(stderr, "metrics_dump: %s\n", fh_last_error());
        return 1;
    }

    static const char *const endpoints[] = {
        "/index", "other", "/bad\xc3", "/search", "/update", "/delete", "/say \"hi\"",
        "/back\\slash", "/new\nline", "/caf\xc3\xa9", "/ninth", "/tenth", NULL};
    /* Durations from 0 to 2 minutes, 37 ms apart and then some: every bucket and +Inf. */
    unsigned n = 0;
    for (size_t i = 0; endpoints[i]; i++) {
        int id = fh_metrics_endpoint(m, endpoints[i]);
        for (int64_t us = 0; us < 120000000; us = us * 3 + 37)
            fh_metrics_request_done(m, id, (fh_metrics_status)(n++ % FH_METRICS_N_STATUS), us);
    }
    for (size_t u = 0; u < 4; u++) {
        for (uint32_t r = 0; r < units[u].replicas; r++) {
            for (int64_t us = 1; us < 90000000; us *= 2)
                fh_metrics_executor_call(m, u, r, us, us / 3);
            for (uint64_t docs = 1; docs < 40000; docs = docs * 5 + 1)
                fh_metrics_batch(m, u, r, docs);
            fh_metrics_worker_restart(m, u, r);
            fh_metrics_set_worker(m, u, r, r + 1);
        }
        for (int k = 0; k < FH_METRICS_N_ERROR_KIND; k++)
            fh_metrics_executor_error(m, u, (fh_metrics_error_kind)k);
        fh_metrics_set_unit(m, u, 3 * u, units[u].replicas);
    }
    fh_metrics_set_flow(m, 17, 123456);

    fh_prom_buf out = {0};
    int rc = fh_metrics_write(m, &out);
    if (rc == 0 && fwrite(out.data, 1, out.len, stdout) != out.len)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "metrics_dump: %s\n", rc == -1 ? "cannot write" : fh_last_error());
    fh_prom_buf_free(&out);
    fh_metrics_destroy(&m);
    return rc == 0 ? 0 : 1;
}

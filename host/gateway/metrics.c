/* The flow's metrics: the one table that declares them, the label values of the flow's
 * layout, the endpoint bound, and the calls the gateway makes (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "siphash.h"

/* ---- the metric set ---- */

/* The dimensions (label tuples) the families are built over. */
enum {
    D_ENDPOINT,   /* endpoint: max_endpoints rows, then "other" */
    D_STATUS,     /* status: fh_metrics_status */
    D_UNIT,       /* executor, shard */
    D_WORKER,     /* executor, shard, replica: every replica of every unit */
    D_BATCH,      /* executor, shard, replica: the replicas of batching units */
    D_KIND,       /* kind: fh_metrics_error_kind */
    N_DIMS
};

/* Bucket sets. Latencies in microseconds, printed in seconds: from 100 us (a pass-through
 * executor's round trip) to 60 s (past the default timeouts), in 1-2.5-5 steps. Batch
 * sizes in documents: powers of two to 16384. */
static const uint64_t latency_us[] = {
    100,    250,    500,     1000,    2500,    5000,     10000,    25000,    50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
static const uint64_t batch_docs[] = {1,   2,   4,    8,    16,   32,   64,   128,
                                      256, 512, 1024, 2048, 4096, 8192, 16384};

enum {
    F_REQUESTS,
    F_REQUEST_DURATION,
    F_IN_FLIGHT,
    F_IN_FLIGHT_BYTES,
    F_HTTP_CONNECTIONS,
    F_EXEC_DURATION,
    F_EXEC_WAIT,
    F_EXEC_ERRORS,
    F_RESTARTS,
    F_RELOADS,
    F_QUEUED,
    F_HELD,
    F_REPLICAS,
    F_REPLICAS_READY,
    F_BATCH,
    N_FAMS
};

#define NONE (-1)
#define LATENCY latency_us, sizeof latency_us / sizeof *latency_us, 1000000
#define BATCH_DOCS batch_docs, sizeof batch_docs / sizeof *batch_docs, 1
#define PLAIN NULL, 0, 1

/* Every metric of the flow, in the order a scrape prints them. docs/observability.md
 * describes each for users: keep the two together. */
static const struct metric_def {
    const char *name;
    fh_prom_type type;
    int dims[2];              /* NONE-terminated */
    const uint64_t *bounds;
    size_t n_bounds;
    uint64_t scale;
    const char *help;
} defs[N_FAMS] = {
    [F_REQUESTS] = {"flowhost_requests_total", FH_PROM_COUNTER, {D_ENDPOINT, D_STATUS}, PLAIN,
                    "Requests answered or rejected by the gateway, by endpoint and status "
                    "(success, error, timeout, rejected, cancelled)."},
    [F_REQUEST_DURATION] = {"flowhost_request_duration_seconds", FH_PROM_HISTOGRAM,
                            {D_ENDPOINT, NONE}, LATENCY,
                            "Time from a request's arrival at the gateway to its answer, by "
                            "endpoint (rejected and cancelled requests are not counted)."},
    [F_IN_FLIGHT] = {"flowhost_requests_in_flight", FH_PROM_GAUGE, {NONE}, PLAIN,
                     "Requests accepted by the gateway and not answered yet."},
    [F_IN_FLIGHT_BYTES] = {"flowhost_requests_in_flight_bytes", FH_PROM_GAUGE, {NONE}, PLAIN,
                           "Bytes of documents the gateway holds for the requests in "
                           "flight."},
    [F_HTTP_CONNECTIONS] = {"flowhost_http_connections", FH_PROM_GAUGE, {NONE}, PLAIN,
                            "Open connections to the HTTP gateway (0 without it)."},
    [F_EXEC_DURATION] = {"flowhost_executor_duration_seconds", FH_PROM_HISTOGRAM,
                         {D_WORKER, NONE}, LATENCY,
                         "Time a handler call took, by executor, shard and replica."},
    [F_EXEC_WAIT] = {"flowhost_executor_queue_wait_seconds", FH_PROM_HISTOGRAM,
                     {D_WORKER, NONE}, LATENCY,
                     "Time a request waited at an executor before its handler started "
                     "(at the gateway, then queued at the worker), by executor, shard and "
                     "replica."},
    [F_EXEC_ERRORS] = {"flowhost_executor_errors_total", FH_PROM_COUNTER, {D_UNIT, D_KIND},
                       PLAIN,
                       "Requests an executor failed, by kind: handler (the handler returned "
                       "an error), crash (its worker died), timeout, unavailable (no "
                       "replica could take it)."},
    [F_RESTARTS] = {"flowhost_worker_restarts_total", FH_PROM_COUNTER, {D_WORKER, NONE},
                    PLAIN, "Worker processes started again after the replica's first (a crash, "
                    "a timeout, a missed heartbeat, a probe), not by a reload."},
    [F_RELOADS] = {"flowhost_worker_reloads_total", FH_PROM_COUNTER, {D_WORKER, NONE}, PLAIN,
                   "Worker processes started by a rolling reload to replace the replica's."},
    [F_QUEUED] = {"flowhost_executor_queued_requests", FH_PROM_GAUGE, {D_UNIT, NONE}, PLAIN,
                  "Requests waiting at the gateway for a replica of the executor with "
                  "room."},
    [F_HELD] = {"flowhost_worker_held_requests", FH_PROM_GAUGE, {D_WORKER, NONE}, PLAIN,
                "Requests sent to a replica and not answered yet (running or queued at "
                "the worker, at most its credit)."},
    [F_REPLICAS] = {"flowhost_executor_replicas", FH_PROM_GAUGE, {D_UNIT, NONE}, PLAIN,
                    "Replicas the executor's shard is declared with."},
    [F_REPLICAS_READY] = {"flowhost_executor_replicas_ready", FH_PROM_GAUGE, {D_UNIT, NONE},
                          PLAIN,
                          "Replicas of the executor's shard ready to take requests."},
    [F_BATCH] = {"flowhost_executor_batch_size", FH_PROM_HISTOGRAM, {D_BATCH, NONE},
                 BATCH_DOCS,
                 "Documents per handler call of an executor with dynamic batching."},
};

static const char *const status_names[FH_METRICS_N_STATUS] = {"success", "error", "timeout",
                                                              "rejected", "cancelled"};
static const char *const kind_names[FH_METRICS_N_ERROR_KIND] = {"handler", "crash",
                                                                "timeout", "unavailable"};

/* ---- the registry of one flow ---- */

typedef struct unit_info {
    uint32_t replicas;
    size_t worker_row;        /* its first replica's row in D_WORKER */
    size_t batch_row;         /* ...in D_BATCH; SIZE_MAX: no batching */
} unit_info;

struct fh_metrics {
    fh_prom *prom;
    int dim[N_DIMS];
    int fam[N_FAMS];
    unit_info *units;
    size_t n_units;
    char **strings;           /* label values of the layout (executors, shards, replicas):
                                 owned, borrowed by the registry's rows */
    size_t n_strings;
    /* Endpoints: a table of max_endpoints names of FH_METRICS_ENDPOINT_MAX + 1 bytes,
     * allocated whole, and an index of them by keyed hash (open addressing, at most half
     * full). */
    size_t max_endpoints;
    size_t n_endpoints;
    char *names;
    int *index;               /* index_mask + 1 entries: an endpoint id, -1 free */
    size_t index_mask;
    bool other_used;          /* the "other" row has its value */
};

/* A copy of S (or of the formatted number N when S is NULL), kept in M for its life. */
static const char *keep(fh_metrics *m, const char *s, uint64_t n)
{
    char num[24], *copy;
    if (!s) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)n);
        s = num;
    }
    if (!(copy = strdup(s)))
        return NULL;
    m->strings[m->n_strings++] = copy;
    return copy;
}

static int fail_nomem(void)
{
    return fh_set_error(FH_E_NOMEM, "metrics: out of memory");
}

/* Gives the unit and worker rows their label values. */
static int layout_rows(fh_metrics *m, const fh_metrics_layout *l)
{
    size_t worker = 0, batch = 0;
    for (size_t u = 0; u < l->n_units; u++) {
        const fh_metrics_unit *unit = &l->units[u];
        const char *name = keep(m, unit->executor, 0), *shard = keep(m, NULL, unit->shard);
        if (!name || !shard)
            return fail_nomem();
        const char *vals[3] = {name, shard, NULL};
        if (fh_prom_dim_row(m->prom, m->dim[D_UNIT], u, vals) != 0)
            return FH_E_INVAL;
        for (uint32_t r = 0; r < unit->replicas; r++) {
            if (!(vals[2] = keep(m, NULL, r)))
                return fail_nomem();
            if (fh_prom_dim_row(m->prom, m->dim[D_WORKER], worker++, vals) != 0 ||
                (unit->batching && fh_prom_dim_row(m->prom, m->dim[D_BATCH], batch++, vals) != 0))
                return FH_E_INVAL;
        }
    }
    for (size_t s = 0; s < FH_METRICS_N_STATUS; s++)
        if (fh_prom_dim_row(m->prom, m->dim[D_STATUS], s, &status_names[s]) != 0)
            return FH_E_INVAL;
    for (size_t k = 0; k < FH_METRICS_N_ERROR_KIND; k++)
        if (fh_prom_dim_row(m->prom, m->dim[D_KIND], k, &kind_names[k]) != 0)
            return FH_E_INVAL;
    return 0;
}

static int build(fh_metrics *m, const fh_metrics_layout *l)
{
    size_t workers = 0, batching = 0;
    for (size_t u = 0; u < l->n_units; u++) {
        const fh_metrics_unit *unit = &l->units[u];
        if (!unit->executor || unit->replicas == 0)
            return fh_set_error(FH_E_INVAL, "metrics: unit %zu has no executor name or no "
                                "replicas", u);
        if (unit->replicas > FH_PROM_MAX_SERIES - workers)
            return fh_set_error(FH_E_INVAL, "metrics: too many replicas");
        m->units[u].replicas = unit->replicas;
        m->units[u].worker_row = workers;
        m->units[u].batch_row = unit->batching ? batching : SIZE_MAX;
        workers += unit->replicas;
        batching += unit->batching ? unit->replicas : 0;
    }
    if (!(m->strings = calloc(2 * l->n_units + workers, sizeof *m->strings)))
        return fail_nomem();

    static const char *const endpoint[] = {"endpoint"}, *const status[] = {"status"},
                             *const unit[] = {"executor", "shard"},
                             *const worker[] = {"executor", "shard", "replica"},
                             *const kind[] = {"kind"};
    /* A dimension has at least one row: an empty one (no executors, no batching) gets a
     * row that is never given values, so its families print nothing. */
    struct {
        const char *const *labels;
        size_t n, rows;
    } dims[N_DIMS] = {
        [D_ENDPOINT] = {endpoint, 1, m->max_endpoints + 1},
        [D_STATUS] = {status, 1, FH_METRICS_N_STATUS},
        [D_UNIT] = {unit, 2, l->n_units ? l->n_units : 1},
        [D_WORKER] = {worker, 3, workers ? workers : 1},
        [D_BATCH] = {worker, 3, batching ? batching : 1},
        [D_KIND] = {kind, 1, FH_METRICS_N_ERROR_KIND},
    };
    for (int d = 0; d < N_DIMS; d++)
        if ((m->dim[d] = fh_prom_dim(m->prom, dims[d].labels, dims[d].n, dims[d].rows)) < 0)
            return m->dim[d];
    for (int f = 0; f < N_FAMS; f++) {
        const struct metric_def *def = &defs[f];
        int ids[2];
        size_t n = 0;
        while (n < 2 && def->dims[n] != NONE) {
            ids[n] = m->dim[def->dims[n]];
            n++;
        }
        m->fam[f] = fh_prom_family(m->prom, def->name, def->help, def->type, ids, n,
                                   def->bounds, def->n_bounds, def->scale);
        if (m->fam[f] < 0)
            return m->fam[f];
    }
    int rc = layout_rows(m, l);
    if (rc != 0)
        return rc;
    for (size_t u = 0; u < l->n_units; u++)
        fh_prom_set(m->prom, m->fam[F_REPLICAS], u, l->units[u].replicas);
    return 0;
}

int fh_metrics_new(const fh_metrics_layout *l, fh_metrics **out)
{
    *out = NULL;
    size_t max = l->max_endpoints ? l->max_endpoints : FH_METRICS_ENDPOINTS_DEFAULT;
    if (max > FH_METRICS_ENDPOINTS_MAX)
        return fh_set_error(FH_E_INVAL, "metrics: at most %d endpoints may have series of "
                            "their own, not %zu", FH_METRICS_ENDPOINTS_MAX, max);
    if (l->n_units && !l->units)
        return fh_set_error(FH_E_INVAL, "metrics: no units");
    fh_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return fail_nomem();
    m->max_endpoints = max;
    m->n_units = l->n_units;
    size_t slots = 1;
    while (slots < 2 * max)
        slots *= 2;
    m->index_mask = slots - 1;
    m->units = calloc(l->n_units ? l->n_units : 1, sizeof *m->units);
    m->names = calloc(max, FH_METRICS_ENDPOINT_MAX + 1);
    m->index = malloc(slots * sizeof *m->index);
    int rc = !m->units || !m->names || !m->index ? fail_nomem() : fh_prom_new(&m->prom);
    if (rc == 0) {
        for (size_t i = 0; i < slots; i++)
            m->index[i] = -1;
        rc = build(m, l);
    }
    if (rc != 0) {
        fh_metrics_destroy(&m);
        return rc;
    }
    *out = m;
    return 0;
}

void fh_metrics_destroy(fh_metrics **mp)
{
    if (!mp || !*mp)
        return;
    fh_metrics *m = *mp;
    fh_prom_destroy(&m->prom);
    for (size_t i = 0; i < m->n_strings; i++)
        free(m->strings[i]);
    free(m->strings);
    free(m->units);
    free(m->names);
    free(m->index);
    free(m);
    *mp = NULL;
}

/* ---- endpoints ---- */

static int other(fh_metrics *m)
{
    if (!m->other_used) {
        static const char *const value[] = {FH_METRICS_OTHER};
        fh_prom_dim_row(m->prom, m->dim[D_ENDPOINT], m->max_endpoints, value);
        m->other_used = true;
    }
    return (int)m->max_endpoints;
}

int fh_metrics_endpoint(fh_metrics *m, const char *endpoint)
{
    size_t len = endpoint ? strnlen(endpoint, FH_METRICS_ENDPOINT_MAX + 1) : 0;
    /* "other" itself goes with the others: a series of its own would print the label set
     * of the overflow series twice. */
    if (!endpoint || len > FH_METRICS_ENDPOINT_MAX || strcmp(endpoint, FH_METRICS_OTHER) == 0)
        return other(m);
    size_t i = (size_t)fh_siphash(endpoint, len) & m->index_mask;
    for (; m->index[i] >= 0; i = (i + 1) & m->index_mask) {
        const char *name = m->names + (size_t)m->index[i] * (FH_METRICS_ENDPOINT_MAX + 1);
        if (memcmp(name, endpoint, len + 1) == 0)
            return m->index[i];
    }
    /* Invalid UTF-8 is checked only here, for a new name: two names that differ only in
     * invalid bytes would be printed alike (prom.h), so neither gets a series. */
    if (m->n_endpoints == m->max_endpoints || !fh_prom_utf8_valid(endpoint, len))
        return other(m);
    int id = (int)m->n_endpoints++;
    char *name = m->names + (size_t)id * (FH_METRICS_ENDPOINT_MAX + 1);
    memcpy(name, endpoint, len + 1);
    m->index[i] = id;
    const char *value[] = {name};
    fh_prom_dim_row(m->prom, m->dim[D_ENDPOINT], (size_t)id, value);
    return id;
}

/* ---- events ---- */

static uint64_t us(int64_t v)
{
    return v > 0 ? (uint64_t)v : 0;
}

void fh_metrics_request_done(fh_metrics *m, int endpoint, fh_metrics_status status,
                             int64_t duration_us)
{
    if (endpoint < 0 || (size_t)endpoint > m->max_endpoints || (unsigned)status >= FH_METRICS_N_STATUS)
        return;
    /* An id not handed out yet has no values in its row: it would count unseen. */
    if ((size_t)endpoint == m->max_endpoints ? !m->other_used
                                             : (size_t)endpoint >= m->n_endpoints)
        return;
    fh_prom_add(m->prom, m->fam[F_REQUESTS],
                (size_t)endpoint * FH_METRICS_N_STATUS + (size_t)status, 1);
    if (status != FH_METRICS_REJECTED && status != FH_METRICS_CANCELLED)
        fh_prom_observe(m->prom, m->fam[F_REQUEST_DURATION], (size_t)endpoint,
                        us(duration_us));
}

/* The D_WORKER row of REPLICA of UNIT, or SIZE_MAX. */
static size_t worker_row(const fh_metrics *m, size_t unit, uint32_t replica)
{
    if (unit >= m->n_units || replica >= m->units[unit].replicas)
        return SIZE_MAX;
    return m->units[unit].worker_row + replica;
}

void fh_metrics_executor_call(fh_metrics *m, size_t unit, uint32_t replica,
                              int64_t handler_us, int64_t wait_us)
{
    size_t row = worker_row(m, unit, replica);
    if (row == SIZE_MAX)
        return;
    fh_prom_observe(m->prom, m->fam[F_EXEC_DURATION], row, us(handler_us));
    fh_prom_observe(m->prom, m->fam[F_EXEC_WAIT], row, us(wait_us));
}

void fh_metrics_batch(fh_metrics *m, size_t unit, uint32_t replica, uint64_t docs)
{
    if (worker_row(m, unit, replica) == SIZE_MAX || m->units[unit].batch_row == SIZE_MAX)
        return;
    fh_prom_observe(m->prom, m->fam[F_BATCH], m->units[unit].batch_row + replica, docs);
}

void fh_metrics_executor_error(fh_metrics *m, size_t unit, fh_metrics_error_kind kind)
{
    if (unit >= m->n_units || (unsigned)kind >= FH_METRICS_N_ERROR_KIND)
        return;
    fh_prom_add(m->prom, m->fam[F_EXEC_ERRORS], unit * FH_METRICS_N_ERROR_KIND + kind, 1);
}

void fh_metrics_worker_restart(fh_metrics *m, size_t unit, uint32_t replica)
{
    size_t row = worker_row(m, unit, replica);
    if (row != SIZE_MAX)
        fh_prom_add(m->prom, m->fam[F_RESTARTS], row, 1);
}

void fh_metrics_worker_reload(fh_metrics *m, size_t unit, uint32_t replica)
{
    size_t row = worker_row(m, unit, replica);
    if (row != SIZE_MAX)
        fh_prom_add(m->prom, m->fam[F_RELOADS], row, 1);
}

/* ---- gauges ---- */

static int64_t gauge(uint64_t v)
{
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

void fh_metrics_set_flow(fh_metrics *m, uint64_t in_flight, uint64_t in_flight_bytes)
{
    fh_prom_set(m->prom, m->fam[F_IN_FLIGHT], 0, gauge(in_flight));
    fh_prom_set(m->prom, m->fam[F_IN_FLIGHT_BYTES], 0, gauge(in_flight_bytes));
}

void fh_metrics_set_http(fh_metrics *m, uint64_t connections)
{
    fh_prom_set(m->prom, m->fam[F_HTTP_CONNECTIONS], 0, gauge(connections));
}

void fh_metrics_set_unit(fh_metrics *m, size_t unit, uint64_t queued, uint32_t ready)
{
    if (unit >= m->n_units)
        return;
    fh_prom_set(m->prom, m->fam[F_QUEUED], unit, gauge(queued));
    fh_prom_set(m->prom, m->fam[F_REPLICAS_READY], unit, ready);
}

void fh_metrics_set_worker(fh_metrics *m, size_t unit, uint32_t replica, uint64_t held)
{
    size_t row = worker_row(m, unit, replica);
    if (row != SIZE_MAX)
        fh_prom_set(m->prom, m->fam[F_HELD], row, gauge(held));
}

/* ---- read back ---- */

double fh_metrics_request_quantile(const fh_metrics *m, int endpoint, double q)
{
    if (endpoint >= 0 && (size_t)endpoint > m->max_endpoints)
        return NAN;
    return fh_prom_quantile(m->prom, m->fam[F_REQUEST_DURATION],
                            endpoint >= 0 ? (size_t)endpoint : 0,
                            endpoint >= 0 ? 1 : m->max_endpoints + 1, q);
}

double fh_metrics_executor_quantile(const fh_metrics *m, size_t unit, double q)
{
    if (unit >= m->n_units)
        return NAN;
    return fh_prom_quantile(m->prom, m->fam[F_EXEC_DURATION], m->units[unit].worker_row,
                            m->units[unit].replicas, q);
}

int fh_metrics_write(const fh_metrics *m, fh_prom_buf *out)
{
    return fh_prom_write(m->prom, out);
}

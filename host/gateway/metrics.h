/* The flow's metrics: what the gateway counts and `GET /metrics` prints, declared in one
 * table (metrics.c), described for users in docs/observability.md.
 *
 * Built once when the flow starts, from its layout (the executors' shards and replicas,
 * in the gateway's order): every series exists from then on, so memory and the size of
 * a scrape are bounded by construction. The one label whose values come from outside is
 * the endpoint (clients name it): the first MAX_ENDPOINTS distinct endpoints get series
 * of their own, in the order they are first seen (the gateway may name the ones it
 * expects first, at start, with fh_metrics_endpoint); every later one, and any endpoint
 * that is longer than FH_METRICS_ENDPOINT_MAX bytes, is not valid UTF-8 or is spelt
 * "other", is counted under endpoint="other". A client sending random endpoints thus
 * adds no series past that bound, at worst it takes the free ones.
 *
 * The gateway feeds it plain numbers: the events as they happen (a request answered, an
 * executor's call, a worker restarted, an error), which cost an index into an array, no
 * allocation, no string, no lock (bench/metrics_bench.c measures them); and its gauges
 * (requests in flight, queued, replicas ready) set from its state just before each
 * scrape, with the fh_metrics_set_* calls.
 *
 * Single-threaded: the gateway's loop calls everything here. */
#ifndef FH_GATEWAY_METRICS_H
#define FH_GATEWAY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prom.h"

#define FH_METRICS_ENDPOINTS_DEFAULT 32 /* endpoints with series of their own, default */
#define FH_METRICS_ENDPOINTS_MAX 1024   /* ...and at most */
#define FH_METRICS_ENDPOINT_MAX 256     /* longest endpoint with a series of its own */
#define FH_METRICS_OTHER "other"        /* the endpoint label of all the others */
#define FH_METRICS_CONTENT_TYPE FH_PROM_CONTENT_TYPE

/* How a request ended: the `status` label of flowhost_requests_total. */
typedef enum fh_metrics_status {
    FH_METRICS_SUCCESS,   /* answered, status SUCCESS */
    FH_METRICS_ERROR,     /* answered with an error from an executor or the gateway */
    FH_METRICS_TIMEOUT,   /* answered with an error past its deadline */
    FH_METRICS_REJECTED,  /* refused at the door: the flow full for a no_wait caller, or
                             draining; it never entered the flow */
    FH_METRICS_CANCELLED, /* its client went away before the answer (an HTTP connection
                             closed while it waited): nobody was answered */
    FH_METRICS_N_STATUS
} fh_metrics_status;

/* Why an executor failed a request: the `kind` label of flowhost_executor_errors_total. */
typedef enum fh_metrics_error_kind {
    FH_METRICS_E_HANDLER,     /* the handler returned an error */
    FH_METRICS_E_CRASH,       /* its worker died while holding the request */
    FH_METRICS_E_TIMEOUT,     /* the executor's timeout passed */
    FH_METRICS_E_UNAVAILABLE, /* no replica could take it (all down, circuit open) */
    FH_METRICS_N_ERROR_KIND
} fh_metrics_error_kind;

/* One unit of the flow: an executor's shard (an executor without shards is one unit),
 * with its replicas. Units are numbered in the order given, the gateway's g->execs. */
typedef struct fh_metrics_unit {
    const char *executor;   /* the executor's name (copied) */
    uint32_t shard;         /* its shard, 0 without shards */
    uint32_t replicas;      /* 1.. */
    bool batching;          /* dynamic batching on for one of its endpoints: the batch
                               size histogram has series for its replicas */
} fh_metrics_unit;

typedef struct fh_metrics_layout {
    const fh_metrics_unit *units;
    size_t n_units;
    size_t max_endpoints;   /* endpoints with series of their own; 0: the default */
} fh_metrics_layout;

typedef struct fh_metrics fh_metrics;

/* Builds the metrics of LAYOUT (read only; nothing of it is kept) into *OUT, the caller
 * destroying it with fh_metrics_destroy. Every series is allocated here, none later.
 * Returns 0, or FH_E_INVAL (a unit without executor name or replicas, more than
 * FH_METRICS_ENDPOINTS_MAX endpoints, too many series) or FH_E_NOMEM, with *OUT NULL and
 * fh_last_error() saying why. */
int fh_metrics_new(const fh_metrics_layout *layout, fh_metrics **out);

/* Frees M and sets *M to NULL; M or *M may be NULL. */
void fh_metrics_destroy(fh_metrics **m);

/* The id of ENDPOINT (a NUL-terminated string, may be NULL) for fh_metrics_request_done:
 * its own series' (0..max_endpoints-1), given it the first time it is seen while there is
 * room, or max_endpoints, the id of "other" (see the top of this file). Never fails and
 * never allocates (the room for every endpoint's name is taken by fh_metrics_new); costs a
 * keyed hash of the endpoint and a compare. The gateway may keep the id with the request. */
int fh_metrics_endpoint(fh_metrics *m, const char *endpoint);

/* A request answered (or rejected) after DURATION_US microseconds at the gateway:
 * counts it under its endpoint id ENDPOINT and STATUS, and records its duration, unless
 * it was rejected (it never entered the flow: its time would skew the latencies) or
 * cancelled (nobody was answered: its time is its client's patience).
 * An id or status out of range is ignored; a negative duration counts as 0. */
void fh_metrics_request_done(fh_metrics *m, int endpoint, fh_metrics_status status,
                             int64_t duration_us);

/* A handler call on replica REPLICA of unit UNIT: HANDLER_US its duration, WAIT_US how
 * long the request waited before it started (at the gateway and in the worker's queue).
 * Out of range: ignored; negative durations count as 0. */
void fh_metrics_executor_call(fh_metrics *m, size_t unit, uint32_t replica,
                              int64_t handler_us, int64_t wait_us);

/* A handler call of a batching unit took DOCS documents. Ignored for a unit without
 * batching, or out of range. */
void fh_metrics_batch(fh_metrics *m, size_t unit, uint32_t replica, uint64_t docs);

/* UNIT failed a request for KIND. Out of range: ignored. */
void fh_metrics_executor_error(fh_metrics *m, size_t unit, fh_metrics_error_kind kind);

/* A new worker process was started for replica REPLICA of UNIT after its first one (a
 * restart: a crash, a timeout, a probe; not a reload). Out of range: ignored. */
void fh_metrics_worker_restart(fh_metrics *m, size_t unit, uint32_t replica);

/* A rolling reload started a new worker process to replace replica REPLICA of UNIT's.
 * Out of range: ignored. */
void fh_metrics_worker_reload(fh_metrics *m, size_t unit, uint32_t replica);

/* The gauges, set from the gateway's state before a scrape (out of range: ignored). */

/* Requests accepted and not answered, and the bytes of documents held for them. */
void fh_metrics_set_flow(fh_metrics *m, uint64_t in_flight, uint64_t in_flight_bytes);

/* Connections open to the HTTP gateway (accepted and not closed yet). */
void fh_metrics_set_http(fh_metrics *m, uint64_t connections);

/* UNIT: requests waiting at the gateway for a replica with room, and replicas ready. */
void fh_metrics_set_unit(fh_metrics *m, size_t unit, uint64_t queued, uint32_t ready);

/* Requests sent to replica REPLICA of UNIT and not answered yet (its credit in use). */
void fh_metrics_set_worker(fh_metrics *m, size_t unit, uint32_t replica, uint64_t held);

/* Read back, for a status page: the Q quantile (0..1), in seconds, of the durations of
 * the requests answered on endpoint id ENDPOINT (or on every endpoint when ENDPOINT is
 * negative), or of the handler calls of UNIT (every replica), estimated as Prometheus'
 * histogram_quantile() would from the same buckets (fh_prom_quantile). NaN when nothing
 * was observed there yet, or out of range. */
double fh_metrics_request_quantile(const fh_metrics *m, int endpoint, double q);
double fh_metrics_executor_quantile(const fh_metrics *m, size_t unit, double q);

/* Appends every metric to OUT in Prometheus' text format 0.0.4 (prom.h says how, and
 * who owns OUT), to be served with the content type FH_METRICS_CONTENT_TYPE. Returns 0,
 * or FH_E_NOMEM (OUT's contents are then to be discarded). */
int fh_metrics_write(const fh_metrics *m, fh_prom_buf *out);

#endif

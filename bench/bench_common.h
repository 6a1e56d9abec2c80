/* Shared by the benchmark programs: clocks, statistics, the documents every benchmark
 * sends, and the sizes of the frames flowhost puts on the wire for them (computed with
 * the SDK's own codec, so that the raw ZeroMQ baseline moves exactly as many bytes). */
#ifndef FH_BENCH_COMMON_H
#define FH_BENCH_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flowhost/document.h>
#include <flowhost/value.h>

#include "codec.h"

#define BENCH_BLOB_SIZE (1u << 20)

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentile P (0..100) of N samples; sorts V in place. */
static inline int64_t bench_percentile(int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, bench_cmp_i64);
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* The small text document number I (about 40 bytes of text, an id). */
static inline fh_doc *bench_text_doc(uint64_t i)
{
    char text[96], id[32];
    snprintf(id, sizeof id, "doc-%08llu", (unsigned long long)i);
    snprintf(text, sizeof text, "hello world, this is small document %08llu",
             (unsigned long long)i);
    fh_doc *d = fh_doc_new();
    if (d == NULL || fh_doc_set_id(d, id) != 0 || fh_doc_set_text(d, text) != 0) {
        fh_doc_destroy(&d);
        return NULL;
    }
    return d;
}

/* A document with a 1 MiB blob (BLOB, shared, filled once by the caller). */
static inline fh_doc *bench_blob_doc(uint64_t i, const void *blob)
{
    char id[32];
    snprintf(id, sizeof id, "blob-%08llu", (unsigned long long)i);
    fh_doc *d = fh_doc_new();
    if (d == NULL || fh_doc_set_id(d, id) != 0 || fh_doc_set_blob(d, blob, BENCH_BLOB_SIZE) != 0) {
        fh_doc_destroy(&d);
        return NULL;
    }
    return d;
}

/* The sizes of the envelope frame and of the documents frame flowhost's client sends for
 * one request of REQUEST_SIZE documents (BLOB: blob documents, else small text ones). The
 * envelope is the client's (a 16-hex-digit prefix, '-', a sequence number, the
 * endpoint, no parameters) with ROUTES routes as executors add them. */
static inline int bench_frame_sizes(size_t request_size, int blob, size_t routes,
                                    size_t *env_size, size_t *docs_size)
{
    void *buf = blob ? calloc(1, BENCH_BLOB_SIZE) : NULL;
    fh_docs *docs = fh_docs_new();
    for (size_t i = 0; i < request_size; i++)
        fh_docs_append(docs, blob ? bench_blob_doc(i, buf) : bench_text_doc(i));
    zmq_msg_t m;
    if (fh_docs_pack(docs, &m) != 0)
        return -1;
    *docs_size = zmq_msg_size(&m);
    zmq_msg_close(&m);
    fh_docs_destroy(&docs);
    free(buf);

    Flowhost__Envelope env = FLOWHOST__ENVELOPE__INIT;
    env.request_id = (char *)"0123456789abcdef-1a2b3";
    env.endpoint = (char *)"/bench";
    Flowhost__Envelope *e = &env;
    for (size_t r = 0; r < routes; r++)
        if (fh_envelope_add_route(e, r == 0 ? "exec0" : "execN", 1700000000000000, 1700000000000100) != 0)
            return -1;
    if (fh_pb_pack_msg(&env.base, &m) != 0)
        return -1;
    *env_size = zmq_msg_size(&m);
    zmq_msg_close(&m);
    return 0; /* the routes leak (a few bytes, once) */
}

#endif

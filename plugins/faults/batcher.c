/* Batcher: an executor that shows how its handler was called, for the tests of dynamic
 * batching. Every document gets tags.batch_size (documents in the call), tags.call (a
 * number per call of this process: "PID-N") and tags.k (parameters.k, when given).
 *
 * uses_with.call_ms, doc_us  each call costs call_ms, plus doc_us per document
 * uses_with.ledger           a file each call appends "CALL N_DOCS" to
 * a document tagged grow: true   the call gives back one document more (a batched call
 *                                must give back as many as it was given)
 * a document tagged crash: true  the worker dies (SIGSEGV) */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/executor.h>

typedef struct batcher {
    int64_t call_ms, doc_us;
    char *ledger;
    int64_t calls;
} batcher;

static int batcher_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    (void)metas;
    batcher *b = calloc(1, sizeof *b);
    if (b == NULL)
        return fh_ctx_fail(ctx, "out of memory");
    b->call_ms = fh_map_get_int(with, "call_ms", 0);
    b->doc_us = fh_map_get_int(with, "doc_us", 0);
    const char *ledger = fh_map_get_string(with, "ledger", NULL);
    if (ledger != NULL && (b->ledger = strdup(ledger)) == NULL) {
        free(b);
        return fh_ctx_fail(ctx, "out of memory");
    }
    *state = b;
    return 0;
}

static void batcher_fini(void *state)
{
    batcher *b = state;
    free(b->ledger);
    free(b);
}

static void pause_us(int64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int batcher_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    batcher *b = fh_ctx_state(ctx);
    size_t n = fh_docs_len(docs);
    char call[64];
    snprintf(call, sizeof call, "%d-%lld", (int)getpid(), (long long)++b->calls);
    if (b->ledger != NULL) {
        char line[128];
        int len = snprintf(line, sizeof line, "%s %zu\n", call, n);
        int fd = open(b->ledger, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, line, (size_t)len) != len) {
            if (fd >= 0)
                close(fd);
            return fh_ctx_fail(ctx, "cannot write the ledger");
        }
        close(fd);
    }
    pause_us(b->call_ms * 1000 + b->doc_us * (int64_t)n);
    int64_t k;
    bool has_k = fh_map_find_int(params, "k", &k) == 0;
    bool grow = false;
    for (size_t i = 0; i < n; i++) {
        fh_doc *d = fh_docs_at(docs, i);
        const fh_value *t = fh_doc_tags_get(d);
        if (fh_map_get_bool(t, "crash", false))
            raise(SIGSEGV);
        grow |= fh_map_get_bool(t, "grow", false);
        fh_value *tags = fh_doc_tags(d);
        if (tags == NULL || fh_map_set(tags, "batch_size", fh_value_new_int((int64_t)n)) != 0 ||
            fh_map_set(tags, "call", fh_value_new_string(call)) != 0 ||
            (has_k && fh_map_set(tags, "k", fh_value_new_int(k)) != 0))
            return fh_ctx_fail(ctx, "out of memory");
    }
    if (grow) {
        fh_doc *extra = fh_doc_new();
        if (extra == NULL || fh_docs_append(docs, extra) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

FH_EXECUTOR(Batcher, batcher_init, batcher_fini, FH_REQUESTS(batcher_foo));

FH_PLUGIN(Batcher);

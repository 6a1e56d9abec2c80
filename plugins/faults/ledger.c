/* Ledger: an executor that writes down every request it begins, for the tests of
 * dispatch (credit, replicas): that none is lost and none runs twice.
 *
 * uses_with.ledger  a file each handler call appends "REQUEST_ID REPLICA PID" to (one
 *                   write, O_APPEND: lines of several workers do not mix)
 * parameters.sleep_ms  sleeps that long (an int, 0 to 60000) per call; a document's
 *                   tags.sleep_ms, when larger, instead
 * uses_with.slow_replica, slow_ms  that replica sleeps slow_ms more per call
 * a document tagged crash: true  the worker dies (SIGSEGV) after writing its line
 * Every document gets tags.replica (FLOWHOST_REPLICA), tags.metas_replica and
 * tags.metas_replicas (from fh_metas) and tags.pid. */
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/executor.h>

typedef struct ledger {
    char *path;
    int64_t replica, replicas; /* from metas */
    int64_t extra_ms;          /* sleeps this much more per call */
} ledger;

static int ledger_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    const char *path = fh_map_get_string(with, "ledger", NULL);
    if (path == NULL)
        return fh_ctx_fail(ctx, "uses_with.ledger (a file name) is required");
    ledger *l = calloc(1, sizeof *l);
    if (l == NULL || (l->path = strdup(path)) == NULL) {
        free(l);
        return fh_ctx_fail(ctx, "out of memory");
    }
    l->replica = l->replicas = -1;
    if (metas->struct_size >= offsetof(fh_metas, replicas) + sizeof metas->replicas) {
        l->replica = metas->replica;
        l->replicas = metas->replicas;
    }
    if (fh_map_get_int(with, "slow_replica", -1) == l->replica)
        l->extra_ms = fh_map_get_int(with, "slow_ms", 0);
    *state = l;
    return 0;
}

static void ledger_fini(void *state)
{
    ledger *l = state;
    free(l->path);
    free(l);
}

static int ledger_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    const char *replica = getenv("FLOWHOST_REPLICA");
    char line[512];
    int n = snprintf(line, sizeof line, "%s %s %d\n", fh_ctx_request_id(ctx),
                     replica ? replica : "-", (int)getpid());
    ledger *l = fh_ctx_state(ctx);
    int fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, (size_t)n) != n) {
        if (fd >= 0)
            close(fd);
        return fh_ctx_fail(ctx, "cannot write the ledger");
    }
    close(fd);
    int64_t ms = fh_map_get_int(params, "sleep_ms", 0);
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        int64_t own = fh_map_get_int(fh_doc_tags_get(fh_docs_at(docs, i)), "sleep_ms", 0);
        ms = own > ms ? own : ms;
    }
    ms += l->extra_ms;
    if (ms < 0 || ms > 60000)
        return fh_ctx_fail(ctx, "sleep_ms must be from 0 to 60000");
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_doc *d = fh_docs_at(docs, i);
        if (fh_map_get_bool(fh_doc_tags_get(d), "crash", false))
            raise(SIGSEGV);
        fh_value *tags = fh_doc_tags(d);
        if (tags == NULL || fh_map_set(tags, "replica", fh_value_new_int(replica ? atoi(replica) : -1)) != 0 ||
            fh_map_set(tags, "metas_replica", fh_value_new_int(l->replica)) != 0 ||
            fh_map_set(tags, "metas_replicas", fh_value_new_int(l->replicas)) != 0 ||
            fh_map_set(tags, "pid", fh_value_new_int(getpid())) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

FH_EXECUTOR(Ledger, ledger_init, ledger_fini, FH_REQUESTS(ledger_foo));

FH_PLUGIN(Ledger);

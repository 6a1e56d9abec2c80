/* Versioned: one source built as several plugins that answer differently, for the tests
 * of the rolling reload (a flow's plugin file is swapped for another, then reloaded).
 *
 * VERSIONED_VERSION  the number every document gets in tags.version (also tags.pid)
 * VERSIONED_TYPE     the executor type's name, Versioned unless set (Otherwise: a file
 *                    of the same size that holds another type)
 * VERSIONED_BROKEN   1: init fails ("this version does not start"); 2: init crashes
 *                    (SIGSEGV); 3: init never returns (for timeout_ready)
 * uses_with.ledger   a file each call appends "REQUEST_ID VERSION PID" to (one write,
 *                    O_APPEND), so that a test sees that none ran twice
 * uses_with.init_ms  init sleeps that long first (0 to 60000): a worker slow to start
 * uses_with.lock     true: init takes an flock on WORKSPACE/lock, and fails when another
 *                    process holds it (as a docstore indexer does)
 * parameters.sleep_ms  sleeps that long per call (0 to 60000) */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/executor.h>

#ifndef VERSIONED_VERSION
#define VERSIONED_VERSION 1
#endif
#ifndef VERSIONED_BROKEN
#define VERSIONED_BROKEN 0
#endif

typedef struct versioned {
    char *ledger; /* NULL: none */
    int lock_fd;  /* -1: none */
} versioned;

static void versioned_fini(void *state)
{
    versioned *v = state;
    if (v == NULL)
        return;
    if (v->lock_fd >= 0)
        close(v->lock_fd);
    free(v->ledger);
    free(v);
}

static int versioned_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
#if VERSIONED_BROKEN == 1
    (void)metas;
    (void)with;
    (void)state;
    return fh_ctx_fail(ctx, "this version does not start");
#elif VERSIONED_BROKEN == 2
    (void)metas;
    (void)ctx;
    (void)with;
    (void)state;
    raise(SIGSEGV);
    return 0;
#elif VERSIONED_BROKEN == 3
    (void)metas;
    (void)ctx;
    (void)with;
    (void)state;
    for (;;)
        pause();
    return 0;
#else
    int64_t ms = fh_map_get_int(with, "init_ms", 0);
    if (ms < 0 || ms > 60000)
        return fh_ctx_fail(ctx, "init_ms must be from 0 to 60000");
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    /* A failed init is not followed by fini: it frees what it made. */
    versioned *v = calloc(1, sizeof *v);
    if (v == NULL)
        return fh_ctx_fail(ctx, "out of memory");
    v->lock_fd = -1;
    const char *path = fh_map_get_string(with, "ledger", NULL);
    int rc = 0;
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/lock", metas->workspace);
    if (path != NULL && (v->ledger = strdup(path)) == NULL)
        rc = fh_ctx_fail(ctx, "out of memory");
    else if (fh_map_get_bool(with, "lock", false) &&
             (v->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        rc = fh_ctx_fail(ctx, "cannot open %s", lock);
    else if (v->lock_fd >= 0 && flock(v->lock_fd, LOCK_EX | LOCK_NB) != 0)
        rc = fh_ctx_fail(ctx, "%s: in use by another process", lock);
    if (rc != 0) {
        versioned_fini(v);
        return rc;
    }
    *state = v;
    return 0;
#endif
}

static int versioned_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    const versioned *v = fh_ctx_state(ctx);
    const char *ledger = v != NULL ? v->ledger : NULL;
    if (ledger != NULL) {
        char line[512];
        int n = snprintf(line, sizeof line, "%s %d %d\n", fh_ctx_request_id(ctx),
                         VERSIONED_VERSION, (int)getpid());
        int fd = open(ledger, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, line, (size_t)n) != n) {
            if (fd >= 0)
                close(fd);
            return fh_ctx_fail(ctx, "cannot write the ledger");
        }
        close(fd);
    }
    int64_t ms = fh_map_get_int(params, "sleep_ms", 0);
    if (ms < 0 || ms > 60000)
        return fh_ctx_fail(ctx, "sleep_ms must be from 0 to 60000");
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_value *tags = fh_doc_tags(fh_docs_at(docs, i));
        if (tags == NULL || fh_map_set_int(tags, "version", VERSIONED_VERSION) != 0 ||
            fh_map_set_int(tags, "pid", getpid()) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

#ifndef VERSIONED_TYPE
#define VERSIONED_TYPE Versioned
#endif
/* Through a macro of its own, so that VERSIONED_TYPE is expanded before it is named. */
#define VERSIONED_DEFINE(type)                                                           \
    FH_EXECUTOR(type, versioned_init, versioned_fini, FH_REQUESTS(versioned_foo));     \
    FH_PLUGIN(type)
VERSIONED_DEFINE(VERSIONED_TYPE);

/* Executors that misbehave on request, for the tests of error handling.
 *
 * Fail   fails a request whose parameters hold fail: true, or that has a document
 *        tagged fail: true; init fails when uses_with holds fail_init: true.
 * Crash  dies with SIGSEGV on a request that has a document tagged crash: true.
 * Fragile  works until a request has a document tagged break: true; then it marks its
 *        workspace broken and dies (SIGSEGV), and every later init fails: an executor
 *        that can no longer start.
 * Sleep  sleeps parameters.sleep_ms (an int, default 0) milliseconds per request.
 * Bind, BindDefault  bind handlers to endpoints; each handler appends
 *        "EXECUTOR:HANDLER" to the documents' tags.handlers, for the tests of endpoint dispatch and uses_requests. */
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/executor.h>

static bool any_doc_tagged(const fh_docs *docs, const char *tag)
{
    for (size_t i = 0; i < fh_docs_len(docs); i++)
        if (fh_map_get_bool(fh_doc_tags_get(fh_docs_at(docs, i)), tag, false))
            return true;
    return false;
}

static int fail_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    (void)metas;
    (void)state;
    if (fh_map_get_bool(with, "fail_init", false))
        return fh_ctx_fail(ctx, "init refused: fail_init is set");
    return 0;
}

static int fail_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    if (fh_map_get_bool(params, "fail", false) || any_doc_tagged(docs, "fail"))
        return fh_ctx_fail(ctx, "asked to fail on %s", fh_ctx_endpoint(ctx));
    return 0;
}

FH_EXECUTOR(Fail, fail_init, NULL, FH_REQUESTS(fail_foo));

static int crash_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)ctx;
    (void)params;
    if (any_doc_tagged(docs, "crash"))
        raise(SIGSEGV);
    return 0;
}

FH_EXECUTOR(Crash, NULL, NULL, FH_REQUESTS(crash_foo));

static int sleep_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)docs;
    int64_t ms = fh_map_get_int(params, "sleep_ms", 0);
    if (ms < 0 || ms > 60000)
        return fh_ctx_fail(ctx, "sleep_ms must be from 0 to 60000");
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    return 0;
}

FH_EXECUTOR(Sleep, NULL, NULL, FH_REQUESTS(sleep_foo));

/* Appends "EXECUTOR:HANDLER" to each document's tags.handlers list. */
/* The marker file of Fragile in its workspace: PATH gets it. */
static void broken_marker(const char *workspace, char *path, size_t size)
{
    snprintf(path, size, "%s/broken", workspace);
}

static int fragile_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    (void)with;
    (void)state;
    char path[4096];
    broken_marker(metas->workspace, path, sizeof path);
    if (access(path, F_OK) == 0)
        return fh_ctx_fail(ctx, "init refused: the workspace is marked broken");
    return 0;
}

static int fragile_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    if (!any_doc_tagged(docs, "break"))
        return 0;
    char path[4096];
    broken_marker(fh_ctx_workspace(ctx), path, sizeof path);
    FILE *f = fopen(path, "w");
    if (f != NULL)
        fclose(f);
    raise(SIGSEGV);
    return 0;
}

FH_EXECUTOR(Fragile, fragile_init, NULL, FH_REQUESTS(fragile_foo));

static int tag_with(fh_ctx *ctx, fh_docs *docs, const char *handler)
{
    char entry[256];
    snprintf(entry, sizeof entry, "%s:%s", fh_ctx_executor(ctx), handler);
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_value *tags = fh_doc_tags(fh_docs_at(docs, i));
        if (tags == NULL)
            return fh_ctx_fail(ctx, "out of memory");
        if (fh_map_get(tags, "handlers") == NULL &&
            fh_map_set(tags, "handlers", fh_value_new_list()) != 0)
            return fh_ctx_fail(ctx, "out of memory");
        if (fh_list_append(fh_map_get(tags, "handlers"), fh_value_new_string(entry)) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

static int index_docs(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    return tag_with(ctx, docs, "index_docs");
}

static int search(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    return tag_with(ctx, docs, "search");
}

static int fallback(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    return tag_with(ctx, docs, "fallback");
}

/* Bind: /index and /search, /query; no default handler, so other endpoints pass. */
FH_EXECUTOR(Bind, NULL, NULL, FH_REQUESTS(index_docs, "/index"),
            FH_REQUESTS(search, "/search", "/query"));
/* BindDefault: the same plus a default handler. Its handlers are also there for
 * uses_requests to pick by name. */
FH_EXECUTOR(BindDefault, NULL, NULL, FH_REQUESTS(index_docs, "/index"),
            FH_REQUESTS(search, "/search", "/query"), FH_REQUESTS(fallback));

FH_PLUGIN(Fail, Crash, Fragile, Sleep, Bind, BindDefault);

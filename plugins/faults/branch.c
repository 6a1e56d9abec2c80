/* Branch: an executor for the tests of graphs. Each call leaves a trace a join keeps:
 * every document gets a chunk whose text is the executor's name (id DOC/NAME), so the
 * answer shows which executors saw which documents. Its parameters (scoped by
 * metas.name: {"b": {"sleep_ms": 50}} reaches only b):
 *   sleep_ms  sleeps that long per call;
 *   fail      true: the call fails;
 *   crash     true: the worker dies (SIGSEGV);
 *   add_doc   true: a document of its own is appended (id "from-NAME");
 *   text      a string: every document's text becomes it;
 *   log       a string: logged (fh_ctx_log, level info) during the call. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <flowhost/executor.h>

static int branch_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    const char *name = fh_ctx_executor(ctx);
    int64_t ms = fh_map_get_int(params, "sleep_ms", 0);
    if (ms > 0) {
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    if (fh_map_get_bool(params, "crash", false))
        raise(SIGSEGV);
    if (fh_map_get_bool(params, "fail", false))
        return fh_ctx_fail(ctx, "%s asked to fail", name);
    const char *say = fh_map_get_string(params, "log", NULL);
    if (say != NULL)
        fh_ctx_log(ctx, FH_LOG_INFO, "%s", say);
    const char *text = fh_map_get_string(params, "text", NULL);
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_doc *d = fh_docs_at(docs, i);
        fh_doc *c = fh_doc_new();
        char id[300];
        snprintf(id, sizeof id, "%.200s/%.80s", fh_doc_id(d), name);
        if (c == NULL || fh_doc_set_id(c, id) != 0 || fh_doc_set_text(c, name) != 0 ||
            fh_doc_add_chunk(d, c) != 0 || (text && fh_doc_set_text(d, text) != 0))
            return fh_ctx_fail(ctx, "out of memory");
    }
    if (fh_map_get_bool(params, "add_doc", false)) {
        fh_doc *d = fh_doc_new();
        char id[100];
        snprintf(id, sizeof id, "from-%.80s", name);
        if (d == NULL || fh_doc_set_id(d, id) != 0 || fh_docs_append(docs, d) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

FH_EXECUTOR(Branch, NULL, NULL, FH_REQUESTS(branch_foo));
FH_PLUGIN(Branch);

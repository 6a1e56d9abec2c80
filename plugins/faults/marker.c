/* Mark: an executor that shows which documents it was given, for the tests of `when`.
 * Each document it gets has "+MARK" appended to its text and tags.given set to the number
 * of documents of the call (MARK: uses_with.mark, else the executor's name).
 *
 * parameters.drop: N   the call gives back N documents fewer (the first N go)
 * parameters.add: N    the call gives back N documents more, ids "MARK-new-K"
 * uses_with.ledger     a file each call appends "N_DOCS\n" to (calls with none too) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flowhost/executor.h>

typedef struct marker {
    char mark[64];
    char ledger[1024];
} marker;

static int mark_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    marker *m = calloc(1, sizeof *m);
    if (m == NULL)
        return fh_ctx_fail(ctx, "out of memory");
    snprintf(m->mark, sizeof m->mark, "%s", fh_map_get_string(with, "mark", metas->name));
    snprintf(m->ledger, sizeof m->ledger, "%s", fh_map_get_string(with, "ledger", ""));
    *state = m;
    return 0;
}

static void mark_fini(void *state)
{
    free(state);
}

static int mark_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    marker *m = fh_ctx_state(ctx);
    size_t n = fh_docs_len(docs);
    if (m->ledger[0] != '\0') {
        char line[32];
        int len = snprintf(line, sizeof line, "%zu\n", n);
        int fd = open(m->ledger, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        bool ok = fd >= 0 && write(fd, line, (size_t)len) == len;
        if (fd >= 0)
            close(fd);
        if (!ok)
            return fh_ctx_fail(ctx, "cannot write the ledger");
    }
    for (size_t i = 0; i < n; i++) {
        fh_doc *d = fh_docs_at(docs, i);
        char text[1024];
        snprintf(text, sizeof text, "%s+%s", fh_doc_text(d), m->mark);
        fh_value *tags = fh_doc_tags(d);
        if (fh_doc_set_text(d, text) != 0 || tags == NULL ||
            fh_map_set(tags, "given", fh_value_new_int((int64_t)n)) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    int64_t drop = fh_map_get_int(params, "drop", 0), add = fh_map_get_int(params, "add", 0);
    for (int64_t k = 0; k < drop && fh_docs_len(docs) > 0; k++)
        fh_docs_remove(docs, 0);
    for (int64_t k = 0; k < add && k < 1000; k++) {
        char id[96];
        snprintf(id, sizeof id, "%s-new-%lld", m->mark, (long long)k);
        fh_doc *d = fh_doc_new();
        if (d == NULL || fh_doc_set_id(d, id) != 0 || fh_docs_append(docs, d) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

FH_EXECUTOR(Mark, mark_init, mark_fini, FH_REQUESTS(mark_foo));

FH_PLUGIN(Mark);

/* echo: the simplest executor. Its default handler tags every document with the
 * executor's name and the endpoint it was called on, so a test can see the path a
 * request took. */
#include <flowhost/executor.h>

static int echo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_value *tags = fh_doc_tags(fh_docs_at(docs, i));
        if (tags == NULL)
            return fh_ctx_fail(ctx, "out of memory");
        fh_value *seen = fh_map_get(tags, "seen_by");
        if (seen == NULL) {
            if (fh_map_set(tags, "seen_by", fh_value_new_list()) != 0)
                return fh_ctx_fail(ctx, "out of memory");
            seen = fh_map_get(tags, "seen_by");
        }
        if (fh_list_append(seen, fh_value_new_string(fh_ctx_executor(ctx))) != 0 ||
            fh_map_set_string(tags, "endpoint", fh_ctx_endpoint(ctx)) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

FH_EXECUTOR(Echo, NULL, NULL, FH_REQUESTS(echo));
FH_PLUGIN(Echo);

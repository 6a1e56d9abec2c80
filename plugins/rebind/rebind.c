/* Rebind: the executor of Jina's test of uses_requests, in C. Each handler appends
 * "EXECUTOR:HANDLER" to the documents' tags.handlers, so that a response through several
 * of them tells which handler of each ran:
 *   foo     the default handler
 *   bar     bound to no endpoint (FH_HANDLER): only a flow binds it
 *   foobar  bound to /1 and /2 */
#include <stdio.h>

#include <flowhost/executor.h>


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

static int foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    return tag_with(ctx, docs, "foo");
}

static int bar(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    return tag_with(ctx, docs, "bar");
}

static int foobar(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    return tag_with(ctx, docs, "foobar");
}

FH_EXECUTOR(Rebind, NULL, NULL, FH_REQUESTS(foo), FH_HANDLER(bar), FH_REQUESTS(foobar, "/1", "/2"));

FH_PLUGIN(Rebind);

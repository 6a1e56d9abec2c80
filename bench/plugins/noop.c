/* noop: an executor whose handler does nothing. Unlike a pass-through entry (no `uses`),
 * the worker decodes the documents, calls this, and encodes them again: the cost of a
 * real executor with no work of its own. */
#include <flowhost/executor.h>

static int noop(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)ctx;
    (void)docs;
    (void)params;
    return 0;
}

FH_EXECUTOR(Noop, NULL, NULL, FH_REQUESTS(noop));
FH_PLUGIN(Noop);

/* A plugin built for an ABI this flowhost does not speak (major + 1). */
#include <flowhost/executor.h>

static int noop(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)ctx;
    (void)docs;
    (void)params;
    return 0;
}

FH_EXECUTOR(Future, NULL, NULL, FH_REQUESTS(noop));

FH_EXPORT extern const fh_plugin_descriptor fh_plugin_v1;
const fh_plugin_descriptor fh_plugin_v1 = {
    FH_PLUGIN_MAGIC, FH_ABI_MAJOR + 1, 0, sizeof(fh_plugin_descriptor),
    (const fh_executor_type *const[]){&fh__executor_Future, NULL}, {0}};

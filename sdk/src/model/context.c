/* The context plugin code receives: accessors, logging, failure. */
#include "context.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *fh_ctx_endpoint(const fh_ctx *ctx) { return ctx->endpoint; }
const char *fh_ctx_request_id(const fh_ctx *ctx) { return ctx->request_id; }
const char *fh_ctx_executor(const fh_ctx *ctx) { return ctx->executor; }
const char *fh_ctx_workspace(const fh_ctx *ctx) { return ctx->workspace; }
void *fh_ctx_state(const fh_ctx *ctx) { return ctx->state; }

static const char *const level_names[] = {"debug", "info", "warning", "error"};

fh_log_level fh_log_level_from_env(void)
{
    const char *s = getenv("FLOWHOST_LOG_LEVEL");
    for (int i = 0; s != NULL && i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return (fh_log_level)i;
    return FH_LOG_INFO;
}

void fh_ctx_log(fh_ctx *ctx, fh_log_level level, const char *fmt, ...)
{
    if (level < ctx->log_level || level > FH_LOG_ERROR)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fh_log_emit(ctx->executor, level, ctx->request_id, line);
}

int fh_ctx_fail(fh_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
    ctx->failed = true;
    return FH_E_HANDLER;
}

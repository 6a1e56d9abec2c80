/* Internal: the handler/init context a worker hands to plugin code. */
#ifndef FH_SDK_CONTEXT_H
#define FH_SDK_CONTEXT_H

#include <stdbool.h>

#include <flowhost/executor.h>

#define FH_CTX_ERROR_MAX 1024

struct fh_ctx {
    const char *endpoint;   /* NULL during init */
    const char *request_id; /* NULL during init */
    const char *executor;   /* metas.name */
    const char *workspace;
    void *state;
    fh_log_level log_level; /* lines below it are dropped */
    bool failed;            /* fh_ctx_fail was called */
    char error[FH_CTX_ERROR_MAX];
};

/* Level from FLOWHOST_LOG_LEVEL ("debug", "info", "warning", "error"); info by default. */
fh_log_level fh_log_level_from_env(void);

#endif

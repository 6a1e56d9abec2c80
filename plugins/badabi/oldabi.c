/* A plugin of ABI 1, the layout before bindings held their endpoints inline: the worker
 * must refuse it by its major before it reads a binding. */
#include <stdint.h>

#include <flowhost/executor.h>

/* fh_binding of ABI 1. */
typedef struct old_binding {
    fh_handler_fn handler;
    const char *handler_name;
    const char *const *endpoints;
} old_binding;

static int noop(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)ctx;
    (void)docs;
    (void)params;
    return 0;
}

static const char *const old_endpoints[] = {"/index", NULL};
static const old_binding old_bindings[] = {{noop, "noop", old_endpoints}, {NULL, NULL, NULL}};
static const fh_executor_type old_type = {
    sizeof(fh_executor_type), "Old", NULL, NULL, (const fh_binding *)(const void *)old_bindings,
    {NULL}};
static const fh_executor_type *const old_types[] = {&old_type, NULL};

FH_EXPORT extern const fh_plugin_descriptor fh_plugin_v1;
const fh_plugin_descriptor fh_plugin_v1 = {FH_PLUGIN_MAGIC, 1, 0, sizeof(fh_plugin_descriptor),
                                           old_types, {NULL}};

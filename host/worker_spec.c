/* The executor spec from a flow's executor: see worker_spec.h. */
#define _GNU_SOURCE
#include "worker_spec.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

/* The folders searched for executor types, in order: the flow's plugin_path, then
 * FLOWHOST_PLUGIN_PATH (colon-separated), then the plugin folder of this installation
 * (found from the binary, so that an installed tree can move). Every entry is malloc'd.
 * NULL when out of memory. */
static char **plugin_dirs(const fh_flow_config *cfg, const char *self_exe, size_t *n)
{
    const char *env = getenv("FLOWHOST_PLUGIN_PATH");
    size_t cap = cfg->n_plugin_path + 2;
    for (const char *p = env; p && *p; p++)
        cap += *p == ':';
    char **dirs = calloc(cap, sizeof *dirs);
    char *copy = env ? strdup(env) : NULL;
    if (dirs == NULL || (env && copy == NULL)) {
        free(dirs);
        free(copy);
        return NULL;
    }
    *n = 0;
    bool ok = true;
    for (size_t i = 0; i < cfg->n_plugin_path; i++)
        ok &= (dirs[(*n)++] = strdup(cfg->plugin_path[i])) != NULL;
    char *save = NULL;
    for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save))
        ok &= (dirs[(*n)++] = strdup(tok)) != NULL;
    free(copy);
    char exe_dir[4096];
    snprintf(exe_dir, sizeof exe_dir, "%s", self_exe);
    char *slash = strrchr(exe_dir, '/');
    if (slash != NULL)
        *slash = '\0';
    ok &= asprintf(&dirs[(*n)++], "%s/../%s", exe_dir, FH_PLUGIN_INSTALL_REL) >= 0;
    if (!ok) {
        for (size_t i = 0; i < cap; i++)
            free(dirs[i]);
        free(dirs);
        return NULL;
    }
    return dirs;
}

int fh_worker_spec_fill(Flowhost__ExecutorSpec *spec, const fh_flow_config *cfg,
                        const fh_flow_executor *x, const char *self_exe,
                        fh_worker_spec_mem *mem)
{
    spec->name = x->name;
    spec->plugin = x->plugin ? x->plugin : (char *)"";
    spec->type = x->type ? x->type : (char *)"";
    spec->uses_with = (Flowhost__Value *)x->uses_with;
    spec->description = x->description ? x->description : (char *)"";
    spec->has_requests = x->has_requests;
    spec->max_message_size = cfg->max_message_size;
    spec->when = x->when_text ? x->when_text : (char *)"";
    mem->rb = calloc(x->n_requests + 1, sizeof *mem->rb);
    mem->rbp = calloc(x->n_requests + 1, sizeof *mem->rbp);
    mem->br = calloc(x->n_batching + 1, sizeof *mem->br);
    mem->brp = calloc(x->n_batching + 1, sizeof *mem->brp);
    mem->dirs = plugin_dirs(cfg, self_exe, &mem->n_dirs);
    if (mem->rb == NULL || mem->rbp == NULL || mem->br == NULL || mem->brp == NULL ||
        mem->dirs == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory writing the executor spec");
    for (size_t k = 0; k < x->n_batching; k++) {
        flowhost__batch_rule__init(&mem->br[k]);
        mem->br[k].endpoint = x->batching[k].endpoint;
        mem->br[k].preferred_batch_size = (uint32_t)x->batching[k].preferred_batch_size;
        mem->br[k].timeout_ms = (uint32_t)x->batching[k].timeout_ms;
        mem->brp[k] = &mem->br[k];
    }
    spec->batching = mem->brp;
    spec->n_batching = x->n_batching;
    for (size_t k = 0; k < x->n_requests; k++) {
        flowhost__request_binding__init(&mem->rb[k]);
        mem->rb[k].endpoint = x->requests[k].endpoint;
        mem->rb[k].handler = x->requests[k].handler;
        mem->rbp[k] = &mem->rb[k];
    }
    spec->requests = mem->rbp;
    spec->n_requests = x->n_requests;
    spec->plugin_path = mem->dirs;
    spec->n_plugin_path = mem->n_dirs;
    return 0;
}

void fh_worker_spec_mem_free(fh_worker_spec_mem *mem)
{
    for (size_t k = 0; mem->dirs != NULL && k < mem->n_dirs; k++)
        free(mem->dirs[k]);
    free(mem->dirs);
    free(mem->rb);
    free(mem->rbp);
    free(mem->br);
    free(mem->brp);
    memset(mem, 0, sizeof *mem);
}

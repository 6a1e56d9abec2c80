/* Executor specs: the file each worker reads to know what to load and where to connect. */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "board.h"
#include "codec.h"
#include "pb.h"
#include "runtime_dir.h"
#include "util.h"

/* ---- specs and workers -------------------------------------------------------------- */

/* The folders searched for executor types, in order: the flow's plugin_path, then
 * FLOWHOST_PLUGIN_PATH (colon-separated), then the plugin folder of this installation
 * (found from the binary, so that an installed tree can move). Every entry is malloc'd;
 * free them with free_dirs. NULL when out of memory. */
static char **plugin_dirs(const fh_gateway *g, size_t *n)
{
    const char *env = getenv("FLOWHOST_PLUGIN_PATH");
    size_t cap = g->cfg->n_plugin_path + 2;
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
    for (size_t i = 0; i < g->cfg->n_plugin_path; i++)
        ok &= (dirs[(*n)++] = strdup(g->cfg->plugin_path[i])) != NULL;
    char *save = NULL;
    for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save))
        ok &= (dirs[(*n)++] = strdup(tok)) != NULL;
    free(copy);
    char exe_dir[4096];
    snprintf(exe_dir, sizeof exe_dir, "%s", g->self_exe);
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

/* The path of W's file EXT ("spec", "board") in the runtime directory. A reload's worker
 * (gen > 0) runs beside the one it replaces: files of its own. */
static void file_path(const fh_gateway *g, const gw_worker *w, const char *ext, char *buf,
                      size_t size)
{
    char gen[24] = "";
    if (w->gen > 0)
        snprintf(gen, sizeof gen, "-g%u", w->gen);
    snprintf(buf, size, "%s/exec-%zu-%u%s.%s", fh_runtime_dir_path(g->rundir), w->ex->index,
             w->replica, gen, ext);
}

void gw_remove_spec(fh_gateway *g, gw_worker *w)
{
    char path[4200];
    if (w->spec_path != NULL) {
        unlink(w->spec_path);
        file_path(g, w, "board", path, sizeof path);
        unlink(path);
    }
    free(w->spec_path);
    w->spec_path = NULL;
    fh_board_close(&w->board);
}

int gw_write_spec(fh_gateway *g, gw_worker *w)
{
    const fh_flow_executor *x = w->ex->cfg;
    size_t i = w->ex->index;
    Flowhost__ExecutorSpec spec = FLOWHOST__EXECUTOR_SPEC__INIT;
    char workspace[4200], path[4200], board[4200];
    /* <workspace>/<name>/<replica>: each replica writes its own. metas.workspace is used
     * as is by an executor of one replica; with several, each gets a folder in it. A
     * sharded executor's shard s puts its replicas' folders in shard-<s>. */
    char shard[32] = "";
    if (w->ex->shards > 1)
        snprintf(shard, sizeof shard, "shard-%u/", w->ex->shard);
    if (x->workspace && (x->workspace_per_replica || w->ex->n_workers > 1 || shard[0]))
        snprintf(workspace, sizeof workspace, "%s/%s%u", x->workspace, shard, w->replica);
    else if (x->workspace)
        snprintf(workspace, sizeof workspace, "%s", x->workspace);
    else if (g->cfg->workspace)
        snprintf(workspace, sizeof workspace, "%s/%s/%s%u", g->cfg->workspace, x->name, shard,
                 w->replica);
    else
        snprintf(workspace, sizeof workspace, "%s/workspace/%s/%s%u",
                 fh_runtime_dir_path(g->rundir), x->name, shard, w->replica);
    file_path(g, w, "spec", path, sizeof path);
    file_path(g, w, "board", board, sizeof board);
    int rc = fh_board_create(board, &w->board);
    if (rc != 0)
        return rc;
    spec.name = x->name;
    spec.plugin = x->plugin ? x->plugin : (char *)"";
    spec.type = x->type ? x->type : (char *)"";
    spec.uses_with = (Flowhost__Value *)x->uses_with;
    spec.description = x->description ? x->description : (char *)"";
    spec.workspace = workspace;
    spec.gateway = g->backend_ep;
    spec.index = (uint32_t)i;
    spec.replica = w->replica;
    spec.replicas = (uint32_t)w->ex->n_workers;
    spec.shard = w->ex->shard;
    spec.shards = w->ex->shards;
    spec.board = board;
    spec.has_requests = x->has_requests;
    spec.max_message_size = g->cfg->max_message_size;
    spec.when = x->when_text ? x->when_text : (char *)"";
    spec.when_only_matched = g->graph.feeds_join && g->graph.feeds_join[w->ex->node];
    Flowhost__RequestBinding *rb = calloc(x->n_requests + 1, sizeof *rb);
    Flowhost__RequestBinding **rbp = calloc(x->n_requests + 1, sizeof *rbp);
    Flowhost__BatchRule *br = calloc(x->n_batching + 1, sizeof *br);
    Flowhost__BatchRule **brp = calloc(x->n_batching + 1, sizeof *brp);
    size_t n_dirs = 0;
    char **dirs = plugin_dirs(g, &n_dirs);
    rc = FH_E_NOMEM;
    if (rb == NULL || rbp == NULL || br == NULL || brp == NULL || dirs == NULL)
        goto out;
    for (size_t k = 0; k < x->n_batching; k++) {
        flowhost__batch_rule__init(&br[k]);
        br[k].endpoint = x->batching[k].endpoint;
        br[k].preferred_batch_size = (uint32_t)x->batching[k].preferred_batch_size;
        br[k].timeout_ms = (uint32_t)x->batching[k].timeout_ms;
        brp[k] = &br[k];
    }
    spec.batching = brp;
    spec.n_batching = x->n_batching;
    for (size_t k = 0; k < x->n_requests; k++) {
        flowhost__request_binding__init(&rb[k]);
        rb[k].endpoint = x->requests[k].endpoint;
        rb[k].handler = x->requests[k].handler;
        rbp[k] = &rb[k];
    }
    spec.requests = rbp;
    spec.n_requests = x->n_requests;
    spec.plugin_path = dirs;
    spec.n_plugin_path = n_dirs;
    size_t len = flowhost__executor_spec__get_packed_size(&spec);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        goto out;
    flowhost__executor_spec__pack(&spec, buf);
    FILE *f = fopen(path, "wbx");
    rc = f && fwrite(buf, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(buf);
    if (rc != 0) {
        rc = fh_set_error(FH_E_IO, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    w->spec_path = strdup(path);
    rc = w->spec_path ? 0 : FH_E_NOMEM;
out:
    for (size_t k = 0; dirs != NULL && k < n_dirs; k++)
        free(dirs[k]);
    free(dirs);
    free(rb);
    free(rbp);
    free(br);
    free(brp);
    if (rc == FH_E_NOMEM)
        fh_set_error(FH_E_NOMEM, "out of memory writing the executor spec");
    return rc;
}

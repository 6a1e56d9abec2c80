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
#include "worker_spec.h"

/* ---- specs and workers -------------------------------------------------------------- */

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
    spec.workspace = workspace;
    spec.gateway = g->backend_ep;
    spec.index = (uint32_t)i;
    spec.replica = w->replica;
    spec.replicas = (uint32_t)w->ex->n_workers;
    spec.shard = w->ex->shard;
    spec.shards = w->ex->shards;
    spec.board = board;
    spec.when_only_matched = g->graph.feeds_join && g->graph.feeds_join[w->ex->node];
    fh_worker_spec_mem mem = {0};
    if ((rc = fh_worker_spec_fill(&spec, g->cfg, x, g->self_exe, &mem)) != 0)
        goto out;
    rc = FH_E_NOMEM;
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
    fh_worker_spec_mem_free(&mem);
    if (rc == FH_E_NOMEM)
        fh_set_error(FH_E_NOMEM, "out of memory writing the executor spec");
    return rc;
}

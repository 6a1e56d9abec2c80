/* The executor spec a worker runs from, built from a flow's executor: one code path for
 * the host (which writes it into a file for `flowhost worker --spec`) and for a remote
 * worker (`flowhost worker --listen`, which builds it from its own options). */
#ifndef FH_HOST_WORKER_SPEC_H
#define FH_HOST_WORKER_SPEC_H

#include "flow_config.h"
#include "flowhost.pb-c.h"

/* What fh_worker_spec_fill allocates for a spec; zero-initialise it before the call. */
typedef struct fh_worker_spec_mem {
    Flowhost__RequestBinding *rb, **rbp;
    Flowhost__BatchRule *br, **brp;
    char **dirs;
    size_t n_dirs;
} fh_worker_spec_mem;

/* Fills the fields of SPEC (initialised by the caller) that come from the flow CFG and
 * its executor X: name, plugin, type, uses_with, description, requests, batching,
 * `when`, max_message_size, and the plugin path (the flow's plugin_path, then
 * FLOWHOST_PLUGIN_PATH, then the plugin folder of the installation SELF_EXE belongs to).
 * The caller sets the rest (workspace, gateway, index, replica, shard, board, ...).
 * SPEC borrows strings from CFG and X (they must outlive it) and arrays from MEM (free
 * them with fh_worker_spec_mem_free after SPEC's last use). Returns 0, or FH_E_NOMEM
 * with the error set (MEM must still be freed). */
int fh_worker_spec_fill(Flowhost__ExecutorSpec *spec, const fh_flow_config *cfg,
                        const fh_flow_executor *x, const char *self_exe,
                        fh_worker_spec_mem *mem);

/* Frees what fh_worker_spec_fill allocated in MEM and zeroes it. */
void fh_worker_spec_mem_free(fh_worker_spec_mem *mem);

#endif

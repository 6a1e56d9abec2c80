/* Loading executor types from plugins. Runs only in worker processes (and short-lived
 * children): the host never loads plugin code. */
#ifndef FH_HOST_PLUGIN_LOADER_H
#define FH_HOST_PLUGIN_LOADER_H

#include <stddef.h>

#include <flowhost/executor.h>

typedef struct fh_loaded_type {
    const fh_executor_type *type; /* NULL: the built-in pass-through */
    char *path;                   /* the .so it came from (malloc'd), NULL for built-in */
    void *dl;                     /* dlopen handle; never closed: the process exits */
} fh_loaded_type;

/* Finds and loads an executor type.
 * - PLUGIN set: load that .so; TYPE names a type in it, or NULL for its only type.
 * - PLUGIN NULL, TYPE set: look in each of the N_DIRS folders DIRS for DIR/TYPE.so (opened
 *   directly), then every other *.so there (in name order), and take the first that holds
 *   TYPE. Those others are never opened in this process: a scanner process per file
 *   (plugin_scan.h) says which types each holds, within its deadline, and the scan cache
 *   (plugin_cache.h) remembers the answers, so only the file that holds TYPE is opened
 *   and its constructors are the only ones that run here. Every other file (not a
 *   plugin, another ABI, cannot be opened, its scan crashed or hung) is named with its
 *   reason in the "not found" error. Blocks for the scans: at most the scan deadline per
 *   file not in the cache.
 * - both NULL: the built-in pass-through (OUT->type NULL).
 * Fills *OUT. Returns 0, or FH_E_NOTFOUND (no such file, no such type), FH_E_PLUGIN
 * (dlopen failed, not a flowhost plugin), FH_E_ABI (other ABI major or a malformed
 * descriptor), with the reason in fh_last_error(). */
int fh_plugin_load(const char *plugin, const char *type, char *const *dirs, size_t n_dirs,
                   fh_loaded_type *out);

/* Checks a descriptor read from PATH: magic, ABI major, sizes, and the limits and shape of
 * every binding (FH_MAX_TYPES, FH_MAX_BINDINGS, kinds, endpoints starting with '/'). Reads
 * only the descriptor; returns 0 or FH_E_ABI / FH_E_PLUGIN with a message naming PATH. */
int fh_plugin_check_descriptor(const fh_plugin_descriptor *d, const char *path);

#endif

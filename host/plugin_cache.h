/* The cache of plugin scans: what each shared object of the plugin path holds, keyed by
 * its path, device, inode, size, modification time and change time, so that a second
 * lookup scans nothing and a changed file is scanned again (also one rewritten in place
 * with its size and modification time kept: a reload sees the file as it is now).
 *
 * It lives in $XDG_CACHE_HOME/flowhost (else $HOME/.cache/flowhost), one file per plugin
 * ABI and cache format, written whole to a temporary file and renamed, so that a reader
 * never sees half of it and workers writing at once lose at most each other's new entries
 * (scanned again next time). Without either variable, or where it cannot be read or
 * written, there is no cache: every lookup scans. The plugin folders themselves are never
 * written. */
#ifndef FH_HOST_PLUGIN_CACHE_H
#define FH_HOST_PLUGIN_CACHE_H

#include <sys/stat.h>

#include "plugin_scan.h"

typedef struct fh_plugin_cache fh_plugin_cache;

/* Entries read from the cache file at most (a plugin path of that many libraries scans
 * the others at each start). */
#define FH_PLUGIN_CACHE_MAX_ENTRIES 65536

/* Reads the cache file (a missing, unreadable or partly garbled file gives fewer
 * entries, never an error; a line beyond the bounds of a scan is garbled, and at most
 * FH_PLUGIN_CACHE_MAX_ENTRIES are read). Returns a cache the caller closes with
 * fh_plugin_cache_close, or NULL when out of memory. */
fh_plugin_cache *fh_plugin_cache_open(void);

/* The scan of PATH whose stat is ST, if cached and still matching (borrowed: valid until
 * the next put or close), else NULL. */
const fh_scan_result *fh_plugin_cache_find(const fh_plugin_cache *c, const char *path,
                                           const struct stat *st);

/* Records a copy of R for PATH and ST (replacing PATH's entry) when R is an answer about
 * the file's content (FH_SCAN_PLUGIN, FH_SCAN_NONE, FH_SCAN_OTHER_ABI); any other result (a
 * library that could not be opened, a scan that failed) is not recorded, so that the file
 * is scanned again next time. Returns 0, or FH_E_NOMEM (the cache is unchanged). A path or
 * text that the file format cannot hold (a tab or a newline) or beyond the bounds of a scan
 * (FH_MAX_TYPES types, FH_SCAN_MAX_NAME, FH_SCAN_MAX_REASON, PATH_MAX) is not recorded, and
 * 0 is returned. */
int fh_plugin_cache_put(fh_plugin_cache *c, const char *path, const struct stat *st,
                        const fh_scan_result *r);

/* Writes the cache when a put changed it, keeping only the entries whose file still has
 * the recorded stat (so it never outgrows the plugin path). Returns 0, or FH_E_IO /
 * FH_E_NOMEM (the lookup works on without it). Never changes fh_last_error(): a search
 * that failed saves its cache after setting the reason the user needs. */
int fh_plugin_cache_save(fh_plugin_cache *c);

/* Frees *C and sets it to NULL; accepts NULL. Does not save. */
void fh_plugin_cache_close(fh_plugin_cache **c);

#endif

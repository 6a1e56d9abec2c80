/* Which executor types a shared object holds, asked of a separate process.
 *
 * Opening a .so runs its constructors. To find a type on the plugin path without running
 * the code of every library there, a worker asks `flowhost plugin-scan FILE` — a child
 * that opens one file, reports its types and exits (GStreamer's plugin scanner does the
 * same) — and opens only the file that holds the type. A library that crashes, aborts or
 * hangs when opened costs the scan of that file only: the child runs in its own process
 * group, which is killed once the child has exited (so that nothing its library started
 * outlives the scan) or at its deadline.
 */
#ifndef FH_HOST_PLUGIN_SCAN_H
#define FH_HOST_PLUGIN_SCAN_H

#include <stddef.h>

/* What a scan says. Only FH_SCAN_PLUGIN, FH_SCAN_NONE and FH_SCAN_OTHER_ABI depend on the
 * file's content alone, and only they may be remembered (plugin_cache.h); the others may
 * change with the environment, the load of the machine or a dependency installed later. */
typedef enum fh_scan_status {
    FH_SCAN_PLUGIN = 0, /* a flowhost plugin of this ABI: types[] lists its types */
    FH_SCAN_NONE,       /* opened, and not a flowhost plugin: no descriptor symbol */
    FH_SCAN_OTHER_ABI,  /* a descriptor of another magic or ABI major (reason says which) */
    FH_SCAN_REFUSED,    /* could not be opened (dlopen failed: a dependency not found...),
                         * or its descriptor was refused otherwise (reason says why) */
    FH_SCAN_FAILED      /* the scan itself failed: crash, deadline, garbled report */
} fh_scan_status;

/* The longest type name a scan reports (a longer one cannot be named in a flow), and the
 * longest reason; a report or a cache line with a longer one, or with more than
 * FH_MAX_TYPES types, is garbled. */
#define FH_SCAN_MAX_NAME 255
#define FH_SCAN_MAX_REASON 512

typedef struct fh_scan_result {
    fh_scan_status status;
    char **types;   /* FH_SCAN_PLUGIN: n_types malloc'd names, in the plugin's order */
    size_t n_types;
    char *reason;   /* not FH_SCAN_PLUGIN: malloc'd one-line reason (without the path);
                     * else NULL */
} fh_scan_result;

/* The deadline of one file's scan, in ms: FLOWHOST_SCAN_TIMEOUT_MS when set to a number
 * from 1 to 600000, else 10000. */
int fh_plugin_scan_timeout_ms(void);

/* Scans PATH in a child process (this binary, /proc/self/exe, whatever became of its
 * file, run as `plugin-scan PATH`) that gets TIMEOUT_MS to answer, and fills *OUT (which the caller
 * frees with fh_scan_result_clear). Returns 0 whenever *OUT says what happened — a file
 * that crashed its scanner is a result (FH_SCAN_FAILED), not an error — or FH_E_NOMEM /
 * FH_E_IO (no pipe, no process) with fh_last_error() set and *OUT empty. Blocks up to
 * about TIMEOUT_MS. Never opens PATH in the calling process. */
int fh_plugin_scan(const char *path, int timeout_ms, fh_scan_result *out);

/* Parses the scanner's report REPORT (NUL-terminated, as read so far) into *OUT, which
 * the caller clears first and frees with fh_scan_result_clear. A report is complete at its
 * "end", "none", "abi" or "refused" line. Returns 1 when complete, 0 when not yet, or
 * FH_E_NOMEM. */
int fh_plugin_scan_parse(const char *report, fh_scan_result *out);

/* Frees what *R holds and zeroes it. Accepts an empty result. */
void fh_scan_result_clear(fh_scan_result *r);

/* The child's side: opens PATH (running its constructors, in this process) and writes
 * the report to file descriptor FD. Returns 0 when the report was written, whatever it
 * says, or -1 when it could not be. */
int fh_plugin_scan_report(const char *path, int fd);

#endif

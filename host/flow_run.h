/* Serving a loaded flow in this process, or in a child process for the length of a post. */
#ifndef FH_HOST_FLOW_RUN_H
#define FH_HOST_FLOW_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "flow_config.h"

typedef struct fh_flow_run_options {
    const char *self_exe;     /* the flowhost binary, to start workers with */
    bool banner;              /* print the "ready" banner on stderr */
    int ready_fd;             /* -1, or a descriptor that gets "HOST:PORT\n" once ready
                                 ("HOST:PORT KEY\n" with the flow's public key when it has
                                 keys), or "!REASON\n" when the flow cannot start; it is
                                 closed either way */
    const char *address_file; /* NULL, or a file that gets "HOST:PORT\n" once ready; it is
                                 removed when the flow stops */
    const char *pid_file;     /* NULL, or a file that gets this process's pid and a
                                 newline once ready (what `flowhost reload --pid-file`
                                 reads); it is removed when the flow stops */
} fh_flow_run_options;

/* Returned by fh_flow_run when the flow could not start and the reason went to
 * opts->ready_fd. */
#define FH_E_NOTREADY_REPORTED (-100)

/* Starts the flow CFG, serves it until SIGINT/SIGTERM, drains and stops it. Returns 0
 * after a clean stop, FH_E_NOTREADY_REPORTED (see above), or another negative code when
 * the flow could not start or failed (fh_last_error() says which executor and why). */
int fh_flow_run(const fh_flow_config *cfg, const fh_flow_run_options *opts);

/* Starts the flow CFG in a child process and waits until it is ready. Stores the child's
 * pid in *PID and its client address ("HOST:PORT", then " KEY" when it has keys) in
 * ADDRESS. Returns 0, or negative
 * when the flow could not start (the child printed why on stderr). Stop it with
 * fh_flow_stop_child. */
int fh_flow_start_child(const fh_flow_config *cfg, const char *self_exe, pid_t *pid,
                        char *address, size_t size);

#define FH_STOP_CHILD_GRACE_MS 10000

/* Sends SIGTERM to PID (a flow started by fh_flow_start_child) and waits for it, at most
 * FH_STOP_CHILD_GRACE_MS before SIGKILL; returns its exit status as a shell would show it
 * (0 for a clean stop). */
int fh_flow_stop_child(pid_t pid);

/* Path of the running flowhost binary, in BUF. Returns 0 or FH_E_IO. */
int fh_self_exe(char *buf, size_t size);

#endif

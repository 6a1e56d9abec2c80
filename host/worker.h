/* The worker runtime: one executor in one process. */
#ifndef FH_HOST_WORKER_H
#define FH_HOST_WORKER_H

/* Runs the executor described by the ExecutorSpec file at SPEC_PATH: connects to the
 * gateway the spec names, loads the plugin, calls init, reports READY (or why it could
 * not start), then serves requests one at a time until the gateway says DISCONNECT or
 * goes away. Returns the process exit status: 0 after a clean stop, 1 when the executor
 * could not start (the reason went to the gateway, and to stderr). */
int fh_worker_main(const char *spec_path);

#endif

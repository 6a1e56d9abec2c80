/* The gateway: the host's one event loop. It binds the client socket and the workers'
 * socket, starts a worker per executor, routes every request through the executors in
 * order (a star: client -> gateway -> executor 1 -> gateway -> executor 2 -> ... ->
 * client), answers for workers that die, and drains on SIGINT/SIGTERM.
 *
 * The gateway reads only request envelopes; documents pass through as opaque frames.
 */
#ifndef FH_HOST_GATEWAY_H
#define FH_HOST_GATEWAY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "flow_config.h"

typedef struct fh_gateway fh_gateway;

/* The signal `flowhost reload` queues to a flow (sigqueue: real-time signals never
 * coalesce), its value (sival_int) the ID of the request file reload-ID.req it wrote
 * in the flow's runtime directory. A plain SIGHUP is another thing: every executor. */
#define FH_RELOAD_SIGNAL (SIGRTMIN + 1)

/* The gateway stops taking requests while those it holds weigh more than this many of
 * the largest message (with.max_message_size): memory stays bounded by bytes too. */
#define FH_GATEWAY_BUDGET_MESSAGES 4

typedef struct fh_gateway_options {
    const fh_flow_config *cfg; /* borrowed: must outlive the gateway */
    const char *self_exe;      /* the flowhost binary, to start workers with */
    size_t max_inflight;       /* 0: the flow's with.max_inflight */
} fh_gateway_options;

/* Sets everything up and waits until every worker is ready (at most the flow's
 * timeout_ready). SIGINT, SIGTERM, SIGCHLD, SIGHUP and FH_RELOAD_SIGNAL (a rolling
 * reload) are blocked in the calling process from here on: the gateway takes them
 * through a signalfd. The calling process becomes a child subreaper and the gateway
 * reaps and kills every child of it that is not one of its workers: it must have no
 * children of its own. On success stores a new gateway
 * the caller owns in *OUT and returns 0. On failure everything started is stopped and
 * removed, and the return is negative with fh_last_error() naming the executor that
 * failed and why. */
int fh_gateway_start(const fh_gateway_options *opts, fh_gateway **out);

/* "HOST:PORT" of the client socket. Borrowed from G. */
const char *fh_gateway_address(const fh_gateway *g);

/* The HTTP gateway's URL ("http://HOST:PORT", or https with TLS), or NULL when the flow
 * serves no HTTP. Borrowed from G. */
const char *fh_gateway_http_url(const fh_gateway *g);

/* Serves until SIGINT, SIGTERM or the hangup of the terminal the flow started in (a
 * SIGHUP sent by the kernel, or one after the terminal is gone), reloading on any other
 * SIGHUP and on FH_RELOAD_SIGNAL (reload.c), then drains: stops taking requests,
 * answers those in flight, and returns 0; those still in flight after the flow's
 * timeout_drain are answered with an error (and their workers killed) first. A second signal while
 * draining returns at once. Returns negative on a fatal transport error. */
int fh_gateway_serve(fh_gateway *g);

/* Stops the workers (DISCONNECT to idle ones, then SIGKILL after a grace period of 3 s;
 * busy ones at once) and every process they started, closes the sockets, removes the
 * runtime directory, frees *G and sets it to NULL. Accepts NULL. */
void fh_gateway_destroy(fh_gateway **g);

#endif

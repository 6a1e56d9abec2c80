/* A worker you can run anywhere: `flowhost worker --listen tcp://ADDR:PORT --uses ...`.
 *
 * It builds the spec the host would give it from its own options, through the flow
 * loader (one parser: `--uses` is read as a flow entry's `uses`, `--uses-with` as its
 * `uses_with`, ...), loads the executor, then binds ADDR:PORT and waits for a gateway.
 *
 * Two threads. The worker's main thread is the very runtime a local worker runs
 * (worker.c: a DEALER, requests in order, batching, heartbeats while a handler runs); it
 * talks over inproc to the listener thread, which owns the bound ROUTER socket and
 * stands for "the gateway" towards it. The listener:
 *   - serves one gateway at a time: a gateway announces itself with a READY holding a
 *     GatewayHello (its token, the flow's settings for the executor); the worker answers
 *     with its WorkerHello. Another gateway is refused (with why) while the one it serves
 *     is heard from; the same gateway coming back on a new connection (same token)
 *     replaces its old connection at once;
 *   - answers a HEARTBEAT from anyone else (a probe: `flowhost ping`) with "ready";
 *   - gives up its gateway after FH_WORKER_GATEWAY_LOST_MS without a word from it (the
 *     gateway pings every 2 s), or when it says DISCONNECT; it then drops what it held
 *     for it: requests not begun are answered with an error nobody gets, the result of
 *     a handler still running is dropped, both logged; and it waits for a gateway again;
 *   - with --key, is a CURVE server and lets in only the gateways whose public keys
 *     --allow lists (and its own key, for a probe run beside it), through a ZAP handler
 *     (zap.h); refusals and failed handshakes are logged.
 * SIGINT/SIGTERM stop it: it tells its gateway (DISCONNECT), the executor's fini runs.
 */
#ifndef FH_HOST_WORKER_LISTEN_H
#define FH_HOST_WORKER_LISTEN_H

#include <stddef.h>

/* A gateway silent this long is given up (ms): three of its pings, and some. */
#define FH_WORKER_GATEWAY_LOST_MS 7000

typedef struct fh_worker_listen_options {
    const char *listen;        /* "tcp://ADDR:PORT" */
    const char *uses;          /* as a flow entry's `uses` */
    const char *uses_with;     /* JSON objects, or NULL */
    const char *uses_metas;
    const char *uses_requests;
    const char *name;          /* the entry's name, or NULL */
    const char *workspace;     /* or NULL: ./workspace/NAME */
    char **env;                /* "K=V", n_env of them */
    size_t n_env;
    const char *key;           /* the worker's secret certificate, or NULL */
    char **allow;              /* the gateways' public keys or certificates, n_allow */
    size_t n_allow;
    unsigned replica, shard, shards;
    long long max_message_size; /* the largest frame taken from anyone, and the most a
                                   gateway's flow may set; 0: FH_FLOW_DEFAULT_MAX_MESSAGE */
    const char *self_exe;      /* this binary: where the installed plugins are */
} fh_worker_listen_options;

/* Runs a remote worker with options O until SIGINT/SIGTERM. Returns the exit status: 0
 * after a clean stop, 1 when it could not start (why on stderr, one line), 2 for bad
 * options (why on stderr). */
int fh_worker_listen_main(const fh_worker_listen_options *o);

#endif

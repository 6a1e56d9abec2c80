/* The worker's insides, shared by its files (see worker.h for what it does):
 *   worker.c          start-up, the serve loop, the end
 *   worker_routes.c   which handler an endpoint runs
 *   worker_request.c  a request from the socket to its reply; dynamic batching
 * Everything here runs on the worker's main thread (worker_beat.h borrows the socket
 * while a handler runs). */
#ifndef FH_HOST_WORKER_INTERNAL_H
#define FH_HOST_WORKER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <flowhost/executor.h>

#include "board.h"
#include "flowhost.pb-c.h"
#include "plugin_loader.h"
#include "wire.h"
#include "worker_beat.h"

typedef struct route_entry {
    const char *endpoint; /* borrowed from the plugin or the spec */
    const char *name;     /* the handler's name, borrowed from the plugin */
    fh_handler_fn handler;
} route_entry;

/* A request at the worker, from the moment it is taken off the socket until it is
 * answered. */
typedef struct fh_job {
    uint64_t seq;                 /* the n-th REQUEST this process received */
    Flowhost__Envelope *env;      /* decoded; NULL for a request passed on unchanged
                                     (PASS), whose envelope is only measured */
    zmq_msg_t raw;                /* the envelope as it came (when HAS_RAW): the reply
                                     is these bytes with a route appended, unless the
                                     worker writes into the envelope (CHANGED) */
    bool has_raw, changed;
    bool pass;                    /* no handler: it goes on unchanged, ENV not decoded */
    fh_handler_fn fn;             /* its handler (NULL when PASS) */
    fh_wire_docs in;              /* its documents as they came */
    fh_docs *docs;                /* decoded, once needed (NULL before) */
    const fh_value *params;       /* as the executor sees them (scoped): borrowed from
                                     ENV or from the two below */
    fh_value *root_owned, *scoped_owned;
    int64_t arrived_ms;           /* when it was taken (fh_monotonic_ms) */
    size_t n_docs;                /* in a batch: how many documents are its own */
    char *error;                  /* malloc'd: why it cannot be handled (then ENV is NULL,
                                     or holds only its id and endpoint); answered with it
                                     in its turn */
} fh_job;

typedef struct worker {
    Flowhost__ExecutorSpec *spec;
    fh_loaded_type loaded;
    route_entry *routes;           /* endpoint -> handler */
    size_t n_routes;
    fh_handler_fn default_handler; /* NULL: unbound endpoints pass unchanged */
    void *state;                   /* what init stored */
    fh_log_level log_level;
    void *zctx;
    void *sock;
    fh_worker_beat beat;           /* heartbeats while a handler runs */
    pid_t parent;
    pid_t self;
    fh_board *board;               /* tells the gateway which requests run (board.h) */
    uint64_t seq;                  /* REQUESTs received so far */
    fh_job next;                   /* a request taken while a batch was gathered that
                                      did not fit it: it runs next */
    bool has_next;
    bool stop;                     /* a DISCONNECT came while a batch was gathered */
} worker;

/* worker_routes.c */
/* Builds W's routes from the plugin's bindings and the spec's requests. Returns 0, or
 * FH_E_NOTFOUND (a handler name the type does not have) / FH_E_NOMEM, with the error
 * set. */
int fh_worker_build_routes(worker *w);
/* The handler ENDPOINT (LEN bytes, not NUL-terminated) runs, or NULL: the request
 * passes unchanged. */
fh_handler_fn fh_worker_lookup(const worker *w, const char *endpoint, size_t len);

/* worker_request.c */
/* Handles the REQUEST M (the caller's; its frames may be moved): decodes it, runs its
 * handler (with the requests a batch gathers, see the spec's batching rules), replies.
 * Every request taken is answered, with an error when it cannot be handled. */
void fh_worker_request(worker *w, fh_wire_msg *m);
/* Handles W->next, the request a batch left behind. */
void fh_worker_request_next(worker *w);

#endif

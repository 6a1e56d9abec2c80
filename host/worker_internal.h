/* The worker's insides, shared by its files (see worker.h for what it does):
 *   worker.c          start-up, the serve loop, the end
 *   worker_routes.c   which handler an endpoint runs
 *   worker_request.c  a request from the socket to its reply; dynamic batching
 *   worker_when.c     `when:`: the documents the handler gets, and the others put back
 * Everything here runs on the worker's main thread (worker_beat.h borrows the socket
 * while a handler runs). */
#ifndef FH_HOST_WORKER_INTERNAL_H
#define FH_HOST_WORKER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <flowhost/executor.h>

#include "board.h"
#include "flowhost.pb-c.h"
#include "plugin_loader.h"
#include "wire.h"
#include "worker_beat.h"

typedef struct fh_when_aside fh_when_aside; /* worker_when.c */
struct fh_when;                             /* flow_when.h */

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
    fh_when_aside *aside;         /* the documents `when` kept from the handler, or NULL */
    bool stale;                   /* its gateway went away (worker_listen.c): not run */
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
    struct fh_when *when;          /* the spec's `when`, compiled; NULL: every document */
    /* A remote worker (`flowhost worker --listen`, worker_listen.c): */
    bool remote;                   /* the host is not its parent: no getppid check */
    _Atomic uint64_t stale_through; /* requests up to this seq came from a gateway that
                                      went away: answered with an error, not run (the
                                      listener drops the answers) */
    struct fh_worker_listener *listener; /* the thread between the gateway and this one */
    Flowhost__GatewayHello *gw_hello; /* the current gateway's settings, or NULL */
    Flowhost__ExecutorSpec own;    /* the spec as the worker's own options made it (a
                                      shallow copy, taken at the first hello): each
                                      gateway's settings start from it, and it is put
                                      back before the spec is freed */
} worker;

/* worker.c */
/* Runs W (its spec, log level and pid set; W->zctx set or NULL: made here): connects to
 * spec->gateway, loads the executor, says READY, serves until DISCONNECT. Frees the spec
 * and everything W holds. Returns the exit status: 0 after a clean stop, 1 otherwise. */
int fh_worker_run(worker *w);

/* worker_listen.c: a remote worker's side of the gateway (see worker_listen.h) */
/* M is a new gateway's READY (a GatewayHello), passed on by the listener before the
 * gateway's first request (the listener checked it: fh_worker_listen_check). Every
 * setting is made anew from the worker's own spec, then the hello's (name, batching,
 * `when`, max_message_size no larger than the worker's own, replica and shard) are put
 * over it: nothing of the gateway before carries over. The hello is kept in
 * W->gw_hello (the spec borrows its strings) until the next one or the end. A malformed
 * one is logged and leaves the worker's own settings. */
void fh_worker_listen_settings(worker *w, fh_wire_msg *m);
/* After the worker's socket is closed: waits for the listener thread to end and frees
 * it. Returns 0, or -1 when the listener failed (bind, or the executor did not start). */
int fh_worker_listen_end(worker *w);

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

/* worker_when.c */
/* Keeps in J's decoded documents only those W's condition matches, setting the others
 * aside in J->aside (none when nothing is set aside or W has no condition). Returns 0, or
 * FH_E_NOMEM with J's documents unchanged. */
int fh_worker_when_pick(const worker *w, fh_job *j);
/* Puts the documents set aside from J back into OWN, J's documents as the handler gave
 * them, by the rule of worker_when.c, and frees J->aside. Returns 0, or FH_E_NOMEM with
 * OWN unchanged (J->aside is then freed with J). */
int fh_worker_when_restore(fh_job *j, fh_docs *own);
/* Frees *A (and the documents in it) and sets it to NULL. Accepts NULL. */
void fh_worker_when_aside_free(fh_when_aside **a);

#endif

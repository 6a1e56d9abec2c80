/* The gateway's insides, shared by its files (see gateway.h for what it does):
 *   gateway.c  the event loop, set-up, signals, tear-down
 *   clients.c  requests from clients: checks, slots, the way in
 *   routing.c  slots, the walk of a request through the executors, the prefetch gate
 *   graph.c    flows as graphs: branches, joins, shards, floating executors
 *   observe.c  what the gateway tells its metrics
 *   dispatch.c the requests held at each worker (credit), the choice of a replica,
 *              replies, and what a lost worker's requests become
 *   workers.c  worker processes: start, READY, deaths, timers, stop
 *   spec.c     the executor spec file each worker reads
 *   remote.c   workers on other machines: connections, announces, losses
 *   replies.c  replies clients have not taken: counted, and bounded
 *   door.c     the client socket's door: keys, connections, what one connection holds
 *   http.c     the HTTP gateway: REST (rest.h), health, metrics, on libmicrohttpd (its
 *              server in this loop; http_request.c: one request; http_internal.h)
 *   health.c   whether the flow is ready, executor by executor
 *   reload.c   rolling reload: each replica replaced by a new worker, one at a time
 *   reload_request.c  the requests for a reload (signals, request files) and answers
 * Everything here runs on the gateway's one thread. */
#ifndef FH_HOST_GATEWAY_INTERNAL_H
#define FH_HOST_GATEWAY_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client_table.h"
#include "metrics.h"
#include "flowhost.pb-c.h"
#include "gateway.h"
#include "runtime_dir.h"
#include "wire.h"

#define MAX_ID FH_CLIENT_ID_MAX     /* longest ZeroMQ routing id */
#define MAX_ENDPOINT 256           /* longest endpoint accepted */
#define MAX_REQUEST_ID 256         /* longest request id accepted */
#define START_FAILURES_MAX 3       /* deaths before ready, in a row, before giving up */
#define STOP_GRACE_MS 3000         /* time workers get to exit after DISCONNECT */
#define HEARTBEAT_MS 2000          /* a ready worker is asked how it is this often (a busy
                                      one beats on its own, see worker_beat.h)... */
#define HEARTBEAT_MISSES 3         /* ...and is lost after this many periods of silence */
#define BACKOFF_FIRST_MS 100       /* delay before the second restart in a row... */
#define BACKOFF_MAX_MS 5000        /* ...doubling up to this */
#define BREAKER_DEATHS 5           /* an executor whose workers die this often in a row... */
#define BREAKER_WINDOW_MS 30000    /* ...within this long is down (its circuit breaker
                                      opens): its requests fail at once... */
#define BREAKER_PROBE_MS 5000      /* ...and a new worker is tried this long after each
                                      failure; its first request answered closes it */
#define STRAY_WAIT_MS 1000         /* the host's last sweep of plugin-started processes */
#define GW_CREDIT_MAX 256          /* most requests one worker may hold */
#define GW_MAX_NEEDS 64             /* most needs (or shards, or last executors) one join
                                      merges */
#define BATCH 64                   /* messages taken from one socket per loop turn */
/* Requests ZeroMQ takes in from one client before it stops reading that connection
 * (TCP then holds the client back): while the flow is full, what a client has sent
 * waits in its own connection, not in the host's memory. */
#define FRONT_RCVHWM 8

/* A request inside the flow. */
typedef struct slot {
    bool used;
    unsigned char client[MAX_ID]; /* the client's routing id */
    size_t client_len;
    Flowhost__Envelope *env;      /* the envelope, decoded: the latest unless ENV_STALE
                                     (its request id and endpoint are always current) */
    zmq_msg_t env_frame;          /* the latest envelope, as received: forwarded without
                                     re-encoding */
    bool env_stale;               /* ENV_FRAME is newer than ENV: an executor's reply
                                     passed on without being decoded (gw_slot_env) */
    size_t env_decoded;           /* what ENV takes decoded, bytes */
    fh_wire_docs docs;            /* the documents and their blob frames: opaque here */
    size_t step;                  /* index of the executor it is at or waits for */
    size_t unit;                  /* the executor's shard (g->execs index) it was sent to */
    int req;                      /* the request it carries: its own index for a request's
                                     slot, the request's slot for a branch; -1: nobody
                                     waits for it (a floating executor's copy, or a branch
                                     of a request already answered) */
    int sib;                      /* a graph: next branch of the same request; -1 ends */
    bool carrying;                /* a graph's request slot: it is itself at an executor
                                     (else it only holds the request while branches run) */
    struct gw_walk *walk;         /* a graph's request slot: what waits at its joins */
    int64_t start_us;             /* when the gateway took it (fh_now_us: for its route) */
    int64_t start_mono_us;        /* the same on the monotonic clock (its duration) */
    int next;                     /* free list, executor queue or parked link; -1 ends */
    bool gated;                   /* counted in its client's in-flight requests */
    size_t bytes;                 /* the request's size as taken in (for max_bytes) */
    int64_t at_us;                /* when it reached the executor it is at or waits for
                                     (fh_monotonic_us): its queue wait starts there */
    bool timed_out;               /* an executor's timeout failed it */
    bool rejected;                /* refused at the door: never let in */
    bool admitted;                /* counted in its client's requests let in (replies.c) */
    /* HTTP: a slot whose client is an HTTP request (http.c) rather than a ZeroMQ
       routing id; its answer goes back through gw_http_answer. */
    bool via_http;
    struct gw_http_req *http;     /* the request waiting for the answer; NULL once it is
                                     gone (connection closed, or answered 504): the answer
                                     is then dropped */
} slot;

struct gw_exec;

/* A request held at a worker, and the bytes it was sent with. */
typedef struct gw_held_entry {
    int slot;
    size_t bytes;
} gw_held_entry;

/* One worker process: a replica of an executor. It runs the requests it holds one at a
 * time, in the order it got them (dispatch.c keeps up to its executor's credit there). */
typedef struct gw_worker {
    struct gw_exec *ex;           /* its executor */
    uint32_t replica;             /* its index among the executor's replicas */
    char *spec_path;              /* the spec file it reads */
    struct fh_board *board;       /* what it is running, shared with it (board.h) */
    pid_t pid;                    /* 0 when no process runs (or the gateway gave up on
                                     it: it is being killed) */
    pid_t last_pid;               /* the process before, whose last words may still come */
    unsigned char id[MAX_ID];     /* the worker's routing id, known once READY */
    size_t id_len;
    bool ready;
    gw_held_entry *held;          /* slots sent to it and not answered, oldest first: a
                                     ring of ex->credit entries */
    uint32_t held_first, held_n;  /* ring position of the oldest, and how many */
    size_t held_bytes;            /* the bytes they were sent with: beyond the first, at
                                     most max_message_size (the worker's memory) */
    uint64_t sent;                /* requests sent to this process (its board counts the
                                     same way) */
    int64_t head_since_us;        /* when the oldest held request's handler started, as
                                     far as the gateway can tell: when it was sent to an
                                     idle worker, or when the reply before it came
                                     (fh_monotonic_us) */
    int64_t service_us;           /* how long it takes for a request, a moving average;
                                     0: not known (or not lately) */
    int64_t idle_since_us;        /* when it last held nothing */
    int64_t started_ms;           /* when its process was started: the start deadline
                                     (timeout_ready) counts from here */
    int crashes;                  /* deaths since its last successful reply */
    int64_t died_ms[BREAKER_DEATHS]; /* when the last deaths in a row were: entry
                                        crashes % BREAKER_DEATHS is the oldest */
    int64_t heard_ms;             /* when it last sent anything */
    int64_t pinged_ms;            /* when it was last sent a HEARTBEAT */
    int64_t restart_at_ms;        /* a new worker is due then (backoff); 0: none */
    int start_failures;           /* deaths before READY, in a row */
    bool timing_out;              /* given up for the timeout of the request it runs */
    uint64_t starts;              /* processes started for it: all but the first are
                                     restarts or reloads */
    uint64_t reloads;             /* of those, the ones a rolling reload started */
    bool down;                    /* circuit breaker open: it gets no requests (but see
                                     probing); when every replica is down, requests for
                                     the executor get an error at once */
    bool probing;                 /* down, and the worker running is a probe: once ready,
                                     it gets one request; an answer closes the breaker */
    int64_t probe_at_ms;          /* down: a probe worker is started then; 0: none due */
    char down_reason[512];
    uint8_t reload;               /* GW_RELOAD_*: its part in a rolling reload (reload.c) */
    uint32_t gen;                 /* its spec and board files' generation: 0 for the
                                     flow's first workers, then one per reload's worker */
    /* A worker on another machine (remote.c): the gateway connects to it, never starts
       it; PID stays 0. */
    bool remote;
    char endpoint[300];           /* "tcp://HOST:PORT" */
    int64_t connected_ms;         /* when its connection was last made anew */
    uint64_t connections;         /* connections made: the last one's routing id */
    int64_t announced_ms;         /* when the gateway last told it who it is */
    int64_t lost_ms;              /* when it was last lost (0: never) */
    bool refused_said;            /* a refusal or failed handshake is logged: not again
                                     until it is ready */
    int conn_fd;                  /* its current connection's descriptor (the monitor's
                                     CONNECTED), -1: none yet */
} gw_worker;

/* A worker's part in a rolling reload: a reload runs a second worker for one replica at
 * a time, in the executor's spare slot (workers[n_workers]). */
enum {
    GW_RELOAD_NONE = 0, /* an ordinary worker */
    GW_RELOAD_NEW,      /* in the spare slot: starting with the file as it is now; once
                           READY it takes its replica's place */
    GW_RELOAD_OLD,      /* in the spare slot: the worker it replaced, finishing what it
                           holds; it gets nothing new */
    GW_RELOAD_BYE,      /* the same, told to stop (DISCONNECT), waited for */
    GW_RELOAD_WAIT,     /* in place: in its replica's slot, not started: it starts once
                           the old worker (in the spare slot) has ended */
    GW_RELOAD_IN_PLACE  /* in place: the same, starting; once READY an ordinary worker
                           (its failures are an ordinary worker's, after one line) */
};

/* An executor of the flow: its replicas and the requests waiting for one of them. */
typedef struct gw_exec {
    const fh_flow_executor *cfg;
    size_t index;                 /* its position in g->execs (one per shard) */
    size_t node;                  /* the executor's position in the flow */
    uint32_t shard, shards;       /* which of the executor's shards it is, of how many */
    uint32_t shard_turn;          /* its first shard's: the shard that wins the next tie
                                     of a request polled ANY */
    size_t queued;                /* slots in its queue */
    gw_worker *workers;           /* cfg->replicas of them, and a spare slot after them */
    size_t n_workers;             /* the replicas (the spare slot is not counted) */
    size_t n_spare;               /* 1 while a reload uses the spare slot, else 0 */
    uint32_t credit;              /* requests one worker may hold, 1..GW_CREDIT_MAX */
    size_t turn;                  /* the replica that wins the next tie */
    int queue_head, queue_tail;   /* slots waiting for a worker with room; -1 when empty */
} gw_exec;

/* The flow's graph, as the gateway walks it (graph.c). */
typedef struct gw_graph {
    bool chain;                   /* each executor follows the one before, one shard each,
                                     none floating: a request walks alone, step by step */
    size_t *unit;                 /* per executor: the index of its first shard in execs */
    size_t **next, *n_next;       /* per executor: the executors that need it */
    bool *sink;                   /* per executor: nobody needs it and it is not floating:
                                     the gateway's answer waits for it */
    size_t *sinks, n_sinks;       /* those, in the flow's order */
    size_t *sources, n_sources;   /* executors that start at the gateway */
    bool *feeds_join;             /* per executor: a join comes after it (its branch's
                                     documents are brought together there) */
    size_t *join_at;              /* per executor of several needs: its first input in a
                                     walk's parts */
    size_t *shard_at;             /* per sharded executor: its first shard's part */
    size_t end_at;                /* the sinks' parts (more than one sink) */
    size_t n_parts;
    size_t width;                 /* most branches one request has, its own slot aside */
    size_t float_width;           /* most slots a copy for a floating executor takes (its
                                     shards); 0: no floating executor */
} gw_graph;

struct fh_gateway {
    const fh_flow_config *cfg;
    const char *self_exe;
    fh_runtime_dir *rundir;
    char backend_ep[4200];
    char address[300];
    void *zctx, *front, *back;
    void *back_monitor;           /* the workers' socket's handshake events (remote.c) */
    uint64_t token;               /* this gateway, for remote workers (GatewayHello) */
    int sigfd;
    sigset_t oldmask;             /* the signal mask before the gateway started */
    bool mask_changed;
    gw_exec *execs;               /* one per shard of each executor */
    size_t n_execs;
    gw_graph graph;
    slot *slots;                  /* n_slots requests, then n_branches branches */
    size_t n_slots;
    size_t n_branches;
    int free_head;
    int branch_free;              /* free list of branch slots */
    size_t detached;              /* branches nobody waits for, still at work */
    size_t detached_max;          /* floating executors' copies out at most, in slots */
    size_t inflight;
    size_t inflight_bytes;        /* documents held in slots, bytes */
    size_t max_bytes;             /* stop reading clients above this */
    size_t reserve;               /* slots a no_wait request may not take */
    fh_client_table clients;      /* clients with requests inside, for prefetch */
    struct gw_replies *replies;   /* replies clients have not taken (replies.c) */
    struct gw_door *door;         /* who gets in, how many (door.c) */
    fh_metrics *metrics;          /* what it counts (observe.c); NULL: not counted */
    struct gw_http *http;         /* the HTTP gateway (http.c), or NULL when off */
    struct gw_reload *reload;     /* the rolling reload (reload.c) */
    bool reload_asked;            /* a reload was signalled: gw_reload_asked reads it */
    bool had_tty;                 /* the flow had a controlling terminal at its start */
    bool hung_up;                 /* its terminal hung up: the flow drains (once) */
    bool draining;
    int64_t timers_ms;            /* when gw_check_timers last ran */
    int64_t drain_deadline_ms;    /* draining: requests still inside then get an error */
    bool drain_expired;           /* that happened: nothing is sent to workers any more */
    char drain_why[160];          /* and this is what the requests still inside get */
};

#define LIMIT_WHY_MAX 200 /* room for gw_within_limit's reason */

/* A line on stderr, "flowhost: ..." (the host's log). */
void gw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* spec.c: writes W's spec file (and its board) into the runtime directory and stores
 * their paths in W. Returns 0 or a negative FH_E_ code (fh_last_error says why). */
int gw_write_spec(fh_gateway *g, gw_worker *w);
/* Removes W's spec file and board (gw_write_spec's), closes its board, frees the path
 * (NULL after). Its process must be gone or killed. Nothing when W has none. */
void gw_remove_spec(fh_gateway *g, gw_worker *w);

/* Lowers the deadline *NEXT (ms; -1: none) to AT. */
static inline void gw_sooner(int64_t *next, int64_t at)
{
    if (*next < 0 || at < *next)
        *next = at;
}

/* routing.c */
/* A free slot, initialised and counted in flight, or -1 when none is left. */
int gw_slot_alloc(fh_gateway *g);
/* Frees slot I and everything it holds. */
void gw_slot_free(fh_gateway *g, int i);
/* Releases what slot I holds (its envelope, frames, bytes counted) and marks it unused:
 * the part of freeing a request's slot and a branch's that is the same. */
void gw_slot_clear(fh_gateway *g, int i);
/* Makes slot I's decoded envelope the latest (decodes its frame when it is stale).
 * Returns 0, or an error code (out of memory: the envelope stays the one before). */
int gw_slot_env(fh_gateway *g, int i);
/* Answers the client of slot I with what the slot holds, and frees the slot. */
void gw_finish(fh_gateway *g, int i);
/* Marks slot I failed by executor X (NULL: the gateway) with WHY, then follows X's
 * on_error: goes on, or answers the client. */
void gw_fail(fh_gateway *g, int i, const fh_flow_executor *x, const char *why);
/* Sends slot I to the executor at its step, queues it there, or answers it. */
void gw_advance(fh_gateway *g, int i);
/* Lets slot I in, or parks it behind its client's requests already inside. */
void gw_enter_gate(fh_gateway *g, int i);
/* Slot I is done: its client may let its next parked request in. */
void gw_release_gate(fh_gateway *g, int i);

/* graph.c: the walk of a request through the flow's graph */
/* Derives G's graph from its flow and lays out its executors' shards (g->execs, before
 * their workers are made). Returns 0 or FH_E_NOMEM. */
int gw_graph_init(fh_gateway *g);
/* Frees what gw_graph_init made, and the branch slots' walks. */
void gw_graph_free(fh_gateway *g);
/* Whether slot I is a branch (not a request's own slot). */
bool gw_is_branch(const fh_gateway *g, int i);
/* Slot I (a request) starts its walk: to every executor that starts at the gateway. */
void gw_walk_start(fh_gateway *g, int i);
/* Sends slot I to the executor at its step (its shards as their polling says). */
void gw_walk_send(fh_gateway *g, int i);
/* Slot I is done with executor X (NULL: the gateway failed it); FAILED: with an error in
 * its envelope. Sends it on to what follows, waits at a join, or answers the request. */
void gw_step_done(fh_gateway *g, int i, const fh_flow_executor *x, bool failed);
/* Request slot I is being answered: its branches are left to finish for nobody, its walk
 * is freed. */
void gw_walk_end(fh_gateway *g, int i);
/* Frees branch slot I. */
void gw_branch_free(fh_gateway *g, int i);

/* observe.c: the metrics (metrics.h) */
/* Builds G's metrics from its executors' shards and replicas. Returns 0 or an error. */
int gw_observe_init(fh_gateway *g);
/* Frees them. */
void gw_observe_free(fh_gateway *g);
/* Slot I is answered with ENV_FRAME: counted by endpoint and status, with its duration. */
void gw_observe_answer(fh_gateway *g, int i, const zmq_msg_t *env_frame);
/* W answered slot I, whose handler began at BEGAN_US and ended at NOW_US (monotonic). */
void gw_observe_call(fh_gateway *g, const gw_worker *w, int i, int64_t began_us, int64_t now_us);
/* W ran a batched call of DOCS documents (0: not one; not counted). */
void gw_observe_batch(fh_gateway *g, const gw_worker *w, uint32_t docs);
/* Executor shard X failed a request for KIND. X may be NULL (the gateway): not counted. */
void gw_observe_error(fh_gateway *g, const gw_exec *x, fh_metrics_error_kind kind);
/* A new process was started for W after its first (not by a reload). */
void gw_observe_restart(fh_gateway *g, const gw_worker *w);
/* A rolling reload started a new process for W, to replace the one it had. */
void gw_observe_reload(fh_gateway *g, const gw_worker *w);
/* Appends the flow's metrics, its gauges read now, to OUT (Prometheus' text format).
 * Returns 0, FH_E_STATE (no metrics) or FH_E_NOMEM. */
int gw_metrics_text(fh_gateway *g, fh_prom_buf *out);

/* dispatch.c: the requests at each worker, up to its executor's credit */
/* Sends slot I to the least loaded replica of X with room, queues it at X, or fails it
 * at once when every replica of X is down. */
void gw_dispatch(fh_gateway *g, gw_exec *x, int i);
/* Sends what waits at X to its replicas with room. */
void gw_feed(fh_gateway *g, gw_exec *x);
/* The next slot waiting at X, taken off its queue, or -1. */
int gw_dequeue(fh_gateway *g, gw_exec *x);
/* The oldest request W holds (the one it runs or runs next), or -1. */
int gw_held_head(const gw_worker *w);
/* The same, taken off what W holds. */
int gw_held_pop(gw_worker *w);
/* A REPLY from W: answers for its oldest request and sends that on. */
void gw_on_reply(fh_gateway *g, gw_worker *w, fh_wire_msg *m);
/* W's process PID is gone (or given up). The requests it held are answered: the one it was
 * running gets WHY; one it had finished whose reply was lost gets an error saying so;
 * those it had not started go back to the front of the executor's queue, in order, for
 * another replica or the next worker. None runs twice. */
void gw_release_held(fh_gateway *g, gw_worker *w, pid_t pid, const char *why);
/* Whether every replica of X is down (its breaker open): requests for X fail at once. */
bool gw_exec_down(const gw_exec *x);

/* clients.c */
/* Whether DOCS, all frames together, are within max_message_size; if not WHY
 * (LIMIT_WHY_MAX bytes) says so, naming WHAT, else WHY is "". */
bool gw_within_limit(const fh_gateway *g, const fh_wire_docs *docs, const char *what, char *why);
/* Handles one message from the client socket (M is the caller's; frames may be moved). */
void gw_on_client_message(fh_gateway *g, fh_wire_msg *m);
/* Answers slot I, a request the gateway does not take (or no longer holds), with WHY and
 * nothing else: its documents and parameters are not sent back, so that a refusal
 * weighs a few bytes whatever the request did. Frees the slot. */
void gw_refuse_slot(fh_gateway *g, int i, const char *why);

/* replies.c */
/* Counts replies for up to MAX_CLIENTS clients at once. Returns 0 or negative. */
int gw_replies_init(fh_gateway *g, size_t max_clients);
/* Frees the counters: after the ZeroMQ context is terminated (no frame is left). */
void gw_replies_free(fh_gateway *g);
/* The eventfd that becomes readable when ZeroMQ let replies go while requests wait. */
int gw_replies_fd(const fh_gateway *g);
/* Sends the reply of slot I: ENV_FRAME and the slot's documents (both moved), counted
 * against its client until ZeroMQ lets it go. Returns as fh_wire_send_docs. */
int gw_replies_send(fh_gateway *g, int i, zmq_msg_t *env_frame);
/* Slot I is freed: it no longer counts among its client's requests inside. */
void gw_replies_forget(fh_gateway *g, int i);
/* Lets slot I on to the prefetch gate when its client has room for more replies;
 * otherwise it waits, in order, until the client reads. */
void gw_replies_admit(fh_gateway *g, int i);
/* Lets in what waits and has room again (READABLE: the eventfd is), sweeps unused
 * counters now and then; lets everything in while draining. Call every loop turn. */
void gw_replies_wake(fh_gateway *g, bool readable);
/* Whether client ID (LEN bytes) has left replies unread beyond its share, or a queue of
 * them: an answer to it would only add to them. */
bool gw_replies_unread(fh_gateway *g, const void *id, size_t len);

/* door.c */
/* Raises the descriptor limit, sets the client socket up (keys, ZAP, monitor) before it
 * is bound. Returns 0 or negative (fh_last_error). */
int gw_door_init(fh_gateway *g);
/* After the client socket is bound: finds its listening descriptor, warns when it is open
 * beyond the loopback interface without keys. Returns 0. */
int gw_door_bound(fh_gateway *g);
/* The bound on client connections, as it fits the descriptor limit. */
size_t gw_door_max(const fh_gateway *g);
/* The HTTP gateway's connections, as they fit the descriptor limit beside ZeroMQ's: those
 * served (http_max_connections, or fewer), and the spare ones beyond, told 503. */
void gw_door_http_bounds(const fh_gateway *g, size_t *served, size_t *spare);
/* Closes the door's sockets and frees it: before the ZeroMQ context is terminated. */
void gw_door_free(fh_gateway *g);
/* Puts the door's sockets in ITEMS (room for 2); returns how many. */
size_t gw_door_poll_items(fh_gateway *g, zmq_pollitem_t *items);
/* After a poll (ITEMS as gw_door_poll_items filled them): connection events, ZAP
 * requests, the bound, what connections hold. */
void gw_door_service(fh_gateway *g, const zmq_pollitem_t *items);
/* The ms until gw_door_service wants to run again, or -1. */
int gw_door_timer(const fh_gateway *g);
/* Counts message M (from the client socket) as given to the gateway by its connection. */
void gw_door_delivered(fh_gateway *g, const fh_wire_msg *m);

/* http.c: the HTTP gateway. Every function is a no-op (or says "none") when the flow
 * serves no HTTP. */
/* Starts the HTTP server on the flow's host and port_http (TLS with ssl_certfile). Call
 * once the workers are ready. Returns 0 or negative (fh_last_error: what and where). */
int gw_http_init(fh_gateway *g);
/* Answers what waits with 503, stops the server, frees it: before the slots are freed. */
void gw_http_free(fh_gateway *g);
/* "HOST:PORT" the HTTP server listens on (borrowed from G), or NULL when off. */
const char *gw_http_address(const fh_gateway *g);
/* Whether the HTTP server speaks TLS. */
bool gw_http_tls(const fh_gateway *g);
/* Puts the server's descriptor in ITEMS (room for 1); returns how many. */
size_t gw_http_poll_items(fh_gateway *g, zmq_pollitem_t *items);
/* The ms until gw_http_service wants to run again, or -1. */
int gw_http_timer(const fh_gateway *g);
/* Every loop turn: reads and writes connections, lets waiting requests in as the flow
 * has room (refuses them when draining), answers 504 past deadlines, cuts slow readers. */
void gw_http_service(fh_gateway *g);
/* Draining: whether HTTP requests are still waiting or being answered (false once the
 * drain deadline passed). */
bool gw_http_busy(const fh_gateway *g);
/* gw_finish for an HTTP slot I: writes the answer ENV_FRAME (consumed) and the slot's
 * documents as Jina's JSON to its request, or drops it when the request is gone. */
void gw_http_answer(fh_gateway *g, int i, zmq_msg_t *env_frame);
/* Slot I (HTTP) is freed without an answer: its request gets a 500 now. */
void gw_http_detach(fh_gateway *g, int i);

/* health.c */
/* Whether every executor has a ready replica for each of its shards and the flow is not
 * draining; if not, WHY (SIZE bytes) says which is not, else it is "". */
bool gw_flow_ready(const fh_gateway *g, char *why, size_t size);
/* GET /health/ready's body: {"ready", "draining", "why", "executors": [{"name", "ready",
 * "replicas_ready", "replicas", "restarts"}]}; *READY as gw_flow_ready. A new string the
 * caller frees, or NULL when out of memory. */
char *gw_health_json(const fh_gateway *g, bool *ready);

/* remote.c: workers on other machines (executors with `host:`) */
/* Marks the remote workers, makes the gateway's token, connects to each and announces
 * the gateway. Returns 0 or negative (fh_last_error). */
int gw_remote_init(fh_gateway *g);
/* Handles M (command CMD) from W, found by gw_worker_by_id, when W is a remote worker
 * and M is about its connection (READY, DISCONNECT, or anything from one not ready):
 * returns true. False: not one of those (or W NULL or local), the caller handles it. */
bool gw_remote_message(fh_gateway *g, gw_worker *w, fh_wire_msg *m, int cmd);
/* Remote worker W is lost for WHY: its requests get an error, it is down until it
 * answers again, its connection is made anew. */
void gw_remote_lose(fh_gateway *g, gw_worker *w, const char *why);
/* The deadlines of remote worker W (as gw_check_worker; announces while not ready). */
void gw_remote_check(fh_gateway *g, gw_worker *w, int64_t now, int64_t *next);
/* While the flow starts: announces to the remote workers not ready. Returns the ms until
 * the next, or -1. */
int gw_remote_tick(fh_gateway *g);
/* At the start deadline: the remote workers not ready are down (the flow serves without
 * them, and takes each in when it answers). */
void gw_remote_not_ready(fh_gateway *g);
/* Tells the ready remote workers the gateway goes (DISCONNECT). */
void gw_remote_stop(fh_gateway *g);
/* Closes what gw_remote_init made: before the context is terminated. */
void gw_remote_free(fh_gateway *g);


/* gateway.c: reads pending signals: a bit set, 1 = SIGINT/SIGTERM, 2 = SIGCHLD; a
 * reload's signal is noted (gw_reload_signalled) and sets g->reload_asked. */
int gw_read_signals(fh_gateway *g);
/* workers.c: the worker whose connection has routing id ID (LEN bytes): a ready one, or
 * a remote one ready or not (its id is the gateway's own for its current connection);
 * NULL when none. One scan on every worker message. */
gw_worker *gw_worker_by_id(fh_gateway *g, const void *id, size_t len);

/* workers.c */
/* Starts a process for worker W (its start deadline counts from now). Returns 0 or
 * negative (fh_last_error). */
int gw_spawn(fh_gateway *g, gw_worker *w);
/* How many workers the flow has (every replica of every executor). */
size_t gw_worker_count(const fh_gateway *g);
/* The worker with process id PID, or NULL. */
gw_worker *gw_worker_by_pid(fh_gateway *g, pid_t pid);
/* GW_FOR_WORKERS(g, w) statement: runs it for every worker w of the flow (a reload's
 * spare slot included while it is in use). */
#define GW_FOR_WORKERS(g, w)                                                              \
    for (size_t gw__x = 0; gw__x < (g)->n_execs; gw__x++)                                 \
        for (gw_worker *w = (g)->execs[gw__x].workers;                                   \
             w < (g)->execs[gw__x].workers + (g)->execs[gw__x].n_workers +                \
                     (g)->execs[gw__x].n_spare;                                          \
             w++)
/* Opens W's circuit breaker: it gets no request until a probe worker started
 * BREAKER_PROBE_MS from now answers one. When every replica is down, the requests
 * waiting for the executor, and every later one, get "executor 'X' is down: WHY". */
void gw_mark_down(fh_gateway *g, gw_worker *w, const char *why);
/* Gives up on W's process (WHY says why, "executor 'X' ..."): kills it with everything
 * it started, answers for its requests (gw_release_held), counts a death, and starts a
 * new worker (or opens the breaker). */
void gw_lose_worker(fh_gateway *g, gw_worker *w, const char *why);
/* Every deadline of W's running (or connected) worker: start, `timeout`, heartbeats,
 * connection; *NEXT gets the next one if sooner. */
void gw_check_worker(fh_gateway *g, gw_worker *w, int64_t now, int64_t *next);
/* The drain deadline passed: every request still inside is answered with an error, and
 * the workers that hold one are killed. */
void gw_expire_drain(fh_gateway *g);
/* A READY from a worker: 0, or negative when the executor could not start (fh_last_error
 * says why). *WHICH (may be NULL) gets the worker, or NULL for a malformed message. */
int gw_on_hello(fh_gateway *g, fh_wire_msg *m, gw_worker **which);
/* Handles one message from the workers' socket. */
void gw_on_worker_message(fh_gateway *g, fh_wire_msg *m);
/* Timeouts, heartbeats and due restarts: the milliseconds to the next deadline, or -1. */
int gw_check_timers(fh_gateway *g);
/* Collects ended child processes, answers for their requests, and kills what plugins
 * started that outlived its worker. */
void gw_reap(fh_gateway *g);
/* Asks every idle worker to stop, kills busy ones, waits up to STOP_GRACE_MS, then
 * kills what is left, and every process the workers started. */
void gw_stop_workers(fh_gateway *g);

/* reload.c, reload_request.c: the rolling reload (see the comments at their tops) */
/* Makes G's reload state. Returns 0 or FH_E_NOMEM. */
int gw_reload_init(fh_gateway *g);
/* Frees it; tells the reloads still waited for that the flow stopped. */
void gw_reload_free(fh_gateway *g);
/* A reload was signalled: ID 0 a plain SIGHUP (every executor), ID > 0 the request
 * file reload-ID.req (FH_RELOAD_SIGNAL), ID < 0 an FH_RELOAD_SIGNAL with no id (logged,
 * ignored). Noted for gw_reload_asked (bounded: one beyond that is logged and dropped,
 * its command gets no answer); sets g->reload_asked. */
void gw_reload_signalled(fh_gateway *g, int id);
/* Takes the reloads signalled since the last call: each request file named (a missing
 * one was withdrawn by its command: logged, nothing done) is answered and queued; a
 * plain SIGHUP queues every executor not queued already. */
void gw_reload_asked(fh_gateway *g);
/* Every loop turn (from gw_check_timers): starts the next replacement, retires replaced
 * workers that hold nothing more, ends the rollout. Lowers *NEXT (ms, monotonic; -1:
 * none) to when it wants to run again. */
void gw_reload_tick(fh_gateway *g, int64_t now, int64_t *next);
/* The flow drains: the rollout stops (a new worker still starting is killed), the
 * reloads waited for are told so. */
void gw_reload_stop(fh_gateway *g);
/* A reload's new worker W said READY: it takes its replica's place (in place: it has
 * it already). */
void gw_reload_ready(fh_gateway *g, gw_worker *w);
/* The spare worker W could not start (WHY): the old worker keeps serving, the reload
 * of its executor stops. W's process is killed. */
void gw_reload_failed(fh_gateway *g, gw_worker *w, const char *why);
/* In place, the new worker W (GW_RELOAD_IN_PLACE or _WAIT; else nothing is done) could
 * not start (WHY): says so in one line, stops the executor's reload; the caller then
 * handles W as any worker that failed to start. */
void gw_reload_in_place_failed(fh_gateway *g, gw_worker *w, const char *why);
/* The process of spare worker W is gone (HOW), or given up (WHY_GIVEN, else NULL):
 * answers for what it held, frees the spare slot, lets the rollout go on. */
void gw_reload_gone(fh_gateway *g, gw_worker *w, const char *how, const char *why_given);
/* The deadlines of spare worker W (start, stop); true when they are all it has (the
 * caller skips the ordinary checks), false for a replaced worker still serving. */
bool gw_reload_check(fh_gateway *g, gw_worker *w, int64_t now, int64_t *next);

#endif

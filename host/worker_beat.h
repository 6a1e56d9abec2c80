/* A worker's heartbeat while a handler runs.
 *
 * The gateway must tell a worker that is merely slow from one that is stopped (SIGSTOP,
 * a debugger), wedged in the kernel, or whose connection is gone: all of them are silent
 * on the data path. So while a handler runs, the worker's main thread lends its socket
 * to a thread of its own, which sends a HEARTBEAT on it every FH_WORKER_BEAT_MS once the
 * handler has run that long. A slow handler keeps its worker beating; a stopped process
 * stops every thread, and a lost connection carries nothing: the gateway hears silence.
 * (A handler that spins forever still beats: only `timeout` or the drain deadline ends
 * it.) The heartbeats travel on the data connection itself, so they also work for a
 * worker on another machine, where the host cannot watch the process.
 *
 * The socket is never used by two threads at once: the main thread holds it between
 * fh_worker_beat_start and fh_worker_beat_stop except between fh_worker_beat_enter and
 * fh_worker_beat_leave; the beat thread takes it only in that window, with trylock, so
 * the main thread never waits for it except for the length of one send. (ZeroMQ allows
 * a socket to move between threads across a full memory barrier; the mutex is one.)
 * A request that runs for less than FH_WORKER_BEAT_MS costs an unlock, a lock and two
 * atomic stores.
 */
#ifndef FH_HOST_WORKER_BEAT_H
#define FH_HOST_WORKER_BEAT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A busy worker sends a HEARTBEAT this often (ms), from this long after its handler
 * started. The gateway gives up on a worker after HEARTBEAT_MS * HEARTBEAT_MISSES of
 * silence (gateway_internal.h): several beats fit in that. */
#define FH_WORKER_BEAT_MS 1000

typedef struct fh_worker_beat {
    void *sock;                        /* the worker's DEALER socket: borrowed */
    pthread_mutex_t sock_lock;         /* held by the thread that may use SOCK */
    pthread_mutex_t wait_lock;         /* guards STOP, for WAKE */
    pthread_cond_t wake;               /* signalled to stop the thread */
    bool stop;
    _Atomic int64_t handler_since_ms;  /* fh_monotonic_ms() when the handler started; 0:
                                          none runs */
    pthread_t thread;
    bool started;
} fh_worker_beat;

/* Starts the beat thread for SOCK (borrowed: it must outlive fh_worker_beat_stop). The
 * calling thread holds the socket from now on. Returns 0, or FH_E_IO when the thread
 * cannot be made (B is then not started and needs no stop). */
int fh_worker_beat_start(fh_worker_beat *b, void *sock);

/* Before a handler: lends the socket to the beat thread. The caller must not use the
 * socket until fh_worker_beat_leave. */
void fh_worker_beat_enter(fh_worker_beat *b);

/* After a handler: takes the socket back (waits at most for one send to finish). */
void fh_worker_beat_leave(fh_worker_beat *b);

/* Stops and joins the thread (at once: it is woken, not waited for). Accepts a B that
 * was never started (zero-initialised). The socket stays the caller's. */
void fh_worker_beat_stop(fh_worker_beat *b);

#endif

/* A worker's heartbeat while a handler runs: see worker_beat.h. */
#define _GNU_SOURCE
#include "worker_beat.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <flowhost/error.h>

#include "util.h"
#include "wire.h"

static void *beat_main(void *arg)
{
    fh_worker_beat *b = arg;
    pthread_mutex_lock(&b->wait_lock);
    while (!b->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += FH_WORKER_BEAT_MS / 1000;
        until.tv_nsec += (long)(FH_WORKER_BEAT_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&b->wake, &b->wait_lock, &until);
        if (b->stop)
            break;
        int64_t since = atomic_load(&b->handler_since_ms);
        if (since == 0 || fh_monotonic_ms() - since < FH_WORKER_BEAT_MS)
            continue;
        /* Only while the main thread has lent the socket: never wait for it. */
        if (pthread_mutex_trylock(&b->sock_lock) != 0)
            continue;
        if (atomic_load(&b->handler_since_ms) != 0)
            fh_wire_send(b->sock, NULL, 0, FH_CMD_HEARTBEAT, NULL, 0, ZMQ_DONTWAIT);
        pthread_mutex_unlock(&b->sock_lock);
    }
    pthread_mutex_unlock(&b->wait_lock);
    return NULL;
}

int fh_worker_beat_start(fh_worker_beat *b, void *sock)
{
    memset(b, 0, sizeof *b);
    b->sock = sock;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&b->wait_lock, NULL);
    pthread_mutex_init(&b->sock_lock, NULL);
    atomic_store(&b->handler_since_ms, 0);
    pthread_mutex_lock(&b->sock_lock);
    int rc = pthread_create(&b->thread, NULL, beat_main, b);
    if (rc != 0) {
        pthread_mutex_unlock(&b->sock_lock);
        pthread_mutex_destroy(&b->sock_lock);
        pthread_mutex_destroy(&b->wait_lock);
        pthread_cond_destroy(&b->wake);
        return fh_set_error(FH_E_IO, "cannot start the heartbeat thread: %s", strerror(rc));
    }
    b->started = true;
    return 0;
}

void fh_worker_beat_enter(fh_worker_beat *b)
{
    if (!b->started)
        return;
    atomic_store(&b->handler_since_ms, fh_monotonic_ms());
    pthread_mutex_unlock(&b->sock_lock);
}

void fh_worker_beat_leave(fh_worker_beat *b)
{
    if (!b->started)
        return;
    pthread_mutex_lock(&b->sock_lock);
    atomic_store(&b->handler_since_ms, 0);
}

void fh_worker_beat_stop(fh_worker_beat *b)
{
    if (!b->started)
        return;
    pthread_mutex_lock(&b->wait_lock);
    b->stop = true;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->wait_lock);
    pthread_join(b->thread, NULL);
    pthread_mutex_unlock(&b->sock_lock);
    pthread_mutex_destroy(&b->sock_lock);
    pthread_mutex_destroy(&b->wait_lock);
    pthread_cond_destroy(&b->wake);
    b->started = false;
}

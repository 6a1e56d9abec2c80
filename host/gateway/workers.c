/* Worker processes: starting, READY, replies, deaths, timeouts, heartbeats, the circuit
 * breaker, stopping.
 *
 * Whatever a worker does, the gateway finds out within a bound and answers for its
 * requests:
 *   starting   every start has a deadline (timeout_ready); past it the worker is killed
 *              and the requests waiting for it get an error;
 *   busy       `timeout`, when set; and a busy worker beats (worker_beat.h), so one that
 *              is stopped, or whose connection is gone, is silent and lost after
 *              HEARTBEAT_MS * HEARTBEAT_MISSES; a slow handler without `timeout` may
 *              take its time (the drain deadline still bounds a shutdown);
 *   idle       pinged every HEARTBEAT_MS; silence as above;
 *   connection every ping goes out with ROUTER_MANDATORY: a worker whose connection
 *              ZeroMQ dropped (a reconnect gets a new routing id) is unreachable at
 *              once;
 *   dying      in a loop: restarts back off, and BREAKER_DEATHS deaths in a row within
 *              BREAKER_WINDOW_MS open the executor's circuit breaker.
 * (waitpid(WUNTRACED) would show a stopped local worker sooner, but not a wedged
 * connection nor a worker on another machine: heartbeats cover all three.) */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "codec.h"
#include "pb.h"
#include "supervisor.h"
#include "util.h"

/* Descriptors a new worker's connection may need in this process (libzmq aborts when
 * its listener cannot accept one), and how long a start waits when they are not free. */
#define SPAWN_FDS_FREE 32
#define SPAWN_FDS_RETRY_MS 100

/* Whether at least SPAWN_FDS_FREE descriptors are free under the soft limit. */
static bool fds_free(void)
{
    struct rlimit rl;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL || getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        if (d != NULL)
            closedir(d);
        return errno != EMFILE && errno != ENFILE; /* no /proc: nothing to go by */
    }
    size_t open = 0;
    while (readdir(d) != NULL)
        open++;
    closedir(d);
    return rl.rlim_cur == RLIM_INFINITY || open + SPAWN_FDS_FREE < (size_t)rl.rlim_cur;
}

int gw_spawn(fh_gateway *g, gw_worker *e)
{
    e->ready = false;
    e->id_len = 0;
    e->sent = 0;
    e->held_first = e->held_n = 0;
    e->held_bytes = 0;
    e->service_us = 0; /* a new process: nothing known of it */
    if (!fds_free()) {
        /* Client connections hold the descriptors the new worker's connection needs for
         * a moment (the door refuses those over max_connections): start it a little
         * later, as after a backoff, rather than let libzmq fail to accept it. */
        int64_t at = fh_monotonic_ms() + SPAWN_FDS_RETRY_MS;
        if (e->down)
            e->probe_at_ms = at; /* a probe while the breaker is open */
        else
            e->restart_at_ms = at;
        return 0;
    }
    e->started_ms = fh_monotonic_ms();
    e->timing_out = false;
    if (e->starts++ > 0) { /* health and metrics: a restart, or a reload in place */
        if (e->reload == GW_RELOAD_IN_PLACE)
            gw_observe_reload(g, e);
        else
            gw_observe_restart(g, e);
    }
    return fh_supervisor_spawn(g->self_exe, e->spec_path, e->ex->cfg->env, &e->pid);
}

size_t gw_worker_count(const fh_gateway *g)
{
    size_t n = 0;
    for (size_t x = 0; x < g->n_execs; x++)
        n += g->execs[x].n_workers + g->execs[x].n_spare;
    return n;
}

gw_worker *gw_worker_by_pid(fh_gateway *g, pid_t pid)
{
    GW_FOR_WORKERS(g, w)
        if (w->pid == pid)
            return w;
    return NULL;
}

gw_worker *gw_worker_by_id(fh_gateway *g, const void *id, size_t len)
{
    GW_FOR_WORKERS(g, w)
        if ((w->ready || w->remote) && w->id_len == len && memcmp(w->id, id, len) == 0)
            return w;
    return NULL;
}

/* ---- worker messages ---------------------------------------------------------------- */

void gw_mark_down(fh_gateway *g, gw_worker *e, const char *why)
{
    gw_exec *x = e->ex;
    e->down = true;
    e->probing = false;
    e->restart_at_ms = 0;
    e->probe_at_ms = fh_monotonic_ms() + BREAKER_PROBE_MS;
    /* Names are at most 64 characters: the reason fits whole up to 400. */
    if (x->n_workers == 1)
        snprintf(e->down_reason, sizeof e->down_reason, "executor '%s' is down: %.400s",
                 x->cfg->name, why);
    else
        snprintf(e->down_reason, sizeof e->down_reason,
                 "executor '%s' is down (every replica): replica %u: %.400s", x->cfg->name,
                 e->replica, why);
    if (!gw_exec_down(x)) { /* the other replicas take its share */
        gw_log("executor '%s', replica %u is down: %.400s (the other replicas serve; a new "
               "worker is tried in %d ms)", x->cfg->name, e->replica, why, BREAKER_PROBE_MS);
        return;
    }
    gw_log("%s (a new worker is tried in %d ms)", e->down_reason, BREAKER_PROBE_MS);
    int i;
    while ((i = gw_dequeue(g, x)) >= 0) {
        gw_observe_error(g, x, FH_METRICS_E_UNAVAILABLE);
        gw_fail(g, i, x->cfg, e->down_reason);
    }
}

/* A READY from a worker. Returns 0, or negative when the executor could not start
 * (fh_last_error says why). *WHICH (may be NULL) gets the executor it came from, or NULL
 * when the message was malformed. */
int gw_on_hello(fh_gateway *g, fh_wire_msg *m, gw_worker **which)
{
    size_t idlen, len;
    const void *id = fh_wire_data(m, 0, &idlen);
    const void *buf = fh_wire_data(m, 3, &len);
    Flowhost__WorkerHello *h =
        buf ? (Flowhost__WorkerHello *)fh_pb_unpack(&flowhost__worker_hello__descriptor, buf, len) : NULL;
    if (which != NULL)
        *which = NULL;
    if (h == NULL || h->index >= g->n_execs || h->replica >= g->execs[h->index].n_workers ||
        idlen == 0 || idlen > MAX_ID) {
        gw_log("dropped a malformed READY from a worker");
        if (h)
            flowhost__worker_hello__free_unpacked(h, NULL);
        return 0;
    }
    gw_worker *e = &g->execs[h->index].workers[h->replica];
    gw_exec *hx = &g->execs[h->index];
    if (hx->n_spare > 0 && (hx->workers[hx->n_workers].pid == (pid_t)h->pid ||
                            hx->workers[hx->n_workers].last_pid == (pid_t)h->pid))
        e = &hx->workers[hx->n_workers]; /* a reload's new worker for that replica */
    bool failed = h->status != NULL && h->status->code == FLOWHOST__STATUS__CODE__ERROR;
    bool starting = !e->ready && e->pid > 0 && h->pid == e->pid;
    /* A worker that could not start says why, then exits: its reason may come after the
     * gateway saw it exit. */
    bool last_words = failed && e->pid <= 0 && e->last_pid > 0 && h->pid == e->last_pid;
    if (!starting && !last_words) {
        /* Not the process the gateway started and waits for: a stale READY of a worker
         * that died, or a stranger on the socket. It must not take the executor over. */
        gw_log("ignored a READY for executor '%s' from pid %d", e->ex->cfg->name, (int)h->pid);
        flowhost__worker_hello__free_unpacked(h, NULL);
        return 0;
    }
    if (which != NULL)
        *which = e;
    int rc = 0;
    if (failed) {
        rc = fh_set_error(FH_E_PLUGIN, "executor '%s' failed to start: %s", e->ex->cfg->name,
                          h->status->description);
    } else {
        memcpy(e->id, id, idlen);
        e->id_len = idlen;
        e->ready = true;
        e->heard_ms = e->pinged_ms = fh_monotonic_ms();
        e->start_failures = 0;
    }
    flowhost__worker_hello__free_unpacked(h, NULL);
    return rc;
}

void gw_on_worker_message(fh_gateway *g, fh_wire_msg *m)
{
    size_t idlen;
    const void *id = fh_wire_data(m, 0, &idlen);
    int cmd = fh_wire_command(m, 1);
    if (cmd < 0) {
        gw_log("dropped a worker message: %s", fh_last_error());
        return;
    }
    gw_worker *w = id ? gw_worker_by_id(g, id, idlen) : NULL;
    if (gw_remote_message(g, w, m, cmd))
        return;
    if (cmd == FH_CMD_READY) { /* a local worker's: found by its hello, not its id */
        gw_worker *hw;
        if (gw_on_hello(g, m, &hw) != 0) {
            if (hw->reload == GW_RELOAD_NEW) {
                gw_reload_failed(g, hw, fh_last_error());
            } else {
                gw_reload_in_place_failed(g, hw, fh_last_error());
                gw_mark_down(g, hw, fh_last_error());
            }
        } else if (hw != NULL) {
            if (hw->reload == GW_RELOAD_NEW || hw->reload == GW_RELOAD_IN_PLACE)
                gw_reload_ready(g, hw);
            gw_feed(g, hw->ex);
        }
        return;
    }
    if (w == NULL || !w->ready) {
        gw_log("dropped a message from an unknown worker");
        return;
    }
    w->heard_ms = fh_monotonic_ms();
    if (cmd == FH_CMD_REPLY)
        gw_on_reply(g, w, m);
}

/* ---- processes ---------------------------------------------------------------------- */

/* W's process is gone (HOW: how it ended), or given up by the gateway (BY_GATEWAY, WHY
 * then says why); WAS_READY: it had said READY. Answers for its requests, counts the
 * death, and starts a new worker, at once or later (backoff), or opens the breaker. */
static void worker_gone(fh_gateway *g, gw_worker *e, const char *how, const char *why_given,
                        bool was_ready)
{
    if (e->reload == GW_RELOAD_IN_PLACE) { /* says so, then as any worker */
        gw_reload_in_place_failed(g, e, why_given ? why_given : how);
    } else if (e->reload != GW_RELOAD_NONE) { /* a reload's spare worker: never restarted */
        gw_reload_gone(g, e, how, why_given);
        return;
    }
    gw_exec *x = e->ex;
    char why[700];
    pid_t pid = e->pid;
    e->last_pid = e->pid;
    e->pid = 0;
    e->ready = false; /* before answering: nothing may be sent to it any more */
    if (e->held_n > 0) {
        if (why_given == NULL) {
            snprintf(why, sizeof why, "executor '%s' crashed: %s", x->cfg->name, how);
            gw_log("%s", why);
        }
        gw_release_held(g, e, pid, why_given ? why_given : why);
    } else if (!g->draining && why_given == NULL) {
        gw_log("executor '%s' exited: %s", x->cfg->name, how);
    }
    int64_t now = fh_monotonic_ms();
    e->died_ms[e->crashes % BREAKER_DEATHS] = now;
    e->crashes++;
    if (e->down) { /* a probe that failed: the next one is due later */
        e->probing = false;
        if (e->probe_at_ms == 0)
            e->probe_at_ms = now + BREAKER_PROBE_MS;
    } else if (!was_ready && ++e->start_failures >= START_FAILURES_MAX) {
        /* Also while draining: requests accepted may still need this executor. */
        snprintf(why, sizeof why, "it ended %d times in a row before it was ready (last: %s)",
                 e->start_failures, how);
        gw_mark_down(g, e, why);
    } else if (e->crashes >= BREAKER_DEATHS &&
               now - e->died_ms[e->crashes % BREAKER_DEATHS] <= BREAKER_WINDOW_MS) {
        /* died_ms[crashes % N] now holds the death N back: all N within the window */
        snprintf(why, sizeof why, "its workers died %d times in a row within %d s (last: %s)",
                 BREAKER_DEATHS, BREAKER_WINDOW_MS / 1000, how);
        gw_mark_down(g, e, why);
    } else {
        /* The first restart is at once; a worker that keeps dying is restarted ever later,
         * so that a plugin crashing on every request does not make the host spin. */
        int delay = e->crashes == 1 ? 0 : BACKOFF_FIRST_MS << (e->crashes < 8 ? e->crashes - 2 : 6);
        if (delay > BACKOFF_MAX_MS)
            delay = BACKOFF_MAX_MS;
        if (delay > 0) {
            gw_log("executor '%s' restarts in %d ms (it died %d times in a row)", x->cfg->name,
                   delay, e->crashes);
            e->restart_at_ms = now + delay;
        } else if (gw_spawn(g, e) != 0) {
            gw_mark_down(g, e, fh_last_error());
        }
    }
    /* What it had not begun goes to the other replicas, or waits for the new worker;
     * unless every replica is down (a probe lost): then it gets the breaker's answer, as
     * every request for the executor does. */
    if (gw_exec_down(x)) {
        int i;
        while ((i = gw_dequeue(g, x)) >= 0) {
            gw_observe_error(g, x, FH_METRICS_E_UNAVAILABLE);
            gw_fail(g, i, x->cfg, e->down_reason);
        }
    }
    gw_feed(g, x);
}

/* See gateway_internal.h. The executor does not wait for the process to end: one stuck
 * in the kernel cannot hold its requests. */
void gw_lose_worker(fh_gateway *g, gw_worker *e, const char *why)
{
    if (e->remote) { /* no process here to end: it is down until it comes back */
        gw_remote_lose(g, e, why);
        return;
    }
    gw_log("%s: restarting it", why);
    fh_supervisor_kill_group(e->pid);
    worker_gone(g, e, why, why, e->ready);
}

/* Sends E a HEARTBEAT. Returns false when its connection is gone (ROUTER_MANDATORY
 * refuses an unknown routing id at once). */
static bool ping(fh_gateway *g, gw_worker *e)
{
    if (zmq_send(g->back, e->id, e->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno != EHOSTUNREACH;
    /* A remote worker's ping carries the gateway's token: one restarted behind the same
     * connection tells it from a probe's, and says it serves no such gateway. */
    zmq_msg_t token;
    if (e->remote && zmq_msg_init_size(&token, sizeof g->token) == 0) {
        memcpy(zmq_msg_data(&token), &g->token, sizeof g->token);
        fh_wire_send(g->back, NULL, 0, FH_CMD_HEARTBEAT, &token, 1, 0);
    } else {
        fh_wire_send(g->back, NULL, 0, FH_CMD_HEARTBEAT, NULL, 0, 0); /* the rest of it */
    }
    return true;
}


/* Starts E's worker if one is due (a restart after backoff, or a probe while down). */
static void start_due(fh_gateway *g, gw_worker *e, int64_t now, int64_t *next)
{
    bool probe = e->down;
    int64_t at = probe ? (g->draining ? 0 : e->probe_at_ms) : e->restart_at_ms;
    if (at <= 0)
        return;
    if (at > now) {
        gw_sooner(next, at);
        return;
    }
    e->restart_at_ms = 0;
    e->probe_at_ms = 0;
    if (probe) {
        e->probing = true;
        gw_log("executor '%s': trying a new worker", e->ex->cfg->name);
    }
    if (gw_spawn(g, e) != 0)
        gw_mark_down(g, e, fh_last_error());
}

/* See gateway_internal.h. */
void gw_check_worker(fh_gateway *g, gw_worker *e, int64_t now, int64_t *next)
{
    const fh_flow_executor *cfg = e->ex->cfg;
    char why[300];
    if (e->reload != GW_RELOAD_NONE && gw_reload_check(g, e, now, next))
        return;
    if (!e->ready) {
        if (g->cfg->timeout_ready_ms < 0)
            return;
        int64_t due = e->started_ms + g->cfg->timeout_ready_ms;
        if (now < due) {
            gw_sooner(next, due);
            return;
        }
        snprintf(why, sizeof why, "executor '%s' was not ready within %d ms (timeout_ready)",
                 cfg->name, g->cfg->timeout_ready_ms);
        /* The requests waiting waited as long as a start may take, unless another
         * replica can take them. */
        bool other = false;
        for (size_t k = 0; k < e->ex->n_workers; k++)
            other |= &e->ex->workers[k] != e && e->ex->workers[k].ready;
        int i;
        while (!other && (i = gw_dequeue(g, e->ex)) >= 0)
            gw_fail(g, i, cfg, why);
        gw_lose_worker(g, e, why);
        return;
    }
    if (e->held_n > 0 && cfg->timeout_ms > 0) {
        /* From when the handler of the oldest request began. A handler cannot be
         * interrupted, only its process. */
        int64_t due = e->head_since_us / 1000 + cfg->timeout_ms;
        if (now >= due) {
            snprintf(why, sizeof why, "executor '%s' timed out after %d ms", cfg->name,
                     cfg->timeout_ms);
            e->timing_out = true;
            gw_lose_worker(g, e, why);
            return;
        }
        gw_sooner(next, due);
    }
    /* Silence: stopped, hung outside a handler, or its connection lost. A busy worker
     * beats on its own from its handler's start: count from then. */
    int64_t head_ms = e->head_since_us / 1000;
    int64_t heard = e->held_n > 0 && head_ms > e->heard_ms ? head_ms : e->heard_ms;
    int64_t lost = heard + (int64_t)HEARTBEAT_MS * HEARTBEAT_MISSES;
    if (now >= lost) {
        snprintf(why, sizeof why, "executor '%s' stopped answering heartbeats", cfg->name);
        gw_lose_worker(g, e, why);
        return;
    }
    gw_sooner(next, lost);
    if (now - e->pinged_ms >= HEARTBEAT_MS) {
        e->pinged_ms = now;
        if (!ping(g, e)) {
            snprintf(why, sizeof why, "lost the connection to executor '%s'", cfg->name);
            gw_lose_worker(g, e, why);
            return;
        }
    }
    gw_sooner(next, e->pinged_ms + HEARTBEAT_MS);
}

/* Deadlines of every worker, due restarts and probes. Returns the milliseconds until
 * the next deadline, or -1 when there is none. */
int gw_check_timers(fh_gateway *g)
{
    int64_t next = -1;
    int64_t now = fh_monotonic_ms();
    /* The gateway itself was away (a long message to handle, the machine suspended):
     * what the workers said meanwhile is still unread, so silence proves nothing yet. */
    if (g->timers_ms > 0 && now - g->timers_ms > HEARTBEAT_MS)
        GW_FOR_WORKERS(g, w)
            if (w->heard_ms < now - HEARTBEAT_MS)
                w->heard_ms = now - HEARTBEAT_MS;
    g->timers_ms = now;
    GW_FOR_WORKERS(g, w) {
        if (w->remote)
            gw_remote_check(g, w, now, &next);
        else if (w->pid > 0)
            gw_check_worker(g, w, now, &next);
        else
            start_due(g, w, now, &next);
    }
    gw_reload_tick(g, now, &next);
    if (next < 0)
        return -1;
    return next > now ? (int)(next - now) : 0;
}

void gw_reap(fh_gateway *g)
{
    int status;
    pid_t pid;
    bool any = false;
    while ((pid = fh_supervisor_reap(&status)) > 0) {
        any = true;
        gw_worker *w = gw_worker_by_pid(g, pid);
        if (w != NULL) {
            char how[128];
            fh_describe_exit(status, how, sizeof how);
            worker_gone(g, w, how, NULL, w->ready);
        }
    }
    if (!any)
        return;
    /* A process started by a plugin that left its worker's group, and whose parent ended,
     * is now the host's child (a subreaper): it must not outlive its worker. */
    pid_t *keep = calloc(gw_worker_count(g) + 1, sizeof *keep);
    if (keep == NULL)
        return; /* the next reap, or the stop, sweeps them */
    size_t n = 0;
    GW_FOR_WORKERS(g, w)
        if (w->pid > 0)
            keep[n++] = w->pid;
    fh_supervisor_kill_strays(keep, n);
    free(keep);
}

void gw_expire_drain(fh_gateway *g)
{
    const char *why = g->drain_why;
    snprintf(g->drain_why, sizeof g->drain_why, "the flow is shutting down: request not "
             "finished within timeout_drain (%d ms)", g->cfg->timeout_drain_ms);
    gw_log("%s: answering %zu request%s with an error", why, g->inflight,
           g->inflight == 1 ? "" : "s");
    g->drain_expired = true;
    GW_FOR_WORKERS(g, w) {
        if (w->held_n > 0) { /* its handler is cut short: its requests are answered */
            w->ready = false;
            fh_supervisor_kill_group(w->pid);
            int i;
            while ((i = gw_held_pop(w)) >= 0)
                gw_fail(g, i, NULL, why);
        }
    }
    for (size_t k = 0; k < g->n_execs; k++) {
        int i;
        while ((i = gw_dequeue(g, &g->execs[k])) >= 0)
            gw_fail(g, i, NULL, why);
    }
    /* Requests parked at their client's gate come in as the ones above end; with
     * drain_expired set, gw_advance answers them at once. Nothing else can be left. */
    for (size_t i = 0; i < g->n_slots && g->inflight > 0; i++)
        if (g->slots[i].used) {
            gw_log("a request was left at the drain deadline: answering it");
            gw_fail(g, (int)i, NULL, why);
        }
}

void gw_stop_workers(fh_gateway *g)
{
    gw_remote_stop(g);
    /* A ready idle worker finishes and calls fini; a busy one holds a request nobody
     * waits for any more, and one still starting has nothing to finish: ended. */
    GW_FOR_WORKERS(g, e) {
        if (e->pid <= 0)
            continue;
        if (e->ready && e->held_n == 0)
            fh_wire_send(g->back, e->id, e->id_len, FH_CMD_DISCONNECT, NULL, 0, ZMQ_DONTWAIT);
        else if (e->held_n > 0)
            fh_supervisor_kill_group(e->pid);
        else
            kill(e->pid, SIGTERM);
    }
    int64_t deadline = fh_monotonic_ms() + STOP_GRACE_MS;
    for (;;) {
        int status;
        pid_t pid;
        while ((pid = fh_supervisor_reap(&status)) > 0) {
            gw_worker *w = gw_worker_by_pid(g, pid);
            if (w)
                w->pid = 0;
        }
        size_t alive = 0;
        GW_FOR_WORKERS(g, w)
            alive += w->pid > 0;
        long wait = (long)(deadline - fh_monotonic_ms());
        if (alive == 0 || wait <= 0)
            break;
        zmq_pollitem_t item = {NULL, g->sigfd, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, wait < 100 ? wait : 100) > 0)
            gw_read_signals(g);
    }
    GW_FOR_WORKERS(g, w)
        if (w->pid > 0)
            fh_supervisor_kill_group(w->pid);
    GW_FOR_WORKERS(g, w)
        w->pid = 0;
    /* Every child left now is something a plugin started: nothing outlives the flow. */
    size_t left = fh_supervisor_end_children(STRAY_WAIT_MS);
    if (left > 0)
        gw_log("%zu process%s started by plugins could not be ended", left, left == 1 ? "" : "es");
}

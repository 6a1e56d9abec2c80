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

int gw_spawn(fh_gateway *g, exec_state *e)
{
    e->ready = false;
    e->id_len = 0;
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
    return fh_supervisor_spawn(g->self_exe, e->spec_path, e->cfg->env, &e->pid);
}

exec_state *gw_exec_by_pid(fh_gateway *g, pid_t pid)
{
    for (size_t i = 0; i < g->n_execs; i++)
        if (g->execs[i].pid == pid)
            return &g->execs[i];
    return NULL;
}

static exec_state *exec_by_id(fh_gateway *g, const void *id, size_t len)
{
    for (size_t i = 0; i < g->n_execs; i++)
        if (g->execs[i].ready && g->execs[i].id_len == len && memcmp(g->execs[i].id, id, len) == 0)
            return &g->execs[i];
    return NULL;
}

/* ---- worker messages ---------------------------------------------------------------- */

void gw_mark_down(fh_gateway *g, exec_state *e, const char *why)
{
    e->down = true;
    e->probing = false;
    e->restart_at_ms = 0;
    e->probe_at_ms = fh_monotonic_ms() + BREAKER_PROBE_MS;
    /* Names are at most 64 characters: the reason fits whole up to 400. */
    snprintf(e->down_reason, sizeof e->down_reason, "executor '%s' is down: %.400s", e->cfg->name,
             why);
    gw_log("%s (a new worker is tried in %d ms)", e->down_reason, BREAKER_PROBE_MS);
    int i;
    while ((i = gw_dequeue(g, e)) >= 0)
        gw_fail(g, i, e->cfg, e->down_reason);
}

/* A READY from a worker. Returns 0, or negative when the executor could not start
 * (fh_last_error says why). *WHICH (may be NULL) gets the executor it came from, or NULL
 * when the message was malformed. */
int gw_on_hello(fh_gateway *g, fh_wire_msg *m, exec_state **which)
{
    size_t idlen, len;
    const void *id = fh_wire_data(m, 0, &idlen);
    const void *buf = fh_wire_data(m, 3, &len);
    Flowhost__WorkerHello *h =
        buf ? (Flowhost__WorkerHello *)fh_pb_unpack(&flowhost__worker_hello__descriptor, buf, len) : NULL;
    if (which != NULL)
        *which = NULL;
    if (h == NULL || h->index >= g->n_execs || idlen == 0 || idlen > MAX_ID) {
        gw_log("dropped a malformed READY from a worker");
        if (h)
            flowhost__worker_hello__free_unpacked(h, NULL);
        return 0;
    }
    exec_state *e = &g->execs[h->index];
    bool failed = h->status != NULL && h->status->code == FLOWHOST__STATUS__CODE__ERROR;
    bool starting = !e->ready && e->pid > 0 && h->pid == e->pid;
    /* A worker that could not start says why, then exits: its reason may come after the
     * gateway saw it exit. */
    bool last_words = failed && e->pid <= 0 && e->last_pid > 0 && h->pid == e->last_pid;
    if (!starting && !last_words) {
        /* Not the process the gateway started and waits for: a stale READY of a worker
         * that died, or a stranger on the socket. It must not take the executor over. */
        gw_log("ignored a READY for executor '%s' from pid %d", e->cfg->name, (int)h->pid);
        flowhost__worker_hello__free_unpacked(h, NULL);
        return 0;
    }
    if (which != NULL)
        *which = e;
    int rc = 0;
    if (failed) {
        rc = fh_set_error(FH_E_PLUGIN, "executor '%s' failed to start: %s", e->cfg->name,
                          h->status->description);
    } else {
        memcpy(e->id, id, idlen);
        e->id_len = idlen;
        e->ready = true;
        e->heard_ms = e->pinged_ms = fh_monotonic_ms();
        e->busy = -1;
        e->start_failures = 0;
    }
    flowhost__worker_hello__free_unpacked(h, NULL);
    return rc;
}

static void on_reply(fh_gateway *g, exec_state *e, fh_wire_msg *m)
{
    int i = e->busy;
    if (i < 0) {
        gw_log("dropped a reply from executor '%s': it holds no request", e->cfg->name);
        return;
    }
    e->busy = -1;
    e->crashes = 0; /* it answered: it works */
    if (e->down && e->probing) { /* the probe answered: the breaker closes */
        e->down = false;
        e->probing = false;
        gw_log("executor '%s' is up again: its new worker answered a request", e->cfg->name);
    }
    /* The next request waiting for this executor goes first: slot I must not overtake
     * it on its way back through gw_advance(). */
    gw_feed(g, e);
    slot *s = &g->slots[i];
    size_t len;
    const void *buf = fh_wire_data(m, 3, &len);
    Flowhost__Envelope *env;
    size_t decoded = 0;
    if (buf == NULL || fh_envelope_decode_max(buf, len, (size_t)g->cfg->max_message_size, &env,
                                              &decoded) != 0) {
        gw_fail(g, i, e->cfg, "the executor's reply could not be decoded");
        return;
    }
    /* A worker answers for the request the gateway gave it, whatever its reply says. */
    char *tmp = env->request_id;
    env->request_id = s->env->request_id;
    s->env->request_id = tmp;
    tmp = env->endpoint;
    env->endpoint = s->env->endpoint;
    s->env->endpoint = tmp;
    bool same = strcmp(env->request_id, s->env->request_id) == 0 &&
                strcmp(env->endpoint, s->env->endpoint) == 0;
    flowhost__envelope__free_unpacked(s->env, NULL);
    s->env = env;
    char why[LIMIT_WHY_MAX] = "";
    fh_wire_docs reply;
    fh_wire_docs_init(&reply);
    if (fh_wire_docs_take(&reply, m, 4) != 0 || !gw_within_limit(g, &reply, "reply", why)) {
        if (why[0] == '\0')
            snprintf(why, sizeof why, "the executor's reply: %s", fh_last_error());
        fh_wire_docs_close(&reply); /* the documents go on as they came to the executor */
        gw_fail(g, i, e->cfg, why);    /* re-encodes the envelope frame */
        return;
    }
    fh_wire_docs_close(&s->docs);
    fh_wire_docs_move(&s->docs, &reply);
    if (same) {
        zmq_msg_move(&s->env_frame, &m->frames[3]);
    } else { /* the frame sent on must say what the envelope says */
        zmq_msg_close(&s->env_frame);
        if (fh_pb_pack_msg(&env->base, &s->env_frame) != 0)
            zmq_msg_init(&s->env_frame);
    }
    /* What the slot holds now is what the executor made of it: the budget counts that. */
    size_t bytes = zmq_msg_size(&s->env_frame) + decoded + fh_wire_docs_size(&s->docs);
    g->inflight_bytes = g->inflight_bytes - s->bytes + bytes;
    s->bytes = bytes;
    bool failed = env->status != NULL && env->status->code == FLOWHOST__STATUS__CODE__ERROR;
    if (failed && e->cfg->on_error == FH_ON_ERROR_SKIP) {
        gw_finish(g, i);
    } else {
        s->step++;
        gw_advance(g, i);
    }
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
    if (cmd == FH_CMD_READY) {
        exec_state *e;
        if (gw_on_hello(g, m, &e) != 0)
            gw_mark_down(g, e, fh_last_error());
        else if (e != NULL)
            gw_feed(g, e);
        return;
    }
    exec_state *e = exec_by_id(g, id, idlen);
    if (e == NULL) {
        gw_log("dropped a message from an unknown worker");
        return;
    }
    e->heard_ms = fh_monotonic_ms();
    if (cmd == FH_CMD_REPLY)
        on_reply(g, e, m);
}

/* ---- processes ---------------------------------------------------------------------- */

/* E's worker is gone (HOW: how it ended), or given up by the gateway (BY_GATEWAY);
 * WAS_READY: it had said READY. Answers for its request, counts the death, and starts a
 * new worker, at once or later (backoff), or opens the breaker. */
static void worker_gone(fh_gateway *g, exec_state *e, const char *how, bool by_gateway,
                        bool was_ready)
{
    char why[700];
    e->last_pid = e->pid;
    e->pid = 0;
    e->ready = false;
    if (e->busy >= 0) {
        int i = e->busy;
        e->busy = -1;
        snprintf(why, sizeof why, "executor '%s' crashed: %s", e->cfg->name, how);
        gw_log("%s", why);
        gw_fail(g, i, e->cfg, why);
    } else if (!g->draining && !by_gateway) {
        gw_log("executor '%s' exited: %s", e->cfg->name, how);
    }
    int64_t now = fh_monotonic_ms();
    e->died_ms[e->crashes % BREAKER_DEATHS] = now;
    e->crashes++;
    if (e->down) { /* a probe that failed: the next one is due later */
        e->probing = false;
        if (e->probe_at_ms == 0)
            e->probe_at_ms = now + BREAKER_PROBE_MS;
        return;
    }
    /* Also while draining: requests accepted may still need this executor. */
    if (!was_ready && ++e->start_failures >= START_FAILURES_MAX) {
        snprintf(why, sizeof why, "it ended %d times in a row before it was ready (last: %s)",
                 e->start_failures, how);
        gw_mark_down(g, e, why);
        return;
    }
    /* died_ms[crashes % N] now holds the death N back: all N within the window? */
    if (e->crashes >= BREAKER_DEATHS &&
        now - e->died_ms[e->crashes % BREAKER_DEATHS] <= BREAKER_WINDOW_MS) {
        snprintf(why, sizeof why, "its workers died %d times in a row within %d s (last: %s)",
                 BREAKER_DEATHS, BREAKER_WINDOW_MS / 1000, how);
        gw_mark_down(g, e, why);
        return;
    }
    /* The first restart is at once; a worker that keeps dying is restarted ever later,
     * so that a plugin crashing on every request does not make the host spin. */
    int delay = e->crashes == 1 ? 0 : BACKOFF_FIRST_MS << (e->crashes < 8 ? e->crashes - 2 : 6);
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    if (delay > 0) {
        gw_log("executor '%s' restarts in %d ms (it died %d times in a row)", e->cfg->name, delay,
               e->crashes);
        e->restart_at_ms = now + delay;
        return;
    }
    if (gw_spawn(g, e) != 0)
        gw_mark_down(g, e, fh_last_error());
}

/* See gateway_internal.h. The executor does not wait for the process to end: one stuck
 * in the kernel cannot hold its requests. */
void gw_lose_worker(fh_gateway *g, exec_state *e, const char *why)
{
    gw_log("%s: restarting it", why);
    fh_supervisor_kill_group(e->pid);
    bool was_ready = e->ready;
    int i = e->busy;
    e->busy = -1;
    e->ready = false; /* before answering: nothing may be sent to it any more */
    worker_gone(g, e, why, true, was_ready);
    if (i >= 0)
        gw_fail(g, i, e->cfg, why);
}

/* Sends E a HEARTBEAT. Returns false when its connection is gone (ROUTER_MANDATORY
 * refuses an unknown routing id at once). */
static bool ping(fh_gateway *g, exec_state *e)
{
    if (zmq_send(g->back, e->id, e->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno != EHOSTUNREACH;
    fh_wire_send(g->back, NULL, 0, FH_CMD_HEARTBEAT, NULL, 0, 0); /* the rest of it */
    return true;
}

static void sooner(int64_t *next, int64_t at)
{
    if (*next < 0 || at < *next)
        *next = at;
}

/* Starts E's worker if one is due (a restart after backoff, or a probe while down). */
static void start_due(fh_gateway *g, exec_state *e, int64_t now, int64_t *next)
{
    bool probe = e->down;
    int64_t at = probe ? (g->draining ? 0 : e->probe_at_ms) : e->restart_at_ms;
    if (at <= 0)
        return;
    if (at > now) {
        sooner(next, at);
        return;
    }
    e->restart_at_ms = 0;
    e->probe_at_ms = 0;
    if (probe) {
        e->probing = true;
        gw_log("executor '%s': trying a new worker", e->cfg->name);
    }
    if (gw_spawn(g, e) != 0)
        gw_mark_down(g, e, fh_last_error());
}

/* Every deadline of E's running worker: start, `timeout`, heartbeats, connection. */
static void check_worker(fh_gateway *g, exec_state *e, int64_t now, int64_t *next)
{
    char why[300];
    if (!e->ready) {
        if (g->cfg->timeout_ready_ms < 0)
            return;
        int64_t due = e->started_ms + g->cfg->timeout_ready_ms;
        if (now < due) {
            sooner(next, due);
            return;
        }
        snprintf(why, sizeof why, "executor '%s' was not ready within %d ms (timeout_ready)",
                 e->cfg->name, g->cfg->timeout_ready_ms);
        int i;
        while ((i = gw_dequeue(g, e)) >= 0) /* they waited as long as a start may take */
            gw_fail(g, i, e->cfg, why);
        gw_lose_worker(g, e, why);
        return;
    }
    if (e->busy >= 0 && e->cfg->timeout_ms > 0) {
        /* A handler cannot be interrupted, only its process. */
        int64_t due = e->busy_since_ms + e->cfg->timeout_ms;
        if (now >= due) {
            snprintf(why, sizeof why, "executor '%s' timed out after %d ms", e->cfg->name,
                     e->cfg->timeout_ms);
            gw_lose_worker(g, e, why);
            return;
        }
        sooner(next, due);
    }
    /* Silence: stopped, hung outside a handler, or its connection lost. A busy worker
     * beats on its own from its handler's start: count from then. */
    int64_t heard = e->busy >= 0 && e->busy_since_ms > e->heard_ms ? e->busy_since_ms : e->heard_ms;
    int64_t lost = heard + (int64_t)HEARTBEAT_MS * HEARTBEAT_MISSES;
    if (now >= lost) {
        snprintf(why, sizeof why, "executor '%s' stopped answering heartbeats", e->cfg->name);
        gw_lose_worker(g, e, why);
        return;
    }
    sooner(next, lost);
    if (now - e->pinged_ms >= HEARTBEAT_MS) {
        e->pinged_ms = now;
        if (!ping(g, e)) {
            snprintf(why, sizeof why, "lost the connection to executor '%s'", e->cfg->name);
            gw_lose_worker(g, e, why);
            return;
        }
    }
    sooner(next, e->pinged_ms + HEARTBEAT_MS);
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
        for (size_t k = 0; k < g->n_execs; k++)
            if (g->execs[k].heard_ms < now - HEARTBEAT_MS)
                g->execs[k].heard_ms = now - HEARTBEAT_MS;
    g->timers_ms = now;
    for (size_t k = 0; k < g->n_execs; k++) {
        exec_state *e = &g->execs[k];
        if (e->pid > 0)
            check_worker(g, e, now, &next);
        else
            start_due(g, e, now, &next);
    }
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
        exec_state *e = gw_exec_by_pid(g, pid);
        if (e != NULL) {
            char how[128];
            fh_describe_exit(status, how, sizeof how);
            worker_gone(g, e, how, false, e->ready);
        }
    }
    if (!any)
        return;
    /* A process started by a plugin that left its worker's group, and whose parent ended,
     * is now the host's child (a subreaper): it must not outlive its worker. */
    pid_t *keep = calloc(g->n_execs ? g->n_execs : 1, sizeof *keep);
    if (keep == NULL)
        return; /* the next reap, or the stop, sweeps them */
    size_t n = 0;
    for (size_t i = 0; i < g->n_execs; i++)
        if (g->execs[i].pid > 0)
            keep[n++] = g->execs[i].pid;
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
    for (size_t k = 0; k < g->n_execs; k++) {
        exec_state *e = &g->execs[k];
        int i = e->busy;
        if (i >= 0) { /* its handler is cut short: the request is answered already */
            e->busy = -1;
            e->ready = false;
            fh_supervisor_kill_group(e->pid);
            gw_fail(g, i, NULL, why);
        }
        while ((i = gw_dequeue(g, e)) >= 0)
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
    /* A ready idle worker finishes and calls fini; a busy one holds a request nobody
     * waits for any more, and one still starting has nothing to finish: ended. */
    for (size_t i = 0; i < g->n_execs; i++) {
        exec_state *e = &g->execs[i];
        if (e->pid <= 0)
            continue;
        if (e->ready && e->busy < 0)
            fh_wire_send(g->back, e->id, e->id_len, FH_CMD_DISCONNECT, NULL, 0, ZMQ_DONTWAIT);
        else if (e->busy >= 0)
            fh_supervisor_kill_group(e->pid);
        else
            kill(e->pid, SIGTERM);
    }
    int64_t deadline = fh_monotonic_ms() + STOP_GRACE_MS;
    for (;;) {
        int status;
        pid_t pid;
        while ((pid = fh_supervisor_reap(&status)) > 0) {
            exec_state *e = gw_exec_by_pid(g, pid);
            if (e)
                e->pid = 0;
        }
        size_t alive = 0;
        for (size_t i = 0; i < g->n_execs; i++)
            alive += g->execs[i].pid > 0;
        long wait = (long)(deadline - fh_monotonic_ms());
        if (alive == 0 || wait <= 0)
            break;
        zmq_pollitem_t item = {NULL, g->sigfd, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, wait < 100 ? wait : 100) > 0)
            gw_read_signals(g);
    }
    for (size_t i = 0; i < g->n_execs; i++)
        if (g->execs[i].pid > 0)
            fh_supervisor_kill_group(g->execs[i].pid);
    for (size_t i = 0; i < g->n_execs; i++)
        g->execs[i].pid = 0;
    /* Every child left now is something a plugin started: nothing outlives the flow. */
    size_t left = fh_supervisor_end_children(STRAY_WAIT_MS);
    if (left > 0)
        gw_log("%zu process%s started by plugins could not be ended", left, left == 1 ? "" : "es");
}

/* Worker processes: starting, READY, replies, deaths, timeouts, heartbeats, stopping. */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "codec.h"
#include "pb.h"
#include "supervisor.h"
#include "util.h"

int gw_spawn(fh_gateway *g, exec_state *e)
{
    e->ready = false;
    e->id_len = 0;
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
    snprintf(e->down_reason, sizeof e->down_reason, "executor '%s' is down: %s", e->cfg->name, why);
    gw_log("%s", e->down_reason);
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
    /* The next request waiting for this executor goes first: slot I must not overtake
     * it on its way back through gw_advance(). */
    gw_feed(g, e);
    slot *s = &g->slots[i];
    size_t len;
    const void *buf = fh_wire_data(m, 3, &len);
    Flowhost__Envelope *env;
    if (buf == NULL || fh_envelope_decode(buf, len, &env) != 0) {
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
    e->crashes = 0; /* it answered: it works */
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

/* A worker ended: answer for the request it held, and start a new one. */
static void on_worker_exit(fh_gateway *g, exec_state *e, int status)
{
    char how[128], why[700];
    fh_describe_exit(status, how, sizeof how);
    bool killed = e->killed;
    bool was_ready = e->ready || killed;
    e->last_pid = e->pid;
    e->pid = 0;
    e->ready = false;
    e->killed = false;
    if (e->busy >= 0) {
        int i = e->busy;
        e->busy = -1;
        snprintf(why, sizeof why, "executor '%s' crashed: %s", e->cfg->name, how);
        gw_log("%s", why);
        gw_fail(g, i, e->cfg, why);
    } else if (!g->draining && !killed) {
        gw_log("executor '%s' exited: %s", e->cfg->name, how);
    }
    /* Also while draining: requests accepted may still need this executor. */
    if (e->down)
        return;
    if (!was_ready && ++e->start_failures >= START_FAILURES_MAX) {
        snprintf(why, sizeof why, "it ended %d times in a row before it was ready (last: %s)",
                 e->start_failures, how);
        gw_mark_down(g, e, why);
        return;
    }
    /* The first restart is at once; a worker that keeps dying is restarted ever later,
     * so that a plugin crashing on every request does not make the host spin. */
    int delay = e->crashes++ == 0 ? 0 : BACKOFF_FIRST_MS << (e->crashes < 8 ? e->crashes - 2 : 6);
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    if (delay > 0) {
        gw_log("executor '%s' restarts in %d ms (it died %d times in a row)", e->cfg->name, delay,
               e->crashes);
        e->restart_at_ms = fh_monotonic_ms() + delay;
        return;
    }
    if (gw_spawn(g, e) != 0)
        gw_mark_down(g, e, fh_last_error());
}

/* Answers the requests whose executor ran past its `timeout`, and replaces the worker:
 * a handler cannot be interrupted, only its process. Starts the workers whose restart
 * is due. Returns the milliseconds until the next deadline, or -1 when there is none. */
int gw_check_timers(fh_gateway *g)
{
    int next = -1;
    int64_t now = fh_monotonic_ms();
    for (size_t k = 0; k < g->n_execs; k++) {
        exec_state *e = &g->execs[k];
        if (e->restart_at_ms > 0 && !e->down) {
            int64_t left = e->restart_at_ms - now;
            if (left > 0) {
                next = next < 0 || left < next ? (int)left : next;
            } else {
                e->restart_at_ms = 0;
                if (gw_spawn(g, e) != 0)
                    gw_mark_down(g, e, fh_last_error());
            }
        }
        if (e->ready && e->busy < 0 && !e->killed) {
            /* Idle: a worker that stops answering heartbeats is dead (hung, stopped) and
             * is replaced before a request finds out. A busy one is the timeout's. */
            if (now - e->heard_ms >= (int64_t)HEARTBEAT_MS * HEARTBEAT_MISSES) {
                gw_log("executor '%s' stopped answering heartbeats: restarting it", e->cfg->name);
                e->ready = false;
                e->killed = true;
                kill(e->pid, SIGKILL);
                continue;
            }
            if (now - e->pinged_ms >= HEARTBEAT_MS) {
                fh_wire_send(g->back, e->id, e->id_len, FH_CMD_HEARTBEAT, NULL, 0, ZMQ_DONTWAIT);
                e->pinged_ms = now;
            }
            int64_t left = e->pinged_ms + HEARTBEAT_MS - now;
            next = next < 0 || left < next ? (int)left : next;
            continue;
        }
        if (e->busy < 0 || e->cfg->timeout_ms <= 0 || e->killed)
            continue;
        int64_t left = e->busy_since_ms + e->cfg->timeout_ms - now;
        if (left > 0) {
            next = next < 0 || left < next ? (int)left : next;
            continue;
        }
        int i = e->busy;
        char why[300];
        snprintf(why, sizeof why, "executor '%s' timed out after %d ms", e->cfg->name,
                 e->cfg->timeout_ms);
        gw_log("%s: restarting it", why);
        e->busy = -1;
        e->ready = false;
        e->killed = true;
        kill(e->pid, SIGKILL);
        gw_fail(g, i, e->cfg, why);
    }
    return next;
}

void gw_reap(fh_gateway *g)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        exec_state *e = gw_exec_by_pid(g, pid);
        if (e != NULL)
            on_worker_exit(g, e, status);
    }
}

/* Asks every worker to stop, waits up to STOP_GRACE_MS, then kills what is left. */
void gw_stop_workers(fh_gateway *g)
{
    pid_t *pids = calloc(g->n_execs ? g->n_execs : 1, sizeof *pids);
    /* A ready worker finishes its request and calls fini; one still starting is ended. */
    for (size_t i = 0; i < g->n_execs; i++) {
        if (g->execs[i].pid <= 0)
            continue;
        if (g->execs[i].ready)
            fh_wire_send(g->back, g->execs[i].id, g->execs[i].id_len, FH_CMD_DISCONNECT, NULL, 0,
                         ZMQ_DONTWAIT);
        else
            kill(g->execs[i].pid, SIGTERM);
    }
    int64_t deadline = fh_monotonic_ms() + STOP_GRACE_MS;
    for (;;) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
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
    if (pids != NULL) {
        for (size_t i = 0; i < g->n_execs; i++)
            pids[i] = g->execs[i].pid;
        fh_supervisor_kill_all(pids, g->n_execs);
    }
    free(pids);
}

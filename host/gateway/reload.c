/* Rolling reload: every replica of an executor replaced by a new worker process, which
 * loads the plugin file as it is on disk now, one replica at a time, without failing a
 * request.
 *
 * A replacement surges: the new worker starts in the executor's spare slot
 * (workers[n_workers]) beside the replica it replaces, which serves on meanwhile. Once
 * the new one is READY the two swap places: the new one is the replica (dispatch sends
 * it requests), the old one sits in the spare slot, where dispatch never looks, and
 * finishes what it holds; holding nothing, it is told to stop (DISCONNECT: its fini
 * runs), and once it has ended the next replica is replaced. Nothing a client sent is
 * failed or moved: so it works with one replica as with many. Should the old worker die
 * while it finishes, what it held is answered as for any lost worker (gw_release_held:
 * what it had not begun goes to the new one).
 *
 * A new worker that does not start (its plugin does not load, init fails, it dies, it is
 * not READY within timeout_ready) is killed: the old one keeps serving, one line says
 * which executor and replica and why, and the reload of that executor stops there; the
 * executors queued after it are still reloaded.
 *
 * Requests (reload_request.c) queue executors, each by surge or in place; executors are
 * reloaded one after the other, in the flow's order; asked again while a rollout runs,
 * an executor is queued once more (the one being reloaded too: from its first replica
 * again, after this pass).
 * A drain (SIGINT/SIGTERM) stops the rollout: a new worker still starting is killed, and
 * the reloads waited for are told so.
 *
 * In place (asked for with "in-place"): for executors whose workspace takes one process
 * at a time (a docstore indexer's lock fails a second one's init). The old worker goes to
 * the spare slot first and finishes what it holds; once it has ended, the new worker
 * starts in the replica's slot. Nothing fails either (with one replica, requests wait
 * meanwhile), but a new worker that does not start leaves the replica without a worker:
 * it is then supervised as any worker that failed to start (restarts, the breaker). */
#define _GNU_SOURCE
#include "reload_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "board.h"
#include "log.h"
#include "supervisor.h"
#include "util.h"
#include "wire.h"

void gw_reload_info(const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fh_log_emit(NULL, FH_LOG_INFO, NULL, line);
}

/* "replica K" or "replica K of shard S". */
static const char *replica_name(const gw_worker *w, char *buf, size_t size)
{
    if (w->ex->shards > 1)
        snprintf(buf, size, "replica %u of shard %u", w->replica, w->ex->shard);
    else
        snprintf(buf, size, "replica %u", w->replica);
    return buf;
}

int gw_reload_init(fh_gateway *g)
{
    gw_reload *r = calloc(1, sizeof *r);
    uint8_t *pending = calloc(g->cfg->n_executors + 1, sizeof *pending);
    if (r == NULL || pending == NULL) {
        free(r);
        free(pending);
        return fh_set_error(FH_E_NOMEM, "out of memory");
    }
    r->pending = pending;
    r->cur = SIZE_MAX;
    g->reload = r;
    return 0;
}

void gw_reload_free(fh_gateway *g)
{
    gw_reload *r = g->reload;
    if (r == NULL)
        return;
    gw_reload_notify_waiters(r, "failed: the flow stopped\n");
    free(r->pending);
    free(r);
    g->reload = NULL;
}

/* Empties the spare slot of W's executor: its files, its board, its state (the ring of
 * held requests stays allocated, empty). Its process must be gone or killed. */
static void release_spare(fh_gateway *g, gw_worker *w)
{
    gw_remove_spec(g, w);
    gw_worker clean = {.ex = w->ex, .held = w->held};
    *w = clean;
    w->ex->n_spare = 0;
}

/* The reload of W's replica failed (WHY): one line says so and what becomes of the
 * replica (AFTER); the rollout counts it, keeps its first failure for those who wait,
 * and goes on to the next executor asked for. */
static void note_failure(fh_gateway *g, const gw_worker *w, const char *why, const char *after)
{
    gw_reload *r = g->reload;
    char rep[64], line[1100];
    const char *name = w->ex->cfg->name;
    snprintf(line, sizeof line, "reload of executor '%s', %s failed: %.700s; %s, and the "
             "reload of '%s' stops here", name, replica_name(w, rep, sizeof rep), why, after,
             name);
    gw_log("%s", line);
    r->failed++;
    if (r->failure[0] == '\0')
        snprintf(r->failure, sizeof r->failure, "%s", line);
    if (r->cur == w->ex->node)
        r->cur = SIZE_MAX;
}

/* Puts the worker of the spare slot SPARE in its replica's place PLACE, and the
 * replica's worker in the spare slot: the two structs swap, and what belongs to the
 * replica goes back to PLACE.
 * - The process's, which move with it: pid, last_pid, the routing id, ready, the ring
 *   of held requests (held, held_first, held_n, held_bytes), sent, head_since_us,
 *   service_us, idle_since_us, started_ms, heard_ms, pinged_ms, timing_out,
 *   start_failures (its own start), its files (spec_path, board, gen), reload (which
 *   the caller sets).
 * - The replica's, which stay: ex and replica (the same in both), starts and reloads
 *   (one reload more; the caller counts the start), and the breaker's history of deaths
 *   in a row (crashes, died_ms): a new file that dies as the old one did opens the
 *   breaker as soon as it would have without the reload (a reply clears it, as ever).
 * - down, probing, probe_at_ms, restart_at_ms, down_reason: the spare's (none). The
 *   replica gets a worker with the new file that is ready (surge) or starting (in
 *   place): its breaker closes, as after a probe; a replica that is down with no
 *   process is skipped by the rollout, not replaced. The replaced worker is never
 *   started again. */
static void swap_in(gw_worker *place, gw_worker *spare)
{
    gw_worker tmp = *place;
    *place = *spare;
    *spare = tmp;
    place->starts = spare->starts;
    place->reloads = spare->reloads + 1;
    place->crashes = spare->crashes;
    memcpy(place->died_ms, spare->died_ms, sizeof place->died_ms);
    spare->restart_at_ms = spare->probe_at_ms = 0;
    spare->down = spare->probing = false;
}

void gw_reload_failed(fh_gateway *g, gw_worker *w, const char *why)
{
    note_failure(g, w, why, "its old worker keeps serving");
    if (w->pid > 0)
        fh_supervisor_kill_group(w->pid); /* reaped later: no worker has its pid then */
    release_spare(g, w);
}

void gw_reload_ready(fh_gateway *g, gw_worker *s)
{
    gw_reload *r = g->reload;
    gw_exec *x = s->ex;
    char rep[64];
    int64_t now = fh_monotonic_ms();
    if (s->reload == GW_RELOAD_IN_PLACE) { /* in its replica's place already */
        s->reload = GW_RELOAD_NONE;
        r->in_place = NULL;
        r->replaced++;
        r->exec_replaced++;
        gw_reload_info("reload: executor '%s', %s replaced in place: new worker (pid %d) "
                       "ready in %lld ms", x->cfg->name, replica_name(s, rep, sizeof rep),
                       (int)s->pid, (long long)(now - r->spare_ms));
        return;
    }
    if (g->draining) { /* too late to take over: it stops, with its fini */
        fh_wire_send(g->back, s->id, s->id_len, FH_CMD_DISCONNECT, NULL, 0, ZMQ_DONTWAIT);
        s->reload = GW_RELOAD_BYE;
        s->ready = false;
        s->started_ms = now;
        return;
    }
    gw_worker *old = &x->workers[s->replica];
    swap_in(old, s);
    /* OLD is now the new worker, in its replica's place; S the worker it replaces. */
    old->reload = GW_RELOAD_NONE;
    old->starts++; /* a reload of the replica, in health and metrics */
    gw_observe_reload(g, old);
    s->reload = GW_RELOAD_OLD;
    r->replaced++;
    r->exec_replaced++;
    gw_reload_info("reload: executor '%s', %s replaced: new worker (pid %d) ready in %lld ms; "
                   "the old one (pid %d) finishes its %u request%s and stops", x->cfg->name,
                   replica_name(old, rep, sizeof rep), (int)old->pid,
                   (long long)(now - r->spare_ms), (int)s->pid, s->held_n,
                   s->held_n == 1 ? "" : "s");
    if (s->pid <= 0) {
        release_spare(g, s); /* it had died meanwhile: nothing to retire */
    } else if (!s->ready) {
        fh_supervisor_kill_group(s->pid); /* a restart of it still starting: nothing to
                                             finish */
        s->reload = GW_RELOAD_BYE;
        s->started_ms = now;
    }
}

void gw_reload_gone(fh_gateway *g, gw_worker *w, const char *how, const char *why_given)
{
    gw_exec *x = w->ex;
    pid_t pid = w->pid;
    char rep[64], why[800];
    w->last_pid = pid;
    w->pid = 0;
    w->ready = false;
    switch (w->reload) {
    case GW_RELOAD_NEW:
        snprintf(why, sizeof why, "%s", why_given ? why_given : how);
        if (why_given == NULL)
            snprintf(why, sizeof why, "it ended before it was ready (%s)", how);
        gw_reload_failed(g, w, why);
        return;
    case GW_RELOAD_OLD:
        if (w->held_n > 0) { /* it died finishing: as any lost worker's */
            if (why_given == NULL) {
                snprintf(why, sizeof why, "executor '%s' crashed: %s", x->cfg->name, how);
                gw_log("%s", why);
            }
            gw_release_held(g, w, pid, why_given ? why_given : why);
        }
        break;
    default:
        gw_reload_info("reload: executor '%s', %s: the old worker (pid %d) stopped (%s)",
                       x->cfg->name, replica_name(w, rep, sizeof rep), (int)pid, how);
        break;
    }
    release_spare(g, w);
    gw_feed(g, x);
}

bool gw_reload_check(fh_gateway *g, gw_worker *w, int64_t now, int64_t *next)
{
    char why[200];
    switch (w->reload) {
    case GW_RELOAD_NEW: {
        if (w->ready || g->cfg->timeout_ready_ms < 0)
            return true;
        int64_t due = w->started_ms + g->cfg->timeout_ready_ms;
        if (now < due) {
            gw_sooner(next, due);
            return true;
        }
        snprintf(why, sizeof why, "not ready within %d ms (timeout_ready)",
                 g->cfg->timeout_ready_ms);
        gw_reload_failed(g, w, why);
        return true;
    }
    case GW_RELOAD_BYE: {
        int64_t due = w->started_ms + STOP_GRACE_MS;
        if (now < due) {
            gw_sooner(next, due);
            return true;
        }
        gw_log("reload: executor '%s': the old worker (pid %d) did not stop within %d ms: "
               "killing it", w->ex->cfg->name, (int)w->pid, STOP_GRACE_MS);
        fh_supervisor_kill_group(w->pid);
        w->started_ms = now + 60000; /* once: its death is reaped */
        return true;
    }
    default:
        return false; /* the old worker, serving what it holds: the ordinary checks */
    }
}

/* Starts a rollout of what is pending, unless one runs. */
void gw_reload_begin(fh_gateway *g)
{
    gw_reload *r = g->reload;
    if (r->active)
        return;
    r->active = true;
    r->started_ms = fh_monotonic_ms();
    r->replaced = r->skipped = r->failed = r->down = 0;
    r->failure[0] = r->down_line[0] = '\0';
}

/* ---- the rollout -------------------------------------------------------------------- */

/* The next replica of the executor being reloaded, or false when it has no more. */
static bool next_replica(fh_gateway *g, gw_worker **out)
{
    gw_reload *r = g->reload;
    for (; r->unit < g->n_execs; r->unit++, r->replica = 0) {
        gw_exec *x = &g->execs[r->unit];
        if (x->node == r->cur && r->replica < x->n_workers) {
            *out = &x->workers[r->replica++];
            return true;
        }
    }
    return false;
}

/* Starts a new worker for the replica OLD in its executor's spare slot. Returns 0, or
 * negative when it could not be started (the reload of the executor stops). */
static int start_spare(fh_gateway *g, gw_worker *old)
{
    gw_reload *r = g->reload;
    gw_exec *x = old->ex;
    gw_worker *s = &x->workers[x->n_workers];
    s->ex = x;
    s->replica = old->replica;
    s->reload = GW_RELOAD_NEW;
    s->gen = ++r->gen;
    x->n_spare = 1;
    r->spare_ms = fh_monotonic_ms();
    if (gw_write_spec(g, s) != 0 || gw_spawn(g, s) != 0) {
        char why[1100];
        snprintf(why, sizeof why, "%s", fh_last_error());
        gw_reload_failed(g, s, why);
        return -1;
    }
    return 0;
}

/* In place: the replica OLD stops first (it finishes what it holds, in the spare slot),
 * and a new worker takes its place once it has ended. Returns 0, or negative when the
 * new worker's spec could not be written (OLD untouched, the executor's reload stops). */
static int start_in_place(fh_gateway *g, gw_worker *old)
{
    gw_reload *r = g->reload;
    gw_exec *x = old->ex;
    gw_worker *s = &x->workers[x->n_workers];
    s->ex = x;
    s->replica = old->replica;
    s->gen = ++r->gen;
    x->n_spare = 1;
    if (gw_write_spec(g, s) != 0) { /* S holds the new worker's spec and board */
        char why[1100];
        snprintf(why, sizeof why, "%s", fh_last_error());
        s->reload = GW_RELOAD_NEW; /* not started: released as a new worker that failed */
        gw_reload_failed(g, s, why);
        return -1;
    }
    swap_in(old, s); /* its start (gw_spawn) counts as a reload of the replica */
    /* OLD is now the new worker, not started; S the old one. */
    old->reload = GW_RELOAD_WAIT;
    s->reload = GW_RELOAD_OLD;
    r->in_place = old;
    char rep[64];
    gw_reload_info("reload: executor '%s', %s: the old worker (pid %d) finishes its %u "
                   "request%s and stops; then a new one starts in its place", x->cfg->name,
                   replica_name(old, rep, sizeof rep), (int)s->pid, s->held_n,
                   s->held_n == 1 ? "" : "s");
    if (s->pid <= 0 || !s->ready) { /* not running after all: nothing to finish */
        if (s->pid > 0)
            fh_supervisor_kill_group(s->pid);
        s->reload = GW_RELOAD_BYE;
        s->started_ms = fh_monotonic_ms();
        if (s->pid <= 0)
            release_spare(g, s);
    }
    return 0;
}

void gw_reload_in_place_failed(fh_gateway *g, gw_worker *w, const char *why)
{
    gw_reload *r = g->reload;
    if (w->reload != GW_RELOAD_IN_PLACE && w->reload != GW_RELOAD_WAIT)
        return;
    note_failure(g, w, why, "in place, its old worker is gone: the replica is supervised as "
                 "after a crash");
    w->reload = GW_RELOAD_NONE;
    r->in_place = NULL;
}

/* In place: starts the new worker once the old one has ended; notes it ready. */
static void step_in_place(fh_gateway *g, int64_t now)
{
    gw_reload *r = g->reload;
    gw_worker *w = r->in_place;
    if (w == NULL || w->reload != GW_RELOAD_WAIT || w->ex->n_spare > 0)
        return;
    w->reload = GW_RELOAD_IN_PLACE;
    r->spare_ms = now;
    if (gw_spawn(g, w) != 0) {
        char why[1100];
        snprintf(why, sizeof why, "%s", fh_last_error());
        gw_reload_in_place_failed(g, w, why);
        gw_mark_down(g, w, why);
    }
}

/* The rollout is over: says so, and to those who wait. */
static void finish(fh_gateway *g, int64_t now)
{
    gw_reload *r = g->reload;
    char text[1200];
    if (r->failed > 0)
        snprintf(text, sizeof text, "failed: %s\n", r->failure);
    else if (r->down > 0)
        snprintf(text, sizeof text, "failed: %s (%zu replica%s down, %zu replaced)\n",
                 r->down_line, r->down, r->down == 1 ? "" : "s", r->replaced);
    else
        snprintf(text, sizeof text,
                 "ok: %zu replica%s replaced, %zu not running skipped, in %lld ms\n",
                 r->replaced, r->replaced == 1 ? "" : "s", r->skipped,
                 (long long)(now - r->started_ms));
    gw_reload_info("reload done in %lld ms: %zu replaced, %zu skipped, %zu failed",
                   (long long)(now - r->started_ms), r->replaced, r->skipped, r->failed);
    gw_reload_notify_waiters(r, text);
    r->active = false;
    r->cur = SIZE_MAX;
}

void gw_reload_stop(fh_gateway *g)
{
    gw_reload *r = g->reload;
    if (r == NULL || !r->active)
        return;
    for (size_t u = 0; u < g->n_execs; u++) {
        gw_exec *x = &g->execs[u];
        if (x->n_spare > 0 && x->workers[x->n_workers].reload == GW_RELOAD_NEW)
            gw_reload_failed(g, &x->workers[x->n_workers], "the flow is shutting down");
    }
    gw_log("reload stopped: the flow is shutting down");
    memset(r->pending, 0, g->cfg->n_executors * sizeof *r->pending);
    gw_reload_notify_waiters(r, "failed: the flow is shutting down\n");
    r->active = false;
    r->cur = SIZE_MAX;
}

/* Tells the replaced workers that hold nothing more to stop (their fini runs). Returns
 * the spare slot in use, if any. */
static gw_worker *retire_idle(fh_gateway *g, int64_t now, int64_t *next)
{
    gw_worker *spare = NULL;
    for (size_t u = 0; u < g->n_execs; u++) {
        gw_exec *x = &g->execs[u];
        if (x->n_spare == 0)
            continue;
        spare = &x->workers[x->n_workers];
        if (spare->reload == GW_RELOAD_OLD && spare->held_n == 0 && spare->pid > 0) {
            if (fh_wire_send(g->back, spare->id, spare->id_len, FH_CMD_DISCONNECT, NULL, 0,
                             ZMQ_DONTWAIT) != 0)
                fh_supervisor_kill_group(spare->pid);
            spare->reload = GW_RELOAD_BYE;
            spare->ready = false;
            spare->started_ms = now;
            gw_sooner(next, now + STOP_GRACE_MS);
        }
    }
    return spare;
}

void gw_reload_tick(fh_gateway *g, int64_t now, int64_t *next)
{
    gw_reload *r = g->reload;
    if (r == NULL)
        return;
    gw_worker *spare = retire_idle(g, now, next);
    /* Also while draining: requests waiting for that replica need a worker. */
    step_in_place(g, now);
    if (!r->active)
        return;
    if (g->draining) {
        gw_reload_stop(g);
        return;
    }
    if (spare != NULL || r->in_place != NULL)
        return; /* one replacement at a time */
    for (;;) {
        if (r->cur == SIZE_MAX) {
            size_t e = 0;
            while (e < g->cfg->n_executors && !r->pending[e])
                e++;
            if (e == g->cfg->n_executors) {
                finish(g, now);
                return;
            }
            r->cur_mode = r->pending[e];
            r->pending[e] = MODE_NONE;
            if (g->cfg->executors[e].n_hosts > 0) { /* `host:`: its workers run elsewhere */
                gw_reload_info("reload: executor '%s' is served elsewhere ('host'): not "
                               "reloaded here; restart its workers where they run (the flow "
                               "takes each back when it answers)", g->cfg->executors[e].name);
                continue;
            }
            r->cur = e;
            r->unit = r->replica = 0;
            r->exec_ms = now;
            r->exec_replaced = 0;
            gw_reload_info("reload: executor '%s': replacing its workers one at a time%s",
                           g->cfg->executors[e].name,
                           r->cur_mode == MODE_IN_PLACE
                               ? ", each in place (the old one stops first)" : "");
        }
        gw_worker *w;
        if (!next_replica(g, &w)) {
            gw_reload_info("reload: executor '%s' reloaded: %zu worker%s replaced in %lld ms",
                           g->cfg->executors[r->cur].name, r->exec_replaced,
                           r->exec_replaced == 1 ? "" : "s", (long long)(now - r->exec_ms));
            r->cur = SIZE_MAX;
            continue;
        }
        /* Skipped only when it has no process: its next start (a restart due, a probe)
         * loads the file as it is then. A worker still starting loaded the file as it
         * was: it is replaced like a serving one (a new worker beside it; once that one
         * is ready, the starting one is killed, having nothing to finish). */
        if (w->pid <= 0) {
            char rep[64];
            replica_name(w, rep, sizeof rep);
            r->skipped++;
            if (!w->down) {
                gw_reload_info("reload: executor '%s', %s has no worker (it restarts after a "
                               "crash): skipped, its next worker loads the file as it is now",
                               w->ex->cfg->name, rep);
                continue;
            }
            /* Not a success: the replica serves nothing, and may never with this file. */
            r->down++;
            gw_log("reload: executor '%s', %s is down (its breaker is open): skipped, its "
                   "next probe loads the file as it is now", w->ex->cfg->name, rep);
            if (r->down_line[0] == '\0')
                snprintf(r->down_line, sizeof r->down_line, "executor '%s', %s is down (its "
                         "breaker is open): not reloaded", w->ex->cfg->name, rep);
            continue;
        }
        if ((r->cur_mode == MODE_IN_PLACE ? start_in_place(g, w) : start_spare(g, w)) == 0) {
            retire_idle(g, now, next); /* in place: the old one may hold nothing */
            return;
        }
    }
}

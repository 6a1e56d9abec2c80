/* The gateway: see gateway.h. One thread, one zmq_poll loop over the client socket, the
 * workers' socket and a signalfd. */
#define _GNU_SOURCE
#include "gateway_internal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "board.h"
#include "codec.h"
#include "pb.h"
#include "runtime_dir.h"
#include "supervisor.h"
#include "util.h"
#include "wire.h"


void gw_log(const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fh_log_emit(NULL, FH_LOG_WARNING, NULL, line); /* the host's lines: something to see to */
}


/* True when the process has a controlling terminal. */
static bool has_tty(void)
{
    int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* Whether the SIGHUP SI is its terminal's hangup, which stops the flow as it always
 * did, rather than a request to reload. Told by what the kernel says: the tty layer
 * sends it (SI_KERNEL) to the session leader and the foreground group; or the flow had
 * a terminal at its start and has none now (a background job: the shell, hung up,
 * forwards SIGHUP to its jobs with kill() as it dies, and a hangup has already taken
 * the terminal from every process of its session). */
static bool terminal_hangup(const fh_gateway *g, const struct signalfd_siginfo *si,
                            const char **how)
{
    if (si->ssi_code == SI_KERNEL) {
        *how = "sent by the terminal";
        return true;
    }
    if (g->had_tty && !has_tty()) {
        *how = "the flow's terminal is gone";
        return true;
    }
    return false;
}

/* Reads pending signals: returns a bit set, 1 = SIGINT/SIGTERM, 2 = SIGCHLD. A SIGHUP
 * that is the terminal's hangup counts as SIGTERM, once. A reload (any other SIGHUP:
 * every executor; FH_RELOAD_SIGNAL: the request its value names) is remembered for the
 * serving loop, whenever it comes. */
int gw_read_signals(fh_gateway *g)
{
    int got = 0;
    struct signalfd_siginfo si;
    const char *how;
    while (read(g->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP && terminal_hangup(g, &si, &how)) {
            if (!g->hung_up) { /* the kernel's and the shell's: one stop, not two */
                gw_log("SIGHUP: the terminal hung up (%s): stopping the flow", how);
                got |= 1;
            }
            g->hung_up = true;
        } else if (si.ssi_signo == SIGHUP) {
            gw_reload_signalled(g, 0);
        } else if ((int)si.ssi_signo == FH_RELOAD_SIGNAL) {
            gw_reload_signalled(g, si.ssi_int > 0 ? si.ssi_int : -1);
        } else {
            got |= si.ssi_signo == SIGCHLD ? 2 : 1;
        }
    }
    return got;
}

/* ---- set-up ------------------------------------------------------------------------- */

static int bind_sockets(fh_gateway *g)
{
    int zero = 0, one = 1;
    int hwm = (int)g->n_slots * 2, rcvhwm = FRONT_RCVHWM;
    g->front = zmq_socket(g->zctx, ZMQ_ROUTER);
    g->back = zmq_socket(g->zctx, ZMQ_ROUTER);
    if (g->front == NULL || g->back == NULL)
        return fh_set_error(FH_E_ZMQ, "cannot create sockets: %s", zmq_strerror(errno));
    /* ROUTER_MANDATORY: a reply to a peer that is gone or full fails (and is logged)
     * instead of vanishing silently. */
    if (fh_wire_socket_defaults(g->front, 1000, g->cfg->max_message_size) != 0 ||
        fh_wire_socket_defaults(g->back, 0, g->cfg->max_message_size) != 0 ||
        zmq_setsockopt(g->front, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(g->back, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(g->front, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(g->front, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(g->back, ZMQ_SNDHWM, &zero, sizeof zero) != 0)
        return fh_set_error(FH_E_ZMQ, "socket options: %s", zmq_strerror(errno));
    snprintf(g->backend_ep, sizeof g->backend_ep, "ipc://%s/workers.sock",
             fh_runtime_dir_path(g->rundir));
    if (zmq_bind(g->back, g->backend_ep) != 0)
        return fh_set_error(FH_E_ZMQ, "cannot bind %s: %s", g->backend_ep, zmq_strerror(errno));
    int rc = gw_door_init(g);
    if (rc != 0)
        return rc;
    char ep[300];
    if (g->cfg->port > 0)
        snprintf(ep, sizeof ep, "tcp://%s:%d", g->cfg->host, g->cfg->port);
    else
        snprintf(ep, sizeof ep, "tcp://%s:*", g->cfg->host);
    if (zmq_bind(g->front, ep) != 0)
        return fh_set_error(FH_E_ZMQ, "cannot listen on %s: %s", ep + 6, zmq_strerror(errno));
    char last[300];
    size_t len = sizeof last;
    if (zmq_getsockopt(g->front, ZMQ_LAST_ENDPOINT, last, &len) != 0)
        return fh_set_error(FH_E_ZMQ, "cannot read the bound address: %s", zmq_strerror(errno));
    snprintf(g->address, sizeof g->address, "%s", strncmp(last, "tcp://", 6) == 0 ? last + 6 : last);
    return gw_door_bound(g);
}

/* Takes the READYs on the workers' socket, waiting up to WAIT_MS for each: 0, or the
 * first executor that could not start (fh_last_error says why). */
static int read_hellos(fh_gateway *g, int wait_ms)
{
    zmq_pollitem_t item = {g->back, 0, ZMQ_POLLIN, 0};
    fh_wire_msg m;
    while (zmq_poll(&item, 1, wait_ms) > 0 && fh_wire_recv(g->back, &m, ZMQ_DONTWAIT) == 0) {
        int cmd = fh_wire_command(&m, 1), rc = 0;
        size_t idlen;
        const void *id = fh_wire_data(&m, 0, &idlen);
        gw_worker *w = id ? gw_worker_by_id(g, id, idlen) : NULL;
        if (!gw_remote_message(g, w, &m, cmd) && cmd == FH_CMD_READY)
            rc = gw_on_hello(g, &m, NULL);
        fh_wire_close(&m);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Waits until every executor reported READY, one failed, or the time ran out. */
static int wait_ready(fh_gateway *g)
{
    int64_t deadline = g->cfg->timeout_ready_ms < 0 ? -1 : fh_monotonic_ms() + g->cfg->timeout_ready_ms;
    for (;;) {
        size_t ready = 0, all = 0;
        GW_FOR_WORKERS(g, w) {
            ready += w->ready;
            all++;
        }
        if (ready == all)
            return 0;
        long wait = deadline < 0 ? 1000 : (long)(deadline - fh_monotonic_ms());
        size_t local_missing = 0;
        GW_FOR_WORKERS(g, w)
            local_missing += !w->ready && !w->remote;
        if (wait <= 0 && local_missing == 0) {
            /* Only workers on other machines are missing: they are not started here, and
             * may come later (a cluster starts its pods in any order). */
            gw_remote_not_ready(g);
            return 0;
        }
        if (wait <= 0) {
            char names[600] = "";
            size_t used = 0;
            for (size_t i = 0; i < g->n_execs && used < sizeof names; i++) {
                size_t k = 0;
                while (k < g->execs[i].n_workers && g->execs[i].workers[k].ready)
                    k++;
                if (k < g->execs[i].n_workers)
                    used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'",
                                             used ? ", " : "", g->execs[i].cfg->name);
            }
            return fh_set_error(FH_E_TIMEOUT, "executor %s not ready after %d ms (timeout_ready)",
                                names, g->cfg->timeout_ready_ms);
        }
        /* The door is served already: a client that connects early is let in (or not)
         * at once, and its requests wait for the flow to be ready. */
        zmq_pollitem_t items[4] = {{g->back, 0, ZMQ_POLLIN, 0}, {NULL, g->sigfd, ZMQ_POLLIN, 0}};
        size_t n = 2 + gw_door_poll_items(g, items + 2);
        int door = gw_door_timer(g), remote = gw_remote_tick(g);
        if (door >= 0 && door < wait)
            wait = door;
        if (remote >= 0 && remote < wait)
            wait = remote;
        if (zmq_poll(items, (int)n, wait) < 0 && errno != EINTR)
            return fh_set_error(FH_E_ZMQ, "poll: %s", zmq_strerror(errno));
        gw_door_service(g, items + 2);
        int rc = (items[0].revents & ZMQ_POLLIN) ? read_hellos(g, 0) : 0;
        if (rc != 0)
            return rc;
        if (items[1].revents & ZMQ_POLLIN) {
            int sig = gw_read_signals(g);
            if (sig & 1)
                return fh_set_error(FH_E_STATE, "interrupted while starting");
            int status;
            pid_t pid;
            while ((pid = fh_supervisor_reap(&status)) > 0) {
                gw_worker *e = gw_worker_by_pid(g, pid);
                if (e == NULL)
                    continue;
                e->last_pid = e->pid;
                e->pid = 0;
                /* A worker that could not start says why in a READY before it exits:
                 * give that message a moment to arrive. */
                if ((rc = read_hellos(g, 200)) != 0)
                    return rc;
                char how[128];
                fh_describe_exit(status, how, sizeof how);
                return fh_set_error(FH_E_PLUGIN, "executor '%s' exited %s (%s)", e->ex->cfg->name,
                                    e->ready ? "while the flow was starting" : "before it was ready",
                                    how);
            }
        }
    }
}

int fh_gateway_start(const fh_gateway_options *opts, fh_gateway **out)
{
    *out = NULL;
    fh_gateway *g = calloc(1, sizeof *g);
    if (g == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    g->cfg = opts->cfg;
    g->self_exe = opts->self_exe;
    g->sigfd = -1;
    g->n_slots = opts->max_inflight ? opts->max_inflight : (size_t)opts->cfg->max_inflight;
    /* The last slots are kept for requests that wait: a no_wait request that finds no
     * more room than this is answered "busy". A flow of one slot keeps none: that slot
     * would be reserved for ever. */
    g->reserve = g->n_slots / 16 > 0 ? g->n_slots / 16 : 1;
    if (g->reserve >= g->n_slots)
        g->reserve = g->n_slots - 1;
    /* Room for a few of the largest requests at once, and no more. */
    g->max_bytes = (size_t)FH_GATEWAY_BUDGET_MESSAGES * (size_t)opts->cfg->max_message_size;
    int rc;
    if ((rc = gw_graph_init(g)) != 0)
        goto failed;
    /* A request's branches have slots of their own: as many as it can have at once; and
     * floating executors' copies, which nobody waits for: as many requests' worth as the
     * flow takes requests, a copy to shards polled ALL taking a slot per shard. */
    size_t fw = g->graph.float_width > 0 ? g->graph.float_width : 1;
    g->detached_max = g->n_slots * fw;
    g->n_branches = g->graph.chain ? 0 : g->n_slots * (g->graph.width + 1) + g->detached_max;
    g->slots = calloc(g->n_slots + g->n_branches, sizeof *g->slots);
    if (g->slots == NULL) {
        rc = fh_set_error(FH_E_NOMEM, "out of memory");
        goto failed;
    }
    if ((rc = fh_client_table_init(&g->clients, g->n_slots)) != 0)
        goto failed;
    for (size_t i = 0; i < g->n_slots; i++)
        g->slots[i].next = i + 1 < g->n_slots ? (int)i + 1 : -1;
    g->free_head = 0;
    for (size_t i = 0; i < g->n_branches; i++)
        g->slots[g->n_slots + i].next = i + 1 < g->n_branches ? (int)(g->n_slots + i + 1) : -1;
    g->branch_free = g->n_branches > 0 ? (int)g->n_slots : -1;
    for (size_t i = 0; i < g->n_execs; i++) {
        gw_exec *x = &g->execs[i];
        x->queue_head = x->queue_tail = -1;
        x->credit = x->cfg->credit > 0 ? (uint32_t)x->cfg->credit : FH_FLOW_DEFAULT_CREDIT;
        /* A batch forms from the requests waiting at a worker: room for a full one. */
        for (size_t b = 0; b < x->cfg->n_batching; b++)
            if ((uint32_t)x->cfg->batching[b].preferred_batch_size > x->credit)
                x->credit = (uint32_t)x->cfg->batching[b].preferred_batch_size;
        if (x->credit > GW_CREDIT_MAX)
            x->credit = GW_CREDIT_MAX;
        size_t n = x->cfg->replicas > 0 ? (size_t)x->cfg->replicas : 1;
        /* One more: the spare slot a rolling reload starts a new worker in. */
        x->workers = calloc(n + 1, sizeof *x->workers);
        if (x->workers == NULL) {
            rc = fh_set_error(FH_E_NOMEM, "out of memory");
            goto failed;
        }
        x->n_workers = n;
        for (size_t k = 0; k <= x->n_workers; k++) {
            gw_worker *w = &x->workers[k];
            w->ex = x;
            w->replica = (uint32_t)k;
            w->held = calloc(x->credit, sizeof *w->held);
            if (w->held == NULL) {
                rc = fh_set_error(FH_E_NOMEM, "out of memory");
                goto failed;
            }
        }
    }
    if ((g->cfg->monitoring && (rc = gw_observe_init(g)) != 0) || (rc = gw_reload_init(g)) != 0)
        goto failed;
    g->had_tty = has_tty(); /* to tell a terminal's hangup from a reload's SIGHUP */
    /* Block the signals before ZeroMQ starts its threads, so only the signalfd sees them. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGHUP); /* a rolling reload (reload.c) */
    sigaddset(&mask, FH_RELOAD_SIGNAL);
    sigprocmask(SIG_BLOCK, &mask, &g->oldmask);
    g->mask_changed = true;
    g->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (g->sigfd < 0) {
        rc = fh_set_error(FH_E_IO, "signalfd: %s", strerror(errno));
        goto failed;
    }
    /* What plugins start and leave behind comes back to the host, which ends it. */
    if ((rc = fh_supervisor_adopt_orphans()) != 0)
        goto failed;
    if ((rc = fh_runtime_dir_create(&g->rundir)) != 0)
        goto failed;
    g->zctx = zmq_ctx_new();
    if (g->zctx == NULL) {
        rc = fh_set_error(FH_E_ZMQ, "cannot start ZeroMQ: %s", zmq_strerror(errno));
        goto failed;
    }
    if ((rc = bind_sockets(g)) != 0 || (rc = gw_replies_init(g, gw_door_max(g))) != 0)
        goto failed;
    if ((rc = gw_remote_init(g)) != 0)
        goto failed;
    GW_FOR_WORKERS(g, w)
        if (!w->remote && ((rc = gw_write_spec(g, w)) != 0 || (rc = gw_spawn(g, w)) != 0))
            goto failed;
    if ((rc = wait_ready(g)) != 0 || (rc = gw_http_init(g)) != 0)
        goto failed;
    *out = g;
    return 0;
failed:;
    char why[1100];
    snprintf(why, sizeof why, "%s", fh_last_error());
    fh_gateway_destroy(&g);
    return fh_set_error(rc, "%s", why);
}

const char *fh_gateway_address(const fh_gateway *g) { return g->address; }

int fh_gateway_serve(fh_gateway *g)
{
    /* A drain waits for floating executors' copies too: they are the flow's work; and for
     * the HTTP answers to be written. */
    while (!(g->draining && g->inflight == 0 && g->detached == 0 && !gw_http_busy(g))) {
        /* The client socket last: it is left out while the flow is full. */
        zmq_pollitem_t items[7] = {{NULL, g->sigfd, ZMQ_POLLIN, 0},
                                   {g->back, 0, ZMQ_POLLIN, 0},
                                   {NULL, gw_replies_fd(g), ZMQ_POLLIN, 0}};
        size_t n = 3 + gw_door_poll_items(g, items + 3);
        n += gw_http_poll_items(g, items + n); /* HTTP */
        size_t front = n;
        items[front] = (zmq_pollitem_t){g->front, 0, ZMQ_POLLIN, 0};
        /* A full flow stops reading clients: they wait in ZeroMQ's bounded queues. */
        bool room = g->inflight < g->n_slots && g->inflight_bytes < g->max_bytes;
        if (room)
            n++;
        int wait = gw_check_timers(g), door = gw_door_timer(g), http = gw_http_timer(g);
        if (door >= 0 && (wait < 0 || door < wait))
            wait = door;
        if (http >= 0 && (wait < 0 || http < wait))
            wait = http;
        if (g->draining) {
            int64_t left = g->drain_deadline_ms - fh_monotonic_ms();
            if (left <= 0) {
                gw_expire_drain(g);
                continue;
            }
            if (wait < 0 || left < wait)
                wait = (int)left;
        }
        if (zmq_poll(items, (int)n, wait < 0 || wait > 1000 ? 1000 : wait) < 0) {
            if (errno == EINTR)
                continue;
            return fh_set_error(FH_E_ZMQ, "poll: %s", zmq_strerror(errno));
        }
        gw_replies_wake(g, items[2].revents & ZMQ_POLLIN);
        gw_door_service(g, items + 3);
        /* The workers' messages before the signals: a worker that replied and then ended
         * is answered for by its reply, not taken for one that died with it. */
        fh_wire_msg m;
        for (int k = 0; k < BATCH && (items[1].revents & ZMQ_POLLIN) &&
                        fh_wire_recv(g->back, &m, ZMQ_DONTWAIT) == 0; k++) {
            gw_on_worker_message(g, &m);
            fh_wire_close(&m);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            int sig = gw_read_signals(g);
            if (sig & 2) {
                /* Whatever a worker said before it ended counts: read it all first. */
                while (fh_wire_recv(g->back, &m, ZMQ_DONTWAIT) == 0) {
                    gw_on_worker_message(g, &m);
                    fh_wire_close(&m);
                }
                gw_reap(g);
            }
            if (sig & 1) {
                if (g->draining) {
                    gw_log("second signal: stopping now, %zu request%s unanswered", g->inflight,
                           g->inflight == 1 ? "" : "s");
                    return 0;
                }
                g->draining = true;
                g->drain_deadline_ms = fh_monotonic_ms() + g->cfg->timeout_drain_ms;
                gw_reload_stop(g);
                if (g->inflight > 0)
                    gw_log("shutting down: answering %zu requests in flight (at most %d ms)",
                           g->inflight, g->cfg->timeout_drain_ms);
            }
        }
        for (int k = 0; k < BATCH && n > front && (items[front].revents & ZMQ_POLLIN) &&
                        g->inflight < g->n_slots && g->inflight_bytes < g->max_bytes &&
                        fh_wire_recv(g->front, &m, ZMQ_DONTWAIT) == 0; k++) {
            gw_on_client_message(g, &m);
            fh_wire_close(&m);
        }
        gw_http_service(g); /* HTTP: after the replies that answer its requests */
        if (g->reload_asked) {
            g->reload_asked = false;
            gw_reload_asked(g);
        }
    }
    return 0;
}

void fh_gateway_destroy(fh_gateway **gp)
{
    fh_gateway *g = gp ? *gp : NULL;
    if (g == NULL)
        return;
    if (g->back != NULL) {
        gw_stop_workers(g);
    } else {
        GW_FOR_WORKERS(g, w)
            if (w->pid > 0)
                fh_supervisor_kill_all(&w->pid, 1);
        fh_supervisor_end_children(STRAY_WAIT_MS);
    }
    gw_http_free(g); /* HTTP: its requests let go before their slots are freed */
    for (size_t i = 0; g->slots && i < g->n_slots; i++)
        if (g->slots[i].used)
            gw_slot_free(g, (int)i);
    for (size_t i = g->n_slots; g->slots && i < g->n_slots + g->n_branches; i++)
        if (g->slots[i].used)
            gw_branch_free(g, (int)i);
    gw_door_free(g);
    gw_remote_free(g);
    if (g->front)
        zmq_close(g->front);
    if (g->back)
        zmq_close(g->back);
    if (g->zctx)
        zmq_ctx_term(g->zctx);
    gw_replies_free(g); /* ZeroMQ has let every reply go */
    gw_reload_free(g);  /* its answers go in the runtime directory */
    fh_runtime_dir_remove(&g->rundir);
    for (size_t i = 0; g->execs && i < g->n_execs; i++) {
        for (size_t k = 0; g->execs[i].workers && k <= g->execs[i].n_workers; k++) {
            free(g->execs[i].workers[k].spec_path);
            free(g->execs[i].workers[k].held);
            fh_board_close(&g->execs[i].workers[k].board);
        }
        free(g->execs[i].workers);
    }
    gw_observe_free(g);
    gw_graph_free(g);
    free(g->slots);
    fh_client_table_free(&g->clients);
    if (g->sigfd >= 0)
        close(g->sigfd);
    if (g->mask_changed)
        sigprocmask(SIG_SETMASK, &g->oldmask, NULL);
    free(g);
    *gp = NULL;
}

/* The worker runtime: load one executor, then serve the gateway's requests. */
#define _GNU_SOURCE
#include "worker.h"
#include "worker_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/executor.h>

#include "board.h"
#include "codec.h"
#include "context.h"
#include "flow_when.h"
#include "pb.h"
#include "plugin_loader.h"
#include "util.h"
#include "wire.h"
#include "worker_beat.h"

/* How often the worker checks that the host is still there while idle. */
#define FH_WORKER_POLL_MS 500
/* How long a crashing worker lets ZeroMQ send the replies it has queued. */
#define FH_WORKER_CRASH_FLUSH_MS 100

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return fh_set_error(FH_E_INVAL, "workspace path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return fh_set_error(FH_E_IO, "cannot create workspace %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return fh_set_error(FH_E_IO, "cannot create workspace %s: %s", buf, strerror(errno));
    return 0;
}

static int read_spec(const char *path, Flowhost__ExecutorSpec **out)
{
    char *buf;
    size_t len;
    int rc = fh_read_file(path, &buf, &len);
    if (rc != 0)
        return rc;
    *out = (Flowhost__ExecutorSpec *)fh_pb_unpack(&flowhost__executor_spec__descriptor, buf, len);
    free(buf);
    if (*out == NULL)
        return fh_set_error(FH_E_PROTOCOL, "%s: not an executor spec", path);
    return 0;
}

static int send_hello(worker *w, int status, const char *error)
{
    Flowhost__WorkerHello hello = FLOWHOST__WORKER_HELLO__INIT;
    Flowhost__Status st = FLOWHOST__STATUS__INIT;
    hello.executor = w->spec->name;
    hello.pid = (int32_t)getpid();
    hello.index = w->spec->index;
    hello.replica = w->spec->replica;
    hello.status = &st;
    if (status != 0) {
        st.code = FLOWHOST__STATUS__CODE__ERROR;
        st.executor = w->spec->name;
        st.description = (char *)error;
    }
    zmq_msg_t frame;
    if (fh_pb_pack_msg(&hello.base, &frame) != 0)
        return FH_E_NOMEM;
    return fh_wire_send(w->sock, NULL, 0, FH_CMD_READY, &frame, 1, 0);
}

/* Loads the executor and calls init. Returns 0 or an error (fh_last_error). */
static int start_executor(worker *w)
{
    int rc = fh_plugin_load(w->spec->plugin, w->spec->type[0] ? w->spec->type : NULL,
                            w->spec->plugin_path, w->spec->n_plugin_path, &w->loaded);
    if (rc != 0)
        return rc;
    if ((rc = fh_worker_build_routes(w)) != 0)
        return rc;
    if (w->spec->when[0] != '\0' && (rc = fh_when_compile_json(w->spec->when, &w->when)) != 0)
        return rc;
    if ((rc = mkdir_p(w->spec->workspace)) != 0)
        return rc;
    const fh_executor_type *t = w->loaded.type;
    if (t == NULL || t->init == NULL)
        return 0;
    fh_ctx ctx = {.executor = w->spec->name, .workspace = w->spec->workspace,
                  .log_level = w->log_level};
    fh_metas metas = {sizeof(fh_metas), w->spec->name, w->spec->description, w->spec->workspace,
                      w->spec->replica, w->spec->replicas > 0 ? w->spec->replicas : 1,
                      w->spec->shard, w->spec->shards > 0 ? w->spec->shards : 1};
    fh_value *empty = NULL;
    const fh_value *with = (const fh_value *)w->spec->uses_with;
    if (with == NULL)
        with = empty = fh_value_new_map();
    rc = t->init(&ctx, with, &metas, &w->state);
    fh_value_destroy(&empty);
    if (rc != 0 || ctx.failed)
        return fh_set_error(FH_E_PLUGIN, "init failed: %s",
                            ctx.failed ? ctx.error : fh_strerror(rc));
    return 0;
}

/* A plugin that crashes kills its process the moment after the worker sent the reply
 * before: that reply is still in ZeroMQ's queue, whose thread would send it a moment
 * later. Give it that moment (the thread runs on while this one sleeps), then die of
 * the same signal as before. */
static void on_crash(int sig)
{
    struct timespec pause = {0, FH_WORKER_CRASH_FLUSH_MS * 1000000L};
    nanosleep(&pause, NULL);
    raise(sig); /* SA_RESETHAND restored the default action */
}

static void catch_crashes(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGTRAP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < sizeof sigs / sizeof *sigs; k++)
        sigaction(sigs[k], &sa, NULL);
}

/* Serves until DISCONNECT or until the host is gone. */
static void serve(worker *w)
{
    for (;;) {
        /* The gateway keeps requests queued here (credit): take the next one straight
         * away, and wait in zmq_poll only when none is there (a poll per message was a
         * tenth of a pass-through worker's instructions). */
        fh_wire_msg m;
        if (fh_wire_recv(w->sock, &m, ZMQ_DONTWAIT) != 0) { /* none, or a failure the
                                                               poll reports */
            zmq_pollitem_t item = {w->sock, 0, ZMQ_POLLIN, 0};
            int n = zmq_poll(&item, 1, FH_WORKER_POLL_MS);
            if (n < 0 && errno != EINTR)
                return;
            /* Idle: is the host still there? PR_SET_PDEATHSIG kills this process when
             * it goes; this second guard costs a system call, so not one per request. */
            if (n == 0 && !w->remote && getppid() != w->parent)
                return; /* nobody is left to answer */
            continue;
        }
        int cmd = fh_wire_command(&m, 0);
        if (cmd == FH_CMD_REQUEST)
            fh_worker_request(w, &m);
        else if (cmd == FH_CMD_HEARTBEAT)
            fh_wire_send(w->sock, NULL, 0, FH_CMD_HEARTBEAT, NULL, 0, 0);
        else if (cmd == FH_CMD_READY && w->remote)
            fh_worker_listen_settings(w, &m); /* a new gateway's: before its requests */
        fh_wire_close(&m);
        /* A batch may have taken a request that did not fit it, or a DISCONNECT. */
        while (w->has_next)
            fh_worker_request_next(w);
        if (cmd == FH_CMD_DISCONNECT || w->stop)
            return;
    }
}

int fh_worker_main(const char *spec_path)
{
    worker w = {.log_level = fh_log_level_from_env(), .parent = getppid(), .self = getpid()};
    if (read_spec(spec_path, &w.spec) != 0) {
        fprintf(stderr, "flowhost worker: %s\n", fh_last_error());
        return 1;
    }
    return fh_worker_run(&w);
}

int fh_worker_run(worker *w)
{
    int status = 1;
    char replica[16], shard[16];
    snprintf(replica, sizeof replica, "%u", w->spec->replica);
    snprintf(shard, sizeof shard, "%u", w->spec->shard);
    if (setenv("FLOWHOST_REPLICA", replica, 1) != 0 || setenv("FLOWHOST_SHARD", shard, 1) != 0 ||
        (w->spec->board[0] != '\0' && fh_board_open(w->spec->board, &w->board) != 0)) {
        fprintf(stderr, "flowhost worker %s: %s\n", w->spec->name,
                errno == ENOMEM ? "out of memory" : fh_last_error());
        goto out;
    }
    fh_board_begin(w->board, w->self, 0, 0); /* the board works: nothing begun yet */
    catch_crashes();
    if (w->zctx == NULL)
        w->zctx = zmq_ctx_new();
    w->sock = w->zctx ? zmq_socket(w->zctx, ZMQ_DEALER) : NULL;
    if (w->sock == NULL || fh_wire_socket_defaults(w->sock, 2000, w->spec->max_message_size) != 0 ||
        zmq_connect(w->sock, w->spec->gateway) != 0) {
        fprintf(stderr, "flowhost worker %s: cannot connect to %s: %s\n", w->spec->name,
                w->spec->gateway, zmq_strerror(errno));
        goto out;
    }
    /* The processes the plugin starts and leaves behind (a daemon that double-forks) come
     * back to this worker while it lives, not to the host: the host ends the orphans of
     * a worker that ended, and must not take a living executor's for them. (They are
     * reaped when this worker ends.) */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        fprintf(stderr, "flowhost worker %s: cannot adopt the plugin's processes: %s\n",
                w->spec->name, strerror(errno));
    if (start_executor(w) != 0) {
        char why[1100];
        snprintf(why, sizeof why, "%s", fh_last_error());
        send_hello(w, -1, why);
        goto out;
    }
    if (send_hello(w, 0, NULL) != 0) {
        fprintf(stderr, "flowhost worker %s: %s\n", w->spec->name, fh_last_error());
        goto out;
    }
    /* Without the thread, a long handler would look dead to the gateway: no start. */
    if (fh_worker_beat_start(&w->beat, w->sock) != 0) {
        fprintf(stderr, "flowhost worker %s: %s\n", w->spec->name, fh_last_error());
        goto out;
    }
    serve(w);
    fh_worker_beat_stop(&w->beat);
    if (w->loaded.type != NULL && w->loaded.type->fini != NULL)
        w->loaded.type->fini(w->state);
    status = 0;
out:
    if (w->sock)
        zmq_close(w->sock);
    w->sock = NULL;
    if (w->listener != NULL && fh_worker_listen_end(w) != 0)
        status = 1;
    if (w->zctx)
        zmq_ctx_term(w->zctx);
    free(w->routes);
    fh_when_destroy(&w->when);
    free(w->loaded.path);
    fh_board_close(&w->board);
    if (w->gw_hello != NULL) { /* the spec borrows from it: its own fields back first */
        *w->spec = w->own;
        flowhost__gateway_hello__free_unpacked(w->gw_hello, NULL);
    }
    flowhost__executor_spec__free_unpacked(w->spec, NULL);
    return status;
}

/* The worker runtime: load one executor, then serve the gateway's requests. */
#define _GNU_SOURCE
#include "worker.h"

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
#include "pb.h"
#include "plugin_loader.h"
#include "util.h"
#include "wire.h"
#include "worker_beat.h"

/* How often the worker checks that the host is still there while idle. */
#define FH_WORKER_POLL_MS 500
/* How long a crashing worker lets ZeroMQ send the replies it has queued. */
#define FH_WORKER_CRASH_FLUSH_MS 100

/* Jina's name of the default binding; uses_requests may also say "default". */
#define FH_DEFAULT_ENDPOINT "/default"

typedef struct route_entry {
    const char *endpoint; /* borrowed from the plugin or the spec */
    const char *name;     /* the handler's name, borrowed from the plugin */
    fh_handler_fn handler;
} route_entry;

typedef struct worker {
    Flowhost__ExecutorSpec *spec;
    fh_loaded_type loaded;
    route_entry *routes; /* endpoint -> handler */
    size_t n_routes;
    fh_handler_fn default_handler; /* NULL: unbound endpoints pass unchanged */
    void *state;                   /* what init stored */
    fh_log_level log_level;
    void *zctx;
    void *sock;
    fh_worker_beat beat;           /* heartbeats while a handler runs */
    pid_t parent;
    pid_t self;
    fh_board *board;               /* tells the gateway which request it began last */
    uint64_t seq;                  /* REQUESTs received so far */
} worker;

/* Binds ENDPOINT to FN: an endpoint bound already is rebound in its place (a later
 * binding wins, as a later key of a Python dict does), a new one goes last. */
static int add_route(worker *w, const char *endpoint, const char *name, fh_handler_fn fn)
{
    for (size_t i = 0; i < w->n_routes; i++)
        if (strcmp(w->routes[i].endpoint, endpoint) == 0) {
            w->routes[i].handler = fn;
            w->routes[i].name = name;
            return 0;
        }
    route_entry *r = realloc(w->routes, (w->n_routes + 1) * sizeof *r);
    if (r == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    w->routes = r;
    w->routes[w->n_routes++] = (route_entry){endpoint, name, fn};
    return 0;
}

static void remove_route(worker *w, const char *endpoint)
{
    for (size_t i = 0; i < w->n_routes; i++)
        if (strcmp(w->routes[i].endpoint, endpoint) == 0) {
            memmove(&w->routes[i], &w->routes[i + 1], (w->n_routes - i - 1) * sizeof *w->routes);
            w->n_routes--;
            return;
        }
}

/* The routes of the plugin's own bindings, in their order, the default handler among
 * them under FH_DEFAULT_ENDPOINT (a request for an unbound endpoint falls to it). */
static int plugin_routes(worker *w, const fh_executor_type *t)
{
    for (const fh_binding *b = t->bindings; b->handler != NULL; b++) {
        if (b->kind == FH_BIND_DEFAULT) {
            if (add_route(w, FH_DEFAULT_ENDPOINT, b->handler_name, b->handler) != 0)
                return FH_E_NOMEM;
            continue;
        }
        for (size_t k = 0; b->kind == FH_BIND_ENDPOINTS && k < FH_MAX_ENDPOINTS &&
                           b->endpoints[k] != NULL; k++)
            if (add_route(w, b->endpoints[k], b->handler_name, b->handler) != 0)
                return FH_E_NOMEM;
    }
    return 0;
}

/* True when an entry of the flow before entry I binds ENDPOINT. */
static bool bound_by_flow(const worker *w, size_t i, const char *endpoint)
{
    for (size_t j = 0; j < i; j++) {
        const char *e = w->spec->requests[j]->endpoint;
        if (strcmp(e, "default") == 0)
            e = FH_DEFAULT_ENDPOINT;
        if (strcmp(e, endpoint) == 0)
            return true;
    }
    return false;
}

/* The plugin's bindings, then the flow's (the executor YAML's requests merged with
 * uses_requests), applied as Jina's Executor applies its `requests`: each entry binds its
 * endpoint to the named handler (any handler of the type, FH_HANDLER ones included) and
 * releases the endpoint that the plugin bound that handler to last (its default binding
 * counts as the endpoint "/default"); every other binding of the plugin stays. Which
 * endpoint a handler releases is decided on the plugin's bindings alone, before any
 * entry is applied, as Jina does; unlike Jina, an endpoint that an entry of the flow
 * bound is never released by a later entry. */
static int build_routes(worker *w)
{
    const fh_executor_type *t = w->loaded.type;
    if (t == NULL)
        return 0;
    int rc = plugin_routes(w, t);
    if (rc != 0 || w->spec->n_requests == 0)
        goto done;
    size_t n = w->spec->n_requests;
    /* Per entry: the endpoint its handler releases (NULL: none), found before any change. */
    const char **release = calloc(n, sizeof *release);
    if (release == NULL) {
        rc = fh_set_error(FH_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < w->n_routes; r++)
            if (strcmp(w->routes[r].name, w->spec->requests[i]->handler) == 0)
                release[i] = w->routes[r].endpoint; /* the last one wins */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const Flowhost__RequestBinding *rb = w->spec->requests[i];
        const fh_binding *b = t->bindings;
        while (b->handler != NULL && strcmp(b->handler_name, rb->handler) != 0)
            b++;
        if (b->handler == NULL) {
            rc = fh_set_error(FH_E_NOTFOUND,
                              "uses_requests: executor type '%s' has no handler '%s' (for '%s')",
                              t->name, rb->handler, rb->endpoint);
            break;
        }
        const char *endpoint = strcmp(rb->endpoint, "default") == 0 ? FH_DEFAULT_ENDPOINT
                                                                   : rb->endpoint;
        if (release[i] != NULL && !bound_by_flow(w, i, release[i]))
            remove_route(w, release[i]);
        rc = add_route(w, endpoint, b->handler_name, b->handler);
    }
    free(release);
done:
    for (size_t r = 0; rc == 0 && r < w->n_routes; r++)
        if (strcmp(w->routes[r].endpoint, FH_DEFAULT_ENDPOINT) == 0)
            w->default_handler = w->routes[r].handler;
    return rc;
}

static fh_handler_fn lookup(const worker *w, const char *endpoint)
{
    for (size_t i = 0; i < w->n_routes; i++)
        if (strcmp(w->routes[i].endpoint, endpoint) == 0)
            return w->routes[i].handler;
    return w->default_handler;
}

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
    if ((rc = build_routes(w)) != 0)
        return rc;
    if ((rc = mkdir_p(w->spec->workspace)) != 0)
        return rc;
    const fh_executor_type *t = w->loaded.type;
    if (t == NULL || t->init == NULL)
        return 0;
    fh_ctx ctx = {.executor = w->spec->name, .workspace = w->spec->workspace,
                  .log_level = w->log_level};
    fh_metas metas = {sizeof(fh_metas), w->spec->name, w->spec->description, w->spec->workspace,
                      w->spec->replica, w->spec->replicas > 0 ? w->spec->replicas : 1};
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

/* Parameters as this executor sees them: parameters[metas.name] (a map) over the root.
 * Returns ROOT itself when there is nothing to merge, else a new map in *OWNED. Linear in
 * the number of parameters (a copy and a merge, no lookup per key that scans). */
static const fh_value *scoped_params(const fh_value *root, const char *name, fh_value **owned)
{
    *owned = NULL;
    const fh_value *own = fh_map_get(root, name);
    if (fh_value_type(own) != FH_TYPE_MAP)
        return root;
    fh_value *merged = fh_value_copy(root);
    if (merged == NULL || fh_map_merge(merged, own) != 0) {
        fh_value_destroy(&merged);
        return NULL;
    }
    *owned = merged;
    return merged;
}

/* Runs the handler on the documents IN of one request. Returns true with *OUT (empty on
 * entry) the documents to send on; on failure the envelope carries the error, *OUT is
 * left empty, returns false. */
static bool run_handler(worker *w, fh_handler_fn fn, Flowhost__Envelope *env,
                        const fh_wire_docs *in, fh_wire_docs *out)
{
    char why[FH_CTX_ERROR_MAX + 64];
    fh_docs *docs = NULL;
    fh_value *root_owned = NULL, *scoped_owned = NULL;
    const fh_value *root = (const fh_value *)env->parameters;
    if (fh_value_type(root) != FH_TYPE_MAP)
        root = root_owned = fh_value_new_map();
    const fh_value *params = root ? scoped_params(root, w->spec->name, &scoped_owned) : NULL;
    if (params == NULL) {
        snprintf(why, sizeof why, "out of memory preparing parameters");
        goto failed;
    }
    if (fh_docs_decode_wire_max(in, FH_DECODE_DOCS_FACTOR * (size_t)w->spec->max_message_size,
                                &docs) != 0) {
        snprintf(why, sizeof why, "%s", fh_last_error());
        goto failed;
    }
    fh_ctx ctx = {.endpoint = env->endpoint, .request_id = env->request_id,
                  .executor = w->spec->name, .workspace = w->spec->workspace,
                  .state = w->state, .log_level = w->log_level};
    int rc = fn(&ctx, docs, params);
    if (rc != 0 || ctx.failed) {
        snprintf(why, sizeof why, "%s", ctx.failed ? ctx.error : fh_strerror(rc));
        goto failed;
    }
    if (fh_docs_pack_wire(docs, 1, out) != 0) { /* the documents are done with: take blobs */
        snprintf(why, sizeof why, "out of memory encoding documents");
        goto failed;
    }
    fh_docs_destroy(&docs);
    fh_value_destroy(&scoped_owned);
    fh_value_destroy(&root_owned);
    return true;
failed:
    if (fh_envelope_set_error(env, w->spec->name, why) != 0)
        fprintf(stderr, "flowhost worker %s: out of memory reporting: %s\n", w->spec->name, why);
    fh_docs_destroy(&docs);
    fh_value_destroy(&scoped_owned);
    fh_value_destroy(&root_owned);
    return false;
}

/* Answers a request the worker could not handle at all, so that the gateway never waits
 * for it: an envelope with only an error (the gateway knows which request it was), and
 * DOCS (moved; left empty), the documents as they came or none. */
static void reply_error(worker *w, fh_wire_docs *docs, const char *why)
{
    fprintf(stderr, "flowhost worker %s: %s\n", w->spec->name, why);
    Flowhost__Envelope env = FLOWHOST__ENVELOPE__INIT;
    Flowhost__Status st = FLOWHOST__STATUS__INIT;
    st.code = FLOWHOST__STATUS__CODE__ERROR;
    st.executor = w->spec->name;
    st.description = (char *)why;
    env.status = &st;
    zmq_msg_t env_frame;
    if (fh_pb_pack_msg(&env.base, &env_frame) != 0) {
        fh_wire_docs_close(docs);
        return; /* nothing left to answer with: the executor's timeout is the last resort */
    }
    fh_wire_send_docs(w->sock, NULL, 0, FH_CMD_REPLY, &env_frame, docs, 0);
}

static void handle_request(worker *w, fh_wire_msg *m)
{
    char why[1100];
    fh_wire_docs in, out;
    fh_wire_docs_init(&in);
    fh_wire_docs_init(&out);
    if (fh_wire_docs_take(&in, m, 3) != 0) { /* in is left empty: answered without them */
        snprintf(why, sizeof why, "malformed request: %s", fh_last_error());
        reply_error(w, &in, why);
        return;
    }
    size_t env_len;
    const void *env_buf = fh_wire_data(m, 2, &env_len);
    Flowhost__Envelope *env;
    /* The socket is the beat thread's while the request is decoded, handled and encoded
     * (an envelope of max_message_size takes time to decode too): a long one keeps its
     * worker heard. */
    fh_worker_beat_enter(&w->beat);
    if (env_buf == NULL || fh_envelope_decode_max(env_buf, env_len, (size_t)w->spec->max_message_size,
                                                  &env, NULL) != 0) {
        fh_worker_beat_leave(&w->beat);
        snprintf(why, sizeof why, "malformed request: %s", env_buf ? fh_last_error() : "no envelope");
        reply_error(w, &in, why);
        return;
    }
    int64_t start = fh_now_us();
    fh_handler_fn fn = lookup(w, env->endpoint);
    bool produced = fn != NULL && run_handler(w, fn, env, &in, &out);
    fh_worker_beat_leave(&w->beat);
    /* A frame over max_message_size would make the gateway drop this connection, and
     * the request with it: such a reply is an error, and the documents go on as they
     * came (they were within the limit). */
    size_t limit = w->spec->max_message_size > 0 ? (size_t)w->spec->max_message_size : SIZE_MAX;
    if (produced && fh_wire_docs_size(&out) > limit) {
        snprintf(why, sizeof why,
                 "the reply's documents are %zu bytes, over the flow's max_message_size (%zu)",
                 fh_wire_docs_size(&out), limit);
        fh_wire_docs_close(&out);
        produced = false;
        if (fh_envelope_set_error(env, w->spec->name, why) != 0) {
            flowhost__envelope__free_unpacked(env, NULL);
            reply_error(w, &in, why);
            return;
        }
    }
    zmq_msg_t env_frame;
    int rc = fh_envelope_add_route(env, w->spec->name, start, fh_now_us());
    if (rc == 0) {
        env->routes[env->n_routes - 1]->replica = w->spec->replica;
        env->routes[env->n_routes - 1]->replicas = w->spec->replicas;
    }
    if (rc != 0 || fh_pb_pack_msg(&env->base, &env_frame) != 0) {
        flowhost__envelope__free_unpacked(env, NULL);
        fh_wire_docs_close(&out);
        reply_error(w, &in, "out of memory replying"); /* the documents as they came */
        return;
    }
    flowhost__envelope__free_unpacked(env, NULL);
    if (zmq_msg_size(&env_frame) > limit) {
        snprintf(why, sizeof why,
                 "the reply's envelope is %zu bytes, over the flow's max_message_size (%zu)",
                 zmq_msg_size(&env_frame), limit);
        zmq_msg_close(&env_frame);
        fh_wire_docs_close(&out);
        reply_error(w, &in, why);
        return;
    }
    /* Passed through, or failed: the documents go on exactly as they came. */
    if (fh_wire_send_docs(w->sock, NULL, 0, FH_CMD_REPLY, &env_frame, produced ? &out : &in,
                          0) != 0)
        fprintf(stderr, "flowhost worker %s: %s\n", w->spec->name, fh_last_error());
    fh_wire_docs_close(&out);
    fh_wire_docs_close(&in);
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
        zmq_pollitem_t item = {w->sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&item, 1, FH_WORKER_POLL_MS);
        if (n < 0 && errno != EINTR)
            return;
        if (n <= 0) {
            /* Idle: is the host still there? PR_SET_PDEATHSIG kills this process when
             * it goes; this second guard costs a system call, so not one per request. */
            if (getppid() != w->parent)
                return; /* nobody is left to answer */
            continue;
        }
        fh_wire_msg m;
        if (fh_wire_recv(w->sock, &m, ZMQ_DONTWAIT) != 0)
            continue;
        int cmd = fh_wire_command(&m, 0);
        if (cmd == FH_CMD_REQUEST) {
            /* Said before anything of it runs: if this process dies from now on, the
             * gateway knows this request was begun and the ones after it were not. */
            fh_board_begin(w->board, w->self, ++w->seq);
            handle_request(w, &m);
        }
        else if (cmd == FH_CMD_HEARTBEAT)
            fh_wire_send(w->sock, NULL, 0, FH_CMD_HEARTBEAT, NULL, 0, 0);
        fh_wire_close(&m);
        if (cmd == FH_CMD_DISCONNECT)
            return;
    }
}

int fh_worker_main(const char *spec_path)
{
    worker w = {.log_level = fh_log_level_from_env(), .parent = getppid(), .self = getpid()};
    int status = 1;
    if (read_spec(spec_path, &w.spec) != 0) {
        fprintf(stderr, "flowhost worker: %s\n", fh_last_error());
        return 1;
    }
    char replica[16];
    snprintf(replica, sizeof replica, "%u", w.spec->replica);
    if (setenv("FLOWHOST_REPLICA", replica, 1) != 0 ||
        (w.spec->board[0] != '\0' && fh_board_open(w.spec->board, &w.board) != 0)) {
        fprintf(stderr, "flowhost worker %s: %s\n", w.spec->name,
                errno == ENOMEM ? "out of memory" : fh_last_error());
        flowhost__executor_spec__free_unpacked(w.spec, NULL);
        return 1;
    }
    fh_board_begin(w.board, w.self, 0); /* the board works: nothing begun yet */
    catch_crashes();
    w.zctx = zmq_ctx_new();
    w.sock = w.zctx ? zmq_socket(w.zctx, ZMQ_DEALER) : NULL;
    if (w.sock == NULL || fh_wire_socket_defaults(w.sock, 2000, w.spec->max_message_size) != 0 ||
        zmq_connect(w.sock, w.spec->gateway) != 0) {
        fprintf(stderr, "flowhost worker %s: cannot connect to %s: %s\n", w.spec->name,
                w.spec->gateway, zmq_strerror(errno));
        goto out;
    }
    /* The processes the plugin starts and leaves behind (a daemon that double-forks) come
     * back to this worker while it lives, not to the host: the host ends the orphans of
     * a worker that ended, and must not take a living executor's for them. (They are
     * reaped when this worker ends.) */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        fprintf(stderr, "flowhost worker %s: cannot adopt the plugin's processes: %s\n",
                w.spec->name, strerror(errno));
    if (start_executor(&w) != 0) {
        char why[1100];
        snprintf(why, sizeof why, "%s", fh_last_error());
        send_hello(&w, -1, why);
        goto out;
    }
    if (send_hello(&w, 0, NULL) != 0) {
        fprintf(stderr, "flowhost worker %s: %s\n", w.spec->name, fh_last_error());
        goto out;
    }
    /* Without the thread, a long handler would look dead to the gateway: no start. */
    if (fh_worker_beat_start(&w.beat, w.sock) != 0) {
        fprintf(stderr, "flowhost worker %s: %s\n", w.spec->name, fh_last_error());
        goto out;
    }
    serve(&w);
    fh_worker_beat_stop(&w.beat);
    if (w.loaded.type != NULL && w.loaded.type->fini != NULL)
        w.loaded.type->fini(w.state);
    status = 0;
out:
    if (w.sock)
        zmq_close(w.sock);
    if (w.zctx)
        zmq_ctx_term(w.zctx);
    free(w.routes);
    free(w.loaded.path);
    fh_board_close(&w.board);
    flowhost__executor_spec__free_unpacked(w.spec, NULL);
    return status;
}

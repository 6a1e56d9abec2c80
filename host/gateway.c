/* The gateway: see gateway.h. One thread, one zmq_poll loop over the client socket, the
 * workers' socket and a signalfd. */
#define _GNU_SOURCE
#include "gateway.h"

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

#include "client_table.h"
#include "codec.h"
#include "pb.h"
#include "runtime_dir.h"
#include "supervisor.h"
#include "util.h"
#include "wire.h"

#define MAX_ID FH_CLIENT_ID_MAX     /* longest ZeroMQ routing id */
#define MAX_ENDPOINT 256           /* longest endpoint accepted */
#define START_FAILURES_MAX 3       /* deaths before ready, in a row, before giving up */
#define STOP_GRACE_MS 3000         /* time workers get to exit after DISCONNECT */
#define HEARTBEAT_MS 2000          /* an idle worker is asked how it is this often... */
#define HEARTBEAT_MISSES 3         /* ...and is dead after this many unanswered */
#define BACKOFF_FIRST_MS 100       /* delay before the second restart in a row... */
#define BACKOFF_MAX_MS 5000        /* ...doubling up to this */
#define BATCH 64                   /* messages taken from one socket per loop turn */

/* A request inside the flow. */
typedef struct slot {
    bool used;
    unsigned char client[MAX_ID]; /* the client's routing id */
    size_t client_len;
    Flowhost__Envelope *env;      /* the latest envelope, decoded */
    zmq_msg_t env_frame;          /* the same, as received: forwarded without re-encoding */
    fh_wire_docs docs;            /* the documents and their blob frames: opaque here */
    size_t step;                  /* index of the executor it is at or waits for */
    int64_t start_us;             /* when the gateway took it */
    int next;                     /* free list, executor queue or parked link; -1 ends */
    bool gated;                   /* counted in its client's in-flight requests */
    size_t bytes;                 /* the request's size as taken in (for max_bytes) */
} slot;

/* An executor and its one worker process. */
typedef struct exec_state {
    const fh_flow_executor *cfg;
    char *spec_path;
    pid_t pid;                    /* 0 when no process runs */
    pid_t last_pid;               /* the process before, whose last words may still come */
    unsigned char id[MAX_ID];     /* the worker's routing id, known once READY */
    size_t id_len;
    bool ready;
    int busy;                     /* the slot it holds, or -1 */
    int64_t busy_since_ms;        /* when it got that slot (fh_monotonic_ms) */
    bool killed;                  /* the gateway killed it (timeout): not a crash */
    int crashes;                  /* deaths since its last successful reply */
    int64_t heard_ms;             /* when it last sent anything */
    int64_t pinged_ms;            /* when it was last sent a HEARTBEAT */
    int64_t restart_at_ms;        /* a new worker is due then (backoff); 0: none */
    int queue_head, queue_tail;   /* slots waiting for it; -1 when empty */
    int start_failures;           /* deaths before READY, in a row */
    bool down;                    /* given up: requests for it get an error */
    char down_reason[512];
} exec_state;

struct fh_gateway {
    const fh_flow_config *cfg;
    const char *self_exe;
    fh_runtime_dir *rundir;
    char backend_ep[4200];
    char address[300];
    void *zctx, *front, *back;
    int sigfd;
    sigset_t oldmask;             /* the signal mask before the gateway started */
    bool mask_changed;
    exec_state *execs;
    size_t n_execs;
    slot *slots;
    size_t n_slots;
    int free_head;
    size_t inflight;
    size_t inflight_bytes;        /* documents held in slots, bytes */
    size_t max_bytes;             /* stop reading clients above this */
    size_t reserve;               /* slots a no_wait request may not take */
    fh_client_table clients;      /* clients with requests inside, for prefetch */
    bool draining;
};

static void gw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void gw_log(const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "flowhost: %s\n", line);
}

/* ---- specs and workers -------------------------------------------------------------- */

/* The folders searched for executor types, in order: the flow's plugin_path, then
 * FLOWHOST_PLUGIN_PATH (colon-separated), then the plugin folder of this installation
 * (found from the binary, so that an installed tree can move). Every entry is malloc'd;
 * free them with free_dirs. NULL when out of memory. */
static char **plugin_dirs(const fh_gateway *g, size_t *n)
{
    const char *env = getenv("FLOWHOST_PLUGIN_PATH");
    size_t cap = g->cfg->n_plugin_path + 2;
    for (const char *p = env; p && *p; p++)
        cap += *p == ':';
    char **dirs = calloc(cap, sizeof *dirs);
    char *copy = env ? strdup(env) : NULL;
    if (dirs == NULL || (env && copy == NULL)) {
        free(dirs);
        free(copy);
        return NULL;
    }
    *n = 0;
    bool ok = true;
    for (size_t i = 0; i < g->cfg->n_plugin_path; i++)
        ok &= (dirs[(*n)++] = strdup(g->cfg->plugin_path[i])) != NULL;
    char *save = NULL;
    for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save))
        ok &= (dirs[(*n)++] = strdup(tok)) != NULL;
    free(copy);
    char exe_dir[4096];
    snprintf(exe_dir, sizeof exe_dir, "%s", g->self_exe);
    char *slash = strrchr(exe_dir, '/');
    if (slash != NULL)
        *slash = '\0';
    ok &= asprintf(&dirs[(*n)++], "%s/../%s", exe_dir, FH_PLUGIN_INSTALL_REL) >= 0;
    if (!ok) {
        for (size_t i = 0; i < cap; i++)
            free(dirs[i]);
        free(dirs);
        return NULL;
    }
    return dirs;
}

static int write_spec(fh_gateway *g, size_t i)
{
    const fh_flow_executor *x = g->execs[i].cfg;
    Flowhost__ExecutorSpec spec = FLOWHOST__EXECUTOR_SPEC__INIT;
    char workspace[4200], path[4200];
    if (x->workspace)
        snprintf(workspace, sizeof workspace, "%s", x->workspace);
    else if (g->cfg->workspace)
        snprintf(workspace, sizeof workspace, "%s/%s/0", g->cfg->workspace, x->name);
    else
        snprintf(workspace, sizeof workspace, "%s/workspace/%s/0",
                 fh_runtime_dir_path(g->rundir), x->name);
    snprintf(path, sizeof path, "%s/exec-%zu.spec", fh_runtime_dir_path(g->rundir), i);
    spec.name = x->name;
    spec.plugin = x->plugin ? x->plugin : (char *)"";
    spec.type = x->type ? x->type : (char *)"";
    spec.uses_with = (Flowhost__Value *)x->uses_with;
    spec.description = x->description ? x->description : (char *)"";
    spec.workspace = workspace;
    spec.gateway = g->backend_ep;
    spec.index = (uint32_t)i;
    spec.has_requests = x->has_requests;
    spec.max_message_size = g->cfg->max_message_size;
    Flowhost__RequestBinding *rb = calloc(x->n_requests + 1, sizeof *rb);
    Flowhost__RequestBinding **rbp = calloc(x->n_requests + 1, sizeof *rbp);
    size_t n_dirs = 0;
    char **dirs = plugin_dirs(g, &n_dirs);
    int rc = FH_E_NOMEM;
    if (rb == NULL || rbp == NULL || dirs == NULL)
        goto out;
    for (size_t k = 0; k < x->n_requests; k++) {
        flowhost__request_binding__init(&rb[k]);
        rb[k].endpoint = x->requests[k].endpoint;
        rb[k].handler = x->requests[k].handler;
        rbp[k] = &rb[k];
    }
    spec.requests = rbp;
    spec.n_requests = x->n_requests;
    spec.plugin_path = dirs;
    spec.n_plugin_path = n_dirs;
    size_t len = flowhost__executor_spec__get_packed_size(&spec);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        goto out;
    flowhost__executor_spec__pack(&spec, buf);
    FILE *f = fopen(path, "wbx");
    rc = f && fwrite(buf, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(buf);
    if (rc != 0) {
        rc = fh_set_error(FH_E_IO, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    g->execs[i].spec_path = strdup(path);
    rc = g->execs[i].spec_path ? 0 : FH_E_NOMEM;
out:
    for (size_t k = 0; dirs != NULL && k < n_dirs; k++)
        free(dirs[k]);
    free(dirs);
    free(rb);
    free(rbp);
    if (rc == FH_E_NOMEM)
        fh_set_error(FH_E_NOMEM, "out of memory writing the executor spec");
    return rc;
}

static int spawn(fh_gateway *g, exec_state *e)
{
    e->ready = false;
    e->id_len = 0;
    return fh_supervisor_spawn(g->self_exe, e->spec_path, e->cfg->env, &e->pid);
}

static exec_state *exec_by_pid(fh_gateway *g, pid_t pid)
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

/* ---- slots -------------------------------------------------------------------------- */

static int slot_alloc(fh_gateway *g)
{
    int i = g->free_head;
    if (i < 0)
        return -1;
    g->free_head = g->slots[i].next;
    slot *s = &g->slots[i];
    s->used = true;
    s->next = -1;
    s->step = 0;
    s->gated = false;
    s->env = NULL;
    zmq_msg_init(&s->env_frame);
    fh_wire_docs_init(&s->docs);
    g->inflight++;
    return i;
}

static void slot_free(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    g->inflight_bytes -= s->bytes;
    s->bytes = 0;
    if (s->env)
        flowhost__envelope__free_unpacked(s->env, NULL);
    s->env = NULL;
    zmq_msg_close(&s->env_frame);
    fh_wire_docs_close(&s->docs);
    s->used = false;
    s->next = g->free_head;
    g->free_head = i;
    g->inflight--;
}

static void enqueue(fh_gateway *g, exec_state *e, int i)
{
    g->slots[i].next = -1;
    if (e->queue_tail < 0)
        e->queue_head = i;
    else
        g->slots[e->queue_tail].next = i;
    e->queue_tail = i;
}

static int dequeue(fh_gateway *g, exec_state *e)
{
    int i = e->queue_head;
    if (i >= 0) {
        e->queue_head = g->slots[i].next;
        if (e->queue_head < 0)
            e->queue_tail = -1;
    }
    return i;
}

/* ---- routing ------------------------------------------------------------------------ */

static void advance(fh_gateway *g, int i);
static void release_gate(fh_gateway *g, int i);

/* Answers the client of slot I with the slot's envelope (plus the gateway's route, first
 * as in Jina) and documents, and frees the slot. */
static void finish(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    Flowhost__Envelope *env = s->env;
    zmq_msg_t env_frame;
    env->prefetch = g->cfg->prefetch > 0 ? (uint32_t)g->cfg->prefetch : 0;
    int rc = fh_envelope_add_route(env, "gateway", s->start_us, fh_now_us());
    if (rc == 0) {
        Flowhost__Route *gw = env->routes[env->n_routes - 1];
        memmove(env->routes + 1, env->routes, (env->n_routes - 1) * sizeof *env->routes);
        env->routes[0] = gw;
        rc = fh_pb_pack_msg(&env->base, &env_frame);
    }
    if (rc != 0) {
        gw_log("dropped the reply to request %s: %s", env->request_id, fh_last_error());
        release_gate(g, i);
        slot_free(g, i);
        return;
    }
    if (fh_wire_send_docs(g->front, s->client, s->client_len, FH_CMD_REPLY, &env_frame, &s->docs,
                          ZMQ_DONTWAIT) != 0)
        gw_log("dropped the reply to request %s: the client is gone or not reading",
               env->request_id);
    release_gate(g, i);
    slot_free(g, i);
}

/* Marks slot I failed by executor X (NAME) with WHY, then follows X's on_error. */
static void fail(fh_gateway *g, int i, const fh_flow_executor *x, const char *why)
{
    slot *s = &g->slots[i];
    if (fh_envelope_set_error(s->env, x ? x->name : "gateway", why) != 0) {
        finish(g, i);
        return;
    }
    /* The envelope changed: the frame sent on must be re-encoded from it. */
    zmq_msg_close(&s->env_frame);
    if (fh_pb_pack_msg(&s->env->base, &s->env_frame) != 0)
        zmq_msg_init(&s->env_frame);
    if (x != NULL && x->on_error == FH_ON_ERROR_IGNORE && zmq_msg_size(&s->env_frame) > 0) {
        s->step++;
        advance(g, i);
    } else {
        finish(g, i);
    }
}

static void send_to(fh_gateway *g, exec_state *e, int i)
{
    slot *s = &g->slots[i];
    zmq_msg_t env_frame;
    fh_wire_docs docs;
    /* Copies share the buffers (reference counts): the slot keeps the request so that a
     * worker's crash can still be answered. */
    zmq_msg_init(&env_frame);
    zmq_msg_copy(&env_frame, &s->env_frame);
    e->busy = i;
    e->busy_since_ms = fh_monotonic_ms();
    if (fh_wire_docs_share(&docs, &s->docs) != 0) {
        zmq_msg_close(&env_frame);
        e->busy = -1;
        fail(g, i, e->cfg, "out of memory sending the request on");
        return;
    }
    if (fh_wire_send_docs(g->back, e->id, e->id_len, FH_CMD_REQUEST, &env_frame, &docs,
                          ZMQ_DONTWAIT) != 0) {
        e->busy = -1;
        char why[700];
        snprintf(why, sizeof why, "cannot reach executor '%s': %s", e->cfg->name, fh_last_error());
        fail(g, i, e->cfg, why);
    }
}

/* Sends slot I to the executor at its step, queues it there, or answers it. */
static void advance(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    if (s->step >= g->n_execs) {
        finish(g, i);
        return;
    }
    exec_state *e = &g->execs[s->step];
    if (e->down) {
        fail(g, i, e->cfg, e->down_reason);
        return;
    }
    if (e->ready && e->busy < 0)
        send_to(g, e, i);
    else
        enqueue(g, e, i);
}

/* E is free: give it the next request waiting for it. */
static void feed(fh_gateway *g, exec_state *e)
{
    while (e->ready && e->busy < 0) {
        int i = dequeue(g, e);
        if (i < 0)
            return;
        send_to(g, e, i);
    }
}

/* ---- the prefetch gate: at most cfg->prefetch requests of one client inside ---------- */

/* Lets slot I in, or parks it behind its client's requests already inside. */
static void enter_gate(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    fh_client_entry *c = fh_client_table_get(&g->clients, s->client, s->client_len);
    if (c == NULL) { /* cannot happen: the table holds as many clients as there are slots */
        advance(g, i);
        return;
    }
    s->gated = true;
    if (g->cfg->prefetch > 0 && c->inflight >= (uint32_t)g->cfg->prefetch) {
        s->next = -1;
        if (c->parked_tail < 0)
            c->parked_head = i;
        else
            g->slots[c->parked_tail].next = i;
        c->parked_tail = i;
        return;
    }
    c->inflight++;
    advance(g, i);
}

/* Slot I is done: its client may let its next parked request in. */
static void release_gate(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    if (!s->gated)
        return;
    s->gated = false;
    fh_client_entry *c = fh_client_table_find(&g->clients, s->client, s->client_len);
    if (c == NULL)
        return;
    c->inflight--;
    int next = c->parked_head;
    if (next >= 0) {
        c->parked_head = g->slots[next].next;
        if (c->parked_head < 0)
            c->parked_tail = -1;
        c->inflight++;
        advance(g, next); /* may finish at once and come back here: c is not used after */
    } else if (c->inflight == 0) {
        fh_client_table_remove(&g->clients, c);
    }
}

/* ---- client messages ---------------------------------------------------------------- */

static bool valid_endpoint(const char *ep)
{
    size_t n = strlen(ep);
    if (n == 0 || n > MAX_ENDPOINT || ep[0] != '/')
        return false;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)ep[k] < 0x21 || (unsigned char)ep[k] > 0x7e)
            return false;
    return true;
}

/* A slot for the request in M (its client, ENV taken over, the time it came), or -1 when
 * there is none (ENV is then freed). */
static int take_slot(fh_gateway *g, fh_wire_msg *m, Flowhost__Envelope *env)
{
    int i = slot_alloc(g);
    if (i < 0) { /* cannot happen: the socket is not read while the flow is full */
        flowhost__envelope__free_unpacked(env, NULL);
        return -1;
    }
    slot *s = &g->slots[i];
    size_t idlen;
    const void *id = fh_wire_data(m, 0, &idlen);
    memcpy(s->client, id, idlen);
    s->client_len = idlen;
    s->env = env;
    s->start_us = fh_now_us();
    return i;
}

#define LIMIT_WHY_MAX 200 /* room for within_limit's reason */

/* Whether DOCS, all frames together, are within the flow's max_message_size (each frame
 * is checked by ZeroMQ; blob frames add up). If not, WHY (LIMIT_WHY_MAX bytes) says so,
 * naming WHAT; else WHY is "". */
static bool within_limit(const fh_gateway *g, const fh_wire_docs *docs, const char *what,
                         char *why)
{
    size_t size = fh_wire_docs_size(docs);
    why[0] = '\0';
    if (size <= (size_t)g->cfg->max_message_size)
        return true;
    snprintf(why, LIMIT_WHY_MAX, "the %s's documents are %zu bytes, over the flow's max_message_size (%d)",
             what, size, g->cfg->max_message_size);
    return false;
}

/* Answers a request the gateway refuses, without taking a slot for long. */
static void refuse(fh_gateway *g, fh_wire_msg *m, Flowhost__Envelope *env, const char *why)
{
    int i = take_slot(g, m, env);
    if (i < 0)
        return;
    if (fh_envelope_set_error(env, "gateway", why) != 0) {
        slot_free(g, i);
        return;
    }
    finish(g, i);
}

static void on_client_message(fh_gateway *g, fh_wire_msg *m)
{
    size_t idlen, envlen;
    fh_wire_data(m, 0, &idlen);
    int cmd = fh_wire_command(m, 1);
    if (cmd < 0 || idlen == 0 || idlen > MAX_ID) {
        gw_log("dropped a client message: %s", cmd < 0 ? fh_last_error() : "bad routing id");
        return;
    }
    if (cmd != FH_CMD_REQUEST) {
        if (cmd != FH_CMD_HEARTBEAT)
            gw_log("dropped a client message: unexpected command %d", cmd);
        return;
    }
    const void *envbuf = fh_wire_data(m, 3, &envlen);
    Flowhost__Envelope *env;
    if (envbuf == NULL || fh_envelope_decode(envbuf, envlen, &env) != 0) {
        gw_log("dropped a client message: %s", envbuf ? fh_last_error() : "no envelope");
        return;
    }
    if (g->draining) {
        refuse(g, m, env, "the flow is shutting down: request refused");
        return;
    }
    if (env->no_wait && g->inflight + g->reserve >= g->n_slots) {
        char why[160];
        snprintf(why, sizeof why, "busy: the flow is full (%zu requests in flight); try again later",
                 g->inflight);
        refuse(g, m, env, why);
        return;
    }
    if (!valid_endpoint(env->endpoint)) {
        refuse(g, m, env, "invalid endpoint: it must start with '/' and hold printable "
                          "characters only");
        return;
    }
    int i = take_slot(g, m, env);
    if (i < 0)
        return;
    slot *s = &g->slots[i];
    if (env->status != NULL) { /* a client cannot send a request already failed */
        flowhost__status__free_unpacked(env->status, NULL);
        env->status = NULL;
    }
    zmq_msg_move(&s->env_frame, &m->frames[3]);
    char why[LIMIT_WHY_MAX] = "";
    if (fh_wire_docs_take(&s->docs, m, 4) != 0 || !within_limit(g, &s->docs, "request", why)) {
        if (why[0] == '\0')
            snprintf(why, sizeof why, "%s", fh_last_error());
        fh_wire_docs_close(&s->docs); /* not sent back */
        fail(g, i, NULL, why);
        return;
    }
    s->bytes = zmq_msg_size(&s->env_frame) + fh_wire_docs_size(&s->docs);
    g->inflight_bytes += s->bytes;
    enter_gate(g, i);
}

/* ---- worker messages ---------------------------------------------------------------- */

static void mark_down(fh_gateway *g, exec_state *e, const char *why)
{
    e->down = true;
    snprintf(e->down_reason, sizeof e->down_reason, "executor '%s' is down: %s", e->cfg->name, why);
    gw_log("%s", e->down_reason);
    int i;
    while ((i = dequeue(g, e)) >= 0)
        fail(g, i, e->cfg, e->down_reason);
}

/* A READY from a worker. Returns 0, or negative when the executor could not start
 * (fh_last_error says why). *WHICH (may be NULL) gets the executor it came from, or NULL
 * when the message was malformed. */
static int on_hello(fh_gateway *g, fh_wire_msg *m, exec_state **which)
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
     * it on its way back through advance(). */
    feed(g, e);
    slot *s = &g->slots[i];
    size_t len;
    const void *buf = fh_wire_data(m, 3, &len);
    Flowhost__Envelope *env;
    if (buf == NULL || fh_envelope_decode(buf, len, &env) != 0) {
        fail(g, i, e->cfg, "the executor's reply could not be decoded");
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
    if (fh_wire_docs_take(&reply, m, 4) != 0 || !within_limit(g, &reply, "reply", why)) {
        if (why[0] == '\0')
            snprintf(why, sizeof why, "the executor's reply: %s", fh_last_error());
        fh_wire_docs_close(&reply); /* the documents go on as they came to the executor */
        fail(g, i, e->cfg, why);    /* re-encodes the envelope frame */
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
        finish(g, i);
    } else {
        s->step++;
        advance(g, i);
    }
}

static void on_worker_message(fh_gateway *g, fh_wire_msg *m)
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
        if (on_hello(g, m, &e) != 0)
            mark_down(g, e, fh_last_error());
        else if (e != NULL)
            feed(g, e);
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
        fail(g, i, e->cfg, why);
    } else if (!g->draining && !killed) {
        gw_log("executor '%s' exited: %s", e->cfg->name, how);
    }
    /* Also while draining: requests accepted may still need this executor. */
    if (e->down)
        return;
    if (!was_ready && ++e->start_failures >= START_FAILURES_MAX) {
        snprintf(why, sizeof why, "it ended %d times in a row before it was ready (last: %s)",
                 e->start_failures, how);
        mark_down(g, e, why);
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
    if (spawn(g, e) != 0)
        mark_down(g, e, fh_last_error());
}

/* Answers the requests whose executor ran past its `timeout`, and replaces the worker:
 * a handler cannot be interrupted, only its process. Starts the workers whose restart
 * is due. Returns the milliseconds until the next deadline, or -1 when there is none. */
static int check_timers(fh_gateway *g)
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
                if (spawn(g, e) != 0)
                    mark_down(g, e, fh_last_error());
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
        fail(g, i, e->cfg, why);
    }
    return next;
}

static void reap(fh_gateway *g)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        exec_state *e = exec_by_pid(g, pid);
        if (e != NULL)
            on_worker_exit(g, e, status);
    }
}

/* Reads pending signals: returns a bit set, 1 = SIGINT/SIGTERM, 2 = SIGCHLD. */
static int read_signals(fh_gateway *g)
{
    int got = 0;
    struct signalfd_siginfo si;
    while (read(g->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        got |= si.ssi_signo == SIGCHLD ? 2 : 1;
    return got;
}

/* ---- set-up ------------------------------------------------------------------------- */

static int bind_sockets(fh_gateway *g)
{
    int zero = 0, one = 1;
    int hwm = (int)g->n_slots * 2;
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
        zmq_setsockopt(g->back, ZMQ_SNDHWM, &zero, sizeof zero) != 0)
        return fh_set_error(FH_E_ZMQ, "socket options: %s", zmq_strerror(errno));
    snprintf(g->backend_ep, sizeof g->backend_ep, "ipc://%s/workers.sock",
             fh_runtime_dir_path(g->rundir));
    if (zmq_bind(g->back, g->backend_ep) != 0)
        return fh_set_error(FH_E_ZMQ, "cannot bind %s: %s", g->backend_ep, zmq_strerror(errno));
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
    return 0;
}

/* Takes the READYs on the workers' socket, waiting up to WAIT_MS for each: 0, or the
 * first executor that could not start (fh_last_error says why). */
static int read_hellos(fh_gateway *g, int wait_ms)
{
    zmq_pollitem_t item = {g->back, 0, ZMQ_POLLIN, 0};
    fh_wire_msg m;
    while (zmq_poll(&item, 1, wait_ms) > 0 && fh_wire_recv(g->back, &m, ZMQ_DONTWAIT) == 0) {
        int rc = fh_wire_command(&m, 1) == FH_CMD_READY ? on_hello(g, &m, NULL) : 0;
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
        size_t ready = 0;
        for (size_t i = 0; i < g->n_execs; i++)
            ready += g->execs[i].ready;
        if (ready == g->n_execs)
            return 0;
        long wait = deadline < 0 ? 1000 : (long)(deadline - fh_monotonic_ms());
        if (wait <= 0) {
            char names[600] = "";
            size_t used = 0;
            for (size_t i = 0; i < g->n_execs && used < sizeof names; i++)
                if (!g->execs[i].ready)
                    used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'",
                                             used ? ", " : "", g->execs[i].cfg->name);
            return fh_set_error(FH_E_TIMEOUT, "executor %s not ready after %d ms (timeout_ready)",
                                names, g->cfg->timeout_ready_ms);
        }
        zmq_pollitem_t items[2] = {{g->back, 0, ZMQ_POLLIN, 0}, {NULL, g->sigfd, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, wait) < 0 && errno != EINTR)
            return fh_set_error(FH_E_ZMQ, "poll: %s", zmq_strerror(errno));
        int rc = (items[0].revents & ZMQ_POLLIN) ? read_hellos(g, 0) : 0;
        if (rc != 0)
            return rc;
        if (items[1].revents & ZMQ_POLLIN) {
            int sig = read_signals(g);
            if (sig & 1)
                return fh_set_error(FH_E_STATE, "interrupted while starting");
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                exec_state *e = exec_by_pid(g, pid);
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
                return fh_set_error(FH_E_PLUGIN, "executor '%s' exited %s (%s)", e->cfg->name,
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
    g->n_execs = opts->cfg->n_executors;
    g->n_slots = opts->max_inflight ? opts->max_inflight : (size_t)opts->cfg->max_inflight;
    /* The last slots are kept for requests that wait: a no_wait request that finds no
     * more room than this is answered "busy". */
    g->reserve = g->n_slots / 16 > 0 ? g->n_slots / 16 : 1;
    /* Room for a few of the largest requests at once, and no more. */
    g->max_bytes = (size_t)FH_GATEWAY_BUDGET_MESSAGES * (size_t)opts->cfg->max_message_size;
    g->execs = calloc(g->n_execs ? g->n_execs : 1, sizeof *g->execs);
    g->slots = calloc(g->n_slots, sizeof *g->slots);
    int rc;
    if (g->execs == NULL || g->slots == NULL) {
        rc = fh_set_error(FH_E_NOMEM, "out of memory");
        goto failed;
    }
    if ((rc = fh_client_table_init(&g->clients, g->n_slots)) != 0)
        goto failed;
    for (size_t i = 0; i < g->n_slots; i++)
        g->slots[i].next = i + 1 < g->n_slots ? (int)i + 1 : -1;
    g->free_head = 0;
    for (size_t i = 0; i < g->n_execs; i++) {
        g->execs[i].cfg = &g->cfg->executors[i];
        g->execs[i].busy = -1;
        g->execs[i].queue_head = g->execs[i].queue_tail = -1;
    }
    /* Block the signals before ZeroMQ starts its threads, so only the signalfd sees them. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, &g->oldmask);
    g->mask_changed = true;
    g->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (g->sigfd < 0) {
        rc = fh_set_error(FH_E_IO, "signalfd: %s", strerror(errno));
        goto failed;
    }
    if ((rc = fh_runtime_dir_create(&g->rundir)) != 0)
        goto failed;
    g->zctx = zmq_ctx_new();
    if (g->zctx == NULL) {
        rc = fh_set_error(FH_E_ZMQ, "cannot start ZeroMQ: %s", zmq_strerror(errno));
        goto failed;
    }
    if ((rc = bind_sockets(g)) != 0)
        goto failed;
    for (size_t i = 0; i < g->n_execs; i++)
        if ((rc = write_spec(g, i)) != 0 || (rc = spawn(g, &g->execs[i])) != 0)
            goto failed;
    if ((rc = wait_ready(g)) != 0)
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
    while (!(g->draining && g->inflight == 0)) {
        zmq_pollitem_t items[3] = {{NULL, g->sigfd, ZMQ_POLLIN, 0},
                                   {g->back, 0, ZMQ_POLLIN, 0},
                                   {g->front, 0, ZMQ_POLLIN, 0}};
        /* A full flow stops reading clients: they wait in ZeroMQ's bounded queues. */
        bool room = g->inflight < g->n_slots && g->inflight_bytes < g->max_bytes;
        int n = room ? 3 : 2;
        int wait = check_timers(g);
        if (zmq_poll(items, n, wait < 0 || wait > 1000 ? 1000 : wait) < 0) {
            if (errno == EINTR)
                continue;
            return fh_set_error(FH_E_ZMQ, "poll: %s", zmq_strerror(errno));
        }
        if (items[0].revents & ZMQ_POLLIN) {
            int sig = read_signals(g);
            if (sig & 2)
                reap(g);
            if (sig & 1) {
                if (g->draining) {
                    gw_log("second signal: stopping now, %zu request%s unanswered", g->inflight,
                           g->inflight == 1 ? "" : "s");
                    return 0;
                }
                g->draining = true;
                if (g->inflight > 0)
                    gw_log("shutting down: answering %zu requests in flight", g->inflight);
            }
        }
        fh_wire_msg m;
        for (int k = 0; k < BATCH && (items[1].revents & ZMQ_POLLIN) &&
                        fh_wire_recv(g->back, &m, ZMQ_DONTWAIT) == 0; k++) {
            on_worker_message(g, &m);
            fh_wire_close(&m);
        }
        for (int k = 0; k < BATCH && n == 3 && (items[2].revents & ZMQ_POLLIN) &&
                        g->inflight < g->n_slots && g->inflight_bytes < g->max_bytes &&
                        fh_wire_recv(g->front, &m, ZMQ_DONTWAIT) == 0; k++) {
            on_client_message(g, &m);
            fh_wire_close(&m);
        }
    }
    return 0;
}

/* Asks every worker to stop, waits up to STOP_GRACE_MS, then kills what is left. */
static void stop_workers(fh_gateway *g)
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
            exec_state *e = exec_by_pid(g, pid);
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
            read_signals(g);
    }
    if (pids != NULL) {
        for (size_t i = 0; i < g->n_execs; i++)
            pids[i] = g->execs[i].pid;
        fh_supervisor_kill_all(pids, g->n_execs);
    }
    free(pids);
}

void fh_gateway_destroy(fh_gateway **gp)
{
    fh_gateway *g = gp ? *gp : NULL;
    if (g == NULL)
        return;
    if (g->back != NULL)
        stop_workers(g);
    else
        for (size_t i = 0; i < g->n_execs; i++)
            if (g->execs[i].pid > 0)
                fh_supervisor_kill_all(&g->execs[i].pid, 1);
    for (size_t i = 0; g->slots && i < g->n_slots; i++)
        if (g->slots[i].used)
            slot_free(g, (int)i);
    if (g->front)
        zmq_close(g->front);
    if (g->back)
        zmq_close(g->back);
    if (g->zctx)
        zmq_ctx_term(g->zctx);
    fh_runtime_dir_remove(&g->rundir);
    for (size_t i = 0; g->execs && i < g->n_execs; i++)
        free(g->execs[i].spec_path);
    free(g->execs);
    free(g->slots);
    fh_client_table_free(&g->clients);
    if (g->sigfd >= 0)
        close(g->sigfd);
    if (g->mask_changed)
        sigprocmask(SIG_SETMASK, &g->oldmask, NULL);
    free(g);
    *gp = NULL;
}

/* A request at the worker, from the socket to its reply; dynamic batching.
 *
 * Dynamic batching (uses_dynamic_batching): the requests for a batched endpoint that wait
 * at this worker (the gateway keeps up to the executor's credit of them here) are merged
 * into one handler call: the first one opens a batch, the requests behind it join while
 * they are for the same endpoint with the same parameters (as the executor sees them),
 * until the batch holds preferred_batch_size documents, or the first has waited `timeout`
 * ms. The handler gets all their documents in one array and must give back as many, in
 * the same order: each request gets its own back. Requests still run in the order they
 * came: one that cannot join ends the batch and runs after it. */
#define _GNU_SOURCE
#include "worker_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "codec.h"
#include "context.h"
#include "pb.h"
#include "util.h"

/* The most requests one batch merges, whatever preferred_batch_size says. */
#define FH_BATCH_MAX_REQUESTS 4096
/* A remote worker gathering a batch looks this often whether its gateway went (ms). */
#define STALE_CHECK_MS 200

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

static void job_free(fh_job *j)
{
    free(j->error);
    j->error = NULL;
    if (j->env)
        flowhost__envelope__free_unpacked(j->env, NULL);
    j->env = NULL;
    if (j->has_raw)
        zmq_msg_close(&j->raw);
    j->has_raw = false;
    fh_wire_docs_close(&j->in);
    fh_docs_destroy(&j->docs);
    fh_worker_when_aside_free(&j->aside);
    fh_value_destroy(&j->scoped_owned);
    fh_value_destroy(&j->root_owned);
    j->params = NULL;
}

/* Answers J, a request the worker could not handle at all, with its error and nothing
 * else but its documents as they came (or none) and its request id when it could be read:
 * an envelope the gateway can match to the request it sent. Frees J. */
static void reply_error(worker *w, fh_job *j)
{
    if (!j->stale) /* those are counted in one line by the listener */
        fprintf(stderr, "flowhost worker %s: %s\n", w->spec->name, j->error);
    Flowhost__Envelope env = FLOWHOST__ENVELOPE__INIT;
    Flowhost__Status st = FLOWHOST__STATUS__INIT;
    st.code = FLOWHOST__STATUS__CODE__ERROR;
    st.executor = w->spec->name;
    st.description = j->error;
    env.status = &st;
    if (j->env == NULL && j->has_raw &&
        fh_envelope_decode_ids(zmq_msg_data(&j->raw), zmq_msg_size(&j->raw), &j->env) != 0)
        j->env = NULL;
    if (j->env != NULL) {
        env.request_id = j->env->request_id;
        env.endpoint = j->env->endpoint;
    }
    zmq_msg_t env_frame;
    if (fh_pb_pack_msg(&env.base, &env_frame) == 0)
        fh_wire_send_docs(w->sock, NULL, 0, FH_CMD_REPLY, &env_frame, &j->in, 0);
    /* else nothing is left to answer with: the gateway loses this worker at its deadline
     * (`timeout`, heartbeats), and the requests behind it go to the next one */
    job_free(j);
}

/* Marks J as one that cannot be handled, for WHY (printf-style). */
static void job_error(fh_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_error(fh_job *j, const char *fmt, ...)
{
    free(j->error);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&j->error, fmt, ap) < 0)
        j->error = NULL;
    va_end(ap);
    if (j->error == NULL)
        j->error = strdup("out of memory");
}

/* Whether J came from a remote worker's gateway that went away (worker_listen.c). */
static bool stale(const worker *w, const fh_job *j)
{
    return w->remote && j->seq <= atomic_load(&w->stale_through);
}

/* Answers J, a request of a gateway that went, without running it (the listener drops
 * the answer: that gateway answered it already). Frees J. */
static void drop_stale(worker *w, fh_job *j)
{
    job_error(j, "not run: the gateway that sent it went away");
    j->stale = true;
    reply_error(w, j);
}

/* Reads J's envelope BUF (LEN bytes) within the flow's max_message_size and finds its
 * handler. A request that no handler takes goes on unchanged: only the top level of its
 * envelope is read, for its endpoint, and nothing is allocated for it (the bytes go back
 * as they came, with a route appended), so its size needs no bound here beyond the
 * frame's own: the gateway measures every reply it receives against max_message_size
 * before it reads it. Returns 0, or an error code with the error set. */
static int decode_envelope(worker *w, fh_job *j, const void *buf, size_t len)
{
    size_t max = (size_t)w->spec->max_message_size;
    fh_envelope_peek_t pk;
    if (fh_envelope_peek(buf, len, &pk) == 0 &&
        fh_worker_lookup(w, pk.endpoint ? (const char *)pk.endpoint : "", pk.endpoint_len) ==
            NULL) {
        j->pass = true;
        return 0;
    }
    int rc = fh_envelope_decode_max(buf, len, max, &j->env, NULL);
    if (rc == 0)
        j->fn = fh_worker_lookup(w, j->env->endpoint, strlen(j->env->endpoint));
    return rc;
}

/* Decodes the envelope of J, a request passed on unchanged, when the worker must write
 * into it after all. Returns 0 or an error code. */
static int need_env(worker *w, fh_job *j)
{
    if (j->env != NULL)
        return 0;
    if (!j->has_raw)
        return FH_E_PROTOCOL;
    return fh_envelope_decode_max(zmq_msg_data(&j->raw), zmq_msg_size(&j->raw),
                                  (size_t)w->spec->max_message_size, &j->env, NULL);
}

/* Takes the REQUEST M into J: its number, envelope, documents (not decoded) and
 * parameters. FIRST: the number of the first request of the batch it may join, 0: none.
 * A request that cannot be read is taken too, with J->error set: it is answered in its
 * turn, never before a request taken earlier (replies go back in order). */
static void take(worker *w, fh_wire_msg *m, fh_job *j, uint64_t first)
{
    memset(j, 0, sizeof *j);
    j->seq = ++w->seq;
    j->arrived_ms = fh_monotonic_ms();
    /* Said before anything of it runs: if this process dies from now on, the gateway
     * knows this request (and the batch it may join) was begun and the ones after it
     * were not. */
    fh_board_begin(w->board, w->self, first ? first : j->seq, j->seq);
    fh_wire_docs_init(&j->in);
    size_t env_len = 0;
    const void *env_buf = NULL;
    /* The envelope's frame is kept: a reply that changes nothing in it but its routes is
     * these bytes with the route appended (fh_envelope_append_route), never decoded and
     * encoded again. (Moved first: a small frame's bytes live inside its zmq_msg_t.) */
    if (m->n > 2 && zmq_msg_init(&j->raw) == 0 && zmq_msg_move(&j->raw, &m->frames[2]) == 0) {
        j->has_raw = true;
        env_buf = zmq_msg_data(&j->raw);
        env_len = zmq_msg_size(&j->raw);
    }
    if (fh_wire_docs_take(&j->in, m, 3) != 0) { /* in is left empty: answered without them */
        job_error(j, "malformed request: %s", fh_last_error());
    } else if (j->seq <= atomic_load(&w->stale_through)) {
        /* A remote worker's gateway went away after it sent this (worker_listen.c): the
         * gateway has answered it already; the answer to this is dropped on the way. */
        job_error(j, "not run: the gateway that sent it went away");
        j->stale = true;
    } else {
        /* The socket is the beat thread's while the request is decoded (an envelope of
         * max_message_size takes time): a long one keeps its worker heard. */
        fh_worker_beat_enter(&w->beat);
        int rc = env_buf == NULL ? FH_E_PROTOCOL : decode_envelope(w, j, env_buf, env_len);
        fh_worker_beat_leave(&w->beat);
        if (rc != 0) {
            j->env = NULL;
            job_error(j, "malformed request: %s", env_buf ? fh_last_error() : "no envelope");
        }
    }
    if (j->error != NULL) {
        /* Its id, if it can be read, so that the gateway can match the answer. */
        if (env_buf != NULL && fh_envelope_decode_ids(env_buf, env_len, &j->env) != 0)
            j->env = NULL;
        return;
    }
    if (j->pass)
        return; /* its parameters are nobody's business here */
    const fh_value *root = (const fh_value *)j->env->parameters;
    if (fh_value_type(root) != FH_TYPE_MAP)
        root = j->root_owned = fh_value_new_map();
    j->params = root ? scoped_params(root, w->spec->name, &j->scoped_owned) : NULL;
}

/* Decodes J's documents (once). Returns 0 or an error code, with the error set. */
static int decode_docs(worker *w, fh_job *j)
{
    if (j->docs != NULL)
        return 0;
    if (j->params == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory preparing parameters");
    return fh_docs_decode_wire_max(&j->in,
                                   FH_DECODE_DOCS_FACTOR * (size_t)w->spec->max_message_size,
                                   &j->docs);
}

/* Sends J's reply: its envelope with this executor's route (START_US to now), and its
 * documents: OUT when the handler produced them (PRODUCED), else as they came. Frees J
 * and OUT. */
static void reply(worker *w, fh_job *j, fh_wire_docs *out, bool produced, int64_t start_us,
                  uint32_t batch)
{
    char why[1100];
    /* A frame over max_message_size would make the gateway drop this connection, and
     * the request with it: such a reply is an error, and the documents go on as they
     * came (they were within the limit). */
    size_t limit = w->spec->max_message_size > 0 ? (size_t)w->spec->max_message_size : SIZE_MAX;
    if (produced && fh_wire_docs_size(out) > limit) {
        snprintf(why, sizeof why,
                 "the reply's documents are %zu bytes, over the flow's max_message_size (%zu)",
                 fh_wire_docs_size(out), limit);
        fh_wire_docs_close(out);
        produced = false;
        j->changed = true;
        if (need_env(w, j) != 0 || fh_envelope_set_error(j->env, w->spec->name, why) != 0) {
            job_error(j, "%s", why);
            reply_error(w, j);
            return;
        }
    }
    zmq_msg_t env_frame;
    int64_t end_us = fh_now_us();
    int rc;
    if (j->has_raw && !j->changed) {
        /* The envelope as it came, its route appended: nothing decoded or encoded. */
        Flowhost__Route r = FLOWHOST__ROUTE__INIT;
        r.executor = w->spec->name;
        r.start_time_us = start_us;
        r.end_time_us = end_us;
        r.replica = w->spec->replica;
        r.replicas = w->spec->replicas;
        r.shard = w->spec->shard;
        r.shards = w->spec->shards;
        r.batch = batch;
        rc = fh_envelope_append_route(zmq_msg_data(&j->raw), zmq_msg_size(&j->raw), &r,
                                      &env_frame);
    } else if ((rc = need_env(w, j)) == 0 &&
               (rc = fh_envelope_add_route(j->env, w->spec->name, start_us, end_us)) == 0) {
        Flowhost__Route *route = j->env->routes[j->env->n_routes - 1];
        route->replica = w->spec->replica;
        route->replicas = w->spec->replicas;
        route->shard = w->spec->shard;
        route->shards = w->spec->shards;
        route->batch = batch;
        rc = fh_pb_pack_msg(&j->env->base, &env_frame);
    }
    if (rc != 0) {
        fh_wire_docs_close(out);
        job_error(j, "out of memory replying"); /* the documents as they came */
        reply_error(w, j);
        return;
    }
    if (zmq_msg_size(&env_frame) > limit) {
        snprintf(why, sizeof why,
                 "the reply's envelope is %zu bytes, over the flow's max_message_size (%zu)",
                 zmq_msg_size(&env_frame), limit);
        zmq_msg_close(&env_frame);
        fh_wire_docs_close(out);
        job_error(j, "%s", why);
        reply_error(w, j);
        return;
    }
    /* Passed through, or failed: the documents go on exactly as they came. */
    if (fh_wire_send_docs(w->sock, NULL, 0, FH_CMD_REPLY, &env_frame, produced ? out : &j->in,
                          0) != 0)
        fprintf(stderr, "flowhost worker %s: %s\n", w->spec->name, fh_last_error());
    fh_wire_docs_close(out);
    job_free(j);
}

/* Marks J failed by this executor with WHY. */
static void fail(worker *w, fh_job *j, const char *why)
{
    j->changed = true; /* the reply is encoded from ENV */
    if (need_env(w, j) != 0 || fh_envelope_set_error(j->env, w->spec->name, why) != 0)
        fprintf(stderr, "flowhost worker %s: out of memory reporting: %s\n", w->spec->name, why);
}

static const Flowhost__BatchRule *batch_rule(const worker *w, const char *endpoint);

/* Runs FN once on the documents of JOBS[0..N) (N > 1: a batch, merged in order), then
 * answers each, and frees them. */
static void run(worker *w, fh_handler_fn fn, fh_job *jobs, size_t n)
{
    char why[FH_CTX_ERROR_MAX + 128] = "";
    int64_t start = fh_now_us();
    fh_docs *all = NULL;
    fh_wire_docs none;
    fh_wire_docs_init(&none);
    fh_wire_docs *out = calloc(n, sizeof *out);
    bool *produced = calloc(n, sizeof *produced);
    if (out == NULL || produced == NULL)
        snprintf(why, sizeof why, "out of memory running a batch");
    for (size_t k = 0; out != NULL && k < n; k++)
        fh_wire_docs_init(&out[k]);
    /* Which requests this call runs: should the process die now, they die with it. */
    fh_board_begin(w->board, w->self, jobs[0].seq, jobs[n - 1].seq);
    /* The socket is the beat thread's until the documents are encoded. */
    fh_worker_beat_enter(&w->beat);
    for (size_t k = 0; k < n && why[0] == '\0'; k++)
        if (decode_docs(w, &jobs[k]) != 0 || fh_worker_when_pick(w, &jobs[k]) != 0)
            snprintf(why, sizeof why, "%s", fh_last_error());
    if (why[0] == '\0' && n == 1) {
        all = jobs[0].docs;
        jobs[0].docs = NULL;
    } else if (why[0] == '\0') {
        all = fh_docs_new();
        for (size_t k = 0; k < n && why[0] == '\0'; k++) {
            jobs[k].n_docs = fh_docs_len(jobs[k].docs);
            if (all == NULL || fh_docs_splice(all, jobs[k].docs, jobs[k].n_docs) != 0)
                snprintf(why, sizeof why, "out of memory merging a batch");
        }
    }
    size_t given = all ? fh_docs_len(all) : 0;
    if (why[0] == '\0') {
        fh_ctx ctx = {.endpoint = jobs[0].env->endpoint, .request_id = jobs[0].env->request_id,
                      .executor = w->spec->name, .workspace = w->spec->workspace,
                      .state = w->state, .log_level = w->log_level};
        int rc = fn(&ctx, all, jobs[0].params);
        if (rc != 0 || ctx.failed)
            snprintf(why, sizeof why, "%s", ctx.failed ? ctx.error : fh_strerror(rc));
        else if (n > 1 && fh_docs_len(all) != given)
            snprintf(why, sizeof why,
                     "a batched call must give back as many documents as it was given (%zu, "
                     "of %zu requests), not %zu",
                     given, n, fh_docs_len(all));
    }
    /* Each request its own documents back, encoded (blobs taken, not copied). */
    for (size_t k = 0; why[0] == '\0' && k < n; k++) {
        fh_docs *own = n == 1 ? all : fh_docs_new();
        if (n == 1)
            all = NULL;
        if (own == NULL || (n > 1 && fh_docs_splice(own, all, jobs[k].n_docs) != 0)) {
            /* ALL still holds this request's documents first: none after it may take its
             * share now. */
            for (size_t r = k; r < n; r++)
                fail(w, &jobs[r], "out of memory splitting a batch");
            fh_docs_destroy(&own);
            break;
        }
        if (fh_worker_when_restore(&jobs[k], own) != 0)
            fail(w, &jobs[k], fh_last_error());
        else if (fh_docs_pack_wire(own, 1, &out[k]) != 0)
            fail(w, &jobs[k], "out of memory encoding documents");
        else
            produced[k] = true;
        fh_docs_destroy(&own);
    }
    fh_worker_beat_leave(&w->beat);
    /* A call on a batched endpoint says its size, on its first request (the metrics). */
    uint32_t size = batch_rule(w, jobs[0].env->endpoint) != NULL && why[0] == '\0'
                        ? (uint32_t)given : 0;
    for (size_t k = 0; k < n; k++) {
        if (why[0] != '\0')
            fail(w, &jobs[k], why);
        reply(w, &jobs[k], out ? &out[k] : &none, produced ? produced[k] : false, start,
              k == 0 ? size : 0);
    }
    fh_docs_destroy(&all);
    free(out);
    free(produced);
}

/* The batching rule of ENDPOINT, or NULL. */
static const Flowhost__BatchRule *batch_rule(const worker *w, const char *endpoint)
{
    for (size_t i = 0; i < w->spec->n_batching; i++)
        if (strcmp(w->spec->batching[i]->endpoint, endpoint) == 0)
            return w->spec->batching[i];
    return NULL;
}

/* Whether J can join a batch opened by FIRST: same endpoint, same parameters. */
static bool joins(const fh_job *first, const fh_job *j)
{
    return j->params != NULL && strcmp(first->env->endpoint, j->env->endpoint) == 0 &&
           fh_value_equal(first->params, j->params);
}

/* FIRST (moved in) opens a batch by RULE: takes the requests behind it that join, until
 * the batch holds preferred_batch_size documents or FIRST has waited timeout ms, then
 * runs them. A request that cannot join is kept in W->next, to run after the batch. */
static void run_batch(worker *w, fh_handler_fn fn, fh_job *first, const Flowhost__BatchRule *rule)
{
    size_t max = rule->preferred_batch_size < FH_BATCH_MAX_REQUESTS ? rule->preferred_batch_size
                                                                    : FH_BATCH_MAX_REQUESTS;
    fh_job *jobs = calloc(max > 0 ? max : 1, sizeof *jobs);
    if (jobs == NULL) { /* no batch: it runs alone */
        run(w, fn, first, 1);
        return;
    }
    if (decode_docs(w, first) != 0) { /* it fails alone */
        free(jobs);
        run(w, fn, first, 1);
        return;
    }
    jobs[0] = *first;
    size_t n = 1, docs = fh_docs_len(jobs[0].docs);
    int64_t deadline = jobs[0].arrived_ms + rule->timeout_ms;
    uint32_t preferred = rule->preferred_batch_size; /* RULE may go with a new gateway */
    while (docs < preferred && n < max && !w->stop && !w->has_next && !stale(w, &jobs[0])) {
        long wait = (long)(deadline - fh_monotonic_ms());
        if (wait <= 0)
            break; /* its time is up: run what is there */
        zmq_pollitem_t item = {w->sock, 0, ZMQ_POLLIN, 0};
        /* In slices: a remote worker's gateway that goes is seen within one. */
        int rc = zmq_poll(&item, 1, w->remote && wait > STALE_CHECK_MS ? STALE_CHECK_MS : wait);
        if (rc < 0)
            break; /* the poll failed: run what is there */
        if (rc == 0)
            continue;
        fh_wire_msg m;
        if (fh_wire_recv(w->sock, &m, ZMQ_DONTWAIT) != 0)
            continue;
        int cmd = fh_wire_command(&m, 0);
        if (cmd == FH_CMD_HEARTBEAT) {
            fh_wire_send(w->sock, NULL, 0, FH_CMD_HEARTBEAT, NULL, 0, 0);
        } else if (cmd == FH_CMD_DISCONNECT) {
            w->stop = true;
        } else if (cmd == FH_CMD_READY && w->remote) {
            /* A new gateway (worker_listen.c): the one that sent this batch went. Its
             * settings apply before its first request, which comes next; the batch
             * ends here (and is dropped below, as its gateway's requests are). */
            fh_worker_listen_settings(w, &m);
            fh_wire_close(&m);
            break;
        } else if (cmd == FH_CMD_REQUEST) {
            fh_job j;
            take(w, &m, &j, jobs[0].seq);
            if (j.error == NULL && joins(&jobs[0], &j) && decode_docs(w, &j) == 0 &&
                (docs + fh_docs_len(j.docs) <= rule->preferred_batch_size || docs == 0)) {
                docs += fh_docs_len(j.docs);
                jobs[n++] = j;
            } else {
                w->next = j; /* it is answered after the batch, in its turn */
                w->has_next = true;
            }
        }
        fh_wire_close(&m);
    }
    /* The requests of one batch all came from one gateway (a new one's READY ends it). */
    if (stale(w, &jobs[n - 1])) {
        for (size_t k = 0; k < n; k++)
            drop_stale(w, &jobs[k]);
    } else {
        run(w, fn, jobs, n);
    }
    free(jobs);
}

/* Runs J (moved in): alone, or as the first of a batch. */
static void handle(worker *w, fh_job *j)
{
    if (j->error == NULL && stale(w, j)) { /* its gateway went while it waited here */
        drop_stale(w, j);
        return;
    }
    if (j->error != NULL) {
        reply_error(w, j);
        return;
    }
    fh_handler_fn fn = j->fn;
    if (j->pass) { /* nothing is bound to it here: it passes unchanged */
        fh_wire_docs none;
        fh_wire_docs_init(&none);
        reply(w, j, &none, false, fh_now_us(), 0);
        return;
    }
    const Flowhost__BatchRule *rule = batch_rule(w, j->env->endpoint);
    if (rule != NULL && rule->preferred_batch_size > 1)
        run_batch(w, fn, j, rule);
    else
        run(w, fn, j, 1);
}

void fh_worker_request(worker *w, fh_wire_msg *m)
{
    fh_job j;
    take(w, m, &j, 0);
    handle(w, &j);
}

void fh_worker_request_next(worker *w)
{
    fh_job j = w->next;
    w->has_next = false;
    handle(w, &j);
}

/* Replies clients have not taken: counted, and bounded.
 *
 * A reply handed to ZeroMQ waits in its client's queue until ZeroMQ's I/O thread has
 * written it to the kernel (or the client is gone). A client that does not read would
 * keep its replies there, outside every budget of the gateway. So the last frame of a
 * reply is sent as a zmq_msg_init_data message whose free function, called by ZeroMQ
 * when it lets that frame go (it lets a message's frames go in order, so the whole reply
 * is gone then), takes the reply's bytes off two counters: the client's and the total. A
 * frame received from a worker is wrapped without a copy (the wrapper holds the received
 * message until then); a small one is copied into the wrapper.
 *
 * A client's request is let in only while the client's unread replies weigh less than
 * its share (a quarter of max_message_size), it has fewer replies queued than its queue
 * takes, and all clients together hold less than FH_GATEWAY_BUDGET_MESSAGES x
 * max_message_size of unread replies; a client that has taken all its replies is let in
 * whatever the others left unread. (Its requests inside are bounded by prefetch and the
 * gateway's budget, not here: a client that reads may have many in flight. So the
 * unread replies of all clients reach at most that total plus the replies of the
 * requests inside.)
 * Otherwise it waits here, in its slot, in arrival order, until ZeroMQ lets enough go:
 * the free function wakes the gateway through an eventfd. Of a client over its share,
 * WAIT_MAX requests wait; later ones are answered at once "busy" (a few, REFUSE_MAX),
 * then dropped. A request waits at most WAIT_DEADLINE_MS: then it is answered "busy"
 * (dropped, for a client over its share), so that the slots and bytes of requests that
 * wait never hold the flow shut. A client that stops reading stops being served; the
 * others go on.
 *
 * Accounts (one per client with replies in ZeroMQ or requests waiting) are touched by
 * the I/O thread only through atomics, and freed by the gateway's thread only when no
 * frame refers to them. */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "siphash.h"
#include "util.h"

/* The least share of a client, whatever max_message_size. */
#define SHARE_MIN (64 * 1024)
/* Frames below this size are copied into their wrapper: one allocation instead of two. */
#define COPY_BELOW 512
/* What ZeroMQ and the wrapper hold per frame beyond its bytes (a queue entry, a content
 * record, the wrapper): counted with the bytes. */
#define FRAME_OVERHEAD 128
/* How often accounts nobody uses are swept away. */
#define SWEEP_MS 1000
/* Requests of a client over its share that wait for it to read; more are answered at
 * once with an error, so that a client that sends without reading cannot fill the flow
 * (or the gateway's memory) with its requests. */
#define WAIT_MAX 2
/* The longest a request waits for room among the replies. */
#define WAIT_DEADLINE_MS 5000
/* Replies queued for a client beyond which its refused requests get no answer at all
 * (an answer it would not read either): they are dropped, and logged. */
#define REFUSE_MAX 16

typedef struct account {
    unsigned char id[MAX_ID];      /* the client's routing id */
    size_t id_len;
    atomic_size_t bytes;           /* of its replies ZeroMQ still holds */
    atomic_size_t messages;        /* replies ZeroMQ still holds */
    atomic_size_t frames;          /* wrapped frames not yet freed: the account lives on
                                      (one per reply) */
    size_t admitted;               /* requests let in and not yet answered */
    size_t dropped;                /* requests dropped: it reads nothing */
    int wait_head, wait_tail;      /* slots waiting for it to read (slot.next links) */
    size_t waiting;                /* how many */
} account;

struct gw_replies {
    atomic_size_t bytes;           /* all clients together */
    atomic_int waiting;            /* slots waiting: the free function must wake us */
    int efd;                       /* eventfd the free function writes */
    size_t share, total_max;       /* per client, all together (bytes) */
    size_t messages_max;           /* per client: its queue's high-water mark */
    account **table;               /* open addressing by routing id; NULL: empty */
    size_t cap, count;
    int64_t swept_ms;
};

/* One frame handed to ZeroMQ, until ZeroMQ lets it go. */
typedef struct wrapper {
    struct gw_replies *r;
    account *a;
    size_t counted;                /* bytes taken off the counters when freed */
    bool wraps;                    /* ORIG holds the bytes (else DATA) */
    zmq_msg_t orig;
    unsigned char data[];
} wrapper;

/* Clients may choose their routing ids: a keyed hash. */
static uint64_t hash(const unsigned char *id, size_t len) { return fh_siphash(id, len); }

/* The index of ID's account, or of the empty place where it would go. */
static size_t probe(const struct gw_replies *r, const void *id, size_t len)
{
    size_t i = hash(id, len) & (r->cap - 1);
    while (r->table[i] != NULL &&
           !(r->table[i]->id_len == len && memcmp(r->table[i]->id, id, len) == 0))
        i = (i + 1) & (r->cap - 1);
    return i;
}

/* ID's account, made when absent; NULL when out of memory or the table is full (the
 * client's replies then go out uncounted: the table holds twice the most clients that
 * can be connected, so this does not happen). */
static account *get_account(struct gw_replies *r, const void *id, size_t len)
{
    size_t i = probe(r, id, len);
    if (r->table[i] != NULL)
        return r->table[i];
    if (2 * (r->count + 1) > r->cap)
        return NULL;
    account *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    memcpy(a->id, id, len);
    a->id_len = len;
    a->wait_head = a->wait_tail = -1;
    r->table[i] = a;
    r->count++;
    return a;
}

/* Removes the account at index HOLE (backward-shift deletion: no tombstones). */
static void remove_at(struct gw_replies *r, size_t hole)
{
    size_t mask = r->cap - 1;
    free(r->table[hole]);
    r->table[hole] = NULL;
    r->count--;
    for (size_t i = (hole + 1) & mask; r->table[i] != NULL; i = (i + 1) & mask) {
        size_t home = hash(r->table[i]->id, r->table[i]->id_len) & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            r->table[hole] = r->table[i];
            r->table[i] = NULL;
            hole = i;
        }
    }
}

int gw_replies_init(fh_gateway *g, size_t max_clients)
{
    struct gw_replies *r = calloc(1, sizeof *r);
    if (r == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r->cap = 16;
    while (r->cap < 2 * (max_clients + g->n_slots))
        r->cap *= 2;
    r->table = calloc(r->cap, sizeof *r->table);
    r->share = (size_t)g->cfg->max_message_size / 4;
    if (r->share < SHARE_MIN)
        r->share = SHARE_MIN;
    r->total_max = (size_t)FH_GATEWAY_BUDGET_MESSAGES * (size_t)g->cfg->max_message_size;
    r->messages_max = g->n_slots * 2; /* the client socket's ZMQ_SNDHWM */
    r->swept_ms = fh_monotonic_ms();
    g->replies = r;
    if (r->efd < 0 || r->table == NULL)
        return fh_set_error(r->efd < 0 ? FH_E_IO : FH_E_NOMEM, "cannot count replies: %s",
                            r->efd < 0 ? strerror(errno) : "out of memory");
    return 0;
}

void gw_replies_free(fh_gateway *g)
{
    struct gw_replies *r = g->replies;
    if (r == NULL)
        return;
    for (size_t i = 0; r->table && i < r->cap; i++)
        free(r->table[i]);
    free(r->table);
    if (r->efd >= 0)
        close(r->efd);
    free(r);
    g->replies = NULL;
}

int gw_replies_fd(const fh_gateway *g) { return g->replies->efd; }

/* ZeroMQ lets a frame go (from its I/O thread, or ours when a send fails). */
static void release(void *data, void *hint)
{
    (void)data;
    wrapper *w = hint;
    struct gw_replies *r = w->r;
    if (w->wraps)
        zmq_msg_close(&w->orig);
    atomic_fetch_sub(&r->bytes, w->counted);
    if (w->a != NULL) {
        atomic_fetch_sub(&w->a->bytes, w->counted);
        atomic_fetch_sub(&w->a->messages, 1);
        atomic_fetch_sub(&w->a->frames, 1);
    }
    if (atomic_load(&r->waiting) > 0) {
        uint64_t one = 1;
        ssize_t n = write(r->efd, &one, sizeof one); /* a full counter is awake already */
        (void)n;
    }
    free(w);
}

/* Replaces FRAME by one holding the same bytes whose release takes COUNTED bytes and one
 * message off the counters. Returns 0 or FH_E_NOMEM (FRAME is then left as it was). */
static int wrap(struct gw_replies *r, account *a, zmq_msg_t *frame, size_t counted)
{
    size_t size = zmq_msg_size(frame);
    bool copy = size < COPY_BELOW;
    wrapper *w = malloc(sizeof *w + (copy ? size : 0));
    if (w == NULL)
        return FH_E_NOMEM;
    w->r = r;
    w->a = a;
    w->counted = counted;
    w->wraps = !copy;
    void *bytes;
    if (copy) {
        memcpy(w->data, zmq_msg_data(frame), size);
        bytes = w->data;
    } else {
        zmq_msg_init(&w->orig);
        zmq_msg_move(&w->orig, frame);
        bytes = zmq_msg_data(&w->orig);
    }
    zmq_msg_t held;
    if (zmq_msg_init_data(&held, bytes, size, release, w) != 0) {
        if (!copy)
            zmq_msg_move(frame, &w->orig);
        free(w);
        return FH_E_NOMEM;
    }
    zmq_msg_move(frame, &held); /* closes what FRAME held (nothing, or the copied bytes) */
    atomic_fetch_add(&r->bytes, counted);
    if (a != NULL) {
        atomic_fetch_add(&a->bytes, counted);
        atomic_fetch_add(&a->messages, 1);
        atomic_fetch_add(&a->frames, 1);
    }
    return 0;
}

int gw_replies_send(fh_gateway *g, int i, zmq_msg_t *env_frame)
{
    struct gw_replies *r = g->replies;
    slot *s = &g->slots[i];
    account *a = get_account(r, s->client, s->client_len);
    /* ZeroMQ lets a message's frames go in order: the release of the last one counts the
     * whole message (routing id, signature, command, envelope, documents, blobs) off. */
    size_t n = 5 + s->docs.n_blobs;
    size_t counted = s->client_len + 5 + zmq_msg_size(env_frame) + fh_wire_docs_size(&s->docs) +
                     n * FRAME_OVERHEAD;
    zmq_msg_t *last = s->docs.n_blobs ? &s->docs.blobs[s->docs.n_blobs - 1] : &s->docs.docs;
    wrap(r, a, last, counted); /* out of memory: the reply goes uncounted, it still goes */
    return fh_wire_send_docs(g->front, s->client, s->client_len, FH_CMD_REPLY, env_frame,
                             &s->docs, ZMQ_DONTWAIT);
}

void gw_replies_forget(fh_gateway *g, int i)
{
    slot *s = &g->slots[i];
    if (!s->admitted)
        return;
    s->admitted = false;
    struct gw_replies *r = g->replies;
    size_t k = probe(r, s->client, s->client_len);
    account *a = r->table[k]; /* it has a request inside: it is there */
    if (a != NULL)
        a->admitted--;
}

/* Whether A's client holds its share of unread replies, or more. */
static bool over_share(const struct gw_replies *r, const account *a)
{
    return atomic_load(&a->bytes) >= r->share || atomic_load(&a->messages) >= r->messages_max;
}

/* Whether A's client may have one more request let in. */
static bool has_room(const fh_gateway *g, const account *a)
{
    const struct gw_replies *r = g->replies;
    if (g->draining) /* nothing new comes in: what waits is let through to be answered */
        return true;
    /* A client that has taken every reply is let in whatever others left unread: those
     * who do not read must not stop those who do. */
    if (atomic_load(&a->messages) == 0)
        return true;
    return atomic_load(&r->bytes) < r->total_max && !over_share(r, a);
}

static void let_in(fh_gateway *g, account *a, int i)
{
    a->admitted++;
    g->slots[i].admitted = true;
    gw_enter_gate(g, i);
}

/* Lets A's waiting requests in while there is room. */
static void let_waiters_in(fh_gateway *g, account *a)
{
    struct gw_replies *r = g->replies;
    while (a->wait_head >= 0 && has_room(g, a)) {
        int i = a->wait_head;
        a->wait_head = g->slots[i].next;
        if (a->wait_head < 0)
            a->wait_tail = -1;
        a->waiting--;
        atomic_fetch_sub(&r->waiting, 1);
        let_in(g, a, i); /* may answer at once, and come back to this account */
    }
}

/* Answers A's requests that waited past WAIT_DEADLINE_MS "busy" (drops them when A is
 * over its share: it would not read the answer either). */
static void expire_waiters(fh_gateway *g, account *a, int64_t now_us)
{
    struct gw_replies *r = g->replies;
    while (a->wait_head >= 0 &&
           now_us - g->slots[a->wait_head].start_us >= (int64_t)WAIT_DEADLINE_MS * 1000) {
        int i = a->wait_head;
        a->wait_head = g->slots[i].next;
        if (a->wait_head < 0)
            a->wait_tail = -1;
        a->waiting--;
        atomic_fetch_sub(&r->waiting, 1);
        if (over_share(r, a)) {
            if (a->dropped++ % 1000 == 0)
                gw_log("dropped request %.64s of a client that does not read its replies "
                       "(%zu bytes unread; %zu dropped)", g->slots[i].env->request_id,
                       atomic_load(&a->bytes), a->dropped);
            gw_slot_free(g, i);
        } else {
            char why[200];
            snprintf(why, sizeof why, "busy: no room for replies for %d ms (clients that do not "
                     "read hold %zu bytes); try again later", WAIT_DEADLINE_MS,
                     atomic_load(&r->bytes));
            gw_refuse_slot(g, i, why);
        }
    }
}

void gw_replies_admit(fh_gateway *g, int i)
{
    struct gw_replies *r = g->replies;
    slot *s = &g->slots[i];
    s->admitted = false;
    account *a = get_account(r, s->client, s->client_len);
    if (a == NULL) { /* cannot count its replies: not let in uncounted */
        gw_refuse_slot(g, i, "busy: the flow counts the replies of too many clients; try again later");
        return;
    }
    if (a->wait_head < 0 && has_room(g, a)) {
        let_in(g, a, i);
        return;
    }
    if (over_share(r, a) && a->waiting >= WAIT_MAX) {
        fh_wire_docs_close(&s->docs); /* not sent back to a client that does not read */
        if (atomic_load(&a->messages) < REFUSE_MAX && atomic_load(&r->bytes) < r->total_max) {
            char why[200];
            snprintf(why, sizeof why, "busy: this client has not read %zu bytes of replies; "
                     "read them, then send more", atomic_load(&a->bytes));
            gw_refuse_slot(g, i, why);
            return;
        }
        if (a->dropped++ % 1000 == 0)
            gw_log("dropped request %.64s of a client that does not read its replies (%zu "
                   "bytes unread; %zu dropped)", s->env->request_id, atomic_load(&a->bytes),
                   a->dropped);
        gw_slot_free(g, i);
        return;
    }
    s->next = -1; /* behind the client's requests already waiting, in order */
    if (a->wait_tail < 0)
        a->wait_head = i;
    else
        g->slots[a->wait_tail].next = i;
    a->wait_tail = i;
    a->waiting++;
    atomic_fetch_add(&r->waiting, 1);
    /* ZeroMQ may have let replies go between the look above and the count of waiters,
     * and then wrote no wake-up: look again. */
    let_waiters_in(g, a);
}

void gw_replies_wake(fh_gateway *g, bool readable)
{
    struct gw_replies *r = g->replies;
    uint64_t n;
    if (readable && read(r->efd, &n, sizeof n) < 0 && errno != EAGAIN)
        gw_log("reading the replies' eventfd: %s", strerror(errno));
    int64_t now = fh_monotonic_ms();
    bool sweep = now - r->swept_ms >= SWEEP_MS;
    if (!readable && !sweep && !(g->draining && atomic_load(&r->waiting) > 0))
        return;
    int64_t now_us = fh_now_us();
    for (size_t k = 0; k < r->cap; k++) {
        account *a = r->table[k];
        if (a == NULL)
            continue;
        let_waiters_in(g, a);
        if (sweep)
            expire_waiters(g, a, now_us);
    }
    if (!sweep)
        return;
    r->swept_ms = now;
    for (size_t k = 0; k < r->cap;) {
        account *a = r->table[k];
        /* No frame refers to it (the I/O thread cannot touch it again) and nothing
         * waits or is inside: it goes. A shifted entry is looked at again. */
        if (a != NULL && atomic_load(&a->frames) == 0 && a->wait_head < 0 && a->admitted == 0)
            remove_at(r, k);
        else
            k++;
    }
}

bool gw_replies_unread(fh_gateway *g, const void *id, size_t len)
{
    struct gw_replies *r = g->replies;
    account *a = r->table[probe(r, id, len)];
    return a != NULL && (over_share(r, a) || atomic_load(&a->messages) >= REFUSE_MAX);
}

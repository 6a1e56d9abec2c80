/* The rolling reload's state, shared by its two files: reload.c (the rollout: which
 * replica is replaced when, and how) and reload_request.c (the requests that ask for a
 * reload, and the answers to them). Private to those two. */
#ifndef FH_HOST_GATEWAY_RELOAD_INTERNAL_H
#define FH_HOST_GATEWAY_RELOAD_INTERNAL_H

#include "gateway_internal.h"

#define WAITERS_MAX 64        /* reload commands waiting for one rollout's end at most */
#define SIGNALLED_MAX 64      /* request signals noted between two loop turns at most */

/* How an executor asked for is reloaded. */
enum { MODE_NONE = 0, MODE_SURGE, MODE_IN_PLACE };

typedef struct gw_reload {
    uint8_t *pending;         /* per executor of the flow (its cfg index): MODE_* */
    bool active;              /* a rollout is under way */
    size_t cur;               /* the executor being reloaded; SIZE_MAX: between two */
    uint8_t cur_mode;         /* how (MODE_*) */
    gw_worker *in_place;      /* in place: the replica whose new worker waits for the old
                                 one to end (GW_RELOAD_WAIT) or starts (GW_RELOAD_IN_PLACE);
                                 NULL: none */
    size_t unit;              /* its next replica to replace: its shard (g->execs)... */
    size_t replica;           /* ...and the replica there */
    uint32_t gen;             /* the generation of the last new worker */
    int64_t started_ms;       /* when the rollout began */
    int64_t exec_ms;          /* when the executor being reloaded began */
    int64_t spare_ms;         /* when the new worker was started */
    size_t exec_replaced;     /* its replicas replaced so far */
    size_t replaced, skipped, failed; /* the rollout's replicas */
    size_t down;              /* of those skipped, the ones down (their breaker open) */
    char failure[1100];       /* the rollout's first failure */
    char down_line[300];      /* the first replica skipped for being down */
    char *waiters[WAITERS_MAX]; /* the done files of reloads waited for */
    size_t n_waiters;
    bool hup;                 /* a plain SIGHUP came: every executor */
    int ids[SIGNALLED_MAX];   /* the request ids signalled (reload-ID.req), in order */
    size_t n_ids;
} gw_reload;

/* reload.c: logs an informational line (the rollout's progress). */
void gw_reload_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* reload.c: starts a rollout of what is pending in G's reload, unless one runs. */
void gw_reload_begin(fh_gateway *g);

/* reload_request.c: writes TEXT to every reload command waiting for the rollout's end
 * (their done files), and forgets them (frees the paths). */
void gw_reload_notify_waiters(gw_reload *r, const char *text);

#endif

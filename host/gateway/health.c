/* Health: whether the flow is ready, for GET /health/ready (http.c) and a client's
 * HEARTBEAT (clients.c, flowhost ping). */
#define _GNU_SOURCE
#include "gateway_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Executor E of the flow (its index in cfg->executors): replicas ready and in all, its
 * restarts, and whether each of its shards has a ready replica. */
static bool exec_health(const fh_gateway *g, size_t e, size_t *ready, size_t *total,
                        size_t *restarts)
{
    bool up = true;
    *ready = *total = *restarts = 0;
    for (size_t x = 0; x < g->n_execs; x++) {
        const gw_exec *ex = &g->execs[x];
        if (ex->node != e)
            continue;
        size_t shard_ready = 0;
        for (size_t k = 0; k < ex->n_workers; k++) {
            const gw_worker *w = &ex->workers[k];
            (*total)++;
            shard_ready += w->ready && !w->down;
            *restarts += w->starts > 1 + w->reloads ? w->starts - 1 - w->reloads : 0;
        }
        *ready += shard_ready;
        up = up && shard_ready > 0;
    }
    return up;
}

bool gw_flow_ready(const fh_gateway *g, char *why, size_t size)
{
    if (g->draining) {
        snprintf(why, size, "the flow is shutting down");
        return false;
    }
    for (size_t e = 0; e < g->cfg->n_executors; e++) {
        size_t ready, total, restarts;
        if (!exec_health(g, e, &ready, &total, &restarts)) {
            snprintf(why, size, "executor '%s' has no ready replica%s (%zu of %zu ready)",
                     g->cfg->executors[e].name, total > 1 ? " for a shard" : "", ready, total);
            return false;
        }
    }
    why[0] = '\0';
    return true;
}

char *gw_health_json(const fh_gateway *g, bool *ready)
{
    char why[300];
    *ready = gw_flow_ready(g, why, sizeof why);
    json_t *root = json_pack("{s:b, s:b, s:s, s:[]}", "ready", *ready, "draining", g->draining,
                             "why", why, "executors");
    json_t *list = root ? json_object_get(root, "executors") : NULL;
    if (list == NULL) {
        json_decref(root);
        return NULL;
    }
    for (size_t e = 0; e < g->cfg->n_executors; e++) {
        size_t n_ready, total, restarts;
        bool up = exec_health(g, e, &n_ready, &total, &restarts);
        json_t *o = json_pack("{s:s, s:b, s:I, s:I, s:I}", "name", g->cfg->executors[e].name,
                              "ready", up, "replicas_ready", (json_int_t)n_ready, "replicas",
                              (json_int_t)total, "restarts", (json_int_t)restarts);
        if (o == NULL || json_array_append_new(list, o) != 0) {
            json_decref(root);
            return NULL;
        }
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

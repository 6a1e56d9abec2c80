/* A worker's routes: which handler of the plugin an endpoint runs, from the plugin's
 * bindings and the flow's requests / uses_requests. */
#define _GNU_SOURCE
#include "worker_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

/* Jina's name of the default binding; uses_requests may also say "default". */
#define FH_DEFAULT_ENDPOINT "/default"

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
int fh_worker_build_routes(worker *w)
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

fh_handler_fn fh_worker_lookup(const worker *w, const char *endpoint, size_t len)
{
    for (size_t i = 0; i < w->n_routes; i++)
        if (strncmp(w->routes[i].endpoint, endpoint, len) == 0 &&
            w->routes[i].endpoint[len] == '\0')
            return w->routes[i].handler;
    return w->default_handler;
}


/* A reply (envelope and documents) into the response body of Jina 2's REST gateway:
 * MessageToDict of its RequestProto, camelCase, defaults included. */
#include "rest_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "codec.h"
#include "json_internal.h"
#include "util.h"

/* Jina 2's StatusProto codes flowhost's two map to. */
#define JINA_STATUS_SUCCESS 0
#define JINA_STATUS_ERROR 3

/* {"code", "description"} and, for an error, Jina's "exception" with the executor. */
static json_t *status_json(const Flowhost__Status *s)
{
    if (s == NULL || s->code == FLOWHOST__STATUS__CODE__SUCCESS)
        return json_pack("{s:i, s:s}", "code", JINA_STATUS_SUCCESS, "description", "");
    const char *desc = s->description ? s->description : "";
    return json_pack("{s:i, s:s, s:{s:s, s:[s], s:[], s:s}}", "code", JINA_STATUS_ERROR,
                     "description", desc, "exception", "name", "ExecutorError", "args", desc,
                     "stacks", "executor", s->executor ? s->executor : "");
}

/* Routes as Jina 2's RouteProto: pod, podId (NAME/REPLICA), start and end times as
 * RFC 3339, and a status: the error on the route of the executor that set it. */
static json_t *routes_json(const Flowhost__Envelope *env)
{
    json_t *routes = json_array();
    const Flowhost__Status *st = env->status;
    bool failed = st && st->code != FLOWHOST__STATUS__CODE__SUCCESS;
    for (size_t i = 0; routes && i < env->n_routes; i++) {
        const Flowhost__Route *r = env->routes[i];
        const char *pod = r->executor ? r->executor : "";
        char start[40], end[40], pod_id[300];
        fh_format_time_us(r->start_time_us, start, sizeof start);
        fh_format_time_us(r->end_time_us, end, sizeof end);
        snprintf(pod_id, sizeof pod_id, "%s/%u", pod, r->replica);
        bool here = failed && st->executor && strcmp(st->executor, pod) == 0;
        json_t *route = json_pack("{s:s, s:s, s:s, s:s, s:o}", "pod", pod, "podId", pod_id,
                                  "startTime", start, "endTime", end, "status",
                                  status_json(here ? st : NULL));
        if (route == NULL || json_array_append_new(routes, route) != 0) {
            json_decref(routes);
            return NULL;
        }
    }
    return routes;
}

/* The documents of DOCS (NULL: none) as a JSON array; *CODE says why on NULL. */
static json_t *docs_json(const fh_wire_docs *docs, size_t max, int *code)
{
    fh_docs *decoded = NULL;
    fh_wire_docs none;
    fh_wire_docs_init(&none);
    int rc = fh_docs_decode_wire_max(docs ? docs : &none, max, &decoded);
    if (rc != 0) {
        *code = rc;
        return NULL;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < fh_docs_len(decoded); i++) {
        json_t *d = fh_rest_doc_to_jina(fh_docs_at(decoded, i));
        if (d == NULL || json_array_append_new(a, d) != 0) {
            /* the SDK's writer fails on what JSON cannot hold (a NaN score) far more
               often than on memory */
            *code = d == NULL ? FH_E_RANGE : FH_E_NOMEM;
            json_decref(a);
            a = NULL;
        }
    }
    if (a == NULL && *code == 0)
        *code = FH_E_NOMEM;
    fh_docs_destroy(&decoded);
    return a;
}

int fh_rest_write_response(const Flowhost__Envelope *env, const fh_wire_docs *docs,
                           size_t max_bytes, char **out, size_t *out_len, fh_rest_error *err)
{
    fh_rest_error scratch;
    if (err == NULL)
        err = &scratch;
    memset(err, 0, sizeof *err);
    if (out == NULL || env == NULL)
        return fh_rest_fail(err, FH_E_INVAL, 500, 0, 0, "fh_rest_write_response: NULL argument");
    *out = NULL;
    size_t max = max_bytes ? max_bytes : FH_DECODE_DEFAULT_MAX;
    int code = 0;
    json_t *jdocs = docs_json(docs, FH_DECODE_DOCS_FACTOR * max, &code);
    if (jdocs == NULL)
        return fh_rest_fail(err, code, 500, 0, 0, "cannot write the reply's documents: %s",
                            fh_last_error());
    json_t *params = env->parameters &&
                             fh_value_type((const fh_value *)env->parameters) == FH_TYPE_MAP
                         ? fh_value_to_jansson((const fh_value *)env->parameters)
                         : json_object();
    if (params == NULL) {
        json_decref(jdocs);
        return fh_rest_fail(err, FH_E_RANGE, 500, 0, 0,
                            "cannot write the reply's parameters: %s", fh_last_error());
    }
    json_t *o = json_pack("{s:s, s:{s:o, s:[]}, s:{s:s, s:s, s:b}, s:o, s:o*, s:o*}",
                          "requestId", env->request_id ? env->request_id : "", "data", "docs",
                          jdocs, "groundtruths", "header", "execEndpoint",
                          env->endpoint ? env->endpoint : "", "targetPeapod", "",
                          "noPropagate", 0, "parameters", params, "routes", routes_json(env),
                          "status", status_json(env->status));
    char *text = o ? fh_jansson_dumps(o) : NULL;
    json_decref(o);
    if (text == NULL)
        return fh_rest_fail(err, FH_E_NOMEM, 500, 0, 0, "out of memory writing the response");
    size_t n = strlen(text);
    if (n > max) {
        free(text);
        return fh_rest_fail(err, FH_E_RANGE, 500, 0, 0,
                            "the response would take %zu bytes, more than %zu", n, max);
    }
    *out = text;
    if (out_len)
        *out_len = n;
    return 0;
}

int fh_rest_write_response_frame(const void *env_buf, size_t env_len,
                                 const fh_wire_docs *docs, size_t max_bytes, char **out,
                                 size_t *out_len, fh_rest_error *err)
{
    fh_rest_error scratch;
    if (err == NULL)
        err = &scratch;
    memset(err, 0, sizeof *err);
    if (out == NULL)
        return fh_rest_fail(err, FH_E_INVAL, 500, 0, 0,
                            "fh_rest_write_response_frame: NULL argument");
    *out = NULL;
    Flowhost__Envelope *env = NULL;
    int rc = fh_envelope_decode_max(env_buf, env_len, max_bytes ? max_bytes : FH_DECODE_DEFAULT_MAX,
                                    &env, NULL);
    if (rc != 0)
        return fh_rest_fail(err, rc, 500, 0, 0, "%s", fh_last_error());
    rc = fh_rest_write_response(env, docs, max_bytes, out, out_len, err);
    flowhost__envelope__free_unpacked(env, NULL);
    return rc;
}

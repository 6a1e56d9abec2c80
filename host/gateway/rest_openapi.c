/* The paths of the REST API (which endpoints a flow serves by path, which method goes
 * where), its OpenAPI 3 description and the page that shows it. */
#include "rest_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "json_internal.h"

/* ---- endpoints and paths ------------------------------------------------------------ */

/* Jina 2's CRUD endpoints and the methods its gateway takes them with. */
static const struct {
    const char *path, *method, *allow;
} crud[] = {
    {"/index", "POST", "POST"},
    {"/search", "POST", "POST"},
    {"/update", "PUT", "POST, PUT"},
    {"/delete", "DELETE", "POST, DELETE"},
};
#define N_CRUD (sizeof crud / sizeof crud[0])

/* Paths of their own: no endpoint is served under these. */
static bool reserved(const char *path)
{
    return strcmp(path, "/post") == 0 || strcmp(path, "/docs") == 0 ||
           strcmp(path, "/openapi.json") == 0;
}

static int add_endpoint(fh_rest_endpoints *e, const char *path)
{
    if (path == NULL || path[0] != '/' || reserved(path) || strlen(path) > FH_REST_MAX_ENDPOINT)
        return 0;
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->paths[i], path) == 0)
            return 0;
    char **grown = realloc(e->paths, (e->n + 1) * sizeof *grown);
    if (grown == NULL)
        return FH_E_NOMEM;
    e->paths = grown;
    if ((e->paths[e->n] = strdup(path)) == NULL)
        return FH_E_NOMEM;
    e->n++;
    return 0;
}

int fh_rest_endpoints_init(fh_rest_endpoints *out, const fh_flow_config *cfg,
                           const char *const *extra, size_t n_extra)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < N_CRUD; i++)
        rc = add_endpoint(out, crud[i].path);
    for (size_t i = 0; rc == 0 && cfg && i < cfg->n_executors; i++)
        for (size_t k = 0; rc == 0 && k < cfg->executors[i].n_requests; k++)
            rc = add_endpoint(out, cfg->executors[i].requests[k].endpoint);
    for (size_t i = 0; rc == 0 && extra && i < n_extra; i++)
        rc = add_endpoint(out, extra[i]);
    if (rc != 0) {
        fh_rest_endpoints_clear(out);
        return fh_set_error(FH_E_NOMEM, "out of memory listing the REST endpoints");
    }
    return 0;
}

void fh_rest_endpoints_clear(fh_rest_endpoints *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n; i++)
        free(e->paths[i]);
    free(e->paths);
    e->paths = NULL;
    e->n = 0;
}

/* The methods PATH (an endpoint) takes besides POST, for the Allow header. */
static const char *allowed(const char *path, const char **jina_method)
{
    for (size_t i = 0; i < N_CRUD; i++)
        if (strcmp(path, crud[i].path) == 0) {
            *jina_method = crud[i].method;
            return crud[i].allow;
        }
    *jina_method = "POST";
    return "POST";
}

fh_rest_route fh_rest_match(const fh_rest_endpoints *e, const char *method, const char *path,
                            const char **endpoint, const char **allow)
{
    if (method == NULL || path == NULL)
        return FH_REST_NOT_REST;
    const char *want = NULL, *ok = NULL;
    fh_rest_route route = FH_REST_NOT_REST;
    if (strcmp(path, "/post") == 0) {
        want = ok = "POST";
        route = FH_REST_POST;
    } else if (strcmp(path, "/openapi.json") == 0) {
        want = ok = "GET";
        route = FH_REST_OPENAPI;
    } else if (strcmp(path, "/docs") == 0) {
        want = ok = "GET";
        route = FH_REST_DOCS;
    } else {
        for (size_t i = 0; e && i < e->n; i++)
            if (strcmp(path, e->paths[i]) == 0) {
                const char *jina;
                ok = allowed(path, &jina);
                want = jina;
                route = FH_REST_ENDPOINT;
                if (endpoint)
                    *endpoint = e->paths[i];
                break;
            }
    }
    if (route == FH_REST_NOT_REST)
        return route;
    bool taken = strcmp(method, want) == 0 || (route == FH_REST_ENDPOINT && strcmp(method, "POST") == 0) ||
                 (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
    if (!taken) {
        if (allow)
            *allow = strcmp(ok, "GET") == 0 ? "GET, HEAD" : ok;
        return FH_REST_BAD_METHOD;
    }
    return route;
}

/* ---- OpenAPI ------------------------------------------------------------------------ */

/* The schemas every flow shares: the request bodies, the response, the document. */
static const char schemas_json[] =
    "{"
    "\"Document\": {\"type\": \"object\", \"additionalProperties\": true,"
    " \"description\": \"A document: the SDK's JSON with Jina 2's names. Keys it does not know"
    " are kept in tags, as Jina 2 does; parent_id, mime_type and Jina 2's buffer and"
    " NdArrayProto forms are read too.\","
    " \"properties\": {"
    "  \"id\": {\"type\": \"string\", \"description\": \"generated when absent\"},"
    "  \"granularity\": {\"type\": \"integer\"}, \"adjacency\": {\"type\": \"integer\"},"
    "  \"parentId\": {\"type\": \"string\"}, \"text\": {\"type\": \"string\"},"
    "  \"uri\": {\"type\": \"string\"},"
    "  \"chunks\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/Document\"}},"
    "  \"weight\": {\"type\": \"number\"},"
    "  \"matches\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/Document\"}},"
    "  \"mimeType\": {\"type\": \"string\"},"
    "  \"tags\": {\"type\": \"object\", \"additionalProperties\": true,"
    "   \"description\": \"typed: an integer stays an integer\"},"
    "  \"embedding\": {\"nullable\": true, \"oneOf\": [{\"type\": \"array\", \"items\": {\"type\": \"number\"}},"
    "   {\"$ref\": \"#/components/schemas/NdArray\"}]},"
    "  \"scores\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"object\","
    "   \"properties\": {\"value\": {\"type\": \"number\"}}}},"
    "  \"blob\": {\"type\": \"string\", \"format\": \"byte\", \"description\": \"bytes, base64\"},"
    "  \"tensor\": {\"$ref\": \"#/components/schemas/NdArray\"}}},"
    "\"NdArray\": {\"type\": \"object\", \"required\": [\"dtype\"], \"properties\": {"
    "  \"dtype\": {\"type\": \"string\", \"example\": \"float32\"},"
    "  \"shape\": {\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": 0}},"
    "  \"data\": {\"type\": \"string\", \"format\": \"byte\","
    "   \"description\": \"the elements in C order, little endian, base64\"}}},"
    "\"Request\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {"
    "  \"data\": {\"type\": \"array\", \"nullable\": true, \"items\": {\"oneOf\": ["
    "   {\"$ref\": \"#/components/schemas/Document\"}, {\"type\": \"string\"}]},"
    "   \"description\": \"documents, or strings (each the text of a document)\","
    "   \"example\": [{\"text\": \"hello\", \"tags\": {\"n\": 1}}, \"world\"]},"
    "  \"parameters\": {\"type\": \"object\", \"nullable\": true, \"additionalProperties\": true,"
    "   \"example\": {\"top_k\": 3}},"
    "  \"request_id\": {\"type\": \"string\", \"maxLength\": 256,"
    "   \"description\": \"generated when absent\"}}},"
    "\"PostRequest\": {\"allOf\": [{\"$ref\": \"#/components/schemas/Request\"},"
    "  {\"type\": \"object\", \"required\": [\"exec_endpoint\"], \"properties\": {"
    "   \"exec_endpoint\": {\"type\": \"string\", \"example\": \"/index\","
    "    \"description\": \"also spelt execEndpoint\"}}}]},"
    "\"Status\": {\"type\": \"object\", \"properties\": {"
    "  \"code\": {\"type\": \"integer\", \"enum\": [0, 3], \"description\": \"0 success, 3 error\"},"
    "  \"description\": {\"type\": \"string\"},"
    "  \"exception\": {\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"},"
    "   \"args\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
    "   \"stacks\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
    "   \"executor\": {\"type\": \"string\"}}}}},"
    "\"Route\": {\"type\": \"object\", \"properties\": {"
    "  \"pod\": {\"type\": \"string\"}, \"podId\": {\"type\": \"string\"},"
    "  \"startTime\": {\"type\": \"string\", \"format\": \"date-time\"},"
    "  \"endTime\": {\"type\": \"string\", \"format\": \"date-time\"},"
    "  \"status\": {\"$ref\": \"#/components/schemas/Status\"}}},"
    "\"Response\": {\"type\": \"object\", \"properties\": {"
    "  \"requestId\": {\"type\": \"string\"},"
    "  \"data\": {\"type\": \"object\", \"properties\": {"
    "   \"docs\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/Document\"}},"
    "   \"groundtruths\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/Document\"}}}},"
    "  \"header\": {\"type\": \"object\", \"properties\": {\"execEndpoint\": {\"type\": \"string\"},"
    "   \"targetPeapod\": {\"type\": \"string\"}, \"noPropagate\": {\"type\": \"boolean\"}}},"
    "  \"parameters\": {\"type\": \"object\", \"additionalProperties\": true},"
    "  \"routes\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/Route\"}},"
    "  \"status\": {\"$ref\": \"#/components/schemas/Status\"}}},"
    "\"Error\": {\"type\": \"object\", \"required\": [\"detail\"], \"properties\": {"
    "  \"detail\": {\"type\": \"string\", \"description\": \"what is wrong, and where\"},"
    "  \"line\": {\"type\": \"integer\"}, \"column\": {\"type\": \"integer\"}}}"
    "}";

static json_t *ref(const char *schema)
{
    char r[128];
    snprintf(r, sizeof r, "#/components/schemas/%s", schema);
    return json_pack("{s:{s:{s:{s:s}}}}", "content", "application/json", "schema", "$ref", r);
}

static json_t *error_response(const char *description)
{
    json_t *r = ref("Error");
    if (r && json_object_set_new(r, "description", json_string(description)) != 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* One operation that posts REQUEST_SCHEMA and answers a Response. */
static json_t *operation(const char *summary, const char *request_schema, const char *op_id)
{
    json_t *body = ref(request_schema), *ok = ref("Response");
    if (body)
        json_object_set_new(body, "required", json_boolean(strcmp(request_schema, "PostRequest") == 0));
    if (ok)
        json_object_set_new(ok, "description",
                            json_string("the reply; an executor's error is in status (code 3)"));
    return json_pack("{s:s, s:s, s:o, s:{s:o, s:o, s:o, s:o, s:o}}", "summary", summary,
                     "operationId", op_id, "requestBody", body, "responses", "200", ok, "400",
                     error_response("bad JSON (with its line and column) or wrong types"),
                     "413", error_response("over max_message_size"), "503",
                     error_response("the flow is full (no_wait) or draining; see Retry-After"),
                     "504", error_response("past the request's timeout"));
}

static json_t *get_operation(const char *summary, const char *type)
{
    return json_pack("{s:s, s:{s:{s:s, s:{s:{}}}}}", "summary", summary, "responses", "200",
                     "description", "OK", "content", type);
}

/* The operations of endpoint PATH: POST, and Jina's own method for the CRUD ones. */
static json_t *endpoint_item(const char *path)
{
    char summary[FH_REST_MAX_ENDPOINT + 64], op[FH_REST_MAX_ENDPOINT + 16];
    snprintf(summary, sizeof summary, "Post a request to the endpoint %s", path);
    json_t *item = json_object();
    const char *jina;
    allowed(path, &jina);
    const char *methods[2] = {"post", strcmp(jina, "PUT") == 0      ? "put"
                                      : strcmp(jina, "DELETE") == 0 ? "delete"
                                                                    : NULL};
    for (size_t i = 0; item && i < 2 && methods[i]; i++) {
        snprintf(op, sizeof op, "%s_%s", methods[i], path + 1);
        json_t *o = operation(summary, "Request", op);
        if (o == NULL || json_object_set_new(item, methods[i], o) != 0) {
            json_decref(item);
            return NULL;
        }
    }
    return item;
}

static json_t *openapi_tree(const fh_rest_endpoints *e, const char *title)
{
    json_error_t je;
    json_t *schemas = json_loads(schemas_json, 0, &je);
    json_t *paths = json_object();
    json_t *post = json_pack("{s:o}", "post",
                             operation("Post a request to the endpoint exec_endpoint names",
                                       "PostRequest", "post"));
    bool ok = schemas && paths && post && json_object_set_new(paths, "/post", post) == 0;
    for (size_t i = 0; ok && e && i < e->n; i++)
        ok = json_object_set_new(paths, e->paths[i], endpoint_item(e->paths[i])) == 0;
    ok = ok &&
         json_object_set_new(paths, "/openapi.json",
                             json_pack("{s:o}", "get",
                                       get_operation("This description", "application/json"))) == 0 &&
         json_object_set_new(paths, "/docs",
                             json_pack("{s:o}", "get",
                                       get_operation("This description as a page", "text/html"))) == 0;
    if (!ok) {
        json_decref(schemas);
        json_decref(paths);
        return NULL;
    }
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:o}}", "openapi", "3.0.3", "info",
                     "title", title ? title : "flowhost", "version", "1", "description",
                     "Jina 2's REST API on a flowhost flow: post documents and parameters to "
                     "an endpoint, get the reply with its documents, routes and status.",
                     "paths", paths, "components", "schemas", schemas);
}

char *fh_rest_openapi(const fh_rest_endpoints *e, const char *title)
{
    json_t *o = openapi_tree(e, title);
    char *text = o ? fh_jansson_dumps(o) : NULL;
    json_decref(o);
    if (text == NULL)
        fh_set_error(FH_E_NOMEM, "out of memory writing the OpenAPI description");
    return text;
}

/* ---- the page ----------------------------------------------------------------------- */

/* A growing string; OOM sticks, so that callers check once at the end. */
typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *grown = realloc(b->s, cap);
        if (grown == NULL) {
            b->oom = true;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void puts_raw(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* S with &, <, >, " and ' escaped. */
static void puts_html(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': puts_raw(b, "&amp;"); break;
        case '<': puts_raw(b, "&lt;"); break;
        case '>': puts_raw(b, "&gt;"); break;
        case '"': puts_raw(b, "&quot;"); break;
        case '\'': puts_raw(b, "&#39;"); break;
        default: put(b, s, 1);
        }
    }
}

static void row(sbuf *b, const char *methods, const char *path, const char *what)
{
    puts_raw(b, "<tr><td class=m>");
    puts_html(b, methods);
    puts_raw(b, "</td><td><code>");
    puts_html(b, path);
    puts_raw(b, "</code></td><td>");
    puts_html(b, what);
    puts_raw(b, "</td></tr>\n");
}

char *fh_rest_docs_html(const fh_rest_endpoints *e, const char *title)
{
    const char *t = title ? title : "flowhost";
    sbuf b = {0};
    puts_raw(&b, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>");
    puts_html(&b, t);
    puts_raw(&b, " — REST API</title>\n<style>body{font:15px/1.5 system-ui,sans-serif;"
                 "max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
                 "table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px "
                 "solid #ddd;text-align:left;vertical-align:top}.m{font-weight:600}"
                 "pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:13px}</style>"
                 "</head><body>\n<h1>");
    puts_html(&b, t);
    puts_raw(&b, " — REST API</h1>\n<p>Jina 2's REST shape: post <code>{\"data\": [...], "
                 "\"parameters\": {...}}</code> to an endpoint, or to <code>/post</code> with "
                 "<code>\"exec_endpoint\"</code>. The machine-readable description is "
                 "<a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3).</p>\n"
                 "<h2>Paths</h2>\n<table><tr><th>method</th><th>path</th><th>what</th></tr>\n");
    row(&b, "POST", "/post", "a request to the endpoint the body's exec_endpoint names");
    for (size_t i = 0; e && i < e->n; i++) {
        const char *jina;
        const char *methods = allowed(e->paths[i], &jina);
        char what[FH_REST_MAX_ENDPOINT + 64];
        snprintf(what, sizeof what, "a request to the endpoint %s", e->paths[i]);
        row(&b, methods, e->paths[i], what);
    }
    row(&b, "GET", "/openapi.json", "this description, as OpenAPI 3 JSON");
    row(&b, "GET", "/docs", "this page");
    puts_raw(&b, "</table>\n<h2>Schemas</h2>\n");
    json_error_t je;
    json_t *schemas = json_loads(schemas_json, 0, &je);
    const char *name;
    json_t *schema;
    json_object_foreach (schemas, name, schema) {
        char *text = json_dumps(schema, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts_raw(&b, "<h3 id=\"");
        puts_html(&b, name);
        puts_raw(&b, "\">");
        puts_html(&b, name);
        puts_raw(&b, "</h3>\n<pre>");
        if (text)
            puts_html(&b, text);
        else
            b.oom = true;
        puts_raw(&b, "</pre>\n");
        free(text);
    }
    b.oom |= schemas == NULL;
    json_decref(schemas);
    puts_raw(&b, "</body></html>\n");
    if (b.oom) {
        free(b.s);
        fh_set_error(FH_E_NOMEM, "out of memory writing the REST API page");
        return NULL;
    }
    return b.s;
}

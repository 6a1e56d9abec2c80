/* The Flow IO examples through the C API (fh_flow), against the real binary and plugins.
 * Prints "ok - ..." per check and "N passed, M failed" at the end; exit 1 on a failure.
 * Usage: fh_flow_api FLOWS_DIR   (FLOWHOST_BIN and FLOWHOST_PLUGIN_PATH set) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/flowhost.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (cond) {                                                                      \
            passed++;                                                                    \
            printf("ok - " __VA_ARGS__);                                                 \
        } else {                                                                         \
            failed++;                                                                    \
            printf("FAIL - " __VA_ARGS__);                                               \
            printf("   (%s:%d: %s; last error: %s)", __FILE__, __LINE__, #cond, fh_last_error()); \
        }                                                                                \
        printf("\n");                                                                    \
    } while (0)

static fh_doc *doc(const char *text)
{
    fh_doc *d = fh_doc_new();
    fh_doc_set_text(d, text);
    return d;
}

/* The tags of the report document of EXECUTOR in RESP (examples.so appends one). */
static const fh_value *report_of(const fh_response *resp, const char *executor)
{
    const fh_docs *docs = fh_response_docs(resp);
    for (size_t i = 0; docs && i < fh_docs_len(docs); i++) {
        const fh_value *tags = fh_doc_tags_get(fh_docs_at(docs, i));
        const char *name = fh_map_get_string(tags, "executor", NULL);
        if (name && strcmp(name, executor) == 0)
            return tags;
    }
    return NULL;
}

/* A generator: COUNT documents, counting how far it ran ahead of the responses. */
typedef struct gen {
    int next, count, answered, max_ahead;
} gen;

static int gen_next(void *user, fh_doc **out)
{
    gen *g = user;
    if (g->next >= g->count)
        return 0;
    char text[32];
    snprintf(text, sizeof text, "hello %d", g->next++);
    *out = doc(text);
    if (g->next - g->answered > g->max_ahead)
        g->max_ahead = g->next - g->answered;
    return 1;
}

static int gen_answered(const fh_response *r, void *user)
{
    gen *g = user;
    g->answered += (int)fh_docs_len(fh_response_docs(r));
    return 0;
}

typedef struct counts {
    int done, error, always, order_ok;
} counts;

static int on_done(const fh_response *r, void *u) { (void)r; ((counts *)u)->done++; return 0; }
static int on_error(const fh_response *r, void *u) { (void)r; ((counts *)u)->error++; return 0; }
static int on_always(const fh_response *r, void *u)
{
    (void)r;
    counts *c = u;
    c->always++;
    c->order_ok += c->always == c->done + c->error; /* always comes after done or error */
    return 0;
}
static int failing(const fh_response *r, void *u) { (void)r; (void)u; return 1; }

static void test_not_started(void)
{
    fh_flow *f;
    fh_flow_new(NULL, &f);
    int rc = fh_flow_post(f, "/", NULL, NULL);
    CHECK(rc == FH_E_STATE && strstr(fh_last_error(), "not started"),
          "posting to a flow that is not started is an error, not a crash");
    fh_flow_destroy(&f);
}

static void test_env(void)
{
    fh_flow *f;
    fh_value *env = fh_value_new_map();
    fh_map_set_string(env, "MY_ENV", "MY_ENV_VALUE");
    fh_flow_new(NULL, &f);
    fh_flow_add(f, &(fh_executor_options){.name = "with-env", .uses = "EnvReader", .env = env});
    fh_flow_add(f, &(fh_executor_options){.name = "without-env", .uses = "EnvReader"});
    fh_value_destroy(&env);
    CHECK(fh_flow_start(f) == 0, "Flow().add(env=...) starts");
    fh_responses *res = NULL;
    fh_post_options o;
    fh_post_options_init(&o);
    o.results = &res;
    CHECK(fh_flow_post(f, "/foo", NULL, &o) == 0 && fh_responses_len(res) == 1, "post /foo");
    const fh_response *r = fh_responses_at(res, 0);
    CHECK(r && strcmp(fh_map_get_string(report_of(r, "with-env"), "MY_ENV", "?"), "MY_ENV_VALUE") == 0,
          "the executor given env sees MY_ENV_VALUE");
    CHECK(r && fh_value_type(fh_map_get(report_of(r, "without-env"), "MY_ENV")) == FH_TYPE_NULL,
          "the other one does not");
    fh_responses_destroy(&res);
    CHECK(fh_flow_close(f) == 0, "close stops the flow cleanly");
    CHECK(fh_flow_post(f, "/foo", NULL, NULL) == FH_E_STATE, "a closed flow refuses posts");
    fh_flow_destroy(&f);
}

static void test_inputs(void)
{
    fh_value *with = fh_value_new_map();
    fh_map_set_int(with, "prefetch", 2);
    fh_flow *f;
    fh_flow_new(with, &f);
    fh_value_destroy(&with);
    fh_flow_add(f, &(fh_executor_options){.name = "echo", .uses = "Echo"});
    CHECK(fh_flow_start(f) == 0, "Flow(prefetch=2).add(uses=Echo) starts");
    fh_post_options o;
    fh_post_options_init(&o);
    fh_responses *res = NULL;
    o.results = &res;

    fh_docs *one = fh_docs_new();
    fh_docs_append(one, doc("hello"));
    CHECK(fh_flow_post(f, "/", one, &o) == 0 && fh_responses_len(res) == 1 &&
              fh_docs_len(fh_response_docs(fh_responses_at(res, 0))) == 1,
          "a single document");
    fh_responses_destroy(&res);

    fh_docs_append(one, doc("world"));
    CHECK(fh_flow_post(f, "/", one, &o) == 0 && fh_responses_len(res) == 1 &&
              strcmp(fh_doc_text(fh_docs_at(fh_response_docs(fh_responses_at(res, 0)), 1)), "world") == 0,
          "a list of documents, in order");
    fh_responses_destroy(&res);
    fh_docs_destroy(&one);

    CHECK(fh_flow_post(f, "/", NULL, &o) == 0 && fh_responses_len(res) == 1 &&
              fh_docs_len(fh_response_docs(fh_responses_at(res, 0))) == 0,
          "nothing: one request without documents");
    fh_responses_destroy(&res);

    gen g = {.count = 100};
    o.request_size = 10;
    o.prefetch = 2;
    o.on_always = gen_answered;
    o.user = &g;
    CHECK(fh_flow_post_input(f, "/", gen_next, &g, &o) == 0 && fh_responses_len(res) == 10,
          "a generator of 100 with request_size 10: 10 responses (return_results)");
    size_t total = 0;
    for (size_t i = 0; i < fh_responses_len(res); i++)
        total += fh_docs_len(fh_response_docs(fh_responses_at(res, i)));
    CHECK(total == 100 && g.answered == 100, "every document came back");
    CHECK(g.max_ahead <= 20, "the generator was pulled only when there was room (%d ahead, prefetch 2 x 10)",
          g.max_ahead);
    fh_responses_destroy(&res);

    /* Callbacks: on_done / on_error, then on_always; a failing callback stops the post
     * unless continue_on_error. */
    counts c = {0};
    fh_post_options_init(&o);
    o.on_done = on_done;
    o.on_error = on_error;
    o.on_always = on_always;
    o.user = &c;
    o.request_size = 1;
    fh_docs *three = fh_docs_new();
    for (int i = 0; i < 3; i++)
        fh_docs_append(three, doc("x"));
    CHECK(fh_flow_post(f, "/", three, &o) == 0 && c.done == 3 && c.error == 0 && c.always == 3 &&
              c.order_ok == 3,
          "on_done then on_always, once per response");
    o.on_done = failing;
    CHECK(fh_flow_post(f, "/", three, &o) == FH_E_STATE, "a failing callback stops the post");
    o.continue_on_error = true;
    c.always = c.done = c.error = 0;
    CHECK(fh_flow_post(f, "/", three, &o) == 0 && c.always == 3,
          "continue_on_error: the post goes on");
    fh_docs_destroy(&three);
    CHECK(fh_flow_index(f, NULL, NULL) == 0 && fh_flow_search(f, NULL, NULL) == 0 &&
              fh_flow_update(f, NULL, NULL) == 0 && fh_flow_delete(f, NULL, NULL) == 0,
          "index, search, update, delete");
    fh_flow_destroy(&f);
}

static void test_yaml_and_params(const char *flows)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/params.yml", flows);
    fh_flow *f;
    CHECK(fh_flow_load(path, &f) == 0 && fh_flow_start(f) == 0, "a flow from YAML starts");
    fh_value *params = NULL;
    const char *json = "{\"param\": 5, \"my-executor-1\": {\"param\": 10}}";
    fh_value_from_json(json, strlen(json), &params);
    fh_responses *res = NULL;
    fh_post_options o;
    fh_post_options_init(&o);
    o.parameters = params;
    o.results = &res;
    CHECK(fh_flow_post(f, "/endpoint", NULL, &o) == 0 && fh_responses_len(res) == 1, "post");
    const fh_response *r = fh_responses_at(res, 0);
    CHECK(r && fh_map_get_int(report_of(r, "my-executor-1"), "param", -1) == 10,
          "my-executor-1 sees 10");
    CHECK(r && fh_map_get_int(report_of(r, "my-executor-2"), "param", -1) == 5,
          "my-executor-2 sees 5");
    fh_responses_destroy(&res);
    fh_value_destroy(&params);
    fh_flow_destroy(&f);

    /* The same flow built in code: uses a type, uses_metas naming the instances. */
    fh_flow_new(NULL, &f);
    for (int i = 1; i <= 2; i++) {
        fh_value *metas = fh_value_new_map();
        char name[32];
        snprintf(name, sizeof name, "my-executor-%d", i);
        fh_map_set_string(metas, "name", name);
        fh_flow_add(f, &(fh_executor_options){.uses = "MyExecutor", .uses_metas = metas});
        fh_value_destroy(&metas);
    }
    fh_value_from_json("{\"param\": 5, \"my-executor-1\": {\"param\": 10}}", 44, &params);
    o.parameters = params;
    CHECK(fh_flow_start(f) == 0 && fh_flow_post(f, "/endpoint", NULL, &o) == 0 &&
              fh_response_status(fh_responses_at(res, 0)) == FH_RESPONSE_SUCCESS,
          "built in code with uses_metas: the executors' own checks pass");
    fh_responses_destroy(&res);
    fh_value_destroy(&params);
    fh_flow_destroy(&f);
}

static void test_start_failure(void)
{
    fh_flow *f;
    fh_value *with = fh_value_new_map();
    fh_map_set_bool(with, "fail_init", true);
    fh_flow_new(NULL, &f);
    fh_flow_add(f, &(fh_executor_options){.name = "refuser", .uses = "Fail", .uses_with = with});
    fh_value_destroy(&with);
    int rc = fh_flow_start(f);
    CHECK(rc != 0 && strstr(fh_last_error(), "refuser") && strstr(fh_last_error(), "fail_init"),
          "a failing init: start fails naming the executor and why");
    CHECK(fh_flow_address(f) == NULL, "and the flow is not started");
    CHECK(fh_flow_add(f, &(fh_executor_options){.uses = "./no-such.so"}) == FH_E_NOTFOUND,
          "adding a .so that does not exist is an error");
    fh_flow_destroy(&f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fh_flow_api FLOWS_DIR\n");
        return 2;
    }
    test_not_started();
    test_env();
    test_inputs();
    test_yaml_and_params(argv[1]);
    test_start_failure();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

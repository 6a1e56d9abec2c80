/* The executors of the Flow IO examples, several types in one plugin.
 *
 * Each one reports what it saw by appending a document to the request, so that a client
 * (and a test) can check it; a doc-example assertion that fails becomes a request error,
 * as an exception would in Jina. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/executor.h>

/* Appends a report document: text REPORT, tags {executor: name}. Returns its tags. */
static fh_value *report(fh_ctx *ctx, fh_docs *docs, const char *text)
{
    fh_doc *d = fh_doc_new();
    if (d == NULL || fh_doc_set_text(d, text) != 0 ||
        fh_map_set_string(fh_doc_tags(d), "executor", fh_ctx_executor(ctx)) != 0) {
        fh_doc_destroy(&d);
        return NULL;
    }
    fh_value *tags = fh_doc_tags(d);
    return fh_docs_append(docs, d) == 0 ? tags : NULL;
}

/* --- MyExecutor: default_param, and parameters scoped by metas.name ------------------- */

typedef struct my_executor {
    int64_t default_param;
} my_executor;

static int my_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    (void)metas;
    const fh_value *dp = fh_map_get(with, "default_param");
    if (dp != NULL && fh_value_type(dp) != FH_TYPE_INT)
        return fh_ctx_fail(ctx, "default_param must be an int, not %s",
                           fh_type_name(fh_value_type(dp)));
    my_executor *x = malloc(sizeof *x);
    if (x == NULL)
        return fh_ctx_fail(ctx, "out of memory");
    x->default_param = fh_value_int(dp, 1);
    *state = x;
    return 0;
}

static void my_fini(void *state) { free(state); }

static int my_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    my_executor *x = fh_ctx_state(ctx);
    const fh_value *p = fh_map_get(params, "param");
    int64_t param = fh_value_int(p, x->default_param);
    if (p != NULL && fh_value_type(p) != FH_TYPE_INT)
        return fh_ctx_fail(ctx, "param must be an int, not %s", fh_type_name(fh_value_type(p)));
    /* The assertions of the docs' example. */
    const char *name = fh_ctx_executor(ctx);
    if (strcmp(name, "my-executor-1") == 0 && p != NULL && param != 10)
        return fh_ctx_fail(ctx, "expected param 10, got %lld", (long long)param);
    if (strcmp(name, "my-executor-2") == 0 && p != NULL && param != 5)
        return fh_ctx_fail(ctx, "expected param 5, got %lld", (long long)param);
    fh_value *tags = report(ctx, docs, "MyExecutor");
    if (tags == NULL || fh_map_set_int(tags, "param", param) != 0)
        return fh_ctx_fail(ctx, "out of memory");
    return 0;
}

FH_EXECUTOR(MyExecutor, my_init, my_fini, FH_REQUESTS(my_foo));

/* --- Animals: an int parameter indexes a list, no cast --------------------------------- */

static int animals_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    static const char *const animals[] = {"cat", "dog", "turtle"};
    const fh_value *index = fh_map_get(params, "index");
    if (index != NULL && fh_value_type(index) != FH_TYPE_INT)
        return fh_ctx_fail(ctx, "list indices must be integers, not %s",
                           fh_type_name(fh_value_type(index)));
    int64_t i = fh_value_int(index, 0);
    if (i < 0 || i > 2)
        return fh_ctx_fail(ctx, "index %lld out of range", (long long)i);
    fh_value *tags = report(ctx, docs, animals[i]);
    if (tags == NULL || fh_map_set_int(tags, "index", i) != 0)
        return fh_ctx_fail(ctx, "out of memory");
    return 0;
}

FH_EXECUTOR(Animals, NULL, NULL, FH_REQUESTS(animals_foo));

/* --- EnvReader: what MY_ENV is in this executor's process ------------------------------ */

static int env_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    const char *v = getenv("MY_ENV");
    printf("MY_ENV -> %s\n", v ? v : "None"); /* as in the docs; a worker's stdout is stderr */
    fflush(stdout);
    fh_value *tags = report(ctx, docs, "EnvReader");
    if (tags == NULL ||
        fh_map_set(tags, "MY_ENV", v ? fh_value_new_string(v) : fh_value_new_null()) != 0)
        return fh_ctx_fail(ctx, "out of memory");
    return 0;
}

FH_EXECUTOR(EnvReader, NULL, NULL, FH_REQUESTS(env_foo));

/* --- ParamsReporter: parameters['hello'], and every parameter it saw ------------------- */

static int params_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    const char *hello = fh_map_get_string(params, "hello", NULL);
    fh_ctx_log(ctx, FH_LOG_INFO, "hello -> %s", hello ? hello : "(not set)");
    fh_value *tags = report(ctx, docs, "ParamsReporter");
    fh_value *copy = fh_value_copy(params);
    if (tags == NULL || copy == NULL || fh_map_set(tags, "parameters", copy) != 0 ||
        fh_map_set_int(tags, "docs_seen", (int64_t)fh_docs_len(docs) - 1) != 0)
        return fh_ctx_fail(ctx, "out of memory");
    return 0;
}

FH_EXECUTOR(ParamsReporter, NULL, NULL, FH_REQUESTS(params_foo));

FH_PLUGIN(MyExecutor, Animals, EnvReader, ParamsReporter);

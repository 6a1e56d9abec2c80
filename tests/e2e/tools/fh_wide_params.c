/* Posts requests whose parameters are wide: {"param": 5, "my-executor-1": {"param": 10,
 * "k0": 0, ..., "k<N-1>": N-1}, "r0": 0, ..., "r<N-1>": N-1}, so that the worker of
 * my-executor-1 merges N scoped keys over a root of N keys (flows/params.yml). The map is
 * put together straight from the protobuf structs (one pass, no lookups), so that the
 * time a run takes is the flow's, whatever the SDK's maps cost.
 * Prints one line per response: "SUCCESS my-executor-1=10 my-executor-2=5", or
 * "ERROR <executor>: <description>".
 * Usage: fh_wide_params ADDRESS N REQUESTS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb.h"
#include <flowhost/flowhost.h>

/* A map value of N entries PREFIX<i> = i (and param = PARAM first): N + 1 entries. */
static fh_value *wide_map(const char *prefix, size_t n, int64_t param)
{
    fh_value *map = fh_value_new_map();
    Flowhost__MapValue *m = FH_PB_VALUE(map)->map_value;
    m->entries = calloc(n + 2, sizeof *m->entries);
    if (m->entries == NULL)
        exit(2);
    for (size_t i = 0; i <= n; i++) {
        Flowhost__MapEntry *e = malloc(sizeof *e);
        char key[32];
        if (i == 0)
            snprintf(key, sizeof key, "param");
        else
            snprintf(key, sizeof key, "%s%zu", prefix, i - 1);
        fh_value *v = fh_value_new_int(i == 0 ? param : (int64_t)(i - 1));
        if (e == NULL || v == NULL)
            exit(2);
        flowhost__map_entry__init(e);
        e->key = strdup(key);
        e->value = FH_PB_VALUE(v);
        if (e->key == NULL)
            exit(2);
        m->entries[m->n_entries++] = e;
    }
    return map;
}

static int on_response(const fh_response *resp, void *user)
{
    (void)user;
    if (fh_response_status(resp) != FH_RESPONSE_SUCCESS) {
        printf("ERROR %s: %s\n", fh_response_error_executor(resp),
               fh_response_error_description(resp));
        return 0;
    }
    printf("SUCCESS");
    const fh_docs *docs = fh_response_docs(resp);
    for (size_t i = 0; docs && i < fh_docs_len(docs); i++) {
        const fh_value *tags = fh_doc_tags_get(fh_docs_at(docs, i));
        const char *name = fh_map_get_string(tags, "executor", NULL);
        if (name)
            printf(" %s=%lld", name, (long long)fh_map_get_int(tags, "param", -1));
    }
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fh_wide_params ADDRESS N REQUESTS\n");
        return 2;
    }
    size_t n = strtoul(argv[2], NULL, 10);
    int requests = atoi(argv[3]);
    fh_value *params = wide_map("r", n, 5);
    Flowhost__MapValue *m = FH_PB_VALUE(params)->map_value;
    Flowhost__MapEntry *own = malloc(sizeof *own);
    if (own == NULL)
        return 2;
    flowhost__map_entry__init(own);
    own->key = strdup("my-executor-1");
    own->value = FH_PB_VALUE(wide_map("k", n, 10));
    m->entries[m->n_entries++] = own;

    fh_client *c = NULL;
    if (fh_client_new(argv[1], &c) != 0) {
        fprintf(stderr, "fh_wide_params: %s\n", fh_last_error());
        return 1;
    }
    fh_post_options o;
    fh_post_options_init(&o);
    o.parameters = params;
    o.on_always = on_response;
    int rc = 0;
    for (int r = 0; r < requests && rc == 0; r++) {
        fh_docs *docs = fh_docs_new();
        rc = docs ? fh_client_post(c, "/foo", docs, &o) : FH_E_NOMEM;
        fh_docs_destroy(&docs);
    }
    if (rc != 0)
        fprintf(stderr, "fh_wide_params: %s\n", fh_last_error());
    fh_client_destroy(&c);
    fh_value_destroy(&params);
    return rc == 0 ? 0 : 1;
}

/* Unit tests of the flow YAML loader (host/flow_config.c, host/flow_yaml.c).
 * Fixtures are under $FH_TEST_DATA/flows. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <flowhost/error.h>
#include <flowhost/value.h>

#include "flow_config.h"
#include "flow_yaml.h"
#include "util.h"

#define HDR "jtype: Flow\nversion: '1'\n"

static char flows_dir[PATH_MAX]; /* absolute $FH_TEST_DATA/flows */

static int setup_all(void **state)
{
    (void)state;
    const char *data = getenv("FH_TEST_DATA");
    if (!data) {
        fprintf(stderr, "FH_TEST_DATA is not set (it points to tests/data)\n");
        return -1;
    }
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/flows", data);
    if (!realpath(buf, flows_dir)) {
        fprintf(stderr, "%s: not found\n", buf);
        return -1;
    }
    return 0;
}

static void data_path(char *out, size_t size, const char *rel)
{
    int n = snprintf(out, size, "%s/%s", flows_dir, rel);
    assert_true(n > 0 && (size_t)n < size);
}

#define assert_contains(hay, needle)                                                 \
    do {                                                                             \
        const char *h_ = (hay);                                                      \
        if (!h_ || !strstr(h_, (needle)))                                            \
            fail_msg("message \"%s\" does not contain \"%s\"", h_ ? h_ : "(null)",   \
                     (needle));                                                      \
    } while (0)

/* Parses YAML (relative paths from the fixtures folder) and expects success. */
static fh_flow_config *parse_ok(const char *yaml)
{
    fh_flow_config *c = NULL;
    int rc = fh_flow_config_parse(yaml, strlen(yaml), "t.yml", flows_dir, &c);
    if (rc != 0)
        fail_msg("parse failed (%d): %s", rc, fh_last_error());
    assert_non_null(c);
    return c;
}

/* Parses YAML and expects the error CODE; returns the message. */
static const char *parse_fail(const char *yaml, int code)
{
    fh_flow_config *c = NULL;
    int rc = fh_flow_config_parse(yaml, strlen(yaml), "t.yml", flows_dir, &c);
    if (rc != code)
        fail_msg("expected %s, got %s (%d): %s", fh_err_name(code), fh_err_name(rc), rc,
                 rc ? fh_last_error() : "");
    assert_null(c);
    return fh_last_error();
}

static void assert_path(const char *got, const char *rel)
{
    char want[PATH_MAX];
    data_path(want, sizeof want, rel);
    assert_non_null(got);
    assert_string_equal(got, want);
}

/* ---- the full flow -------------------------------------------------------------- */

static void test_full_flow(void **state)
{
    (void)state;
    char path[PATH_MAX];
    data_path(path, sizeof path, "full.yml");
    fh_flow_config *c = NULL;
    int rc = fh_flow_config_load(path, &c);
    if (rc != 0)
        fail_msg("%s", fh_last_error());

    assert_string_equal(c->path, path);
    assert_string_equal(c->dir, flows_dir);
    assert_int_equal(c->port, 12345);
    assert_string_equal(c->host, "0.0.0.0");
    assert_int_equal(c->prefetch, 4);
    assert_int_equal(c->timeout_ready_ms, -1);
    assert_path(c->workspace, "ws");
    assert_int_equal(c->n_plugin_path, 2);
    assert_path(c->plugin_path[0], "plugins");
    assert_string_equal(c->plugin_path[1], "/opt/fh/plugins");
    assert_int_equal(fh_value_len(c->env), 4);
    assert_string_equal(fh_map_get_string(c->env, "NUM", NULL), "5");
    assert_string_equal(fh_map_get_string(c->env, "FLAG", NULL), "true");

    assert_int_equal(c->n_executors, 5);

    /* 0: executor YAML file, merged with uses_* */
    fh_flow_executor *x = &c->executors[0];
    assert_string_equal(x->name, "enc_meta"); /* metas.name of uses beats `name` */
    assert_string_equal(x->type, "Encoder");
    assert_path(x->plugin, "fake.so");        /* ../fake.so from sub/ */
    assert_path(x->workspace, "sub/ws");      /* relative to the executor YAML */
    assert_string_equal(x->description, "overridden");
    const fh_value *w = x->uses_with;
    assert_int_equal(fh_value_len(w), 6);
    assert_int_equal(fh_value_type(fh_map_get(w, "dim")), FH_TYPE_INT);
    assert_int_equal(fh_map_get_int(w, "dim", 0), 128); /* uses_with wins */
    assert_string_equal(fh_map_get_string(w, "mode", NULL), "fast");
    assert_int_equal(fh_value_type(fh_map_get(w, "scale")), FH_TYPE_DOUBLE);
    assert_true(fh_map_get_double(w, "scale", 0) == 0.5);
    assert_int_equal(fh_value_type(fh_map_get(w, "label")), FH_TYPE_STRING);
    assert_string_equal(fh_map_get_string(w, "label", NULL), "42");
    const fh_value *tags = fh_map_get(w, "tags");
    assert_int_equal(fh_value_len(tags), 5);
    assert_int_equal(fh_value_type(fh_list_at(tags, 0)), FH_TYPE_INT);
    assert_int_equal(fh_value_type(fh_list_at(tags, 1)), FH_TYPE_STRING);
    assert_int_equal(fh_value_type(fh_list_at(tags, 2)), FH_TYPE_DOUBLE);
    assert_int_equal(fh_value_type(fh_list_at(tags, 3)), FH_TYPE_NULL);
    assert_int_equal(fh_value_type(fh_list_at(tags, 4)), FH_TYPE_BOOL);
    const fh_value *b = fh_map_get(fh_map_get(w, "nested"), "b");
    assert_string_equal(fh_map_get_string(b, "c", NULL), "x");
    /* uses_requests is merged into the file's requests by endpoint, as Jina's dict update */
    assert_true(x->has_requests);
    assert_int_equal(x->n_requests, 3);
    assert_string_equal(x->requests[0].endpoint, "/train");
    assert_string_equal(x->requests[0].handler, "train");
    assert_string_equal(x->requests[1].endpoint, "/index");
    assert_string_equal(x->requests[1].handler, "encode_index");
    assert_string_equal(x->requests[2].endpoint, "default");
    assert_string_equal(x->requests[2].handler, "encode_any");
    /* env: the flow's, then the executor's */
    assert_int_equal(fh_value_len(x->env), 5);
    assert_string_equal(fh_map_get_string(x->env, "FLOW_A", NULL), "flow");
    assert_string_equal(fh_map_get_string(x->env, "SHARED", NULL), "from-exec");
    assert_string_equal(fh_map_get_string(x->env, "EXTRA", NULL), "1");
    assert_string_equal(fh_map_get_string(c->env, "SHARED", NULL), "from-flow");
    assert_int_equal(x->timeout_ms, 2500);
    assert_int_equal(x->on_error, FH_ON_ERROR_IGNORE);
    assert_int_equal(x->line, 17);
    assert_int_equal(x->column, 5);

    /* 1: a plugin path */
    x = &c->executors[1];
    assert_string_equal(x->name, "plug");
    assert_path(x->plugin, "fake.so");
    assert_null(x->type);
    assert_false(x->has_requests);
    assert_int_equal(x->timeout_ms, -1);
    assert_int_equal(x->on_error, FH_ON_ERROR_SKIP);
    assert_string_equal(x->description, "");
    assert_null(x->workspace);
    assert_int_equal(fh_value_len(x->env), 4);

    /* 2: a type name */
    x = &c->executors[2];
    assert_string_equal(x->name, "MyIndexer");
    assert_string_equal(x->type, "MyIndexer");
    assert_null(x->plugin);
    assert_int_equal(fh_value_len(x->uses_with), 0);

    /* 3: inline executor YAML */
    x = &c->executors[3];
    assert_string_equal(x->name, "inline_meta");
    assert_string_equal(x->type, "InlineExec");
    assert_null(x->plugin);
    assert_string_equal(fh_map_get_string(x->uses_with, "k", NULL), "v");
    assert_int_equal(fh_map_get_int(x->uses_with, "n", 0), 2);
    assert_path(x->workspace, "iw");
    assert_true(x->has_requests);
    assert_int_equal(x->n_requests, 1);
    assert_string_equal(x->requests[0].endpoint, "/search");
    assert_string_equal(x->requests[0].handler, "do_search");

    /* 4: no uses: the pass-through */
    x = &c->executors[4];
    assert_string_equal(x->name, "executor4");
    assert_null(x->plugin);
    assert_null(x->type);
    assert_non_null(x->uses_with);
    assert_int_equal(fh_value_len(x->uses_with), 0);

    fh_flow_config_destroy(&c);
    assert_null(c);
    fh_flow_config_destroy(&c); /* NULL is fine */
    fh_flow_config_destroy(NULL);
}

static void test_defaults(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok(HDR "executors: []\n");
    assert_string_equal(c->path, "t.yml");
    assert_string_equal(c->dir, flows_dir);
    assert_int_equal(c->port, 0);
    assert_string_equal(c->host, "127.0.0.1");
    assert_int_equal(c->prefetch, 0);
    assert_int_equal(c->timeout_ready_ms, 60000);
    assert_int_equal(c->timeout_drain_ms, FH_FLOW_DEFAULT_TIMEOUT_DRAIN);
    assert_int_equal(c->timeout_drain_ms, 20000);
    assert_null(c->workspace);
    assert_int_equal(c->n_plugin_path, 0);
    assert_non_null(c->env);
    assert_int_equal(fh_value_len(c->env), 0);
    assert_int_equal(c->n_executors, 0);
    fh_flow_config_destroy(&c);

    /* version as an int; null `with:`; plugin_path as one string */
    c = parse_ok("jtype: Flow\nversion: 1\nwith:\nexecutors: []\n");
    fh_flow_config_destroy(&c);
    c = parse_ok(HDR "with: {plugin_path: ../flows/sub/.}\nexecutors: []\n");
    assert_int_equal(c->n_plugin_path, 1);
    assert_path(c->plugin_path[0], "sub");
    fh_flow_config_destroy(&c);
    /* timeout_drain: 0 answers what is left at once */
    c = parse_ok(HDR "with: {timeout_drain: 0}\nexecutors: []\n");
    assert_int_equal(c->timeout_drain_ms, 0);
    fh_flow_config_destroy(&c);
    c = parse_ok(HDR "with: {timeout_drain: 1500}\nexecutors: []\n");
    assert_int_equal(c->timeout_drain_ms, 1500);
    fh_flow_config_destroy(&c);
}

static void test_parse_relative_dir(void **state)
{
    (void)state;
    /* DIR relative to the working directory, NULL for the working directory */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    const char *yaml = HDR "with: {workspace: w}\nexecutors: []\n";
    fh_flow_config *c = NULL;
    assert_int_equal(fh_flow_config_parse(yaml, strlen(yaml), "x", NULL, &c), 0);
    char want[PATH_MAX + 8];
    snprintf(want, sizeof want, "%s/w", strcmp(cwd, "/") ? cwd : "");
    assert_string_equal(c->workspace, want);
    fh_flow_config_destroy(&c);
    assert_int_equal(fh_flow_config_parse(yaml, strlen(yaml), "x", "a/../b", &c), 0);
    snprintf(want, sizeof want, "%s/b/w", strcmp(cwd, "/") ? cwd : "");
    assert_string_equal(c->workspace, want);
    fh_flow_config_destroy(&c);
}

/* ---- uses forms, merge and names ---------------------------------------------- */

static void test_uses_forms(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok(HDR "executors:\n"
                                     "  - uses: ./fake.so\n"              /* plugin */
                                     "  - uses: sub/enc.yml\n"            /* file */
                                     "    name: e2\n"
                                     "  - uses: Indexer\n"                /* type */
                                     "  - uses: {jtype: Inline}\n"        /* inline */
                                     "  - name: pass\n"                   /* absent */
                                     "  - uses:\n"                        /* null */
                                     "  - uses: \"${FH_TEST_NOPE_UNSET:-}\"\n");
    assert_int_equal(c->n_executors, 7);
    assert_path(c->executors[0].plugin, "fake.so");
    assert_null(c->executors[0].type);
    assert_string_equal(c->executors[0].name, "executor0");
    assert_string_equal(c->executors[1].type, "Encoder");
    assert_path(c->executors[1].plugin, "fake.so");
    assert_string_equal(c->executors[1].name, "enc_meta");
    assert_true(c->executors[1].has_requests); /* the file's requests */
    assert_int_equal(c->executors[1].n_requests, 1);
    assert_string_equal(c->executors[1].requests[0].endpoint, "/train");
    assert_string_equal(c->executors[1].requests[0].handler, "train");
    assert_string_equal(c->executors[1].description, "from file");
    assert_int_equal(fh_map_get_int(c->executors[1].uses_with, "dim", 0), 64);
    assert_null(c->executors[2].plugin);
    assert_string_equal(c->executors[2].type, "Indexer");
    assert_string_equal(c->executors[3].type, "Inline");
    assert_string_equal(c->executors[3].name, "Inline");
    assert_null(c->executors[4].plugin);
    assert_null(c->executors[4].type);
    assert_string_equal(c->executors[4].name, "pass");
    assert_null(c->executors[5].type);
    assert_string_equal(c->executors[5].name, "executor5");
    assert_null(c->executors[6].type);
    fh_flow_config_destroy(&c);
}

static void test_metas_name_precedence(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok(
        HDR "executors:\n"
            "  - name: a\n"
            "    uses: {jtype: T, metas: {name: m, description: d, workspace: mw}}\n"
            "    uses_metas: {name: um, workspace: uw}\n"
            "  - name: b\n"
            "    uses: {jtype: T, metas: {name: m2}}\n"
            "  - name: c\n"
            "    uses: {jtype: T}\n"
            "  - uses: {jtype: T2}\n"
            "  - uses: T3\n"
            "    uses_metas: {description: only-desc}\n");
    assert_string_equal(c->executors[0].name, "um");
    assert_string_equal(c->executors[0].description, "d"); /* metas kept per field */
    assert_path(c->executors[0].workspace, "uw");           /* uses_metas wins */
    assert_string_equal(c->executors[1].name, "m2");
    assert_string_equal(c->executors[2].name, "c");
    assert_string_equal(c->executors[3].name, "T2");
    assert_string_equal(c->executors[4].name, "T3");
    assert_string_equal(c->executors[4].description, "only-desc");
    fh_flow_config_destroy(&c);
}

static void test_merge_with(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok(
        HDR "executors:\n"
            "  - uses:\n"
            "      jtype: T\n"
            "      with: {a: 1, b: {x: 1}, c: keep}\n"
            "      requests: {/a: fa, /b: fb}\n"
            "    uses_with: {a: 2.5, b: {y: 2}, d: 7}\n"
            "    uses_requests: {/z: fz, /b: fz2}\n");
    const fh_value *w = c->executors[0].uses_with;
    assert_int_equal(fh_value_len(w), 4);
    assert_int_equal(fh_value_type(fh_map_get(w, "a")), FH_TYPE_DOUBLE);
    /* shallow: b is replaced, not merged */
    assert_null(fh_map_get(fh_map_get(w, "b"), "x"));
    assert_int_equal(fh_map_get_int(fh_map_get(w, "b"), "y", 0), 2);
    assert_string_equal(fh_map_get_string(w, "c", NULL), "keep");
    assert_int_equal(fh_map_get_int(w, "d", 0), 7);
    /* requests merged by endpoint: /b takes the new handler in its place, /z follows */
    assert_int_equal(c->executors[0].n_requests, 3);
    assert_string_equal(c->executors[0].requests[0].endpoint, "/a");
    assert_string_equal(c->executors[0].requests[0].handler, "fa");
    assert_string_equal(c->executors[0].requests[1].endpoint, "/b");
    assert_string_equal(c->executors[0].requests[1].handler, "fz2");
    assert_string_equal(c->executors[0].requests[2].endpoint, "/z");
    assert_string_equal(c->executors[0].requests[2].handler, "fz");
    fh_flow_config_destroy(&c);
}

static void test_env_merge(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok(HDR "with:\n  env: {A: a, B: b, N: 007, F: false, E: ~}\n"
                                     "executors:\n"
                                     "  - env: {B: exec, C: 1.5}\n"
                                     "  - name: other\n");
    assert_string_equal(fh_map_get_string(c->env, "N", NULL), "7");
    assert_string_equal(fh_map_get_string(c->env, "F", NULL), "false");
    assert_string_equal(fh_map_get_string(c->env, "E", NULL), "");
    const fh_value *e = c->executors[0].env;
    assert_int_equal(fh_value_len(e), 6);
    assert_string_equal(fh_map_get_string(e, "A", NULL), "a");
    assert_string_equal(fh_map_get_string(e, "B", NULL), "exec");
    assert_string_equal(fh_map_get_string(e, "C", NULL), "1.5");
    assert_string_equal(fh_map_get_string(c->executors[1].env, "B", NULL), "b");
    assert_string_equal(fh_map_get_string(c->env, "B", NULL), "b");
    fh_flow_config_destroy(&c);

    const char *m = parse_fail(HDR "with:\n  env: {A: [1]}\nexecutors: []\n", FH_E_TYPE);
    assert_contains(m, "t.yml:4:12: env 'A' must be a scalar, not a list");
    m = parse_fail(HDR "with:\n  env: {A=B: 1}\nexecutors: []\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:9: 'A=B' is not a valid environment variable name");
}

static void test_env_vars(void **state)
{
    (void)state;
    setenv("FH_TEST_PORT", "7000", 1);
    setenv("FH_TEST_NAME", "from_env", 1);
    setenv("FH_TEST_EMPTY", "", 1);
    unsetenv("FH_TEST_UNSET");
    fh_flow_config *c = parse_ok(
        HDR "with:\n"
            "  port: ${FH_TEST_PORT}\n"
            "  host: ${FH_TEST_UNSET:-localhost}\n"
            "  env: {X: 'pre-${FH_TEST_NAME}-post'}\n"
            "executors:\n"
            "  - name: ${FH_TEST_NAME}\n"
            "    uses_with:\n"
            "      port: ${FH_TEST_PORT}\n"
            "      quoted: '${FH_TEST_PORT}'\n"
            "      price: $$5 and $HOME\n"
            "      empty: ${FH_TEST_EMPTY:-dflt}\n"
            "      nothing: ${FH_TEST_EMPTY}\n");
    assert_int_equal(c->port, 7000);
    assert_string_equal(c->host, "localhost");
    assert_string_equal(fh_map_get_string(c->env, "X", NULL), "pre-from_env-post");
    const fh_value *w = c->executors[0].uses_with;
    assert_string_equal(c->executors[0].name, "from_env");
    assert_int_equal(fh_value_type(fh_map_get(w, "port")), FH_TYPE_INT);
    assert_int_equal(fh_map_get_int(w, "port", 0), 7000);
    assert_int_equal(fh_value_type(fh_map_get(w, "quoted")), FH_TYPE_STRING);
    assert_string_equal(fh_map_get_string(w, "quoted", NULL), "7000");
    assert_string_equal(fh_map_get_string(w, "price", NULL), "$5 and $HOME");
    assert_string_equal(fh_map_get_string(w, "empty", NULL), "dflt");
    assert_int_equal(fh_value_type(fh_map_get(w, "nothing")), FH_TYPE_NULL);
    fh_flow_config_destroy(&c);

    const char *m = parse_fail(HDR "executors:\n  - uses_with:\n      a: x${FH_TEST_UNSET}\n",
                               FH_E_PARSE);
    assert_string_equal(m, "t.yml:5:10: environment variable 'FH_TEST_UNSET' is not set");
    m = parse_fail(HDR "executors:\n  - name: ${FH_TEST_UNSET\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:11: unterminated '${'");
    m = parse_fail(HDR "executors:\n  - name: ${1X}\n", FH_E_PARSE);
    assert_contains(m, "invalid environment variable name '1X'");
    setenv("FH_TEST_PORT", "http", 1);
    m = parse_fail(HDR "with: {port: '${FH_TEST_PORT}'}\nexecutors: []\n", FH_E_TYPE);
    assert_contains(m, "t.yml:3:14: 'port' must be an integer, not a string");
    unsetenv("FH_TEST_PORT");
    unsetenv("FH_TEST_NAME");
    unsetenv("FH_TEST_EMPTY");
}

/* ---- errors --------------------------------------------------------------------- */

static void test_missing_file(void **state)
{
    (void)state;
    char path[PATH_MAX], want[PATH_MAX + 40];
    data_path(path, sizeof path, "no-such-flow.yml");
    fh_flow_config *c = NULL;
    assert_int_equal(fh_flow_config_load(path, &c), FH_E_IO);
    assert_null(c);
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    assert_string_equal(fh_last_error(), want);

    /* an executor YAML that is not there, and one that is a folder */
    const char *m = parse_fail(HDR "executors:\n  - uses: nope.yml\n", FH_E_IO);
    assert_string_equal(m, "t.yml:4:11: executor YAML 'nope.yml': No such file or directory");
    m = parse_fail(HDR "executors:\n  - uses: folder.yml\n", FH_E_IO);
    assert_string_equal(m, "t.yml:4:11: executor YAML 'folder.yml': Is a directory");
}

static void test_syntax_error(void **state)
{
    (void)state;
    char path[PATH_MAX], want[PATH_MAX + 40];
    data_path(path, sizeof path, "bad_syntax.yml");
    fh_flow_config *c = NULL;
    assert_int_equal(fh_flow_config_load(path, &c), FH_E_PARSE);
    assert_null(c);
    snprintf(want, sizeof want, "%s:6:9: did not find expected ',' or ']'", path);
    assert_contains(fh_last_error(), want);

    const char *m = parse_fail("a: b: c\n", FH_E_PARSE);
    assert_contains(m, "t.yml:1:5: mapping values are not allowed in this context");
    m = parse_fail("a: 1\n---\nb: 2\n", FH_E_PARSE);
    assert_contains(m, "t.yml:2:1: only one YAML document is allowed");
    m = parse_fail("a: \"\\0\"\n", FH_E_PARSE);
    assert_contains(m, "t.yml:1:4: a scalar must not hold a NUL character");
    m = parse_fail("", FH_E_TYPE);
    assert_contains(m, "t.yml:1:1: a flow must be a mapping, not null");
    m = parse_fail("- a\n", FH_E_TYPE);
    assert_contains(m, "t.yml:1:1: a flow must be a mapping, not a list");
}

static void test_unknown_key(void **state)
{
    (void)state;
    char path[PATH_MAX], want[PATH_MAX + 100];
    data_path(path, sizeof path, "typo.yml");
    fh_flow_config *c = NULL;
    assert_int_equal(fh_flow_config_load(path, &c), FH_E_PARSE);
    snprintf(want, sizeof want,
             "%s:3:1: unknown key 'exectors' in flow (did you mean 'executors'?)", path);
    assert_string_equal(fh_last_error(), want);

    const char *m = parse_fail(HDR "with: {prot: 1}\nexecutors: []\n", FH_E_PARSE);
    assert_string_equal(m, "t.yml:3:8: unknown key 'prot' in with (did you mean 'port'?)");
    m = parse_fail(HDR "with: {zzzzzz: 1}\nexecutors: []\n", FH_E_PARSE);
    assert_string_equal(m, "t.yml:3:8: unknown key 'zzzzzz' in with (valid keys: port, "
                           "host, prefetch, env, timeout_ready, workspace, plugin_path, "
                           "max_message_size, max_inflight, timeout_drain, max_connections, "
                           "server_key, client_keys, port_expose, protocol, port_http, "
                           "restful, monitoring, ssl_certfile, ssl_keyfile, http_max_connections, "
                           "http_max_header_size, http_read_timeout, http_keep_alive, "
                           "http_timeout, gateway_key)");
    m = parse_fail(HDR "executors:\n  - name: a\n    use_with: {}\n", FH_E_PARSE);
    assert_contains(m, "t.yml:5:5: unknown key 'use_with' in executors[0] (did you mean "
                       "'uses_with'?)");
    m = parse_fail(HDR "executors:\n  - uses_metas: {nme: a}\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:18: unknown key 'nme' in executors[0].uses_metas (did you "
                       "mean 'name'?)");
    m = parse_fail(HDR "executors:\n  - uses: {jtype: T, metas: {py_module: [a.py]}}\n",
                   FH_E_PARSE);
    assert_contains(m, "unknown key 'py_module' in metas (valid keys: name, description, workspace, plugin)");
    m = parse_fail(HDR "executors:\n  - shards: 65\n", FH_E_RANGE);
    assert_contains(m, "t.yml:4:13: 'shards' must be between 1 and 64, not 65");
    m = parse_fail(HDR "executors:\n  - replicas: 0\n", FH_E_RANGE);
    assert_contains(m, "t.yml:4:15: 'replicas' must be between 1 and 64, not 0");
    m = parse_fail(HDR "executors:\n  - credit: 257\n", FH_E_RANGE);
    assert_contains(m, "t.yml:4:13: 'credit' must be between 1 and 256, not 257");

    /* in an executor YAML file: the message names that file */
    data_path(path, sizeof path, "uses_bad_exec.yml");
    assert_int_equal(fh_flow_config_load(path, &c), FH_E_PARSE);
    data_path(path, sizeof path, "sub/bad_exec.yml:2:1: unknown key 'metaz' in executor "
                                 "YAML (did you mean 'metas'?)");
    assert_string_equal(fh_last_error(), path);
}

static void test_wrong_type(void **state)
{
    (void)state;
    const char *m = parse_fail(HDR "with: {port: '80'}\nexecutors: []\n", FH_E_TYPE);
    assert_string_equal(m, "t.yml:3:14: 'port' must be an integer, not a string");
    m = parse_fail(HDR "with: {prefetch: 1.5}\nexecutors: []\n", FH_E_TYPE);
    assert_contains(m, "t.yml:3:18: 'prefetch' must be an integer, not a number");
    m = parse_fail(HDR "with: {host: [a]}\nexecutors: []\n", FH_E_TYPE);
    assert_contains(m, "'host' must be a string, not a list");
    m = parse_fail(HDR "with: [1]\nexecutors: []\n", FH_E_TYPE);
    assert_contains(m, "t.yml:3:7: 'with' must be a mapping, not a list");
    m = parse_fail(HDR "executors: {a: 1}\n", FH_E_TYPE);
    assert_contains(m, "t.yml:3:12: 'executors' must be a list, not a mapping");
    m = parse_fail(HDR "executors: [5]\n", FH_E_TYPE);
    assert_contains(m, "t.yml:3:13: executors[0] must be a mapping, not an integer");
    m = parse_fail(HDR "executors:\n  - name: true\n", FH_E_TYPE);
    assert_contains(m, "t.yml:4:11: 'name' must be a string, not a boolean");
    m = parse_fail(HDR "executors:\n  - uses_with: [1]\n", FH_E_TYPE);
    assert_contains(m, "'uses_with' must be a mapping, not a list");
    m = parse_fail(HDR "executors:\n  - uses: [a]\n", FH_E_TYPE);
    assert_contains(m, "'uses' must be a string or a mapping, not a list");
    m = parse_fail(HDR "with: {timeout_drain: 1s}\nexecutors: []\n", FH_E_TYPE);
    assert_contains(m, "t.yml:3:23: 'timeout_drain' must be an integer, not a string");
    m = parse_fail(HDR "executors:\n  - timeout: soon\n", FH_E_TYPE);
    assert_contains(m, "t.yml:4:14: 'timeout' must be an integer, not a string");
    m = parse_fail(HDR "with: {plugin_path: [a, {b: c}]}\nexecutors: []\n", FH_E_TYPE);
    assert_contains(m, "'plugin_path' entries must be strings, not a mapping");
    m = parse_fail(HDR "executors:\n  - uses_requests: {/a: [x]}\n", FH_E_TYPE);
    assert_contains(m, "'handler' must be a string, not a list");
}

static void test_out_of_range(void **state)
{
    (void)state;
    const char *m = parse_fail(HDR "with: {port: 70000}\nexecutors: []\n", FH_E_RANGE);
    assert_string_equal(m, "t.yml:3:14: 'port' must be between 0 and 65535, not 70000");
    m = parse_fail(HDR "with: {prefetch: -1}\nexecutors: []\n", FH_E_RANGE);
    assert_contains(m, "'prefetch' must be between 0 and");
    m = parse_fail(HDR "with: {timeout_ready: -2}\nexecutors: []\n", FH_E_RANGE);
    assert_contains(m, "'timeout_ready' must be between -1 and");
    m = parse_fail(HDR "with: {timeout_drain: -1}\nexecutors: []\n", FH_E_RANGE);
    assert_string_equal(m, "t.yml:3:23: 'timeout_drain' must be between 0 and 2147483647, not -1");
    m = parse_fail(HDR "executors:\n  - timeout: -1\n", FH_E_RANGE);
    assert_contains(m, "t.yml:4:14: 'timeout' must be between 0 and");
    m = parse_fail(HDR "executors:\n  - uses_with: {n: 99999999999999999999}\n", FH_E_RANGE);
    assert_contains(m, "integer '99999999999999999999' does not fit 64 bits");
}

static void test_version_and_jtype(void **state)
{
    (void)state;
    const char *m = parse_fail("jtype: Flow\nversion: '2'\nexecutors: []\n", FH_E_PARSE);
    assert_string_equal(m, "t.yml:2:10: unsupported version '2' (supported: '1', or '1.N')");
    m = parse_fail("jtype: Flw\nversion: '1'\nexecutors: []\n", FH_E_PARSE);
    assert_string_equal(m, "t.yml:1:8: a flow's type must be 'Flow', not 'Flw'");
    m = parse_fail("jtype: [Flow]\nversion: '1'\nexecutors: []\n", FH_E_TYPE);
    assert_contains(m, "'jtype' must be a string, not a list");
    m = parse_fail(HDR "with: {}\n", FH_E_PARSE);
    assert_contains(m, "missing key 'executors' in flow");
    m = parse_fail(HDR "executors:\n  - uses: {with: {a: 1}}\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:11: missing the executor type in executor YAML (a '!Type' "
                       "tag or 'jtype: Type')");
}

static void test_missing_plugin(void **state)
{
    (void)state;
    const char *m = parse_fail(HDR "executors:\n  - uses: ./x.so\n", FH_E_NOTFOUND);
    assert_string_equal(m, "t.yml:4:11: plugin './x.so' not found");
    m = parse_fail(HDR "executors:\n  - uses: {jtype: T, metas: {plugin: nope.so}}\n",
                   FH_E_NOTFOUND);
    assert_contains(m, "t.yml:4:38: plugin 'nope.so' not found");
    m = parse_fail(HDR "executors:\n  - uses: sub.so\n", FH_E_NOTFOUND);
    assert_contains(m, "plugin 'sub.so' not found");
    /* a folder is not a plugin (sub/ exists; make it look like one via ..) */
    m = parse_fail(HDR "executors:\n  - uses: {jtype: T, metas: {plugin: sub}}\n",
                   FH_E_NOTFOUND);
    assert_contains(m, "plugin 'sub' is not a regular file");
}

static void test_bad_on_error(void **state)
{
    (void)state;
    const char *m = parse_fail(HDR "executors:\n  - on_error: retry\n", FH_E_PARSE);
    assert_string_equal(m, "t.yml:4:15: 'on_error' must be 'skip' or 'ignore', not 'retry'");
}

static void test_names(void **state)
{
    (void)state;
    const char *m = parse_fail(HDR "executors:\n  - name: a\n  - uses: T\n  - name: a\n",
                               FH_E_PARSE);
    assert_string_equal(m, "t.yml:6:11: duplicate executor name 'a' (first at 4:11)");
    /* a name from a type and from a default clash too */
    m = parse_fail(HDR "executors:\n  - {}\n  - name: executor0\n", FH_E_PARSE);
    assert_contains(m, "t.yml:5:11: duplicate executor name 'executor0' (first at 4:5)");
    m = parse_fail(HDR "executors:\n  - name: a b\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:11: executor name 'a b' must be 1 to 64 characters of "
                       "A-Z a-z 0-9 _ . -");
    m = parse_fail(HDR "executors:\n  - name: ../x\n", FH_E_PARSE);
    assert_contains(m, "executor name '../x'");
    m = parse_fail(HDR "executors:\n  - uses_metas: {name: ..}\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:24: executor name '..'");
    char yaml[256], longname[66];
    memset(longname, 'x', 65);
    longname[65] = '\0';
    snprintf(yaml, sizeof yaml, HDR "executors:\n  - name: %s\n", longname);
    m = parse_fail(yaml, FH_E_PARSE);
    assert_contains(m, "must be 1 to 64 characters");
    longname[64] = '\0';
    snprintf(yaml, sizeof yaml, HDR "executors:\n  - name: %s\n", longname);
    fh_flow_config *c = parse_ok(yaml);
    assert_int_equal(strlen(c->executors[0].name), 64);
    fh_flow_config_destroy(&c);
    m = parse_fail(HDR "executors:\n  - uses: my-type\n", FH_E_PARSE);
    assert_contains(m, "executor type name, not 'my-type'");
    m = parse_fail(HDR "executors:\n  - uses_requests: {index: f}\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:21: endpoint 'index' in 'uses_requests' must start with '/'");
    m = parse_fail(HDR "executors:\n  - uses_requests: {/index: not a name}\n", FH_E_PARSE);
    assert_contains(m, "handler of '/index' must be a function name, not 'not a name'");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    const char *m = parse_fail(HDR "with:\n  port: 1\n  host: h\n  port: 2\nexecutors: []\n",
                               FH_E_PARSE);
    assert_string_equal(m, "t.yml:6:3: duplicate key 'port'");
    m = parse_fail(HDR "executors:\n  - uses_with: {a: 1, a: 2}\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:23: duplicate key 'a'");
    m = parse_fail(HDR "executors: []\n? [a]\n: b\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:3: a mapping key must be a scalar");
}

static void test_aliases_and_tags(void **state)
{
    (void)state;
    const char *m = parse_fail(HDR "executors:\n  - uses_with: &x {a: 1}\n  - uses_with: *x\n",
                               FH_E_PARSE);
    assert_contains(m, "t.yml:5:16: aliases are not supported");
    m = parse_fail(HDR "executors:\n  - uses_with: {a: !!python/tuple [1]}\n", FH_E_PARSE);
    assert_contains(m, "t.yml:4:20: unsupported tag 'tag:yaml.org,2002:python/tuple'");
    fh_flow_config *c = parse_ok(HDR "executors:\n  - uses_with: {a: !!str 5}\n");
    assert_string_equal(fh_map_get_string(c->executors[0].uses_with, "a", NULL), "5");
    fh_flow_config_destroy(&c);
}

static void test_too_deep(void **state)
{
    (void)state;
    char yaml[1024];
    size_t n = (size_t)snprintf(yaml, sizeof yaml, HDR "executors:\n  - uses_with: ");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "{a: ");
    n += (size_t)snprintf(yaml + n, sizeof yaml - n, "1");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "}");
    snprintf(yaml + n, sizeof yaml - n, "\n");
    const char *m = parse_fail(yaml, FH_E_PARSE);
    assert_contains(m, "t.yml:4:");
    assert_contains(m, "nesting deeper than 64 levels");

    /* 60 levels are fine */
    n = (size_t)snprintf(yaml, sizeof yaml, HDR "executors:\n  - uses_with: ");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "[");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "]");
    snprintf(yaml + n, sizeof yaml - n, "\n");
    m = parse_fail(yaml, FH_E_TYPE); /* a list is not a mapping, but it was parsed */
    assert_contains(m, "'uses_with' must be a mapping, not a list");
}

static void test_too_many_nodes(void **state)
{
    (void)state;
    size_t cap = (size_t)FH_YAML_MAX_NODES * 3 + 256, n;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    n = (size_t)snprintf(yaml, cap, HDR "executors:\n  - uses_with: {a: [");
    for (int i = 0; i < FH_YAML_MAX_NODES; i++)
        n += (size_t)snprintf(yaml + n, cap - n, "1,");
    snprintf(yaml + n, cap - n, "]}\n");
    const char *m = parse_fail(yaml, FH_E_PARSE);
    assert_contains(m, "more than 20000 nodes");
    free(yaml);
}

/* ---- the YAML tree on its own ---------------------------------------------------- */

static void test_yaml_tree(void **state)
{
    (void)state;
    const char *text = "a: 1\nb:\n  - 'x'\n  - ~\nc: |\n  lit\n";
    fh_yaml_node *root = NULL;
    assert_int_equal(fh_yaml_parse(text, strlen(text), "y", &root), 0);
    assert_int_equal(root->kind, FH_YAML_MAPPING);
    assert_int_equal(root->n, 3);
    const fh_yaml_node *key;
    const fh_yaml_node *b = fh_yaml_map_get(root, "b", &key);
    assert_int_equal(key->line, 2);
    assert_int_equal(key->column, 1);
    assert_int_equal(b->kind, FH_YAML_SEQUENCE);
    assert_int_equal(b->n, 2);
    assert_true(b->items[0]->quoted);
    assert_string_equal(b->items[0]->text, "x");
    assert_int_equal(b->items[0]->line, 3);
    assert_int_equal(b->items[0]->column, 5);
    assert_false(b->items[1]->quoted);
    const fh_yaml_node *c = fh_yaml_map_get(root, "c", NULL);
    assert_true(c->quoted);
    assert_string_equal(c->text, "lit\n");
    assert_null(fh_yaml_map_get(root, "zz", NULL));
    assert_null(fh_yaml_map_get(b, "a", NULL));
    fh_yaml_destroy(&root);
    assert_null(root);

    bool bv;
    int64_t iv;
    double dv;
    assert_int_equal(fh_yaml_type_plain("", NULL, NULL, NULL), FH_YAML_PLAIN_NULL);
    assert_int_equal(fh_yaml_type_plain("~", NULL, NULL, NULL), FH_YAML_PLAIN_NULL);
    assert_int_equal(fh_yaml_type_plain("NULL", NULL, NULL, NULL), FH_YAML_PLAIN_NULL);
    assert_int_equal(fh_yaml_type_plain("True", &bv, NULL, NULL), FH_YAML_PLAIN_BOOL);
    assert_true(bv);
    assert_int_equal(fh_yaml_type_plain("yes", NULL, NULL, NULL), FH_YAML_PLAIN_STRING);
    assert_int_equal(fh_yaml_type_plain("-42", NULL, &iv, NULL), FH_YAML_PLAIN_INT);
    assert_int_equal(iv, -42);
    assert_int_equal(fh_yaml_type_plain("9223372036854775807", NULL, &iv, NULL),
                     FH_YAML_PLAIN_INT);
    assert_int_equal(fh_yaml_type_plain("9223372036854775808", NULL, NULL, NULL),
                     FH_YAML_PLAIN_INT_RANGE);
    assert_int_equal(fh_yaml_type_plain("1e3", NULL, NULL, &dv), FH_YAML_PLAIN_DOUBLE);
    assert_true(dv == 1000.0);
    assert_int_equal(fh_yaml_type_plain(".5", NULL, NULL, &dv), FH_YAML_PLAIN_DOUBLE);
    assert_int_equal(fh_yaml_type_plain("5.", NULL, NULL, &dv), FH_YAML_PLAIN_DOUBLE);
    assert_int_equal(fh_yaml_type_plain("-.inf", NULL, NULL, &dv), FH_YAML_PLAIN_DOUBLE);
    assert_true(dv < 0);
    assert_int_equal(fh_yaml_type_plain("1.2.3", NULL, NULL, NULL), FH_YAML_PLAIN_STRING);
    assert_int_equal(fh_yaml_type_plain("1e", NULL, NULL, NULL), FH_YAML_PLAIN_STRING);
    assert_int_equal(fh_yaml_type_plain(".", NULL, NULL, NULL), FH_YAML_PLAIN_STRING);
    assert_int_equal(fh_yaml_type_plain("0x10", NULL, NULL, NULL), FH_YAML_PLAIN_STRING);
}

/* ---- files that are not configuration, values too long to show ------------------- */

/* Loads PATH and expects CODE with the message "PATH: WHY". */
static void assert_load_fails(const char *path, int code, const char *why)
{
    fh_flow_config *c = NULL;
    char want[PATH_MAX + 64];
    assert_int_equal(fh_flow_config_load(path, &c), code);
    assert_null(c);
    snprintf(want, sizeof want, "%s: %s", path, why);
    assert_string_equal(fh_last_error(), want);
}

static void test_not_regular_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/fh_test_flow_files.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[PATH_MAX], zero[PATH_MAX], big[PATH_MAX], max[PATH_MAX], yaml[PATH_MAX * 2];
    snprintf(fifo, sizeof fifo, "%s/fifo.yml", dir);
    snprintf(zero, sizeof zero, "%s/zero.yml", dir);
    snprintf(big, sizeof big, "%s/big.yml", dir);
    snprintf(max, sizeof max, "%s/max.yml", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink("/dev/zero", zero), 0);
    /* Sparse: a size past the bound costs no disk. */
    FILE *f = fopen(big, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), (off_t)FH_READ_FILE_MAX + 1), 0);
    fclose(f);
    /* Exactly at the bound: a flow, then a comment to fill it. */
    f = fopen(max, "w");
    assert_non_null(f);
    long head = fprintf(f, HDR "executors: []\n#");
    for (size_t i = (size_t)head; i < FH_READ_FILE_MAX - 1; i++)
        fputc('x', f);
    fputc('\n', f);
    fclose(f);

    /* A FIFO with no writer would block a plain open: refused at once. */
    assert_load_fails(fifo, FH_E_IO, "not a regular file");
    assert_load_fails(zero, FH_E_IO, "not a regular file");
    assert_load_fails(big, FH_E_RANGE, "larger than 16 MiB");
    fh_flow_config *c = NULL;
    if (fh_flow_config_load(max, &c) != 0)
        fail_msg("a flow of exactly 16 MiB: %s", fh_last_error());
    fh_flow_config_destroy(&c);

    /* The same for an executor YAML named by uses, named the way the flow writes it. */
    const char *names[] = {"fifo.yml", "zero.yml", "big.yml"};
    const char *whys[] = {"not a regular file", "not a regular file", "larger than 16 MiB"};
    const int codes[] = {FH_E_IO, FH_E_IO, FH_E_RANGE};
    for (int i = 0; i < 3; i++) {
        snprintf(yaml, sizeof yaml, HDR "executors:\n  - uses: ./%s\n", names[i]);
        int rc = fh_flow_config_parse(yaml, strlen(yaml), "t.yml", dir, &c);
        assert_int_equal(rc, codes[i]);
        char want[128];
        snprintf(want, sizeof want, "t.yml:4:11: executor YAML './%s': %s", names[i], whys[i]);
        assert_string_equal(fh_last_error(), want);
    }

    /* fh_read_file itself: what it refuses, it neither returns nor reads. */
    char *buf = (char *)1;
    size_t len = 1;
    assert_int_equal(fh_read_file(zero, &buf, &len), FH_E_IO);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_int_equal(fh_read_file_as(fifo, "the spec", &buf, NULL), FH_E_IO);
    assert_string_equal(fh_last_error(), "the spec: not a regular file");
    assert_int_equal(fh_read_file(dir, &buf, &len), FH_E_IO);
    assert_contains(fh_last_error(), "Is a directory");

    unlink(fifo);
    unlink(zero);
    unlink(big);
    unlink(max);
    rmdir(dir);
}

static void test_quote(void **state)
{
    (void)state;
    assert_string_equal(fh_yaml_quote("abc").s, "'abc'");
    assert_string_equal(fh_yaml_quote("").s, "''");
    assert_string_equal(fh_yaml_quote(NULL).s, "''");
    assert_string_equal(fh_yaml_quote_n("abcdef", 3).s, "'abc'");
    /* One line whatever the value holds. */
    assert_string_equal(fh_yaml_quote("a\nb\tc\rd\x01" "e\x7f").s, "'a\\nb\\tc\\rd\\x01e\\x7f'");
    /* Not UTF-8: shown byte by byte. */
    assert_string_equal(fh_yaml_quote("\xff\xc3").s, "'\\xff\\xc3'");
    assert_string_equal(fh_yaml_quote("caf\xc3\xa9").s, "'caf\xc3\xa9'");

    char text[200];
    memset(text, '7', sizeof text);
    text[64] = '\0'; /* exactly the limit: whole */
    fh_yaml_quoted q = fh_yaml_quote(text);
    assert_int_equal(strlen(q.s), 66);
    assert_int_equal(strchr(q.s, '.') == NULL, 1);
    text[64] = '7'; /* one more: cut, with "..." */
    text[65] = '\0';
    q = fh_yaml_quote(text);
    assert_int_equal(strlen(q.s), 1 + 64 + 3 + 1);
    assert_memory_equal(q.s + 65, "...'", 5);
    /* Never inside a character: 63 bytes, then a 2-byte one that would end at 65. */
    memset(text, 'a', 63);
    memcpy(text + 63, "\xc3\xa9\xc3\xa9", 5);
    q = fh_yaml_quote(text);
    assert_int_equal(strlen(q.s), 1 + 63 + 3 + 1);
    assert_string_equal(q.s + 64, "...'");
    /* An escape is not cut either: 62 bytes, then \x01 (4 bytes). */
    memset(text, 'a', 62);
    memcpy(text + 62, "\x01z", 3);
    q = fh_yaml_quote(text);
    assert_string_equal(q.s + 63, "...'");
}

static void test_long_values(void **state)
{
    (void)state;
    /* A 100,000-digit integer, a 100,000-character key and value: the message shows 64
     * bytes of each, not the value. */
    size_t n = 100000;
    char *yaml = malloc(n * 2 + 256);
    assert_non_null(yaml);
    int at = snprintf(yaml, 256, HDR "with:\n  port: ");
    memset(yaml + at, '9', n);
    strcpy(yaml + at + n, "\nexecutors: []\n");
    const char *m = parse_fail(yaml, FH_E_RANGE);
    assert_contains(m, "t.yml:4:9: integer '9999999999999999999999999999999999999999999999999999"
                       "999999999999...' does not fit 64 bits");
    assert_true(strlen(m) < 200);

    at = snprintf(yaml, 256, HDR "executors:\n  - ? ");
    memset(yaml + at, 'k', n);
    strcpy(yaml + at + n, "\n    : 1\n");
    m = parse_fail(yaml, FH_E_PARSE);
    assert_contains(m, "unknown key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                       "kkkk...' in executors[0]");
    assert_true(strlen(m) < 400);

    at = snprintf(yaml, 256, HDR "executors:\n  - uses: Echo\n    on_error: ");
    memset(yaml + at, 'x', n);
    strcpy(yaml + at + n, "\n");
    m = parse_fail(yaml, FH_E_PARSE);
    assert_true(strlen(m) < 200);
    assert_contains(m, "xxxx...'");

    /* A duplicate key found by the YAML layer is cut the same way. */
    at = snprintf(yaml, 256, HDR "? ");
    memset(yaml + at, 'd', n);
    at += (int)n;
    at += snprintf(yaml + at, 64, "\n: 1\n? ");
    memset(yaml + at, 'd', n);
    strcpy(yaml + at + n, "\n: 2\n");
    m = parse_fail(yaml, FH_E_PARSE);
    assert_contains(m, "duplicate key 'dddd");
    assert_true(strlen(m) < 200);
    free(yaml);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    fh_flow_config *c = NULL;
    assert_int_equal(fh_flow_config_parse(NULL, 0, "x", "/", &c), FH_E_INVAL);
    assert_int_equal(fh_flow_config_load(NULL, &c), FH_E_INVAL);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_flow),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_parse_relative_dir),
        cmocka_unit_test(test_uses_forms),
        cmocka_unit_test(test_metas_name_precedence),
        cmocka_unit_test(test_merge_with),
        cmocka_unit_test(test_env_merge),
        cmocka_unit_test(test_env_vars),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_version_and_jtype),
        cmocka_unit_test(test_missing_plugin),
        cmocka_unit_test(test_bad_on_error),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_aliases_and_tags),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_too_many_nodes),
        cmocka_unit_test(test_yaml_tree),
        cmocka_unit_test(test_not_regular_files),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, setup_all, NULL);
}

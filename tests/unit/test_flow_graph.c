/* Unit tests of a flow's graph: the loader's needs, floating, shards and polling
 * (host/flow_config.c), and the graph's questions (host/flow_graph.c). Fixtures are
 * under $FH_TEST_DATA/flows. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <flowhost/error.h>

#include "flow_config.h"
#include "flow_graph.h"
#include "flow_plot.h"

#define HDR "jtype: Flow\nversion: '1'\nexecutors:\n"

static char flows_dir[PATH_MAX]; /* absolute $FH_TEST_DATA/flows */

static int setup_all(void **state)
{
    (void)state;
    const char *data = getenv("FH_TEST_DATA");
    char buf[PATH_MAX];
    if (!data) {
        fprintf(stderr, "FH_TEST_DATA is not set (it points to tests/data)\n");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s/flows", data);
    if (!realpath(buf, flows_dir)) {
        fprintf(stderr, "%s: not found\n", buf);
        return -1;
    }
    return 0;
}

#define assert_contains(hay, needle)                                                 \
    do {                                                                             \
        const char *h_ = (hay);                                                      \
        if (!h_ || !strstr(h_, (needle)))                                            \
            fail_msg("message \"%s\" does not contain \"%s\"", h_ ? h_ : "(null)",   \
                     (needle));                                                      \
    } while (0)

static fh_flow_config *parse_ok(const char *yaml)
{
    fh_flow_config *c = NULL;
    int rc = fh_flow_config_parse(yaml, strlen(yaml), "t.yml", flows_dir, &c);
    if (rc != 0)
        fail_msg("parse failed (%d): %s", rc, fh_last_error());
    return c;
}

static fh_flow_config *load_ok(const char *rel)
{
    char path[PATH_MAX + 64];
    int n = snprintf(path, sizeof path, "%s/%s", flows_dir, rel);
    assert_true(n > 0 && (size_t)n < sizeof path);
    fh_flow_config *c = NULL;
    if (fh_flow_config_load(path, &c) != 0)
        fail_msg("%s: %s", rel, fh_last_error());
    return c;
}

/* Parses YAML, expects CODE and exactly the one-line message WANT after "t.yml:". */
static void expect_error(const char *yaml, int code, const char *want)
{
    fh_flow_config *c = NULL;
    int rc = fh_flow_config_parse(yaml, strlen(yaml), "t.yml", flows_dir, &c);
    if (rc != code)
        fail_msg("expected %s, got %s: %s", fh_err_name(code), fh_err_name(rc),
                 rc ? fh_last_error() : "");
    assert_null(c);
    const char *m = fh_last_error();
    assert_null(strchr(m, '\n'));
    if (strncmp(m, "t.yml:", 6) != 0 || strcmp(m + 6, want) != 0)
        fail_msg("message \"%s\"\n   wanted \"t.yml:%s\"", m, want);
}

/* The needs of executor I as names, "a,b" ("" for the gateway). */
static const char *needs_of(const fh_flow_config *c, size_t i)
{
    static char buf[256];
    size_t used = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < c->executors[i].n_needs; k++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", k ? "," : "",
                                 c->executors[c->executors[i].needs[k]].name);
    return buf;
}

/* ---- the forms of needs ---------------------------------------------------------- */

static void test_needs_forms(void **state)
{
    (void)state;
    /* without needs: each follows the one before; the first starts at the gateway */
    fh_flow_config *c = parse_ok(HDR "  - name: a\n  - name: b\n  - name: c\n");
    assert_string_equal(needs_of(c, 0), "");
    assert_string_equal(needs_of(c, 1), "a");
    assert_string_equal(needs_of(c, 2), "b");
    fh_flow_config_destroy(&c);

    /* a name, a list (in the order written), gateway, [gateway], a list in block form,
       a null and an empty list (the one before, as Jina does), a later executor */
    c = parse_ok(HDR "  - name: a\n"
                     "  - name: b\n    needs: gateway\n"
                     "  - name: c\n    needs: [gateway]\n"
                     "  - name: d\n    needs: [c, a, b]\n"
                     "  - name: e\n    needs:\n      - d\n      - f\n"
                     "  - name: f\n    needs: a\n"
                     "  - name: g\n    needs:\n"
                     "  - name: h\n    needs: []\n");
    assert_string_equal(needs_of(c, 1), "");
    assert_string_equal(needs_of(c, 2), "");
    assert_string_equal(needs_of(c, 3), "c,a,b");
    assert_string_equal(needs_of(c, 4), "d,f");
    assert_string_equal(needs_of(c, 5), "a");
    assert_string_equal(needs_of(c, 6), "f");
    assert_string_equal(needs_of(c, 7), "g");
    fh_flow_config_destroy(&c);

    /* ${VAR} in a need */
    setenv("FH_TEST_NEED", "a", 1);
    c = parse_ok(HDR "  - name: a\n  - name: b\n  - name: c\n    needs: ${FH_TEST_NEED}\n");
    assert_string_equal(needs_of(c, 2), "a");
    fh_flow_config_destroy(&c);
}

static void test_floating(void **state)
{
    (void)state;
    /* the executor after a floating one follows the one before it (Jina's rule) */
    fh_flow_config *c = parse_ok(HDR "  - name: a\n"
                                     "  - name: log\n    floating: true\n"
                                     "  - name: log2\n    floating: true\n    needs: gateway\n"
                                     "  - name: b\n");
    assert_true(c->executors[1].floating);
    assert_false(c->executors[0].floating);
    assert_string_equal(needs_of(c, 1), "a");
    assert_string_equal(needs_of(c, 2), "");
    assert_string_equal(needs_of(c, 3), "a");
    fh_flow_config_destroy(&c);

    /* a first executor that floats: the next starts at the gateway */
    c = parse_ok(HDR "  - {name: log, floating: true}\n  - name: b\n");
    assert_string_equal(needs_of(c, 1), "");
    fh_flow_config_destroy(&c);

    c = parse_ok(HDR "  - {name: a, floating: false}\n");
    assert_false(c->executors[0].floating);
    fh_flow_config_destroy(&c);

    expect_error(HDR "  - {name: a, floating: yes}\n", FH_E_TYPE,
                 "4:25: 'floating' must be true or false, not a string");
    expect_error(HDR "  - {name: a, floating: [1]}\n", FH_E_TYPE,
                 "4:25: 'floating' must be true or false, not a list");
}

/* ---- the errors of needs --------------------------------------------------------- */

static void test_needs_errors(void **state)
{
    (void)state;
    expect_error(HDR "  - name: encoder\n  - name: b\n    needs: encodr\n", FH_E_PARSE,
                 "6:12: 'needs' of 'b': no executor is named 'encodr' (did you mean "
                 "'encoder'?)");
    expect_error(HDR "  - name: a\n  - name: b\n    needs: [a, gatewy]\n", FH_E_PARSE,
                 "6:16: 'needs' of 'b': no executor is named 'gatewy' (did you mean "
                 "'gateway'?)");
    expect_error(HDR "  - name: a\n  - name: b\n    needs: [zzzzzz]\n", FH_E_PARSE,
                 "6:13: 'needs' of 'b': no executor is named 'zzzzzz' (the executors: a, "
                 "b; 'gateway' is the start)");
    expect_error(HDR "  - name: a\n  - name: b\n    needs: [a, b]\n", FH_E_PARSE,
                 "6:16: 'b' needs itself");
    expect_error(HDR "  - name: gateway\n", FH_E_PARSE,
                 "4:11: executor name 'gateway' is the flow's gateway (in 'needs' and "
                 "routes): choose another name");
    expect_error(HDR "  - name: a\n  - name: b\n    needs:\n      - a\n      - a\n",
                 FH_E_PARSE, "8:9: 'needs' of 'b' names 'a' twice");
    expect_error(HDR "  - name: a\n  - name: b\n    needs: [gateway, a]\n", FH_E_PARSE,
                 "6:13: 'needs' of 'b' names 'gateway' and executors: it either starts at "
                 "the gateway or runs after the executors; remove 'gateway'");
    expect_error(HDR "  - name: a\n  - {name: log, floating: true}\n"
                     "  - name: b\n    needs: [a, log]\n", FH_E_PARSE,
                 "7:16: 'b' needs 'log', a floating executor: nobody waits for a floating "
                 "executor, so 'b' would never run (take 'log' out of its needs, or make "
                 "it not floating)");
    expect_error(HDR "  - name: a\n    needs: {x: 1}\n", FH_E_TYPE,
                 "5:12: 'needs' must be an executor's name or a list of them, not a mapping");
    expect_error(HDR "  - name: a\n  - name: b\n    needs: [[a]]\n", FH_E_TYPE,
                 "6:13: 'needs' must list executors' names, not a list");
    expect_error(HDR "  - name: a\n  - name: b\n    needs: [a, '']\n", FH_E_PARSE,
                 "6:16: 'needs' of 'b' lists an empty name");
    expect_error(HDR "  - name: a\n  - name: b\n    needs: [a, ~]\n", FH_E_PARSE,
                 "6:16: 'needs' of 'b' lists an empty name");
    expect_error(HDR "  - name: a\n  - name: b\n    needs: [1]\n", FH_E_TYPE,
                 "6:13: 'needs' must be a string, not an integer");
}

static void test_cycles(void **state)
{
    (void)state;
    /* a needs c, b follows a, c follows b: named from the first declared, in the order
       they would run */
    expect_error(HDR "  - name: a\n    needs: c\n  - name: b\n  - name: c\n", FH_E_PARSE,
                 "5:12: 'needs' make a cycle: a -> b -> c -> a (each runs after the one "
                 "before it)");
    /* two executors needing each other, after a start that is fine */
    expect_error(HDR "  - name: s\n  - name: x\n    needs: [s, y]\n"
                     "  - name: y\n    needs: x\n", FH_E_PARSE,
                 "6:12: 'needs' make a cycle: x -> y -> x (each runs after the one before "
                 "it)");
    /* a cycle downstream of which more executors wait: the cycle is named, not them */
    expect_error(HDR "  - name: s\n  - name: t\n    needs: [u]\n  - name: u\n    needs: [v]\n"
                     "  - name: v\n    needs: [t]\n  - name: w\n    needs: [v, s]\n",
                 FH_E_PARSE,
                 "6:12: 'needs' make a cycle: t -> v -> u -> t (each runs after the one "
                 "before it)");
}

/* ---- shards and polling ---------------------------------------------------------- */

static void test_shards_polling(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok(HDR "  - name: a\n"
                                     "  - {name: b, shards: 3, polling: all}\n"
                                     "  - {name: c, shards: 2, polling: Any}\n"
                                     "  - {name: d, parallel: 2, polling: ALL}\n"
                                     "  - name: e\n    shards: 4\n    polling:\n"
                                     "      /index: ANY\n      /search: all\n"
                                     "      '*': ALL\n"
                                     "  - {name: f, shards: 2, polling: \"{'/index': ANY, "
                                     "'/search': 'ALL'}\"}\n");
    assert_int_equal(c->executors[0].shards, 1);
    assert_int_equal(c->executors[0].polling, FH_POLLING_ANY);
    assert_int_equal(c->executors[1].shards, 3);
    assert_int_equal(c->executors[1].polling, FH_POLLING_ALL);
    assert_int_equal(c->executors[2].polling, FH_POLLING_ANY);
    assert_int_equal(c->executors[3].shards, 2); /* Jina 2.0's parallel */
    assert_int_equal(c->executors[3].polling, FH_POLLING_ALL);
    const fh_flow_executor *e = &c->executors[4];
    assert_int_equal(e->polling, FH_POLLING_ALL); /* '*' */
    assert_int_equal(e->n_pollings, 2);
    assert_string_equal(e->pollings[0].endpoint, "/index");
    assert_int_equal(e->pollings[0].polling, FH_POLLING_ANY);
    assert_int_equal(fh_flow_graph_polling(e, "/search"), FH_POLLING_ALL);
    assert_int_equal(fh_flow_graph_polling(e, "/index"), FH_POLLING_ANY);
    assert_int_equal(fh_flow_graph_polling(e, "/other"), FH_POLLING_ALL);
    e = &c->executors[5]; /* the map as a string, as Jina's command line takes it */
    assert_int_equal(e->polling, FH_POLLING_ANY);
    assert_int_equal(e->n_pollings, 2);
    assert_int_equal(fh_flow_graph_polling(e, "/search"), FH_POLLING_ALL);
    assert_int_equal(fh_flow_graph_polling(e, "/index"), FH_POLLING_ANY);
    assert_string_equal(fh_polling_name(FH_POLLING_ALL), "ALL");
    assert_int_equal(c->n_warnings, 0);
    fh_flow_config_destroy(&c);

    /* polling on one shard: loads as in Jina, with a warning at the key */
    c = parse_ok(HDR "  - {name: a, polling: all}\n");
    assert_int_equal(c->n_warnings, 1);
    assert_string_equal(c->warnings[0], "t.yml:4:15: 'polling' in executors[0] does "
                                        "nothing with one shard (shards: 1)");
    fh_flow_config_destroy(&c);

    expect_error(HDR "  - {name: a, shards: 0}\n", FH_E_RANGE,
                 "4:23: 'shards' must be between 1 and 64, not 0");
    expect_error(HDR "  - {name: a, shards: 65}\n", FH_E_RANGE,
                 "4:23: 'shards' must be between 1 and 64, not 65");
    expect_error(HDR "  - {name: a, parallel: 'x'}\n", FH_E_TYPE,
                 "4:25: 'shards' must be an integer, not a string");
    expect_error(HDR "  - {name: a, shards: 2, parallel: 2}\n", FH_E_PARSE,
                 "4:26: 'parallel' is Jina's older name for 'shards': keep one of them");
    expect_error(HDR "  - {name: a, shards: 2, polling: some}\n", FH_E_PARSE,
                 "4:35: 'polling' must be ANY or ALL, not 'some'");
    expect_error(HDR "  - {name: a, shards: 2, polling: 1}\n", FH_E_PARSE,
                 "4:35: 'polling' must be ANY or ALL, not '1'");
    expect_error(HDR "  - {name: a, shards: 2, polling: [ALL]}\n", FH_E_TYPE,
                 "4:35: 'polling' must be ANY or ALL, not a list");
    expect_error(HDR "  - {name: a, shards: 2, polling: {/search: EVERY}}\n", FH_E_PARSE,
                 "4:45: 'polling' must be ANY or ALL, not 'EVERY'");
    expect_error(HDR "  - {name: a, shards: 2, polling: {search: ALL}}\n", FH_E_PARSE,
                 "4:36: 'polling' by endpoint: 'search' is not an endpoint (they start "
                 "with '/'; '*' is every other one)");
    expect_error(HDR "  - {name: a, shards: 2, polling: {}}\n", FH_E_PARSE,
                 "4:35: 'polling' by endpoint names no endpoint: write ANY, ALL or "
                 "{'/search': ALL, '*': ANY}");
    expect_error(HDR "  - {name: a, shards: 2, polling: \"{'/search': SOME}\"}\n",
                 FH_E_PARSE, "4:35: 'polling' must be ANY or ALL, not 'SOME'");
    expect_error(HDR "  - {name: a, shards: 2, polling: \"{'/search': \"}\n", FH_E_PARSE,
                 "4:35: 'polling' must be ANY, ALL or a map by endpoint such as "
                 "{'/search': ALL, '*': ANY}, not '{'/search': '");

    /* in the flow's with: refused, it is set per executor */
    expect_error("jtype: Flow\nwith: {shards: 2}\nexecutors: []\n", FH_E_PARSE,
                 "2:8: 'shards' in with is not supported: shards are set per executor: "
                 "write 'shards: N' on it");
}

/* ---- Jina's own forms ------------------------------------------------------------ */

static void test_jina_files(void **state)
{
    (void)state;
    fh_flow_config *c = load_ok("jina_graph2.yml");
    assert_int_equal(c->n_executors, 4);
    assert_string_equal(needs_of(c, 1), "front");
    assert_int_equal(c->executors[1].shards, 2);
    assert_string_equal(needs_of(c, 2), "");
    assert_int_equal(c->executors[2].polling, FH_POLLING_ALL);
    assert_string_equal(needs_of(c, 3), "left,right");
    assert_int_equal(c->n_warnings, 1); /* method: needs (restful: false is a flow key) */
    assert_contains(c->warnings[0], "'method' in executors[3] is ignored");
    assert_false(c->http);
    fh_flow_config_destroy(&c);

    c = load_ok("jina_graph3.yml");
    assert_int_equal(c->n_executors, 5);
    assert_string_equal(needs_of(c, 1), "");
    assert_true(c->executors[2].floating);
    assert_string_equal(needs_of(c, 2), "first");
    assert_string_equal(needs_of(c, 3), "second,first");
    assert_int_equal(c->executors[3].shards, 3);
    assert_int_equal(fh_flow_graph_polling(&c->executors[3], "/search"), FH_POLLING_ALL);
    assert_string_equal(needs_of(c, 4), "indexer");
    assert_int_equal(c->n_warnings, 0);
    fh_flow_config_destroy(&c);
}

/* ---- the graph's questions -------------------------------------------------------- */

static void test_order_and_sinks(void **state)
{
    (void)state;
    /* e needs d and f, f is declared after e: the order puts f before e; among ready
       executors, the first declared first */
    fh_flow_config *c = parse_ok(HDR "  - name: a\n"
                                     "  - name: b\n    needs: gateway\n"
                                     "  - name: c\n    needs: [a, b]\n"
                                     "  - name: d\n    needs: a\n"
                                     "  - name: e\n    needs: [d, f]\n"
                                     "  - name: f\n    needs: b\n"
                                     "  - name: log\n    floating: true\n    needs: a\n");
    size_t order[7], sinks[7];
    assert_int_equal(fh_flow_graph_order(c->executors, c->n_executors, order), 0);
    size_t want[] = {0, 1, 2, 3, 5, 4, 6};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(order[i], want[i]);
    /* sinks: c and e (log floats; a, b, d, f are needed) */
    size_t n = fh_flow_graph_sinks(c->executors, c->n_executors, sinks);
    assert_int_equal(n, 2);
    assert_int_equal(sinks[0], 2);
    assert_int_equal(sinks[1], 4);
    assert_true(fh_flow_graph_is_sink(c->executors, c->n_executors, 2));
    assert_false(fh_flow_graph_is_sink(c->executors, c->n_executors, 0));
    assert_false(fh_flow_graph_is_sink(c->executors, c->n_executors, 6));
    size_t cycle[7], m = 9;
    assert_int_equal(fh_flow_graph_cycle(c->executors, c->n_executors, cycle, &m), 1);
    assert_int_equal(m, 0);
    fh_flow_config_destroy(&c);

    /* a cycle built by hand (the loader never returns one) */
    size_t n0[] = {2}, n1[] = {0}, n2[] = {1}, n3[] = {2};
    fh_flow_executor xs[4];
    memset(xs, 0, sizeof xs);
    xs[0].needs = n0, xs[0].n_needs = 1;
    xs[1].needs = n1, xs[1].n_needs = 1;
    xs[2].needs = n2, xs[2].n_needs = 1;
    xs[3].needs = n3, xs[3].n_needs = 1;
    assert_int_equal(fh_flow_graph_order(xs, 4, order), FH_E_PARSE);
    assert_int_equal(fh_flow_graph_cycle(xs, 4, cycle, &m), 0);
    assert_int_equal(m, 3);
    assert_int_equal(cycle[0], 0);
    assert_int_equal(cycle[1], 1);
    assert_int_equal(cycle[2], 2);
    /* an empty flow: nothing to order, no sink */
    assert_int_equal(fh_flow_graph_order(xs, 0, order), 0);
    assert_int_equal(fh_flow_graph_sinks(xs, 0, sinks), 0);
}

/* A long chain written backwards (each needs the next one declared) is ordered without
 * recursion, and a cycle through all of it is found and named with "..." at the end of a
 * message that stays one bounded line. */
static void test_long_chain(void **state)
{
    (void)state;
    enum { N = 3000 };
    size_t cap = (size_t)N * 48 + 64, used = 0;
    char *y = malloc(cap);
    assert_non_null(y);
    used += (size_t)snprintf(y + used, cap - used, HDR);
    for (int i = 0; i < N; i++)
        if (i == N - 1)
            used += (size_t)snprintf(y + used, cap - used, "  - {name: e%d, needs: gateway}\n",
                                     i);
        else
            used += (size_t)snprintf(y + used, cap - used, "  - {name: e%d, needs: e%d}\n", i,
                                     i + 1);
    fh_flow_config *c = parse_ok(y);
    size_t *order = malloc(N * sizeof *order);
    assert_non_null(order);
    assert_int_equal(fh_flow_graph_order(c->executors, c->n_executors, order), 0);
    assert_int_equal(order[0], N - 1);
    assert_int_equal(order[N - 1], 0);
    fh_flow_config_destroy(&c);
    free(order);

    /* the last needs the first: one cycle through every executor */
    char *g = strstr(y, "needs: gateway");
    assert_non_null(g);
    memcpy(g, "needs: e0     ", 14);
    fh_flow_config *bad = NULL;
    assert_int_equal(fh_flow_config_parse(y, strlen(y), "t.yml", flows_dir, &bad),
                     FH_E_PARSE);
    const char *m = fh_last_error();
    assert_contains(m, "'needs' make a cycle: e0 -> e2999 -> e2998 -> ");
    assert_contains(m, "...");
    assert_true(strlen(m) < 1000);
    free(y);
}

/* ---- the picture's labels --------------------------------------------------------- */

/* The plot of C in FORMAT, as a new string the caller frees. */
static char *plot(const fh_flow_config *c, fh_plot_format format)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fh_flow_plot(c, format, f), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* A condition's text (compact JSON, from flow_when) holds quotes, '#', '<' and '\\':
 * each format gets it escaped so that the picture still parses; polling by endpoint is
 * listed with '*' last. */
static void test_plot_labels(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok(HDR "  - name: a\n"
                                     "  - {name: b, shards: 2, polling: {/search: ALL, "
                                     "/index: ANY}}\n");
    c->executors[0].when_text = strdup("{\"tags__k\":{\"$lt\":\"<#\\\\\"}}");
    assert_non_null(c->executors[0].when_text);
    char *m = plot(c, FH_PLOT_MERMAID);
    assert_contains(m, "    x0[\"a<br/>when {#quot;tags__k#quot;:{#quot;$lt#quot;:"
                       "#quot;#lt;#35;\\\\#quot;}}\"]\n");
    assert_contains(m, "    x1[\"b<br/>2 shards, polling /search: ALL, /index: ANY, *: ANY\"]\n");
    free(m);
    char *d = plot(c, FH_PLOT_DOT);
    assert_contains(d, "  x0 [label=\"a\\nwhen {\\\"tags__k\\\":{\\\"$lt\\\":\\\"<#\\\\\\\\\\\"}}\"];\n");
    free(d);
    fh_flow_config_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_needs_forms),
        cmocka_unit_test(test_floating),
        cmocka_unit_test(test_needs_errors),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_shards_polling),
        cmocka_unit_test(test_jina_files),
        cmocka_unit_test(test_order_and_sinks),
        cmocka_unit_test(test_long_chain),
        cmocka_unit_test(test_plot_labels),
    };
    return cmocka_run_group_tests(tests, setup_all, NULL);
}

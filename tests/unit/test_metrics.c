/* Unit tests: the Prometheus registry and writer (host/gateway/prom.c) and the flow's
 * metrics over it (host/gateway/metrics.c): the exact text of a small registry, values,
 * cumulative buckets and their inclusive bounds, exact sums, escaping and UTF-8 repair of
 * label values, the endpoint bound, what is refused at build time, and updates out of
 * range ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "metrics.h"
#include "prom.h"
#include <flowhost/error.h>

/* ---- helpers ---- */

/* The whole text of P (a static buffer, valid until the next call). */
static const char *text_of(const fh_prom *p)
{
    static fh_prom_buf b;
    b.len = 0;
    assert_int_equal(fh_prom_write(p, &b), 0);
    return b.data ? b.data : "";
}

static const char *metrics_text(const fh_metrics *m)
{
    static fh_prom_buf b;
    b.len = 0;
    assert_int_equal(fh_metrics_write(m, &b), 0);
    return b.data ? b.data : "";
}

/* How many lines of TEXT start with PREFIX. */
static int lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        n += strncmp(l, prefix, len) == 0;
    return n;
}

/* The value of the line of TEXT that is exactly SERIES, a space and a value; -1: none. */
static long long sample(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (strncmp(l, series, len) == 0 && l[len] == ' ')
            return strtoll(l + len + 1, NULL, 10);
    return -1;
}

static fh_metrics *small_flow(size_t max_endpoints)
{
    static const fh_metrics_unit units[] = {
        {.executor = "enc", .replicas = 2, .batching = true},
        {.executor = "idx", .shard = 0, .replicas = 1},
        {.executor = "idx", .shard = 1, .replicas = 1},
    };
    fh_metrics_layout l = {.units = units, .n_units = 3, .max_endpoints = max_endpoints};
    fh_metrics *m;
    assert_int_equal(fh_metrics_new(&l, &m), 0);
    return m;
}

/* ---- the registry and its text ---- */

static void test_exact_text(void **state)
{
    (void)state;
    fh_prom *p;
    assert_int_equal(fh_prom_new(&p), 0);
    const char *ep[] = {"endpoint"}, *st[] = {"status"};
    int dep = fh_prom_dim(p, ep, 1, 2), dst = fh_prom_dim(p, st, 1, 2);
    assert_true(dep >= 0 && dst >= 0);
    const char *a[] = {"/a"}, *ok[] = {"ok"}, *err[] = {"err"};
    assert_int_equal(fh_prom_dim_row(p, dep, 0, a), 0); /* row 1 stays empty */
    assert_int_equal(fh_prom_dim_row(p, dst, 0, ok), 0);
    assert_int_equal(fh_prom_dim_row(p, dst, 1, err), 0);
    int both[] = {dep, dst};
    int c = fh_prom_family(p, "t_requests_total", "Requests.", FH_PROM_COUNTER, both, 2, NULL,
                           0, 1);
    int g = fh_prom_family(p, "t_level", "A level\\with a\nnewline \"quoted\".",
                           FH_PROM_GAUGE, NULL, 0, NULL, 0, 1);
    static const uint64_t bounds[] = {1000, 250000, 2000000};
    int h = fh_prom_family(p, "t_duration_seconds", "Durations.", FH_PROM_HISTOGRAM, &dep, 1,
                           bounds, 3, 1000000);
    assert_true(c >= 0 && g >= 0 && h >= 0);
    size_t rows[] = {0, 1};
    fh_prom_add(p, c, fh_prom_series(p, c, rows), 3);
    fh_prom_set(p, g, 0, -42);
    fh_prom_observe(p, h, 0, 1000);    /* on the bound: its bucket (le is inclusive) */
    fh_prom_observe(p, h, 0, 1001);
    fh_prom_observe(p, h, 0, 5000000); /* past the last bound */
    const char *want =
        "# HELP t_requests_total Requests.\n"
        "# TYPE t_requests_total counter\n"
        "t_requests_total{endpoint=\"/a\",status=\"ok\"} 0\n"
        "t_requests_total{endpoint=\"/a\",status=\"err\"} 3\n"
        "# HELP t_level A level\\\\with a\\nnewline \"quoted\".\n"
        "# TYPE t_level gauge\n"
        "t_level -42\n"
        "# HELP t_duration_seconds Durations.\n"
        "# TYPE t_duration_seconds histogram\n"
        "t_duration_seconds_bucket{endpoint=\"/a\",le=\"0.001\"} 1\n"
        "t_duration_seconds_bucket{endpoint=\"/a\",le=\"0.25\"} 2\n"
        "t_duration_seconds_bucket{endpoint=\"/a\",le=\"2\"} 2\n"
        "t_duration_seconds_bucket{endpoint=\"/a\",le=\"+Inf\"} 3\n"
        "t_duration_seconds_sum{endpoint=\"/a\"} 5.002001\n"
        "t_duration_seconds_count{endpoint=\"/a\"} 3\n";
    assert_string_equal(text_of(p), want);
    assert_int_equal(fh_prom_value(p, h, 0), 3);
    assert_int_equal(fh_prom_value(p, c, 1), 3);
    fh_prom_destroy(&p);
    assert_null(p);
}

/* A histogram without labels, the scale 1: `le` alone in braces, integers. */
static void test_histogram_without_labels(void **state)
{
    (void)state;
    fh_prom *p;
    assert_int_equal(fh_prom_new(&p), 0);
    static const uint64_t bounds[] = {1, 4};
    int h = fh_prom_family(p, "t_size", "Sizes.", FH_PROM_HISTOGRAM, NULL, 0, bounds, 2, 1);
    assert_true(h >= 0);
    for (uint64_t v = 0; v <= 5; v++)
        fh_prom_observe(p, h, 0, v);
    assert_string_equal(text_of(p), "# HELP t_size Sizes.\n"
                                    "# TYPE t_size histogram\n"
                                    "t_size_bucket{le=\"1\"} 2\n"
                                    "t_size_bucket{le=\"4\"} 5\n"
                                    "t_size_bucket{le=\"+Inf\"} 6\n"
                                    "t_size_sum 15\n"
                                    "t_size_count 6\n");
    fh_prom_destroy(&p);
}

static void test_buckets_cumulative(void **state)
{
    (void)state;
    fh_metrics *m = small_flow(0);
    int id = fh_metrics_endpoint(m, "/index");
    /* One request per bucket bound, on the bound; then 1 us past each. */
    static const int64_t bounds[] = {100,    250,    500,     1000,    2500,    5000,
                                     10000,  25000,  50000,   100000,  250000,  500000,
                                     1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
    for (size_t i = 0; i < 18; i++) {
        fh_metrics_request_done(m, id, FH_METRICS_SUCCESS, bounds[i]);
        fh_metrics_request_done(m, id, FH_METRICS_SUCCESS, bounds[i] + 1);
    }
    const char *t = metrics_text(m);
    /* le="0.0001" holds the request at 100 us; every later bound two more. */
    static const char *const les[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                      "0.005",  "0.01",    "0.025",  "0.05",  "0.1",
                                      "0.25",   "0.5",     "1",      "2.5",   "5",
                                      "10",     "30",      "60",     "+Inf"};
    for (size_t i = 0; i < 19; i++) {
        char series[200];
        snprintf(series, sizeof series,
                 "flowhost_request_duration_seconds_bucket{endpoint=\"/index\",le=\"%s\"}",
                 les[i]);
        assert_int_equal(sample(t, series), i < 18 ? (long long)(2 * i + 1) : 36);
    }
    assert_int_equal(sample(t, "flowhost_request_duration_seconds_count{endpoint=\"/index\"}"),
                     36);
    /* Exact: 2 x (the bounds' sum, 109,444,350 us) + 18 us. */
    assert_non_null(strstr(t, "flowhost_request_duration_seconds_sum{endpoint=\"/index\"} "
                              "218.888718\n"));
    assert_int_equal(sample(t, "flowhost_requests_total{endpoint=\"/index\",status=\"success\"}"),
                     36);
    fh_metrics_destroy(&m);
}

static void test_label_escaping(void **state)
{
    (void)state;
    fh_prom *p;
    assert_int_equal(fh_prom_new(&p), 0);
    const char *lab[] = {"v"};
    int d = fh_prom_dim(p, lab, 1, 6);
    const char *vals[6] = {
        "back\\slash",
        "say \"hi\"",
        "two\nlines",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", /* valid: kept as they are */
        "bad \xff end \xc3",                          /* stray byte, truncated sequence */
        "overlong \xc0\xaf surrogate \xed\xa0\x80",   /* overlong '/', U+D800 */
    };
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(fh_prom_dim_row(p, d, i, &vals[i]), 0);
    int g = fh_prom_family(p, "t_g", "G.", FH_PROM_GAUGE, &d, 1, NULL, 0, 1);
    assert_true(g >= 0);
    const char *t = text_of(p);
    assert_non_null(strstr(t, "t_g{v=\"back\\\\slash\"} 0\n"));
    assert_non_null(strstr(t, "t_g{v=\"say \\\"hi\\\"\"} 0\n"));
    assert_non_null(strstr(t, "t_g{v=\"two\\nlines\"} 0\n"));
    assert_non_null(strstr(t, "t_g{v=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"} 0\n"));
    assert_non_null(strstr(t, "t_g{v=\"bad \xef\xbf\xbd end \xef\xbf\xbd\"} 0\n"));
    assert_non_null(strstr(t, "t_g{v=\"overlong \xef\xbf\xbd\xef\xbf\xbd surrogate "
                              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"} 0\n"));
    assert_true(fh_prom_utf8_valid(vals[3], strlen(vals[3])));
    assert_false(fh_prom_utf8_valid(vals[4], strlen(vals[4])));
    assert_false(fh_prom_utf8_valid(vals[5], strlen(vals[5])));
    fh_prom_destroy(&p);
}

/* ---- the endpoint bound ---- */

static void test_endpoint_bound(void **state)
{
    (void)state;
    fh_metrics *m = small_flow(3);
    assert_int_equal(fh_metrics_endpoint(m, "/a"), 0);
    assert_int_equal(fh_metrics_endpoint(m, "/b"), 1);
    assert_int_equal(fh_metrics_endpoint(m, "/a"), 0);
    /* Not a series of their own, even with room: it would print "other" twice, or
     * print two names alike. */
    assert_int_equal(fh_metrics_endpoint(m, "other"), 3);
    assert_int_equal(fh_metrics_endpoint(m, "/bad\xff"), 3);
    assert_int_equal(fh_metrics_endpoint(m, NULL), 3);
    char longest[FH_METRICS_ENDPOINT_MAX + 2];
    memset(longest, 'x', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    assert_int_equal(fh_metrics_endpoint(m, longest), 3);
    longest[FH_METRICS_ENDPOINT_MAX] = '\0';
    assert_int_equal(fh_metrics_endpoint(m, longest), 2); /* exactly the longest */
    assert_int_equal(fh_metrics_endpoint(m, "/c"), 3);   /* no room left */
    assert_int_equal(fh_metrics_endpoint(m, "/b"), 1);

    for (int i = 0; i < 4; i++)
        fh_metrics_request_done(m, i, FH_METRICS_ERROR, 10);
    const char *t = metrics_text(m);
    size_t size = strlen(t);
    assert_int_equal(lines_starting(t, "flowhost_requests_total{"), 4 * FH_METRICS_N_STATUS);
    assert_int_equal(lines_starting(t, "flowhost_request_duration_seconds_count{"), 4);
    assert_int_equal(
        sample(t, "flowhost_requests_total{endpoint=\"other\",status=\"error\"}"), 1);

    /* 100,000 new endpoints from clients: all counted under "other", no new series. */
    for (int i = 0; i < 100000; i++) {
        char name[32];
        snprintf(name, sizeof name, "/random-%d", i);
        fh_metrics_request_done(m, fh_metrics_endpoint(m, name), FH_METRICS_SUCCESS, 10);
    }
    t = metrics_text(m);
    assert_int_equal(lines_starting(t, "flowhost_requests_total{"), 4 * FH_METRICS_N_STATUS);
    assert_int_equal(
        sample(t, "flowhost_requests_total{endpoint=\"other\",status=\"success\"}"), 100000);
    assert_int_equal(strlen(t), size + 5 + 5 + 5 * 19); /* only digits grew: 1 -> 100001 */
    fh_metrics_destroy(&m);
}

/* "other" appears only once used; endpoints only once seen. */
static void test_endpoints_appear_when_seen(void **state)
{
    (void)state;
    fh_metrics *m = small_flow(4);
    const char *t = metrics_text(m);
    assert_int_equal(lines_starting(t, "flowhost_requests_total"), 0);
    assert_null(strstr(t, "# HELP flowhost_requests_total")); /* no series: no lines */
    assert_non_null(strstr(t, "# TYPE flowhost_requests_in_flight gauge\n"
                              "flowhost_requests_in_flight 0\n"));
    fh_metrics_request_done(m, 0, FH_METRICS_SUCCESS, 1); /* an id not handed out */
    fh_metrics_request_done(m, 4, FH_METRICS_SUCCESS, 1); /* "other", not used yet */
    t = metrics_text(m);
    assert_int_equal(lines_starting(t, "flowhost_requests_total"), 0);
    int id = fh_metrics_endpoint(m, "/index");
    fh_metrics_request_done(m, id, FH_METRICS_SUCCESS, 1);
    t = metrics_text(m);
    assert_int_equal(lines_starting(t, "flowhost_requests_total{endpoint=\"/index\""),
                     FH_METRICS_N_STATUS);
    assert_int_equal(
        sample(t, "flowhost_requests_total{endpoint=\"/index\",status=\"success\"}"), 1);
    /* A cancelled request is counted, not timed: nobody was answered. */
    fh_metrics_request_done(m, id, FH_METRICS_CANCELLED, 5000000);
    t = metrics_text(m);
    assert_int_equal(
        sample(t, "flowhost_requests_total{endpoint=\"/index\",status=\"cancelled\"}"), 1);
    assert_int_equal(sample(t, "flowhost_request_duration_seconds_count{endpoint=\"/index\"}"), 1);
    fh_metrics_destroy(&m);
}

/* ---- the flow's metrics ---- */

static void test_flow_values(void **state)
{
    (void)state;
    fh_metrics *m = small_flow(0);
    int id = fh_metrics_endpoint(m, "/search");
    fh_metrics_request_done(m, id, FH_METRICS_SUCCESS, 2000);
    fh_metrics_request_done(m, id, FH_METRICS_TIMEOUT, 30000000);
    fh_metrics_request_done(m, id, FH_METRICS_REJECTED, 5); /* counted, not timed */
    fh_metrics_request_done(m, id, FH_METRICS_ERROR, -7);   /* a clock step: 0 */
    fh_metrics_executor_call(m, 0, 1, 1500, 200);
    fh_metrics_executor_call(m, 2, 0, 700000, 0);
    fh_metrics_batch(m, 0, 1, 3);
    fh_metrics_batch(m, 1, 0, 3); /* no batching there: ignored */
    fh_metrics_executor_error(m, 1, FH_METRICS_E_CRASH);
    fh_metrics_executor_error(m, 1, FH_METRICS_E_CRASH);
    fh_metrics_worker_restart(m, 0, 1);
    fh_metrics_set_flow(m, 7, 4096);
    fh_metrics_set_unit(m, 0, 5, 1);
    fh_metrics_set_worker(m, 0, 1, 16);
    const char *t = metrics_text(m);
    static const struct {
        const char *series;
        long long value;
    } want[] = {
        {"flowhost_requests_total{endpoint=\"/search\",status=\"success\"}", 1},
        {"flowhost_requests_total{endpoint=\"/search\",status=\"timeout\"}", 1},
        {"flowhost_requests_total{endpoint=\"/search\",status=\"rejected\"}", 1},
        {"flowhost_requests_total{endpoint=\"/search\",status=\"error\"}", 1},
        {"flowhost_request_duration_seconds_count{endpoint=\"/search\"}", 3},
        {"flowhost_request_duration_seconds_bucket{endpoint=\"/search\",le=\"0.0001\"}", 1},
        {"flowhost_request_duration_seconds_bucket{endpoint=\"/search\",le=\"10\"}", 2},
        {"flowhost_request_duration_seconds_bucket{endpoint=\"/search\",le=\"30\"}", 3},
        {"flowhost_executor_duration_seconds_bucket{executor=\"enc\",shard=\"0\",replica=\"1\","
         "le=\"0.001\"}", 0},
        {"flowhost_executor_duration_seconds_bucket{executor=\"enc\",shard=\"0\",replica=\"1\","
         "le=\"0.0025\"}", 1},
        {"flowhost_executor_duration_seconds_count{executor=\"enc\",shard=\"0\",replica=\"0\"}",
         0},
        {"flowhost_executor_queue_wait_seconds_bucket{executor=\"enc\",shard=\"0\","
         "replica=\"1\",le=\"0.00025\"}", 1},
        {"flowhost_executor_duration_seconds_count{executor=\"idx\",shard=\"1\",replica=\"0\"}",
         1},
        {"flowhost_executor_batch_size_bucket{executor=\"enc\",shard=\"0\",replica=\"1\","
         "le=\"4\"}", 1},
        {"flowhost_executor_errors_total{executor=\"idx\",shard=\"0\",kind=\"crash\"}", 2},
        {"flowhost_executor_errors_total{executor=\"idx\",shard=\"0\",kind=\"handler\"}", 0},
        {"flowhost_worker_restarts_total{executor=\"enc\",shard=\"0\",replica=\"1\"}", 1},
        {"flowhost_requests_in_flight", 7},
        {"flowhost_requests_in_flight_bytes", 4096},
        {"flowhost_executor_queued_requests{executor=\"enc\",shard=\"0\"}", 5},
        {"flowhost_executor_replicas{executor=\"enc\",shard=\"0\"}", 2},
        {"flowhost_executor_replicas{executor=\"idx\",shard=\"1\"}", 1},
        {"flowhost_executor_replicas_ready{executor=\"enc\",shard=\"0\"}", 1},
        {"flowhost_executor_replicas_ready{executor=\"idx\",shard=\"0\"}", 0},
        {"flowhost_worker_held_requests{executor=\"enc\",shard=\"0\",replica=\"1\"}", 16},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        if (sample(t, want[i].series) != want[i].value)
            fail_msg("%s: want %lld, got %lld", want[i].series, want[i].value,
                     sample(t, want[i].series));
    }
    assert_non_null(strstr(t, "flowhost_request_duration_seconds_sum{endpoint=\"/search\"} "
                              "30.002\n"));
    /* Batch sizes only for the batching unit's replicas. */
    assert_int_equal(lines_starting(t, "flowhost_executor_batch_size_count{"), 2);
    fh_metrics_destroy(&m);
}

/* Updates out of range change nothing and do not crash. */
static void test_out_of_range_ignored(void **state)
{
    (void)state;
    fh_metrics *m = small_flow(2);
    int id = fh_metrics_endpoint(m, "/x");
    const char *before = metrics_text(m);
    char *copy = strdup(before);
    fh_metrics_request_done(m, -1, FH_METRICS_SUCCESS, 1);
    fh_metrics_request_done(m, 3, FH_METRICS_SUCCESS, 1);
    fh_metrics_request_done(m, 1000000, FH_METRICS_SUCCESS, 1);
    fh_metrics_request_done(m, id, (fh_metrics_status)77, 1);
    fh_metrics_request_done(m, id, (fh_metrics_status)-1, 1);
    fh_metrics_executor_call(m, 3, 0, 1, 1);
    fh_metrics_executor_call(m, 0, 2, 1, 1);
    fh_metrics_executor_call(m, SIZE_MAX, UINT32_MAX, 1, 1);
    fh_metrics_batch(m, 0, 2, 1);
    fh_metrics_executor_error(m, 3, FH_METRICS_E_HANDLER);
    fh_metrics_executor_error(m, 0, (fh_metrics_error_kind)9);
    fh_metrics_worker_restart(m, 0, 5);
    fh_metrics_set_unit(m, 3, 1, 1);
    fh_metrics_set_worker(m, 1, 1, 1);
    assert_string_equal(metrics_text(m), copy);
    free(copy);
    fh_metrics_destroy(&m);
    fh_metrics_destroy(&m); /* NULL: nothing */
    fh_metrics_destroy(NULL);
}

/* A flow with no executors still writes its flow-wide metrics. */
static void test_empty_layout(void **state)
{
    (void)state;
    fh_metrics_layout l = {0};
    fh_metrics *m;
    assert_int_equal(fh_metrics_new(&l, &m), 0);
    fh_metrics_executor_call(m, 0, 0, 1, 1);
    const char *t = metrics_text(m);
    assert_non_null(strstr(t, "flowhost_requests_in_flight 0\n"));
    assert_null(strstr(t, "executor="));
    fh_metrics_destroy(&m);
}

/* ---- what is refused ---- */

static void test_bad_layouts(void **state)
{
    (void)state;
    fh_metrics *m = (fh_metrics *)1;
    fh_metrics_unit noname = {.replicas = 1}, noreplica = {.executor = "x"};
    fh_metrics_layout l = {.units = &noname, .n_units = 1};
    assert_int_equal(fh_metrics_new(&l, &m), FH_E_INVAL);
    assert_null(m);
    assert_non_null(strstr(fh_last_error(), "unit 0"));
    l.units = &noreplica;
    assert_int_equal(fh_metrics_new(&l, &m), FH_E_INVAL);
    l.units = NULL;
    assert_int_equal(fh_metrics_new(&l, &m), FH_E_INVAL);
    l = (fh_metrics_layout){.max_endpoints = FH_METRICS_ENDPOINTS_MAX + 1};
    assert_int_equal(fh_metrics_new(&l, &m), FH_E_INVAL);
    assert_non_null(strstr(fh_last_error(), "at most 1024 endpoints"));
}

static void test_bad_declarations(void **state)
{
    (void)state;
    fh_prom *p;
    assert_int_equal(fh_prom_new(&p), 0);
    static const char *const bad_labels[] = {"le", "__x", "1a", "a-b", "", NULL};
    for (size_t i = 0; i < sizeof bad_labels / sizeof *bad_labels; i++) {
        assert_int_equal(fh_prom_dim(p, &bad_labels[i], 1, 1), FH_E_INVAL);
        assert_non_null(strstr(fh_last_error(), "label name"));
    }
    const char *ok[] = {"a"}, *two[] = {"b", "a"};
    int d = fh_prom_dim(p, ok, 1, 2), d2 = fh_prom_dim(p, two, 2, 1);
    assert_true(d >= 0 && d2 >= 0);
    const char *twice[] = {"a", "a"};
    assert_int_equal(fh_prom_dim(p, twice, 2, 1), FH_E_INVAL);
    assert_non_null(strstr(fh_last_error(), "label 'a' twice"));
    assert_int_equal(fh_prom_dim(p, ok, 1, 0), FH_E_INVAL);
    assert_int_equal(fh_prom_dim(p, ok, 0, 1), FH_E_INVAL);
    /* A row is given its values once. */
    const char *v[] = {"x"}, *none[] = {NULL};
    assert_int_equal(fh_prom_dim_row(p, d, 0, v), 0);
    assert_int_equal(fh_prom_dim_row(p, d, 0, v), FH_E_STATE);
    assert_int_equal(fh_prom_dim_row(p, d, 2, v), FH_E_INVAL);
    assert_int_equal(fh_prom_dim_row(p, 9, 0, v), FH_E_INVAL);
    assert_int_equal(fh_prom_dim_row(p, d, 1, none), FH_E_INVAL);

    static const uint64_t up[] = {1, 2}, flat[] = {2, 2};
    assert_int_equal(fh_prom_family(p, "1bad", "", FH_PROM_GAUGE, NULL, 0, NULL, 0, 1),
                     FH_E_INVAL);
    assert_int_equal(fh_prom_family(p, "a-b", "", FH_PROM_GAUGE, NULL, 0, NULL, 0, 1),
                     FH_E_INVAL);
    assert_true(fh_prom_family(p, "ns:ok", "", FH_PROM_GAUGE, NULL, 0, NULL, 0, 1) >= 0);
    assert_int_equal(fh_prom_family(p, "ns:ok", "", FH_PROM_GAUGE, NULL, 0, NULL, 0, 1),
                     FH_E_INVAL);
    assert_non_null(strstr(fh_last_error(), "declared twice"));
    int dd[] = {d, d2};
    assert_int_equal(fh_prom_family(p, "t1", "", FH_PROM_GAUGE, dd, 2, NULL, 0, 1),
                     FH_E_INVAL);
    assert_non_null(strstr(fh_last_error(), "label 'a' twice"));
    assert_int_equal(fh_prom_family(p, "t2", "", FH_PROM_GAUGE, &(int){7}, 1, NULL, 0, 1),
                     FH_E_INVAL);
    assert_int_equal(fh_prom_family(p, "t3", "", FH_PROM_HISTOGRAM, NULL, 0, flat, 2, 1),
                     FH_E_INVAL);
    assert_int_equal(fh_prom_family(p, "t4", "", FH_PROM_HISTOGRAM, NULL, 0, up, 2, 3),
                     FH_E_INVAL);
    assert_int_equal(fh_prom_family(p, "t5", "", FH_PROM_HISTOGRAM, NULL, 0, NULL, 0, 1),
                     FH_E_INVAL);
    assert_int_equal(fh_prom_family(p, "t6", "", FH_PROM_COUNTER, NULL, 0, up, 2, 1),
                     FH_E_INVAL);
    assert_int_equal(fh_prom_family(p, "t7", "", (fh_prom_type)9, NULL, 0, NULL, 0, 1),
                     FH_E_INVAL);
    int h = fh_prom_family(p, "t8", "", FH_PROM_HISTOGRAM, NULL, 0, up, 2, 1000);
    int c = fh_prom_family(p, "t9_total", "", FH_PROM_COUNTER, NULL, 0, NULL, 0, 1);
    assert_true(h >= 0 && c >= 0);
    fh_prom_add(p, c, 0, 5);
    fh_prom_set(p, c, 0, 1); /* a counter only goes up */
    fh_prom_observe(p, c, 0, 1);
    assert_int_equal(fh_prom_value(p, c, 0), 5);
    /* The wrong update for a type, a series out of range: ignored. */
    fh_prom_add(p, h, 0, 5);
    fh_prom_set(p, h, 0, 5);
    fh_prom_observe(p, h, 1, 5);
    fh_prom_observe(p, 99, 0, 5);
    assert_int_equal(fh_prom_value(p, h, 0), 0);
    size_t rows[] = {2};
    assert_int_equal(fh_prom_series(p, 99, rows), (size_t)-1);
    fh_prom_destroy(&p);
}

/* Quantiles read back as Prometheus' histogram_quantile() estimates them. */
static void test_quantiles(void **state)
{
    (void)state;
    fh_prom *p;
    assert_int_equal(fh_prom_new(&p), 0);
    static const uint64_t bounds[] = {1000, 2000, 4000};
    const char *lab[] = {"s"};
    int d = fh_prom_dim(p, lab, 1, 3);
    int h = fh_prom_family(p, "t_seconds", "", FH_PROM_HISTOGRAM, &d, 1, bounds, 3, 1000000);
    int c = fh_prom_family(p, "t_total", "", FH_PROM_COUNTER, NULL, 0, NULL, 0, 1);
    assert_true(h >= 0 && c >= 0);
    assert_true(isnan(fh_prom_quantile(p, h, 0, 1, 0.5))); /* nothing observed */
    for (int i = 0; i < 10; i++)
        fh_prom_observe(p, h, 0, 1500); /* all in (0.001, 0.002] */
    assert_float_equal(fh_prom_quantile(p, h, 0, 1, 0.5), 0.0015, 1e-12);
    assert_float_equal(fh_prom_quantile(p, h, 0, 1, 0.9), 0.0019, 1e-12);
    assert_float_equal(fh_prom_quantile(p, h, 0, 1, 0), 0.001, 1e-12);
    assert_float_equal(fh_prom_quantile(p, h, 0, 1, 1), 0.002, 1e-12);
    /* Series 1: 3 in the first bucket (from 0), 1 past the last bound. */
    for (int i = 0; i < 3; i++)
        fh_prom_observe(p, h, 1, 500);
    fh_prom_observe(p, h, 1, 9000);
    assert_float_equal(fh_prom_quantile(p, h, 1, 1, 0.5), 0.001 * 2 / 3, 1e-12);
    assert_float_equal(fh_prom_quantile(p, h, 1, 1, 0.99), 0.004, 1e-12); /* +Inf: last bound */
    /* Series 0 and 1 together: 14 observations, the median (rank 7) is the 4th of the
     * 10 in (0.001, 0.002]. */
    assert_float_equal(fh_prom_quantile(p, h, 0, 2, 0.5), 0.0014, 1e-12);
    assert_float_equal(fh_prom_quantile(p, h, 0, 99, 0.5), 0.0014, 1e-12); /* range cut */
    assert_true(isnan(fh_prom_quantile(p, h, 2, 1, 0.5)));
    assert_true(isnan(fh_prom_quantile(p, h, 0, 1, 1.5)));
    assert_true(isnan(fh_prom_quantile(p, h, 0, 1, NAN)));
    assert_true(isnan(fh_prom_quantile(p, c, 0, 1, 0.5)));
    assert_true(isnan(fh_prom_quantile(p, 42, 0, 1, 0.5)));
    fh_prom_destroy(&p);

    fh_metrics *m = small_flow(0);
    for (int i = 0; i < 9; i++)
        fh_metrics_executor_call(m, 0, 0, 80, 0);   /* replica 0: le 0.0001 */
    fh_metrics_executor_call(m, 0, 1, 7000, 0);     /* replica 1: (0.005, 0.01] */
    assert_float_equal(fh_metrics_executor_quantile(m, 0, 0.5), 0.0001 * 5 / 9, 1e-12);
    assert_float_equal(fh_metrics_executor_quantile(m, 0, 0.95), 0.0075, 1e-12);
    assert_true(isnan(fh_metrics_executor_quantile(m, 1, 0.5)));
    assert_true(isnan(fh_metrics_executor_quantile(m, 3, 0.5)));
    int a = fh_metrics_endpoint(m, "/a"), b = fh_metrics_endpoint(m, "/b");
    fh_metrics_request_done(m, a, FH_METRICS_SUCCESS, 2000); /* (0.001, 0.0025] */
    fh_metrics_request_done(m, b, FH_METRICS_SUCCESS, 40000); /* (0.025, 0.05] */
    assert_float_equal(fh_metrics_request_quantile(m, a, 0.5), 0.00175, 1e-12);
    assert_float_equal(fh_metrics_request_quantile(m, b, 0.5), 0.0375, 1e-12);
    assert_float_equal(fh_metrics_request_quantile(m, -1, 0.5), 0.0025, 1e-12);
    assert_true(isnan(fh_metrics_request_quantile(m, 33, 0.5)));
    fh_metrics_destroy(&m);
}

/* A buffer reused across scrapes: the same text, no growth. */
static void test_buffer_reuse(void **state)
{
    (void)state;
    fh_metrics *m = small_flow(0);
    fh_metrics_request_done(m, fh_metrics_endpoint(m, "/a"), FH_METRICS_SUCCESS, 10);
    fh_prom_buf b = {0};
    assert_int_equal(fh_metrics_write(m, &b), 0);
    size_t len = b.len, cap = b.cap;
    char *first = strdup(b.data);
    assert_int_equal(strlen(b.data), len);
    for (int i = 0; i < 100; i++) {
        b.len = 0;
        assert_int_equal(fh_metrics_write(m, &b), 0);
    }
    assert_int_equal(b.len, len);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.data, first);
    /* Appends to what the buffer holds. */
    assert_int_equal(fh_metrics_write(m, &b), 0);
    assert_int_equal(b.len, 2 * len);
    free(first);
    fh_prom_buf_free(&b);
    assert_null(b.data);
    fh_prom_buf_free(NULL);
    fh_metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text),
        cmocka_unit_test(test_histogram_without_labels),
        cmocka_unit_test(test_buckets_cumulative),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_endpoint_bound),
        cmocka_unit_test(test_endpoints_appear_when_seen),
        cmocka_unit_test(test_flow_values),
        cmocka_unit_test(test_out_of_range_ignored),
        cmocka_unit_test(test_empty_layout),
        cmocka_unit_test(test_bad_layouts),
        cmocka_unit_test(test_bad_declarations),
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_buffer_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

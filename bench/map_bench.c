/* map_bench: what map operations cost at 10^4, 10^5 and 10^6 keys.
 *
 *   map_bench [--keys N[,N...]] [--reps R]
 *
 * For each size N (default 10000,100000,1000000) and each repetition, one JSON object
 * per operation: {"bench":"map","op":OP,"keys":N,"ops":COUNT,"seconds":S,"ops_per_s":X}.
 * Operations:
 *   set_new       fh_map_set of N new keys into an empty map (the map grows from 0)
 *   get_hit       fh_map_get of every key
 *   get_miss      fh_map_get of N keys the map does not hold
 *   set_replace   fh_map_set of every key again (a new value, same position)
 *   first_lookup  the first fh_map_get on a map just decoded from the wire (it builds the
 *                 index: one op = one map of N keys)
 *   copy          fh_value_copy of the map (one op = one entry copied)
 *   merge         fh_map_merge of the map over a copy of itself, as a worker merges
 *                 scoped parameters (one op = one entry merged)
 *   equal         fh_value_equal of the map and its copy (one op = one entry compared)
 *   json_decode   fh_value_from_json of the map's JSON text (one op = one key)
 *   remove        fh_map_remove of 100 keys from the middle (one op = one removal; each
 *                 moves the entries after it: O(N))
 * Linear operations keep their ops/s roughly flat from 10^4 to 10^6 keys (caches aside);
 * a quadratic one would lose a factor of 100 over that range. */
#include "bench_common.h"

#include <getopt.h>

#include <flowhost/json.h>

#include "pb.h"

static double seconds_since(int64_t t0)
{
    return (double)(bench_now_ns() - t0) / 1e9;
}

static void report(const char *op, size_t keys, size_t ops, double s)
{
    printf("{\"bench\":\"map\",\"op\":\"%s\",\"keys\":%zu,\"ops\":%zu,\"seconds\":%.6f,"
           "\"ops_per_s\":%.0f}\n",
           op, keys, ops, s, s > 0 ? (double)ops / s : 0.0);
    fflush(stdout);
}

static void die(const char *what)
{
    fprintf(stderr, "map_bench: %s failed\n", what);
    exit(1);
}

static void run(size_t n)
{
    char **keys = malloc(n * sizeof *keys), **missing = malloc(n * sizeof *missing);
    if (!keys || !missing)
        die("malloc");
    for (size_t i = 0; i < n; i++)
        if (asprintf(&keys[i], "key-%zu", i) < 0 || asprintf(&missing[i], "nope-%zu", i) < 0)
            die("asprintf");

    fh_value *m = fh_value_new_map();
    int64_t t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        if (fh_map_set_int(m, keys[i], (int64_t)i) != 0)
            die("fh_map_set");
    report("set_new", n, n, seconds_since(t0));

    size_t found = 0;
    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        found += fh_map_get(m, keys[i]) != NULL;
    report("get_hit", n, n, seconds_since(t0));
    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        found += fh_map_get(m, missing[i]) != NULL;
    report("get_miss", n, n, seconds_since(t0));
    if (found != n)
        die("fh_map_get");

    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        if (fh_map_set_int(m, keys[i], -(int64_t)i) != 0)
            die("fh_map_set");
    report("set_replace", n, n, seconds_since(t0));

    size_t size = flowhost__value__get_packed_size(FH_PB_CVALUE(m));
    uint8_t *buf = malloc(size);
    if (!buf || flowhost__value__pack(FH_PB_CVALUE(m), buf) != size)
        die("pack");
    Flowhost__Value *decoded = flowhost__value__unpack(NULL, size, buf);
    free(buf);
    if (!decoded)
        die("unpack");
    t0 = bench_now_ns();
    if (!fh_map_get((fh_value *)decoded, keys[n / 2]))
        die("fh_map_get");
    report("first_lookup", n, 1, seconds_since(t0));
    protobuf_c_message_free_unpacked(&decoded->base, NULL);

    t0 = bench_now_ns();
    fh_value *c = fh_value_copy(m);
    report("copy", n, n, seconds_since(t0));
    if (!c)
        die("fh_value_copy");

    t0 = bench_now_ns();
    if (fh_map_merge(c, m) != 0)
        die("fh_map_merge");
    report("merge", n, n, seconds_since(t0));

    t0 = bench_now_ns();
    if (!fh_value_equal(m, c))
        die("fh_value_equal");
    report("equal", n, n, seconds_since(t0));

    char *json = fh_value_to_json(m);
    if (!json)
        die("fh_value_to_json");
    fh_value *parsed = NULL;
    t0 = bench_now_ns();
    if (fh_value_from_json(json, strlen(json), &parsed) != 0)
        die("fh_value_from_json");
    report("json_decode", n, n, seconds_since(t0));
    free(json);
    fh_value_destroy(&parsed);

    t0 = bench_now_ns();
    for (size_t i = n / 2; i < n / 2 + 100; i++)
        if (fh_map_remove(m, keys[i]) != 0)
            die("fh_map_remove");
    report("remove", n, 100, seconds_since(t0));

    fh_value_destroy(&c);
    fh_value_destroy(&m);
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(missing[i]);
    }
    free(keys);
    free(missing);
}

int main(int argc, char **argv)
{
    const char *sizes = "10000,100000,1000000";
    int reps = 1;
    static const struct option opts[] = {
        {"keys", required_argument, NULL, 'k'}, {"reps", required_argument, NULL, 'r'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': sizes = optarg; break;
        case 'r': reps = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: map_bench [--keys N[,N...]] [--reps R]\n");
            return 2;
        }
    }
    for (int r = 0; r < reps; r++) {
        for (const char *p = sizes; *p;) {
            char *end;
            unsigned long long n = strtoull(p, &end, 10);
            if (end == p || n < 200) {
                fprintf(stderr, "map_bench: --keys wants sizes of 200 or more\n");
                return 2;
            }
            run((size_t)n);
            p = *end == ',' ? end + 1 : end;
        }
    }
    return 0;
}

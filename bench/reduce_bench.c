/* reduce_bench: what the merge of a join or of shards costs the gateway, per call.
 *
 *   reduce_bench [--reps R] [--calls N]
 *
 * One JSON object per case and repetition:
 * {"bench":"reduce","case":CASE,"calls":N,"seconds":S,"us_per_call":X}. Cases, each on
 * 3 parts as they travel (fh_wire_docs), through fh_reduce_wire:
 *   join_3x10      3 branches of the same 10 small documents (id, a 40-byte text), each
 *                  branch having added its own field (a tag, an 8-float embedding, a
 *                  score): decoded, merged, packed
 *   decode_3x10    the decoding of those 3 parts alone (what the merge costs on top of it
 *                  is join_3x10 minus this)
 *   same_3x10      3 parts of the same frames (pass-through branches): the fast path
 *   shards_3x10x10 3 shards' replies to 10 queries of 10 matches each ("cosine"), merged
 *                  and cut to top_k 10 */
#define _GNU_SOURCE
#include "bench_common.h"

#include <getopt.h>

#include <flowhost/error.h>

#include "reduce.h"
#include "wire.h"

static void die(const char *what)
{
    fprintf(stderr, "reduce_bench: %s failed: %s\n", what, fh_last_error());
    exit(1);
}

static fh_wire_docs pack(fh_docs *d)
{
    fh_wire_docs w;
    if (fh_docs_pack_wire(d, 1, &w) != 0)
        die("pack");
    fh_docs_destroy(&d);
    return w;
}

/* Branch K's reply: the 10 documents, with the field branch K adds. */
static fh_wire_docs branch(int k)
{
    fh_docs *a = fh_docs_new();
    for (int i = 0; i < 10; i++) {
        fh_doc *d = fh_doc_new();
        char id[32];
        snprintf(id, sizeof id, "doc-%d", i);
        fh_doc_set_id(d, id);
        fh_doc_set_text(d, "a short sentence of about forty bytes..");
        if (k == 0)
            fh_map_set(fh_doc_tags(d), "lang", fh_value_new_string("en"));
        if (k == 1) {
            float e[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
            fh_doc_set_embedding(d, e, 8);
        }
        if (k == 2)
            fh_doc_set_score(d, "quality", 0.5 + i);
        fh_docs_append(a, d);
    }
    return pack(a);
}

/* Shard S's reply to 10 queries: 10 matches each, best first. */
static fh_wire_docs shard(int s)
{
    fh_docs *a = fh_docs_new();
    for (int q = 0; q < 10; q++) {
        fh_doc *d = fh_doc_new();
        char id[32];
        snprintf(id, sizeof id, "query-%d", q);
        fh_doc_set_id(d, id);
        for (int m = 0; m < 10; m++) {
            fh_doc *x = fh_doc_new();
            snprintf(id, sizeof id, "s%d-m%d", s, m);
            fh_doc_set_id(x, id);
            fh_doc_set_text(x, "a matched document of some forty bytes..");
            fh_doc_set_score(x, "cosine", 1.0 - 0.01 * (m * 3 + s));
            fh_doc_add_match(d, x);
        }
        fh_docs_append(a, d);
    }
    return pack(a);
}

static void report(const char *name, long calls, double s)
{
    printf("{\"bench\":\"reduce\",\"case\":\"%s\",\"calls\":%ld,\"seconds\":%.6f,"
           "\"us_per_call\":%.2f}\n", name, calls, s, s * 1e6 / (double)calls);
    fflush(stdout);
}

static void run_reduce(const char *name, fh_wire_docs *parts, const fh_reduce_options *o, long calls)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < calls; i++) {
        fh_wire_docs out;
        if (fh_reduce_wire(parts, 3, o, &out) != 0)
            die(name);
        fh_wire_docs_close(&out);
    }
    report(name, calls, (double)(bench_now_ns() - t0) / 1e9);
}

static void run_decode(const char *name, fh_wire_docs *parts, long calls)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < calls; i++)
        for (int k = 0; k < 3; k++) {
            fh_docs *d;
            if (fh_docs_decode_wire(&parts[k], &d) != 0)
                die(name);
            fh_docs_destroy(&d);
        }
    report(name, calls, (double)(bench_now_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
    long reps = 3, calls = 20000;
    static const struct option longopts[] = {
        {"reps", required_argument, NULL, 'r'}, {"calls", required_argument, NULL, 'n'}, {0}};
    for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        if (c == 'r')
            reps = atol(optarg);
        else if (c == 'n')
            calls = atol(optarg);
        else {
            fprintf(stderr, "usage: reduce_bench [--reps R] [--calls N]\n");
            return 2;
        }
    }
    fh_wire_docs join[3] = {branch(0), branch(1), branch(2)};
    fh_wire_docs same[3];
    for (int k = 0; k < 3; k++)
        if (fh_wire_docs_share(&same[k], &join[0]) != 0)
            die("share");
    fh_wire_docs shards[3] = {shard(0), shard(1), shard(2)};
    fh_reduce_options top = {.top_k = 10};
    for (long r = 0; r < reps; r++) {
        run_reduce("join_3x10", join, NULL, calls);
        run_decode("decode_3x10", join, calls);
        run_reduce("same_3x10", same, NULL, calls);
        run_reduce("shards_3x10x10", shards, &top, calls / 10);
    }
    for (int k = 0; k < 3; k++) {
        fh_wire_docs_close(&join[k]);
        fh_wire_docs_close(&same[k]);
        fh_wire_docs_close(&shards[k]);
    }
    return 0;
}

/* Unit tests: the merge of document arrays at a join and over shards (host/gateway/reduce.c):
 * ids matched in order, first non-empty field wins, chunks and matches merged, top_k sort
 * and cut, and the wire entry's blob frames, byte bound and undecoded fast paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "codec.h"
#include "pb.h"
#include "reduce.h"
#include "wire.h"
#include <flowhost/document.h>
#include <flowhost/error.h>
#include <flowhost/value.h>

/* ---- helpers ---- */

static fh_doc *doc(const char *id)
{
    fh_doc *d = fh_doc_new();
    assert_non_null(d);
    assert_int_equal(fh_doc_set_id(d, id), 0);
    return d;
}

static fh_doc *doc_text(const char *id, const char *text)
{
    fh_doc *d = doc(id);
    assert_int_equal(fh_doc_set_text(d, text), 0);
    return d;
}

/* An array of the documents with the ids in IDS, comma separated ("" : none); each
 * document's text is "ID@TAG". */
static fh_docs *docs_of(const char *ids, const char *tag)
{
    fh_docs *a = fh_docs_new();
    assert_non_null(a);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ids);
    for (char *save, *id = strtok_r(buf, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        char text[64];
        snprintf(text, sizeof text, "%s@%s", id, tag);
        assert_int_equal(fh_docs_append(a, doc_text(id, text)), 0);
    }
    return a;
}

/* The ids of DOCS, comma separated, in a static buffer. */
static const char *ids(const fh_docs *docs)
{
    static char buf[1024];
    buf[0] = '\0';
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        if (i)
            strcat(buf, ",");
        strcat(buf, fh_doc_id(fh_docs_at(docs, i)));
    }
    return buf;
}

/* The ids of D's matches (or chunks with CHUNKS), comma separated. */
static const char *sub_ids(const fh_doc *d, int chunks)
{
    static char buf[1024];
    buf[0] = '\0';
    size_t n = chunks ? fh_doc_chunk_count(d) : fh_doc_match_count(d);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(buf, ",");
        strcat(buf, fh_doc_id(chunks ? fh_doc_chunk_at(d, i) : fh_doc_match_at(d, i)));
    }
    return buf;
}

/* Reduces the N arrays (taken) with top_k K; the result. */
static fh_docs *reduce_k(fh_docs **parts, size_t n, int64_t k)
{
    fh_reduce_options o = {.top_k = k};
    fh_docs *out = NULL;
    assert_int_equal(fh_reduce_docs(parts, n, &o, &out), 0);
    for (size_t i = 0; i < n; i++)
        assert_null(parts[i]);
    assert_non_null(out);
    return out;
}

static fh_doc *match(const char *id, const char *score, double v)
{
    fh_doc *m = doc(id);
    if (score)
        assert_int_equal(fh_doc_set_score(m, score, v), 0);
    return m;
}

/* ---- the merge ---- */

static void test_ids_matched_in_order(void **state)
{
    (void)state;
    fh_docs *p[3] = {docs_of("a,b,c", "1"), docs_of("c,d,a", "2"), docs_of("e,b,d", "3")};
    fh_docs *r = reduce_k(p, 3, 0);
    /* the first part's order, then new ids as they come */
    assert_string_equal(ids(r), "a,b,c,d,e");
    /* the text of the first part that had the id */
    assert_string_equal(fh_doc_text(fh_docs_at(r, 0)), "a@1");
    assert_string_equal(fh_doc_text(fh_docs_at(r, 2)), "c@1");
    assert_string_equal(fh_doc_text(fh_docs_at(r, 3)), "d@2");
    assert_string_equal(fh_doc_text(fh_docs_at(r, 4)), "e@3");
    fh_docs_destroy(&r);
}

static void test_one_part_and_empty_parts(void **state)
{
    (void)state;
    fh_docs *p1[1] = {docs_of("x,y", "1")};
    fh_docs *r = reduce_k(p1, 1, 0);
    assert_string_equal(ids(r), "x,y");
    fh_docs_destroy(&r);

    /* an empty first part: the second's order, documents only in one part kept */
    fh_docs *p2[4] = {docs_of("", "1"), docs_of("b,a", "2"), docs_of("", "3"), docs_of("c", "4")};
    r = reduce_k(p2, 4, 0);
    assert_string_equal(ids(r), "b,a,c");
    fh_docs_destroy(&r);

    fh_docs *p3[3] = {docs_of("", "1"), docs_of("", "2"), docs_of("", "3")};
    r = reduce_k(p3, 3, 0);
    assert_int_equal(fh_docs_len(r), 0);
    fh_docs_destroy(&r);
}

static void test_duplicate_ids(void **state)
{
    (void)state;
    /* the first part keeps its two "a"; a later "a" merges into the first of them; a
     * later part's own repeats merge into one */
    fh_docs *p[2] = {docs_of("a,a,b", "1"), docs_of("c,a,c", "2")};
    fh_docs *r = reduce_k(p, 2, 0);
    assert_string_equal(ids(r), "a,a,b,c");
    assert_string_equal(fh_doc_text(fh_docs_at(r, 3)), "c@2");
    fh_docs_destroy(&r);
}

static void test_many_documents_hashed(void **state)
{
    (void)state;
    /* 3 parts of 2000 documents, overlapping by halves: the index path, not the scan */
    fh_docs *p[3];
    for (int k = 0; k < 3; k++) {
        p[k] = fh_docs_new();
        for (int i = 0; i < 2000; i++) {
            char id[32];
            snprintf(id, sizeof id, "d%d", k * 1000 + i);
            assert_int_equal(fh_docs_append(p[k], doc(id)), 0);
        }
    }
    fh_docs *r = reduce_k(p, 3, 0);
    assert_int_equal(fh_docs_len(r), 4000);
    for (int i = 0; i < 4000; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%d", i);
        assert_string_equal(fh_doc_id(fh_docs_at(r, (size_t)i)), id);
    }
    fh_docs_destroy(&r);
}

/* Gives D every field but id, chunks and matches, with values marked by V. */
static void fill(fh_doc *d, int v)
{
    char s[32];
    snprintf(s, sizeof s, "text%d", v);
    assert_int_equal(fh_doc_set_text(d, s), 0);
    snprintf(s, sizeof s, "parent%d", v);
    assert_int_equal(fh_doc_set_parent_id(d, s), 0);
    snprintf(s, sizeof s, "blob%d", v);
    assert_int_equal(fh_doc_set_blob(d, s, strlen(s)), 0);
    snprintf(s, sizeof s, "file:///%d", v);
    assert_int_equal(fh_doc_set_uri(d, s), 0);
    snprintf(s, sizeof s, "type/%d", v);
    assert_int_equal(fh_doc_set_mime_type(d, s), 0);
    assert_int_equal(fh_map_set(fh_doc_tags(d), "v", fh_value_new_int(v)), 0);
    float e[2] = {(float)v, (float)v};
    assert_int_equal(fh_doc_set_embedding(d, e, 2), 0);
    int64_t t[1] = {v};
    uint64_t shape[1] = {1};
    assert_int_equal(fh_doc_set_tensor(d, "int64", shape, 1, t, sizeof t), 0);
    assert_int_equal(fh_doc_set_score(d, "s", v), 0);
    fh_doc_set_weight(d, v);
    fh_doc_set_granularity(d, v);
    fh_doc_set_adjacency(d, v);
}

/* Asserts that every field of D is the one fill(D, V) gives. */
static void assert_filled(const fh_doc *d, int v)
{
    char s[32];
    snprintf(s, sizeof s, "text%d", v);
    assert_string_equal(fh_doc_text(d), s);
    snprintf(s, sizeof s, "parent%d", v);
    assert_string_equal(fh_doc_parent_id(d), s);
    snprintf(s, sizeof s, "blob%d", v);
    size_t len;
    const void *b = fh_doc_blob(d, &len);
    assert_int_equal(len, strlen(s));
    assert_memory_equal(b, s, len);
    snprintf(s, sizeof s, "file:///%d", v);
    assert_string_equal(fh_doc_uri(d), s);
    snprintf(s, sizeof s, "type/%d", v);
    assert_string_equal(fh_doc_mime_type(d), s);
    assert_int_equal(fh_map_get_int(fh_doc_tags_get(d), "v", -1), v);
    size_t n;
    const float *e = fh_doc_embedding(d, &n);
    assert_int_equal(n, 2);
    assert_true(e[0] == (float)v);
    const char *dtype;
    const uint64_t *shape;
    size_t ndim, nbytes;
    const int64_t *t = fh_doc_tensor(d, &dtype, &shape, &ndim, &nbytes);
    assert_non_null(t);
    assert_int_equal(t[0], v);
    double sc;
    assert_true(fh_doc_score(d, "s", &sc));
    assert_true(sc == v);
    assert_true(fh_doc_weight(d) == v);
    assert_int_equal(fh_doc_granularity(d), v);
    assert_int_equal(fh_doc_adjacency(d), v);
}

static void test_first_non_empty_wins(void **state)
{
    (void)state;
    /* x: all fields in part 2 and 3, none in part 1 -> part 2's, each one.
     * y: all fields in part 1 -> part 1's, whatever the others say. */
    fh_docs *p[3] = {fh_docs_new(), fh_docs_new(), fh_docs_new()};
    assert_int_equal(fh_docs_append(p[0], doc("x")), 0);
    fh_doc *y1 = doc("y");
    fill(y1, 1);
    assert_int_equal(fh_docs_append(p[0], y1), 0);
    for (int k = 1; k < 3; k++) {
        fh_doc *x = doc("x"), *y = doc("y");
        fill(x, k + 1);
        fill(y, k + 1);
        assert_int_equal(fh_docs_append(p[k], y), 0);
        assert_int_equal(fh_docs_append(p[k], x), 0);
    }
    fh_docs *r = reduce_k(p, 3, 0);
    assert_string_equal(ids(r), "x,y");
    assert_filled(fh_docs_at(r, 0), 2);
    assert_filled(fh_docs_at(r, 1), 1);
    fh_docs_destroy(&r);
}

static void test_fields_taken_one_by_one(void **state)
{
    (void)state;
    /* part 1 has the text only, part 2 the uri and tags, part 3 everything: the
     * result takes each field from the first part that has it */
    fh_doc *a = doc_text("x", "A");
    fh_doc *b = doc("x");
    assert_int_equal(fh_doc_set_uri(b, "u:B"), 0);
    assert_int_equal(fh_map_set(fh_doc_tags(b), "from", fh_value_new_string("B")), 0);
    fh_doc *c = doc("x");
    fill(c, 3);
    /* empty tags (a map with no entries) count as empty */
    assert_non_null(fh_doc_tags(a));
    fh_docs *p[3] = {fh_docs_new(), fh_docs_new(), fh_docs_new()};
    fh_docs_append(p[0], a);
    fh_docs_append(p[1], b);
    fh_docs_append(p[2], c);
    fh_docs *r = reduce_k(p, 3, 0);
    const fh_doc *x = fh_docs_at(r, 0);
    assert_string_equal(fh_doc_text(x), "A");
    assert_string_equal(fh_doc_uri(x), "u:B");
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(x), "from", ""), "B");
    assert_string_equal(fh_doc_mime_type(x), "type/3");
    size_t len;
    assert_non_null(fh_doc_blob(x, &len));
    assert_int_equal(len, 5);
    assert_int_equal(fh_doc_granularity(x), 3);
    fh_docs_destroy(&r);
}

static void test_chunks_and_matches_merged(void **state)
{
    (void)state;
    fh_doc *a = doc("q"), *b = doc("q"), *c = doc("q");
    fh_doc_add_match(a, match("m1", NULL, 0));
    fh_doc_add_match(a, doc_text("m2", "m2@A"));
    fh_doc_add_chunk(a, doc_text("c1", "c1@A"));
    fh_doc *m2b = doc_text("m2", "m2@B");
    assert_int_equal(fh_doc_set_uri(m2b, "u:m2B"), 0);
    fh_doc_add_match(b, match("m3", NULL, 0));
    fh_doc_add_match(b, m2b);
    fh_doc_add_chunk(b, doc_text("c2", "c2@B"));
    /* a chunk both branches carry, with a match of its own in each */
    fh_doc *c1c = doc("c1");
    fh_doc_add_match(c1c, match("cm", NULL, 0));
    fh_doc_add_chunk(c, c1c);
    fh_doc_add_match(c, match("m4", NULL, 0));
    fh_docs *p[3] = {fh_docs_new(), fh_docs_new(), fh_docs_new()};
    fh_docs_append(p[0], a);
    fh_docs_append(p[1], b);
    fh_docs_append(p[2], c);
    fh_docs *r = reduce_k(p, 3, 0);
    const fh_doc *q = fh_docs_at(r, 0);
    assert_string_equal(sub_ids(q, 0), "m1,m2,m3,m4");
    assert_string_equal(sub_ids(q, 1), "c1,c2");
    /* the match both carry: merged, its first non-empty fields */
    const fh_doc *m2 = fh_doc_match_at(q, 1);
    assert_string_equal(fh_doc_text(m2), "m2@A");
    assert_string_equal(fh_doc_uri(m2), "u:m2B");
    /* one level further down */
    const fh_doc *c1 = fh_doc_chunk_at(q, 0);
    assert_string_equal(fh_doc_text(c1), "c1@A");
    assert_string_equal(sub_ids(c1, 0), "cm");
    fh_docs_destroy(&r);
}

static void test_long_match_lists(void **state)
{
    (void)state;
    /* more matches than a scan handles: the index of a nested list (m20..m39 in both:
     * merged, their empty text filled from the second) */
    fh_doc *a = doc("q"), *b = doc("q");
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        fh_doc_add_match(a, doc(id));
        snprintf(id, sizeof id, "m%d", i + 20);
        fh_doc_add_match(b, doc_text(id, "B"));
    }
    fh_docs *p[2] = {fh_docs_new(), fh_docs_new()};
    fh_docs_append(p[0], a);
    fh_docs_append(p[1], b);
    fh_docs *r = reduce_k(p, 2, 0);
    const fh_doc *q = fh_docs_at(r, 0);
    assert_int_equal(fh_doc_match_count(q), 60);
    for (int i = 0; i < 60; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        assert_string_equal(fh_doc_id(fh_doc_match_at(q, (size_t)i)), id);
        assert_string_equal(fh_doc_text(fh_doc_match_at(q, (size_t)i)), i < 20 ? "" : "B");
    }
    fh_docs_destroy(&r);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    fh_docs *out = (fh_docs *)1;
    assert_int_equal(fh_reduce_docs(NULL, 0, NULL, &out), FH_E_INVAL);
    assert_null(out);
    fh_docs *p[2] = {docs_of("a", "1"), NULL};
    assert_int_equal(fh_reduce_docs(p, 2, NULL, &out), FH_E_INVAL);
    assert_non_null(strstr(fh_last_error(), "part 2 of 2"));
    assert_null(p[0]); /* taken whatever the outcome */
    assert_null(out);
}

/* ---- top_k ---- */

/* A query "q" whose matches are ID:SCORE pairs, comma separated. */
static fh_docs *shard(const char *matches)
{
    fh_doc *q = doc("q");
    char buf[256];
    snprintf(buf, sizeof buf, "%s", matches);
    for (char *save, *m = strtok_r(buf, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(m, ':');
        if (colon) {
            *colon = '\0';
            fh_doc_add_match(q, match(m, "cosine", strcmp(colon + 1, "nan") ? atof(colon + 1) : NAN));
        } else {
            fh_doc_add_match(q, match(m, NULL, 0));
        }
    }
    fh_docs *a = fh_docs_new();
    fh_docs_append(a, q);
    return a;
}

static void test_top_k_sort_and_cut(void **state)
{
    (void)state;
    /* higher is better; ties keep the order of the merge (shard 1's, then 2's, then 3's) */
    fh_docs *p[3] = {shard("a:0.9,b:0.5,c:0.3"), shard("d:0.7,e:0.5,f:0.1"), shard("g:0.95,h:0.5")};
    fh_docs *r = reduce_k(p, 3, 4);
    assert_string_equal(sub_ids(fh_docs_at(r, 0), 0), "g,a,d,b");
    fh_docs_destroy(&r);

    fh_docs *p2[3] = {shard("a:0.9,b:0.5,c:0.3"), shard("d:0.7,e:0.5,f:0.1"), shard("g:0.95,h:0.5")};
    r = reduce_k(p2, 3, 100);
    assert_string_equal(sub_ids(fh_docs_at(r, 0), 0), "g,a,d,b,e,h,c,f");
    fh_docs_destroy(&r);

    /* without top_k: concatenated, not sorted */
    fh_docs *p3[2] = {shard("a:0.1,b:0.2"), shard("c:0.9")};
    r = reduce_k(p3, 2, 0);
    assert_string_equal(sub_ids(fh_docs_at(r, 0), 0), "a,b,c");
    fh_docs_destroy(&r);
}

static void test_top_k_missing_and_nan_scores_last(void **state)
{
    (void)state;
    fh_docs *p[2] = {shard("a,b:nan,c:0.2"), shard("d:-1,e")};
    fh_docs *r = reduce_k(p, 2, 10);
    assert_string_equal(sub_ids(fh_docs_at(r, 0), 0), "c,d,a,b,e");
    fh_docs_destroy(&r);
}

static void test_top_k_options(void **state)
{
    (void)state;
    /* a distance: lower is better */
    fh_docs *p[2] = {shard("a:0.9,b:0.5"), shard("c:0.1,d:0.7")};
    fh_reduce_options o = {.top_k = 3, .lower_is_better = true};
    fh_docs *r;
    assert_int_equal(fh_reduce_docs(p, 2, &o, &r), 0);
    assert_string_equal(sub_ids(fh_docs_at(r, 0), 0), "c,b,d");
    fh_docs_destroy(&r);

    /* a named score: the matches' first score is another one */
    fh_docs *p2[1] = {fh_docs_new()};
    fh_doc *q = doc("q");
    const double rank[3] = {3, 1, 2}, other[3] = {0.1, 0.9, 0.5};
    for (int i = 0; i < 3; i++) {
        char id[4] = {(char)('a' + i), 0};
        fh_doc *m = match(id, "other", other[i]);
        fh_doc_set_score(m, "rank", rank[i]);
        fh_doc_add_match(q, m);
    }
    fh_docs_append(p2[0], q);
    fh_reduce_options o2 = {.top_k = 2, .score = "rank"};
    assert_int_equal(fh_reduce_docs(p2, 1, &o2, &r), 0);
    assert_string_equal(sub_ids(fh_docs_at(r, 0), 0), "a,c");
    fh_docs_destroy(&r);
}

static void test_top_k_in_chunks(void **state)
{
    (void)state;
    /* a search at chunk level: the chunks' matches are sorted and cut too */
    fh_docs *p[2];
    for (int k = 0; k < 2; k++) {
        fh_doc *q = doc("q"), *c = doc("c");
        fh_doc_add_match(c, match(k ? "x" : "y", "cosine", k ? 0.8 : 0.6));
        fh_doc_add_match(c, match(k ? "z" : "w", "cosine", k ? 0.1 : 0.2));
        fh_doc_add_chunk(q, c);
        p[k] = fh_docs_new();
        fh_docs_append(p[k], q);
    }
    fh_docs *r = reduce_k(p, 2, 3);
    assert_string_equal(sub_ids(fh_doc_chunk_at(fh_docs_at(r, 0), 0), 0), "x,y,w");
    fh_docs_destroy(&r);
}

/* An index of 300 vectors split round-robin over 3 shards: each shard answers its own
 * top-k (best first, as CosineIndexer does), and the merge gives the top-k of one shard
 * holding everything, for several queries and k. */
static void test_shards_equal_one_index(void **state)
{
    (void)state;
    srand(7);
    enum { N = 300, SHARDS = 3 };
    for (int query = 0; query < 5; query++) {
        double score[N];
        for (int i = 0; i < N; i++)
            score[i] = (double)rand() / RAND_MAX * 2 - 1;
        const int ks[] = {1, 5, 17, 120};
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
            int k = ks[ki];
            fh_docs *p[SHARDS];
            for (int s = 0; s < SHARDS; s++) {
                /* the shard's own top k, best first */
                fh_doc *q = doc("q");
                int taken[N] = {0};
                for (int m = 0; m < k; m++) {
                    int best = -1;
                    for (int i = s; i < N; i += SHARDS)
                        if (!taken[i] && (best < 0 || score[i] > score[best]))
                            best = i;
                    if (best < 0)
                        break;
                    taken[best] = 1;
                    char id[16];
                    snprintf(id, sizeof id, "v%d", best);
                    fh_doc_add_match(q, match(id, "cosine", score[best]));
                }
                p[s] = fh_docs_new();
                fh_docs_append(p[s], q);
            }
            fh_docs *r = reduce_k(p, SHARDS, k);
            const fh_doc *q = fh_docs_at(r, 0);
            assert_int_equal(fh_doc_match_count(q), (size_t)k);
            /* the global top k */
            int taken[N] = {0};
            for (int m = 0; m < k; m++) {
                int best = -1;
                for (int i = 0; i < N; i++)
                    if (!taken[i] && (best < 0 || score[i] > score[best]))
                        best = i;
                taken[best] = 1;
                char id[16];
                snprintf(id, sizeof id, "v%d", best);
                assert_string_equal(fh_doc_id(fh_doc_match_at(q, (size_t)m)), id);
            }
            fh_docs_destroy(&r);
        }
    }
}

static void test_top_k_from_parameters(void **state)
{
    (void)state;
    fh_value *p = fh_value_new_map();
    assert_int_equal(fh_reduce_top_k(NULL), 0);
    assert_int_equal(fh_reduce_top_k(p), 0);
    fh_map_set(p, "top_k", fh_value_new_int(3));
    assert_int_equal(fh_reduce_top_k(p), 3);
    fh_map_set(p, "top_k", fh_value_new_double(4.0));
    assert_int_equal(fh_reduce_top_k(p), 4);
    fh_map_set(p, "top_k", fh_value_new_double(4.5));
    assert_int_equal(fh_reduce_top_k(p), 0);
    fh_map_set(p, "top_k", fh_value_new_string("3"));
    assert_int_equal(fh_reduce_top_k(p), 0);
    fh_map_set(p, "top_k", fh_value_new_int(0));
    assert_int_equal(fh_reduce_top_k(p), 0);
    fh_map_set(p, "top_k", fh_value_new_int(-2));
    assert_int_equal(fh_reduce_top_k(p), 0);
    fh_value_destroy(&p);
}

/* ---- on the wire ---- */

#define KIB 1024

/* DOCS packed as they travel (large blobs as frames); DOCS destroyed. */
static fh_wire_docs wire_of(fh_docs *docs)
{
    fh_wire_docs w;
    assert_int_equal(fh_docs_pack_wire(docs, 1, &w), 0);
    fh_docs_destroy(&docs);
    return w;
}

static void close_all(fh_wire_docs *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fh_wire_docs_close(&w[i]);
}

static fh_docs *decode(const fh_wire_docs *w)
{
    fh_docs *d;
    assert_int_equal(fh_docs_decode_wire(w, &d), 0);
    return d;
}

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 131 + seed * 7 + (i >> 9));
    return p;
}

static fh_doc *doc_blob(const char *id, size_t len, unsigned seed)
{
    fh_doc *d = doc(id);
    assert_int_equal(fh_doc_take_blob(d, pattern(len, seed), len), 0);
    return d;
}

static void assert_blob(const fh_doc *d, size_t len, unsigned seed)
{
    size_t n;
    const void *b = fh_doc_blob(d, &n);
    assert_int_equal(n, len);
    unsigned char *want = pattern(len, seed);
    assert_memory_equal(b, want, len);
    free(want);
}

static void test_wire_merge_with_blob_frames(void **state)
{
    (void)state;
    /* part 1: a (no blob), b (large blob); part 2: a (large blob: fills a's), c (large
     * blob); part 3: b (another large blob: b keeps its own), d (small blob) */
    fh_docs *d1 = fh_docs_new(), *d2 = fh_docs_new(), *d3 = fh_docs_new();
    fh_docs_append(d1, doc_text("a", "A"));
    fh_docs_append(d1, doc_blob("b", 100 * KIB, 1));
    fh_docs_append(d2, doc_blob("a", 64 * KIB, 2));
    fh_docs_append(d2, doc_blob("c", 40 * KIB, 3));
    fh_docs_append(d3, doc_blob("b", 50 * KIB, 4));
    fh_docs_append(d3, doc_blob("d", 100, 5));
    fh_wire_docs w[3] = {wire_of(d1), wire_of(d2), wire_of(d3)};
    assert_int_equal(w[0].n_blobs, 1);
    assert_int_equal(w[1].n_blobs, 2);
    fh_wire_docs out;
    assert_int_equal(fh_reduce_wire(w, 3, NULL, &out), 0);
    assert_int_equal(out.n_blobs, 3); /* b's, a's and c's blobs still travel as frames */
    fh_docs *r = decode(&out);
    assert_string_equal(ids(r), "a,b,c,d");
    assert_string_equal(fh_doc_text(fh_docs_at(r, 0)), "A");
    assert_blob(fh_docs_at(r, 0), 64 * KIB, 2);
    assert_blob(fh_docs_at(r, 1), 100 * KIB, 1);
    assert_blob(fh_docs_at(r, 2), 40 * KIB, 3);
    assert_blob(fh_docs_at(r, 3), 100, 5);
    fh_docs_destroy(&r);
    fh_wire_docs_close(&out);
    /* the parts are the caller's still, untouched */
    assert_int_equal(w[1].n_blobs, 2);
    fh_docs *again = decode(&w[1]);
    assert_blob(fh_docs_at(again, 0), 64 * KIB, 2);
    fh_docs_destroy(&again);
    close_all(w, 3);
}

static void test_wire_top_k(void **state)
{
    (void)state;
    fh_wire_docs w[3] = {wire_of(shard("a:0.9,b:0.5,c:0.3")), wire_of(shard("d:0.7,e:0.5,f:0.1")),
                         wire_of(shard("g:0.95,h:0.5"))};
    fh_reduce_options o = {.top_k = 4};
    fh_wire_docs out;
    assert_int_equal(fh_reduce_wire(w, 3, &o, &out), 0);
    fh_docs *r = decode(&out);
    assert_string_equal(sub_ids(fh_docs_at(r, 0), 0), "g,a,d,b");
    fh_docs_destroy(&r);
    fh_wire_docs_close(&out);
    close_all(w, 3);
}

/* A frame of LEN bytes that is not protobuf at all. */
static fh_wire_docs garbage(size_t len)
{
    fh_wire_docs w;
    fh_wire_docs_init(&w);
    zmq_msg_close(&w.docs);
    assert_int_equal(zmq_msg_init_size(&w.docs, len), 0);
    memset(zmq_msg_data(&w.docs), 0xff, len);
    return w;
}

static void test_wire_fast_paths(void **state)
{
    (void)state;
    /* the same frames from three pass-through branches: shared, not decoded */
    fh_docs *d = fh_docs_new();
    fh_docs_append(d, doc_blob("a", 64 * KIB, 1));
    fh_docs_append(d, doc_text("b", "some text long enough not to be inline in zmq"));
    fh_wire_docs w[3];
    w[0] = wire_of(d);
    /* copies of the bytes (what workers send back), not the same buffers */
    for (int k = 1; k < 3; k++) {
        fh_wire_docs_init(&w[k]);
        zmq_msg_close(&w[k].docs);
        size_t len = zmq_msg_size(&w[0].docs);
        zmq_msg_init_size(&w[k].docs, len);
        memcpy(zmq_msg_data(&w[k].docs), zmq_msg_data(&w[0].docs), len);
        w[k].blobs = calloc(1, sizeof *w[k].blobs);
        len = zmq_msg_size(&w[0].blobs[0]);
        zmq_msg_init_size(&w[k].blobs[0], len);
        memcpy(zmq_msg_data(&w[k].blobs[0]), zmq_msg_data(&w[0].blobs[0]), len);
        w[k].n_blobs = 1;
    }
    fh_wire_docs out;
    assert_int_equal(fh_reduce_wire(w, 3, NULL, &out), 0);
    assert_ptr_equal(zmq_msg_data(&out.docs), zmq_msg_data(&w[0].docs));
    assert_int_equal(out.n_blobs, 1);
    assert_ptr_equal(zmq_msg_data(&out.blobs[0]), zmq_msg_data(&w[0].blobs[0]));
    fh_wire_docs_close(&out);

    /* one part with documents, the others empty: that part, shared */
    fh_wire_docs e[3];
    fh_wire_docs_init(&e[0]);
    fh_wire_docs_init(&e[2]);
    assert_int_equal(fh_wire_docs_share(&e[1], &w[0]), 0);
    assert_int_equal(fh_reduce_wire(e, 3, NULL, &out), 0);
    assert_ptr_equal(zmq_msg_data(&out.docs), zmq_msg_data(&w[0].docs));
    fh_wire_docs_close(&out);
    fh_wire_docs_close(&e[1]);

    /* nobody has documents: empty */
    fh_wire_docs_init(&e[1]);
    assert_int_equal(fh_reduce_wire(e, 3, NULL, &out), 0);
    assert_int_equal(fh_wire_docs_size(&out), 0);
    assert_int_equal(out.n_blobs, 0);
    fh_wire_docs_close(&out);
    close_all(e, 3);

    /* the proof that nothing is decoded: frames that do not decode go through when they
     * are all the same, and are refused as soon as they must be merged */
    fh_wire_docs g[2] = {garbage(100), garbage(100)};
    assert_int_equal(fh_reduce_wire(g, 2, NULL, &out), 0);
    assert_int_equal(zmq_msg_size(&out.docs), 100);
    fh_wire_docs_close(&out);
    fh_reduce_options k = {.top_k = 3}; /* a shard merge always decodes */
    assert_int_equal(fh_reduce_wire(g, 2, &k, &out), FH_E_PROTOCOL);
    assert_non_null(strstr(fh_last_error(), "part 1 of 2"));
    assert_int_equal(fh_wire_docs_size(&out), 0);
    close_all(g, 2);
    close_all(w, 3);
}

static void test_wire_malformed_part(void **state)
{
    (void)state;
    fh_wire_docs w[3] = {wire_of(docs_of("a", "1")), garbage(40), wire_of(docs_of("b", "3"))};
    fh_wire_docs out;
    assert_int_equal(fh_reduce_wire(w, 3, NULL, &out), FH_E_PROTOCOL);
    assert_non_null(strstr(fh_last_error(), "cannot merge documents: part 2 of 3"));
    assert_null(strchr(fh_last_error(), '\n'));
    assert_int_equal(fh_wire_docs_size(&out), 0);
    close_all(w, 3);

    /* a blob frame nobody claims */
    fh_wire_docs v[2] = {wire_of(docs_of("a", "1")), wire_of(docs_of("b", "2"))};
    v[1].blobs = calloc(1, sizeof *v[1].blobs);
    zmq_msg_init_size(&v[1].blobs[0], 10);
    v[1].n_blobs = 1;
    assert_int_equal(fh_reduce_wire(v, 2, NULL, &out), FH_E_PROTOCOL);
    assert_non_null(strstr(fh_last_error(), "part 2 of 2"));
    close_all(v, 2);
    assert_int_equal(fh_reduce_wire(v, 0, NULL, &out), FH_E_INVAL);
}

/* N documents of distinct ids, each with a text of LEN bytes; packed. */
static fh_wire_docs wire_texts(const char *prefix, size_t n, size_t len)
{
    fh_docs *d = fh_docs_new();
    char *text = malloc(len + 1);
    memset(text, 'x', len);
    text[len] = '\0';
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s%zu", prefix, i);
        fh_docs_append(d, doc_text(id, text));
    }
    free(text);
    return wire_of(d);
}

static void test_wire_byte_bound(void **state)
{
    (void)state;
    /* the result: three parts of ~40 KB each, distinct documents, merged into ~120 KB,
     * over a max_message_size of 100 KB, under one of 200 KB */
    fh_wire_docs w[3] = {wire_texts("a", 40, 1000), wire_texts("b", 40, 1000),
                         wire_texts("c", 40, 1000)};
    fh_reduce_options o = {.max_message_size = 100 * 1000};
    fh_wire_docs out;
    assert_int_equal(fh_reduce_wire(w, 3, &o, &out), FH_E_RANGE);
    assert_non_null(strstr(fh_last_error(), "over max_message_size (100000)"));
    assert_int_equal(fh_wire_docs_size(&out), 0);
    o.max_message_size = 200 * 1000;
    assert_int_equal(fh_reduce_wire(w, 3, &o, &out), 0);
    assert_true(fh_wire_docs_size(&out) > 120 * 1000);
    fh_wire_docs_close(&out);
    close_all(w, 3);

    /* the decoded input: 3 x 4000 tiny documents decode into ~200 bytes each (2.4 MB
     * together), far over 4 x 100 KB, though each part is ~50 KB on the wire and the
     * result would be small (the same ids in every part) */
    fh_wire_docs s[3] = {wire_texts("d", 4000, 1), wire_texts("d", 4000, 1), wire_texts("d", 4000, 1)};
    size_t one = fh_wire_docs_size(&s[0]);
    assert_true(one < 100 * 1000);
    /* differ, so that no fast path applies */
    o.max_message_size = 100 * 1000;
    fh_reduce_options k = o;
    k.top_k = 1;
    assert_int_equal(fh_reduce_wire(s, 3, &k, &out), FH_E_RANGE);
    assert_non_null(strstr(fh_last_error(), "bytes decoded"));
    assert_int_equal(fh_wire_docs_size(&out), 0);
    /* and blob frames count: two blobs of 300 KB over 4 x 100 KB together */
    fh_docs *b1 = fh_docs_new(), *b2 = fh_docs_new();
    fh_docs_append(b1, doc_blob("x", 300 * 1000, 1));
    fh_docs_append(b2, doc_blob("y", 300 * 1000, 2));
    fh_wire_docs b[2] = {wire_of(b1), wire_of(b2)};
    assert_int_equal(fh_reduce_wire(b, 2, &o, &out), FH_E_RANGE);
    assert_non_null(strstr(fh_last_error(), "with part 2 of 2"));
    /* the fast path checks the bound too */
    fh_wire_docs one_part[2];
    fh_wire_docs_init(&one_part[0]);
    assert_int_equal(fh_wire_docs_share(&one_part[1], &b[0]), 0);
    assert_int_equal(fh_reduce_wire(one_part, 2, &o, &out), FH_E_RANGE);
    assert_non_null(strstr(fh_last_error(), "over max_message_size"));
    close_all(one_part, 2);
    close_all(b, 2);
    close_all(s, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_matched_in_order),
        cmocka_unit_test(test_one_part_and_empty_parts),
        cmocka_unit_test(test_duplicate_ids),
        cmocka_unit_test(test_many_documents_hashed),
        cmocka_unit_test(test_first_non_empty_wins),
        cmocka_unit_test(test_fields_taken_one_by_one),
        cmocka_unit_test(test_chunks_and_matches_merged),
        cmocka_unit_test(test_long_match_lists),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_top_k_sort_and_cut),
        cmocka_unit_test(test_top_k_missing_and_nan_scores_last),
        cmocka_unit_test(test_top_k_options),
        cmocka_unit_test(test_top_k_in_chunks),
        cmocka_unit_test(test_shards_equal_one_index),
        cmocka_unit_test(test_top_k_from_parameters),
        cmocka_unit_test(test_wire_merge_with_blob_frames),
        cmocka_unit_test(test_wire_top_k),
        cmocka_unit_test(test_wire_fast_paths),
        cmocka_unit_test(test_wire_malformed_part),
        cmocka_unit_test(test_wire_byte_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

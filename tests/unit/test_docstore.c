/* Unit tests: the docstore (docstore.c) — its API, what survives a reopen, and what an
 * unfinished or damaged log does on open. Each test works in its own mkdtemp directory
 * under /tmp, removed at the end. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <flowhost/docstore.h>
#include <flowhost/document.h>
#include <flowhost/error.h>
#include <flowhost/value.h>

/* ---- helpers ---- */

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/fh-docstore.XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

/* Removes DIR and the files in it (a docstore has no subdirectories). */
static void remove_tree(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static void log_path(const char *dir, char *out, size_t size)
{
    snprintf(out, size, "%s/docs.log", dir);
}

static long log_size(const char *dir)
{
    char p[4096];
    log_path(dir, p, sizeof p);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return (long)st.st_size;
}

static unsigned char *read_log(const char *dir, long *len)
{
    char p[4096];
    log_path(dir, p, sizeof p);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)*len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return b;
}

static void write_log(const char *dir, const unsigned char *b, long len)
{
    char p[4096];
    log_path(dir, p, sizeof p);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
}

static fh_docstore *open_ok(const char *dir, int flags)
{
    fh_docstore *s = NULL;
    int rc = fh_docstore_open(dir, flags, &s);
    if (rc != 0)
        fail_msg("open %s: %s", dir, fh_last_error());
    assert_non_null(s);
    return s;
}

static fh_doc *text_doc(const char *id, const char *text)
{
    fh_doc *d = fh_doc_new();
    assert_non_null(d);
    assert_int_equal(fh_doc_set_id(d, id), 0);
    assert_int_equal(fh_doc_set_text(d, text), 0);
    return d;
}

static void put_text(fh_docstore *s, const char *id, const char *text)
{
    fh_doc *d = text_doc(id, text);
    assert_int_equal(fh_docstore_put(s, d), 0);
    fh_doc_destroy(&d);
}

/* A document using every kind of field. */
static fh_doc *full_doc(const char *id)
{
    fh_doc *d = text_doc(id, "full text");
    unsigned char blob[300];
    for (int i = 0; i < 300; i++)
        blob[i] = (unsigned char)(i * 7);
    assert_int_equal(fh_doc_set_blob(d, blob, sizeof blob), 0);
    assert_int_equal(fh_doc_set_uri(d, "file:///a.txt"), 0);
    assert_int_equal(fh_doc_set_mime_type(d, "text/plain"), 0);
    fh_value *tags = fh_doc_tags(d);
    assert_int_equal(fh_map_set_int(tags, "n", -42), 0);
    assert_int_equal(fh_map_set_double(tags, "x", 0.125), 0);
    assert_int_equal(fh_map_set_string(tags, "s", "tag"), 0);
    const float emb[4] = {1.5f, -2.0f, 0.0f, 3.25f};
    assert_int_equal(fh_doc_set_embedding(d, emb, 4), 0);
    fh_doc_set_weight(d, 0.5);
    assert_int_equal(fh_doc_set_score(d, "cosine", 0.93), 0);
    for (int i = 0; i < 2; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "%s-c%d", id, i);
        assert_int_equal(fh_doc_add_chunk(d, text_doc(cid, "chunk")), 0);
    }
    return d;
}

static void assert_same_doc(const fh_doc *a, const fh_doc *b)
{
    assert_string_equal(fh_doc_id(a), fh_doc_id(b));
    assert_string_equal(fh_doc_text(a), fh_doc_text(b));
    assert_string_equal(fh_doc_uri(a), fh_doc_uri(b));
    assert_string_equal(fh_doc_mime_type(a), fh_doc_mime_type(b));
    size_t la, lb;
    const void *ba = fh_doc_blob(a, &la), *bb = fh_doc_blob(b, &lb);
    assert_int_equal(la, lb);
    if (la)
        assert_memory_equal(ba, bb, la);
    const fh_value *ta = fh_doc_tags_get(a), *tb = fh_doc_tags_get(b);
    assert_true((ta == NULL) == (tb == NULL));
    if (ta)
        assert_true(fh_value_equal(ta, tb));
    size_t na, nb;
    const float *ea = fh_doc_embedding(a, &na), *eb = fh_doc_embedding(b, &nb);
    assert_int_equal(na, nb);
    if (na)
        assert_memory_equal(ea, eb, na * sizeof *ea);
    assert_true(fh_doc_weight(a) == fh_doc_weight(b));
    double sa = 0, sb = 1;
    assert_int_equal(fh_doc_score(a, "cosine", &sa), fh_doc_score(b, "cosine", &sb));
    assert_int_equal(fh_doc_chunk_count(a), fh_doc_chunk_count(b));
    for (size_t i = 0; i < fh_doc_chunk_count(a); i++)
        assert_same_doc(fh_doc_chunk_at(a, i), fh_doc_chunk_at(b, i));
}

static void assert_text_at(fh_docstore *s, size_t pos, const char *id, const char *text)
{
    fh_doc *d = NULL;
    int rc = fh_docstore_get_at(s, pos, &d);
    if (rc != 0)
        fail_msg("get_at %zu: %s", pos, fh_last_error());
    assert_string_equal(fh_doc_id(d), id);
    assert_string_equal(fh_doc_text(d), text);
    fh_doc_destroy(&d);
}

/* ---- tests ---- */

static void test_put_get_len(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    assert_int_equal(fh_docstore_len(s), 0);
    fh_doc *full = full_doc("full");
    assert_int_equal(fh_docstore_put(s, full), 0);
    put_text(s, "b", "bee");
    put_text(s, "c", "sea");
    assert_int_equal(fh_docstore_len(s), 3);

    fh_doc *got = NULL;
    assert_int_equal(fh_docstore_get(s, "full", &got), 0);
    assert_ptr_not_equal(got, full);
    assert_same_doc(got, full);
    fh_doc_destroy(&got);
    assert_text_at(s, 1, "b", "bee");
    assert_text_at(s, 2, "c", "sea");
    assert_int_equal(fh_docstore_get_at(s, 0, &got), 0);
    assert_same_doc(got, full);
    fh_doc_destroy(&got);

    assert_int_equal(fh_docstore_get(s, "nope", &got), FH_E_NOTFOUND);
    assert_null(got);
    assert_int_equal(fh_docstore_get_at(s, 3, &got), FH_E_RANGE);
    assert_null(got);
    assert_int_equal(fh_docstore_delete(s, "nope"), FH_E_NOTFOUND);
    assert_int_equal(fh_docstore_sync(s), 0);

    fh_docstore_close(&s);
    assert_null(s);
    fh_docstore_close(&s); /* NULL is fine */
    fh_docstore_close(NULL);

    s = open_ok(dir, 0);
    assert_int_equal(fh_docstore_len(s), 3);
    assert_int_equal(fh_docstore_get(s, "full", &got), 0);
    assert_same_doc(got, full);
    fh_doc_destroy(&got);
    fh_docstore_close(&s);
    fh_doc_destroy(&full);
    remove_tree(dir);
}

static void test_delete_and_replace_positions(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    put_text(s, "a", "A");
    put_text(s, "b", "B");
    put_text(s, "c", "C");
    put_text(s, "d", "D");
    put_text(s, "b", "B2"); /* replace: keeps position 1 */
    assert_int_equal(fh_docstore_len(s), 4);
    assert_text_at(s, 1, "b", "B2");
    assert_int_equal(fh_docstore_delete(s, "a"), 0); /* the others move down */
    assert_int_equal(fh_docstore_len(s), 3);
    assert_text_at(s, 0, "b", "B2");
    assert_text_at(s, 1, "c", "C");
    assert_text_at(s, 2, "d", "D");
    fh_doc *got = NULL;
    assert_int_equal(fh_docstore_get(s, "a", &got), FH_E_NOTFOUND);
    assert_int_equal(fh_docstore_delete(s, "a"), FH_E_NOTFOUND);
    put_text(s, "a", "A2"); /* deleted then put again: goes at the end */
    assert_text_at(s, 3, "a", "A2");
    assert_int_equal(fh_docstore_delete(s, "c"), 0);
    put_text(s, "d", "D2");
    fh_docstore_close(&s);

    /* reopen: the same after delete and replace */
    s = open_ok(dir, FH_DOCSTORE_READONLY);
    assert_int_equal(fh_docstore_len(s), 3);
    assert_text_at(s, 0, "b", "B2");
    assert_text_at(s, 1, "d", "D2");
    assert_text_at(s, 2, "a", "A2");
    assert_int_equal(fh_docstore_get(s, "c", &got), FH_E_NOTFOUND);
    fh_docstore_close(&s);
    remove_tree(dir);
}

/* Many ids: the hash table grows and deletes (backward shift) keep every id findable. */
static void test_many_docs_and_deletes(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    char id[32], text[32];
    enum { N = 3000 };
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(text, sizeof text, "t%d", i);
        put_text(s, id, text);
    }
    for (int i = 0; i < N; i += 3) {
        snprintf(id, sizeof id, "id-%d", i);
        assert_int_equal(fh_docstore_delete(s, id), 0);
    }
    assert_int_equal(fh_docstore_len(s), N - N / 3);
    for (int pass = 0; pass < 2; pass++) {
        size_t pos = 0;
        for (int i = 0; i < N; i++) {
            snprintf(id, sizeof id, "id-%d", i);
            snprintf(text, sizeof text, "t%d", i);
            fh_doc *got = NULL;
            int rc = fh_docstore_get(s, id, &got);
            if (i % 3 == 0) {
                assert_int_equal(rc, FH_E_NOTFOUND);
                continue;
            }
            assert_int_equal(rc, 0);
            assert_string_equal(fh_doc_text(got), text);
            fh_doc_destroy(&got);
            if (i % 97 == 1)
                assert_text_at(s, pos, id, text);
            pos++;
        }
        fh_docstore_close(&s);
        s = open_ok(dir, 0);
    }
    fh_docstore_close(&s);
    remove_tree(dir);
}

static void test_compact(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    char id[32], text[64];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "d%d", i);
        put_text(s, id, "first version, to be replaced");
    }
    for (int i = 0; i < 50; i += 2) {
        snprintf(id, sizeof id, "d%d", i);
        snprintf(text, sizeof text, "v2 of %d", i);
        put_text(s, id, text);
    }
    for (int i = 1; i < 50; i += 4) {
        snprintf(id, sizeof id, "d%d", i);
        assert_int_equal(fh_docstore_delete(s, id), 0);
    }
    fh_doc *full = full_doc("full");
    assert_int_equal(fh_docstore_put(s, full), 0);
    size_t len = fh_docstore_len(s);
    long before = log_size(dir);
    assert_int_equal(fh_docstore_compact(s), 0);
    long after = log_size(dir);
    assert_true(after < before);
    assert_int_equal(fh_docstore_compact(s), 0); /* nothing to do: same file */
    assert_int_equal(log_size(dir), after);
    put_text(s, "late", "after compaction"); /* appends to the new log */
    fh_docstore_close(&s);

    s = open_ok(dir, 0);
    assert_int_equal(fh_docstore_len(s), len + 1);
    size_t pos = 0;
    for (int i = 0; i < 50; i++) {
        if (i % 4 == 1)
            continue;
        snprintf(id, sizeof id, "d%d", i);
        if (i % 2 == 0)
            snprintf(text, sizeof text, "v2 of %d", i);
        else
            snprintf(text, sizeof text, "first version, to be replaced");
        assert_text_at(s, pos++, id, text);
    }
    fh_doc *got = NULL;
    assert_int_equal(fh_docstore_get_at(s, pos++, &got), 0);
    assert_same_doc(got, full);
    fh_doc_destroy(&got);
    assert_text_at(s, pos, "late", "after compaction");
    fh_docstore_close(&s);
    fh_doc_destroy(&full);
    remove_tree(dir);
}

static void test_readonly_and_lock(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    fh_docstore *w = open_ok(dir, FH_DOCSTORE_CREATE);
    put_text(w, "a", "A");

    fh_docstore *other = NULL;
    assert_int_equal(fh_docstore_open(dir, 0, &other), FH_E_STATE);
    assert_null(other);
    assert_non_null(strstr(fh_last_error(), "in use by another process"));
    assert_int_equal(fh_docstore_open(dir, FH_DOCSTORE_CREATE, &other), FH_E_STATE);

    /* a reader needs no lock; it sees what was written before it opened */
    fh_docstore *r = open_ok(dir, FH_DOCSTORE_READONLY);
    assert_int_equal(fh_docstore_len(r), 1);
    assert_text_at(r, 0, "a", "A");
    fh_doc *d = text_doc("b", "B");
    assert_int_equal(fh_docstore_put(r, d), FH_E_STATE);
    assert_int_equal(fh_docstore_delete(r, "a"), FH_E_STATE);
    assert_int_equal(fh_docstore_compact(r), FH_E_STATE);
    assert_int_equal(fh_docstore_len(r), 1);
    fh_doc_destroy(&d);

    /* the writer compacts under the reader's feet: the reader keeps its old log */
    put_text(w, "a", "A2");
    assert_int_equal(fh_docstore_compact(w), 0);
    assert_text_at(r, 0, "a", "A");
    fh_docstore_close(&r);

    fh_docstore_close(&w); /* lock released */
    w = open_ok(dir, 0);
    assert_text_at(w, 0, "a", "A2");
    fh_docstore_close(&w);

    assert_int_equal(fh_docstore_open(dir, FH_DOCSTORE_READONLY | FH_DOCSTORE_CREATE, &w),
                     FH_E_INVAL);
    remove_tree(dir);
}

static void test_missing_and_not_a_docstore(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char p[4096];
    fh_docstore *s = NULL;

    /* an empty directory, and one that does not exist */
    assert_int_equal(fh_docstore_open(dir, 0, &s), FH_E_NOTFOUND);
    assert_int_equal(fh_docstore_open(dir, FH_DOCSTORE_READONLY, &s), FH_E_NOTFOUND);
    snprintf(p, sizeof p, "%s/sub", dir);
    assert_int_equal(fh_docstore_open(p, 0, &s), FH_E_NOTFOUND);
    assert_null(s);
    struct stat st;
    assert_int_equal(stat(p, &st), -1); /* nothing was made */
    snprintf(p, sizeof p, "%s/docs.lock", dir);
    assert_int_equal(stat(p, &st), -1);

    /* CREATE makes the directory */
    snprintf(p, sizeof p, "%s/sub", dir);
    s = open_ok(p, FH_DOCSTORE_CREATE);
    fh_docstore_close(&s);
    s = open_ok(p, FH_DOCSTORE_READONLY);
    assert_int_equal(fh_docstore_len(s), 0);
    fh_docstore_close(&s);
    snprintf(p, sizeof p, "%s/sub/docs.log", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/sub/docs.lock", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/sub", dir);
    rmdir(p);

    /* a log that is not one */
    const char *junk = "this is not a docstore log at all\n";
    write_log(dir, (const unsigned char *)junk, (long)strlen(junk));
    assert_int_equal(fh_docstore_open(dir, 0, &s), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "not a docstore"));
    assert_int_equal(fh_docstore_open(dir, FH_DOCSTORE_CREATE, &s), FH_E_PARSE);
    assert_int_equal(fh_docstore_open(dir, FH_DOCSTORE_READONLY, &s), FH_E_PARSE);
    write_log(dir, (const unsigned char *)"FHDS", 4); /* shorter than a header */
    assert_int_equal(fh_docstore_open(dir, 0, &s), FH_E_PARSE);
    assert_null(s);

    /* a regular file as PATH */
    snprintf(p, sizeof p, "%s/docs.log", dir);
    assert_int_equal(fh_docstore_open(p, 0, &s), FH_E_PARSE);
    assert_int_equal(fh_docstore_open(NULL, 0, &s), FH_E_INVAL);
    remove_tree(dir);
}

/* Writes N docs (doc-0 .. doc-N-2, a replace of doc-0, then "last", a full one) and
 * returns where the last record starts and ends; OFFS (may be NULL) gets the offset of
 * each doc-i record. */
static void write_n(const char *dir, int n, long *start_last, long *end_last, long *offs)
{
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    char id[32];
    for (int i = 0; i < n - 1; i++) {
        if (offs)
            offs[i] = log_size(dir);
        snprintf(id, sizeof id, "doc-%d", i);
        put_text(s, id, "some text");
    }
    put_text(s, "doc-0", "replaced"); /* a replace in the middle, too */
    *start_last = log_size(dir);
    fh_doc *full = full_doc("last");
    assert_int_equal(fh_docstore_put(s, full), 0);
    fh_doc_destroy(&full);
    *end_last = log_size(dir);
    fh_docstore_close(&s);
}

static void test_truncated_tail_every_cut(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    enum { N = 4 };
    long start, end, len;
    write_n(dir, N, &start, &end, NULL);
    unsigned char *orig = read_log(dir, &len);
    assert_int_equal(len, end);
    assert_true(end - start > 400); /* the full doc: header, id, every field */

    for (long cut = start; cut <= end; cut++) {
        write_log(dir, orig, cut);
        size_t want = cut == end ? N : N - 1;

        /* a reader skips the tail and leaves the file alone */
        fh_docstore *s = open_ok(dir, FH_DOCSTORE_READONLY);
        assert_int_equal(fh_docstore_len(s), want);
        fh_docstore_close(&s);
        assert_int_equal(log_size(dir), cut);

        /* a writer cuts it away and appends after the last good record */
        s = open_ok(dir, 0);
        assert_int_equal(fh_docstore_len(s), want);
        assert_int_equal(log_size(dir), cut == end ? end : start);
        put_text(s, "after", "the cut");
        fh_docstore_close(&s);

        s = open_ok(dir, FH_DOCSTORE_READONLY);
        assert_int_equal(fh_docstore_len(s), want + 1);
        assert_text_at(s, 0, "doc-0", "replaced");
        assert_text_at(s, N - 2, "doc-2", "some text");
        assert_text_at(s, want, "after", "the cut");
        fh_doc *got = NULL;
        assert_int_equal(fh_docstore_get(s, "last", &got), cut == end ? 0 : FH_E_NOTFOUND);
        fh_doc_destroy(&got);
        fh_docstore_close(&s);
    }
    free(orig);
    remove_tree(dir);
}

static void test_flipped_byte(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    long start, end, len;
    long offs[3];
    write_n(dir, 4, &start, &end, offs);
    unsigned char *orig = read_log(dir, &len);
    long rec1 = offs[1], rec2 = offs[2]; /* doc-1, a record in the middle */
    unsigned char *b = malloc((size_t)len);
    assert_non_null(b);
    char want[64];
    snprintf(want, sizeof want, "corrupted record at offset %ld", rec1);

    /* every byte of a middle record: the open refuses and names the offset */
    for (long i = rec1; i < rec2; i++) {
        memcpy(b, orig, (size_t)len);
        b[i] ^= 0x20;
        write_log(dir, b, len);
        fh_docstore *s = NULL;
        assert_int_equal(fh_docstore_open(dir, 0, &s), FH_E_PARSE);
        assert_null(s);
        if (!strstr(fh_last_error(), want))
            fail_msg("byte %ld: [%s] lacks [%s]", i, fh_last_error(), want);
        assert_int_equal(fh_docstore_open(dir, FH_DOCSTORE_READONLY, &s), FH_E_PARSE);
        assert_int_equal(log_size(dir), len); /* nothing was cut */
    }

    /* every byte of the last record: it is dropped */
    for (long i = start; i < end; i++) {
        memcpy(b, orig, (size_t)len);
        b[i] ^= 0x01;
        write_log(dir, b, len);
        fh_docstore *s = open_ok(dir, 0);
        assert_int_equal(fh_docstore_len(s), 3);
        fh_doc *got = NULL;
        assert_int_equal(fh_docstore_get(s, "last", &got), FH_E_NOTFOUND);
        fh_docstore_close(&s);
        assert_int_equal(log_size(dir), start);
    }

    /* damage after open: get reports it instead of returning garbage */
    write_log(dir, orig, len);
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_READONLY);
    memcpy(b, orig, (size_t)len);
    b[end - 5] ^= 0xFF;
    write_log(dir, b, len);
    fh_doc *got = NULL;
    assert_int_equal(fh_docstore_get(s, "last", &got), FH_E_PARSE);
    assert_null(got);
    fh_docstore_close(&s);

    /* zeros after the last record (a file extended but never written) are a tail too */
    unsigned char *z = calloc(1, (size_t)len + 100);
    assert_non_null(z);
    memcpy(z, orig, (size_t)len);
    write_log(dir, z, len + 100);
    s = open_ok(dir, 0);
    assert_int_equal(fh_docstore_len(s), 4);
    fh_docstore_close(&s);
    assert_int_equal(log_size(dir), len);
    free(z);
    free(b);
    free(orig);
    remove_tree(dir);
}

/* A write that fails half-way (the file-size limit) leaves the index and the log as
 * they were; so does a compaction that cannot write its new log. */
static void test_write_failure_rolls_back(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    put_text(s, "a", "A");
    put_text(s, "a", "A2"); /* something for compact to drop */
    long size = log_size(dir);

    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {.rlim_cur = (rlim_t)size + 100, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    fh_doc *d = text_doc("big", big);
    int rc = fh_docstore_put(s, d); /* 100 bytes go in, then EFBIG */
    long size_after = log_size(dir);
    lim.rlim_cur = 20; /* the new log's header fits, its first record does not */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int crc = fh_docstore_compact(s);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);

    assert_int_equal(rc, FH_E_IO);
    assert_int_equal(size_after, size); /* cut back */
    assert_int_equal(crc, FH_E_IO);
    assert_int_equal(log_size(dir), size); /* the old log stays */
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/docs.log.tmp", dir);
    assert_int_equal(stat(p, &st), -1); /* and the temp file is gone */

    assert_int_equal(fh_docstore_len(s), 1);
    fh_doc *got = NULL;
    assert_int_equal(fh_docstore_get(s, "big", &got), FH_E_NOTFOUND);
    assert_text_at(s, 0, "a", "A2");
    assert_int_equal(fh_docstore_put(s, d), 0); /* works again once there is room */
    fh_docstore_close(&s);
    s = open_ok(dir, 0);
    assert_int_equal(fh_docstore_len(s), 2);
    assert_text_at(s, 0, "a", "A2");
    assert_text_at(s, 1, "big", big);
    fh_docstore_close(&s);
    fh_doc_destroy(&d);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_len),
        cmocka_unit_test(test_delete_and_replace_positions),
        cmocka_unit_test(test_many_docs_and_deletes),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_readonly_and_lock),
        cmocka_unit_test(test_missing_and_not_a_docstore),
        cmocka_unit_test(test_truncated_tail_every_cut),
        cmocka_unit_test(test_flipped_byte),
        cmocka_unit_test(test_write_failure_rolls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: the docstore (docstore*.c) — its API, what survives a reopen, what an
 * unfinished or damaged log does on open, check and repair, format 1 logs, links planted
 * in its directory, and the space a delete gives back. Each test works in its own
 * mkdtemp directory under /tmp, removed at the end. The tests know the on-disk format
 * (docs/docstore.md) well enough to damage a log, or to forge records inside a document
 * as a client could. */
#define _GNU_SOURCE /* fallocate */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
static void remove_files(const char *dir)
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
}

static void remove_tree(char *dir)
{
    remove_files(dir);
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

/* ---- the on-disk format, as docs/docstore.md gives it ---- */

#define REC_PUT 1
#define REC_DELETE 2
#define V2_HEADER 24

static uint32_t crc32_of(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A format 2 record into OUT; returns its size. */
static size_t v2_record(unsigned char *out, uint32_t salt, unsigned kind, const char *id,
                        const unsigned char *doc, size_t doc_len)
{
    size_t id_len = strlen(id);
    unsigned char s4[4];
    put32(out, 0x32524846u);
    out[4] = (unsigned char)kind;
    out[5] = 0;
    out[6] = (unsigned char)id_len;
    out[7] = (unsigned char)(id_len >> 8);
    put32(out + 8, (uint32_t)doc_len);
    put32(out + 12, crc32_of(0, (const unsigned char *)id, id_len));
    put32(out + 16, crc32_of(0, doc, doc_len));
    put32(s4, salt);
    put32(out + 20, crc32_of(crc32_of(0, s4, 4), out, 20));
    memcpy(out + V2_HEADER, id, id_len);
    if (doc_len)
        memcpy(out + V2_HEADER + id_len, doc, doc_len);
    return V2_HEADER + id_len + doc_len;
}

/* A format 1 record into OUT; returns its size. */
static size_t v1_record(unsigned char *out, unsigned kind, const char *id,
                        const unsigned char *doc, size_t doc_len)
{
    size_t id_len = strlen(id), len = 4 + id_len + doc_len;
    put32(out, 0x31524846u);
    out[4] = (unsigned char)kind;
    put32(out + 5, (uint32_t)len);
    put32(out + 13, (uint32_t)id_len);
    memcpy(out + 17, id, id_len);
    if (doc_len)
        memcpy(out + 17 + id_len, doc, doc_len);
    put32(out + 9, crc32_of(crc32_of(0, out + 4, 5), out + 13, len));
    return 13 + len;
}

/* The salt in the file header of DIR's log. */
static uint32_t log_salt(const char *dir)
{
    long len;
    unsigned char *b = read_log(dir, &len);
    uint32_t salt = get32(b + 12);
    free(b);
    return salt;
}

/* Rewrites the format 2 log of DIR as format 1, record by record, as an older flowhost
 * wrote it. */
static void downgrade_to_v1(const char *dir)
{
    long len;
    unsigned char *b = read_log(dir, &len);
    assert_int_equal(get32(b + 8), 2);
    unsigned char *out = malloc((size_t)len + 16);
    assert_non_null(out);
    memcpy(out, b, 16);
    put32(out + 8, 1);
    put32(out + 12, 0);
    long o = 16, w = 16;
    while (o < len) {
        unsigned kind = b[o + 4];
        size_t id_len = (size_t)b[o + 6] | (size_t)b[o + 7] << 8, doc_len = get32(b + o + 8);
        char id[70000];
        memcpy(id, b + o + V2_HEADER, id_len);
        id[id_len] = '\0';
        w += (long)v1_record(out + w, kind, id, b + o + V2_HEADER + id_len, doc_len);
        o += (long)(V2_HEADER + id_len + doc_len);
    }
    write_log(dir, out, w);
    free(out);
    free(b);
}

static bool exists(const char *dir, const char *name)
{
    char p[8192];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &st) == 0;
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
    snprintf(p, sizeof p, "%s/sub", dir);
    assert_true(exists(p, "docs.reserve")); /* a writer keeps room for deletes */
    remove_files(p);
    assert_int_equal(stat(p, &st), -1);

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

/* Opens DIR for writing and reading: both must fail with FH_E_PARSE, naming "damage at
 * offset OFF", and leave the log as it was (LEN bytes). */
static void assert_damage_at(const char *dir, long off, long len, const char *context)
{
    char want[64];
    snprintf(want, sizeof want, "damage at offset %ld", off);
    fh_docstore *s = NULL;
    for (int ro = 0; ro < 2; ro++) {
        int rc = fh_docstore_open(dir, ro ? FH_DOCSTORE_READONLY : 0, &s);
        if (rc != FH_E_PARSE || !strstr(fh_last_error(), want))
            fail_msg("%s: open%s gave %d [%s], wanted FH_E_PARSE [%s]", context,
                     ro ? " read-only" : "", rc, fh_last_error(), want);
        assert_null(s);
        assert_non_null(strstr(fh_last_error(), "flowhost docstore repair"));
    }
    assert_int_equal(log_size(dir), len); /* nothing was cut */
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
    char ctx[64];

    /* every byte of a middle record: the open refuses and names the offset */
    for (long i = rec1; i < rec2; i++) {
        memcpy(b, orig, (size_t)len);
        b[i] ^= 0x20;
        write_log(dir, b, len);
        snprintf(ctx, sizeof ctx, "middle record, byte %ld", i - rec1);
        assert_damage_at(dir, rec1, len, ctx);
    }

    /* every byte of the last record, written whole: it was committed, so its damage is
     * reported too, never taken for an unfinished write */
    for (long i = start; i < end; i++) {
        memcpy(b, orig, (size_t)len);
        b[i] ^= 0x01;
        write_log(dir, b, len);
        snprintf(ctx, sizeof ctx, "last record, byte %ld", i - start);
        assert_damage_at(dir, start, len, ctx);
    }

    /* the document bytes of a record that a later one replaced (doc-0's first version):
     * nothing is lost, so the store opens; the replacement reads back */
    long doc0 = offs[0] + V2_HEADER + 5; /* header, "doc-0" */
    for (long i = doc0; i < offs[1]; i++) {
        memcpy(b, orig, (size_t)len);
        b[i] ^= 0x80;
        write_log(dir, b, len);
        fh_docstore *s = open_ok(dir, 0);
        assert_int_equal(fh_docstore_len(s), 4);
        assert_text_at(s, 0, "doc-0", "replaced");
        fh_docstore_close(&s);
        assert_int_equal(log_size(dir), len);
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

/* The last record cut anywhere, when the document in it holds bytes that make whole
 * records (as a client's blob or text can): a format 1 record, and format 2 records
 * made with the store's own salt (which no client knows: the worst case), one of them
 * a delete of a stored document. The cut record is an unfinished write, whatever it
 * holds: the writer cuts it, the reader skips it, both open. */
static void test_torn_tail_holding_records(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    put_text(s, "a", "A");
    put_text(s, "b", "B");
    fh_docstore_close(&s);
    long start = log_size(dir);
    uint32_t salt = log_salt(dir);

    unsigned char blob[1024];
    size_t n = 0;
    n += v1_record(blob + n, REC_PUT, "ghost1", (const unsigned char *)"x", 1);
    n += v1_record(blob + n, REC_DELETE, "a", NULL, 0);
    n += v2_record(blob + n, salt, REC_PUT, "ghost2", (const unsigned char *)"y", 1);
    n += v2_record(blob + n, salt, REC_DELETE, "a", NULL, 0);
    memset(blob + n, 0, 64); /* and zeros to end on */
    n += 64;
    s = open_ok(dir, 0);
    fh_doc *d = text_doc("big", "holds records");
    assert_int_equal(fh_doc_set_blob(d, blob, n), 0);
    assert_int_equal(fh_docstore_put(s, d), 0);
    fh_doc_destroy(&d);
    fh_docstore_close(&s);
    long end, len;
    unsigned char *orig = read_log(dir, &len);
    end = len;

    for (long cut = start; cut < end; cut++) {
        write_log(dir, orig, cut);
        s = NULL;
        if (fh_docstore_open(dir, FH_DOCSTORE_READONLY, &s) != 0)
            fail_msg("cut at %ld of %ld..%ld: reader: %s", cut, start, end, fh_last_error());
        assert_int_equal(fh_docstore_len(s), 2);
        assert_text_at(s, 0, "a", "A");
        fh_docstore_close(&s);
        assert_int_equal(log_size(dir), cut);
        if (fh_docstore_open(dir, 0, &s) != 0)
            fail_msg("cut at %ld of %ld..%ld: writer: %s", cut, start, end, fh_last_error());
        assert_int_equal(fh_docstore_len(s), 2);
        fh_docstore_close(&s);
        assert_int_equal(log_size(dir), start);
    }
    /* whole, the document reads back with its blob */
    write_log(dir, orig, end);
    s = open_ok(dir, 0);
    assert_int_equal(fh_docstore_len(s), 3);
    assert_int_equal(fh_docstore_get(s, "big", &d), 0);
    size_t blen;
    const void *bb = fh_doc_blob(d, &blen);
    assert_int_equal(blen, n);
    assert_memory_equal(bb, blob, n);
    fh_doc_destroy(&d);
    fh_docstore_close(&s);
    free(orig);
    remove_tree(dir);
}

/* What fh_docstore_check and fh_docstore_repair see, in order. */
struct findings {
    int n;
    fh_docstore_finding_kind kind[8];
    long off[8], len[8];
    char id[8][32];
};

static void on_finding(const fh_docstore_finding *f, void *user)
{
    struct findings *fs = user;
    assert_true(fs->n < 8);
    assert_non_null(f->what);
    fs->kind[fs->n] = f->kind;
    fs->off[fs->n] = (long)f->offset;
    fs->len[fs->n] = (long)f->length;
    snprintf(fs->id[fs->n], sizeof fs->id[0], "%s", f->id ? f->id : "");
    fs->n++;
}

static void test_check_and_repair(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    long start, end, len;
    long offs[5];
    write_n(dir, 6, &start, &end, offs); /* doc-0 (replaced) .. doc-4, last */
    unsigned char *b = read_log(dir, &len);
    b[offs[2] + V2_HEADER + 5 + 3] ^= 0x04;      /* doc-2's content */
    memset(b + offs[3], 0, V2_HEADER);           /* doc-3's header */
    long cut = start + (end - start) / 2;        /* "last", unfinished */
    write_log(dir, b, cut);

    /* check: read-only, lists everything, changes nothing */
    struct findings fs = {0};
    fh_docstore_report r;
    assert_int_equal(fh_docstore_check(dir, on_finding, &fs, &r), 0);
    assert_int_equal(fs.n, 3);
    assert_int_equal(fs.kind[0], FH_DOCSTORE_DAMAGED);
    assert_int_equal(fs.off[0], offs[2]);
    assert_string_equal(fs.id[0], "doc-2");
    assert_int_equal(fs.kind[1], FH_DOCSTORE_DAMAGED);
    assert_int_equal(fs.off[1], offs[3]);
    assert_int_equal(fs.len[1], offs[4] - offs[3]);
    assert_string_equal(fs.id[1], "");
    assert_int_equal(fs.kind[2], FH_DOCSTORE_UNFINISHED);
    assert_int_equal(fs.off[2], start);
    assert_int_equal(fs.len[2], cut - start);
    assert_int_equal(r.format, 2);
    assert_int_equal(r.log_bytes, cut);
    assert_int_equal(r.damaged, 2);
    assert_int_equal(r.lost_documents, 1);
    assert_int_equal(r.documents, 3); /* doc-0, doc-1, doc-4 */
    assert_int_equal(r.unfinished_bytes, cut - start);
    assert_int_equal(r.stale, 0);
    assert_int_equal(log_size(dir), cut);
    fh_docstore *s = NULL;
    assert_int_equal(fh_docstore_open(dir, 0, &s), FH_E_PARSE);

    /* repair: not while a writer holds the lock */
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/ok", dir);
    fh_docstore *w = open_ok(sub, FH_DOCSTORE_CREATE);
    assert_int_equal(fh_docstore_repair(sub, NULL, NULL, NULL), FH_E_STATE);
    fh_docstore_close(&w);
    remove_files(sub);

    /* repair: drops the damage, keeps the old log beside */
    memset(&fs, 0, sizeof fs);
    assert_int_equal(fh_docstore_repair(dir, on_finding, &fs, &r), 0);
    assert_int_equal(fs.n, 3);
    assert_int_equal(r.damaged, 2);
    assert_true(r.rewritten);
    assert_true(r.kept_old);
    char p[4096];
    snprintf(p, sizeof p, "%s/docs.log.before-repair", dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, cut);
    s = open_ok(dir, 0);
    assert_int_equal(fh_docstore_len(s), 3);
    assert_text_at(s, 0, "doc-0", "replaced");
    assert_text_at(s, 1, "doc-1", "some text");
    assert_text_at(s, 2, "doc-4", "some text");
    put_text(s, "after", "repair");
    fh_docstore_close(&s);

    /* a second repair finds nothing; a check says so */
    memset(&fs, 0, sizeof fs);
    assert_int_equal(fh_docstore_repair(dir, on_finding, &fs, &r), 0);
    assert_int_equal(fs.n, 0);
    assert_int_equal(r.damaged, 0);
    assert_false(r.rewritten);
    assert_int_equal(fh_docstore_check(dir, NULL, NULL, &r), 0);
    assert_int_equal(r.documents, 4);
    assert_int_equal(r.damaged, 0);
    assert_int_equal(r.unfinished_bytes, 0);

    /* only an unfinished tail: repair cuts it, keeps no copy */
    unlink(p);
    long good = log_size(dir);
    s = open_ok(dir, 0);
    put_text(s, "torn", "away");
    fh_docstore_close(&s);
    char lp[4096];
    log_path(dir, lp, sizeof lp);
    assert_int_equal(truncate(lp, good + 10), 0);
    assert_int_equal(fh_docstore_repair(dir, NULL, NULL, &r), 0);
    assert_int_equal(r.unfinished_bytes, 10);
    assert_false(r.rewritten);
    assert_false(r.kept_old);
    assert_int_equal(log_size(dir), good);
    assert_int_equal(stat(p, &st), -1);

    /* not a docstore */
    snprintf(p, sizeof p, "%s/nothing", dir);
    assert_int_equal(fh_docstore_check(p, NULL, NULL, &r), FH_E_NOTFOUND);
    assert_int_equal(fh_docstore_repair(p, NULL, NULL, &r), FH_E_NOTFOUND);
    free(b);
    remove_tree(dir);
}

/* A format 1 log (as flowhost 0.1 wrote it): read as it is, upgraded by a writer; its
 * unfinished tail is cut even when it holds a whole record; damage is reported. */
static void test_format1(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    long start, end, len;
    write_n(dir, 4, &start, &end, NULL);
    downgrade_to_v1(dir);
    unsigned char *v1 = read_log(dir, &len);
    assert_int_equal(get32(v1 + 8), 1);

    fh_docstore *s = open_ok(dir, FH_DOCSTORE_READONLY);
    assert_int_equal(fh_docstore_len(s), 4);
    assert_text_at(s, 0, "doc-0", "replaced");
    assert_text_at(s, 2, "doc-2", "some text");
    fh_doc *got = NULL, *full = full_doc("last");
    assert_int_equal(fh_docstore_get(s, "last", &got), 0);
    assert_same_doc(got, full);
    fh_doc_destroy(&got);
    fh_docstore_close(&s);
    assert_int_equal(log_size(dir), len);

    /* a cut record holding a whole format 1 record */
    unsigned char inner[256], *b = malloc((size_t)len + 1024);
    assert_non_null(b);
    size_t n = v1_record(inner, REC_PUT, "ghost", (const unsigned char *)"g", 1);
    memcpy(b, v1, (size_t)len);
    long rec = (long)v1_record(b + len, REC_PUT, "cut", inner, n);
    for (long cut = len; cut < len + rec; cut++) {
        write_log(dir, b, cut);
        s = open_ok(dir, FH_DOCSTORE_READONLY);
        assert_int_equal(fh_docstore_len(s), 4);
        fh_docstore_close(&s);
    }
    /* a flipped bit in its last record is reported */
    memcpy(b, v1, (size_t)len);
    b[len - 3] ^= 0x10;
    write_log(dir, b, len);
    assert_damage_at(dir, len - (long)(13 + 4 + 4) - (end - start - V2_HEADER - 4), len,
                     "format 1, last record");

    /* a writer upgrades it to format 2, documents and positions kept */
    write_log(dir, v1, len);
    s = open_ok(dir, 0);
    put_text(s, "new", "after the upgrade");
    fh_docstore_close(&s);
    unsigned char *v2 = read_log(dir, &len);
    assert_int_equal(get32(v2 + 8), 2);
    s = open_ok(dir, FH_DOCSTORE_READONLY);
    assert_int_equal(fh_docstore_len(s), 5);
    assert_text_at(s, 0, "doc-0", "replaced");
    assert_text_at(s, 1, "doc-1", "some text");
    assert_int_equal(fh_docstore_get(s, "last", &got), 0);
    assert_same_doc(got, full);
    fh_doc_destroy(&got);
    assert_text_at(s, 4, "new", "after the upgrade");
    fh_docstore_close(&s);
    fh_doc_destroy(&full);
    free(v2);
    free(b);
    free(v1);
    remove_tree(dir);
}

/* Links planted in the docstore's directory (one others can write to) are never
 * followed: compaction does not write through docs.log.tmp, a log, lock or reserve that
 * is a link is refused or replaced, and a log with another hard link is not written. */
/* A repair stopped between keeping the old log under a second name and putting the new
 * one in place leaves docs.log with two links: the next writer drops the second name
 * and opens the store (it used to refuse it for good). */
static void test_repair_interrupted(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    put_text(s, "a", "A");
    fh_docstore_close(&s);
    char log[4096], old[4096];
    snprintf(log, sizeof log, "%s/docs.log", dir);
    snprintf(old, sizeof old, "%s/docs.log.before-repair", dir);
    assert_int_equal(link(log, old), 0);
    s = open_ok(dir, 0);
    assert_int_equal(access(old, F_OK), -1);
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_nlink, 1);
    put_text(s, "b", "B");
    fh_docstore_close(&s);
    remove_tree(dir);
}

static void test_links_refused(void **state)
{
    (void)state;
    char *dir = make_tmpdir(), *outside = make_tmpdir();
    char victim[4096], p[4096], q[4096];
    snprintf(victim, sizeof victim, "%s/victim", outside);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("precious", f);
    fclose(f);
    struct stat st;

#define ASSERT_VICTIM_INTACT()                                                              \
    do {                                                                                    \
        char buf[64] = {0};                                                                 \
        FILE *v = fopen(victim, "r");                                                       \
        assert_non_null(v);                                                                 \
        size_t got = fread(buf, 1, sizeof buf - 1, v);                                      \
        fclose(v);                                                                          \
        assert_int_equal(got, 8);                                                           \
        assert_string_equal(buf, "precious");                                               \
    } while (0)

    /* compaction with docs.log.tmp planted as a link to the victim */
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    put_text(s, "a", "A");
    put_text(s, "a", "A2");
    snprintf(p, sizeof p, "%s/docs.log.tmp", dir);
    assert_int_equal(symlink(victim, p), 0);
    assert_int_equal(fh_docstore_compact(s), 0);
    ASSERT_VICTIM_INTACT();
    snprintf(p, sizeof p, "%s/docs.log", dir);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_false(exists(dir, "docs.log.tmp"));
    fh_docstore_close(&s);
    s = open_ok(dir, 0);
    assert_text_at(s, 0, "a", "A2");
    fh_docstore_close(&s);

    /* the lock as a link: refused, the victim untouched */
    snprintf(p, sizeof p, "%s/docs.lock", dir);
    unlink(p);
    assert_int_equal(symlink(victim, p), 0);
    assert_int_equal(fh_docstore_open(dir, 0, &s), FH_E_IO);
    assert_non_null(strstr(fh_last_error(), "docs.lock: a symbolic link"));
    ASSERT_VICTIM_INTACT();
    unlink(p);

    /* the reserve as a link: replaced by a file of the docstore's own */
    snprintf(p, sizeof p, "%s/docs.reserve", dir);
    unlink(p);
    assert_int_equal(symlink(victim, p), 0);
    s = open_ok(dir, 0);
    fh_docstore_close(&s);
    ASSERT_VICTIM_INTACT();
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));

    /* the log as a link to a log elsewhere: refused, for reading too */
    snprintf(p, sizeof p, "%s/docs.log", dir);
    snprintf(q, sizeof q, "%s/real.log", outside);
    assert_int_equal(rename(p, q), 0);
    assert_int_equal(symlink(q, p), 0);
    long before = (stat(q, &st), (long)st.st_size);
    assert_int_equal(fh_docstore_open(dir, 0, &s), FH_E_IO);
    assert_non_null(strstr(fh_last_error(), "docs.log: a symbolic link"));
    assert_int_equal(fh_docstore_open(dir, FH_DOCSTORE_READONLY, &s), FH_E_IO);
    assert_int_equal(fh_docstore_check(dir, NULL, NULL, NULL), FH_E_IO);
    assert_int_equal(fh_docstore_repair(dir, NULL, NULL, NULL), FH_E_IO);
    assert_int_equal((stat(q, &st), (long)st.st_size), before);
    unlink(p);
    assert_int_equal(rename(q, p), 0);

    /* a log with another hard link: not written (readers may read it) */
    snprintf(q, sizeof q, "%s/hard", outside);
    assert_int_equal(link(p, q), 0);
    assert_int_equal(fh_docstore_open(dir, 0, &s), FH_E_IO);
    assert_non_null(strstr(fh_last_error(), "hard links"));
    s = open_ok(dir, FH_DOCSTORE_READONLY);
    fh_docstore_close(&s);
    unlink(q);
    s = open_ok(dir, 0);
    fh_docstore_close(&s);

    /* a FIFO as the log does not block the open */
    unlink(p);
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(fh_docstore_open(dir, FH_DOCSTORE_READONLY, &s), FH_E_IO);
    assert_non_null(strstr(fh_last_error(), "not a regular file"));
    unlink(p);

    /* creating a store where docs.log is a dangling link does not make its target */
    snprintf(q, sizeof q, "%s/made", outside);
    assert_int_equal(symlink(q, p), 0);
    assert_int_equal(fh_docstore_open(dir, FH_DOCSTORE_CREATE, &s), FH_E_IO);
    assert_int_equal(stat(q, &st), -1);
    ASSERT_VICTIM_INTACT();
#undef ASSERT_VICTIM_INTACT
    remove_tree(dir);
    remove_tree(outside);
}

/* True when the file system of DIR can punch holes (else the space test has nothing to
 * measure). */
static bool can_punch(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/probe", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    unlink(p);
    bool ok = posix_fallocate(fd, 0, 1 << 16) == 0 &&
              fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1 << 16) == 0;
    close(fd);
    return ok;
}

static long log_blocks_bytes(const char *dir)
{
    char p[4096];
    struct stat st;
    log_path(dir, p, sizeof p);
    assert_int_equal(stat(p, &st), 0);
    return (long)st.st_blocks * 512;
}

static fh_doc *blob_doc(const char *id, size_t size, unsigned char fill)
{
    fh_doc *d = fh_doc_new();
    assert_non_null(d);
    assert_int_equal(fh_doc_set_id(d, id), 0);
    unsigned char *b = malloc(size);
    assert_non_null(b);
    memset(b, fill, size);
    assert_int_equal(fh_doc_set_blob(d, b, size), 0);
    free(b);
    return d;
}

/* A delete or a replace gives the disk blocks of the old document back once it is on
 * disk, without compaction; the log keeps its length; a reader that opened before is
 * told the document went; a reopen reads everything else. */
static void test_delete_gives_space_back(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    if (!can_punch(dir)) {
        printf("skipped: the file system of /tmp cannot punch holes\n");
        remove_tree(dir);
        return;
    }
    enum { MB = 1 << 20 };
    fh_docstore *s = open_ok(dir, FH_DOCSTORE_CREATE);
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/docs.reserve", dir);
    assert_int_equal(stat(p, &st), 0);
    assert_true((long)st.st_blocks * 512 >= MB); /* room kept for deletes */
    put_text(s, "small", "stays");
    fh_doc *d = blob_doc("big", 2 * MB, 'b');
    assert_int_equal(fh_docstore_put(s, d), 0);
    fh_doc_destroy(&d);
    d = blob_doc("big2", 2 * MB, 'c');
    assert_int_equal(fh_docstore_put(s, d), 0);
    fh_doc_destroy(&d);
    assert_int_equal(fh_docstore_sync(s), 0);
    long used = log_blocks_bytes(dir), size = log_size(dir);
    fh_docstore *r = open_ok(dir, FH_DOCSTORE_READONLY);

    assert_int_equal(fh_docstore_delete(s, "big"), 0);
    d = blob_doc("big2", 1000, 'd'); /* replaced by a small one */
    assert_int_equal(fh_docstore_put(s, d), 0);
    fh_doc_destroy(&d);
    assert_int_equal(fh_docstore_sync(s), 0);
    long freed = used - log_blocks_bytes(dir);
    printf("a delete and a replace of 2 MiB documents gave back %ld bytes\n", freed);
    assert_true(freed >= 4 * MB - 64 * 1024);
    assert_true(log_size(dir) > size); /* the file keeps its length and grows */

    fh_doc *got = NULL;
    assert_int_equal(fh_docstore_get(r, "big", &got), FH_E_NOTFOUND);
    assert_non_null(strstr(fh_last_error(), "deleted or replaced after this reader opened"));
    assert_int_equal(fh_docstore_get(r, "big2", &got), FH_E_NOTFOUND);
    assert_text_at(r, 0, "small", "stays");
    fh_docstore_close(&r);
    fh_docstore_close(&s);

    fh_docstore_report rep;
    assert_int_equal(fh_docstore_check(dir, NULL, NULL, &rep), 0);
    assert_int_equal(rep.damaged, 0);
    assert_int_equal(rep.stale, 2);
    s = open_ok(dir, 0);
    assert_int_equal(fh_docstore_len(s), 2);
    assert_text_at(s, 0, "small", "stays");
    assert_int_equal(fh_docstore_get(s, "big2", &got), 0);
    size_t blen;
    fh_doc_blob(got, &blen);
    assert_int_equal(blen, 1000);
    fh_doc_destroy(&got);
    assert_int_equal(fh_docstore_compact(s), 0);
    assert_true(log_size(dir) < 64 * 1024);
    fh_docstore_close(&s);
    remove_tree(dir);
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Readers open and read while a writer replaces documents and syncs, so that the bytes
 * of replaced records are given back under the readers' feet: no reader open fails,
 * every document either reads whole or is gone (FH_E_NOTFOUND), and check finds no
 * damage. (A reader's scan used to take a record punched after it started for damage.)
 * Runs for 1.5 s; it asserts what happened, not how fast. */
static void test_readers_while_space_is_given_back(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    if (!can_punch(dir)) {
        printf("skipped: the file system of /tmp cannot punch holes\n");
        remove_tree(dir);
        return;
    }
    enum { N = 16, SIZE = 16 << 10 };
    char id[16];
    fh_docstore *w = open_ok(dir, FH_DOCSTORE_CREATE);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "d%d", i);
        fh_doc *d = blob_doc(id, SIZE, 'a');
        assert_int_equal(fh_docstore_put(w, d), 0);
        fh_doc_destroy(&d);
    }
    fh_docstore_close(&w);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (fh_docstore_open(dir, 0, &w) != 0)
            _exit(1);
        for (unsigned i = 0;; i++) {
            snprintf(id, sizeof id, "d%u", i % N);
            fh_doc *d = blob_doc(id, SIZE, (unsigned char)i);
            if (fh_docstore_put(w, d) != 0 || fh_docstore_sync(w) != 0)
                _exit(2);
            fh_doc_destroy(&d);
        }
    }
    int opens = 0, failed = 0, gone = 0, read = 0, damaged = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed_ms(&t0) < 1500) {
        fh_docstore *r = NULL;
        opens++;
        if (fh_docstore_open(dir, FH_DOCSTORE_READONLY, &r) != 0) {
            if (failed++ == 0)
                printf("a reader's open failed: %s\n", fh_last_error());
            continue;
        }
        for (size_t pos = 0; pos < fh_docstore_len(r); pos++) {
            fh_doc *d = NULL;
            int rc = fh_docstore_get_at(r, pos, &d);
            read += rc == 0;
            gone += rc == FH_E_NOTFOUND;
            if (rc != 0 && rc != FH_E_NOTFOUND && failed++ == 0)
                printf("a reader's get failed: %s\n", fh_last_error());
            fh_doc_destroy(&d);
        }
        fh_docstore_close(&r);
        fh_docstore_report rep;
        if (fh_docstore_check(dir, NULL, NULL, &rep) == 0)
            damaged += (int)rep.damaged;
    }
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status)); /* the writer never failed */
    printf("%d reader opens: %d documents read, %d gone meanwhile; %d failures, %d damage "
           "seen by check\n", opens, read, gone, failed, damaged);
    assert_int_equal(failed, 0);
    assert_int_equal(damaged, 0);
    assert_true(read > 0);
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
        cmocka_unit_test(test_torn_tail_holding_records),
        cmocka_unit_test(test_check_and_repair),
        cmocka_unit_test(test_format1),
        cmocka_unit_test(test_repair_interrupted),
        cmocka_unit_test(test_links_refused),
        cmocka_unit_test(test_delete_gives_space_back),
        cmocka_unit_test(test_readers_while_space_is_given_back),
        cmocka_unit_test(test_write_failure_rolls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: document sources (source.c, source_csv.c, source_files.c, source_npy.c).
 * Fixtures are under tests/data/sources/ ($FH_TEST_DATA/sources); .npy files with odd
 * headers and binary files are written by the tests into a temporary directory. */
#define _GNU_SOURCE /* asprintf, mkdtemp, nftw */
#include <ftw.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <flowhost/docstore.h>
#include <flowhost/error.h>
#include <flowhost/source.h>

/* ---- helpers ---- */

static char *data_path(const char *name)
{
    const char *root = getenv("FH_TEST_DATA");
    char *p;
    if (asprintf(&p, "%s/sources/%s", root ? root : "tests/data", name) < 0)
        fail_msg("out of memory");
    return p;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Each test that needs files gets its own directory, removed at teardown. */
static int make_tmpdir(void **state)
{
    char tmpl[] = "/tmp/fh_test_source.XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir)
        return -1;
    *state = strdup(dir);
    return *state ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    if (*state)
        nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(*state);
    *state = NULL;
    return 0;
}

static char *tmp_path(void **state, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", (const char *)*state, name) < 0)
        fail_msg("out of memory");
    return p;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Writes a .npy file: preamble of version MAJOR, the header DICT padded as numpy pads it
 * (to a multiple of 64 with spaces and a newline), then DATA. */
static void write_npy(const char *path, int major, const char *dict, const void *data,
                      size_t len)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t total = pre + dl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = dl + pad + 1;
    unsigned char *buf = malloc(pre + hlen + len + 1);
    assert_non_null(buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xFF);
    buf[9] = (unsigned char)(hlen >> 8);
    if (major != 1) {
        buf[10] = (unsigned char)(hlen >> 16);
        buf[11] = (unsigned char)(hlen >> 24);
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', pad);
    buf[pre + dl + pad] = '\n';
    if (len)
        memcpy(buf + pre + hlen, data, len);
    write_file(path, buf, pre + hlen + len);
    free(buf);
}

/* A new field_resolver map renaming FROM to TO (the caller destroys it). */
static fh_value *resolver(const char *from, const char *to)
{
    fh_value *res = fh_value_new_map();
    assert_non_null(res);
    assert_int_equal(fh_map_set_string(res, from, to), 0);
    return res;
}

static fh_source *open_ok(const char *path, fh_source_format fmt, const fh_source_options *o)
{
    fh_source *s = NULL;
    int rc = fh_source_open(path, fmt, o, &s);
    if (rc != 0)
        fail_msg("opening %s: %s (%s)", path, fh_last_error(), fh_err_name(rc));
    return s;
}

static fh_doc *next_ok(fh_source *s)
{
    fh_doc *d = NULL;
    int rc = fh_source_next(s, &d);
    if (rc != 1)
        fail_msg("fh_source_next gave %d: %s", rc, fh_last_error());
    return d;
}

static void assert_end(fh_source *s)
{
    fh_doc *d = NULL;
    assert_int_equal(fh_source_next(s, &d), 0);
    assert_null(d);
}

/* Asserts that opening fails with CODE and a message ending in SUFFIX (after PATH). */
static void assert_open_fails(const char *path, fh_source_format fmt, const fh_source_options *o,
                              int code, const char *expected)
{
    fh_source *s = NULL;
    int rc = fh_source_open(path, fmt, o, &s);
    if (rc != code)
        fail_msg("opening %s gave %s (%s), expected %s", path, fh_err_name(rc), fh_last_error(),
                 fh_err_name(code));
    assert_null(s);
    if (!strstr(fh_last_error(), expected))
        fail_msg("message '%s' lacks '%s'", fh_last_error(), expected);
}

static size_t count_docs(fh_source *s)
{
    size_t n = 0;
    fh_doc *d;
    int rc;
    while ((rc = fh_source_next(s, &d)) == 1) {
        n++;
        fh_doc_destroy(&d);
    }
    assert_int_equal(rc, 0);
    return n;
}

/* ---- options, formats ---- */

static void test_options_init(void **state)
{
    (void)state;
    fh_source_options o;
    memset(&o, 0xFF, sizeof o);
    fh_source_options_init(&o);
    assert_int_equal(o.size, 0);
    assert_true(o.sampling_rate == 1.0);
    assert_false(o.shuffle);
    assert_int_equal(o.seed, 0);
    assert_null(o.field_resolver);
    assert_int_equal(o.read_mode, FH_READ_URI);
    assert_int_equal(o.array_as, FH_ARRAY_AS_TENSOR);
    assert_int_equal(o.max_line, FH_SOURCE_DEFAULT_MAX_LINE);
}

static void test_format_of(void **state)
{
    assert_int_equal(fh_source_format_of("a/b.csv"), FH_FORMAT_CSV);
    assert_int_equal(fh_source_format_of("B.CSV"), FH_FORMAT_CSV);
    assert_int_equal(fh_source_format_of("x.ndjson"), FH_FORMAT_NDJSON);
    assert_int_equal(fh_source_format_of("x.jsonl"), FH_FORMAT_NDJSON);
    assert_int_equal(fh_source_format_of("x.npy"), FH_FORMAT_NPY);
    assert_int_equal(fh_source_format_of("-"), FH_FORMAT_NDJSON);
    assert_int_equal(fh_source_format_of("docs/**/*.txt"), FH_FORMAT_FILES);
    assert_int_equal(fh_source_format_of("img?.png"), FH_FORMAT_FILES);
    assert_int_equal(fh_source_format_of("[ab].txt"), FH_FORMAT_FILES);
    assert_int_equal(fh_source_format_of(*state), FH_FORMAT_DOCSTORE); /* a directory */
    assert_int_equal(fh_source_format_of("notes.txt"), FH_FORMAT_AUTO);
    assert_int_equal(fh_source_format_of("dir.csv/noext"), FH_FORMAT_AUTO);
    assert_int_equal(fh_source_format_of(""), FH_FORMAT_AUTO);

    assert_int_equal(fh_source_format_from_name("auto"), FH_FORMAT_AUTO);
    assert_int_equal(fh_source_format_from_name("ndjson"), FH_FORMAT_NDJSON);
    assert_int_equal(fh_source_format_from_name("csv"), FH_FORMAT_CSV);
    assert_int_equal(fh_source_format_from_name("files"), FH_FORMAT_FILES);
    assert_int_equal(fh_source_format_from_name("npy"), FH_FORMAT_NPY);
    assert_int_equal(fh_source_format_from_name("docstore"), FH_FORMAT_DOCSTORE);
    assert_int_equal(fh_source_format_from_name("parquet"), -1);
    assert_int_equal(fh_source_format_from_name(NULL), -1);

    assert_open_fails("notes.txt", FH_FORMAT_AUTO, NULL, FH_E_INVAL, "cannot tell the format");
}

static void test_bad_options(void **state)
{
    (void)state;
    char *path = data_path("basic.csv");
    fh_source_options o;
    fh_source_options_init(&o);
    o.sampling_rate = 1.5;
    assert_open_fails(path, FH_FORMAT_AUTO, &o, FH_E_INVAL, "sampling_rate");
    o.sampling_rate = -0.1;
    assert_open_fails(path, FH_FORMAT_AUTO, &o, FH_E_INVAL, "sampling_rate");
    fh_source_options_init(&o);
    fh_value *res = fh_value_new_list();
    o.field_resolver = res;
    assert_open_fails(path, FH_FORMAT_AUTO, &o, FH_E_INVAL, "field_resolver must be a map");
    fh_value_destroy(&res);
    res = fh_value_new_map();
    fh_map_set_int(res, "question", 1);
    o.field_resolver = res;
    assert_open_fails(path, FH_FORMAT_AUTO, &o, FH_E_INVAL, "it must be a field name");
    fh_value_destroy(&res);
    fh_source_close(NULL);
    fh_source *none = NULL;
    fh_source_close(&none);
    free(path);
}

/* ---- CSV ---- */

static void test_csv_basic(void **state)
{
    (void)state;
    char *path = data_path("basic.csv");
    fh_value *res = resolver("question", "text");
    fh_source_options o;
    fh_source_options_init(&o);
    o.field_resolver = res;
    fh_source *s = open_ok(path, FH_FORMAT_AUTO, &o);
    fh_value_destroy(&res); /* options are copied at open */

    fh_doc *d = next_ok(s);
    assert_string_equal(fh_doc_text(d), "What is Jina?");
    assert_string_equal(fh_doc_id(d), "q1");
    assert_string_equal(fh_doc_uri(d), "http://a");
    const fh_value *tags = fh_doc_tags_get(d);
    assert_int_equal(fh_value_len(tags), 1);
    assert_int_equal(fh_value_type(fh_map_get(tags, "answer")), FH_TYPE_STRING);
    assert_string_equal(fh_map_get_string(tags, "answer", ""), "A framework");
    fh_doc_destroy(&d);

    d = next_ok(s);
    assert_string_equal(fh_doc_text(d), "Why, though?");
    assert_string_equal(fh_doc_id(d), "q2");
    assert_string_equal(fh_doc_uri(d), "");
    fh_doc_destroy(&d);
    assert_end(s);
    assert_end(s); /* stays at the end */
    fh_source_close(&s);
    assert_null(s);

    /* Without a resolver the column goes to tags. */
    s = open_ok(path, FH_FORMAT_CSV, NULL);
    d = next_ok(s);
    assert_string_equal(fh_doc_text(d), "");
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "question", ""), "What is Jina?");
    fh_doc_destroy(&d);
    fh_source_close(&s);

    /* A resolver can rename a column into another tag. */
    res = resolver("answer", "reply");
    o.field_resolver = res;
    s = open_ok(path, FH_FORMAT_CSV, &o);
    d = next_ok(s);
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "reply", ""), "A framework");
    assert_null(fh_map_get(fh_doc_tags_get(d), "answer"));
    fh_doc_destroy(&d);
    fh_source_close(&s);
    fh_value_destroy(&res);
    free(path);
}

static void test_csv_quoted(void **state)
{
    (void)state;
    char *path = data_path("quoted.csv");
    fh_source *s = open_ok(path, FH_FORMAT_AUTO, NULL);
    fh_doc *d = next_ok(s);
    assert_string_equal(fh_doc_text(d), "hello, world");
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "note", ""), "line one\nline two");
    fh_doc_destroy(&d);
    d = next_ok(s);
    assert_string_equal(fh_doc_text(d), "plain");
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "note", ""), "say \"hi\"");
    fh_doc_destroy(&d);
    assert_end(s);
    fh_source_close(&s);
    free(path);
}

static void test_csv_ragged(void **state)
{
    (void)state;
    char *path = data_path("ragged.csv");
    fh_source *s = open_ok(path, FH_FORMAT_AUTO, NULL);
    fh_doc *d = next_ok(s);
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "b", ""), "2");
    fh_doc_destroy(&d);
    d = next_ok(s);
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "b", ""), "five\nand a half");
    fh_doc_destroy(&d);
    /* The quoted newline makes the ragged row physical line 5. */
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    char *expected;
    assert_true(asprintf(&expected, "%s:5: row has 2 fields, the header has 3", path) > 0);
    assert_string_equal(fh_last_error(), expected);
    free(expected);
    /* The rows after it still come. */
    d = next_ok(s);
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "c", ""), "9");
    fh_doc_destroy(&d);
    assert_end(s);
    fh_source_close(&s);
    free(path);
}

static void test_csv_resolver_errors(void **state)
{
    (void)state;
    char *path = data_path("basic.csv");
    fh_source_options o;
    fh_source_options_init(&o);
    fh_value *res = resolver("x", "text");
    o.field_resolver = res;
    char *expected;
    assert_true(asprintf(&expected,
                         "%s: field_resolver names column 'x', which the header lacks "
                         "(columns: question, answer, id, uri)",
                         path) > 0);
    assert_open_fails(path, FH_FORMAT_CSV, &o, FH_E_INVAL, expected);
    assert_string_equal(fh_last_error(), expected);
    free(expected);
    fh_value_destroy(&res);

    res = resolver("question", "embedding");
    o.field_resolver = res;
    assert_open_fails(path, FH_FORMAT_CSV, &o, FH_E_INVAL, "maps column 'question' to 'embedding'");
    fh_value_destroy(&res);

    res = fh_value_new_map();
    fh_map_set_string(res, "question", "answer"); /* 'answer' is a column too */
    o.field_resolver = res;
    assert_open_fails(path, FH_FORMAT_CSV, &o, FH_E_INVAL, "would both set 'answer'");
    fh_value_destroy(&res);

    res = fh_value_new_map();
    fh_map_set_string(res, "question", "text");
    fh_map_set_string(res, "answer", "text");
    o.field_resolver = res;
    assert_open_fails(path, FH_FORMAT_CSV, &o, FH_E_INVAL, "maps both 'question' and 'answer'");
    fh_value_destroy(&res);
    free(path);
}

static void test_csv_malformed(void **state)
{
    char *p = tmp_path(state, "empty.csv");
    write_file(p, "", 0);
    assert_open_fails(p, FH_FORMAT_AUTO, NULL, FH_E_PARSE, "no header row");
    free(p);

    p = tmp_path(state, "dup.csv");
    write_file(p, "a,b,a\n1,2,3\n", 12);
    assert_open_fails(p, FH_FORMAT_AUTO, NULL, FH_E_PARSE, ":1: column 'a' appears twice");
    free(p);

    p = tmp_path(state, "unclosed.csv");
    const char *u = "a,b\n1,2\n3,\"never\nclosed\n";
    write_file(p, u, strlen(u));
    fh_source *s = open_ok(p, FH_FORMAT_AUTO, NULL);
    fh_doc *d = next_ok(s);
    fh_doc_destroy(&d);
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "unclosed.csv:3: quoted field not closed"));
    fh_source_close(&s);
    free(p);

    p = tmp_path(state, "strict.csv");
    const char *st = "a,b\n1,\"x\"y\n";
    write_file(p, st, strlen(st));
    s = open_ok(p, FH_FORMAT_AUTO, NULL);
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "strict.csv:2: malformed quoting"));
    fh_source_close(&s);
    free(p);

    p = tmp_path(state, "nul.csv");
    write_file(p, "a,b\n1,x\0y\n", 10);
    s = open_ok(p, FH_FORMAT_AUTO, NULL);
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "nul.csv:2: field 2 holds a NUL byte"));
    fh_source_close(&s);
    free(p);

    p = tmp_path(state, "missing.csv");
    assert_open_fails(p, FH_FORMAT_AUTO, NULL, FH_E_IO, "No such file");
    free(p);
}

/* CRLF endings, a byte order mark, an empty header cell, blank lines, no final newline. */
static void test_csv_dialects(void **state)
{
    char *p = tmp_path(state, "crlf.csv");
    const char *t = "\xEF\xBB\xBFtext,,n\r\nhello,0,1\r\n\r\n\"multi\r\nline\",1,2";
    write_file(p, t, strlen(t));
    fh_source *s = open_ok(p, FH_FORMAT_AUTO, NULL);
    fh_doc *d = next_ok(s);
    assert_string_equal(fh_doc_text(d), "hello");
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "Unnamed: 1", ""), "0");
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "n", ""), "1");
    fh_doc_destroy(&d);
    d = next_ok(s);
    assert_string_equal(fh_doc_text(d), "multi\r\nline");
    assert_string_equal(fh_map_get_string(fh_doc_tags_get(d), "n", ""), "2");
    fh_doc_destroy(&d);
    assert_end(s);
    fh_source_close(&s);
    free(p);
}

/* Many rows, with quoted newlines, crossing the 64 KiB chunks the reader works in; the
 * ragged row's line number must still be right at the end. */
static void test_csv_large(void **state)
{
    char *p = tmp_path(state, "large.csv");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "id,text\n");
    const int rows = 20000;
    for (int i = 0; i < rows; i++)
        fprintf(f, "r%d,\"row %d, with a comma\nand a second line\"\n", i, i);
    fprintf(f, "only-one-field\n");
    fclose(f);
    fh_source *s = open_ok(p, FH_FORMAT_AUTO, NULL);
    char want[64];
    for (int i = 0; i < rows; i++) {
        fh_doc *d = next_ok(s);
        snprintf(want, sizeof want, "r%d", i);
        assert_string_equal(fh_doc_id(d), want);
        snprintf(want, sizeof want, "row %d, with a comma\nand a second line", i);
        assert_string_equal(fh_doc_text(d), want);
        fh_doc_destroy(&d);
    }
    fh_doc *d = NULL;
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    char suffix[80];
    snprintf(suffix, sizeof suffix, ":%d: row has 1 fields, the header has 2", 2 + 2 * rows);
    if (!strstr(fh_last_error(), suffix))
        fail_msg("'%s' lacks '%s'", fh_last_error(), suffix);
    assert_end(s);
    fh_source_close(&s);
    free(p);
}

/* ---- NDJSON ---- */

static void test_ndjson_resolver_and_tags(void **state)
{
    (void)state;
    char *path = data_path("mapped.ndjson");
    fh_value *res = resolver("question", "text");
    fh_source_options o;
    fh_source_options_init(&o);
    o.field_resolver = res;
    fh_source *s = open_ok(path, FH_FORMAT_AUTO, &o);
    fh_value_destroy(&res);

    fh_doc *d = next_ok(s);
    assert_string_equal(fh_doc_id(d), "d1");
    assert_string_equal(fh_doc_text(d), "q1");
    const fh_value *tags = fh_doc_tags_get(d);
    assert_int_equal(fh_value_len(tags), 5);
    assert_int_equal(fh_value_type(fh_map_get(tags, "n")), FH_TYPE_INT);
    assert_int_equal(fh_map_get_int(tags, "n", 0), 3);
    assert_int_equal(fh_value_type(fh_map_get(tags, "f")), FH_TYPE_DOUBLE);
    assert_true(fh_map_get_double(tags, "f", 0) == 1.5);
    assert_int_equal(fh_value_type(fh_map_get(tags, "flag")), FH_TYPE_BOOL);
    assert_true(fh_map_get_bool(tags, "flag", false));
    const fh_value *nested = fh_map_get(tags, "nested");
    assert_int_equal(fh_value_type(nested), FH_TYPE_MAP);
    const fh_value *arr = fh_map_get(nested, "a");
    assert_int_equal(fh_value_len(arr), 2);
    assert_int_equal(fh_value_int(fh_list_at(arr, 1), 0), 2);
    assert_non_null(fh_map_get(tags, "nothing"));
    assert_int_equal(fh_value_type(fh_map_get(tags, "nothing")), FH_TYPE_NULL);
    assert_null(fh_map_get(tags, "question"));
    fh_doc_destroy(&d);

    d = next_ok(s); /* its own tags and an unmapped key together */
    assert_string_equal(fh_doc_text(d), "q2");
    tags = fh_doc_tags_get(d);
    assert_int_equal(fh_value_len(tags), 2);
    assert_string_equal(fh_map_get_string(tags, "k", ""), "v");
    assert_string_equal(fh_map_get_string(tags, "extra", ""), "e");
    fh_doc_destroy(&d);

    d = next_ok(s); /* after a blank line */
    assert_string_equal(fh_doc_text(d), "plain");
    size_t n;
    const float *e = fh_doc_embedding(d, &n);
    assert_int_equal(n, 2);
    assert_true(e[0] == 1.0f && e[1] == 2.0f);
    assert_null(fh_doc_tags_get(d));
    assert_int_equal(strlen(fh_doc_id(d)), 32); /* generated */
    fh_doc_destroy(&d);
    assert_end(s);
    fh_source_close(&s);
    free(path);
}

static void test_ndjson_errors(void **state)
{
    char *path = data_path("bad.ndjson");
    fh_source *s = open_ok(path, FH_FORMAT_AUTO, NULL);
    fh_doc *d = next_ok(s);
    fh_doc_destroy(&d);
    d = next_ok(s);
    fh_doc_destroy(&d);
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    char *prefix;
    assert_true(asprintf(&prefix, "%s:3:14: ", path) > 0);
    if (strncmp(fh_last_error(), prefix, strlen(prefix)) != 0)
        fail_msg("'%s' does not start with '%s'", fh_last_error(), prefix);
    free(prefix);
    assert_end(s);
    fh_source_close(&s);
    free(path);

    /* A type error points at the key. */
    path = data_path("badtype.ndjson");
    s = open_ok(path, FH_FORMAT_AUTO, NULL);
    assert_int_equal(fh_source_next(s, &d), FH_E_TYPE);
    char *expected;
    assert_true(asprintf(&expected, "%s:1:13: field 'text' must be a string, not an integer",
                         path) > 0);
    assert_string_equal(fh_last_error(), expected);
    free(expected);
    fh_source_close(&s);
    free(path);

    /* ... also when the resolver renamed it: the column is the input key's. */
    char *p = tmp_path(state, "renamed.ndjson");
    const char *t = "{\"id\": \"a\", \"question\": [1]}\n";
    write_file(p, t, strlen(t));
    fh_value *res = resolver("question", "text");
    fh_source_options o;
    fh_source_options_init(&o);
    o.field_resolver = res;
    s = open_ok(p, FH_FORMAT_NDJSON, &o);
    assert_int_equal(fh_source_next(s, &d), FH_E_TYPE);
    assert_non_null(strstr(fh_last_error(), "renamed.ndjson:1:13: field 'text' must be a string"));
    fh_source_close(&s);
    free(p);

    /* A renamed key colliding with a key the line has. */
    p = tmp_path(state, "clash.ndjson");
    t = "{\"text\": \"a\", \"question\": \"b\"}\n";
    write_file(p, t, strlen(t));
    s = open_ok(p, FH_FORMAT_NDJSON, &o);
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(),
                           "clash.ndjson:1:15: field_resolver maps 'question' to 'text'"));
    fh_source_close(&s);
    free(p);
    fh_value_destroy(&res);

    /* An extra key that is also in the line's tags. */
    p = tmp_path(state, "tagclash.ndjson");
    t = "{\"tags\": {\"k\": 1}, \"k\": 2}\n[1, 2]\n";
    write_file(p, t, strlen(t));
    s = open_ok(p, FH_FORMAT_NDJSON, NULL);
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "tagclash.ndjson:1:20: 'k' is both"));
    assert_int_equal(fh_source_next(s, &d), FH_E_TYPE);
    assert_non_null(strstr(fh_last_error(), "tagclash.ndjson:2:1: a document must be a JSON object"));
    fh_source_close(&s);
    free(p);

    p = tmp_path(state, "absent.ndjson");
    assert_open_fails(p, FH_FORMAT_AUTO, NULL, FH_E_IO, "No such file");
    free(p);
}

/* A line of LEN bytes: {"text":"xxx..."} (LEN >= 12). Caller frees. */
static char *json_line(size_t len)
{
    char *l = malloc(len + 1);
    assert_non_null(l);
    memcpy(l, "{\"text\":\"", 9);
    memset(l + 9, 'x', len - 11);
    memcpy(l + len - 2, "\"}", 2);
    l[len] = '\0';
    return l;
}

/* Lines have a bound (max_line): a longer one is an error naming the file and the line,
 * and so is every later call; nothing over the bound is ever kept in memory, so input
 * with no newline (/dev/zero) ends in an error, not in all memory; a line of any length
 * under it works, the last one without a newline too. */
static void test_ndjson_max_line(void **state)
{
    char *p = tmp_path(state, "long.ndjson");
    char *exact = json_line(100), *over = json_line(101);
    char *text;
    assert_true(asprintf(&text, "{\"id\":\"a\"}\r\n%s\n%s\n{\"id\":\"after\"}\n", exact, over) > 0);
    write_file(p, text, strlen(text));
    fh_source_options o;
    fh_source_options_init(&o);
    o.max_line = 100;
    fh_source *s = open_ok(p, FH_FORMAT_AUTO, &o);
    fh_doc *d = next_ok(s);
    assert_string_equal(fh_doc_id(d), "a");
    fh_doc_destroy(&d);
    d = next_ok(s); /* exactly max_line bytes */
    assert_int_equal(strlen(fh_doc_text(d)), 89);
    fh_doc_destroy(&d);
    assert_int_equal(fh_source_next(s, &d), FH_E_RANGE);
    char *want;
    assert_true(asprintf(&want, "%s:3: a line longer than 100 bytes", p) > 0);
    if (strncmp(fh_last_error(), want, strlen(want)) != 0)
        fail_msg("'%s' does not start with '%s'", fh_last_error(), want);
    assert_non_null(strstr(fh_last_error(), "--max-line"));
    assert_int_equal(fh_source_next(s, &d), FH_E_RANGE); /* never the end after that */
    assert_null(d);
    fh_source_close(&s);
    free(want);
    free(text);

    /* the last line, without a newline: under the bound it is a document, over it an
     * error */
    assert_true(asprintf(&text, "{\"id\":\"a\"}\n%s", exact) > 0);
    write_file(p, text, strlen(text));
    s = open_ok(p, FH_FORMAT_AUTO, &o);
    assert_int_equal(count_docs(s), 2);
    fh_source_close(&s);
    free(text);
    assert_true(asprintf(&text, "{\"id\":\"a\"}\n%s", over) > 0);
    write_file(p, text, strlen(text));
    s = open_ok(p, FH_FORMAT_AUTO, &o);
    d = next_ok(s);
    fh_doc_destroy(&d);
    assert_int_equal(fh_source_next(s, &d), FH_E_RANGE);
    assert_non_null(strstr(fh_last_error(), "long.ndjson:2: a line longer than 100 bytes"));
    fh_source_close(&s);
    free(text);

    /* lines longer than one read (64 KiB) under the default bound */
    char *big = json_line(300000);
    assert_true(asprintf(&text, "%s\n%s\n", big, big) > 0);
    write_file(p, text, strlen(text));
    s = open_ok(p, FH_FORMAT_AUTO, NULL);
    d = next_ok(s);
    assert_int_equal(strlen(fh_doc_text(d)), 300000 - 11);
    fh_doc_destroy(&d);
    d = next_ok(s);
    fh_doc_destroy(&d);
    assert_end(s);
    fh_source_close(&s);
    free(text);
    free(big);

    /* /dev/zero: one endless line, refused at the default bound */
    s = open_ok("/dev/zero", FH_FORMAT_NDJSON, NULL);
    assert_int_equal(fh_source_next(s, &d), FH_E_RANGE);
    char zero_msg[200];
    snprintf(zero_msg, sizeof zero_msg,
             "/dev/zero:1: a line longer than %zu bytes (the most an input line may have; "
             "--max-line, in C max_line, raises it)", (size_t)FH_SOURCE_DEFAULT_MAX_LINE);
    assert_string_equal(fh_last_error(), zero_msg);
    fh_source_close(&s);

    /* a read error is an error, not the end */
    s = open_ok("/proc/self/mem", FH_FORMAT_NDJSON, NULL);
    assert_int_equal(fh_source_next(s, &d), FH_E_IO);
    assert_non_null(strstr(fh_last_error(), "/proc/self/mem:1: "));
    fh_source_close(&s);
    free(exact);
    free(over);
    free(p);
}

/* No memory for a line is an error naming it, never the end of the input (getline
 * reported ENOMEM as the end). In a child with a small address space; not under ASan,
 * whose shadow memory needs a large one. */
static void test_ndjson_no_memory(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    printf("skipped under AddressSanitizer: it cannot run with RLIMIT_AS\n");
#else
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit lim = {.rlim_cur = 256 << 20, .rlim_max = 256 << 20};
        if (setrlimit(RLIMIT_AS, &lim) != 0)
            _exit(3);
        fh_source_options o;
        fh_source_options_init(&o);
        o.max_line = (size_t)1 << 30;
        fh_source *s = NULL;
        if (fh_source_open("/dev/zero", FH_FORMAT_NDJSON, &o, &s) != 0)
            _exit(4);
        fh_doc *d = NULL;
        int rc = fh_source_next(s, &d);
        if (rc != FH_E_NOMEM || !strstr(fh_last_error(), "/dev/zero:1: out of memory for a line"))
            _exit(5);
        _exit(fh_source_next(s, &d) == FH_E_NOMEM ? 0 : 6);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

/* A line is given as soon as its newline arrives: input from a pipe whose writer has
 * more to say later is not held back (a read that waits to fill a buffer would hang
 * here; the alarm turns that into a failure). */
static void test_ndjson_pipe_streams(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *one = "{\"id\":\"first\"}\n";
    assert_int_equal(write(fds[1], one, strlen(one)), (ssize_t)strlen(one));
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    fh_source *s = open_ok(path, FH_FORMAT_NDJSON, NULL);
    alarm(10);
    fh_doc *d = next_ok(s);
    alarm(0);
    assert_string_equal(fh_doc_id(d), "first");
    fh_doc_destroy(&d);
    close(fds[1]);
    assert_end(s);
    fh_source_close(&s);
    close(fds[0]);
}

/* ---- files ---- */

static char **collect_uris(const char *pattern, const fh_source_options *o, size_t *n)
{
    fh_source *s = open_ok(pattern, FH_FORMAT_FILES, o);
    char **uris = NULL;
    *n = 0;
    fh_doc *d;
    int rc;
    while ((rc = fh_source_next(s, &d)) == 1) {
        uris = realloc(uris, (*n + 1) * sizeof *uris);
        uris[(*n)++] = strdup(fh_doc_uri(d));
        fh_doc_destroy(&d);
    }
    assert_int_equal(rc, 0);
    fh_source_close(&s);
    return uris;
}

/* Asserts that PATTERN (relative to the tree fixture) yields exactly the files EXPECTED
 * (relative too), in that order. */
static void assert_matches(const char *pattern, const char *const *expected, size_t n_expected)
{
    char *tree = data_path("tree");
    char *full;
    assert_true(asprintf(&full, "%s/%s", tree, pattern) > 0);
    size_t n;
    char **uris = collect_uris(full, NULL, &n);
    if (n != n_expected)
        fail_msg("%s: %zu matches, expected %zu", pattern, n, n_expected);
    for (size_t i = 0; i < n; i++) {
        char *want;
        assert_true(asprintf(&want, "%s/%s", tree, expected[i]) > 0);
        assert_string_equal(uris[i], want);
        free(want);
        free(uris[i]);
    }
    free(uris);
    free(full);
    free(tree);
}

static void test_files_patterns(void **state)
{
    (void)state;
    const char *rec[] = {"a.txt", "sub/c.txt", "sub/deep/d.txt"};
    assert_matches("**/*.txt", rec, 3);
    const char *top[] = {"a.txt"};
    assert_matches("*.txt", top, 1);
    const char *under[] = {"sub/c.txt", "sub/deep/d.txt", "sub/deep/e.json"};
    assert_matches("sub/**", under, 3);
    const char *all[] = {"a.txt", "b.md", "sub/c.txt", "sub/deep/d.txt", "sub/deep/e.json"};
    assert_matches("**/*", all, 5);
    assert_matches("**/**/*", all, 5); /* no duplicates */
    const char *mid[] = {"sub/deep/d.txt"};
    assert_matches("s?b/**/[d]*.txt", mid, 1);
    const char *hidden[] = {"sub/.dot.txt"};
    assert_matches("sub/.*.txt", hidden, 1); /* a leading dot matches when written */
    const char *exact[] = {"b.md"};
    assert_matches("b.md", exact, 1);

    char *tree = data_path("tree");
    char *pat;
    assert_true(asprintf(&pat, "%s/**/*.pdf", tree) > 0);
    char *expected;
    assert_true(asprintf(&expected, "no file matches '%s'", pat) > 0);
    assert_open_fails(pat, FH_FORMAT_AUTO, NULL, FH_E_NOTFOUND, expected);
    assert_string_equal(fh_last_error(), expected);
    free(expected);
    free(pat);
    free(tree);
}

static void test_files_read_modes(void **state)
{
    char *tree = data_path("tree");
    char *pat;
    assert_true(asprintf(&pat, "%s/**/*.txt", tree) > 0);
    fh_source_options o;
    fh_source_options_init(&o);

    fh_source *s = open_ok(pat, FH_FORMAT_AUTO, &o); /* URI */
    fh_doc *d = next_ok(s);
    assert_string_equal(fh_doc_text(d), "");
    size_t len;
    assert_null(fh_doc_blob(d, &len));
    assert_string_equal(fh_doc_mime_type(d), "text/plain");
    fh_doc_destroy(&d);
    fh_source_close(&s);

    o.read_mode = FH_READ_TEXT;
    s = open_ok(pat, FH_FORMAT_AUTO, &o);
    const char *texts[] = {"alpha\n", "charlie\n", "delta\n"};
    for (size_t i = 0; i < 3; i++) {
        d = next_ok(s);
        assert_string_equal(fh_doc_text(d), texts[i]);
        fh_doc_destroy(&d);
    }
    assert_end(s);
    fh_source_close(&s);

    o.read_mode = FH_READ_BYTES;
    s = open_ok(pat, FH_FORMAT_AUTO, &o);
    d = next_ok(s);
    const void *b = fh_doc_blob(d, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(b, "alpha\n", 6);
    assert_string_equal(fh_doc_text(d), "");
    fh_doc_destroy(&d);
    fh_source_close(&s);
    free(pat);
    free(tree);

    /* Binary content: bytes keep it; text refuses it. */
    char *bin = tmp_path(state, "x.png");
    const unsigned char png[] = {0x89, 'P', 'N', 'G', 0, 1, 2, 0xFF};
    write_file(bin, png, sizeof png);
    s = open_ok(bin, FH_FORMAT_FILES, &o);
    d = next_ok(s);
    b = fh_doc_blob(d, &len);
    assert_int_equal(len, sizeof png);
    assert_memory_equal(b, png, sizeof png);
    assert_string_equal(fh_doc_mime_type(d), "image/png");
    assert_string_equal(fh_doc_uri(d), bin);
    fh_doc_destroy(&d);
    fh_source_close(&s);

    o.read_mode = FH_READ_TEXT;
    s = open_ok(bin, FH_FORMAT_FILES, &o);
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "x.png: not text"));
    assert_non_null(strstr(fh_last_error(), "use bytes"));
    fh_source_close(&s);
    free(bin);

    char *latin1 = tmp_path(state, "latin1.txt");
    write_file(latin1, "caf\xe9\n", 5); /* no NUL, but not UTF-8 */
    s = open_ok(latin1, FH_FORMAT_FILES, &o);
    assert_int_equal(fh_source_next(s, &d), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "latin1.txt: not text (offset 3"));
    fh_source_close(&s);
    free(latin1);

    char *utf8 = tmp_path(state, "utf8.txt");
    write_file(utf8, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14);
    s = open_ok(utf8, FH_FORMAT_FILES, &o);
    d = next_ok(s);
    assert_string_equal(fh_doc_text(d), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    fh_doc_destroy(&d);
    fh_source_close(&s);
    free(utf8);
}

/* ---- .npy ---- */

typedef struct dtype_case {
    const char *descr;
    const char *name;
    size_t size;
    const void *data; /* 6 elements, shape (2, 3) */
    float expect[6];  /* as float32 */
} dtype_case;

static void test_npy_dtypes(void **state)
{
    static const float f4[6] = {0.5f, -1.25f, 3e38f, -0.0f, 1e-7f, 42.0f};
    static const double f8[6] = {0.5, -1.25, 1e300, 2.5, -3.0, 1.0 / 3.0};
    static const int8_t i1[6] = {-128, -1, 0, 1, 100, 127};
    static const int16_t i2[6] = {-32768, -2, 0, 3, 1000, 32767};
    static const int32_t i4[6] = {INT32_MIN, -5, 0, 7, 65536, INT32_MAX};
    static const int64_t i8[6] = {INT64_MIN, -9, 0, 11, 1LL << 40, INT64_MAX};
    static const uint8_t u1[6] = {0, 1, 2, 127, 128, 255};
    static const uint16_t u2[6] = {0, 1, 255, 256, 40000, 65535};
    static const uint32_t u4[6] = {0, 1, 70000, 1u << 31, 123456789, UINT32_MAX};
    static const uint64_t u8[6] = {0, 1, 1ULL << 40, 1ULL << 63, 5, UINT64_MAX};
    const dtype_case cases[] = {
        {"<f4", "float32", 4, f4, {0.5f, -1.25f, 3e38f, -0.0f, 1e-7f, 42.0f}},
        {"<f8", "float64", 8, f8, {0.5f, -1.25f, (float)1e300, 2.5f, -3.0f, (float)(1.0 / 3.0)}},
        {"<i1", "int8", 1, i1, {-128, -1, 0, 1, 100, 127}},
        {"|i1", "int8", 1, i1, {-128, -1, 0, 1, 100, 127}},
        {"<i2", "int16", 2, i2, {-32768, -2, 0, 3, 1000, 32767}},
        {"<i4", "int32", 4, i4, {(float)INT32_MIN, -5, 0, 7, 65536, (float)INT32_MAX}},
        {"<i8", "int64", 8, i8, {(float)INT64_MIN, -9, 0, 11, (float)(1LL << 40), (float)INT64_MAX}},
        {"<u1", "uint8", 1, u1, {0, 1, 2, 127, 128, 255}},
        {"|u1", "uint8", 1, u1, {0, 1, 2, 127, 128, 255}},
        {"<u2", "uint16", 2, u2, {0, 1, 255, 256, 40000, 65535}},
        {"<u4", "uint32", 4, u4, {0, 1, 70000, (float)(1u << 31), 123456789, (float)UINT32_MAX}},
        {"<u8", "uint64", 8, u8, {0, 1, (float)(1ULL << 40), (float)(1ULL << 63), 5, (float)UINT64_MAX}},
    };
    char *p = tmp_path(state, "a.npy");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const dtype_case *k = &cases[c];
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }",
                 k->descr);
        write_npy(p, 1, dict, k->data, 6 * k->size);
        fh_source_options o;
        fh_source_options_init(&o);
        fh_source *s = open_ok(p, FH_FORMAT_AUTO, &o);
        for (size_t r = 0; r < 2; r++) {
            fh_doc *d = next_ok(s);
            const char *dtype;
            const uint64_t *shape;
            size_t ndim, nbytes;
            const void *t = fh_doc_tensor(d, &dtype, &shape, &ndim, &nbytes);
            assert_non_null(t);
            assert_string_equal(dtype, k->name);
            assert_int_equal(ndim, 1);
            assert_int_equal(shape[0], 3);
            assert_int_equal(nbytes, 3 * k->size);
            assert_memory_equal(t, (const char *)k->data + r * 3 * k->size, nbytes);
            fh_doc_destroy(&d);
        }
        assert_end(s);
        fh_source_close(&s);

        o.array_as = FH_ARRAY_AS_EMBEDDING;
        s = open_ok(p, FH_FORMAT_NPY, &o);
        for (size_t r = 0; r < 2; r++) {
            fh_doc *d = next_ok(s);
            size_t n;
            const float *e = fh_doc_embedding(d, &n);
            assert_int_equal(n, 3);
            for (size_t i = 0; i < 3; i++)
                if (memcmp(&e[i], &k->expect[r * 3 + i], sizeof(float)) != 0)
                    fail_msg("%s row %zu [%zu]: %g, expected %g", k->descr, r, i, (double)e[i],
                             (double)k->expect[r * 3 + i]);
            assert_null(fh_doc_tensor(d, NULL, NULL, NULL, NULL) ? (void *)1 : NULL);
            fh_doc_destroy(&d);
        }
        assert_end(s);
        fh_source_close(&s);
    }
    free(p);
}

static void test_npy_shapes(void **state)
{
    /* (N,): each row is one element, a 0-d tensor. */
    char *p = tmp_path(state, "v.npy");
    const int32_t v[3] = {10, -20, 30};
    write_npy(p, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", v, sizeof v);
    fh_source *s = open_ok(p, FH_FORMAT_NPY, NULL);
    for (int i = 0; i < 3; i++) {
        fh_doc *d = next_ok(s);
        const char *dtype;
        const uint64_t *shape;
        size_t ndim, nbytes;
        const void *t = fh_doc_tensor(d, &dtype, &shape, &ndim, &nbytes);
        assert_non_null(t);
        assert_int_equal(ndim, 0);
        assert_int_equal(nbytes, 4);
        assert_memory_equal(t, &v[i], 4);
        fh_doc_destroy(&d);
    }
    assert_end(s);
    fh_source_close(&s);
    fh_source_options o;
    fh_source_options_init(&o);
    o.array_as = FH_ARRAY_AS_EMBEDDING;
    s = open_ok(p, FH_FORMAT_NPY, &o);
    fh_doc *d = next_ok(s);
    size_t n;
    const float *e = fh_doc_embedding(d, &n);
    assert_int_equal(n, 1);
    assert_true(e[0] == 10.0f);
    fh_doc_destroy(&d);
    fh_source_close(&s);
    free(p);

    /* (N, 2, 3): rows are 2x3 tensors; embeddings are flattened. */
    p = tmp_path(state, "m.npy");
    float m[2 * 2 * 3];
    for (int i = 0; i < 12; i++)
        m[i] = (float)i * 0.5f;
    write_npy(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 3), }", m,
              sizeof m);
    s = open_ok(p, FH_FORMAT_NPY, NULL);
    for (int r = 0; r < 2; r++) {
        d = next_ok(s);
        const char *dtype;
        const uint64_t *shape;
        size_t ndim, nbytes;
        const void *t = fh_doc_tensor(d, &dtype, &shape, &ndim, &nbytes);
        assert_int_equal(ndim, 2);
        assert_int_equal(shape[0], 2);
        assert_int_equal(shape[1], 3);
        assert_int_equal(nbytes, 24);
        assert_memory_equal(t, m + r * 6, 24);
        fh_doc_destroy(&d);
    }
    fh_source_close(&s);
    s = open_ok(p, FH_FORMAT_NPY, &o);
    d = next_ok(s);
    fh_doc_destroy(&d);
    d = next_ok(s);
    e = fh_doc_embedding(d, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(e, m + 6, 24);
    fh_doc_destroy(&d);
    fh_source_close(&s);
    free(p);

    /* No rows, and rows of no elements. */
    p = tmp_path(state, "empty.npy");
    write_npy(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4), }", NULL, 0);
    s = open_ok(p, FH_FORMAT_NPY, NULL);
    assert_end(s);
    fh_source_close(&s);
    write_npy(p, 1, "{'shape': (2, 0), 'fortran_order': False, 'descr': '<f8'}", NULL, 0);
    s = open_ok(p, FH_FORMAT_NPY, NULL);
    assert_int_equal(count_docs(s), 2);
    fh_source_close(&s);
    /* Empty rows cost no bytes: a header alone must not promise 10^18 documents (found
     * by fuzzing: tests/fuzz/crashes/npy/timeout-empty-rows.npy). */
    write_npy(p, 1, "{'shape': (981111111111111111, 0), 'fortran_order': False, 'descr': '<u2'}",
              NULL, 0);
    fh_source_options dflt;
    fh_source_options_init(&dflt);
    assert_int_equal(fh_source_open(p, FH_FORMAT_NPY, &dflt, &s), FH_E_RANGE);
    assert_non_null(strstr(fh_last_error(), "rows that hold no elements"));
    free(p);
}

/* The committed fixtures, written by a script without numpy, in numpy's own layout. */
static void test_npy_fixtures(void **state)
{
    (void)state;
    char *p = data_path("f4_3x2.npy");
    fh_source_options o;
    fh_source_options_init(&o);
    o.array_as = FH_ARRAY_AS_EMBEDDING;
    fh_source *s = open_ok(p, FH_FORMAT_AUTO, &o);
    const float want[6] = {0.5f, -1.0f, 2.25f, 3.0f, 4.5f, -5.75f};
    for (int r = 0; r < 3; r++) {
        fh_doc *d = next_ok(s);
        size_t n;
        const float *e = fh_doc_embedding(d, &n);
        assert_int_equal(n, 2);
        assert_memory_equal(e, want + 2 * r, 8);
        fh_doc_destroy(&d);
    }
    assert_end(s);
    fh_source_close(&s);
    free(p);

    p = data_path("i8_4.npy");
    s = open_ok(p, FH_FORMAT_AUTO, NULL);
    const int64_t iw[4] = {-2, 0, 7, 1LL << 40};
    for (int r = 0; r < 4; r++) {
        fh_doc *d = next_ok(s);
        const char *dtype;
        size_t ndim, nbytes;
        const uint64_t *shape;
        const void *t = fh_doc_tensor(d, &dtype, &shape, &ndim, &nbytes);
        assert_string_equal(dtype, "int64");
        assert_memory_equal(t, &iw[r], 8);
        fh_doc_destroy(&d);
    }
    assert_end(s);
    fh_source_close(&s);
    free(p);

    p = data_path("u1_2x2x3_v2.npy"); /* a version 2 header */
    s = open_ok(p, FH_FORMAT_AUTO, NULL);
    fh_doc *d = next_ok(s);
    fh_doc_destroy(&d);
    d = next_ok(s);
    const char *dtype;
    size_t ndim, nbytes;
    const uint64_t *shape;
    const unsigned char *t = fh_doc_tensor(d, &dtype, &shape, &ndim, &nbytes);
    assert_string_equal(dtype, "uint8");
    assert_int_equal(ndim, 2);
    assert_int_equal(nbytes, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(t[i], 6 + i);
    fh_doc_destroy(&d);
    assert_end(s);
    fh_source_close(&s);
    free(p);
}

/* Writes a (N,) int32 array 0..N-1 at P. */
static void write_range(const char *p, int n)
{
    int32_t *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < n; i++)
        v[i] = i;
    char dict[96];
    snprintf(dict, sizeof dict, "{'descr': '<i4', 'fortran_order': False, 'shape': (%d,), }", n);
    write_npy(p, 1, dict, v, (size_t)n * sizeof *v);
    free(v);
}

/* The values (as in write_range) of the documents of S, in order; *N gets their count. */
static int32_t *read_values(fh_source *s, size_t *n)
{
    int32_t *v = NULL;
    *n = 0;
    fh_doc *d;
    int rc;
    while ((rc = fh_source_next(s, &d)) == 1) {
        v = realloc(v, (*n + 1) * sizeof *v);
        const void *t = fh_doc_tensor(d, NULL, NULL, NULL, NULL);
        assert_non_null(t);
        memcpy(&v[(*n)++], t, 4);
        fh_doc_destroy(&d);
    }
    assert_int_equal(rc, 0);
    return v;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void test_npy_shuffle(void **state)
{
    char *p = tmp_path(state, "r.npy");
    write_range(p, 50);
    fh_source_options o;
    fh_source_options_init(&o);
    o.shuffle = true;
    o.seed = 42;
    fh_source *s = open_ok(p, FH_FORMAT_NPY, &o);
    size_t n;
    int32_t *a = read_values(s, &n);
    fh_source_close(&s);
    assert_int_equal(n, 50);
    s = open_ok(p, FH_FORMAT_NPY, &o); /* the same seed: the same order */
    size_t n2;
    int32_t *b = read_values(s, &n2);
    fh_source_close(&s);
    assert_int_equal(n2, 50);
    assert_memory_equal(a, b, 50 * sizeof *a);
    size_t in_place = 0;
    for (int i = 0; i < 50; i++)
        in_place += a[i] == i;
    assert_true(in_place < 10); /* shuffled, not the file's order */
    qsort(b, 50, sizeof *b, cmp_i32); /* a permutation: every row once */
    for (int i = 0; i < 50; i++)
        assert_int_equal(b[i], i);
    free(b);
    o.seed = 43;
    s = open_ok(p, FH_FORMAT_NPY, &o);
    b = read_values(s, &n2);
    fh_source_close(&s);
    assert_int_equal(n2, 50);
    assert_true(memcmp(a, b, 50 * sizeof *a) != 0);
    free(a);
    free(b);
    free(p);
}

static void test_size_and_sampling(void **state)
{
    char *p = tmp_path(state, "r.npy");
    write_range(p, 1000);
    fh_source_options o;
    fh_source_options_init(&o);
    o.size = 3;
    fh_source *s = open_ok(p, FH_FORMAT_NPY, &o);
    size_t n;
    int32_t *v = read_values(s, &n);
    assert_int_equal(n, 3);
    assert_int_equal(v[2], 2);
    assert_end(s);
    fh_source_close(&s);
    free(v);

    fh_source_options_init(&o);
    o.sampling_rate = 0.5;
    o.seed = 7;
    s = open_ok(p, FH_FORMAT_NPY, &o);
    int32_t *a = read_values(s, &n);
    fh_source_close(&s);
    assert_in_range(n, 430, 570); /* binomial(1000, 0.5): sd 16 */
    for (size_t i = 1; i < n; i++)
        assert_true(a[i] > a[i - 1]); /* a subset, in order */
    s = open_ok(p, FH_FORMAT_NPY, &o);
    size_t n2;
    int32_t *b = read_values(s, &n2);
    fh_source_close(&s);
    assert_int_equal(n, n2); /* a fixed seed: the same subset */
    assert_memory_equal(a, b, n * sizeof *a);
    free(b);
    o.seed = 8;
    s = open_ok(p, FH_FORMAT_NPY, &o);
    b = read_values(s, &n2);
    fh_source_close(&s);
    assert_true(n != n2 || memcmp(a, b, n * sizeof *a) != 0);
    free(a);
    free(b);

    /* size counts the documents kept, not those read. */
    o.size = 10;
    s = open_ok(p, FH_FORMAT_NPY, &o);
    assert_int_equal(count_docs(s), 10);
    fh_source_close(&s);

    /* fh_source_input is fh_source_next. */
    fh_source_options_init(&o);
    s = open_ok(p, FH_FORMAT_NPY, &o);
    fh_doc *d = NULL;
    assert_int_equal(fh_source_input(s, &d), 1);
    assert_non_null(d);
    fh_doc_destroy(&d);
    fh_source_close(&s);

    /* Sampling works on the other formats too (it is generic). */
    char *csv = data_path("ragged.csv");
    fh_source_options_init(&o);
    o.size = 1;
    s = open_ok(csv, FH_FORMAT_AUTO, &o);
    assert_int_equal(count_docs(s), 1);
    fh_source_close(&s);
    free(csv);
    free(p);
}

static void test_npy_errors(void **state)
{
    char *p = tmp_path(state, "bad.npy");
    const char *bad_dtypes[] = {">f4", "<c16", "O", "<U5", "<f2", "|b1", "|S3"};
    for (size_t i = 0; i < sizeof bad_dtypes / sizeof bad_dtypes[0]; i++) {
        char dict[128], want[64];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (1,), }",
                 bad_dtypes[i]);
        write_npy(p, 1, dict, "0123456789abcdef", 16);
        snprintf(want, sizeof want, "bad.npy: unsupported dtype '%s' (supported: <f4", bad_dtypes[i]);
        assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_TYPE, want);
    }
    write_npy(p, 1, "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }", "1234", 4);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_TYPE, "structured dtype");

    write_npy(p, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "0123456789abcdef",
              16);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_TYPE, "Fortran-order");

    write_npy(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "0123", 4);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_TYPE, "shape ()");

    /* 3 rows of 2 int32 need 24 bytes; give 20. The header ends at 128. */
    write_npy(p, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2), }",
              "01234567890123456789", 20);
    char *expected;
    assert_true(asprintf(&expected, "%s: truncated: 3 rows need 24 bytes after the header at "
                                    "offset 128, the file has 20",
                         p) > 0);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_PARSE, expected);
    assert_string_equal(fh_last_error(), expected);
    free(expected);

    write_file(p, "\x93NUMPZ\x01\x00\x10\x00{}              ", 26);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_PARSE, "bad magic");
    write_file(p, "PK\x03\x04", 4);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_PARSE, "not a .npy file");
    write_file(p, "\x93NUMPY\x01\x00\xff\x00{'descr': '<f4'", 26);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_PARSE,
                      "header length 255 goes beyond the end of the file (26 bytes)");
    write_file(p, "\x93NUMPY\x02\x00\xff\xff\xff\x7f{}", 14);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_PARSE, "more than");
    write_file(p, "\x93NUMPY\x09\x00\x02\x00{}", 12);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_PARSE, "unsupported .npy version 9.0");

    const char *malformed[] = {
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk",
        "{'descr': '<f4', 'fortran_order': Nope, 'shape': (1,), }",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2",
        "['descr', '<f4']",
        "{'descr': '<f4\\x', 'fortran_order': False, 'shape': (1,), }",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        write_npy(p, 1, malformed[i], "0123456789abcdef", 16);
        fh_source *s = NULL;
        int rc = fh_source_open(p, FH_FORMAT_NPY, NULL, &s);
        if (rc != FH_E_PARSE)
            fail_msg("%s: got %s (%s)", malformed[i], fh_err_name(rc), fh_last_error());
        assert_non_null(strstr(fh_last_error(), "bad.npy"));
    }
    /* A shape whose byte count overflows. */
    write_npy(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
              NULL, 0);
    assert_open_fails(p, FH_FORMAT_NPY, NULL, FH_E_PARSE, "shape too large");

    /* Python 2's long suffix and double quotes are accepted. */
    write_npy(p, 1, "{\"descr\": \"<i2\", \"fortran_order\": False, \"shape\": (2L,)}", "\x01\x00\x02\x00", 4);
    fh_source *s = open_ok(p, FH_FORMAT_NPY, NULL);
    assert_int_equal(count_docs(s), 2);
    fh_source_close(&s);
    free(p);
}

/* ---- docstore ---- */

static void test_docstore_source(void **state)
{
    char *dir = tmp_path(state, "store");
    fh_docstore *ds = NULL;
    int rc = fh_docstore_open(dir, FH_DOCSTORE_CREATE, &ds);
    if (rc != 0)
        fail_msg("docstore: %s", fh_last_error());
    const char *ids[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        fh_doc *d = fh_doc_new();
        fh_doc_set_id(d, ids[i]);
        fh_doc_set_text(d, ids[i]);
        assert_int_equal(fh_docstore_put(ds, d), 0);
        fh_doc_destroy(&d);
    }
    fh_docstore_close(&ds);

    assert_int_equal(fh_source_format_of(dir), FH_FORMAT_DOCSTORE);
    fh_source_options o;
    fh_source_options_init(&o);
    o.size = 2;
    fh_source *s = open_ok(dir, FH_FORMAT_AUTO, &o);
    for (int i = 0; i < 2; i++) {
        fh_doc *d = next_ok(s);
        assert_string_equal(fh_doc_id(d), ids[i]);
        assert_string_equal(fh_doc_text(d), ids[i]);
        fh_doc_destroy(&d);
    }
    assert_end(s);
    fh_source_close(&s);

    /* A document its writer deletes after the source opened, and whose bytes it gives
     * back, is left out, not an error. */
    assert_int_equal(fh_docstore_open(dir, 0, &ds), 0);
    fh_doc *big = fh_doc_new();
    static unsigned char blob[1 << 16];
    fh_doc_set_id(big, "big");
    assert_int_equal(fh_doc_set_blob(big, blob, sizeof blob), 0);
    assert_int_equal(fh_docstore_put(ds, big), 0);
    fh_doc_destroy(&big);
    assert_int_equal(fh_docstore_sync(ds), 0);
    s = open_ok(dir, FH_FORMAT_AUTO, NULL);
    assert_int_equal(fh_docstore_delete(ds, "big"), 0);
    assert_int_equal(fh_docstore_sync(ds), 0);
    assert_int_equal(count_docs(s), 3);
    fh_source_close(&s);
    fh_docstore_close(&ds);
    free(dir);

    char *none = tmp_path(state, "nothing");
    assert_true(fh_source_open(none, FH_FORMAT_DOCSTORE, NULL, &s) < 0);
    assert_null(s);
    free(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_init),
        cmocka_unit_test_setup_teardown(test_format_of, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_csv_basic),
        cmocka_unit_test(test_csv_quoted),
        cmocka_unit_test(test_csv_ragged),
        cmocka_unit_test(test_csv_resolver_errors),
        cmocka_unit_test_setup_teardown(test_csv_malformed, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_csv_dialects, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_csv_large, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_ndjson_resolver_and_tags),
        cmocka_unit_test_setup_teardown(test_ndjson_errors, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_ndjson_max_line, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_ndjson_no_memory),
        cmocka_unit_test(test_ndjson_pipe_streams),
        cmocka_unit_test(test_files_patterns),
        cmocka_unit_test_setup_teardown(test_files_read_modes, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_npy_dtypes, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_npy_shapes, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_npy_fixtures),
        cmocka_unit_test_setup_teardown(test_npy_shuffle, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_size_and_sampling, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_npy_errors, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_docstore_source, make_tmpdir, remove_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: inputs that build wide maps. CSV rows of 60,000 columns (each cell a tag),
 * a header of as many columns checked for duplicates, field resolvers of as many entries,
 * an NDJSON line of 300,000 fields. Nothing here measures time: linear work takes a
 * second or so, while a quadratic path (a scan per column or field) would need many
 * minutes and so far outlive the test's timeout (60 s). */
#define _GNU_SOURCE /* asprintf, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <flowhost/document.h>
#include <flowhost/error.h>
#include <flowhost/source.h>
#include <flowhost/value.h>

static void key_of(char *buf, size_t size, const char *prefix, size_t i)
{
    snprintf(buf, size, "%s%zu", prefix, i);
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fh_test_map_scale.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf '%s'", tmpdir) < 0)
        return -1;
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

#define CSV_COLUMNS 60000
#define CSV_ROWS 40

/* A CSV file of CSV_COLUMNS columns (id, text, then c2, c3, ...) and CSV_ROWS rows, the
 * cell of row r and column c holding "r.c". */
static char *write_wide_csv(void)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/wide.csv", tmpdir) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("id,text", f);
    for (size_t c = 2; c < CSV_COLUMNS; c++)
        fprintf(f, ",c%zu", c);
    fputc('\n', f);
    for (size_t r = 0; r < CSV_ROWS; r++) {
        fprintf(f, "doc-%zu", r);
        for (size_t c = 1; c < CSV_COLUMNS; c++)
            fprintf(f, ",%zu.%zu", r, c);
        fputc('\n', f);
    }
    assert_int_equal(fclose(f), 0);
    return path;
}

static void check_wide_doc(const fh_doc *d, size_t r, const char *prefix)
{
    char want[64], key[32];
    snprintf(want, sizeof want, "doc-%zu", r);
    assert_string_equal(fh_doc_id(d), want);
    snprintf(want, sizeof want, "%zu.1", r);
    assert_string_equal(fh_doc_text(d), want);
    const fh_value *tags = fh_doc_tags_get(d);
    assert_int_equal(fh_value_len(tags), CSV_COLUMNS - 2);
    for (size_t c = 2; c < CSV_COLUMNS; c += 997) {
        key_of(key, sizeof key, prefix, c);
        snprintf(want, sizeof want, "%zu.%zu", r, c);
        assert_string_equal(fh_map_get_string(tags, key, "?"), want);
    }
    key_of(key, sizeof key, prefix, CSV_COLUMNS - 1);
    assert_string_equal(fh_map_key_at(tags, CSV_COLUMNS - 3), key); /* column order kept */
}

/* Rows of 60,000 columns, each cell a tag: the header's duplicate check, the mapping of
 * columns and every row are linear in the columns. */
static void test_csv_rows_of_60000_columns(void **state)
{
    (void)state;
    char *path = write_wide_csv();
    fh_source *s = NULL;
    assert_int_equal(fh_source_open(path, FH_FORMAT_CSV, NULL, &s), 0);
    fh_doc *d = NULL;
    for (size_t r = 0; r < CSV_ROWS; r++) {
        assert_int_equal(fh_source_next(s, &d), 1);
        check_wide_doc(d, r, "c");
        fh_doc_destroy(&d);
    }
    assert_int_equal(fh_source_next(s, &d), 0);
    fh_source_close(&s);

    /* a resolver that renames every column: checked and applied in linear time */
    fh_value *res = fh_value_new_map();
    char from[32], to[32];
    for (size_t c = 2; c < CSV_COLUMNS; c++) {
        key_of(from, sizeof from, "c", c);
        key_of(to, sizeof to, "t", c);
        assert_int_equal(fh_map_set_string(res, from, to), 0);
    }
    fh_source_options o;
    fh_source_options_init(&o);
    o.field_resolver = res;
    assert_int_equal(fh_source_open(path, FH_FORMAT_CSV, &o, &s), 0);
    for (size_t r = 0; r < 3; r++) {
        assert_int_equal(fh_source_next(s, &d), 1);
        check_wide_doc(d, r, "t");
        fh_doc_destroy(&d);
    }
    fh_source_close(&s);
    /* two of its many entries with one target are still found, and named */
    assert_int_equal(fh_map_set_string(res, "c59998", "t3"), 0);
    assert_int_equal(fh_source_open(path, FH_FORMAT_CSV, &o, &s), FH_E_INVAL);
    assert_non_null(strstr(fh_last_error(), "maps both 'c3' and 'c59998' to 't3'"));
    fh_value_destroy(&res);
    unlink(path);
    free(path);
}

/* A header of 60,000 columns whose last one repeats an earlier one: found, and named. */
static void test_csv_header_duplicate_among_60000(void **state)
{
    (void)state;
    char *path = NULL;
    assert_true(asprintf(&path, "%s/dup.csv", tmpdir) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t c = 0; c < CSV_COLUMNS; c++)
        fprintf(f, "%sc%zu", c ? "," : "", c);
    fputs(",c31337\n", f);
    assert_int_equal(fclose(f), 0);
    fh_source *s = NULL;
    assert_int_equal(fh_source_open(path, FH_FORMAT_CSV, NULL, &s), FH_E_PARSE);
    assert_non_null(strstr(fh_last_error(), "column 'c31337' appears twice in the header"));
    unlink(path);
    free(path);
}

/* An NDJSON line of 300,000 fields that are not document fields: all become tags. */
static void test_ndjson_line_of_300000_fields(void **state)
{
    (void)state;
    enum { FIELDS = 300000 };
    char *path = NULL;
    assert_true(asprintf(&path, "%s/wide.ndjson", tmpdir) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"text\": \"wide\"", f);
    for (size_t i = 0; i < FIELDS; i++)
        fprintf(f, ", \"f%zu\": %zu", i, i);
    fputs("}\n", f);
    assert_int_equal(fclose(f), 0);
    fh_source *s = NULL;
    assert_int_equal(fh_source_open(path, FH_FORMAT_NDJSON, NULL, &s), 0);
    fh_doc *d = NULL;
    assert_int_equal(fh_source_next(s, &d), 1);
    const fh_value *tags = fh_doc_tags_get(d);
    assert_int_equal(fh_value_len(tags), FIELDS);
    assert_int_equal(fh_map_get_int(tags, "f299999", -1), 299999);
    assert_string_equal(fh_map_key_at(tags, 1234), "f1234");
    fh_doc_destroy(&d);
    fh_source_close(&s);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_rows_of_60000_columns),
        cmocka_unit_test(test_csv_header_duplicate_among_60000),
        cmocka_unit_test(test_ndjson_line_of_300000_fields),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}

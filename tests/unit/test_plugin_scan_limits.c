/* Unit tests of the bounds of what a worker reads about plugins it has not opened: the
 * scanner's report (host/plugin_scan.c) and the scan cache (host/plugin_cache.c). A
 * garbled or forged report or cache line with more than FH_MAX_TYPES types, or a field
 * longer than its bound, is not believed, and reading it costs no more than its bound. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>

#include <flowhost/error.h>
#include <flowhost/executor.h>

#include "plugin_cache.h"
#include "plugin_scan.h"

/* ---- the report ------------------------------------------------------------------------ */

#define REPORT_MAGIC "flowhost-plugin-scan 2\n"

/* A report of N types named T0, T1, ... (each NAME_LEN long when NAME_LEN > 0). */
static char *report_of(size_t n, size_t name_len)
{
    size_t size = strlen(REPORT_MAGIC) + n * (name_len + 32) + 16;
    char *r = malloc(size), *p = r;
    assert_non_null(r);
    p += sprintf(p, "%s", REPORT_MAGIC);
    for (size_t i = 0; i < n; i++) {
        p += sprintf(p, "type T%zu", i);
        for (size_t k = name_len; k > 0; k--)
            *p++ = 'x';
        *p++ = '\n';
    }
    strcpy(p, "end\n");
    return r;
}

static void report_of_max_types_is_read(void **state)
{
    (void)state;
    char *r = report_of(FH_MAX_TYPES, 0);
    fh_scan_result out = {0};
    assert_int_equal(fh_plugin_scan_parse(r, &out), 1);
    assert_int_equal(out.status, FH_SCAN_PLUGIN);
    assert_int_equal(out.n_types, FH_MAX_TYPES);
    assert_string_equal(out.types[FH_MAX_TYPES - 1], "T7");
    fh_scan_result_clear(&out);
    free(r);
}

static void report_of_too_many_types_is_garbled(void **state)
{
    (void)state;
    char *r = report_of(FH_MAX_TYPES + 1, 0);
    fh_scan_result out = {0};
    assert_int_equal(fh_plugin_scan_parse(r, &out), FH_E_PARSE);
    fh_scan_result_clear(&out);
    free(r);
    /* Not complete yet, but already more types than a plugin may hold: garbled now. */
    r = report_of(100000, 0);
    *strstr(r, "end\n") = '\0';
    assert_int_equal(fh_plugin_scan_parse(r, &out), FH_E_PARSE);
    fh_scan_result_clear(&out);
    free(r);
}

static void report_with_long_fields_is_garbled(void **state)
{
    (void)state;
    fh_scan_result out = {0};
    char *r = report_of(1, FH_SCAN_MAX_NAME + 1);
    assert_int_equal(fh_plugin_scan_parse(r, &out), FH_E_PARSE);
    fh_scan_result_clear(&out);
    free(r);
    r = report_of(1, FH_SCAN_MAX_NAME - 2); /* "T0" and the x's: the longest name */
    assert_int_equal(fh_plugin_scan_parse(r, &out), 1);
    assert_int_equal(strlen(out.types[0]), FH_SCAN_MAX_NAME);
    fh_scan_result_clear(&out);
    free(r);

    size_t n = FH_SCAN_MAX_REASON + 1;
    char *why = malloc(strlen(REPORT_MAGIC) + n + 16);
    assert_non_null(why);
    int k = sprintf(why, "%srefused ", REPORT_MAGIC);
    memset(why + k, 'y', n);
    strcpy(why + k + n, "\n");
    assert_int_equal(fh_plugin_scan_parse(why, &out), FH_E_PARSE);
    fh_scan_result_clear(&out);
    /* An unfinished line longer than any line of a report is garbled before it ends. */
    why[k + n] = '\0';
    assert_int_equal(fh_plugin_scan_parse(why, &out), FH_E_PARSE);
    fh_scan_result_clear(&out);
    free(why);
}

/* ---- the cache ------------------------------------------------------------------------- */

static char dir[64], lib[96];

static int make_dirs(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/fh-scan-limits.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    setenv("XDG_CACHE_HOME", dir, 1);
    snprintf(lib, sizeof lib, "%s/lib.so", dir);
    FILE *f = fopen(lib, "w");
    if (f == NULL)
        return -1;
    fputs("not really a library", f);
    return fclose(f);
}

static int remove_dirs(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The path of the one cache file, in OUT. */
static void cache_file(char *out, size_t size)
{
    char sub[96];
    snprintf(sub, sizeof sub, "%s/flowhost", dir);
    DIR *d = opendir(sub);
    assert_non_null(d);
    struct dirent *e;
    out[0] = '\0';
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "plugin-scan-", 12) == 0)
            snprintf(out, size, "%s/%s", sub, e->d_name);
    closedir(d);
    assert_true(out[0] != '\0');
}

/* Writes a cache of one entry for lib.so: the line a put of one type makes, with TAIL
 * (what follows "P\tPATH") instead of its types; STATUS replaces 'P'. */
static void write_cache_line(char status, const char *tail)
{
    struct stat st;
    assert_int_equal(stat(lib, &st), 0);
    fh_plugin_cache *c = fh_plugin_cache_open();
    assert_non_null(c);
    char *one = (char *)"One";
    fh_scan_result r = {.status = FH_SCAN_PLUGIN, .types = &one, .n_types = 1};
    assert_int_equal(fh_plugin_cache_put(c, lib, &st, &r), 0);
    assert_int_equal(fh_plugin_cache_save(c), 0);
    fh_plugin_cache_close(&c);

    char file[512];
    cache_file(file, sizeof file);
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    char *p = strstr(line, " P\t");
    assert_non_null(p);
    p[1] = status;
    p[3 + strlen(lib)] = '\0'; /* keep "KEY S\tPATH" */
    f = fopen(file, "w");
    assert_non_null(f);
    fputs(line, f);
    fputs(tail, f);
    fputc('\n', f);
    assert_int_equal(fclose(f), 0);
}

/* What the cache says of lib.so now: the number of types, or -1 when nothing. */
static long cached_types(void)
{
    struct stat st;
    assert_int_equal(stat(lib, &st), 0);
    fh_plugin_cache *c = fh_plugin_cache_open();
    assert_non_null(c);
    const fh_scan_result *r = fh_plugin_cache_find(c, lib, &st);
    long n = r ? (long)r->n_types : -1;
    fh_plugin_cache_close(&c);
    return n;
}

/* "\tT0\tT1..." of N types, each name NAME_LEN long (at least 2). */
static char *types_tail(size_t n, size_t name_len)
{
    char *t = malloc(n * (name_len + 16) + 1), *p = t;
    assert_non_null(t);
    for (size_t i = 0; i < n; i++) {
        p += sprintf(p, "\tT%zu", i % 10);
        for (size_t k = 2; k < name_len; k++)
            *p++ = 'x';
    }
    *p = '\0';
    return t;
}

static void cache_line_of_max_types_is_believed(void **state)
{
    (void)state;
    char *t = types_tail(FH_MAX_TYPES, 2);
    write_cache_line('P', t);
    assert_int_equal(cached_types(), FH_MAX_TYPES);
    free(t);
}

static void cache_line_of_too_many_types_is_not(void **state)
{
    (void)state;
    char *t = types_tail(FH_MAX_TYPES + 1, 2);
    write_cache_line('P', t);
    assert_int_equal(cached_types(), -1);
    free(t);
    /* A million types (4 MB): not believed, and not read into a million strings. */
    t = types_tail(1000000, 2);
    write_cache_line('P', t);
    assert_int_equal(cached_types(), -1);
    free(t);
}

static void cache_line_with_long_fields_is_not(void **state)
{
    (void)state;
    char *t = types_tail(1, FH_SCAN_MAX_NAME + 1);
    write_cache_line('P', t);
    assert_int_equal(cached_types(), -1);
    free(t);
    t = types_tail(1, FH_SCAN_MAX_NAME);
    write_cache_line('P', t);
    assert_int_equal(cached_types(), 1);
    free(t);

    char *why = malloc(FH_SCAN_MAX_REASON + 3);
    assert_non_null(why);
    why[0] = '\t';
    memset(why + 1, 'y', FH_SCAN_MAX_REASON + 1);
    why[FH_SCAN_MAX_REASON + 2] = '\0';
    write_cache_line('N', why);
    assert_int_equal(cached_types(), -1);
    why[FH_SCAN_MAX_REASON + 1] = '\0';
    write_cache_line('N', why);
    assert_int_equal(cached_types(), 0);
    free(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_of_max_types_is_read),
        cmocka_unit_test(report_of_too_many_types_is_garbled),
        cmocka_unit_test(report_with_long_fields_is_garbled),
        cmocka_unit_test(cache_line_of_max_types_is_believed),
        cmocka_unit_test(cache_line_of_too_many_types_is_not),
        cmocka_unit_test(cache_line_with_long_fields_is_not),
    };
    return cmocka_run_group_tests(tests, make_dirs, remove_dirs);
}

/* The progress display's clock and numbers: microseconds, so that a post shorter than
 * a millisecond shows its real duration and rate, never "0.000 s, 0.0 RPS". */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "progress.h"
#include "util.h"

static void rate_of_short_posts(void **state)
{
    (void)state;
    assert_true(fh_progress_rate(10, 300) > 33333.0 && fh_progress_rate(10, 300) < 33334.0);
    /* Between 300 and 350 us a millisecond clock sees no difference (both 0 ms). */
    assert_true(fh_progress_rate(1, 300) > fh_progress_rate(1, 350));
    assert_true(fh_progress_rate(3, 900) > 3333.0 && fh_progress_rate(3, 900) < 3334.0);
}

static void rate_without_time_or_requests(void **state)
{
    (void)state;
    assert_true(fh_progress_rate(0, 0) == 0.0);
    assert_true(fh_progress_rate(0, 5000) == 0.0);
    /* No time measured: one microsecond, not a division by zero, not 0 RPS. */
    assert_true(fh_progress_rate(10, 0) == 1e7);
    assert_true(fh_progress_rate(10, -3) == 1e7);
}

static void durations(void **state)
{
    (void)state;
    char buf[32];
    fh_progress_duration(300, buf, sizeof buf);
    assert_string_equal(buf, "0.300 ms");
    fh_progress_duration(0, buf, sizeof buf);
    assert_string_equal(buf, "0.000 ms");
    fh_progress_duration(-7, buf, sizeof buf);
    assert_string_equal(buf, "0.000 ms");
    fh_progress_duration(5000, buf, sizeof buf);
    assert_string_equal(buf, "0.005 s");
    fh_progress_duration(2500000, buf, sizeof buf);
    assert_string_equal(buf, "2.500 s");
}

static void clock_counts_microseconds(void **state)
{
    (void)state;
    /* Readings 200 us apart: a millisecond clock would only ever differ by multiples
     * of 1000 us; a microsecond one almost never does (50 tries). */
    bool finer = false;
    for (int i = 0; i < 50 && !finer; i++) {
        int64_t a = fh_monotonic_us();
        struct timespec gap = {0, 200000};
        nanosleep(&gap, NULL);
        int64_t d = fh_monotonic_us() - a;
        assert_true(d >= 200);
        finer = d % 1000 != 0;
    }
    assert_true(finer);
}

/* The summary of a post of 10 requests done in well under a millisecond. */
static void summary_of_a_short_post(void **state)
{
    (void)state;
    char out[512] = "";
    FILE *f = fmemopen(out, sizeof out - 1, "w");
    assert_non_null(f);
    fh_progress p;
    fh_progress_start(&p, f);
    for (int i = 0; i < 10; i++)
        p.done++; /* as fh_progress_update counts, without its redraw */
    p.start_us = fh_monotonic_us() - 300;
    fh_progress_finish(&p);
    fclose(f);
    assert_non_null(strstr(out, "flowhost: 10 requests done in "));
    assert_null(strstr(out, "done in 0.000 s"));
    assert_null(strstr(out, " 0.0 RPS"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rate_of_short_posts),
        cmocka_unit_test(rate_without_time_or_requests),
        cmocka_unit_test(durations),
        cmocka_unit_test(clock_counts_microseconds),
        cmocka_unit_test(summary_of_a_short_post),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Internal: the progress display of a post (show_progress), on stderr. On a terminal a
 * bar redrawn in place; otherwise a plain line at most once a second. Both end with a
 * summary line: requests, time, requests per second. */
#ifndef FH_SDK_PROGRESS_H
#define FH_SDK_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct fh_progress {
    FILE *out;
    bool tty;
    int64_t start_us; /* fh_monotonic_us() (util.h) at the start */
    int64_t drawn_us; /* when the display was last drawn */
    size_t done;
    size_t errors;
} fh_progress;

/* Requests per second of DONE requests in ELAPSED_US: 0 when none were done; a time
 * under one microsecond counts as one (never a division by zero, never 0 RPS for
 * requests done). */
double fh_progress_rate(size_t done, int64_t elapsed_us);

/* ELAPSED_US as text into BUF (SIZE bytes, cut to fit): "0.312 ms" under a millisecond,
 * else "1.234 s". */
void fh_progress_duration(int64_t elapsed_us, char *buf, size_t size);

void fh_progress_start(fh_progress *p, FILE *out);
/* One more response (ERROR: it was an error). Redraws when it is time to. */
void fh_progress_update(fh_progress *p, bool error);
/* The summary line. */
void fh_progress_finish(fh_progress *p);

#endif

/* The progress display: see progress.h. */
#include "progress.h"

#include "util.h"

#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 20
#define TTY_REDRAW_US 100000
#define PLAIN_REDRAW_US 1000000

double fh_progress_rate(size_t done, int64_t elapsed_us)
{
    if (done == 0)
        return 0.0;
    /* Under the clock's resolution the time is taken as one tick: a post that did
     * requests never shows 0 RPS, and nothing is divided by zero. */
    return (double)done * 1e6 / (double)(elapsed_us > 0 ? elapsed_us : 1);
}

void fh_progress_duration(int64_t elapsed_us, char *buf, size_t size)
{
    if (elapsed_us < 0)
        elapsed_us = 0;
    if (elapsed_us < 1000) /* "0.000 s" would say nothing */
        snprintf(buf, size, "%.3f ms", (double)elapsed_us / 1000.0);
    else
        snprintf(buf, size, "%.3f s", (double)elapsed_us / 1e6);
}

void fh_progress_start(fh_progress *p, FILE *out)
{
    p->out = out;
    p->tty = isatty(fileno(out));
    p->start_us = p->drawn_us = fh_monotonic_us();
    p->done = p->errors = 0;
}

void fh_progress_update(fh_progress *p, bool error)
{
    p->done++;
    p->errors += error;
    int64_t now = fh_monotonic_us();
    if (now - p->drawn_us < (p->tty ? TTY_REDRAW_US : PLAIN_REDRAW_US))
        return;
    p->drawn_us = now;
    int64_t us = now - p->start_us;
    double secs = (double)us / 1e6, rps = fh_progress_rate(p->done, us);
    if (!p->tty) {
        fprintf(p->out, "flowhost: %zu requests, %.1f s, %.1f RPS\n", p->done, secs, rps);
        return;
    }
    /* The input's length is unknown: the bar fills and starts over, as a heartbeat. */
    char bar[BAR_WIDTH * 3 + 1];
    size_t filled = p->done % (BAR_WIDTH + 1), used = 0;
    for (size_t i = 0; i < BAR_WIDTH; i++)
        used += (size_t)snprintf(bar + used, sizeof bar - used, "%s", i < filled ? "\u2588" : " ");
    fprintf(p->out, "\r\u23f3 |%s| %zu requests \u23f1 %.1fs \U0001f40e %.1f RPS\033[K", bar, p->done,
            secs, rps);
    fflush(p->out);
}

void fh_progress_finish(fh_progress *p)
{
    int64_t us = fh_monotonic_us() - p->start_us;
    char took[32];
    fh_progress_duration(us, took, sizeof took);
    double rps = fh_progress_rate(p->done, us);
    if (p->tty)
        fprintf(p->out, "\r\u2705 %zu requests done in \u23f1 %s \U0001f40e %.1f RPS%s\033[K\n",
                p->done, took, rps, p->errors ? " (with errors)" : "");
    else
        fprintf(p->out, "flowhost: %zu requests done in %s, %.1f RPS, %zu error%s\n", p->done,
                took, rps, p->errors, p->errors == 1 ? "" : "s");
    fflush(p->out);
}

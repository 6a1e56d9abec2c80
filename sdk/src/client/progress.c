/* The progress display: see progress.h. */
#include "progress.h"

#include <unistd.h>

#include "util.h"

#define BAR_WIDTH 20
#define TTY_REDRAW_MS 100
#define PLAIN_REDRAW_MS 1000

void fh_progress_start(fh_progress *p, FILE *out)
{
    p->out = out;
    p->tty = isatty(fileno(out));
    p->start_ms = p->drawn_ms = fh_monotonic_ms();
    p->done = p->errors = 0;
}

static double rate(const fh_progress *p, double secs)
{
    return secs > 0 ? (double)p->done / secs : 0.0;
}

void fh_progress_update(fh_progress *p, bool error)
{
    p->done++;
    p->errors += error;
    int64_t now = fh_monotonic_ms();
    if (now - p->drawn_ms < (p->tty ? TTY_REDRAW_MS : PLAIN_REDRAW_MS))
        return;
    p->drawn_ms = now;
    double secs = (double)(now - p->start_ms) / 1000.0;
    if (!p->tty) {
        fprintf(p->out, "flowhost: %zu requests, %.1f s, %.1f RPS\n", p->done, secs, rate(p, secs));
        return;
    }
    /* The input's length is unknown: the bar fills and starts over, as a heartbeat. */
    char bar[BAR_WIDTH * 3 + 1];
    size_t filled = p->done % (BAR_WIDTH + 1), used = 0;
    for (size_t i = 0; i < BAR_WIDTH; i++)
        used += (size_t)snprintf(bar + used, sizeof bar - used, "%s", i < filled ? "\u2588" : " ");
    fprintf(p->out, "\r\u23f3 |%s| %zu requests \u23f1 %.1fs \U0001f40e %.1f RPS\033[K", bar, p->done,
            secs, rate(p, secs));
    fflush(p->out);
}

void fh_progress_finish(fh_progress *p)
{
    double secs = (double)(fh_monotonic_ms() - p->start_ms) / 1000.0;
    if (p->tty)
        fprintf(p->out, "\r\u2705 %zu requests done in \u23f1 %.1f seconds \U0001f40e %.1f RPS%s\033[K\n",
                p->done, secs, rate(p, secs), p->errors ? " (with errors)" : "");
    else
        fprintf(p->out, "flowhost: %zu requests done in %.3f s, %.1f RPS, %zu error%s\n", p->done,
                secs, rate(p, secs), p->errors, p->errors == 1 ? "" : "s");
    fflush(p->out);
}

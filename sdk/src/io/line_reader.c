/* Lines of a bounded length from a stream: see line_reader.h for why not getline. */
#include "line_reader.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flowhost/error.h>

/* Bytes asked of each read(), and the first buffer. */
#define FH_LINE_CHUNK ((size_t)64 << 10)

void fh_line_reader_init(fh_line_reader *r, FILE *f, const char *path, size_t max)
{
    *r = (fh_line_reader){.f = f, .path = path, .max = max ? max : 1};
}

void fh_line_reader_free(fh_line_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->start = r->end = r->scan = 0;
}

/* Makes room for one more read: moves the unread bytes to the front, grows the buffer
 * up to MAX + FH_LINE_CHUNK bytes. Returns 0 or FH_E_NOMEM. */
static int make_room(fh_line_reader *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->scan -= r->start;
        r->start = 0;
    }
    if (r->end < r->cap)
        return 0;
    size_t limit = r->max > SIZE_MAX - FH_LINE_CHUNK - 1 ? SIZE_MAX : r->max + FH_LINE_CHUNK + 1;
    size_t cap = r->cap ? (r->cap > limit / 2 ? limit : r->cap * 2) : FH_LINE_CHUNK;
    if (cap > limit)
        cap = limit;
    char *buf = cap > r->cap ? realloc(r->buf, cap) : NULL;
    if (!buf)
        return fh_set_error(FH_E_NOMEM, "%s:%ld: out of memory for a line of more than %zu "
                            "bytes", r->path, r->lineno + 1, r->end);
    r->buf = buf;
    r->cap = cap;
    return 0;
}

/* Stops the reader for good: later calls return RC again. */
static int fail(fh_line_reader *r, int rc)
{
    r->failed = rc;
    return rc;
}

int fh_line_reader_next(fh_line_reader *r, const char **line, size_t *len)
{
    if (r->failed)
        return fh_set_error(r->failed, "%s:%ld: reading stopped after an error", r->path,
                            r->lineno + 1);
    for (;;) {
        char *nl = r->end > r->scan ? memchr(r->buf + r->scan, '\n', r->end - r->scan) : NULL;
        size_t have = (nl ? (size_t)(nl - r->buf) : r->end) - r->start;
        if (have > r->max)
            return fail(r, fh_set_error(FH_E_RANGE, "%s:%ld: a line longer than %zu bytes (the "
                                        "most an input line may have; --max-line, in C "
                                        "max_line, raises it)",
                                        r->path, r->lineno + 1, r->max));
        if (nl || (r->eof && have > 0)) { /* a line, or a last one without a newline */
            *line = r->buf + r->start;
            *len = have;
            r->start = r->scan = nl ? (size_t)(nl - r->buf) + 1 : r->end;
            r->lineno++;
            return 1;
        }
        if (r->eof)
            return 0;
        r->scan = r->end;
        int rc = make_room(r);
        if (rc < 0)
            return fail(r, rc);
        if (r->nowait) {
            /* A read of a readable descriptor does not block: no O_NONBLOCK, which
             * would change the descriptor for every process sharing it. */
            struct pollfd pfd = {.fd = fileno(r->f), .events = POLLIN};
            int ready;
            do
                ready = poll(&pfd, 1, 0);
            while (ready < 0 && errno == EINTR);
            if (ready == 0)
                return FH_LINE_WAIT;
        }
        ssize_t n;
        do
            n = read(fileno(r->f), r->buf + r->end, r->cap - r->end);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return fail(r, fh_set_error(FH_E_IO, "%s:%ld: %s", r->path, r->lineno + 1,
                                        strerror(errno)));
        if (n == 0)
            r->eof = true;
        r->end += (size_t)n;
    }
}

/* Internal: reading lines of a bounded length (NDJSON input).
 *
 * getline() grows its buffer without a bound (a file with no newline, /dev/zero, takes
 * all memory) and reports a failed allocation exactly like the end of the input, so a
 * line too large for memory would end a post in silence with the documents after it
 * unsent. This reader keeps at most MAX bytes of a line (plus one read's worth), and
 * tells the end of the input from every failure: a line over MAX, a read error, no
 * memory each come back as an error naming the file and the line.
 *
 * It reads the descriptor of its stream with read(), not stdio: a line is given as soon
 * as its newline has arrived, so that input from a slow pipe is not held back. Nothing
 * else may read the stream meanwhile.
 */
#ifndef FH_SDK_LINE_READER_H
#define FH_SDK_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct fh_line_reader {
    FILE *f;           /* the stream (its descriptor is read); not owned */
    const char *path;  /* for messages ("<stdin>" for standard input); not owned */
    size_t max;        /* the longest line accepted, newline excluded */
    char *buf;         /* owned; the unread bytes are [start, end) */
    size_t cap, start, end;
    size_t scan;       /* [start, scan) holds no newline: the next search starts here */
    bool eof;          /* read() returned 0 */
    int failed;        /* the error that stopped the reader, or 0 */
    long lineno;       /* 1-based number of the line last given */
    bool nowait;       /* read only what has arrived: with no whole line buffered and
                          nothing to read, give FH_LINE_WAIT instead of blocking */
} fh_line_reader;

/* What fh_line_reader_next returns in nowait mode when no whole line has arrived. */
#define FH_LINE_WAIT 2

/* Starts reading F (PATH names it in messages; both must outlive the reader) with lines
 * of at most MAX bytes (MAX > 0). Allocates nothing yet. */
void fh_line_reader_init(fh_line_reader *r, FILE *f, const char *path, size_t max);

/* The next line, without its '\n', in *LINE (LEN bytes; not NUL-terminated, valid until
 * the next call). Returns 1, 0 at the end of the input (a last line without a newline
 * is given first), FH_LINE_WAIT (nowait only: wait for the descriptor to be readable,
 * then call again), or FH_E_RANGE ("PATH:LINE: a line longer than MAX bytes ..."),
 * FH_E_IO ("PATH:LINE: strerror"), FH_E_NOMEM, with fh_last_error() set. After an error
 * every call fails with the same code: nothing is ever taken for the end of the input. */
int fh_line_reader_next(fh_line_reader *r, const char **line, size_t *len);

/* Frees the buffer (not the stream). */
void fh_line_reader_free(fh_line_reader *r);

#endif

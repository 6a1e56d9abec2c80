/* flowhost — document sources: the inputs a post pulls from, one document at a time.
 *
 * A source reads NDJSON, CSV, files matched by a glob, a .npy array or a docstore, and
 * gives documents one at a time, reading its input only as far as it has given. Every
 * source takes the same options: at most `size` documents, each kept with probability
 * `sampling_rate`; CSV and NDJSON map fields with a field resolver; .npy rows can be
 * shuffled.
 *
 * Ownership: fh_source_open stores a source the caller owns and closes with
 * fh_source_close. Documents returned by fh_source_next belong to the caller. Options
 * are copied at open: the caller may free them after.
 * Errors name the file and, where it applies, the line or byte offset:
 * "data.csv:7: row has 3 fields, the header has 4".
 */
#ifndef FLOWHOST_SOURCE_H
#define FLOWHOST_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flowhost/document.h>
#include <flowhost/value.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fh_source fh_source;

typedef enum fh_source_format {
    FH_FORMAT_AUTO = 0, /* from the path: a directory holding a docstore, *.csv, *.ndjson or
                           *.jsonl, *.npy, a pattern with * ? [ (files), "-" (NDJSON on
                           standard input) */
    FH_FORMAT_NDJSON,
    FH_FORMAT_CSV,
    FH_FORMAT_FILES,
    FH_FORMAT_NPY,
    FH_FORMAT_DOCSTORE
} fh_source_format;

typedef enum fh_read_mode {
    FH_READ_URI = 0, /* files: the uri only */
    FH_READ_TEXT,    /* files: the uri and the content as text (it must be UTF-8) */
    FH_READ_BYTES    /* files: the uri and the content as blob */
} fh_read_mode;

typedef enum fh_array_as {
    FH_ARRAY_AS_TENSOR = 0, /* .npy: each row is the document's tensor, dtype kept */
    FH_ARRAY_AS_EMBEDDING   /* .npy: each row, converted to float32, is its embedding */
} fh_array_as;

/* The longest NDJSON line a source takes by default (fh_source_options.max_line): the
 * default max_message_size, the most one request may carry anyway. */
#define FH_SOURCE_DEFAULT_MAX_LINE ((size_t)256 << 20)

typedef struct fh_source_options {
    size_t size;                   /* at most this many documents; 0: all */
    double sampling_rate;          /* keep each document with this probability, in (0, 1];
                                      0 means 1 */
    bool shuffle;                  /* .npy: rows in a random order */
    uint64_t seed;                 /* sampling and shuffle; 0: a random seed */
    const fh_value *field_resolver; /* CSV/NDJSON: a map of input field -> document field
                                      ("question" -> "text"); fields that are not document
                                      fields go to tags. NULL: none. */
    fh_read_mode read_mode;        /* files */
    fh_array_as array_as;          /* .npy */
    size_t max_line;               /* NDJSON: the longest line in bytes; a longer one is an
                                      error (FH_E_RANGE), so that input with no newline
                                      cannot take all memory. 0: FH_SOURCE_DEFAULT_MAX_LINE
                                      (256 MiB) */
} fh_source_options;

/* Fills *O with the defaults: all documents, no sampling, no shuffle, uri only, tensor,
 * lines of 256 MiB at most. */
void fh_source_options_init(fh_source_options *o);

/* Opens PATH (a file, a directory, a glob pattern, or "-") as FORMAT. Returns 0, or
 * FH_E_IO (cannot read), FH_E_NOTFOUND (a pattern that matches nothing), FH_E_PARSE
 * (a malformed header), FH_E_TYPE (an unsupported .npy dtype), FH_E_INVAL (bad
 * options), with the file named in fh_last_error(). */
int fh_source_open(const char *path, fh_source_format format, const fh_source_options *o,
                   fh_source **out);

/* The next document: returns 1 with *OUT set (the caller owns it), 0 at the end,
 * FH_SOURCE_WAIT (only after fh_source_wait_fd: nothing has arrived yet), or a
 * negative code with "FILE:LINE: ..." or "FILE: offset N: ..." in fh_last_error(): a
 * read error, a line over max_line (FH_E_RANGE) or no memory for one is never taken for
 * the end of the input. */
int fh_source_next(fh_source *s, fh_doc **out);

/* What fh_source_next returns after fh_source_wait_fd when no document has arrived yet:
 * wait for the descriptor to be readable, then call again. Equal to FH_INPUT_WAIT of
 * client.h, so that fh_source_input fits fh_client_post_input_fd. */
#define FH_SOURCE_WAIT 2

/* Puts S in no-wait mode, when its format can do it (NDJSON, from a file or a pipe such
 * as standard input): from then on fh_source_next reads only what has arrived and
 * returns FH_SOURCE_WAIT instead of blocking for the rest. Returns the descriptor to
 * wait on (still S's: the caller must not close it), or -1 when the format cannot (its
 * fh_source_next keeps blocking; nothing changes). */
int fh_source_wait_fd(fh_source *s);

/* fh_source_next with the signature of fh_input_fn, for fh_client_post_input:
 * fh_client_post_input(c, "/index", fh_source_input, source, &opts). */
int fh_source_input(void *source, fh_doc **out);

/* Closes the file(s) and frees *S; sets *S to NULL. Accepts NULL. */
void fh_source_close(fh_source **s);

/* The format FH_FORMAT_AUTO picks for PATH, or FH_FORMAT_AUTO when it cannot tell. */
fh_source_format fh_source_format_of(const char *path);

/* "ndjson", "csv", "files", "npy", "docstore" -> the format; FH_FORMAT_AUTO for "auto";
 * -1 for an unknown name. */
int fh_source_format_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif

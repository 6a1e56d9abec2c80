/* NDJSON input: one document object per line, read by the line reader (line_reader.h)
 * so that memory stays at the longest line, which has a bound: a longer one, a read
 * error or no memory is an error naming the line, never the end of the input. */
#include "json_internal.h"
#include "line_reader.h"
#include "util.h"

#include <flowhost/source.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <flowhost/error.h>
#include <flowhost/json.h>

struct fh_ndjson_reader {
    FILE *f;       /* the open file, or stdin */
    bool is_stdin; /* stdin is not ours to close */
    char *path;    /* as given, for messages ("<stdin>" for "-") */
    fh_line_reader lines; /* reads F, lines of FH_SOURCE_DEFAULT_MAX_LINE bytes at most */
    long lineno;   /* 1-based number of the line last read */
};

int fh_ndjson_open(const char *path, fh_ndjson_reader **out)
{
    if (!path || !out)
        return fh_set_error(FH_E_INVAL, "fh_ndjson_open: NULL argument");
    fh_ndjson_reader *r = calloc(1, sizeof *r);
    if (!r)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    r->is_stdin = strcmp(path, "-") == 0;
    r->path = strdup(r->is_stdin ? "<stdin>" : path);
    if (!r->path) {
        free(r);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    }
    r->f = fh_open_input(path);
    if (!r->f) {
        int err = errno;
        free(r->path);
        free(r);
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(err));
    }
    fh_line_reader_init(&r->lines, r->f, r->path, FH_SOURCE_DEFAULT_MAX_LINE);
    *out = r;
    return 0;
}

/* True when LINE holds only JSON whitespace. */
static bool is_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
            return false;
    return true;
}

int fh_ndjson_next(fh_ndjson_reader *r, fh_doc **out)
{
    if (!r || !out)
        return fh_set_error(FH_E_INVAL, "fh_ndjson_next: NULL argument");
    for (;;) {
        const char *text;
        size_t len;
        int rc = fh_line_reader_next(&r->lines, &text, &len);
        if (rc <= 0)
            return rc;
        r->lineno = r->lines.lineno;
        /* A UTF-8 byte order mark, as some editors write, is not JSON. */
        if (r->lineno == 1 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
            text += 3;
            len -= 3;
        }
        if (is_blank(text, len))
            continue;
        struct fh_json_error err;
        rc = fh_doc_parse_json(text, len, out, &err);
        if (rc < 0) {
            /* One line is one JSON text, so jansson's line is always 1: the file's line
             * number is ours; the column comes from jansson or from the field search. */
            return fh_set_error(rc, "%s:%ld:%d: %s", r->path, r->lineno,
                                err.column > 0 ? err.column : 1, err.text);
        }
        return 1;
    }
}

void fh_ndjson_close(fh_ndjson_reader **r)
{
    if (!r || !*r)
        return;
    if (!(*r)->is_stdin && (*r)->f)
        fclose((*r)->f);
    fh_line_reader_free(&(*r)->lines);
    free((*r)->path);
    free(*r);
    *r = NULL;
}

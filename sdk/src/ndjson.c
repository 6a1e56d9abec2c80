/* NDJSON input: one document object per line, read with getline so that a line of any
 * length works and memory stays at the longest line. */
#include "json_internal.h"
#include "util.h"

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
    char *line;    /* getline's buffer, reused across lines */
    size_t cap;    /* its capacity */
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
    *out = r;
    return 0;
}

/* True when LINE holds only JSON whitespace. */
static bool is_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\n", line[i]))
            return false;
    return true;
}

int fh_ndjson_next(fh_ndjson_reader *r, fh_doc **out)
{
    if (!r || !out)
        return fh_set_error(FH_E_INVAL, "fh_ndjson_next: NULL argument");
    for (;;) {
        errno = 0;
        ssize_t n = getline(&r->line, &r->cap, r->f);
        if (n < 0) {
            if (ferror(r->f))
                return fh_set_error(FH_E_IO, "%s:%ld: %s", r->path, r->lineno + 1,
                                    strerror(errno ? errno : EIO));
            return 0;
        }
        r->lineno++;
        const char *text = r->line;
        size_t len = (size_t)n;
        /* A UTF-8 byte order mark, as some editors write, is not JSON. */
        if (r->lineno == 1 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
            text += 3;
            len -= 3;
        }
        if (is_blank(text, len))
            continue;
        struct fh_json_error err;
        int rc = fh_doc_parse_json(text, len, out, &err);
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
    free((*r)->line);
    free((*r)->path);
    free(*r);
    *r = NULL;
}

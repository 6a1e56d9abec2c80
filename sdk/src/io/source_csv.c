/* CSV source (Jina's from_csv): the first row names the columns, each further row is a
 * document. Parsing is libcsv's; this file feeds it and turns rows into documents.
 *
 * Reading is lazy: the file is read in chunks, and each chunk is fed to libcsv one
 * physical line at a time, so that a call to next() parses about one row and the queue
 * of parsed rows stays within one chunk. Line numbers count physical lines ('\n'), so a
 * quoted field holding newlines moves the numbers of the rows after it, as an editor
 * shows them.
 */
#define _GNU_SOURCE
#include "source_internal.h"
#include "util.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <flowhost/error.h>

#define CSV_CHUNK (64 * 1024)
/* A field larger than this is refused (libcsv would otherwise grow its buffer without
 * end on a file with an unclosed quote). */
#define CSV_MAX_FIELD ((size_t)64 << 20)
/* A row larger than this, all fields together, is refused. */
#define CSV_MAX_ROW ((size_t)256 << 20)
/* Columns in the header at most; a data row longer than the header is an error anyway. */
#define CSV_MAX_COLUMNS 65536

typedef struct csv_row {
    char **fields;  /* NUL-terminated copies; only the first min(n, kept) are stored */
    size_t n;       /* fields the row had */
    size_t kept;    /* fields stored in FIELDS */
    size_t cap;     /* capacity of FIELDS */
    long line;      /* physical line the row starts on */
} csv_row;

typedef enum column_target {
    TO_ID,
    TO_PARENT_ID,
    TO_TEXT,
    TO_URI,
    TO_MIME_TYPE,
    TO_TAG
} column_target;

typedef struct csv_column {
    char *name;           /* as in the header */
    column_target target; /* what the column sets */
    const char *tag;      /* TO_TAG: the tag's name (NAME or the resolver's target, borrowed
                             from NAME or RESOLVER) */
} csv_column;

typedef struct csv_state {
    FILE *f;                  /* the file, or stdin */
    bool is_stdin;            /* stdin is not ours to close */
    char *path;               /* for messages */
    struct csv_parser p;      /* libcsv's state */
    bool p_ready;             /* P was initialised (csv_free needed) */
    unsigned char *buf;       /* the current chunk */
    size_t buf_len;           /* bytes in BUF */
    size_t buf_pos;           /* bytes of BUF already fed */
    bool eof;                 /* the file is read to its end and csv_fini was called */
    long line;                /* physical line of the next byte to feed, 1-based */
    long row_line;            /* physical line the row being parsed started on */
    bool row_open;            /* a row has begun and not ended */
    size_t max_fields;        /* fields stored per row (more are only counted) */
    size_t row_bytes;         /* bytes of the current row */
    int cb_error;             /* an error a callback hit (FH_E_...), reported after */
    csv_row cur;              /* the row being parsed */
    csv_row *queue;           /* parsed rows not yet given */
    size_t q_head, q_len, q_cap;
    csv_column *cols;         /* the header's columns */
    size_t ncols;
    fh_value *resolver;       /* a copy of the field resolver, or NULL */
} csv_state;

static void row_free(csv_row *r)
{
    for (size_t i = 0; i < r->kept; i++)
        free(r->fields[i]);
    free(r->fields);
    memset(r, 0, sizeof *r);
}

/* libcsv grows its field buffer through this, so that a field has a bound. */
static void *capped_realloc(void *ptr, size_t size)
{
    if (size > CSV_MAX_FIELD)
        return NULL;
    return realloc(ptr, size);
}

/* libcsv callback: one field of the current row ended. */
static void on_field(void *field, size_t len, void *data)
{
    csv_state *s = data;
    if (s->cb_error)
        return;
    s->cur.n++;
    if (s->cur.kept >= s->max_fields)
        return; /* counted for the message, not kept */
    s->row_bytes += len;
    if (s->row_bytes > CSV_MAX_ROW) {
        s->cb_error = fh_set_error(FH_E_RANGE, "%s:%ld: row larger than %zu MiB", s->path,
                                   s->row_line, CSV_MAX_ROW >> 20);
        return;
    }
    if (len && memchr(field, '\0', len)) {
        s->cb_error = fh_set_error(FH_E_PARSE, "%s:%ld: field %zu holds a NUL byte", s->path,
                                   s->row_line, s->cur.n);
        return;
    }
    if (s->cur.kept == s->cur.cap) {
        size_t cap = s->cur.cap ? s->cur.cap * 2 : 8;
        char **f = realloc(s->cur.fields, cap * sizeof *f);
        if (!f) {
            s->cb_error = fh_set_error(FH_E_NOMEM, "%s:%ld: out of memory", s->path, s->row_line);
            return;
        }
        s->cur.fields = f;
        s->cur.cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        s->cb_error = fh_set_error(FH_E_NOMEM, "%s:%ld: out of memory", s->path, s->row_line);
        return;
    }
    if (len)
        memcpy(copy, field, len);
    copy[len] = '\0';
    s->cur.fields[s->cur.kept++] = copy;
}

/* libcsv callback: the current row ended; it joins the queue. */
static void on_row(int c, void *data)
{
    (void)c;
    csv_state *s = data;
    if (s->cb_error) {
        row_free(&s->cur);
        return;
    }
    if (s->q_len == s->q_cap) {
        size_t cap = s->q_cap ? s->q_cap * 2 : 4;
        csv_row *q = malloc(cap * sizeof *q);
        if (!q) {
            s->cb_error = fh_set_error(FH_E_NOMEM, "%s:%ld: out of memory", s->path, s->row_line);
            row_free(&s->cur);
            return;
        }
        for (size_t i = 0; i < s->q_len; i++) /* unwrap the ring */
            q[i] = s->queue[(s->q_head + i) % s->q_cap];
        free(s->queue);
        s->queue = q;
        s->q_cap = cap;
        s->q_head = 0;
    }
    s->cur.line = s->row_line;
    s->queue[(s->q_head + s->q_len) % s->q_cap] = s->cur;
    s->q_len++;
    memset(&s->cur, 0, sizeof s->cur);
    s->row_bytes = 0;
    s->row_open = false;
}

static bool is_blank(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

static int parse_error(csv_state *s, long line, bool at_end)
{
    int e = csv_error(&s->p);
    if (e == CSV_ENOMEM || e == CSV_ETOOBIG)
        return fh_set_error(FH_E_RANGE, "%s:%ld: field larger than %zu MiB (or out of memory)",
                            s->path, line, CSV_MAX_FIELD >> 20);
    if (at_end)
        return fh_set_error(FH_E_PARSE, "%s:%ld: quoted field not closed at the end of the file",
                            s->path, line);
    return fh_set_error(FH_E_PARSE,
                        "%s:%ld: malformed quoting (a quote inside an unquoted field, or text "
                        "after a closing quote): %s",
                        s->path, line, csv_strerror(e));
}

/* Feeds libcsv until a row is queued or the input ends: 0, or a negative code. */
static int feed(csv_state *s)
{
    while (s->q_len == 0 && !s->eof) {
        if (s->buf_pos == s->buf_len) {
            size_t n = fread(s->buf, 1, CSV_CHUNK, s->f);
            if (n == 0) {
                if (ferror(s->f))
                    return fh_set_error(FH_E_IO, "%s:%ld: %s", s->path, s->line,
                                        strerror(errno ? errno : EIO));
                s->eof = true;
                if (csv_fini(&s->p, on_field, on_row, s) != 0)
                    return parse_error(s, s->row_line, true);
                if (s->cb_error)
                    return s->cb_error;
                break;
            }
            s->buf_len = n;
            s->buf_pos = 0;
        }
        unsigned char *seg = s->buf + s->buf_pos;
        size_t avail = s->buf_len - s->buf_pos;
        unsigned char *nl = memchr(seg, '\n', avail);
        size_t len = nl ? (size_t)(nl - seg) + 1 : avail;
        if (!s->row_open)
            s->row_line = s->line;
        size_t queued = s->q_len;
        size_t done = csv_parse(&s->p, seg, len, on_field, on_row, s);
        if (s->cb_error)
            return s->cb_error;
        if (done != len)
            return parse_error(s, s->line, false);
        s->buf_pos += len;
        if (nl)
            s->line++;
        if (s->q_len == queued && !is_blank(seg, len))
            s->row_open = true; /* libcsv skips blank lines between rows */
    }
    return 0;
}

/* The next parsed row into *ROW (the caller frees it): 1, 0 at the end, or a negative code. */
static int next_row(csv_state *s, csv_row *row)
{
    int rc = feed(s);
    if (rc < 0)
        return rc;
    if (s->q_len == 0)
        return 0;
    *row = s->queue[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    return 1;
}

static void csv_close(void *state)
{
    csv_state *s = state;
    if (!s)
        return;
    if (s->f && !s->is_stdin)
        fclose(s->f);
    if (s->p_ready)
        csv_free(&s->p);
    row_free(&s->cur);
    for (size_t i = 0; i < s->q_len; i++)
        row_free(&s->queue[(s->q_head + i) % s->q_cap]);
    free(s->queue);
    for (size_t i = 0; i < s->ncols; i++)
        free(s->cols[i].name);
    free(s->cols);
    fh_value_destroy(&s->resolver);
    free(s->buf);
    free(s->path);
    free(s);
}

static int set_field(fh_doc *d, column_target t, const char *v)
{
    switch (t) {
    case TO_ID:
        return *v ? fh_doc_set_id(d, v) : 0; /* an empty cell keeps the generated id */
    case TO_PARENT_ID:
        return fh_doc_set_parent_id(d, v);
    case TO_TEXT:
        return fh_doc_set_text(d, v);
    case TO_URI:
        return fh_doc_set_uri(d, v);
    case TO_MIME_TYPE:
        return fh_doc_set_mime_type(d, v);
    case TO_TAG:
        break;
    }
    return FH_E_INVAL;
}

static int csv_next(void *state, fh_doc **out)
{
    csv_state *s = state;
    csv_row row;
    int rc = next_row(s, &row);
    if (rc <= 0)
        return rc;
    if (row.n != s->ncols) {
        rc = fh_set_error(FH_E_PARSE, "%s:%ld: row has %zu fields, the header has %zu", s->path,
                          row.line, row.n, s->ncols);
        row_free(&row);
        return rc;
    }
    fh_doc *d = fh_doc_new();
    rc = d ? 0 : FH_E_NOMEM;
    for (size_t i = 0; rc == 0 && i < s->ncols; i++) {
        const csv_column *c = &s->cols[i];
        if (c->target == TO_TAG) {
            fh_value *tags = fh_doc_tags(d);
            rc = tags ? fh_map_set_string(tags, c->tag, row.fields[i]) : FH_E_NOMEM;
        } else {
            rc = set_field(d, c->target, row.fields[i]);
        }
    }
    long line = row.line;
    row_free(&row);
    if (rc < 0) {
        fh_doc_destroy(&d);
        return fh_set_error(rc, "%s:%ld: out of memory", s->path, line);
    }
    *out = d;
    return 1;
}

static const fh_source_reader_ops csv_ops = {csv_next, csv_close};

static column_target target_of(const char *name)
{
    static const struct {
        const char *name;
        column_target t;
    } fields[] = {{"id", TO_ID},   {"parent_id", TO_PARENT_ID}, {"text", TO_TEXT},
                  {"uri", TO_URI}, {"mime_type", TO_MIME_TYPE}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(name, fields[i].name) == 0)
            return fields[i].t;
    return TO_TAG;
}

/* "a, b, c" of the header's names into BUF, cut with "..." when long. */
static void column_list(const csv_state *s, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->ncols; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", s->cols[i].name);
        if (n < 0 || (size_t)n >= size - used) {
            if (size > 4)
                strcpy(buf + size - 4, "...");
            return;
        }
        used += (size_t)n;
    }
}

/* Reads the header row and decides what each column sets. */
static int read_header(csv_state *s)
{
    csv_row row;
    s->max_fields = CSV_MAX_COLUMNS;
    int rc = next_row(s, &row);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return fh_set_error(FH_E_PARSE, "%s: no header row (the file is empty)", s->path);
    if (row.n > CSV_MAX_COLUMNS) {
        row_free(&row);
        return fh_set_error(FH_E_PARSE, "%s:%ld: the header has more than %d columns", s->path,
                            row.line, CSV_MAX_COLUMNS);
    }
    s->max_fields = row.n; /* a longer row is an error: its extra fields are only counted */
    s->cols = calloc(row.n, sizeof *s->cols);
    if (!s->cols) {
        row_free(&row);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->path);
    }
    s->ncols = row.n;
    for (size_t i = 0; i < row.n; i++) {
        char *name = row.fields[i];
        if (i == 0 && strncmp(name, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
            memmove(name, name + 3, strlen(name + 3) + 1);
        if (!*name) {
            /* pandas writes its index column with an empty name and reads it back as
             * "Unnamed: 0"; do the same rather than drop the column. */
            free(name);
            if (asprintf(&name, "Unnamed: %zu", i) < 0)
                name = NULL;
        }
        row.fields[i] = NULL;
        s->cols[i].name = name;
        if (!name) {
            row_free(&row);
            return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->path);
        }
    }
    long line = row.line;
    row_free(&row);
    /* A map of the names seen (a hash set): linear in the columns, which may be 65536. */
    fh_value *seen = fh_value_new_map();
    rc = seen ? 0 : fh_set_error(FH_E_NOMEM, "%s: out of memory", s->path);
    for (size_t i = 0; rc == 0 && i < s->ncols; i++) {
        if (fh_map_get(seen, s->cols[i].name))
            rc = fh_set_error(FH_E_PARSE, "%s:%ld: column '%s' appears twice in the header",
                              s->path, line, s->cols[i].name);
        else if (fh_map_set(seen, s->cols[i].name, fh_value_new_null()) != 0)
            rc = fh_set_error(FH_E_NOMEM, "%s: out of memory", s->path);
    }
    fh_value_destroy(&seen);
    return rc;
}

/* Applies the field resolver to the columns and checks the result. Linear in the columns
 * and the resolver's entries: names are looked up in maps (hash sets), never scanned. */
static int map_columns(csv_state *s)
{
    char cols[512];
    /* column name -> its index, and field set -> index of the column that sets it */
    fh_value *by_name = fh_value_new_map(), *by_target = fh_value_new_map();
    int rc = by_name && by_target ? 0 : FH_E_NOMEM;
    for (size_t c = 0; rc == 0 && c < s->ncols; c++)
        rc = fh_map_set_int(by_name, s->cols[c].name, (int64_t)c);
    for (size_t i = 0; rc == 0 && i < fh_value_len(s->resolver); i++) {
        const char *from = fh_map_key_at(s->resolver, i);
        if (!fh_map_get(by_name, from)) {
            column_list(s, cols, sizeof cols);
            rc = fh_set_error(FH_E_INVAL,
                              "%s: field_resolver names column '%s', which the header lacks "
                              "(columns: %s)",
                              s->path, from, cols);
            break;
        }
        const char *to = fh_value_string(fh_map_value_at(s->resolver, i));
        if (fh_source_is_doc_field(to) && target_of(to) == TO_TAG)
            rc = fh_set_error(FH_E_INVAL,
                              "%s: field_resolver maps column '%s' to '%s'; a CSV column can "
                              "set id, parent_id, text, uri, mime_type or a tag",
                              s->path, from, to);
    }
    for (size_t c = 0; rc == 0 && c < s->ncols; c++) {
        const char *name = s->cols[c].name;
        const char *to = s->resolver ? fh_map_get_string(s->resolver, name, name) : name;
        s->cols[c].target = target_of(to);
        s->cols[c].tag = to;
        const fh_value *k = fh_map_get(by_target, to);
        if (k)
            rc = fh_set_error(FH_E_INVAL, "%s: columns '%s' and '%s' would both set '%s'",
                              s->path, s->cols[fh_value_int(k, 0)].name, name, to);
        else
            rc = fh_map_set_int(by_target, to, (int64_t)c);
    }
    if (rc == FH_E_NOMEM)
        rc = fh_set_error(FH_E_NOMEM, "%s: out of memory", s->path);
    fh_value_destroy(&by_name);
    fh_value_destroy(&by_target);
    return rc;
}

int fh_source_open_csv(const char *path, const fh_source_options *o, fh_source_reader *r)
{
    int rc = fh_source_check_resolver(path, o->field_resolver);
    if (rc < 0)
        return rc;
    csv_state *s = calloc(1, sizeof *s);
    if (!s)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    s->is_stdin = strcmp(path, "-") == 0;
    s->path = strdup(s->is_stdin ? "<stdin>" : path);
    s->buf = malloc(CSV_CHUNK);
    if (o->field_resolver)
        s->resolver = fh_value_copy(o->field_resolver);
    s->line = 1;
    s->row_line = 1;
    if (!s->path || !s->buf || (o->field_resolver && !s->resolver)) {
        csv_close(s);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    }
    if (csv_init(&s->p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        csv_close(s);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    }
    s->p_ready = true;
    csv_set_realloc_func(&s->p, capped_realloc);
    s->f = fh_open_input(path);
    if (!s->f) {
        int err = errno;
        csv_close(s);
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(err));
    }
    rc = read_header(s);
    if (rc == 0)
        rc = map_columns(s);
    if (rc < 0) {
        csv_close(s);
        return rc;
    }
    r->ops = &csv_ops;
    r->state = s;
    return 0;
}

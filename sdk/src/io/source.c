/* Document sources: format detection, the options every format shares (size,
 * sampling_rate), the NDJSON source and the docstore source. CSV, files and .npy live in
 * source_csv.c, source_files.c and source_npy.c behind the vtable of source_internal.h. */
#define _GNU_SOURCE /* strcasecmp */
#include "source_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "json_internal.h"
#include "line_reader.h"
#include "util.h"
#include <flowhost/docstore.h>
#include <flowhost/error.h>
#include <flowhost/json.h>

struct fh_source {
    fh_source_reader reader; /* the format's reader */
    size_t size;             /* documents to give at most; 0: all */
    size_t given;            /* documents given so far */
    double sampling_rate;    /* keep probability, in (0, 1] */
    uint64_t rng;            /* splitmix64 state for sampling */
};

/* ---- options, formats ---- */

void fh_source_options_init(fh_source_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->sampling_rate = 1.0;
    o->read_mode = FH_READ_URI;
    o->array_as = FH_ARRAY_AS_TENSOR;
    o->max_line = FH_SOURCE_DEFAULT_MAX_LINE;
}

static const char *const format_names[] = {
    [FH_FORMAT_AUTO] = "auto",   [FH_FORMAT_NDJSON] = "ndjson", [FH_FORMAT_CSV] = "csv",
    [FH_FORMAT_FILES] = "files", [FH_FORMAT_NPY] = "npy",       [FH_FORMAT_DOCSTORE] = "docstore",
};

int fh_source_format_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
        if (strcmp(name, format_names[i]) == 0)
            return (int)i;
    return -1;
}

static bool has_glob_chars(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

fh_source_format fh_source_format_of(const char *path)
{
    if (!path || !*path)
        return FH_FORMAT_AUTO;
    if (strcmp(path, "-") == 0)
        return FH_FORMAT_NDJSON;
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode))
        return FH_FORMAT_DOCSTORE;
    /* A file that exists is taken by its name even when the name holds a '[' . */
    if (!exists && has_glob_chars(path))
        return FH_FORMAT_FILES;
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot)
        return FH_FORMAT_AUTO;
    if (strcasecmp(dot, ".csv") == 0)
        return FH_FORMAT_CSV;
    if (strcasecmp(dot, ".ndjson") == 0 || strcasecmp(dot, ".jsonl") == 0)
        return FH_FORMAT_NDJSON;
    if (strcasecmp(dot, ".npy") == 0)
        return FH_FORMAT_NPY;
    return FH_FORMAT_AUTO;
}

bool fh_source_is_doc_field(const char *name)
{
    static const char *const fields[] = {
        "id",      "parent_id", "text",    "blob",   "uri",         "mime_type", "tags",     "embedding",
        "tensor",  "chunks",    "matches", "scores", "weight",      "granularity", "adjacency",
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(name, fields[i]) == 0)
            return true;
    return false;
}

int fh_source_check_resolver(const char *path, const fh_value *resolver)
{
    if (!resolver)
        return 0;
    if (fh_value_type(resolver) != FH_TYPE_MAP)
        return fh_set_error(FH_E_INVAL, "%s: field_resolver must be a map, not %s", path,
                            fh_type_name(fh_value_type(resolver)));
    /* field -> index of the entry that maps to it: a hash set, so that a resolver of many
     * entries is checked in linear time */
    fh_value *targets = fh_value_new_map();
    int rc = targets ? 0 : fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; rc == 0 && i < fh_value_len(resolver); i++) {
        const char *to = fh_value_string(fh_map_value_at(resolver, i));
        const fh_value *j;
        if (!to || !*to)
            rc = fh_set_error(FH_E_INVAL,
                              "%s: field_resolver maps '%s' to %s; it must be a field name",
                              path, fh_map_key_at(resolver, i),
                              to ? "an empty string" : "a non-string");
        /* Two inputs feeding one field would make the result depend on their order. */
        else if ((j = fh_map_get(targets, to)))
            rc = fh_set_error(FH_E_INVAL, "%s: field_resolver maps both '%s' and '%s' to '%s'",
                              path, fh_map_key_at(resolver, (size_t)fh_value_int(j, 0)),
                              fh_map_key_at(resolver, i), to);
        else if (fh_map_set_int(targets, to, (int64_t)i) != 0)
            rc = fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    }
    fh_value_destroy(&targets);
    return rc;
}

/* ---- NDJSON ---- */

typedef struct ndjson_state {
    FILE *f;                        /* the open file, or stdin */
    bool is_stdin;                  /* stdin is not ours to close */
    char *path;                     /* for messages ("<stdin>" for "-") */
    fh_line_reader lines;           /* reads F, lines of max_line bytes at most */
    long lineno;                    /* 1-based number of the line last read */
    fh_value *resolver;             /* a copy of the field resolver, or NULL */
} ndjson_state;

static bool is_json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The 1-based column of the top-level key KEY in the object LINE; 1 when not found
 * (jansson keeps no positions for keys). A small scan that skips strings and counts
 * nesting, so that a key of the same name inside a nested object is not taken for it.
 * Columns count characters, as jansson's do. Keys that need escaping are not found. */
static int key_column(const char *line, size_t len, const char *key)
{
    size_t klen = strlen(key);
    int depth = 0, column = 1;
    for (size_t i = 0; i < len; i++) {
        char ch = line[i];
        if (ch == '"') {
            size_t start = i + 1, j = start;
            int start_column = column;
            while (j < len && line[j] != '"') {
                if (line[j] == '\\' && j + 1 < len)
                    j++;
                j++;
            }
            if (j >= len)
                return 1;
            size_t k = j + 1;
            while (k < len && is_json_ws(line[k]))
                k++;
            if (depth == 1 && k < len && line[k] == ':' && j - start == klen &&
                memcmp(line + start, key, klen) == 0)
                return start_column;
            for (size_t m = i; m <= j; m++) /* advance the column over the string */
                if (((unsigned char)line[m] & 0xC0) != 0x80)
                    column++;
            i = j;
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            depth--;
        if (((unsigned char)ch & 0xC0) != 0x80)
            column++;
    }
    return 1;
}

static void ndjson_close(void *state)
{
    ndjson_state *s = state;
    if (!s)
        return;
    if (s->f && !s->is_stdin)
        fclose(s->f);
    fh_line_reader_free(&s->lines);
    free(s->path);
    fh_value_destroy(&s->resolver);
    free(s);
}

static bool is_blank(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_json_ws(text[i]))
            return false;
    return true;
}

/* Splits the object J (one line) into the document fields (into *FIELDS, keyed by their
 * resolved names) and the rest (into *EXTRA). On a conflict returns FH_E_PARSE with the
 * message in fh_last_error(). */
static int ndjson_split(ndjson_state *s, const char *text, size_t len, json_t *j,
                        json_t *fields, json_t *extra)
{
    const char *key;
    json_t *v;
    json_object_foreach (j, key, v) {
        const char *to = s->resolver ? fh_map_get_string(s->resolver, key, key) : key;
        json_t *dest = fh_source_is_doc_field(to) ? fields : extra;
        if (json_object_get(dest, to) || (to != key && json_object_get(j, to) &&
                                         !fh_map_get(s->resolver, to)))
            return fh_set_error(FH_E_PARSE,
                                "%s:%ld:%d: field_resolver maps '%s' to '%s', which the line "
                                "also has",
                                s->path, s->lineno, key_column(text, len, key), key, to);
        if (json_object_set(dest, to, v) < 0)
            return fh_set_error(FH_E_NOMEM, "%s:%ld: out of memory", s->path, s->lineno);
    }
    return 0;
}

/* Finds which field of FIELDS fh_doc_from_jansson refuses, to point the message at it:
 * only on the error path, so the cost of parsing each field alone does not matter. */
static int ndjson_field_error(ndjson_state *s, const char *text, size_t len, const json_t *j,
                              json_t *fields, int rc)
{
    const char *to;
    json_t *v;
    json_object_foreach (fields, to, v) {
        json_t *one = json_object();
        fh_doc *d = NULL;
        int r = one && json_object_set(one, to, v) == 0 ? fh_doc_from_jansson(one, &d)
                                                         : FH_E_NOMEM;
        json_decref(one);
        fh_doc_destroy(&d);
        if (r == FH_E_NOMEM)
            break;
        if (r < 0) {
            /* The line may name it by its input name: find that for the column. */
            const char *from = to;
            const char *key;
            json_t *item;
            json_object_foreach ((json_t *)j, key, item) {
                if (item == v) {
                    from = key;
                    break;
                }
            }
            char msg[768];
            snprintf(msg, sizeof msg, "%s", fh_last_error());
            return fh_set_error(r, "%s:%ld:%d: %s", s->path, s->lineno,
                                key_column(text, len, from), msg);
        }
    }
    char msg[768];
    snprintf(msg, sizeof msg, "%s", fh_last_error());
    return fh_set_error(rc, "%s:%ld:1: %s", s->path, s->lineno, msg);
}

/* Parses one non-blank line into a document. */
static int ndjson_line(ndjson_state *s, const char *text, size_t len, fh_doc **out)
{
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!j)
        return fh_set_error(FH_E_PARSE, "%s:%ld:%d: %s", s->path, s->lineno,
                            jerr.column > 0 ? jerr.column : 1, jerr.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return fh_set_error(FH_E_TYPE, "%s:%ld:1: a document must be a JSON object", s->path,
                            s->lineno);
    }
    int rc;
    fh_doc *d = NULL;
    json_t *fields = json_object(), *extra = json_object();
    if (!fields || !extra) {
        rc = fh_set_error(FH_E_NOMEM, "%s:%ld: out of memory", s->path, s->lineno);
        goto done;
    }
    rc = ndjson_split(s, text, len, j, fields, extra);
    if (rc < 0)
        goto done;
    rc = fh_doc_from_jansson(fields, &d);
    if (rc < 0) {
        rc = rc == FH_E_NOMEM ? fh_set_error(rc, "%s:%ld: out of memory", s->path, s->lineno)
                              : ndjson_field_error(s, text, len, j, fields, rc);
        goto done;
    }
    if (json_object_size(extra) > 0) {
        fh_value *tags = fh_doc_tags(d);
        const char *key;
        json_t *v;
        json_object_foreach (extra, key, v) {
            if (fh_map_get(tags, key)) {
                rc = fh_set_error(FH_E_PARSE, "%s:%ld:%d: '%s' is both a field of the line "
                                  "and a key of its tags",
                                  s->path, s->lineno, key_column(text, len, key), key);
                goto done;
            }
            fh_value *tv = NULL;
            rc = fh_value_from_jansson(v, &tv);
            if (rc == 0)
                rc = fh_map_set(tags, key, tv);
            if (rc < 0) {
                char msg[768];
                snprintf(msg, sizeof msg, "%s", fh_last_error());
                rc = fh_set_error(rc, "%s:%ld:%d: %s", s->path, s->lineno,
                                  key_column(text, len, key), msg);
                goto done;
            }
        }
    }
    *out = d;
    d = NULL;
    rc = 1;
done:
    fh_doc_destroy(&d);
    json_decref(fields);
    json_decref(extra);
    json_decref(j);
    return rc;
}

static int ndjson_next(void *state, fh_doc **out)
{
    ndjson_state *s = state;
    for (;;) {
        const char *text;
        size_t len;
        int rc = fh_line_reader_next(&s->lines, &text, &len);
        if (rc != 1) /* the end, an error, or FH_LINE_WAIT (= FH_SOURCE_WAIT) */
            return rc;
        s->lineno = s->lines.lineno;
        if (s->lineno == 1 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
            text += 3; /* a UTF-8 byte order mark, as some editors write */
            len -= 3;
        }
        if (!is_blank(text, len))
            return ndjson_line(s, text, len, out);
    }
}

_Static_assert(FH_LINE_WAIT == FH_SOURCE_WAIT, "the line reader's wait is the source's");

static int ndjson_wait_fd(void *state)
{
    ndjson_state *s = state;
    s->lines.nowait = true;
    return fileno(s->f);
}

static const fh_source_reader_ops ndjson_ops = {ndjson_next, ndjson_close, ndjson_wait_fd};

int fh_source_open_ndjson(const char *path, const fh_source_options *o, fh_source_reader *r)
{
    int rc = fh_source_check_resolver(path, o->field_resolver);
    if (rc < 0)
        return rc;
    ndjson_state *s = calloc(1, sizeof *s);
    if (!s)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    s->is_stdin = strcmp(path, "-") == 0;
    s->path = strdup(s->is_stdin ? "<stdin>" : path);
    if (o->field_resolver)
        s->resolver = fh_value_copy(o->field_resolver);
    if (!s->path || (o->field_resolver && !s->resolver)) {
        ndjson_close(s);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    }
    s->f = fh_open_input(path);
    if (!s->f) {
        int err = errno;
        ndjson_close(s);
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(err));
    }
    fh_line_reader_init(&s->lines, s->f, s->path,
                        o->max_line ? o->max_line : FH_SOURCE_DEFAULT_MAX_LINE);
    r->ops = &ndjson_ops;
    r->state = s;
    return 0;
}

/* ---- docstore ---- */

typedef struct docstore_state {
    fh_docstore *store; /* opened read-only */
    size_t pos;         /* the next position to read */
} docstore_state;

static int docstore_next(void *state, fh_doc **out)
{
    docstore_state *s = state;
    while (s->pos < fh_docstore_len(s->store)) {
        int rc = fh_docstore_get_at(s->store, s->pos++, out);
        /* A document deleted or replaced since the source opened, whose bytes its writer
         * gave back: it is no longer there to give. */
        if (rc == FH_E_NOTFOUND)
            continue;
        return rc < 0 ? rc : 1;
    }
    return 0;
}

static void docstore_close(void *state)
{
    docstore_state *s = state;
    if (!s)
        return;
    fh_docstore_close(&s->store);
    free(s);
}

static const fh_source_reader_ops docstore_ops = {docstore_next, docstore_close};

static int open_docstore(const char *path, fh_source_reader *r)
{
    docstore_state *s = calloc(1, sizeof *s);
    if (!s)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    int rc = fh_docstore_open(path, FH_DOCSTORE_READONLY, &s->store);
    if (rc < 0) {
        free(s);
        return rc;
    }
    r->ops = &docstore_ops;
    r->state = s;
    return 0;
}

/* ---- the source ---- */

static uint64_t fresh_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)(uintptr_t)&seed ^ (uint64_t)time(NULL); /* getrandom cannot fail
                                                                      for 8 bytes, but a
                                                                      seed is all we need */
    return seed ? seed : 1;
}

int fh_source_open(const char *path, fh_source_format format, const fh_source_options *o,
                   fh_source **out)
{
    if (!path || !out)
        return fh_set_error(FH_E_INVAL, "fh_source_open: NULL argument");
    fh_source_options defaults;
    if (!o) {
        fh_source_options_init(&defaults);
        o = &defaults;
    }
    if (!(o->sampling_rate >= 0.0 && o->sampling_rate <= 1.0)) /* NaN fails too */
        return fh_set_error(FH_E_INVAL, "%s: sampling_rate must be in (0, 1], not %g", path,
                            o->sampling_rate);
    if (format == FH_FORMAT_AUTO) {
        format = fh_source_format_of(path);
        if (format == FH_FORMAT_AUTO)
            return fh_set_error(FH_E_INVAL,
                                "%s: cannot tell the format from the name (*.csv, *.ndjson, "
                                "*.jsonl, *.npy, a glob pattern, a docstore directory or "
                                "'-'); name it",
                                path);
    }
    uint64_t seed = o->seed ? o->seed : fresh_seed();
    fh_source *s = calloc(1, sizeof *s);
    if (!s)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    s->size = o->size;
    s->sampling_rate = o->sampling_rate > 0.0 ? o->sampling_rate : 1.0;
    s->rng = seed;
    /* The shuffle gets its own stream, so that sampling does not change with it. */
    uint64_t mix = seed ^ 0x5DEECE66DULL;
    uint64_t shuffle_seed = fh_splitmix64(&mix);
    int rc;
    switch (format) {
    case FH_FORMAT_NDJSON:
        rc = fh_source_open_ndjson(path, o, &s->reader);
        break;
    case FH_FORMAT_CSV:
        rc = fh_source_open_csv(path, o, &s->reader);
        break;
    case FH_FORMAT_FILES:
        rc = fh_source_open_files(path, o, &s->reader);
        break;
    case FH_FORMAT_NPY:
        rc = fh_source_open_npy(path, o, shuffle_seed, &s->reader);
        break;
    case FH_FORMAT_DOCSTORE:
        rc = open_docstore(path, &s->reader);
        break;
    default:
        rc = fh_set_error(FH_E_INVAL, "%s: unknown source format %d", path, (int)format);
        break;
    }
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int fh_source_next(fh_source *s, fh_doc **out)
{
    if (!s || !out)
        return fh_set_error(FH_E_INVAL, "fh_source_next: NULL argument");
    if (s->size && s->given >= s->size)
        return 0;
    for (;;) {
        fh_doc *d = NULL;
        int rc = s->reader.ops->next(s->reader.state, &d);
        if (rc != 1) /* the end, an error, or FH_SOURCE_WAIT */
            return rc;
        if (s->sampling_rate < 1.0) {
            /* 53 random bits: a uniform double in [0, 1). */
            double u = (double)(fh_splitmix64(&s->rng) >> 11) * 0x1.0p-53;
            if (u >= s->sampling_rate) {
                fh_doc_destroy(&d);
                continue;
            }
        }
        s->given++;
        *out = d;
        return 1;
    }
}

int fh_source_wait_fd(fh_source *s)
{
    if (!s || !s->reader.ops->wait_fd)
        return -1;
    return s->reader.ops->wait_fd(s->reader.state);
}

int fh_source_input(void *source, fh_doc **out)
{
    return fh_source_next(source, out);
}

void fh_source_close(fh_source **s)
{
    if (!s || !*s)
        return;
    (*s)->reader.ops->close((*s)->reader.state);
    free(*s);
    *s = NULL;
}

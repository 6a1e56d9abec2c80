/* Files source (Jina's from_files): every regular file matching a glob pattern is a
 * document, in sorted order. `**` as a whole path segment matches any number of
 * directories, as Python's glob(recursive=True): the pattern docs, **, *.txt (joined
 * with slashes) finds the .txt files in docs and below. As with glob, '*' and '?' do not match a leading '.', and `**`
 * does not enter hidden directories or follow symbolic links to directories (so that a
 * link cycle cannot loop).
 *
 * The walk collects the paths at open (so that a pattern matching nothing fails there
 * and the order is known); the contents are read one file per next().
 */
#define _GNU_SOURCE
#include "source_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flowhost/error.h>

/* A file larger than this is refused rather than read into memory. */
#define FILES_MAX_SIZE ((size_t)256 << 20)
/* Directories deeper than this below the pattern's start are not entered. */
#define FILES_MAX_DEPTH 128

typedef struct files_state {
    char **paths;      /* the matches, sorted */
    size_t n;          /* their number */
    size_t cap;        /* capacity of PATHS */
    size_t next;       /* the next to read */
    fh_read_mode mode; /* what a document gets */
} files_state;

typedef struct walk_ctx {
    char **segs;       /* the pattern's segments */
    size_t nsegs;
    files_state *out;  /* where matches go */
    int error;         /* FH_E_NOMEM when an allocation failed, FH_E_IO (message set) when
                          a directory could not be read through */
} walk_ctx;

static bool has_glob_chars(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static void add_path(walk_ctx *c, const char *path)
{
    files_state *s = c->out;
    if (c->error)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **p = realloc(s->paths, cap * sizeof *p);
        if (!p) {
            c->error = FH_E_NOMEM;
            return;
        }
        s->paths = p;
        s->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) {
        c->error = FH_E_NOMEM;
        return;
    }
    s->paths[s->n++] = copy;
}

/* DIR + "/" + NAME in a new string ("" as DIR is the current directory); NULL when out
 * of memory. */
static char *join(const char *dir, const char *name)
{
    char *p;
    if (!*dir)
        return strdup(name);
    size_t dl = strlen(dir);
    if (asprintf(&p, "%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", name) < 0)
        return NULL;
    return p;
}

/* The next entry of the directory D (named DIR), or NULL at its end or on an error,
 * which goes to C: a directory that cannot be read through must not pass for a shorter
 * one, or its files would be left out in silence. (One that cannot be opened at all is
 * skipped, as glob does.) */
static struct dirent *next_entry(walk_ctx *c, DIR *d, const char *dir)
{
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e && errno && !c->error)
        c->error = fh_set_error(FH_E_IO, "%s: cannot read the directory: %s", *dir ? dir : ".",
                                strerror(errno));
    return e;
}

static bool is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode); /* a link to a file counts */
}

static bool is_dir(const char *path, bool follow)
{
    struct stat st;
    return (follow ? stat(path, &st) : lstat(path, &st)) == 0 && S_ISDIR(st.st_mode);
}

/* Every regular file under DIR, not entering hidden directories. */
static void walk_all(walk_ctx *c, const char *dir, int depth)
{
    if (depth > FILES_MAX_DEPTH)
        return;
    DIR *d = opendir(*dir ? dir : ".");
    if (!d)
        return; /* unreadable: skipped, as glob does */
    struct dirent *e;
    while (!c->error && (e = next_entry(c, d, dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *child = join(dir, e->d_name);
        if (!child) {
            c->error = FH_E_NOMEM;
            break;
        }
        if (is_dir(child, false))
            walk_all(c, child, depth + 1);
        else if (is_regular(child))
            add_path(c, child);
        free(child);
    }
    closedir(d);
}

/* Matches segments I.. of the pattern below DIR. */
static void walk(walk_ctx *c, const char *dir, size_t i, int depth)
{
    if (c->error || i >= c->nsegs || depth > FILES_MAX_DEPTH)
        return;
    const char *seg = c->segs[i];
    bool last = i + 1 == c->nsegs;
    if (strcmp(seg, "**") == 0) {
        if (last) {
            walk_all(c, dir, depth);
            return;
        }
        walk(c, dir, i + 1, depth); /* zero directories */
        DIR *d = opendir(*dir ? dir : ".");
        if (!d)
            return;
        struct dirent *e;
        while (!c->error && (e = next_entry(c, d, dir)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char *child = join(dir, e->d_name);
            if (!child) {
                c->error = FH_E_NOMEM;
                break;
            }
            if (is_dir(child, false))
                walk(c, child, i, depth + 1); /* one more directory */
            free(child);
        }
        closedir(d);
        return;
    }
    if (!has_glob_chars(seg)) {
        char *child = join(dir, seg);
        if (!child) {
            c->error = FH_E_NOMEM;
            return;
        }
        if (last ? is_regular(child) : false)
            add_path(c, child);
        else if (!last && is_dir(child, true))
            walk(c, child, i + 1, depth + 1);
        free(child);
        return;
    }
    DIR *d = opendir(*dir ? dir : ".");
    if (!d)
        return;
    struct dirent *e;
    while (!c->error && (e = next_entry(c, d, dir)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (fnmatch(seg, e->d_name, FNM_PERIOD) != 0)
            continue;
        char *child = join(dir, e->d_name);
        if (!child) {
            c->error = FH_E_NOMEM;
            break;
        }
        if (last) {
            if (is_regular(child))
                add_path(c, child);
        } else if (is_dir(child, true)) {
            walk(c, child, i + 1, depth + 1);
        }
        free(child);
    }
    closedir(d);
}

static int cmp_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void files_close(void *state)
{
    files_state *s = state;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s);
}

/* A mime type for a few common extensions; NULL when unknown. */
static const char *mime_of(const char *path)
{
    static const struct {
        const char *ext;
        const char *mime;
    } types[] = {
        {".txt", "text/plain"},       {".md", "text/markdown"},     {".json", "application/json"},
        {".csv", "text/csv"},         {".html", "text/html"},       {".htm", "text/html"},
        {".png", "image/png"},        {".jpg", "image/jpeg"},       {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},        {".pdf", "application/pdf"},  {".wav", "audio/wav"},
        {".mp3", "audio/mpeg"},       {".mp4", "video/mp4"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot)
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].mime;
    return NULL;
}

/* The byte offset of the first byte that is not valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), or LEN when all is valid. */
static size_t utf8_invalid_at(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        size_t n;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            n = 1;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 2;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3;
            cp = b & 0x07;
        } else {
            return i;
        }
        if (len - i - 1 < n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += n + 1;
    }
    return len;
}

/* Reads PATH whole into a new buffer (NUL added) the caller frees. */
static int read_whole(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fh_set_error(FH_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > FILES_MAX_SIZE) {
        close(fd);
        return fh_set_error(FH_E_RANGE, "%s: %lld bytes, more than the %zu MiB a file may have",
                            path, (long long)st.st_size, FILES_MAX_SIZE >> 20);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < size) { /* a file that shrinks meanwhile gives what it has */
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            free(buf);
            close(fd);
            return fh_set_error(FH_E_IO, "%s: %s", path, strerror(err));
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

static int files_next(void *state, fh_doc **out)
{
    files_state *s = state;
    if (s->next >= s->n)
        return 0;
    const char *path = s->paths[s->next++];
    char *data = NULL;
    size_t len = 0;
    if (s->mode != FH_READ_URI) {
        int rc = read_whole(path, &data, &len);
        if (rc < 0)
            return rc;
        if (s->mode == FH_READ_TEXT) {
            size_t bad = memchr(data, '\0', len) ? (size_t)((char *)memchr(data, '\0', len) - data)
                                                 : utf8_invalid_at((unsigned char *)data, len);
            if (bad < len) {
                free(data);
                return fh_set_error(FH_E_PARSE, "%s: not text (offset %zu is not UTF-8 text; "
                                    "use bytes)", path, bad);
            }
        }
    }
    fh_doc *d = fh_doc_new();
    int rc = d ? fh_doc_set_uri(d, path) : FH_E_NOMEM;
    const char *mime = mime_of(path);
    if (rc == 0 && mime)
        rc = fh_doc_set_mime_type(d, mime);
    if (rc == 0 && s->mode == FH_READ_TEXT)
        rc = fh_doc_set_text(d, data);
    else if (rc == 0 && s->mode == FH_READ_BYTES && len > 0 && (rc = fh_doc_take_blob(d, data, len)) == 0)
        data = NULL; /* the document's now */
    free(data);
    if (rc < 0) {
        fh_doc_destroy(&d);
        return fh_set_error(rc, "%s: out of memory", path);
    }
    *out = d;
    return 1;
}

static const fh_source_reader_ops files_ops = {files_next, files_close};

int fh_source_open_files(const char *pattern, const fh_source_options *o, fh_source_reader *r)
{
    if (!*pattern)
        return fh_set_error(FH_E_INVAL, "files: empty pattern");
    if (o->read_mode != FH_READ_URI && o->read_mode != FH_READ_TEXT &&
        o->read_mode != FH_READ_BYTES)
        return fh_set_error(FH_E_INVAL, "%s: unknown read_mode %d", pattern, (int)o->read_mode);
    files_state *s = calloc(1, sizeof *s);
    char *copy = strdup(pattern);
    size_t maxsegs = 1;
    for (const char *p = pattern; *p; p++)
        maxsegs += *p == '/';
    char **segs = calloc(maxsegs, sizeof *segs);
    if (!s || !copy || !segs) {
        free(s);
        free(copy);
        free(segs);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", pattern);
    }
    s->mode = o->read_mode;
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, "**") == 0 && n && strcmp(segs[n - 1], "**") == 0)
            continue; /* two ** in a row are one */
        segs[n++] = tok;
    }
    walk_ctx c = {.segs = segs, .nsegs = n, .out = s};
    walk(&c, pattern[0] == '/' ? "/" : "", 0, 0);
    free(segs);
    free(copy);
    if (c.error) {
        files_close(s);
        return c.error == FH_E_NOMEM ? fh_set_error(FH_E_NOMEM, "%s: out of memory", pattern)
                                     : c.error;
    }
    if (s->n == 0) {
        files_close(s);
        return fh_set_error(FH_E_NOTFOUND, "no file matches '%s'", pattern);
    }
    qsort(s->paths, s->n, sizeof *s->paths, cmp_paths);
    /* Two `**` can reach one file along two ways: keep it once. */
    size_t kept = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->paths[i], s->paths[kept - 1]) == 0)
            free(s->paths[i]);
        else
            s->paths[kept++] = s->paths[i];
    }
    s->n = kept;
    r->ops = &files_ops;
    r->state = s;
    return 0;
}

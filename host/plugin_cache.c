/* The plugin scan cache: a text file, one line per scanned file:
 *   DEV INO SIZE MTIME_S MTIME_NS CTIME_S CTIME_NS STATUS<TAB>PATH[<TAB>TYPE...]
 *                                                        (STATUS P: a plugin)
 *   DEV INO SIZE MTIME_S MTIME_NS CTIME_S CTIME_NS STATUS<TAB>PATH<TAB>REASON
 *                                                        (N: not one, A: another ABI)
 * The change time is in the key because the others can stay the same over a new content:
 * a file rewritten in place (same device and inode) whose size did not change and whose
 * modification time was set back (cp -p, rsync -t, tar x, touch -r). Nothing sets a
 * change time back: every write, rename or chmod moves it on. A rolling reload must
 * find the types of the files as they are now.
 * Only answers that the file's content decides are kept: a library that could not be
 * opened (its dependencies may be found through another LD_LIBRARY_PATH, or installed
 * later) or whose scan failed (a crash, a deadline) is scanned again next time. A line
 * that does not parse is skipped. */
#define _GNU_SOURCE
#include "plugin_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flowhost/error.h>
#include <flowhost/executor.h>

/* A cache file larger than this is not read (it is rewritten by the next scan). */
#define CACHE_MAX_BYTES (16 << 20)

typedef struct entry {
    char *path;
    uintmax_t dev, ino;
    intmax_t size, mtime_s, mtime_ns, ctime_s, ctime_ns;
    fh_scan_result scan;
} entry;

struct fh_plugin_cache {
    char *dir;  /* NULL: no cache */
    char *file;
    entry *entries;
    size_t n, cap;
    bool dirty;
};

static void entry_key(entry *e, const struct stat *st)
{
    e->dev = (uintmax_t)st->st_dev;
    e->ino = (uintmax_t)st->st_ino;
    e->size = (intmax_t)st->st_size;
    e->mtime_s = (intmax_t)st->st_mtim.tv_sec;
    e->mtime_ns = (intmax_t)st->st_mtim.tv_nsec;
    e->ctime_s = (intmax_t)st->st_ctim.tv_sec;
    e->ctime_ns = (intmax_t)st->st_ctim.tv_nsec;
}

static bool entry_matches(const entry *e, const struct stat *st)
{
    entry k;
    entry_key(&k, st);
    return e->dev == k.dev && e->ino == k.ino && e->size == k.size && e->mtime_s == k.mtime_s &&
           e->mtime_ns == k.mtime_ns && e->ctime_s == k.ctime_s && e->ctime_ns == k.ctime_ns;
}

static void entry_free(entry *e)
{
    free(e->path);
    fh_scan_result_clear(&e->scan);
}

/* Appends E (taking what it holds). 0 or FH_E_NOMEM (E freed). */
static int append(fh_plugin_cache *c, entry *e)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        entry *grown = realloc(c->entries, cap * sizeof *grown);
        if (grown == NULL) {
            entry_free(e);
            return FH_E_NOMEM;
        }
        c->entries = grown;
        c->cap = cap;
    }
    c->entries[c->n++] = *e;
    return 0;
}

static entry *find_path(const fh_plugin_cache *c, const char *path)
{
    for (size_t i = c->n; i-- > 0;) /* the later line of a path wins */
        if (strcmp(c->entries[i].path, path) == 0)
            return &c->entries[i];
    return NULL;
}

/* Parses one line (its newline removed) into *E: 0, or -1 when it does not parse. A
 * line is believed only within the bounds of a scan (plugin_scan.h: FH_MAX_TYPES types of
 * FH_SCAN_MAX_NAME bytes, a reason of FH_SCAN_MAX_REASON) and a path of PATH_MAX. */
static int parse_line(char *line, entry *e)
{
    memset(e, 0, sizeof *e);
    char status;
    int used = 0;
    if (sscanf(line, "%ju %ju %jd %jd %jd %jd %jd %c%n", &e->dev, &e->ino, &e->size,
               &e->mtime_s, &e->mtime_ns, &e->ctime_s, &e->ctime_ns, &status, &used) != 8 ||
        line[used] != '\t')
        return -1;
    char *save = NULL;
    char *path = strtok_r(line + used + 1, "\t", &save);
    if (path == NULL || strlen(path) >= PATH_MAX || (e->path = strdup(path)) == NULL)
        return -1;
    if (status == 'P') {
        e->scan.status = FH_SCAN_PLUGIN;
        for (char *t; (t = strtok_r(NULL, "\t", &save)) != NULL;) {
            if (e->scan.n_types == FH_MAX_TYPES || strlen(t) > FH_SCAN_MAX_NAME)
                goto bad;
            if (e->scan.types == NULL &&
                (e->scan.types = calloc(FH_MAX_TYPES, sizeof *e->scan.types)) == NULL)
                goto bad;
            if ((e->scan.types[e->scan.n_types] = strdup(t)) == NULL)
                goto bad;
            e->scan.n_types++;
        }
        return 0;
    }
    if (status != 'N' && status != 'A')
        goto bad;
    e->scan.status = status == 'N' ? FH_SCAN_NONE : FH_SCAN_OTHER_ABI;
    char *reason = strtok_r(NULL, "", &save);
    if ((reason && strlen(reason) > FH_SCAN_MAX_REASON) ||
        (e->scan.reason = strdup(reason ? reason : "")) == NULL)
        goto bad;
    return 0;
bad:
    entry_free(e);
    return -1;
}

static void load(fh_plugin_cache *c)
{
    FILE *f = fopen(c->file, "r");
    if (f == NULL)
        return;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > CACHE_MAX_BYTES) {
        fclose(f);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (c->n < FH_PLUGIN_CACHE_MAX_ENTRIES && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* a cut last line */
        line[len - 1] = '\0';
        entry e;
        if (parse_line(line, &e) == 0 && append(c, &e) != 0)
            break;
    }
    free(line);
    fclose(f);
}

fh_plugin_cache *fh_plugin_cache_open(void)
{
    fh_plugin_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int rc = 0;
    if (xdg != NULL && xdg[0] == '/')
        rc = asprintf(&c->dir, "%s/flowhost", xdg);
    else if (home != NULL && home[0] == '/')
        rc = asprintf(&c->dir, "%s/.cache/flowhost", home);
    /* v2: the files of older versions also hold answers that the environment decided. */
    if (rc < 0 || (c->dir != NULL && asprintf(&c->file, "%s/plugin-scan-v3-abi%d", c->dir,
                                              FH_ABI_MAJOR) < 0)) {
        free(c->dir);
        free(c);
        return NULL;
    }
    if (c->file != NULL)
        load(c);
    return c;
}

const fh_scan_result *fh_plugin_cache_find(const fh_plugin_cache *c, const char *path,
                                           const struct stat *st)
{
    const entry *e = find_path(c, path);
    return e != NULL && entry_matches(e, st) ? &e->scan : NULL;
}

static bool holds_separator(const char *s)
{
    return s != NULL && strpbrk(s, "\t\n") != NULL;
}

int fh_plugin_cache_put(fh_plugin_cache *c, const char *path, const struct stat *st,
                        const fh_scan_result *r)
{
    if (r->status != FH_SCAN_PLUGIN && r->status != FH_SCAN_NONE &&
        r->status != FH_SCAN_OTHER_ABI)
        return 0; /* not an answer about the file: scanned again next time */
    bool clean = !holds_separator(path) && strlen(path) < PATH_MAX &&
                 r->n_types <= FH_MAX_TYPES &&
                 (r->reason == NULL || strlen(r->reason) <= FH_SCAN_MAX_REASON);
    for (size_t i = 0; clean && i < r->n_types; i++)
        clean = !holds_separator(r->types[i]) && r->types[i][0] != '\0' &&
                strlen(r->types[i]) <= FH_SCAN_MAX_NAME;
    if (!clean)
        return 0;
    entry e = {0};
    entry_key(&e, st);
    e.scan.status = r->status;
    if ((e.path = strdup(path)) == NULL ||
        (r->reason && (e.scan.reason = strdup(r->reason)) == NULL) ||
        (r->n_types && (e.scan.types = calloc(r->n_types, sizeof *e.scan.types)) == NULL))
        goto nomem;
    for (char *p = e.scan.reason; p && (p = strpbrk(p, "\t\n")) != NULL;)
        *p = ' '; /* a reason is one field of one line */
    for (; e.scan.n_types < r->n_types; e.scan.n_types++)
        if ((e.scan.types[e.scan.n_types] = strdup(r->types[e.scan.n_types])) == NULL)
            goto nomem;
    entry *old = find_path(c, path);
    if (old != NULL) {
        entry_free(old);
        *old = e;
    } else if (append(c, &e) != 0) {
        return FH_E_NOMEM;
    }
    c->dirty = true;
    return 0;
nomem:
    entry_free(&e);
    return FH_E_NOMEM;
}

static void write_entry(FILE *f, const entry *e)
{
    fprintf(f, "%ju %ju %jd %jd %jd %jd %jd %c\t%s", e->dev, e->ino, e->size, e->mtime_s,
            e->mtime_ns, e->ctime_s, e->ctime_ns,
            e->scan.status == FH_SCAN_PLUGIN ? 'P' : e->scan.status == FH_SCAN_NONE ? 'N' : 'A',
            e->path);
    if (e->scan.status == FH_SCAN_PLUGIN)
        for (size_t i = 0; i < e->scan.n_types; i++)
            fprintf(f, "\t%s", e->scan.types[i]);
    else
        fprintf(f, "\t%s", e->scan.reason ? e->scan.reason : "");
    fputc('\n', f);
}

int fh_plugin_cache_save(fh_plugin_cache *c)
{
    if (c->file == NULL || !c->dirty)
        return 0;
    /* $XDG_CACHE_HOME may not exist yet: make it and ours, private. */
    char *slash = strrchr(c->dir, '/');
    if (slash != NULL && slash != c->dir) {
        *slash = '\0';
        (void)mkdir(c->dir, 0700);
        *slash = '/';
    }
    if (mkdir(c->dir, 0700) != 0 && errno != EEXIST)
        return FH_E_IO;
    char *tmp;
    if (asprintf(&tmp, "%s.XXXXXX", c->file) < 0)
        return FH_E_NOMEM;
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return FH_E_IO;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct stat st;
        const entry *e = &c->entries[i];
        if (find_path(c, e->path) == e && stat(e->path, &st) == 0 && entry_matches(e, &st))
            write_entry(f, e);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, c->file) != 0) {
        unlink(tmp);
        free(tmp);
        return FH_E_IO;
    }
    free(tmp);
    c->dirty = false;
    return 0;
}

void fh_plugin_cache_close(fh_plugin_cache **c)
{
    if (c == NULL || *c == NULL)
        return;
    for (size_t i = 0; i < (*c)->n; i++)
        entry_free(&(*c)->entries[i]);
    free((*c)->entries);
    free((*c)->dir);
    free((*c)->file);
    free(*c);
    *c = NULL;
}

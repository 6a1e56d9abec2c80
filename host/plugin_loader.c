/* dlopen, descriptor checks and the search of the plugin path. */
#define _GNU_SOURCE
#include "plugin_loader.h"

#include <stdbool.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin_cache.h"
#include "plugin_scan.h"

/* The bindings of T as FH_REQUESTS and FH_HANDLER make them; a descriptor written by hand
 * or by another tool gets a clear error instead of a worker that misroutes or crashes. */
static int check_bindings(const fh_executor_type *t, const char *path)
{
    for (size_t i = 0; t->bindings[i].handler != NULL; i++) {
        const fh_binding *b = &t->bindings[i];
        if (i == FH_MAX_BINDINGS)
            return fh_set_error(FH_E_ABI, "%s: executor type '%s' has more than %d bindings",
                                path, t->name, FH_MAX_BINDINGS);
        if (b->handler_name == NULL || b->handler_name[0] == '\0')
            return fh_set_error(FH_E_ABI,
                                "%s: executor type '%s': binding #%zu has no handler name", path,
                                t->name, i);
        bool listed = b->kind == FH_BIND_ENDPOINTS;
        if (!listed && b->kind != FH_BIND_DEFAULT && b->kind != FH_BIND_NONE)
            return fh_set_error(FH_E_ABI,
                                "%s: executor type '%s': handler '%s' has binding kind %u", path,
                                t->name, b->handler_name, (unsigned)b->kind);
        if (listed != (b->endpoints[0] != NULL))
            return fh_set_error(FH_E_ABI, "%s: executor type '%s': handler '%s' %s", path,
                                t->name, b->handler_name,
                                listed ? "is bound to an empty list of endpoints"
                                       : "lists endpoints in a binding without endpoints");
        for (size_t k = 0; k < FH_MAX_ENDPOINTS && b->endpoints[k] != NULL; k++)
            if (b->endpoints[k][0] != '/')
                return fh_set_error(FH_E_ABI,
                                    "%s: executor type '%s': endpoint '%s' of handler '%s' does "
                                    "not start with '/'",
                                    path, t->name, b->endpoints[k], b->handler_name);
    }
    return 0;
}

int fh_plugin_check_descriptor(const fh_plugin_descriptor *d, const char *path)
{
    if (d->magic != FH_PLUGIN_MAGIC)
        return fh_set_error(FH_E_PLUGIN, "%s: not a flowhost plugin (bad descriptor magic)", path);
    if (d->abi_major != FH_ABI_MAJOR)
        return fh_set_error(FH_E_ABI,
                            "%s: plugin built for flowhost ABI %u.%u, this flowhost runs ABI %d.%d",
                            path, d->abi_major, d->abi_minor, FH_ABI_MAJOR, FH_ABI_MINOR);
    if (d->struct_size < offsetof(fh_plugin_descriptor, reserved) || d->types == NULL)
        return fh_set_error(FH_E_ABI, "%s: malformed plugin descriptor", path);
    for (size_t i = 0; d->types[i] != NULL; i++) {
        if (i == FH_MAX_TYPES)
            return fh_set_error(FH_E_ABI, "%s: more than %d executor types", path, FH_MAX_TYPES);
        const fh_executor_type *t = d->types[i];
        if (t->struct_size < offsetof(fh_executor_type, reserved) || t->name == NULL ||
            t->bindings == NULL)
            return fh_set_error(FH_E_ABI, "%s: malformed executor type #%zu", path, i);
        int rc = check_bindings(t, path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Opens PATH and stores its checked descriptor in *DESC and the handle in *DL.
 * Returns 0 or a negative code with the error set (nothing stays open then). */
static int open_plugin(const char *path, void **dl, const fh_plugin_descriptor **desc)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fh_set_error(FH_E_NOTFOUND, "%s: %s", path, strerror(errno));
    *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*dl == NULL)
        return fh_set_error(FH_E_PLUGIN, "cannot load plugin: %s", dlerror());
    const fh_plugin_descriptor *d = dlsym(*dl, FH_PLUGIN_SYMBOL);
    int rc = d == NULL ? fh_set_error(FH_E_PLUGIN,
                                      "%s: not a flowhost plugin (no '%s' symbol: use FH_PLUGIN)",
                                      path, FH_PLUGIN_SYMBOL)
                       : fh_plugin_check_descriptor(d, path);
    if (rc != 0) {
        dlclose(*dl);
        *dl = NULL;
        return rc;
    }
    *desc = d;
    return 0;
}

static const fh_executor_type *find_type(const fh_plugin_descriptor *d, const char *type)
{
    for (size_t i = 0; d->types[i] != NULL; i++)
        if (strcmp(d->types[i]->name, type) == 0)
            return d->types[i];
    return NULL;
}

/* "A, B, C" of the types in D. */
static void list_types(const fh_plugin_descriptor *d, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; d->types[i] != NULL && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", d->types[i]->name);
}

static int load_from_file(const char *path, const char *type, fh_loaded_type *out)
{
    void *dl;
    const fh_plugin_descriptor *d = NULL;
    int rc = open_plugin(path, &dl, &d);
    if (rc != 0)
        return rc;
    const fh_executor_type *t = NULL;
    char names[512];
    list_types(d, names, sizeof names);
    if (type != NULL) {
        t = find_type(d, type);
        if (t == NULL) {
            dlclose(dl);
            return fh_set_error(FH_E_NOTFOUND, "%s has no executor type '%s' (it has: %s)",
                                path, type, names);
        }
    } else if (d->types[0] != NULL && d->types[1] == NULL) {
        t = d->types[0];
    } else {
        const char *how_many = d->types[0] ? "several" : "no"; /* d is gone after dlclose */
        dlclose(dl);
        return fh_set_error(FH_E_NOTFOUND,
                            "%s holds %s executor types (%s): name one with uses: {jtype: ...}",
                            path, how_many, names);
    }
    out->type = t;
    out->dl = dl;
    out->path = strdup(path);
    return out->path ? 0 : fh_set_error(FH_E_NOMEM, "out of memory");
}

static int is_so(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 3 && strcmp(e->d_name + n - 3, ".so") == 0;
}

/* Why the search passed over each library that holds no type, for the "not found" error:
 * a plugin of another ABI, one that cannot be opened here or whose scan failed must not
 * look like a type that is nowhere. Those come first, the libraries that are no plugin at
 * all after them; bounded (the error goes through 512-byte reports), the rest counted. */
#define NOTES_MAX 16
/* The whole "not found" error is kept under this (a worker's reason reaches `flowhost
 * post --flow` in a report of 512 bytes, after "executor 'NAME' failed to start: "). */
#define NOT_FOUND_MAX 420
typedef struct search_notes {
    char text[NOTES_MAX][160]; /* "a.so: why", the file's name only (its folder is listed) */
    bool first[NOTES_MAX];     /* shown before the libraries that are no plugin */
    size_t n;
    size_t more; /* libraries left out */
} search_notes;

static void note_skipped(search_notes *notes, const fh_scan_result *r, const char *path)
{
    bool first = r->status != FH_SCAN_NONE;
    size_t i = notes->n;
    if (i == NOTES_MAX) { /* full: a note that comes first takes the place of one that does not */
        notes->more++;
        while (i > 0 && notes->first[i - 1])
            i--;
        if (!first || i-- == 0)
            return;
    } else {
        notes->n++;
    }
    const char *name = strrchr(path, '/');
    snprintf(notes->text[i], sizeof notes->text[i], "%.40s: %.110s", name ? name + 1 : path,
             r->reason ? r->reason : "");
    notes->first[i] = first;
}

/* "; skipped: a.so: why; b.so: why; and 2 more" of NOTES in OUT, in about ROOM bytes
 * (SIZE > ROOM + 32). */
static void list_skipped(const search_notes *notes, size_t room, char *out, size_t size)
{
    size_t used = 0, more = notes->more;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < notes->n; i++) {
            if (notes->first[i] != (pass == 0))
                continue;
            size_t len = strlen(notes->text[i]);
            if (used + len + 12 > room) {
                more++;
                continue;
            }
            used += (size_t)snprintf(out + used, size - used, "%s%s",
                                     used ? "; " : "; skipped: ", notes->text[i]);
        }
    if (more)
        snprintf(out + used, size - used, "%sand %zu more", used ? "; " : "; skipped: ", more);
}

static bool scan_holds(const fh_scan_result *r, const char *type)
{
    for (size_t i = 0; r->status == FH_SCAN_PLUGIN && i < r->n_types; i++)
        if (strcmp(r->types[i], type) == 0)
            return true;
    return false;
}

/* Looks for TYPE among the plugins of DIR: 1 found (OUT filled), 0 not there, or a
 * negative code when the file that holds TYPE cannot be loaded (that error is the one
 * the user needs, not "not found"). DIR/TYPE.so is opened directly; every other .so is
 * asked by a scanner process (or CACHE, when it knows the file as it is now) which types
 * it holds, and only the one that holds TYPE is opened here. */
static int search_dir(const char *dir, const char *type, fh_plugin_cache *cache,
                      search_notes *notes, fh_loaded_type *out)
{
    char path[4096], direct[4096];
    snprintf(direct, sizeof direct, "%s/%s.so", dir, type);
    struct stat st;
    if (stat(direct, &st) == 0) {
        int rc = load_from_file(direct, type, out);
        if (rc == 0)
            return 1;
        if (rc != FH_E_NOTFOUND)
            return rc;
    }
    struct dirent **list;
    int n = scandir(dir, &list, is_so, alphasort);
    int found = 0, timeout_ms = fh_plugin_scan_timeout_ms();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        free(list[i]);
        if (found != 0 || strcmp(path, direct) == 0 || stat(path, &st) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        const fh_scan_result *r = cache ? fh_plugin_cache_find(cache, path, &st) : NULL;
        fh_scan_result fresh = {0};
        if (r == NULL) {
            int rc = fh_plugin_scan(path, timeout_ms, &fresh);
            if (rc != 0) {
                found = rc; /* no scanner, no search: that error is the answer */
                continue;
            }
            if (cache != NULL)
                (void)fh_plugin_cache_put(cache, path, &st, &fresh); /* else: scan again */
            r = &fresh;
        }
        if (r->status != FH_SCAN_PLUGIN)
            note_skipped(notes, r, path);
        if (scan_holds(r, type)) {
            int rc = load_from_file(path, type, out);
            found = rc == 0 ? 1 : rc;
        }
        fh_scan_result_clear(&fresh);
    }
    if (n >= 0)
        free(list);
    return found;
}

int fh_plugin_load(const char *plugin, const char *type, char *const *dirs, size_t n_dirs,
                   fh_loaded_type *out)
{
    memset(out, 0, sizeof *out);
    if (plugin != NULL && plugin[0] != '\0')
        return load_from_file(plugin, type, out);
    if (type == NULL || type[0] == '\0')
        return 0; /* the built-in pass-through */
    /* No cache (none configured, out of memory) only means scanning every time. */
    fh_plugin_cache *cache = fh_plugin_cache_open();
    search_notes notes = {.n = 0, .more = 0};
    int rc = 0;
    for (size_t i = 0; i < n_dirs && rc == 0; i++)
        rc = search_dir(dirs[i], type, cache, &notes, out);
    if (cache != NULL)
        (void)fh_plugin_cache_save(cache); /* a cache that cannot be written costs a rescan */
    fh_plugin_cache_close(&cache);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    char where[1024];
    size_t used = 0;
    where[0] = '\0';
    for (size_t i = 0; i < n_dirs && used < sizeof where; i++)
        used += (size_t)snprintf(where + used, sizeof where - used, "%s%s", i ? ":" : "", dirs[i]);
    char base[NOT_FOUND_MAX + 1024], skipped[NOT_FOUND_MAX + 32];
    int len = snprintf(base, sizeof base,
                       "executor type '%s' not found on the plugin path (%s); set "
                       "with.plugin_path or FLOWHOST_PLUGIN_PATH, or give uses a .so path",
                       type, n_dirs ? where : "empty");
    size_t room = len > 0 && len + 80 < NOT_FOUND_MAX ? NOT_FOUND_MAX - (size_t)len : 80;
    list_skipped(&notes, room, skipped, sizeof skipped);
    return fh_set_error(FH_E_NOTFOUND, "%s%s", base, skipped);
}

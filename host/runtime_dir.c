/* Private runtime directories: see runtime_dir.h. */
#define _GNU_SOURCE
#include "runtime_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flowhost/error.h>

#define PREFIX "flowhost-"
#define SUFFIX_LEN 6 /* mkdtemp's XXXXXX */
/* In each directory: the pid of the flow that made it. Written once the directory is
 * locked, so that a sweep (which looks only at directories that hold one) never takes a
 * directory that is still being set up, nor one made by a flowhost without the lock. */
#define OWNER_FILE "flowhost.pid"

/* Removing one tree touches at most this many entries: a process still writing inside
 * (a plugin's leftover child) cannot keep a removal going forever. */
#define MAX_ENTRIES (1L << 24)

struct fh_runtime_dir {
    char *path; /* BASE/flowhost-XXXXXX */
    int fd;     /* the directory, open and flock'ed while the flow runs */
};

/* ---- removal without following links --------------------------------------------- */

/* One directory on the way down from the top: where it is, to check the way back up. */
typedef struct level {
    char *name; /* in its parent */
    dev_t dev;
    ino_t ino;
} level;

/* Removes NAME from the directory DIR, a non-directory (link, file, socket, FIFO).
 * Returns 0 (also when it is already gone), 1 when NAME is a directory, -1 on failure. */
static int unlink_entry(int dir, const char *name)
{
    if (unlinkat(dir, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno == EISDIR) /* Linux's answer for a directory */
        return 1;
    if (errno == EACCES || errno == EPERM) {
        /* A folder the flow made read-only: ours, so make it writable again. */
        struct stat st;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            return 1;
        if (fchmod(dir, S_IRWXU) == 0 && unlinkat(dir, name, 0) == 0)
            return 0;
    }
    return -1;
}

/* Opens the directory NAME inside DIR without following a symlink and checks that it is
 * on device DEV. Returns the descriptor, or -1. */
static int open_subdir(int dir, const char *name, dev_t dev, struct stat *st)
{
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd = openat(dir, name, flags);
    if (fd < 0 && errno == EACCES && fchmodat(dir, name, S_IRWXU, AT_SYMLINK_NOFOLLOW) == 0)
        fd = openat(dir, name, flags); /* a folder the flow made unreadable */
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISDIR(st->st_mode) || st->st_dev != dev) {
        /* Another file system mounted inside: not ours to empty. */
        close(fd);
        errno = EXDEV;
        return -1;
    }
    return fd;
}

/* Is NAME in DIR (not followed) still the directory DEV:INO? */
static bool same_dir(int dir, const char *name, dev_t dev, ino_t ino)
{
    struct stat st;
    return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
           st.st_dev == dev && st.st_ino == ino;
}

/* Removes everything inside the directory open as TOP (which stays open and is not
 * removed itself) but its entry KEEP. It holds at most three descriptors whatever the depth: it goes down
 * with openat(O_NOFOLLOW) and back up with "..", checking that ".." is the directory
 * it came from (a tree moved while it works makes it stop, not wander). Returns 0, or
 * -1 when something could not be removed. */
static int empty_tree(int top, const char *keep)
{
    struct stat st;
    if (fstat(top, &st) != 0)
        return -1;
    dev_t dev = st.st_dev;
    ino_t top_ino = st.st_ino;
    level *stack = NULL;
    size_t depth = 0, cap = 0;
    long entries = 0;
    int cur = dup(top);
    int rc = cur < 0 ? -1 : 0;
    while (rc == 0) {
        /* Scan CUR: remove what is not a directory, go down into the first directory. */
        int scan = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = scan < 0 ? NULL : fdopendir(scan);
        if (!d) {
            if (scan >= 0)
                close(scan);
            rc = -1;
            break;
        }
        int child = -1;
        char *child_name = NULL;
        struct dirent *e;
        while (rc == 0 && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
                (depth == 0 && !strcmp(e->d_name, keep)))
                continue;
            if (++entries > MAX_ENTRIES) {
                rc = -1;
                break;
            }
            int r = unlink_entry(cur, e->d_name);
            if (r < 0) {
                rc = -1;
            } else if (r == 1) {
                child = open_subdir(cur, e->d_name, dev, &st);
                child_name = child >= 0 ? strdup(e->d_name) : NULL;
                if (!child_name)
                    rc = -1;
                break;
            }
        }
        closedir(d);
        if (rc != 0) {
            if (child >= 0)
                close(child);
            free(child_name);
            break;
        }
        if (child >= 0) {
            if (depth == cap) {
                size_t c = cap ? cap * 2 : 16;
                level *s = realloc(stack, c * sizeof *s);
                if (!s) {
                    close(child);
                    free(child_name);
                    rc = -1;
                    break;
                }
                stack = s;
                cap = c;
            }
            stack[depth++] = (level){.name = child_name, .dev = st.st_dev, .ino = st.st_ino};
            close(cur);
            cur = child;
            continue;
        }
        /* CUR is empty. */
        if (depth == 0)
            break;
        int parent = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat ps;
        dev_t want_dev = depth >= 2 ? stack[depth - 2].dev : dev;
        ino_t want_ino = depth >= 2 ? stack[depth - 2].ino : top_ino;
        level *me = &stack[depth - 1];
        if (parent < 0 || fstat(parent, &ps) != 0 || ps.st_dev != want_dev ||
            ps.st_ino != want_ino || !same_dir(parent, me->name, me->dev, me->ino) ||
            unlinkat(parent, me->name, AT_REMOVEDIR) != 0) {
            if (parent >= 0)
                close(parent);
            rc = -1;
            break;
        }
        free(me->name);
        depth--;
        close(cur);
        cur = parent;
    }
    if (cur >= 0)
        close(cur);
    for (size_t i = 0; i < depth; i++)
        free(stack[i].name);
    free(stack);
    return rc;
}

/* Empties the runtime directory open as FD, its owner file last (so that what a failure
 * leaves is still seen as a runtime directory by a later sweep), then removes it as NAME
 * of the directory BASE (a descriptor, or AT_FDCWD with NAME a path) if NAME still is
 * that directory. Returns 0 or -1. */
static int remove_tree(int base, const char *name, int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || empty_tree(fd, OWNER_FILE) != 0)
        return -1;
    if (unlinkat(fd, OWNER_FILE, 0) != 0 && errno != ENOENT)
        return -1;
    if (!same_dir(base, name, st.st_dev, st.st_ino))
        return -1;
    return unlinkat(base, name, AT_REMOVEDIR);
}

/* ---- stale directories ------------------------------------------------------------ */

/* flowhost-XXXXXX, as mkdtemp makes them (letters and digits). */
static bool is_runtime_name(const char *name)
{
    size_t n = strlen(PREFIX);
    if (strncmp(name, PREFIX, n) != 0 || strlen(name) != n + SUFFIX_LEN)
        return false;
    for (const char *p = name + n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

int fh_runtime_dir_sweep(const char *base)
{
    int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0)
        return -1;
    int scan = openat(bfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = scan < 0 ? NULL : fdopendir(scan);
    if (!d) {
        int err = errno;
        if (scan >= 0)
            close(scan);
        close(bfd);
        errno = err;
        return -1;
    }
    uid_t me = geteuid();
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_runtime_name(e->d_name))
            continue;
        struct stat st, fst;
        if (fstatat(bfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
            st.st_uid != me)
            continue;
        int fd = openat(bfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        /* What was opened is what was checked: not swapped in between. */
        struct stat own;
        bool ours = fstat(fd, &fst) == 0 && fst.st_dev == st.st_dev &&
                    fst.st_ino == st.st_ino && fst.st_uid == me &&
                    fstatat(fd, OWNER_FILE, &own, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISREG(own.st_mode);
        /* A running flow holds the lock, from before it wrote its owner file. */
        if (ours && flock(fd, LOCK_EX | LOCK_NB) == 0 && remove_tree(bfd, e->d_name, fd) == 0)
            removed++;
        close(fd); /* releases the lock */
    }
    closedir(d);
    close(bfd);
    return removed;
}

/* ---- the flow's own ------------------------------------------------------------------ */

static const char *runtime_base(void)
{
    const char *base = getenv("XDG_RUNTIME_DIR");
    if (base == NULL || base[0] != '/' || access(base, W_OK) != 0)
        base = "/tmp";
    return base;
}

/* Writes the owner file into the directory FD: "PID\n". */
static int write_owner(int fd)
{
    int f = openat(fd, OWNER_FILE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f < 0)
        return -1;
    char line[32];
    int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    int rc = write(f, line, (size_t)n) == n ? 0 : -1;
    int err = errno;
    close(f);
    errno = err;
    return rc;
}

int fh_runtime_dir_create(fh_runtime_dir **out)
{
    *out = NULL;
    const char *base = runtime_base();
    fh_runtime_dir_sweep(base);
    fh_runtime_dir *d = calloc(1, sizeof *d);
    if (!d || asprintf(&d->path, "%s/" PREFIX "XXXXXX", base) < 0) {
        free(d);
        return fh_set_error(FH_E_NOMEM, "out of memory");
    }
    /* mkdtemp makes the directory with mode 0700 and never reuses an existing name. Lock
     * first, then write the owner file: a sweep looks only at directories that have one,
     * so it never sees this one unlocked. */
    int err = 0;
    if (mkdtemp(d->path) == NULL) {
        err = errno;
    } else if ((d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
               flock(d->fd, LOCK_EX | LOCK_NB) != 0 || write_owner(d->fd) != 0) {
        err = errno;
        if (d->fd >= 0) {
            unlinkat(d->fd, OWNER_FILE, 0);
            close(d->fd);
        }
        rmdir(d->path);
    } else {
        *out = d;
        return 0;
    }
    int rc = fh_set_error(FH_E_IO, "cannot create a runtime directory in %s: %s", base,
                          strerror(err));
    free(d->path);
    free(d);
    return rc;
}

const char *fh_runtime_dir_path(const fh_runtime_dir *d)
{
    return d->path;
}

void fh_runtime_dir_remove(fh_runtime_dir **dp)
{
    fh_runtime_dir *d = dp ? *dp : NULL;
    if (!d)
        return;
    /* Through the descriptor held since creation: the path is looked at only to remove
     * the (then empty) directory itself, and only if it still names it. */
    remove_tree(AT_FDCWD, d->path, d->fd);
    close(d->fd);
    free(d->path);
    free(d);
    *dp = NULL;
}

/* The docstore: an on-disk array of documents (Jina's DocumentArrayMemmap).
 *
 * Layout. A docstore is a directory holding
 *   docs.log       the append-only log: a 16-byte header, then records (the format is in
 *                  docstore_internal.h, reading it in docstore_scan.c);
 *   docs.lock      an empty file a writer holds flock(LOCK_EX) on (readers take no lock);
 *   docs.reserve   space a writer keeps for deletes on a full disk (see Space);
 *   docs.log.tmp   only while the log is being created or rewritten.
 * The lock sits on its own file, not on the log, because a rewrite renames a new log
 * over the old one: a lock on the old log's inode would stop protecting anything.
 *
 * Files. The directory is opened once; every file in it is opened relative to that
 * descriptor with O_NOFOLLOW and must be a regular file, and a writer refuses a log with
 * other hard links. A temporary file is made with O_EXCL after removing any old one, and
 * renamed into place, so in a directory others can write to (a shared workspace) no
 * planted link makes a docstore write somewhere else, and docs.log never becomes a link.
 *
 * Crash safety. A record is written by one write() on an O_APPEND descriptor, built whole
 * in one buffer first, so a killed writer leaves at most one partial record at the tail,
 * which the next writer cuts away (docstore_scan.c tells it from damage). When a write
 * fails half-way the log is truncated back to where it was, so a later record never lands
 * after garbage; if even that fails the handle refuses further writes (FH_E_IO) until it
 * is reopened. A new log is made as docs.log.tmp and renamed into place, so a log always
 * has its header.
 *
 * Space. A delete must work on a full disk, or no space could ever be recovered, so a
 * writer keeps docs.reserve allocated (FH_DS_RESERVE_BYTES) and frees it when a delete
 * or a compaction finds the disk full. The document bytes of a record that a delete or a
 * replace superseded are given back to the file system (FALLOC_FL_PUNCH_HOLE, the file
 * keeps its length) once the superseding record is on disk: batched (64 MiB) behind one
 * fdatasync, at fh_docstore_sync, at close, and at once when space is short (less free
 * than a batch, a write found the disk full, or the reserve is spent). The scan
 * knows such a record by its header and id, still intact, and a later record of the same
 * id. Records whose documents are smaller than two blocks are left to compaction.
 *
 * A handle is not thread-safe: one thread at a time.
 */
#define _GNU_SOURCE /* fallocate, FALLOC_FL_* */
#include "codec.h"
#include "docstore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/error.h>

/* Pending punches are done once they hold this many bytes. */
#define FH_DS_PUNCH_BATCH ((uint64_t)64 << 20)

/* ---- small file helpers ---- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads up to N bytes at OFF; returns how many (short only at end of file), -1 on error. */
static ssize_t pread_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + 1 + b + 1);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

static uint32_t new_salt(void)
{
    uint32_t salt;
    if (getrandom(&salt, sizeof salt, 0) != (ssize_t)sizeof salt)
        salt = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16; /* getrandom does not fail
                                                                   for 4 bytes */
    return salt;
}

/* Opens NAME in the docstore's directory, never through a symbolic link, and only when
 * it is a regular file (a FIFO planted there does not block the open: O_NONBLOCK, cleared
 * after). WRITER: refuse a file with other hard links, whose writes would show elsewhere.
 * Returns the descriptor, or FH_E_NOTFOUND (no such file), FH_E_IO with the message set. */
static int open_in_dir(const fh_docstore *s, const char *name, int flags, bool writer)
{
    int fd = openat(s->dir_fd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
    if (fd < 0) {
        if (errno == ENOENT)
            return fh_set_error(FH_E_NOTFOUND, "%s/%s: %s", s->dir, name, strerror(errno));
        if (errno == ELOOP)
            return fh_set_error(FH_E_IO, "%s/%s: a symbolic link: refused (a docstore's files "
                                "must be regular files in its directory)", s->dir, name);
        return fh_set_error(FH_E_IO, "%s/%s: %s", s->dir, name, strerror(errno));
    }
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    const char *why = NULL;
    if (fstat(fd, &st) < 0 || fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file: refused";
    else if (writer && st.st_nlink > 1)
        why = "has other hard links: refused for writing (its writes would show under "
              "another name)";
    if (why) {
        close(fd);
        return fh_set_error(FH_E_IO, "%s/%s: %s", s->dir, name, why);
    }
    return fd;
}

/* A new empty file NAME in the directory (an old one, or a link of that name, removed
 * first; O_EXCL so that nothing planted meanwhile is followed). Returns the descriptor or
 * FH_E_IO. */
static int create_in_dir(const fh_docstore *s, const char *name, int flags)
{
    if (unlinkat(s->dir_fd, name, 0) < 0 && errno != ENOENT)
        return fh_set_error(FH_E_IO, "%s/%s: %s", s->dir, name, strerror(errno));
    int fd = openat(s->dir_fd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        return fh_set_error(FH_E_IO, "%s/%s: %s", s->dir, name, strerror(errno));
    return fd;
}

/* ---- the reserve ---- */

/* Gives docs.reserve its bytes again, when it lacks them: best effort. */
static void reserve_fill(fh_docstore *s)
{
    if (s->reserve_fd >= 0 && !s->reserve_held &&
        posix_fallocate(s->reserve_fd, 0, FH_DS_RESERVE_BYTES) == 0)
        s->reserve_held = true;
}

/* Opens (or makes) docs.reserve and fills it: best effort, a writer works without it. */
static void reserve_open(fh_docstore *s)
{
    int fd = open_in_dir(s, FH_DS_RESERVE, O_RDWR | O_CREAT, true);
    if (fd < 0 && fd != FH_E_NOTFOUND)
        fd = create_in_dir(s, FH_DS_RESERVE, O_RDWR); /* a link or a stranger's file */
    if (fd < 0)
        return;
    s->reserve_fd = fd;
    reserve_fill(s);
}

/* Frees docs.reserve's blocks for a write that found the disk full. Returns true when
 * there was something to free. */
static bool reserve_release(fh_docstore *s)
{
    struct stat st;
    if (s->reserve_fd < 0 || fstat(s->reserve_fd, &st) < 0 || st.st_blocks == 0)
        return false;
    s->reserve_held = false;
    return ftruncate(s->reserve_fd, 0) == 0;
}

/* ---- giving back the space of superseded documents ---- */

/* Punches the pending records (their superseding records are on disk: the caller synced). */
static void punch_run(fh_docstore *s)
{
    for (size_t i = 0; i < s->n_punches && !s->no_punch; i++) {
        if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)s->punches[i].off, (off_t)s->punches[i].len) < 0 &&
            (errno == EOPNOTSUPP || errno == ENOSYS))
            s->no_punch = true; /* this file system cannot: compaction will */
    }
    s->n_punches = 0;
    s->punch_bytes = 0;
    reserve_fill(s);
}

/* Makes the log durable, then punches. Returns 0 or FH_E_IO (nothing punched). A failed
 * fdatasync is also kept for the next fh_docstore_sync: the kernel reports a lost write
 * to a descriptor once, and this one would otherwise have taken it. */
static int punch_flush(fh_docstore *s)
{
    if (!s->n_punches)
        return 0;
    if (fdatasync(s->fd) < 0) {
        s->sync_errno = errno;
        return fh_set_error(FH_E_IO, "%s: fdatasync: %s", s->log_path, strerror(errno));
    }
    punch_run(s);
    return 0;
}

/* Queues the document bytes of entries[K]'s record (about to be superseded) for punching. */
static void punch_add(fh_docstore *s, size_t k)
{
    const struct ds_entry *e = &s->index.entries[k];
    if (s->no_punch || s->readonly || s->version != FH_DS_V2)
        return;
    uint64_t id_len = strlen(e->id);
    uint64_t start = e->off + FH_DS_V2_HEADER + id_len;
    uint64_t len = e->size - FH_DS_V2_HEADER - id_len;
    if (len < 2 * s->blksize)
        return; /* no whole block to give back */
    if (!s->punches && !(s->punches = malloc(FH_DS_MAX_PUNCHES * sizeof *s->punches)))
        return;
    if (s->n_punches == FH_DS_MAX_PUNCHES && punch_flush(s) < 0)
        return;
    s->punches[s->n_punches++] = (struct ds_punch){.off = start, .len = len};
    s->punch_bytes += len;
    /* Batched, so that a delete costs no fdatasync; but at once when the file system
     * is short of space (less free than a batch, or the reserve spent): that is when
     * the space is wanted, and a batch must not hold back more than there is. */
    struct statvfs vfs;
    if (s->punch_bytes >= FH_DS_PUNCH_BATCH || !s->reserve_held ||
        (fstatvfs(s->fd, &vfs) == 0 &&
         (uint64_t)vfs.f_bavail * vfs.f_frsize < FH_DS_PUNCH_BATCH))
        (void)punch_flush(s); /* a failed fdatasync leaves them for later */
}

/* ---- creating, checking and cutting the log ---- */

/* Makes an empty log: written as docs.log.tmp, then renamed, so that docs.log always
 * has its header. Caller holds the lock. */
static int create_log(fh_docstore *s)
{
    int fd = create_in_dir(s, FH_DS_TMP, O_WRONLY);
    if (fd < 0)
        return fd;
    uint8_t hdr[FH_DS_HEADER_SIZE];
    fh_ds_file_header(hdr, FH_DS_V2, new_salt());
    if (write_all(fd, hdr, sizeof hdr) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlinkat(s->dir_fd, FH_DS_TMP, 0);
        return fh_set_error(FH_E_IO, "%s/%s: %s", s->dir, FH_DS_TMP, strerror(e));
    }
    close(fd);
    if (renameat(s->dir_fd, FH_DS_TMP, s->dir_fd, FH_DS_LOG) < 0) {
        int e = errno;
        unlinkat(s->dir_fd, FH_DS_TMP, 0);
        return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(e));
    }
    if (fsync(s->dir_fd) < 0)
        return fh_set_error(FH_E_IO, "%s: %s", s->dir, strerror(errno));
    return 0;
}

/* Reads the file header: format version and salt. */
static int read_file_header(fh_docstore *s)
{
    uint8_t hdr[FH_DS_HEADER_SIZE];
    ssize_t got = pread_full(s->fd, hdr, sizeof hdr, 0);
    if (got < 0)
        return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
    if (got < (ssize_t)sizeof hdr || memcmp(hdr, FH_DS_FILE_MAGIC, 8) != 0)
        return fh_set_error(FH_E_PARSE, "%s: not a docstore", s->dir);
    s->version = fh_ds_get_u32(hdr + 8);
    if (s->version != FH_DS_V1 && s->version != FH_DS_V2)
        return fh_set_error(FH_E_PARSE, "%s: docstore format version %u, this build reads 1 "
                            "and 2", s->dir, s->version);
    s->salt = s->version == FH_DS_V2 ? fh_ds_get_u32(hdr + 12) : 0;
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
    s->blksize = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
    return 0;
}

/* The open's error for a scan that found damage. */
static int damage_error(const fh_docstore *s, const struct ds_scan *sc)
{
    const struct ds_finding *f = NULL;
    for (size_t i = 0; i < sc->n_findings && !f; i++)
        if (sc->findings[i].kind == FH_DOCSTORE_DAMAGED)
            f = &sc->findings[i];
    if (!f) /* cannot be: n_damaged counts kept findings first */
        return fh_set_error(FH_E_PARSE, "%s: damaged", s->log_path);
    return fh_set_error(FH_E_PARSE,
                        "%s: damage at offset %llu: %s%s%s%s (%zu damaged place%s in all; "
                        "`flowhost docstore repair %s` drops %s)",
                        s->log_path, (unsigned long long)f->off, f->id ? "document '" : "",
                        f->id ? f->id : "", f->id ? "': " : "", f->what, sc->n_damaged,
                        sc->n_damaged == 1 ? "" : "s", s->dir,
                        sc->n_damaged == 1 ? "it" : "them");
}

int fh_ds_cut_tail(fh_docstore *s)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
    if ((uint64_t)st.st_size <= s->end)
        return 0;
    if (ftruncate(s->fd, (off_t)s->end) < 0 || fsync(s->fd) < 0)
        return fh_set_error(FH_E_IO, "%s: cannot cut the unfinished last record: %s",
                            s->log_path, strerror(errno));
    return 0;
}

/* ---- opening and closing ---- */

/* Opens PATH as the directory of S, making it with CREATE. */
static int open_dir(fh_docstore *s, const char *path, bool create)
{
    s->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0 && errno == ENOENT) {
        if (!create)
            return fh_set_error(FH_E_NOTFOUND, "%s: no docstore (no such directory)", path);
        if (mkdir(path, 0777) < 0 && errno != EEXIST)
            return fh_set_error(FH_E_IO, "%s: cannot make the directory: %s", path,
                                strerror(errno));
        s->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (s->dir_fd < 0)
        return errno == ENOTDIR
                   ? fh_set_error(FH_E_PARSE, "%s: not a docstore (not a directory)", path)
                   : fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    return 0;
}

/* Takes the writer's lock and removes a temp file a crash left. */
static int lock_dir(fh_docstore *s)
{
    s->lock_fd = open_in_dir(s, FH_DS_LOCK, O_RDWR | O_CREAT, false);
    if (s->lock_fd < 0) {
        int rc = s->lock_fd;
        s->lock_fd = -1;
        return rc;
    }
    while (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK
                   ? fh_set_error(FH_E_STATE, "%s: in use by another process", s->dir)
                   : fh_set_error(FH_E_IO, "%s/%s: cannot lock: %s", s->dir, FH_DS_LOCK,
                                  strerror(errno));
    }
    if (unlinkat(s->dir_fd, FH_DS_TMP, 0) < 0 && errno != ENOENT)
        return fh_set_error(FH_E_IO, "%s/%s: %s", s->dir, FH_DS_TMP, strerror(errno));
    /* A repair that stopped between keeping the old log (a second name for it) and
     * putting the new one in place left docs.log with two links: it is still the old log,
     * whole, and the second name goes. */
    struct stat log_st, old_st;
    if (fstatat(s->dir_fd, FH_DS_LOG, &log_st, AT_SYMLINK_NOFOLLOW) == 0 &&
        fstatat(s->dir_fd, FH_DS_BEFORE_REPAIR, &old_st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(log_st.st_mode) && log_st.st_nlink == 2 && log_st.st_dev == old_st.st_dev &&
        log_st.st_ino == old_st.st_ino && unlinkat(s->dir_fd, FH_DS_BEFORE_REPAIR, 0) < 0)
        return fh_set_error(FH_E_IO, "%s/%s: %s", s->dir, FH_DS_BEFORE_REPAIR, strerror(errno));
    return 0;
}

/* Opens docs.log (making it with CREATE). */
static int open_log(fh_docstore *s, bool create)
{
    int flags = s->readonly ? O_RDONLY : O_RDWR | O_APPEND;
    s->fd = open_in_dir(s, FH_DS_LOG, flags, !s->readonly);
    if (s->fd == FH_E_NOTFOUND && create) {
        int rc = create_log(s);
        if (rc < 0) {
            s->fd = -1;
            return rc;
        }
        s->fd = open_in_dir(s, FH_DS_LOG, flags, true);
    }
    if (s->fd < 0) {
        int rc = s->fd;
        s->fd = -1;
        return rc == FH_E_NOTFOUND
                   ? fh_set_error(FH_E_NOTFOUND, "%s: no docstore (no %s)", s->dir, FH_DS_LOG)
                   : rc;
    }
    return read_file_header(s);
}

int fh_ds_open(const char *path, int flags, enum ds_open_mode mode, fh_docstore **out,
               struct ds_scan *scan)
{
    if (out)
        *out = NULL;
    if (scan)
        memset(scan, 0, sizeof *scan);
    if (!path || !*path || !out || (flags & ~(FH_DOCSTORE_CREATE | FH_DOCSTORE_READONLY)))
        return fh_set_error(FH_E_INVAL, "fh_docstore_open: invalid argument");
    bool create = flags & FH_DOCSTORE_CREATE, readonly = flags & FH_DOCSTORE_READONLY;
    if (create && readonly)
        return fh_set_error(FH_E_INVAL, "%s: a docstore cannot be created read-only", path);

    fh_docstore *s = calloc(1, sizeof *s);
    if (!s)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    s->dir_fd = s->fd = s->lock_fd = s->reserve_fd = -1;
    s->readonly = readonly;
    s->dir = strdup(path);
    s->log_path = join_path(path, FH_DS_LOG);
    struct ds_scan local, *sc = scan ? scan : &local;
    memset(sc, 0, sizeof *sc);
    int rc = 0;
    if (!s->dir || !s->log_path) {
        rc = fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    rc = open_dir(s, path, create);
    if (rc < 0)
        goto fail;
    /* Look before making a lock file, so that a failed open leaves nothing behind. */
    struct stat st;
    if (!create && fstatat(s->dir_fd, FH_DS_LOG, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = errno == ENOENT
                 ? fh_set_error(FH_E_NOTFOUND, "%s: no docstore (no %s)", path, FH_DS_LOG)
                 : fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
        goto fail;
    }
    if (!readonly && (rc = lock_dir(s)) < 0)
        goto fail;
    if ((rc = open_log(s, create)) < 0 || (rc = fh_ds_scan(s, sc)) < 0)
        goto fail;
    if (mode == DS_OPEN_STRICT && sc->n_damaged) {
        rc = damage_error(s, sc);
        goto fail;
    }
    if (!readonly) {
        reserve_open(s);
        if (mode == DS_OPEN_STRICT) {
            rc = s->version == FH_DS_V1 ? fh_ds_rewrite(s, false) : fh_ds_cut_tail(s);
            if (rc < 0) {
                if (s->version == FH_DS_V1) {
                    char msg[768];
                    snprintf(msg, sizeof msg, "%s", fh_last_error());
                    rc = fh_set_error(rc, "%s: cannot upgrade the docstore to format 2 "
                                      "(readers still read it): %s", path, msg);
                }
                goto fail;
            }
        }
    }
    fh_ds_index_squeeze(&s->index);
    if (sc == &local)
        fh_ds_scan_free(sc);
    *out = s;
    return 0;

fail:
    if (sc == &local)
        fh_ds_scan_free(sc);
    fh_docstore_close(&s);
    return rc;
}

int fh_docstore_open(const char *path, int flags, fh_docstore **out)
{
    return fh_ds_open(path, flags, DS_OPEN_STRICT, out, NULL);
}

void fh_docstore_close(fh_docstore **sp)
{
    if (!sp || !*sp)
        return;
    fh_docstore *s = *sp;
    if (s->fd >= 0) {
        /* No way to report a failure here: fh_docstore_sync is for that. */
        if ((s->dirty || s->n_punches) && fsync(s->fd) == 0)
            punch_run(s);
        close(s->fd);
    }
    if (s->reserve_fd >= 0)
        close(s->reserve_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    fh_ds_index_free(&s->index);
    free(s->punches);
    free(s->dir);
    free(s->log_path);
    free(s);
    *sp = NULL;
}

size_t fh_docstore_len(const fh_docstore *s)
{
    return s ? s->index.n_live : 0;
}

/* ---- writing ---- */

static int check_writable(const fh_docstore *s)
{
    if (s->readonly)
        return fh_set_error(FH_E_STATE, "%s: opened read-only", s->dir);
    if (s->broken)
        return fh_set_error(FH_E_IO, "%s: a failed write could not be undone; reopen the "
                                     "docstore", s->dir);
    return 0;
}

/* Appends one record (whole, in REC) at s->end. On failure the log is cut back to
 * s->end, so that no later record follows a partial one. When the disk is full the
 * pending punches are done first, then (USE_RESERVE: a delete) docs.reserve is freed,
 * each followed by one more try. */
static int append_record(fh_docstore *s, const uint8_t *rec, size_t n, bool use_reserve)
{
    bool punched = false, released = false;
    for (;;) {
        if (write_all(s->fd, rec, n) == 0) {
            s->end += n;
            s->dirty = true;
            return 0;
        }
        int e = errno;
        while (ftruncate(s->fd, (off_t)s->end) < 0) {
            if (errno != EINTR) {
                s->broken = true;
                break;
            }
        }
        if ((e == ENOSPC || e == EDQUOT) && !s->broken) {
            if (!punched && s->n_punches) {
                punched = true;
                if (punch_flush(s) == 0)
                    continue;
            }
            if (use_reserve && !released) {
                released = true;
                if (reserve_release(s))
                    continue;
            }
        }
        return fh_set_error(FH_E_IO, "%s: cannot write: %s", s->log_path, strerror(e));
    }
}

int fh_docstore_put(fh_docstore *s, const fh_doc *d)
{
    if (!s || !d)
        return fh_set_error(FH_E_INVAL, "fh_docstore_put: invalid argument");
    int rc = check_writable(s);
    if (rc < 0)
        return rc;
    const Flowhost__Document *doc = FH_PB_CDOC(d);
    const char *id = doc->id ? doc->id : "";
    size_t id_len = strlen(id);
    if (id_len > FH_DS_MAX_ID)
        return fh_set_error(FH_E_INVAL, "%s: document id longer than %u bytes", s->dir,
                            FH_DS_MAX_ID);
    size_t doc_len = protobuf_c_message_get_packed_size(&doc->base);
    if (doc_len > FH_DS_MAX_PAYLOAD - id_len)
        return fh_set_error(FH_E_INVAL, "%s: document %s is %zu bytes, more than the %u a "
                            "docstore record holds", s->dir, id, doc_len, FH_DS_MAX_PAYLOAD);

    uint64_t h = fh_ds_hash(id, id_len);
    size_t k = fh_ds_index_lookup(&s->index, id, id_len, h);
    char *copy = NULL;
    if (k == SIZE_MAX) {
        copy = strdup(id);
        if (!copy || fh_ds_index_reserve(&s->index) < 0) {
            free(copy);
            return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
        }
    }
    size_t n;
    uint8_t *rec = fh_ds_record_build(s->salt, id, id_len, doc, doc_len, &n);
    if (!rec) {
        free(copy);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory for a %zu-byte record", s->dir,
                            doc_len);
    }
    uint64_t off = s->end;
    rc = append_record(s, rec, n, false);
    free(rec);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    if (copy) {
        fh_ds_index_append(&s->index, copy, h, off, (uint32_t)n);
    } else {
        punch_add(s, k);
        fh_ds_index_replace(&s->index, k, off, (uint32_t)n);
    }
    return 0;
}

int fh_docstore_delete(fh_docstore *s, const char *id)
{
    if (!s || !id)
        return fh_set_error(FH_E_INVAL, "fh_docstore_delete: invalid argument");
    int rc = check_writable(s);
    if (rc < 0)
        return rc;
    size_t id_len = strlen(id);
    size_t k = fh_ds_index_lookup(&s->index, id, id_len, fh_ds_hash(id, id_len));
    if (k == SIZE_MAX)
        return fh_set_error(FH_E_NOTFOUND, "%s: no document %s", s->dir, id);
    size_t n;
    uint8_t *rec = fh_ds_record_build(s->salt, id, id_len, NULL, 0, &n);
    if (!rec)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
    rc = append_record(s, rec, n, true);
    free(rec);
    if (rc < 0)
        return rc;
    punch_add(s, k);
    fh_ds_index_remove(&s->index, k);
    return 0;
}

int fh_docstore_sync(fh_docstore *s)
{
    if (!s)
        return fh_set_error(FH_E_INVAL, "fh_docstore_sync: invalid argument");
    if (s->readonly)
        return 0;
    int err = fsync(s->fd) < 0 ? errno : s->sync_errno;
    s->sync_errno = 0;
    if (err)
        return fh_set_error(FH_E_IO, "%s: fsync: %s", s->log_path, strerror(err));
    s->dirty = false;
    punch_run(s);
    return 0;
}

/* ---- reading ---- */

static bool all_zeros(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Reads and checks the record of entries[K] into BUF (its size). 0, or a negative code. */
static int read_record(fh_docstore *s, size_t k, uint8_t *buf, struct ds_head *h)
{
    const struct ds_entry *e = &s->index.entries[k];
    /* A reader may race the writer punching a record it superseded: look twice. */
    for (int attempt = 0;; attempt++) {
        ssize_t got = pread_full(s->fd, buf, e->size, e->off);
        if (got < 0)
            return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
        enum ds_verdict v = DS_DAMAGED;
        if ((size_t)got == e->size && fh_ds_head_parse(s->version, s->salt, buf, h) &&
            h->size == e->size)
            v = fh_ds_record_check(s->version, buf, h);
        if (v != DS_DAMAGED && (h->kind != FH_DS_PUT || h->id_len != strlen(e->id) ||
                                memcmp(buf + h->id_at, e->id, h->id_len) != 0))
            v = DS_DAMAGED; /* a good record, not the one the index knows */
        if (v == DS_GOOD)
            return 0;
        if (v == DS_DOC_DAMAGED && s->readonly && all_zeros(buf + h->doc_at, h->doc_len))
            return fh_set_error(FH_E_NOTFOUND, "%s: document %s was deleted or replaced "
                                "after this reader opened the docstore", s->dir, e->id);
        if (attempt == 1 || !s->readonly)
            return fh_set_error(FH_E_PARSE, "%s: damaged record at offset %llu (document "
                                "'%s')", s->log_path, (unsigned long long)e->off, e->id);
    }
}

/* Reads, checks and decodes the PUT record of entries[K]. */
static int read_doc(fh_docstore *s, size_t k, fh_doc **out)
{
    const struct ds_entry *e = &s->index.entries[k];
    uint8_t *buf = malloc(e->size);
    if (!buf)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory for a %u-byte record", s->dir,
                            e->size);
    struct ds_head h;
    int rc = read_record(s, k, buf, &h);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    Flowhost__Document *doc = (Flowhost__Document *)fh_pb_unpack(
        &flowhost__document__descriptor, buf + h.doc_at, h.doc_len);
    free(buf);
    if (!doc)
        return fh_set_error(FH_E_PARSE, "%s: the record at offset %llu holds no valid document",
                            s->log_path, (unsigned long long)e->off);
    *out = (fh_doc *)doc;
    return 0;
}

int fh_docstore_get(fh_docstore *s, const char *id, fh_doc **out)
{
    if (out)
        *out = NULL;
    if (!s || !id || !out)
        return fh_set_error(FH_E_INVAL, "fh_docstore_get: invalid argument");
    size_t id_len = strlen(id);
    size_t k = fh_ds_index_lookup(&s->index, id, id_len, fh_ds_hash(id, id_len));
    if (k == SIZE_MAX)
        return fh_set_error(FH_E_NOTFOUND, "%s: no document %s", s->dir, id);
    return read_doc(s, k, out);
}

int fh_docstore_get_at(fh_docstore *s, size_t pos, fh_doc **out)
{
    if (out)
        *out = NULL;
    if (!s || !out)
        return fh_set_error(FH_E_INVAL, "fh_docstore_get_at: invalid argument");
    if (pos >= s->index.n_live)
        return fh_set_error(FH_E_RANGE, "%s: position %zu, the docstore holds %zu", s->dir,
                            pos, s->index.n_live);
    fh_ds_index_squeeze(&s->index);
    return read_doc(s, pos, out);
}

/* ---- rewriting (compaction, upgrade, repair) ---- */

/* Writes N bytes to FD through the BUF of FILL used bytes (capacity CAP), flushing as
 * needed; big pieces go straight through. */
static int buffered_write(int fd, uint8_t *buf, size_t cap, size_t *fill, const uint8_t *p,
                          size_t n)
{
    if (*fill + n > cap) {
        if (write_all(fd, buf, *fill) < 0)
            return -1;
        *fill = 0;
    }
    if (n >= cap)
        return write_all(fd, p, n);
    memcpy(buf + *fill, p, n);
    *fill += n;
    return 0;
}

/* Copies every live record, in position order, to the new log FD as format 2 records
 * with SALT; fills OFFS and SIZES with their new places. Every record is checked on the
 * way: a rewrite never copies damage. On a write error *ERR gets errno. */
static int rewrite_copy(fh_docstore *s, int fd, uint32_t salt, uint64_t *offs,
                        uint32_t *sizes, int *err)
{
    enum { CAP = 1 << 20 };
    uint8_t *out = malloc(CAP), *rec = NULL;
    size_t rec_cap = 0, fill = 0;
    int rc = 0;
    if (!out)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
    uint8_t hdr[FH_DS_MAX_HEADER];
    fh_ds_file_header(hdr, FH_DS_V2, salt);
    uint64_t off = FH_DS_HEADER_SIZE;
    if (buffered_write(fd, out, CAP, &fill, hdr, FH_DS_HEADER_SIZE) < 0)
        goto write_error;
    for (size_t k = 0; k < s->index.n_entries; k++) {
        const struct ds_entry *e = &s->index.entries[k];
        if (e->size > rec_cap) {
            uint8_t *r = realloc(rec, e->size);
            if (!r) {
                rc = fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
                goto done;
            }
            rec = r;
            rec_cap = e->size;
        }
        struct ds_head h;
        rc = read_record(s, k, rec, &h);
        if (rc < 0)
            goto done;
        /* The id and the document are copied as they are; only a format 1 header, or a
         * new salt, needs a new header. */
        fh_ds_head_write(hdr, salt, FH_DS_PUT, h.id_len, h.doc_len,
                         fh_ds_crc32(0, rec + h.id_at, h.id_len),
                         s->version == FH_DS_V2 ? h.doc_crc
                                                : fh_ds_crc32(0, rec + h.doc_at, h.doc_len));
        offs[k] = off;
        sizes[k] = FH_DS_V2_HEADER + h.id_len + h.doc_len;
        off += sizes[k];
        if (buffered_write(fd, out, CAP, &fill, hdr, FH_DS_V2_HEADER) < 0 ||
            buffered_write(fd, out, CAP, &fill, rec + h.id_at, (size_t)h.id_len + h.doc_len) < 0)
            goto write_error;
    }
    if (write_all(fd, out, fill) < 0 || fsync(fd) < 0)
        goto write_error;
    goto done;
write_error:
    *err = errno;
    rc = fh_set_error(FH_E_IO, "%s/%s: %s", s->dir, FH_DS_TMP, strerror(errno));
done:
    free(out);
    free(rec);
    return rc;
}

/* The new log with its old one's permissions and, when we may, owner: a repair run by
 * root must not leave a log its flow cannot open. */
static void copy_mode(int from, int to)
{
    struct stat st;
    if (fstat(from, &st) == 0) {
        (void)fchmod(to, st.st_mode & 07777);
        if (fchown(to, st.st_uid, st.st_gid) < 0) {
            /* only root may change the owner: the log stays the caller's */
        }
    }
}

int fh_ds_rewrite(fh_docstore *s, bool keep_old)
{
    int rc = check_writable(s);
    if (rc < 0)
        return rc;
    fh_ds_index_squeeze(&s->index);
    (void)punch_flush(s); /* frees space the new log may need; failure costs only that */
    size_t n = s->index.n_entries ? s->index.n_entries : 1;
    uint64_t *offs = malloc(n * sizeof *offs);
    uint32_t *sizes = malloc(n * sizeof *sizes);
    if (!offs || !sizes) {
        free(offs);
        free(sizes);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
    }
    uint32_t salt = s->version == FH_DS_V2 ? s->salt : new_salt();
    int fd = -1;
    for (bool released = false;;) {
        /* The temp file is the new log's descriptor from the start: once renamed there is
         * no open() left that could fail. */
        fd = create_in_dir(s, FH_DS_TMP, O_RDWR | O_APPEND);
        if (fd < 0) {
            rc = fd;
            goto fail;
        }
        copy_mode(s->fd, fd);
        int err = 0;
        rc = rewrite_copy(s, fd, salt, offs, sizes, &err);
        if (rc == 0)
            break;
        close(fd);
        fd = -1;
        unlinkat(s->dir_fd, FH_DS_TMP, 0);
        if ((err != ENOSPC && err != EDQUOT) || released || !reserve_release(s))
            goto fail;
        released = true;
    }
    if (keep_old) {
        if ((unlinkat(s->dir_fd, FH_DS_BEFORE_REPAIR, 0) < 0 && errno != ENOENT) ||
            linkat(s->dir_fd, FH_DS_LOG, s->dir_fd, FH_DS_BEFORE_REPAIR, 0) < 0) {
            rc = fh_set_error(FH_E_IO, "%s/%s: %s", s->dir, FH_DS_BEFORE_REPAIR, strerror(errno));
            goto fail;
        }
    }
    if (renameat(s->dir_fd, FH_DS_TMP, s->dir_fd, FH_DS_LOG) < 0) {
        rc = fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
        if (keep_old) /* the log stays the old one: no second name for it */
            unlinkat(s->dir_fd, FH_DS_BEFORE_REPAIR, 0);
        goto fail;
    }
    /* Both logs hold the same documents, so if this directory sync fails and the rename
     * is lost in a crash, the old log comes back with the same contents: nothing to undo
     * and nothing to report. */
    (void)fsync(s->dir_fd);
    close(s->fd);
    s->fd = fd;
    uint64_t end = FH_DS_HEADER_SIZE;
    for (size_t k = 0; k < s->index.n_entries; k++) {
        s->index.entries[k].off = offs[k];
        s->index.entries[k].size = sizes[k];
        end += sizes[k];
    }
    free(offs);
    free(sizes);
    s->index.live_bytes = end - FH_DS_HEADER_SIZE;
    s->end = end;
    s->version = FH_DS_V2;
    s->salt = salt;
    s->dirty = false;
    s->n_punches = 0; /* they were in the old log */
    s->punch_bytes = 0;
    reserve_fill(s);
    return 0;

fail:
    if (fd >= 0) {
        close(fd);
        unlinkat(s->dir_fd, FH_DS_TMP, 0);
    }
    free(offs);
    free(sizes);
    return rc;
}

int fh_docstore_compact(fh_docstore *s)
{
    if (!s)
        return fh_set_error(FH_E_INVAL, "fh_docstore_compact: invalid argument");
    int rc = check_writable(s);
    if (rc < 0)
        return rc;
    fh_ds_index_squeeze(&s->index);
    if (FH_DS_HEADER_SIZE + s->index.live_bytes == s->end)
        return 0; /* nothing dead in the log */
    return fh_ds_rewrite(s, false);
}

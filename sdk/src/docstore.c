/* The docstore: an on-disk array of documents (Jina's DocumentArrayMemmap).
 *
 * Layout. A docstore is a directory holding
 *   docs.log       the append-only log: a 16-byte header, then records;
 *   docs.lock      an empty file a writer holds flock(LOCK_EX) on (readers take no lock);
 *   docs.log.tmp   only while the log is being created or compacted.
 * The lock sits on its own file, not on the log, because compaction renames a new log
 * over the old one: a lock on the old log's inode would stop protecting anything.
 *
 * File header: "FHDSTORE", u32 format version (1), u32 reserved (0). Little-endian.
 * Record:      u32 magic 'FHR1' | u8 kind (PUT/DELETE) | u32 payload length |
 *              u32 crc32 | payload
 * Payload:     u32 id length | id bytes | (PUT only) the packed Flowhost__Document.
 * The CRC covers kind, length and payload, so a flipped bit in the length or the kind is
 * caught too, not just one in the payload. The id is stored ahead of the document so that
 * opening rebuilds the index without unpacking a single document (it still reads every
 * byte once, to check the CRCs). Ids are at most FH_DS_MAX_ID bytes, payloads at most
 * FH_DS_MAX_PAYLOAD (1 GiB): a longer length in the file is corruption, so nothing read
 * from the file sizes an allocation beyond that.
 *
 * Crash safety. A record is written by one write() on an O_APPEND descriptor, built
 * whole in one buffer first, so a killed writer leaves at most one partial record at the
 * tail. When a write fails half-way the log is truncated back to where it was, so a
 * later record never lands after garbage; if even that fails the handle refuses further
 * writes (FH_E_IO) until it is reopened. Opening checks every record: a bad record that
 * no good record follows is an unfinished tail — cut away (ftruncate) by a writer,
 * skipped by a reader; a bad record followed by a good one is corruption (FH_E_PARSE with
 * the offset), never silently cut, since that would throw away good documents. "Followed
 * by a good one" means: a record magic anywhere after it that starts a whole record with
 * a valid CRC. A new log is made as docs.log.tmp and renamed into place, so a log always
 * has its header.
 *
 * Memory: only the index. `entries` is in position order (one per document ever put
 * since the last index compaction); a deleted document leaves a tombstone (id NULL) so
 * that delete is O(1); the tombstones are squeezed out — O(n), moving the later entries
 * down by one position each — the next time a position is asked for (get_at) or the array
 * is full. So a run of k deletes costs O(k + n) once, not O(k * n). Ids are found through
 * an open-addressing hash table (linear probing, backward-shift deletion, load <= 1/2)
 * of indexes into `entries`; it grows with the data. Every allocation an index update
 * needs is made before the record is written, so a write that succeeded is always
 * reflected in the index and one that failed never is.
 *
 * A handle is not thread-safe: one thread at a time.
 */
#include "codec.h"
#include "pb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <flowhost/docstore.h>
#include <flowhost/error.h>

#define FH_DS_LOG "docs.log"
#define FH_DS_LOCK "docs.lock"
#define FH_DS_TMP "docs.log.tmp"

#define FH_DS_FILE_MAGIC "FHDSTORE"
#define FH_DS_VERSION 1u
#define FH_DS_HEADER_SIZE 16u

#define FH_DS_REC_MAGIC 0x31524846u /* "FHR1" little-endian */
#define FH_DS_REC_HEADER 13u        /* magic 4, kind 1, length 4, crc 4 */
#define FH_DS_PUT 1u
#define FH_DS_DELETE 2u

#define FH_DS_MAX_PAYLOAD (1u << 30) /* 1 GiB */
#define FH_DS_MAX_ID 65535u

/* The read window of the open-time scan: big enough for a header and any id. */
#define FH_DS_WINDOW (1u << 20)

/* One live (or, with id NULL, deleted) document of the index. */
struct ds_entry {
    char *id;      /* owned; NULL for a tombstone */
    uint64_t hash; /* hash of id, kept so that rehashing never touches the strings */
    uint64_t off;  /* file offset of the latest PUT record of this id */
    uint32_t len;  /* that record's payload length */
};

struct fh_docstore {
    char *dir;      /* the path given to open (owned) */
    char *log_path; /* DIR/docs.log (owned) */
    char *tmp_path; /* DIR/docs.log.tmp (owned) */
    int fd;         /* the log: O_RDWR|O_APPEND, or O_RDONLY */
    int lock_fd;    /* DIR/docs.lock with LOCK_EX held; -1 when read-only */
    bool readonly;
    bool broken; /* a failed write could not be rolled back: refuse writes */
    bool dirty;  /* written since the last fsync */
    uint64_t end;        /* end of the last good record = where the next one goes */
    uint64_t live_bytes; /* header + the records the index points at */

    struct ds_entry *entries; /* position order, with tombstones */
    size_t n_entries;         /* used slots of entries, tombstones included */
    size_t cap_entries;
    size_t n_live; /* entries that are not tombstones = the number of documents */

    size_t *slots; /* hash table: 0 empty, else index into entries + 1 */
    size_t n_slots; /* a power of two, or 0 */
};

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib computes it) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* Continues CRC (start with 0) over N bytes of P. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init_table);
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- little-endian fields ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- the index ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3u;
    }
    return h ^ (h >> 29); /* the low bits pick the slot: mix the high ones in */
}

/* The slot holding ID (hash H), or the empty slot where it would go. n_slots > 0. */
static size_t slot_find(const fh_docstore *s, const char *id, size_t id_len, uint64_t h,
                        bool *found)
{
    size_t mask = s->n_slots - 1, i = (size_t)h & mask;
    while (s->slots[i]) {
        const struct ds_entry *e = &s->entries[s->slots[i] - 1];
        if (e->hash == h && strncmp(e->id, id, id_len) == 0 && e->id[id_len] == '\0') {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

/* Index into entries of ID, or SIZE_MAX. */
static size_t index_lookup(const fh_docstore *s, const char *id, size_t id_len, uint64_t h)
{
    if (!s->n_slots)
        return SIZE_MAX;
    bool found;
    size_t i = slot_find(s, id, id_len, h, &found);
    return found ? s->slots[i] - 1 : SIZE_MAX;
}

/* Puts entries[IDX] into the table (whose load was checked by the caller). */
static void slot_insert(fh_docstore *s, size_t idx)
{
    size_t mask = s->n_slots - 1, i = (size_t)s->entries[idx].hash & mask;
    while (s->slots[i])
        i = (i + 1) & mask;
    s->slots[i] = idx + 1;
}

/* Removes slot I, shifting later members of its probe run back (no tombstones). */
static void slot_remove(fh_docstore *s, size_t i)
{
    size_t mask = s->n_slots - 1, j = i;
    s->slots[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        if (!s->slots[j])
            return;
        size_t home = (size_t)s->entries[s->slots[j] - 1].hash & mask;
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            s->slots[i] = s->slots[j];
            s->slots[j] = 0;
            i = j;
        }
    }
}

static void rehash(fh_docstore *s)
{
    memset(s->slots, 0, s->n_slots * sizeof *s->slots);
    for (size_t k = 0; k < s->n_entries; k++)
        if (s->entries[k].id)
            slot_insert(s, k);
}

/* Squeezes the tombstones out of entries (positions become array indexes again). */
static void index_squeeze(fh_docstore *s)
{
    if (s->n_live == s->n_entries)
        return;
    size_t w = 0;
    for (size_t r = 0; r < s->n_entries; r++)
        if (s->entries[r].id)
            s->entries[w++] = s->entries[r];
    s->n_entries = w;
    rehash(s);
}

/* Makes room for one more entry and one more key, so that the index update after a
 * successful write cannot fail. Returns 0 or FH_E_NOMEM (index unchanged). */
static int index_reserve(fh_docstore *s)
{
    if (s->n_entries == s->cap_entries) {
        if (s->n_live <= s->n_entries / 2 && s->n_entries > 0) {
            index_squeeze(s);
        } else {
            size_t cap = s->cap_entries ? s->cap_entries * 2 : 64;
            if (cap > SIZE_MAX / sizeof *s->entries)
                return fh_set_error(FH_E_NOMEM, "%s: docstore index too large", s->dir);
            struct ds_entry *e = realloc(s->entries, cap * sizeof *e);
            if (!e)
                return fh_set_error(FH_E_NOMEM, "%s: out of memory for the index", s->dir);
            s->entries = e;
            s->cap_entries = cap;
        }
    }
    if ((s->n_live + 1) * 2 > s->n_slots) {
        size_t n = s->n_slots ? s->n_slots * 2 : 128;
        if (n > SIZE_MAX / sizeof(size_t))
            return fh_set_error(FH_E_NOMEM, "%s: docstore index too large", s->dir);
        size_t *slots = calloc(n, sizeof *slots);
        if (!slots)
            return fh_set_error(FH_E_NOMEM, "%s: out of memory for the index", s->dir);
        free(s->slots);
        s->slots = slots;
        s->n_slots = n;
        rehash(s);
    }
    return 0;
}

/* Appends a new live entry; index_reserve must have been called. Takes ID. */
static void index_append(fh_docstore *s, char *id, uint64_t h, uint64_t off, uint32_t len)
{
    size_t k = s->n_entries++;
    s->entries[k] = (struct ds_entry){.id = id, .hash = h, .off = off, .len = len};
    slot_insert(s, k);
    s->n_live++;
    s->live_bytes += FH_DS_REC_HEADER + (uint64_t)len;
}

static void index_replace(fh_docstore *s, size_t k, uint64_t off, uint32_t len)
{
    s->live_bytes -= FH_DS_REC_HEADER + (uint64_t)s->entries[k].len;
    s->entries[k].off = off;
    s->entries[k].len = len;
    s->live_bytes += FH_DS_REC_HEADER + (uint64_t)len;
}

static void index_remove(fh_docstore *s, size_t k)
{
    struct ds_entry *e = &s->entries[k];
    bool found;
    size_t i = slot_find(s, e->id, strlen(e->id), e->hash, &found);
    if (found)
        slot_remove(s, i);
    s->live_bytes -= FH_DS_REC_HEADER + (uint64_t)e->len;
    free(e->id);
    e->id = NULL;
    s->n_live--;
}

static void index_free(fh_docstore *s)
{
    for (size_t k = 0; k < s->n_entries; k++)
        free(s->entries[k].id);
    free(s->entries);
    free(s->slots);
    s->entries = NULL;
    s->slots = NULL;
    s->n_entries = s->cap_entries = s->n_live = s->n_slots = 0;
}

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

/* fsync of the directory, so that a rename or a new file in it is durable. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void file_header(uint8_t h[FH_DS_HEADER_SIZE])
{
    memcpy(h, FH_DS_FILE_MAGIC, 8);
    put_u32(h + 8, FH_DS_VERSION);
    put_u32(h + 12, 0);
}

/* ---- scanning the log ---- */

/* A window of the log for the open-time scan: one pread fills up to FH_DS_WINDOW bytes,
 * so small records cost no syscall each. */
struct window {
    int fd;
    uint64_t size; /* the log's size when the scan started: nothing past it is read */
    uint8_t *buf;  /* FH_DS_WINDOW bytes */
    uint64_t off;  /* file offset of buf[0] */
    size_t n;      /* valid bytes in buf */
};

/* Points *P at bytes [OFF, OFF + LEN) of the log (LEN <= FH_DS_WINDOW). Returns 1, 0 when
 * they run past the end of the log, -1 on a read error (errno set). */
static int win_at(struct window *w, uint64_t off, size_t len, const uint8_t **p)
{
    if (off > w->size || len > w->size - off)
        return 0;
    if (off < w->off || off + len > w->off + w->n) {
        uint64_t want = w->size - off < FH_DS_WINDOW ? w->size - off : FH_DS_WINDOW;
        ssize_t r = pread_full(w->fd, w->buf, (size_t)want, off);
        if (r < 0)
            return -1;
        w->off = off;
        w->n = (size_t)r;
        if ((size_t)r < len)
            return 0; /* the file shrank under us: treat as its end */
    }
    *p = w->buf + (off - w->off);
    return 1;
}

/* What check_record found at an offset. */
struct rec {
    unsigned kind;
    uint32_t len;    /* payload length */
    uint32_t id_len;
    uint64_t id_off; /* file offset of the id bytes */
};

/* Checks the record at OFF: sane header, whole inside the log, CRC right, a well-formed
 * id. Returns 1 (good, *R filled), 0 (bad), -1 (read error, errno set). */
static int check_record(struct window *w, uint64_t off, struct rec *r)
{
    const uint8_t *p;
    int rc = win_at(w, off, FH_DS_REC_HEADER, &p);
    if (rc <= 0)
        return rc;
    if (get_u32(p) != FH_DS_REC_MAGIC)
        return 0;
    uint8_t kl[5];
    memcpy(kl, p + 4, 5);
    unsigned kind = p[4];
    uint32_t len = get_u32(p + 5), want_crc = get_u32(p + 9);
    if ((kind != FH_DS_PUT && kind != FH_DS_DELETE) || len < 4 || len > FH_DS_MAX_PAYLOAD)
        return 0;
    uint64_t start = off + FH_DS_REC_HEADER;
    if (start > w->size || len > w->size - start)
        return 0;
    uint32_t crc = crc32_update(0, kl, sizeof kl);
    for (uint64_t done = 0; done < len;) {
        size_t chunk = len - done < FH_DS_WINDOW ? (size_t)(len - done) : FH_DS_WINDOW;
        rc = win_at(w, start + done, chunk, &p);
        if (rc <= 0)
            return rc;
        crc = crc32_update(crc, p, chunk);
        done += chunk;
    }
    if (crc != want_crc)
        return 0;
    rc = win_at(w, start, 4, &p);
    if (rc <= 0)
        return rc;
    uint32_t id_len = get_u32(p);
    if (id_len > FH_DS_MAX_ID || id_len > len - 4 || (kind == FH_DS_DELETE && id_len != len - 4))
        return 0;
    rc = win_at(w, start + 4, id_len, &p);
    if (rc <= 0)
        return rc;
    if (memchr(p, '\0', id_len))
        return 0;
    *r = (struct rec){.kind = kind, .len = len, .id_len = id_len, .id_off = start + 4};
    return 1;
}

/* After a bad record at BAD: is there a good record anywhere later? Returns 1, 0, or -1
 * on a read error. Linear in what follows BAD (only magic matches are checked further),
 * which after a crash is less than one record. */
static int good_record_after(struct window *w, uint64_t bad)
{
    for (uint64_t off = bad + 1; off + FH_DS_REC_HEADER <= w->size; off++) {
        const uint8_t *p;
        int rc = win_at(w, off, 4, &p);
        if (rc <= 0)
            return rc;
        if (get_u32(p) != FH_DS_REC_MAGIC)
            continue;
        struct rec r;
        rc = check_record(w, off, &r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Applies the good record R at OFF to the index. */
static int scan_apply(fh_docstore *s, struct window *w, uint64_t off, const struct rec *r)
{
    const uint8_t *p;
    int rc = win_at(w, r->id_off, r->id_len, &p);
    if (rc <= 0)
        return fh_set_error(FH_E_IO, "%s: cannot read: %s", s->log_path,
                            rc < 0 ? strerror(errno) : "file shrank");
    const char *id = (const char *)p;
    uint64_t h = hash_bytes(id, r->id_len);
    size_t k = index_lookup(s, id, r->id_len, h);
    if (r->kind == FH_DS_DELETE) {
        if (k != SIZE_MAX) /* a delete of an unknown id cannot be written; ignore it */
            index_remove(s, k);
        return 0;
    }
    if (k != SIZE_MAX) {
        index_replace(s, k, off, r->len);
        return 0;
    }
    char *copy = malloc((size_t)r->id_len + 1);
    if (!copy)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory for the index", s->dir);
    memcpy(copy, id, r->id_len);
    copy[r->id_len] = '\0';
    if (index_reserve(s) < 0) {
        free(copy);
        return FH_E_NOMEM;
    }
    index_append(s, copy, h, off, r->len);
    return 0;
}

/* Reads the log into the index; cuts (writer) or skips (reader) an unfinished tail. */
static int scan_log(fh_docstore *s)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
    uint8_t hdr[FH_DS_HEADER_SIZE];
    ssize_t got = pread_full(s->fd, hdr, sizeof hdr, 0);
    if (got < 0)
        return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
    if (got < (ssize_t)sizeof hdr || memcmp(hdr, FH_DS_FILE_MAGIC, 8) != 0)
        return fh_set_error(FH_E_PARSE, "%s: not a docstore", s->dir);
    if (get_u32(hdr + 8) != FH_DS_VERSION)
        return fh_set_error(FH_E_PARSE, "%s: docstore format version %u, this build reads %u",
                            s->dir, get_u32(hdr + 8), FH_DS_VERSION);

    struct window w = {.fd = s->fd, .size = (uint64_t)st.st_size, .buf = malloc(FH_DS_WINDOW)};
    if (!w.buf)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
    int rc = 0;
    uint64_t off = FH_DS_HEADER_SIZE;
    s->live_bytes = FH_DS_HEADER_SIZE;
    while (off < w.size) {
        struct rec r;
        int ok = check_record(&w, off, &r);
        if (ok < 0) {
            rc = fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
            break;
        }
        if (ok == 0) {
            int later = good_record_after(&w, off);
            if (later < 0)
                rc = fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
            else if (later > 0)
                rc = fh_set_error(FH_E_PARSE, "%s: corrupted record at offset %llu",
                                  s->log_path, (unsigned long long)off);
            break; /* else: an unfinished last record */
        }
        rc = scan_apply(s, &w, off, &r);
        if (rc < 0)
            break;
        off += FH_DS_REC_HEADER + (uint64_t)r.len;
    }
    free(w.buf);
    if (rc < 0)
        return rc;
    if (off < w.size && !s->readonly) {
        if (ftruncate(s->fd, (off_t)off) < 0 || fsync(s->fd) < 0)
            return fh_set_error(FH_E_IO, "%s: cannot cut the unfinished last record: %s",
                                s->log_path, strerror(errno));
    }
    s->end = off;
    index_squeeze(s);
    return 0;
}

/* Makes an empty log: written as docs.log.tmp, then renamed, so that docs.log always
 * has its header. Caller holds the lock. */
static int create_log(fh_docstore *s)
{
    int fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return fh_set_error(FH_E_IO, "%s: %s", s->tmp_path, strerror(errno));
    uint8_t hdr[FH_DS_HEADER_SIZE];
    file_header(hdr);
    if (write_all(fd, hdr, sizeof hdr) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(s->tmp_path);
        return fh_set_error(FH_E_IO, "%s: %s", s->tmp_path, strerror(e));
    }
    close(fd);
    if (rename(s->tmp_path, s->log_path) < 0) {
        int e = errno;
        unlink(s->tmp_path);
        return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(e));
    }
    if (sync_dir(s->dir) < 0)
        return fh_set_error(FH_E_IO, "%s: %s", s->dir, strerror(errno));
    return 0;
}

/* ---- public API ---- */

int fh_docstore_open(const char *path, int flags, fh_docstore **out)
{
    if (out)
        *out = NULL;
    if (!path || !*path || !out || (flags & ~(FH_DOCSTORE_CREATE | FH_DOCSTORE_READONLY)))
        return fh_set_error(FH_E_INVAL, "fh_docstore_open: invalid argument");
    bool create = flags & FH_DOCSTORE_CREATE, readonly = flags & FH_DOCSTORE_READONLY;
    if (create && readonly)
        return fh_set_error(FH_E_INVAL, "%s: a docstore cannot be created read-only", path);

    fh_docstore *s = calloc(1, sizeof *s);
    if (!s)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    s->fd = s->lock_fd = -1;
    s->readonly = readonly;
    s->dir = strdup(path);
    s->log_path = join_path(path, FH_DS_LOG);
    s->tmp_path = join_path(path, FH_DS_TMP);
    char *lock_path = join_path(path, FH_DS_LOCK);
    int rc = 0;
    if (!s->dir || !s->log_path || !s->tmp_path || !lock_path) {
        rc = fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }

    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno != ENOENT) {
            rc = fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (!create) {
            rc = fh_set_error(FH_E_NOTFOUND, "%s: no docstore (no such directory)", path);
            goto fail;
        }
        if (mkdir(path, 0777) < 0 && errno != EEXIST) {
            rc = fh_set_error(FH_E_IO, "%s: cannot make the directory: %s", path,
                              strerror(errno));
            goto fail;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        rc = fh_set_error(FH_E_PARSE, "%s: not a docstore (not a directory)", path);
        goto fail;
    }
    /* Look before making a lock file, so that a failed open leaves nothing behind. */
    if (!create && access(s->log_path, F_OK) < 0) {
        rc = errno == ENOENT
                 ? fh_set_error(FH_E_NOTFOUND, "%s: no docstore (no %s)", path, FH_DS_LOG)
                 : fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
        goto fail;
    }

    if (!readonly) {
        s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (s->lock_fd < 0) {
            rc = fh_set_error(FH_E_IO, "%s: %s", lock_path, strerror(errno));
            goto fail;
        }
        while (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno == EINTR)
                continue;
            rc = errno == EWOULDBLOCK
                     ? fh_set_error(FH_E_STATE, "%s: in use by another process", path)
                     : fh_set_error(FH_E_IO, "%s: cannot lock: %s", lock_path, strerror(errno));
            goto fail;
        }
        /* A crashed compaction or creation leaves its temp file; we hold the lock. */
        if (unlink(s->tmp_path) < 0 && errno != ENOENT) {
            rc = fh_set_error(FH_E_IO, "%s: %s", s->tmp_path, strerror(errno));
            goto fail;
        }
    }

    s->fd = open(s->log_path, readonly ? O_RDONLY | O_CLOEXEC : O_RDWR | O_APPEND | O_CLOEXEC);
    if (s->fd < 0 && errno == ENOENT && create) {
        rc = create_log(s);
        if (rc < 0)
            goto fail;
        s->fd = open(s->log_path, O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (s->fd < 0) {
        rc = errno == ENOENT
                 ? fh_set_error(FH_E_NOTFOUND, "%s: no docstore (no %s)", path, FH_DS_LOG)
                 : fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
        goto fail;
    }
    rc = scan_log(s);
    if (rc < 0)
        goto fail;
    free(lock_path);
    *out = s;
    return 0;

fail:
    free(lock_path);
    fh_docstore_close(&s);
    return rc;
}

void fh_docstore_close(fh_docstore **sp)
{
    if (!sp || !*sp)
        return;
    fh_docstore *s = *sp;
    if (s->fd >= 0) {
        if (s->dirty)
            (void)fsync(s->fd); /* no way to report it: fh_docstore_sync is for that */
        close(s->fd);
    }
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    index_free(s);
    free(s->dir);
    free(s->log_path);
    free(s->tmp_path);
    free(s);
    *sp = NULL;
}

size_t fh_docstore_len(const fh_docstore *s)
{
    return s ? s->n_live : 0;
}

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
 * s->end, so that no later record follows a partial one. */
static int append_record(fh_docstore *s, const uint8_t *rec, size_t n)
{
    if (write_all(s->fd, rec, n) < 0) {
        int e = errno;
        while (ftruncate(s->fd, (off_t)s->end) < 0) {
            if (errno != EINTR) {
                s->broken = true;
                break;
            }
        }
        return fh_set_error(FH_E_IO, "%s: cannot write: %s", s->log_path, strerror(e));
    }
    s->end += n;
    s->dirty = true;
    return 0;
}

/* A new buffer with the whole record: header, id, and DOC packed (DOC NULL: a DELETE). */
static uint8_t *build_record(const char *id, size_t id_len, const Flowhost__Document *doc,
                             size_t doc_len, size_t *n)
{
    size_t len = 4 + id_len + doc_len;
    uint8_t *buf = malloc(FH_DS_REC_HEADER + len);
    if (!buf)
        return NULL;
    uint8_t *p = buf + FH_DS_REC_HEADER;
    put_u32(p, (uint32_t)id_len);
    memcpy(p + 4, id, id_len);
    if (doc && protobuf_c_message_pack(&doc->base, p + 4 + id_len) != doc_len) {
        free(buf);
        return NULL;
    }
    put_u32(buf, FH_DS_REC_MAGIC);
    buf[4] = doc ? FH_DS_PUT : FH_DS_DELETE;
    put_u32(buf + 5, (uint32_t)len);
    uint32_t crc = crc32_update(0, buf + 4, 5);
    put_u32(buf + 9, crc32_update(crc, p, len));
    *n = FH_DS_REC_HEADER + len;
    return buf;
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
    if (doc_len > FH_DS_MAX_PAYLOAD - 4 - id_len)
        return fh_set_error(FH_E_INVAL, "%s: document %s is %zu bytes, more than the %u a "
                            "docstore record holds", s->dir, id, doc_len, FH_DS_MAX_PAYLOAD);

    uint64_t h = hash_bytes(id, id_len);
    size_t k = index_lookup(s, id, id_len, h);
    char *copy = NULL;
    if (k == SIZE_MAX) {
        copy = strdup(id);
        if (!copy || index_reserve(s) < 0) {
            free(copy);
            return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
        }
    }
    size_t n;
    uint8_t *rec = build_record(id, id_len, doc, doc_len, &n);
    if (!rec) {
        free(copy);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory for a %zu-byte record", s->dir,
                            doc_len);
    }
    uint64_t off = s->end;
    rc = append_record(s, rec, n);
    free(rec);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    uint32_t len = (uint32_t)(n - FH_DS_REC_HEADER);
    if (copy)
        index_append(s, copy, h, off, len);
    else
        index_replace(s, k, off, len);
    return 0;
}

/* Reads, checks and decodes the PUT record of entries[K]. */
static int read_doc(fh_docstore *s, size_t k, fh_doc **out)
{
    const struct ds_entry *e = &s->entries[k];
    size_t n = FH_DS_REC_HEADER + (size_t)e->len;
    uint8_t *buf = malloc(n);
    if (!buf)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory for a %zu-byte record", s->dir, n);
    ssize_t got = pread_full(s->fd, buf, n, e->off);
    if (got < 0) {
        int err = errno;
        free(buf);
        return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(err));
    }
    const uint8_t *p = buf + FH_DS_REC_HEADER;
    uint32_t id_len = (size_t)got == n ? get_u32(p) : 0;
    if ((size_t)got != n || get_u32(buf) != FH_DS_REC_MAGIC || buf[4] != FH_DS_PUT ||
        get_u32(buf + 5) != e->len || crc32_update(crc32_update(0, buf + 4, 5), p, e->len) !=
                                          get_u32(buf + 9) ||
        id_len > e->len - 4) {
        free(buf);
        return fh_set_error(FH_E_PARSE, "%s: corrupted record at offset %llu", s->log_path,
                            (unsigned long long)e->off);
    }
    Flowhost__Document *doc = (Flowhost__Document *)fh_pb_unpack(
        &flowhost__document__descriptor, p + 4 + id_len, e->len - 4 - id_len);
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
    size_t k = index_lookup(s, id, id_len, hash_bytes(id, id_len));
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
    if (pos >= s->n_live)
        return fh_set_error(FH_E_RANGE, "%s: position %zu, the docstore holds %zu", s->dir,
                            pos, s->n_live);
    index_squeeze(s);
    return read_doc(s, pos, out);
}

int fh_docstore_delete(fh_docstore *s, const char *id)
{
    if (!s || !id)
        return fh_set_error(FH_E_INVAL, "fh_docstore_delete: invalid argument");
    int rc = check_writable(s);
    if (rc < 0)
        return rc;
    size_t id_len = strlen(id);
    size_t k = index_lookup(s, id, id_len, hash_bytes(id, id_len));
    if (k == SIZE_MAX)
        return fh_set_error(FH_E_NOTFOUND, "%s: no document %s", s->dir, id);
    size_t n;
    uint8_t *rec = build_record(id, id_len, NULL, 0, &n);
    if (!rec)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
    rc = append_record(s, rec, n);
    free(rec);
    if (rc < 0)
        return rc;
    index_remove(s, k);
    return 0;
}

int fh_docstore_sync(fh_docstore *s)
{
    if (!s)
        return fh_set_error(FH_E_INVAL, "fh_docstore_sync: invalid argument");
    if (s->readonly)
        return 0;
    if (fsync(s->fd) < 0)
        return fh_set_error(FH_E_IO, "%s: fsync: %s", s->log_path, strerror(errno));
    s->dirty = false;
    return 0;
}

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

/* Copies every live record, in position order, to the temp log FD; fills OFFS with their
 * new offsets. Every record is checked on the way: compaction never copies corruption. */
static int compact_copy(fh_docstore *s, int fd, uint64_t *offs)
{
    enum { CAP = 1 << 20 };
    uint8_t *out = malloc(CAP), *rec = NULL;
    size_t fill = 0, rec_cap = 0;
    int rc = 0;
    if (!out)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
    uint8_t hdr[FH_DS_HEADER_SIZE];
    file_header(hdr);
    uint64_t off = FH_DS_HEADER_SIZE;
    if (buffered_write(fd, out, CAP, &fill, hdr, sizeof hdr) < 0)
        goto write_error;
    for (size_t k = 0; k < s->n_entries; k++) {
        const struct ds_entry *e = &s->entries[k];
        size_t n = FH_DS_REC_HEADER + (size_t)e->len;
        if (n > rec_cap) {
            uint8_t *r = realloc(rec, n);
            if (!r) {
                rc = fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
                goto done;
            }
            rec = r;
            rec_cap = n;
        }
        ssize_t got = pread_full(s->fd, rec, n, e->off);
        if (got < 0) {
            rc = fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
            goto done;
        }
        if ((size_t)got != n || get_u32(rec) != FH_DS_REC_MAGIC ||
            crc32_update(crc32_update(0, rec + 4, 5), rec + FH_DS_REC_HEADER, e->len) !=
                get_u32(rec + 9)) {
            rc = fh_set_error(FH_E_PARSE, "%s: corrupted record at offset %llu", s->log_path,
                              (unsigned long long)e->off);
            goto done;
        }
        offs[k] = off;
        off += n;
        if (buffered_write(fd, out, CAP, &fill, rec, n) < 0)
            goto write_error;
    }
    if (write_all(fd, out, fill) < 0 || fsync(fd) < 0)
        goto write_error;
    goto done;
write_error:
    rc = fh_set_error(FH_E_IO, "%s: %s", s->tmp_path, strerror(errno));
done:
    free(out);
    free(rec);
    return rc;
}

int fh_docstore_compact(fh_docstore *s)
{
    if (!s)
        return fh_set_error(FH_E_INVAL, "fh_docstore_compact: invalid argument");
    int rc = check_writable(s);
    if (rc < 0)
        return rc;
    index_squeeze(s);
    if (s->live_bytes == s->end)
        return 0; /* nothing dead in the log */
    uint64_t *offs = malloc((s->n_entries ? s->n_entries : 1) * sizeof *offs);
    if (!offs)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
    /* The temp file is the new log's descriptor from the start: once renamed there is
     * no open() left that could fail. */
    int fd = open(s->tmp_path, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        free(offs);
        return fh_set_error(FH_E_IO, "%s: %s", s->tmp_path, strerror(errno));
    }
    rc = compact_copy(s, fd, offs);
    if (rc == 0 && rename(s->tmp_path, s->log_path) < 0)
        rc = fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
    if (rc < 0) {
        close(fd);
        unlink(s->tmp_path);
        free(offs);
        return rc;
    }
    /* Both logs hold the same documents, so if this directory sync fails and the rename
     * is lost in a crash, the old log comes back with the same contents: nothing to undo
     * and nothing to report. */
    (void)sync_dir(s->dir);
    close(s->fd);
    s->fd = fd;
    uint64_t end = FH_DS_HEADER_SIZE;
    for (size_t k = 0; k < s->n_entries; k++) {
        s->entries[k].off = offs[k];
        end += FH_DS_REC_HEADER + (uint64_t)s->entries[k].len;
    }
    free(offs);
    s->end = s->live_bytes = end;
    s->dirty = false;
    return 0;
}

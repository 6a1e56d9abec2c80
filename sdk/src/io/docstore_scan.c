/* Reading a docstore log into the index, and telling an unfinished write from damage.
 *
 * A writer appends each record with one write() of the whole record, so a writer that is
 * killed leaves at most a prefix of one record at the end of the log. Such a prefix is
 * either shorter than a record header, or a whole header whose lengths run past the end
 * of the file. Format 2 headers carry a CRC keyed by the store's salt, so that second
 * case is certain: the lengths are the writer's, and every byte after the header belongs
 * to that one record, whatever it looks like (a client's blob may well hold bytes that
 * look like records; they are never read as such). So, at each offset:
 *
 *   whole record, every CRC right       a good record: applied to the index
 *   header and id right, document not   applied, marked damaged: harmless if a later record
 *                                       replaces or deletes that document (its bytes may
 *                                       have been given back, see docstore.c), otherwise
 *                                       the document is lost: reported
 *   header right, id not                damage, reported; the header says where the next
 *                                       record starts
 *   header right, runs past the end     the unfinished tail: cut by a writer
 *   fewer bytes left than a header      the unfinished tail
 *   no valid header                     damage: the next record is found by looking at every
 *                                       later offset for a header that checks (no client
 *                                       bytes can pass for one); when there is none, the
 *                                       rest of the file is damage, or, when it is all
 *                                       zeros (a file system that grew the file but never
 *                                       wrote it), a tail
 *
 * Format 1 headers have no CRC of their own: their length is trusted when it runs past
 * the end (an unfinished write), and a record whose CRC fails is damage whose end is
 * unknown: the next record is the next offset where a whole good record starts.
 *
 * A reader takes no lock, so a writer may replace a document, sync, and give back the
 * old record's bytes while the reader scans: a damaged document that nothing in the
 * scanned size supersedes sends a reader's scan on over what was appended meanwhile.
 */
#include "docstore_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flowhost/error.h>

/* The read window of the scan: big enough for a header and any id. */
#define FH_DS_WINDOW (1u << 20)

/* A window of the log: one pread fills up to FH_DS_WINDOW bytes, so small records cost
 * no system call each. */
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
        size_t got = 0;
        while (got < want) {
            ssize_t r = pread(w->fd, w->buf + got, (size_t)want - got, (off_t)(off + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return -1;
            if (r == 0)
                break;
            got += (size_t)r;
        }
        w->off = off;
        w->n = got;
        if (got < len)
            return 0; /* the file shrank under us: treat as its end */
    }
    *p = w->buf + (off - w->off);
    return 1;
}

/* The CRC of [OFF, OFF + LEN) continued from CRC, in *OUT. 1, 0 (past the end), -1. */
static int win_crc(struct window *w, uint64_t off, uint64_t len, uint32_t crc, uint32_t *out)
{
    for (uint64_t done = 0; done < len;) {
        size_t chunk = len - done < FH_DS_WINDOW ? (size_t)(len - done) : FH_DS_WINDOW;
        const uint8_t *p;
        int rc = win_at(w, off + done, chunk, &p);
        if (rc <= 0)
            return rc;
        crc = fh_ds_crc32(crc, p, chunk);
        done += chunk;
    }
    *out = crc;
    return 1;
}

/* What is at one offset (see the table above). */
enum ds_class { C_GOOD, C_DOC_DAMAGED, C_DAMAGED, C_TORN, C_NO_RECORD };

/* Classifies the bytes at OFF, filling *H for C_GOOD, C_DOC_DAMAGED and C_DAMAGED.
 * Returns the class, or -1 on a read error (errno set). */
static int classify(const fh_docstore *s, struct window *w, uint64_t off, struct ds_head *h)
{
    uint32_t hs = fh_ds_head_size(s->version);
    if (w->size - off < hs)
        return C_TORN;
    const uint8_t *p;
    int rc = win_at(w, off, hs, &p);
    if (rc <= 0)
        return rc < 0 ? -1 : C_TORN;
    if (!fh_ds_head_parse(s->version, s->salt, p, h))
        return C_NO_RECORD;
    if (h->size > w->size - off)
        return C_TORN;
    uint32_t crc;
    if (s->version == FH_DS_V1) {
        uint8_t kl[5];
        memcpy(kl, p + 4, 5);
        rc = win_crc(w, off + FH_DS_V1_HEADER, h->size - FH_DS_V1_HEADER,
                     fh_ds_crc32(0, kl, sizeof kl), &crc);
        if (rc <= 0)
            return rc < 0 ? -1 : C_TORN;
        if (crc != h->crc)
            return C_NO_RECORD; /* its length may be what is damaged */
        rc = win_at(w, off + FH_DS_V1_HEADER, 4, &p);
        if (rc <= 0)
            return rc < 0 ? -1 : C_TORN;
        uint32_t len = h->size - FH_DS_V1_HEADER, id_len = fh_ds_get_u32(p);
        if (id_len > FH_DS_MAX_ID || id_len > len - 4 ||
            (h->kind == FH_DS_DELETE && id_len != len - 4))
            return C_DAMAGED;
        h->id_len = id_len;
        h->doc_at = h->id_at + id_len;
        h->doc_len = len - 4 - id_len;
        rc = win_at(w, off + h->id_at, id_len, &p);
        if (rc <= 0)
            return rc < 0 ? -1 : C_TORN;
        return memchr(p, '\0', id_len) ? C_DAMAGED : C_GOOD;
    }
    rc = win_at(w, off + h->id_at, h->id_len, &p);
    if (rc <= 0)
        return rc < 0 ? -1 : C_TORN;
    if (fh_ds_crc32(0, p, h->id_len) != h->id_crc || memchr(p, '\0', h->id_len))
        return C_DAMAGED;
    rc = win_crc(w, off + h->doc_at, h->doc_len, 0, &crc);
    if (rc <= 0)
        return rc < 0 ? -1 : C_TORN;
    if (crc != h->doc_crc)
        return h->kind == FH_DS_PUT ? C_DOC_DAMAGED : C_DAMAGED;
    return C_GOOD;
}

/* The first offset after OFF where a record starts: format 2, a header that checks;
 * format 1, a whole good record. W->size when there is none; -1 on a read error. */
static int64_t resync(const fh_docstore *s, struct window *w, uint64_t off)
{
    uint32_t magic = s->version == FH_DS_V1 ? FH_DS_V1_MAGIC : FH_DS_V2_MAGIC;
    uint32_t hs = fh_ds_head_size(s->version);
    for (uint64_t at = off + 1; at + hs <= w->size; at++) {
        const uint8_t *p;
        int rc = win_at(w, at, hs, &p);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        if (fh_ds_get_u32(p) != magic)
            continue;
        struct ds_head h;
        if (s->version == FH_DS_V2) {
            if (fh_ds_head_parse(s->version, s->salt, p, &h))
                return (int64_t)at;
            continue;
        }
        rc = classify(s, w, at, &h);
        if (rc < 0)
            return -1;
        if (rc == C_GOOD)
            return (int64_t)at;
    }
    return (int64_t)w->size;
}

/* 1 when [OFF, W->size) is all zeros, 0 when not, -1 on a read error. */
static int all_zeros(struct window *w, uint64_t off)
{
    while (off < w->size) {
        size_t chunk = w->size - off < FH_DS_WINDOW ? (size_t)(w->size - off) : FH_DS_WINDOW;
        const uint8_t *p;
        int rc = win_at(w, off, chunk, &p);
        if (rc <= 0)
            return rc;
        for (size_t i = 0; i < chunk; i++)
            if (p[i])
                return 0;
        off += chunk;
    }
    return 1;
}

/* Adds a finding (ID, of ID_LEN bytes, is copied; NULL: unknown). */
static int add_finding(struct ds_scan *sc, fh_docstore_finding_kind kind, uint64_t off,
                       uint64_t len, const char *id, size_t id_len, const char *what)
{
    if (kind == FH_DOCSTORE_DAMAGED)
        sc->n_damaged++;
    if (sc->n_findings == FH_DS_MAX_FINDINGS)
        return 0; /* counted, not kept: a log that bad is listed in part */
    if (sc->n_findings == sc->cap_findings) {
        size_t cap = sc->cap_findings ? sc->cap_findings * 2 : 8;
        struct ds_finding *f = realloc(sc->findings, cap * sizeof *f);
        if (!f)
            return FH_E_NOMEM;
        sc->findings = f;
        sc->cap_findings = cap;
    }
    char *copy = NULL;
    if (id) {
        copy = malloc(id_len + 1);
        if (!copy)
            return FH_E_NOMEM;
        memcpy(copy, id, id_len);
        copy[id_len] = '\0';
    }
    sc->findings[sc->n_findings++] =
        (struct ds_finding){.kind = kind, .off = off, .len = len, .id = copy, .what = what};
    return 0;
}

/* Applies the record H at OFF to the index; DAMAGED: its document fails its CRC. */
static int apply(fh_docstore *s, struct ds_scan *sc, struct window *w, uint64_t off,
                 const struct ds_head *h, bool damaged)
{
    const uint8_t *p;
    int rc = win_at(w, off + h->id_at, h->id_len, &p);
    if (rc <= 0)
        return fh_set_error(FH_E_IO, "%s: cannot read: %s", s->log_path,
                            rc < 0 ? strerror(errno) : "the file shrank");
    const char *id = (const char *)p;
    uint64_t hash = fh_ds_hash(id, h->id_len);
    struct ds_index *x = &s->index;
    size_t k = fh_ds_index_lookup(x, id, h->id_len, hash);
    if (k != SIZE_MAX && x->entries[k].damaged)
        sc->stale++; /* superseded: whatever its bytes hold, nothing is lost */
    if (h->kind == FH_DS_DELETE) {
        if (k != SIZE_MAX) /* a delete of an unknown id cannot be written; ignore it */
            fh_ds_index_remove(x, k);
        return 0;
    }
    if (k != SIZE_MAX) {
        fh_ds_index_replace(x, k, off, h->size);
        x->entries[k].damaged = damaged;
        return 0;
    }
    char *copy = malloc((size_t)h->id_len + 1);
    if (!copy || fh_ds_index_reserve(x) < 0) {
        free(copy);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory for the index", s->dir);
    }
    memcpy(copy, id, h->id_len);
    copy[h->id_len] = '\0';
    fh_ds_index_append(x, copy, hash, off, h->size);
    x->entries[x->n_entries - 1].damaged = damaged;
    return 0;
}

static int cmp_findings(const void *a, const void *b)
{
    const struct ds_finding *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The scan loop over [FROM, W->size). Sets SC->tail where an unfinished tail starts. */
static int scan_records(fh_docstore *s, struct ds_scan *sc, struct window *w, uint64_t from)
{
    uint64_t off = from;
    sc->tail = w->size;
    sc->tail_zeros = false;
    while (off < w->size) {
        struct ds_head h;
        int c = classify(s, w, off, &h);
        int rc = 0;
        switch (c) {
        case C_GOOD:
        case C_DOC_DAMAGED:
            rc = apply(s, sc, w, off, &h, c == C_DOC_DAMAGED);
            off += h.size;
            break;
        case C_DAMAGED:
            rc = add_finding(sc, FH_DOCSTORE_DAMAGED, off, h.size, NULL, 0,
                             "a record whose id fails its checksum");
            off += h.size;
            break;
        case C_TORN:
            sc->tail = off;
            return 0;
        case C_NO_RECORD: {
            int64_t next = resync(s, w, off);
            if (next < 0)
                return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
            if ((uint64_t)next == w->size) {
                int z = all_zeros(w, off);
                if (z < 0)
                    return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
                if (z) {
                    sc->tail = off;
                    sc->tail_zeros = true;
                    return 0;
                }
            }
            rc = add_finding(sc, FH_DOCSTORE_DAMAGED, off, (uint64_t)next - off, NULL, 0,
                             "damaged bytes: no record can be read there");
            off = (uint64_t)next;
            break;
        }
        default:
            return fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
        }
        if (rc < 0)
            return rc == FH_E_NOMEM ? fh_set_error(rc, "%s: out of memory", s->dir) : rc;
    }
    return 0;
}

static bool has_damaged_entry(const fh_docstore *s)
{
    for (size_t k = 0; k < s->index.n_entries; k++)
        if (s->index.entries[k].id && s->index.entries[k].damaged)
            return true;
    return false;
}

/* A reader scans while a writer may append: rounds of the scan after the first one read
 * what was appended meanwhile, at most this many. */
#define FH_DS_SCAN_ROUNDS 8

int fh_ds_scan(fh_docstore *s, struct ds_scan *sc)
{
    memset(sc, 0, sizeof *sc);
    struct window w = {.fd = s->fd, .buf = malloc(FH_DS_WINDOW)};
    if (!w.buf)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->dir);
    int rc = 0;
    uint64_t from = FH_DS_HEADER_SIZE;
    for (int round = 0;; round++) {
        struct stat st;
        if (fstat(s->fd, &st) < 0) {
            rc = fh_set_error(FH_E_IO, "%s: %s", s->log_path, strerror(errno));
            break;
        }
        if (round > 0 && (uint64_t)st.st_size <= sc->size)
            break;
        w.size = sc->size = (uint64_t)st.st_size;
        w.n = 0; /* what the window holds may have been punched meanwhile */
        rc = scan_records(s, sc, &w, from);
        /* A reader takes no lock: while it scans, the writer may append a record that
         * replaces or deletes a document, sync it and give back the replaced record's
         * bytes, which this scan then reads as a damaged document. The record that
         * superseded it was in the file before the bytes went, so reading on past the
         * size the scan started with finds it. A writer holds the lock: nobody else
         * writes, and one round is all there is. */
        if (rc < 0 || !s->readonly || round + 1 == FH_DS_SCAN_ROUNDS || !has_damaged_entry(s))
            break;
        from = sc->tail;
    }
    free(w.buf);
    if (rc < 0)
        return rc;
    s->end = sc->tail;
    if (sc->tail < sc->size) {
        rc = add_finding(sc, FH_DOCSTORE_UNFINISHED, sc->tail, sc->size - sc->tail, NULL, 0,
                         sc->tail_zeros ? "zeros after the last record (never written)"
                                        : "an unfinished last record (a write cut short)");
        if (rc < 0)
            return fh_set_error(rc, "%s: out of memory", s->dir);
    }
    /* The documents whose latest record is damaged, now that nothing later can replace
     * them. */
    struct ds_index *x = &s->index;
    for (size_t k = 0; k < x->n_entries; k++) {
        const struct ds_entry *e = &x->entries[k];
        if (e->id && e->damaged) {
            rc = add_finding(sc, FH_DOCSTORE_DAMAGED, e->off, e->size, e->id, strlen(e->id),
                             "its content fails its checksum");
            if (rc < 0)
                return fh_set_error(rc, "%s: out of memory", s->dir);
        }
    }
    if (sc->n_findings > 1)
        qsort(sc->findings, sc->n_findings, sizeof *sc->findings, cmp_findings);
    return 0;
}

void fh_ds_scan_free(struct ds_scan *sc)
{
    for (size_t i = 0; i < sc->n_findings; i++)
        free(sc->findings[i].id);
    free(sc->findings);
    memset(sc, 0, sizeof *sc);
}

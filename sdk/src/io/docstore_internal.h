/* Internal: the parts of the docstore (docstore.h), one job a file.
 *
 *   docstore_format.c  the on-disk format: CRC, file header, records (build, check)
 *   docstore_index.c   the in-memory index: entries in position order, a hash table of ids
 *   docstore_scan.c    reading a log into the index, telling damage from an unfinished tail
 *   docstore.c         the public API: open, put, get, delete, compact; files, space
 *   docstore_repair.c  fh_docstore_check and fh_docstore_repair
 *
 * The format, in short (docs/docstore.md has it whole). A log is a 16-byte file header
 * ("FHDSTORE", u32 version, u32 salt) and then records, little-endian.
 *   Format 2 record: u32 magic "FHR2" | u8 kind | u8 0 | u16 id length | u32 document
 *   length | u32 id CRC | u32 document CRC | u32 header CRC | id | document.
 *   The header CRC covers the salt and the 20 header bytes before it, so a header is
 *   known to be one this store wrote (document bytes a client chose cannot pass for one
 *   without the salt), and its lengths can be trusted before the rest is read: a record
 *   whose trusted length runs past the end of the file is an unfinished write, whatever
 *   its content holds. The id has a CRC of its own so that a record whose document is
 *   damaged (or freed, see docstore.c) still names its document.
 *   Format 1 record (read, and upgraded by the first writer): u32 magic "FHR1" | u8 kind |
 *   u32 payload length | u32 CRC of kind, length and payload | payload = u32 id length |
 *   id | document.
 */
#ifndef FH_SDK_DOCSTORE_INTERNAL_H
#define FH_SDK_DOCSTORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pb.h"
#include <flowhost/docstore.h>

#define FH_DS_LOG "docs.log"
#define FH_DS_LOCK "docs.lock"
#define FH_DS_TMP "docs.log.tmp"
#define FH_DS_RESERVE "docs.reserve"
#define FH_DS_BEFORE_REPAIR "docs.log.before-repair"

#define FH_DS_FILE_MAGIC "FHDSTORE"
#define FH_DS_HEADER_SIZE 16u
#define FH_DS_V1 1u
#define FH_DS_V2 2u /* the format written */

#define FH_DS_V1_MAGIC 0x31524846u /* "FHR1" little-endian */
#define FH_DS_V1_HEADER 13u        /* magic 4, kind 1, length 4, crc 4 */
#define FH_DS_V2_MAGIC 0x32524846u /* "FHR2" little-endian */
#define FH_DS_V2_HEADER 24u
#define FH_DS_MAX_HEADER 24u
#define FH_DS_PUT 1u
#define FH_DS_DELETE 2u

#define FH_DS_MAX_PAYLOAD (1u << 30) /* id and document together: 1 GiB */
#define FH_DS_MAX_ID 65535u

/* The space a writer keeps in DIR/docs.reserve for deletes on a full disk. */
#define FH_DS_RESERVE_BYTES (1u << 20)

/* ---- docstore_format.c ---- */

uint32_t fh_ds_crc32(uint32_t crc, const uint8_t *p, size_t n);
void fh_ds_put_u32(uint8_t *p, uint32_t v);
uint32_t fh_ds_get_u32(const uint8_t *p);

/* The 16-byte file header of VERSION with SALT. */
void fh_ds_file_header(uint8_t h[FH_DS_HEADER_SIZE], uint32_t version, uint32_t salt);

/* A record header, as read: where its parts are, relative to the record's start. */
struct ds_head {
    unsigned kind;    /* FH_DS_PUT or FH_DS_DELETE */
    uint32_t size;    /* the whole record */
    uint32_t id_at;   /* where the id starts */
    uint32_t id_len;  /* format 1: known only once the record's CRC is checked */
    uint32_t doc_at;  /* where the document starts (format 1: as id_at) */
    uint32_t doc_len; /* format 1: likewise */
    uint32_t id_crc, doc_crc; /* format 2 */
    uint32_t crc;             /* format 1: of kind, length and payload */
};

/* The header size of a format. */
uint32_t fh_ds_head_size(unsigned version);

/* Checks the header H (fh_ds_head_size(VERSION) bytes) and fills *OUT. Format 2: magic,
 * header CRC with SALT, kind, lengths; the result can be trusted. Format 1: magic, kind,
 * a length in range; nothing proves the length right. Returns true when it passes. */
bool fh_ds_head_parse(unsigned version, uint32_t salt, const uint8_t *h, struct ds_head *out);

/* What a whole record held in memory is worth. */
enum ds_verdict {
    DS_GOOD,        /* every check passes */
    DS_DOC_DAMAGED, /* format 2 PUT: header and id right, the document fails its CRC */
    DS_DAMAGED      /* anything else (the header was parsed by fh_ds_head_parse) */
};

/* Checks the record REC (H->size bytes, header parsed into *H); for format 1 it also
 * fills H's id and document fields. */
enum ds_verdict fh_ds_record_check(unsigned version, const uint8_t *rec, struct ds_head *h);

/* A new buffer (the caller frees it) holding a whole format 2 record of KIND for ID and
 * DOC (NULL for a DELETE; DOC_LEN its packed size), header CRC made with SALT; *N gets its
 * length. NULL when out of memory. ID_LEN <= FH_DS_MAX_ID and ID_LEN + DOC_LEN <=
 * FH_DS_MAX_PAYLOAD are the caller's to check. */
uint8_t *fh_ds_record_build(uint32_t salt, const char *id, size_t id_len,
                            const Flowhost__Document *doc, size_t doc_len, size_t *n);

/* Rewrites the header of the format 2 record REC in place (a re-encoding of a format 1
 * record goes through fh_ds_record_build instead). */
void fh_ds_head_write(uint8_t *rec, uint32_t salt, unsigned kind, uint32_t id_len,
                      uint32_t doc_len, uint32_t id_crc, uint32_t doc_crc);

/* ---- docstore_index.c ---- */

/* One live (or, with id NULL, deleted) document of the index. */
struct ds_entry {
    char *id;      /* owned; NULL for a tombstone */
    uint64_t hash; /* hash of id, kept so that rehashing never touches the strings */
    uint64_t off;  /* file offset of the latest PUT record of this id */
    uint32_t size; /* that whole record's size */
    bool damaged;  /* while scanning: that record's document is damaged */
};

struct ds_index {
    struct ds_entry *entries; /* position order, with tombstones */
    size_t n_entries;         /* used slots of entries, tombstones included */
    size_t cap_entries;
    size_t n_live;            /* entries that are not tombstones = the number of documents */
    size_t *slots;            /* hash table: 0 empty, else index into entries + 1 */
    size_t n_slots;           /* a power of two, or 0 */
    uint64_t live_bytes;      /* the records the entries point at */
};

uint64_t fh_ds_hash(const char *s, size_t n);
/* Index into entries of ID (hash H), or SIZE_MAX. */
size_t fh_ds_index_lookup(const struct ds_index *x, const char *id, size_t id_len, uint64_t h);
/* Makes room for one more entry, so that the update after a successful write cannot
 * fail. Returns 0 or FH_E_NOMEM (no message set; the index is unchanged). */
int fh_ds_index_reserve(struct ds_index *x);
/* Appends a live entry (after fh_ds_index_reserve). Takes ID. */
void fh_ds_index_append(struct ds_index *x, char *id, uint64_t h, uint64_t off, uint32_t size);
void fh_ds_index_replace(struct ds_index *x, size_t k, uint64_t off, uint32_t size);
void fh_ds_index_remove(struct ds_index *x, size_t k);
/* Squeezes the tombstones out (positions become array indexes again). */
void fh_ds_index_squeeze(struct ds_index *x);
void fh_ds_index_free(struct ds_index *x);

/* ---- the handle (docstore.c) ---- */

/* A superseded record whose document bytes are given back to the file system once the
 * record that superseded it is on disk (see docstore.c). */
struct ds_punch {
    uint64_t off, len;
};
#define FH_DS_MAX_PUNCHES 1024

struct fh_docstore {
    char *dir;      /* the path given to open (owned) */
    char *log_path; /* DIR/docs.log, for messages (owned) */
    int dir_fd;     /* the directory: every file is opened relative to it, never by path */
    int fd;         /* the log: O_RDWR|O_APPEND, or O_RDONLY */
    int lock_fd;    /* docs.lock with LOCK_EX held; -1 when read-only */
    int reserve_fd; /* docs.reserve; -1 when read-only or it could not be made */
    bool reserve_held; /* docs.reserve holds its FH_DS_RESERVE_BYTES */
    bool readonly;
    bool broken;   /* a failed write could not be rolled back: refuse writes */
    bool dirty;    /* written since the last fsync */
    bool no_punch; /* the file system cannot punch holes */
    int sync_errno; /* a failed fdatasync of a punch flush, for fh_docstore_sync to report */
    unsigned version; /* the log's format */
    uint32_t salt;    /* format 2: from the file header */
    uint64_t end;     /* end of the last good record = where the next one goes */
    uint64_t blksize; /* the file system's block size, for punching */
    struct ds_index index;
    struct ds_punch *punches; /* pending, FH_DS_MAX_PUNCHES at most */
    size_t n_punches;
    uint64_t punch_bytes;
};

/* ---- docstore_scan.c ---- */

/* A place where the log is not what it should be. */
struct ds_finding {
    fh_docstore_finding_kind kind;
    uint64_t off, len;
    char *id;         /* owned; NULL when unknown */
    const char *what; /* static */
};

struct ds_scan {
    uint64_t size;      /* the log's size when scanned */
    uint64_t tail;      /* where the unfinished tail (or trailing zeros) starts; = size when none */
    bool tail_zeros;    /* the tail is zeros, not a record */
    size_t stale;       /* superseded records whose document is damaged or freed */
    size_t n_damaged;   /* DAMAGED findings, all of them */
    struct ds_finding *findings; /* in offset order; at most FH_DS_MAX_FINDINGS kept */
    size_t n_findings, cap_findings;
};
#define FH_DS_MAX_FINDINGS 10000

/* Reads the whole log of S (header checked by the caller) into S's index and fills *SC:
 * damage is listed, not fatal; S->end is set to the end of the last record kept. Returns
 * 0, or FH_E_IO / FH_E_NOMEM. */
int fh_ds_scan(fh_docstore *s, struct ds_scan *sc);
void fh_ds_scan_free(struct ds_scan *sc);

/* ---- docstore.c, for docstore_repair.c ---- */

enum ds_open_mode {
    DS_OPEN_STRICT, /* fh_docstore_open: damage fails the open */
    DS_OPEN_CHECK,  /* read-only; damage is listed in the scan */
    DS_OPEN_REPAIR  /* locked for writing; damage is listed in the scan */
};

/* Opens PATH; FLAGS as fh_docstore_open. SC (may be NULL for DS_OPEN_STRICT) gets the
 * scan. A writer in DS_OPEN_REPAIR mode cuts nothing: the caller decides. */
int fh_ds_open(const char *path, int flags, enum ds_open_mode mode, fh_docstore **out,
               struct ds_scan *sc);

/* Writes the live documents into a new log (format 2), renamed over docs.log; when
 * KEEP_OLD, the old log stays as docs.log.before-repair. Returns 0 or a negative code;
 * on failure nothing changed. */
int fh_ds_rewrite(fh_docstore *s, bool keep_old);

/* Cuts the log at S->end (an unfinished tail) and syncs it. Returns 0 or FH_E_IO. */
int fh_ds_cut_tail(fh_docstore *s);

#endif

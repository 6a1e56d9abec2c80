/* flowhost — the docstore: an on-disk array of documents, Jina's DocumentArrayMemmap.
 *
 * A docstore is a directory. It holds more documents than memory: only an index (id,
 * position, file offset) stays in memory; documents are read from disk when asked for.
 * Writes are appended to a log, so a crash in the middle of a write loses at most the
 * document being written, never the others: opening a docstore drops an unfinished
 * last record. Damage to a written record (a flipped bit, a bad sector) is reported, never
 * dropped in silence: the open fails and names it, and fh_docstore_check and
 * fh_docstore_repair (`flowhost docstore check|repair DIR`) list it and drop it. One
 * process writes a docstore at a time (a lock says so); readers open it read-only.
 * Every file of the docstore is opened inside its directory without following a link.
 *
 * Ownership: fh_docstore_open stores a docstore the caller owns and closes with
 * fh_docstore_close. Documents passed in are copied (the caller keeps them); documents
 * returned are new and belong to the caller.
 */
#ifndef FLOWHOST_DOCSTORE_H
#define FLOWHOST_DOCSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <flowhost/document.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fh_docstore fh_docstore;

#define FH_DOCSTORE_CREATE 0x1   /* make the directory when it does not exist */
#define FH_DOCSTORE_READONLY 0x2 /* no writes; no lock taken */

/* Opens (or with FH_DOCSTORE_CREATE makes) the docstore at PATH. A writer cuts an
 * unfinished last record away and upgrades a format 1 log to format 2 (a rewrite; a
 * reader reads format 1 as it is). Returns 0, or FH_E_IO (cannot read or write PATH, a
 * file of the docstore is a symbolic link, not a regular file, or a log with other hard
 * links opened for writing), FH_E_NOTFOUND (no docstore there), FH_E_PARSE (not a
 * docstore, or damaged: the message gives the byte offset and, when known, the document;
 * fh_docstore_repair drops the damage), FH_E_STATE (another process writes it). */
int fh_docstore_open(const char *path, int flags, fh_docstore **out);

/* Flushes (fsync when written, then gives back the space of deleted and replaced
 * documents), releases the lock, frees *S; sets *S to NULL. Accepts NULL. */
void fh_docstore_close(fh_docstore **s);

/* Number of documents. */
size_t fh_docstore_len(const fh_docstore *s);

/* Stores a copy of D. A document with the same id is replaced and keeps its position;
 * a new one goes at the end. Returns 0, or FH_E_IO, FH_E_STATE (read-only), FH_E_INVAL
 * (an id over 64 KiB or a document over 1 GiB), FH_E_NOMEM. */
int fh_docstore_put(fh_docstore *s, const fh_doc *d);

/* The document with id ID (a new document in *OUT, the caller's), or FH_E_NOTFOUND (no
 * such id; for a reader, also one deleted or replaced since it opened whose bytes were
 * given back), FH_E_PARSE (its record is damaged on disk), FH_E_IO, FH_E_NOMEM. */
int fh_docstore_get(fh_docstore *s, const char *id, fh_doc **out);

/* The document at position POS (0 .. len-1), or FH_E_RANGE, and the codes of
 * fh_docstore_get. Positions are in insertion order; deleting a document moves the ones
 * after it down by one. */
int fh_docstore_get_at(fh_docstore *s, size_t pos, fh_doc **out);

/* Deletes the document with id ID: 0 or FH_E_NOTFOUND, FH_E_IO, FH_E_STATE. On a full
 * disk a delete still works: it may use the space a writer keeps in DIR/docs.reserve. The
 * disk blocks of a deleted or replaced document are given back once its removal is on
 * disk (see fh_docstore_sync); a reader opened before that may then get FH_E_NOTFOUND
 * for it. */
int fh_docstore_delete(fh_docstore *s, const char *id);

/* Makes what was written durable (fsync), then gives back the disk blocks of documents
 * deleted or replaced since. Returns 0 or FH_E_IO. */
int fh_docstore_sync(fh_docstore *s);

/* Rewrites the log without deleted and replaced records (it needs free space for the
 * live ones; on a full disk it may use DIR/docs.reserve). Returns 0, FH_E_IO, FH_E_PARSE
 * (a record was damaged since the open: it is never copied) or FH_E_NOMEM; on failure
 * the docstore is unchanged. */
int fh_docstore_compact(fh_docstore *s);

/* ---- checking and repairing (for an operator: `flowhost docstore check|repair DIR`) ---- */

typedef enum fh_docstore_finding_kind {
    FH_DOCSTORE_DAMAGED = 1, /* damaged bytes where records were: what they held is lost
                                (a document's latest version when the id is known) */
    FH_DOCSTORE_UNFINISHED   /* an unfinished last record (a writer stopped in the middle
                                of a write), or zeros after the last record: nothing that
                                was written whole is there; a writer cuts it */
} fh_docstore_finding_kind;

/* One place of DIR/docs.log that is not a good record. Valid during the callback only. */
typedef struct fh_docstore_finding {
    fh_docstore_finding_kind kind;
    uint64_t offset;  /* byte offset in docs.log */
    uint64_t length;  /* bytes */
    const char *id;   /* the document whose latest version is there, or NULL: unknown */
    const char *what; /* what is wrong, in words ("its document fails its checksum") */
} fh_docstore_finding;

/* Called once per finding, in offset order. */
typedef void (*fh_docstore_finding_fn)(const fh_docstore_finding *f, void *user);

typedef struct fh_docstore_report {
    unsigned format;        /* the log's format version (1 or 2) */
    uint64_t log_bytes;     /* the size of docs.log */
    size_t documents;       /* documents that read back whole */
    size_t damaged;         /* findings of kind FH_DOCSTORE_DAMAGED */
    size_t lost_documents;  /* among them, the ones that name their document */
    uint64_t unfinished_bytes; /* an unfinished last record: its bytes (0: none) */
    size_t stale;           /* records of replaced or deleted documents whose bytes were
                               given back or are damaged: nothing is lost */
    int rewritten;          /* repair: the log was rewritten (damage dropped, or format 1
                               upgraded) */
    int kept_old;           /* repair: the old log is kept as docs.log.before-repair */
} fh_docstore_report;

/* Reads the docstore at PATH (read-only, no lock: a writer may be running) and reports
 * every finding to FN (may be NULL) and a summary in *OUT (may be NULL). Returns 0 when
 * the log could be read through, damaged or not (OUT->damaged says); FH_E_NOTFOUND,
 * FH_E_PARSE (not a docstore, an unknown format) or FH_E_IO otherwise. */
int fh_docstore_check(const char *path, fh_docstore_finding_fn fn, void *user,
                      fh_docstore_report *out);

/* Repairs the docstore at PATH for writing again: takes the writer's lock, reports as
 * fh_docstore_check does, then drops every damaged record (a document whose latest
 * version is damaged is removed; an unknown damaged record is lost) and cuts an unfinished
 * tail. When something was dropped the log is rewritten and the old one kept, as
 * DIR/docs.log.before-repair (replacing an older one), for whoever wants to look at the
 * damaged bytes; a format 1 log is rewritten as format 2. Returns 0 (repaired, or nothing
 * to repair), FH_E_STATE (another process writes it), FH_E_NOTFOUND, FH_E_PARSE (not a
 * docstore), FH_E_IO (e.g. no room for the new log: nothing is changed then). */
int fh_docstore_repair(const char *path, fh_docstore_finding_fn fn, void *user,
                       fh_docstore_report *out);

#ifdef __cplusplus
}
#endif
#endif

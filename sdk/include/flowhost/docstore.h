/* flowhost — the docstore: an on-disk array of documents, Jina's DocumentArrayMemmap.
 *
 * A docstore is a directory. It holds more documents than memory: only an index (id,
 * position, file offset) stays in memory; documents are read from disk when asked for.
 * Writes are appended to a log, so a crash in the middle of a write loses at most the
 * document being written, never the others: opening a docstore drops an unfinished
 * last record. One process writes a docstore at a time (a lock says so); readers open it
 * read-only.
 *
 * Ownership: fh_docstore_open stores a docstore the caller owns and closes with
 * fh_docstore_close. Documents passed in are copied (the caller keeps them); documents
 * returned are new and belong to the caller.
 */
#ifndef FLOWHOST_DOCSTORE_H
#define FLOWHOST_DOCSTORE_H

#include <stddef.h>

#include <flowhost/document.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fh_docstore fh_docstore;

#define FH_DOCSTORE_CREATE 0x1   /* make the directory when it does not exist */
#define FH_DOCSTORE_READONLY 0x2 /* no writes; no lock taken */

/* Opens (or with FH_DOCSTORE_CREATE makes) the docstore at PATH. Returns 0, or FH_E_IO
 * (cannot read or write PATH), FH_E_NOTFOUND (no docstore there), FH_E_PARSE (not a
 * docstore, or corrupted before its last record: the message gives the byte offset),
 * FH_E_STATE (another process writes it). */
int fh_docstore_open(const char *path, int flags, fh_docstore **out);

/* Flushes, releases the lock, frees *S; sets *S to NULL. Accepts NULL. */
void fh_docstore_close(fh_docstore **s);

/* Number of documents. */
size_t fh_docstore_len(const fh_docstore *s);

/* Stores a copy of D. A document with the same id is replaced and keeps its position;
 * a new one goes at the end. Returns 0, or FH_E_IO, FH_E_STATE (read-only), FH_E_INVAL
 * (an id over 64 KiB or a document over 1 GiB), FH_E_NOMEM. */
int fh_docstore_put(fh_docstore *s, const fh_doc *d);

/* The document with id ID (a new document in *OUT), or FH_E_NOTFOUND. */
int fh_docstore_get(fh_docstore *s, const char *id, fh_doc **out);

/* The document at position POS (0 .. len-1), or FH_E_RANGE. Positions are in insertion
 * order; deleting a document moves the ones after it down by one. */
int fh_docstore_get_at(fh_docstore *s, size_t pos, fh_doc **out);

/* Deletes the document with id ID: 0 or FH_E_NOTFOUND, FH_E_IO, FH_E_STATE. */
int fh_docstore_delete(fh_docstore *s, const char *id);

/* Makes what was written durable (fsync). Returns 0 or FH_E_IO. */
int fh_docstore_sync(fh_docstore *s);

/* Rewrites the log without deleted and replaced records. Returns 0 or FH_E_IO; on
 * failure the docstore is unchanged. */
int fh_docstore_compact(fh_docstore *s);

#ifdef __cplusplus
}
#endif
#endif

/* flowhost — documents and document arrays.
 *
 * A document has an id (generated when it is made), text, blob bytes, uri, mime type,
 * typed tags, an embedding (float32 vector), a tensor (n-d array), chunks and matches
 * (documents themselves), named scores, weight, granularity and adjacency.
 *
 * Ownership: fh_doc_new / fh_doc_copy / fh_docs_new return objects the caller owns.
 * A function that stores an `fh_doc *` (fh_docs_append, fh_doc_add_chunk,
 * fh_doc_add_match) takes ownership of it, also when it fails (it is then destroyed).
 * String getters never return NULL ("" when unset) and return borrowed pointers that stay
 * valid until the field is set again or the document is destroyed. Setters copy their
 * arguments and return 0, or FH_E_NOMEM / FH_E_INVAL.
 */
#ifndef FLOWHOST_DOCUMENT_H
#define FLOWHOST_DOCUMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flowhost/value.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fh_doc fh_doc;
typedef struct fh_docs fh_docs;

/* A new empty document with a fresh random 32-hex-digit id; NULL when out of memory. */
fh_doc *fh_doc_new(void);
/* Deep copy (same id); NULL when out of memory. */
fh_doc *fh_doc_copy(const fh_doc *d);
/* Frees *D with its chunks and matches; sets *D to NULL. Accepts NULL. */
void fh_doc_destroy(fh_doc **d);

const char *fh_doc_id(const fh_doc *d);
int fh_doc_set_id(fh_doc *d, const char *id);
const char *fh_doc_parent_id(const fh_doc *d);
int fh_doc_set_parent_id(fh_doc *d, const char *id);
const char *fh_doc_text(const fh_doc *d);
int fh_doc_set_text(fh_doc *d, const char *text);
const char *fh_doc_uri(const fh_doc *d);
int fh_doc_set_uri(fh_doc *d, const char *uri);
const char *fh_doc_mime_type(const fh_doc *d);
int fh_doc_set_mime_type(fh_doc *d, const char *mime);

/* Blob: the bytes (borrowed, NULL when empty) and their length in *LEN. */
const void *fh_doc_blob(const fh_doc *d, size_t *len);
/* Copies LEN bytes of DATA as the blob (LEN = 0 removes it). Returns 0, FH_E_INVAL or
 * FH_E_NOMEM (the blob is then unchanged). */
int fh_doc_set_blob(fh_doc *d, const void *data, size_t len);
/* Makes DATA (LEN bytes from malloc) the blob without copying it: D owns it from then on
 * and frees it with free(). A large blob taken this way is also sent without a copy.
 * Returns 0, or FH_E_INVAL (D or DATA NULL, or LEN 0: DATA is then still the caller's). */
int fh_doc_take_blob(fh_doc *d, void *data, size_t len);

/* The tags map of D, made empty on first use; NULL only when out of memory. Borrowed:
 * edit it with the fh_map_* functions. */
fh_value *fh_doc_tags(fh_doc *d);
/* The tags map, or NULL when D has none. Borrowed. */
const fh_value *fh_doc_tags_get(const fh_doc *d);

/* Embedding: N float32 values (borrowed, NULL and *N = 0 when absent or not float32). */
const float *fh_doc_embedding(const fh_doc *d, size_t *n);
/* Copies N floats as the embedding; N = 0 removes it. */
int fh_doc_set_embedding(fh_doc *d, const float *v, size_t n);

/* Tensor: an n-d array with a numpy dtype name ("float32", "int64", ...), NDIM
 * dimensions and NBYTES of C-order little-endian data. The getter returns the data
 * (borrowed) or NULL when absent; DTYPE, SHAPE (borrowed) and NDIM are filled. */
const void *fh_doc_tensor(const fh_doc *d, const char **dtype, const uint64_t **shape,
                          size_t *ndim, size_t *nbytes);
int fh_doc_set_tensor(fh_doc *d, const char *dtype, const uint64_t *shape, size_t ndim,
                      const void *data, size_t nbytes);

double fh_doc_weight(const fh_doc *d);
void fh_doc_set_weight(fh_doc *d, double w);
int32_t fh_doc_granularity(const fh_doc *d);
void fh_doc_set_granularity(fh_doc *d, int32_t g);
int32_t fh_doc_adjacency(const fh_doc *d);
void fh_doc_set_adjacency(fh_doc *d, int32_t a);

/* Named scores ("cosine" -> 0.93). fh_doc_score returns true and fills *OUT when NAME
 * is present. fh_doc_set_score adds or replaces. */
bool fh_doc_score(const fh_doc *d, const char *name, double *out);
int fh_doc_set_score(fh_doc *d, const char *name, double value);
size_t fh_doc_score_count(const fh_doc *d);
/* The I-th score: its name (borrowed) and value; NULL when out of range. */
const char *fh_doc_score_at(const fh_doc *d, size_t i, double *value);

/* Chunks and matches. _count gives their number, _at the I-th (borrowed, NULL when out
 * of range), _add appends and takes ownership (a chunk's parent_id is set to D's id;
 * its granularity to D's + 1; a match's adjacency to D's + 1), _remove destroys the
 * I-th (0 or FH_E_RANGE). */
size_t fh_doc_chunk_count(const fh_doc *d);
fh_doc *fh_doc_chunk_at(const fh_doc *d, size_t i);
int fh_doc_add_chunk(fh_doc *d, fh_doc *chunk);
int fh_doc_remove_chunk(fh_doc *d, size_t i);
size_t fh_doc_match_count(const fh_doc *d);
fh_doc *fh_doc_match_at(const fh_doc *d, size_t i);
int fh_doc_add_match(fh_doc *d, fh_doc *match);
int fh_doc_remove_match(fh_doc *d, size_t i);

/* Document arrays. */
fh_docs *fh_docs_new(void);
void fh_docs_destroy(fh_docs **docs);
size_t fh_docs_len(const fh_docs *docs);
/* The I-th document (borrowed), NULL when out of range. */
fh_doc *fh_docs_at(const fh_docs *docs, size_t i);
/* The first document whose id is ID (borrowed), or NULL. */
fh_doc *fh_docs_find(const fh_docs *docs, const char *id);
/* Appends D (takes ownership): 0 or FH_E_NOMEM / FH_E_INVAL. */
int fh_docs_append(fh_docs *docs, fh_doc *d);
/* Removes the I-th document and returns it to the caller (who owns it); NULL when out
 * of range. The documents after it move down by one. */
fh_doc *fh_docs_take(fh_docs *docs, size_t i);
/* Removes and destroys the I-th document: 0 or FH_E_RANGE. */
int fh_docs_remove(fh_docs *docs, size_t i);
/* Destroys every document; the array stays usable. */
void fh_docs_clear(fh_docs *docs);

#ifdef __cplusplus
}
#endif
#endif

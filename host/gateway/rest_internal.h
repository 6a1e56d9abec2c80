/* Internal to the REST conversion (rest*.c): failures, positions in a body, and the
 * mapping between Jina 2's document dicts and the SDK's JSON. */
#ifndef FH_HOST_REST_INTERNAL_H
#define FH_HOST_REST_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include <flowhost/document.h>

#include "rest.h"

/* Fills ERR with STATUS, the position (0, 0: none) and the message, the position in front
 * of it when known, and returns CODE. ERR may be NULL. */
int fh_rest_fail(fh_rest_error *err, int code, int status, int line, int column,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* One step of a path into a JSON text: a key of an object, or (KEY NULL) the INDEX-th
 * element of an array. */
typedef struct fh_rest_step {
    const char *key;
    size_t index;
} fh_rest_step;

/* Finds where the value at the path STEPS (N steps) starts in TEXT (LEN bytes of valid
 * JSON, as jansson accepted it) and stores its 1-based line and column (columns count
 * characters, as jansson's do). Keys written with escapes are not matched. Returns 0, or
 * -1 (nothing written) when the path is not there. Linear in LEN, no recursion. */
int fh_rest_locate(const char *text, size_t len, const fh_rest_step *steps, size_t n,
                   int *line, int *column);

/* Rewrites the document object J in place from Jina 2's forms to the SDK's (json.h):
 * parentId/mimeType to parent_id/mime_type, buffer to blob, an NdArrayProto ({dense:
 * {buffer, shape, dtype}}) in embedding or blob to the SDK's {dtype, shape, data} (blob
 * to tensor), scores {name: {value}} to {name: value}, content (a string) to text, Jina
 * 2 fields flowhost has not (location, offset, modality, ...) dropped when at their
 * default, and any other unknown key moved into tags, as Jina 2's Document(dict) does.
 * Chunks and matches likewise, to at most FH_JSON_MAX_DOC_DEPTH levels. Returns 0, or
 * FH_E_TYPE / FH_E_PARSE / FH_E_NOMEM with a message (the field's path in the document
 * and what is wrong) in WHY. */
int fh_rest_doc_from_jina(json_t *j, char *why, size_t why_len);

/* The response JSON of D: the SDK's JSON with Jina 2's names and defaults (id,
 * granularity, adjacency, parentId, text, uri, chunks, weight, matches, mimeType, tags,
 * embedding, scores as {name: {value}}, then blob and tensor when set), chunks and
 * matches likewise. An embedding other than 1-D float32 is written {dtype, shape, data},
 * so that it reads back as it was. A new reference, or NULL with fh_last_error() set. */
json_t *fh_rest_doc_to_jina(const fh_doc *d);

#endif

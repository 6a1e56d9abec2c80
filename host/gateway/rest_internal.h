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

/* A JSON text being written (rest_reply.c): it grows in one buffer, bounded by MAX; the
 * first failure stops it (CODE) and later writes do nothing. The caller owns DATA (NULL
 * until the first write; NUL-terminated after a successful write) and frees it. */
typedef struct fh_rest_text {
    char *data;
    size_t len, cap;
    size_t max;       /* longer than this: CODE FH_E_RANGE */
    int code;         /* 0, or why writing stopped (FH_E_NOMEM, FH_E_RANGE) */
} fh_rest_text;

/* Appends the N bytes of S as they are. */
void fh_rest_put(fh_rest_text *t, const char *s, size_t n);
/* The same with a string literal. */
#define FH_REST_PUT_LIT(t, lit) fh_rest_put((t), (lit), sizeof(lit) - 1)
/* Appends the N bytes of S (valid UTF-8) as a JSON string, escaped as jansson escapes. */
void fh_rest_put_string(fh_rest_text *t, const char *s, size_t n);
/* Appends J as json_dumps writes it with JSON_COMPACT (keys in their order, UTF-8 as it
 * is, '/' unescaped), each real with the fewest digits (15 to 17) that read back exactly.
 * DEPTH is J's own (0 at the top): too deep stops the text with FH_E_RANGE. */
void fh_rest_put_json(fh_rest_text *t, const json_t *j, int depth);

/* Appends the response JSON of D: the SDK's JSON with Jina 2's names and defaults (id,
 * granularity, adjacency, parentId, text, uri, chunks, weight, matches, mimeType, tags,
 * embedding, scores as {name: {value}}, then blob and tensor when set), chunks and
 * matches likewise. An embedding other than 1-D float32 is written {dtype, shape, data},
 * so that it reads back as it was. Returns 0, or an FH_E_ code with fh_last_error() set
 * (what JSON cannot hold, e.g. a NaN score: FH_E_RANGE; memory); T's own failures are in
 * T->code. */
int fh_rest_put_doc(fh_rest_text *t, const fh_doc *d);

#endif

/* flowhost — JSON for values and documents (jansson underneath).
 *
 * Values map to JSON as: null, true/false, integer (int64), real (double), string,
 * array (list), object (map, order kept). Bytes become a base64 string. A document is an
 * object with the proto's field names (id, parent_id, text, blob (base64), uri,
 * mime_type, tags, embedding (array of numbers), tensor ({dtype, shape, data (base64)}),
 * chunks, matches, scores ({name: value}), weight, granularity, adjacency); fields at
 * their default are left out.
 *
 * Strings returned by _to_json are owned by the caller, who frees them with free().
 * On failure functions return NULL or a negative code, with fh_last_error() saying what
 * and where (line and column of the JSON).
 */
#ifndef FLOWHOST_JSON_H
#define FLOWHOST_JSON_H

#include <stddef.h>

#include <flowhost/document.h>
#include <flowhost/value.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Parses TEXT (LEN bytes, need not be NUL-terminated) into a new value in *OUT.
 * Returns 0, or FH_E_PARSE with "line L, column C: ..." in fh_last_error(). */
int fh_value_from_json(const char *text, size_t len, fh_value **out);
/* Compact JSON of V; NULL on failure. */
char *fh_value_to_json(const fh_value *v);

/* Parses one JSON object into a new document in *OUT (an id is generated when absent).
 * Unknown fields are an error. Returns 0, FH_E_PARSE or FH_E_TYPE. */
int fh_doc_from_json(const char *text, size_t len, fh_doc **out);
/* Compact JSON of D; NULL on failure. */
char *fh_doc_to_json(const fh_doc *d);

/* NDJSON input: one document object per line; blank lines are skipped. */
typedef struct fh_ndjson_reader fh_ndjson_reader;

/* Opens PATH ("-" for standard input) and stores a new reader in *OUT.
 * Returns 0, or FH_E_IO ("PATH: No such file or directory"). */
int fh_ndjson_open(const char *path, fh_ndjson_reader **out);
/* Reads the next document into *OUT (caller owns it): returns 1, 0 at the end, or
 * FH_E_PARSE / FH_E_TYPE / FH_E_IO / FH_E_RANGE (a line over max_line, 256 MiB by default) / FH_E_NOMEM with
 * "PATH:LINE:COLUMN: ..." or "PATH:LINE: ..." in fh_last_error(). */
int fh_ndjson_next(fh_ndjson_reader *r, fh_doc **out);
/* Closes the file (not stdin) and frees *R; sets *R to NULL. Accepts NULL. */
void fh_ndjson_close(fh_ndjson_reader **r);

#ifdef __cplusplus
}
#endif
#endif

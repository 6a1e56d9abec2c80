/* Internal: jansson-level access to the SDK's JSON mapping, for the rest of the SDK
 * (the client builds its response JSON from these) and for the NDJSON reader.
 *
 * The mapping is the one json.h documents. Functions returning json_t * return a new
 * reference the caller releases with json_decref(); NULL on failure, with
 * fh_last_error() set. Functions returning int return 0 or a negative FH_E_ code with
 * fh_last_error() set; *OUT is only written on success.
 */
#ifndef FH_SDK_JSON_INTERNAL_H
#define FH_SDK_JSON_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include <flowhost/document.h>
#include <flowhost/value.h>

/* Nesting bounds: values deeper than FH_JSON_MAX_VALUE_DEPTH and documents whose
 * chunks/matches nest deeper than FH_JSON_MAX_DOC_DEPTH are refused (FH_E_PARSE when
 * reading, FH_E_RANGE when writing), so that neither input nor output can exhaust the
 * stack. */
#define FH_JSON_MAX_VALUE_DEPTH 256
#define FH_JSON_MAX_DOC_DEPTH 64

json_t *fh_value_to_jansson(const fh_value *v);
int fh_value_from_jansson(const json_t *j, fh_value **out);
json_t *fh_doc_to_jansson(const fh_doc *d);
int fh_doc_from_jansson(const json_t *j, fh_doc **out);

/* Compact text of J (caller frees with free()), keeping object order. Reals are written
 * with the fewest digits (15 to 17) that read back to the same doubles. NULL when out of
 * memory. */
char *fh_jansson_dumps(const json_t *j);

/* Where and why a JSON text was refused: LINE and COLUMN are 1-based (0 when unknown),
 * TEXT says what went wrong without the position. */
struct fh_json_error {
    int line;
    int column;
    char text[512];
};

/* Like fh_doc_from_json, but reports the position separately in *ERR and leaves
 * fh_last_error() alone, so that a caller (the NDJSON reader) can format the message
 * with its own file name and line. Returns 0, FH_E_PARSE, FH_E_TYPE or FH_E_NOMEM. */
int fh_doc_parse_json(const char *text, size_t len, fh_doc **out, struct fh_json_error *err);

/* "an object", "an array", "a string", "an integer", "a real", "a boolean" or "null":
 * the JSON type of J for a message (a static string). */
const char *fh_json_type_name(const json_t *j);

#endif

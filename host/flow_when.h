/* `when:` on an executor: a condition (Jina 3's filter syntax, a subset) that picks the
 * documents the executor gets; the others go on around it (worker_when.h).
 *
 *   when:
 *     $or:
 *       - tags__lang: {$eq: en}
 *       - tags__score: {$gte: 0.5, $lt: 1}      # several operators: all must hold
 *     text: {$exists: true}                      # several fields: all must hold
 *
 * A condition is a mapping: each key is a field, `$and` or `$or` (a non-empty list of
 * conditions); all of its entries must hold. A field maps to one or more operators:
 * `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte` (a scalar), `$in`, `$nin` (a list of
 * scalars), `$exists` (a boolean). `{}` holds for every document.
 *
 * Fields: `tags__KEY` (nested: `tags__a__b`), `scores__NAME` (or Jina's
 * `scores__NAME__value`), the strings `id`, `parent_id`, `text`, `uri`, `mime_type`, the
 * numbers `weight`, `granularity`, `adjacency`, and, with `$exists` only, `tags`, `blob`,
 * `embedding`, `tensor`, `chunks`, `matches`.
 *
 * Types are kept: an int and a double compare as numbers (exactly: 3 == 3.0); a string
 * never equals a number, nor a boolean an int; `$gt`, `$gte`, `$lt`, `$lte` compare two
 * numbers or two strings (bytewise) and are false for any other pair. A missing tag or
 * score, a tag holding null and an empty string field are all null: `$eq: null` holds for
 * them, `$exists: true` does not, `$ne` and `$nin` do, the orderings do not.
 *
 * Everything is checked when the condition is compiled: an unknown field or operator, an
 * operand of the wrong type for its operator or field (`text: {$gt: 5}`) is an error that
 * says where. Matching cannot fail.
 */
#ifndef FH_HOST_FLOW_WHEN_H
#define FH_HOST_FLOW_WHEN_H

#include <stdbool.h>

#include <flowhost/document.h>
#include <flowhost/value.h>

#include "flow_yaml.h"

typedef struct fh_when fh_when;

/* Turns the YAML scalar N into a new value in *OUT (the caller's): the flow loader's rule
 * (`${VAR}` expanded, a plain scalar typed, a quoted one a string): fh_yaml_scalar_fn. */
typedef fh_yaml_scalar_fn fh_when_scalar_fn;

/* Compiles the condition at NODE (a `when:` value of the flow file NAME) into a new
 * condition in *OUT and its compact JSON (what fh_when_compile_json takes back) in
 * *TEXT; both are the caller's (fh_when_destroy, free). SCALAR types the scalars (NULL:
 * plain typing without expansion, fh_yaml_type_plain), with CTX. Returns 0, or a
 * negative FH_E... code (FH_E_PARSE, FH_E_TYPE, FH_E_NOMEM) with the message
 * "NAME:LINE:COLUMN: what is wrong" at the offending key or value; *OUT and *TEXT are
 * then NULL. */
int fh_when_compile_yaml(const fh_yaml_node *node, const char *name, fh_when_scalar_fn scalar,
                         void *ctx, fh_when **out, char **text);

/* Compiles the condition in the JSON TEXT (as fh_when_compile_yaml wrote it) into a new
 * condition in *OUT, the caller's. Returns 0, or a negative FH_E... code with the message
 * "when: what is wrong"; *OUT is then NULL. */
int fh_when_compile_json(const char *text, fh_when **out);

/* Whether the document D satisfies W. D is only read. */
bool fh_when_match(const fh_when *w, const fh_doc *d);

/* Frees *W and sets it to NULL. Accepts NULL. */
void fh_when_destroy(fh_when **w);

#endif

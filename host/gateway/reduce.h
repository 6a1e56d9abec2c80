/* The merge of several document arrays into one: the documents that the branches of a
 * join send back, or the replies of the shards of an executor polled with ALL.
 *
 * The rule (docs/flow-yaml.md, "Joins and shards", says it for users):
 *   - the parts are taken in order (the order of `needs`, or of the shards); the result
 *     holds the documents of the first part in their order, then each document of a later
 *     part whose id the result does not hold yet, appended as it comes;
 *   - a document whose id the result holds already is merged into it: for each field
 *     but id, chunks and matches, the first non-empty value wins (text, blob, uri,
 *     mime_type, parent_id: non-empty; tags: a map with entries; embedding, tensor:
 *     present with bytes or a shape; scores: at least one; weight, granularity,
 *     adjacency: not 0), whole (two tags maps are not merged key by key);
 *   - chunks and matches are merged the same way, one level down and so on: those of a
 *     later part are appended, except those whose id is there already, which are merged
 *     into it (so a chunk or match that two branches both carry is not doubled);
 *   - a later document matches the first of the result with its id (a part that holds
 *     one id twice keeps both when it is the first part);
 *   - with a top_k (shards), the matches of every document (top-level documents and,
 *     down through chunks, theirs) are then sorted by their score, best first, ties in
 *     the order the merge left them, and cut to top_k. The score is the one named by
 *     fh_reduce_options.score, else the first score of the first match that has one;
 *     higher is better (the demo's "cosine" is a similarity) unless lower_is_better;
 *     a match without that score, or whose score is NaN, goes after those that have one.
 *
 * Pure: no gateway state; the caller owns every input and output as each function says.
 */
#ifndef FH_GATEWAY_REDUCE_H
#define FH_GATEWAY_REDUCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#include <flowhost/document.h>
#include <flowhost/value.h>

typedef struct fh_reduce_options {
    int64_t top_k;          /* > 0: sort and cut every document's matches (shards with
                               polling ALL); 0: the merge alone (a join) */
    const char *score;      /* the score to sort on; NULL: the first score of the first
                               match that has one, per document */
    bool lower_is_better;   /* the score is a distance: ascending */
    size_t max_message_size; /* the flow's with.max_message_size, bytes; 0: the default
                                (FH_DECODE_DEFAULT_MAX). See fh_reduce_wire. */
} fh_reduce_options;

/* The top_k a shard merge sorts and cuts to, from a request's PARAMS (a map, may be
 * NULL): parameters.top_k when it is an int (or a double of integral value, as the
 * executors read it) of at least 1, else 0 (no sort, no cut). */
int64_t fh_reduce_top_k(const fh_value *params);

/* Merges the N arrays PARTS[0..N-1] (N >= 1) into one by the rule above, with OPTS (may
 * be NULL: no top_k). Takes ownership of every PARTS[i], whatever the outcome: each is
 * destroyed, or becomes the result, and PARTS[i] is set to NULL. Documents, their fields,
 * chunks and matches are moved, never copied. *OUT gets the result (the caller destroys
 * it with fh_docs_destroy). Returns 0, FH_E_INVAL (N is 0 or a part is NULL) or
 * FH_E_NOMEM, with *OUT NULL and fh_last_error() saying why. */
int fh_reduce_docs(fh_docs **parts, size_t n, const fh_reduce_options *opts, fh_docs **out);

/* fh_reduce_docs on documents as they travel: PARTS[0..N-1] (N >= 1, read only; the
 * caller still owns and closes them) merged into OUT (initialised here; the caller sends
 * or closes it). Blobs, embeddings and tensors that travel as frames of their own stay
 * so (fh_docs_pack_wire takes them again).
 * Fast paths, with no decoding at all, when OPTS has no top_k: the parts that hold no
 * documents (an empty documents frame and no blob frame) are left out; when the rest
 * are byte for byte the same frames (branches that passed the request on unchanged) or
 * there is only one, OUT shares that part's frames (ZeroMQ reference counts: no copy);
 * when every part is empty, OUT is empty.
 * Bounded by M = OPTS->max_message_size: it refuses, before decoding, parts that would
 * take more than FH_DECODE_DOCS_FACTOR x M bytes decoded together (the limit of one
 * message's documents, codec.h), and, before packing, a result over M bytes.
 * Returns 0; FH_E_INVAL (N is 0); FH_E_PROTOCOL (a part does not decode); FH_E_RANGE (over
 * a bound, or a string with a NUL); FH_E_NOMEM. On failure OUT is empty and
 * fh_last_error() says what and which part, in one line. */
int fh_reduce_wire(const fh_wire_docs *parts, size_t n, const fh_reduce_options *opts,
                   fh_wire_docs *out);

#endif

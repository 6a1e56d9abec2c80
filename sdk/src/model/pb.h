/* Internal: the SDK's public types are the generated protobuf-c structs.
 *
 * fh_value is Flowhost__Value, fh_doc is Flowhost__Document, fh_docs is
 * Flowhost__DocumentArray: the public headers keep them opaque, the implementation casts.
 * Every allocation inside them is made with malloc, the allocator protobuf-c uses by
 * default, so protobuf_c_message_free_unpacked() frees a tree whether it was decoded
 * from the wire or built and edited through the API.
 *
 * String fields are never NULL: an unset string points at protobuf_c_empty_string,
 * which must never be freed (fh_pb_set_string handles that).
 */
#ifndef FH_SDK_PB_H
#define FH_SDK_PB_H

#include "flowhost.pb-c.h"

#include <flowhost/document.h>
#include <flowhost/value.h>

#define FH_PB_VALUE(v) ((Flowhost__Value *)(v))
#define FH_PB_CVALUE(v) ((const Flowhost__Value *)(v))
#define FH_PB_DOC(d) ((Flowhost__Document *)(d))
#define FH_PB_CDOC(d) ((const Flowhost__Document *)(d))
#define FH_PB_DOCS(d) ((Flowhost__DocumentArray *)(d))
#define FH_PB_CDOCS(d) ((const Flowhost__DocumentArray *)(d))

/* Replaces *FIELD with a malloc'd copy of S (NULL means ""), freeing the old string
 * unless it is protobuf_c_empty_string. Returns 0 or FH_E_NOMEM (field unchanged). */
int fh_pb_set_string(char **field, const char *s);

/* Frees a string field's value unless it is protobuf_c_empty_string, and resets it. */
void fh_pb_clear_string(char **field);

/* Moves the first N documents of SRC (N at most its length) to the end of DST, in order;
 * SRC keeps the rest. One allocation, no copy of a document. Returns 0, or FH_E_NOMEM
 * with both arrays unchanged. (A batch of requests is merged and split with it.) */
int fh_docs_splice(fh_docs *dst, fh_docs *src, size_t n);

#endif

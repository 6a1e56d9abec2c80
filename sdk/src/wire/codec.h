/* Internal: protobuf encode/decode of envelopes, documents, hellos and specs, straight
 * into and out of ZeroMQ frames. */
#ifndef FH_SDK_CODEC_H
#define FH_SDK_CODEC_H

#include <stddef.h>
#include <zmq.h>

#include "flowhost.pb-c.h"
#include "wire.h"

#include <flowhost/document.h>

/* Packs any protobuf-c message into a new frame OUT (initialised here; the caller sends
 * or closes it). Returns 0 or FH_E_NOMEM. */
int fh_pb_pack_msg(const ProtobufCMessage *msg, zmq_msg_t *out);

/* Messages nested deeper than this (a Value in a list in a map..., a chunk of a chunk...)
 * are refused before decoding: protobuf-c decodes recursively, and a small message can
 * nest deep enough to exhaust the stack. */
#define FH_PB_MAX_DEPTH 64

/* What one message may cost decoded, the limits every receiver applies before protobuf-c
 * allocates anything. The wire size of a message says little: a map entry of 2 bytes
 * decodes into about 90 (its struct, a pointer, protobuf-c's scan of it), so an 8 MB
 * envelope of empty entries once took 551 MB to decode.
 *   - an envelope (parameters, routes, status): at most max_message_size bytes decoded;
 *   - documents (the documents frame and its blob frames): at most
 *     FH_DECODE_DOCS_FACTOR x max_message_size bytes decoded (a document's struct alone
 *     is 200 bytes: 10^6 small documents, 46 MB on the wire, take 290 MB).
 * A receiver that does not know the flow's max_message_size (a client) uses
 * FH_DECODE_DEFAULT_MAX, the default of with.max_message_size. */
#define FH_DECODE_DEFAULT_MAX ((size_t)256 << 20)
#define FH_DECODE_DOCS_FACTOR 4

/* Walks BUF (LEN bytes), protobuf for DESC, without decoding it, and stores in *DECODED
 * (may be NULL) the bytes protobuf-c's unpack would allocate for it, allocator overhead
 * and the decoder's scratch included. Refuses, before anything is allocated:
 *   - malformed protobuf, sub-messages nested deeper than FH_PB_MAX_DEPTH, a singular
 *     message field given twice (protobuf-c merges those in quadratic time): FH_E_PROTOCOL;
 *   - a message that would take more than MAX bytes decoded (the walk stops there), or a
 *     string field holding a NUL byte (a C string would silently end there): FH_E_RANGE.
 * Returns 0 or the code, with fh_last_error() saying why. Takes time linear in LEN. */
int fh_pb_measure(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                  size_t max, size_t *decoded);

/* fh_pb_measure with no size limit. Returns 0, FH_E_PROTOCOL or FH_E_RANGE. */
int fh_pb_check(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len);

/* Decodes BUF (LEN bytes) as DESC after fh_pb_measure with MAX: *OUT gets a new message
 * the caller frees with protobuf_c_message_free_unpacked, *DECODED (may be NULL) its
 * decoded size. Returns 0, or FH_E_PROTOCOL / FH_E_RANGE (see fh_pb_measure) with *OUT
 * NULL. */
int fh_pb_decode(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len, size_t max,
                 ProtobufCMessage **out, size_t *decoded);

/* fh_pb_decode with no size limit; NULL (with the error set) when BUF is refused or does
 * not decode. Free the result with protobuf_c_message_free_unpacked. */
ProtobufCMessage *fh_pb_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len);

/* Decodes an envelope of at most MAX bytes decoded (*DECODED, may be NULL, gets its
 * size). *OUT is freed with flowhost__envelope__free_unpacked(*OUT, NULL). Returns 0,
 * FH_E_PROTOCOL ("cannot decode the request envelope: malformed ...") or FH_E_RANGE
 * (well-formed but over MAX, or a string with a NUL), with *OUT NULL. */
int fh_envelope_decode_max(const void *buf, size_t len, size_t max, Flowhost__Envelope **out,
                           size_t *decoded);

/* fh_envelope_decode_max with FH_DECODE_DEFAULT_MAX. */
int fh_envelope_decode(const void *buf, size_t len, Flowhost__Envelope **out);

/* The request id and endpoint of an envelope that fh_envelope_decode_max refused with
 * FH_E_RANGE, so that the refusal can be answered: a new envelope with only those two
 * strings (each cut at its first NUL and to at most FH_ENVELOPE_ID_PEEK bytes), freed
 * with flowhost__envelope__free_unpacked. Returns 0, FH_E_PROTOCOL (malformed) or
 * FH_E_NOMEM. */
#define FH_ENVELOPE_ID_PEEK 1024
int fh_envelope_decode_ids(const void *buf, size_t len, Flowhost__Envelope **out);

/* What the gateway routes an executor's reply on, read from its envelope without
 * decoding it: pointers into BUF (NULL when the field is absent). */
typedef struct fh_envelope_peek_t {
    const uint8_t *request_id, *endpoint;
    size_t request_id_len, endpoint_len;
    int status_code;              /* FLOWHOST__STATUS__CODE__*, SUCCESS when absent */
    bool has_status;              /* a status is there (whatever its code) */
    const uint8_t *last_route;    /* the last route's bytes (fh_route_batch), or NULL */
    size_t last_route_len;
    bool no_wait;                 /* the request's no_wait (the last one given) */
} fh_envelope_peek_t;

/* Reads the request id, endpoint and status code of the envelope BUF (LEN bytes) into
 * *OUT, in one pass over its top-level fields, allocating nothing. Returns 0, or
 * FH_E_PROTOCOL when its top level is malformed or one of those fields is given twice
 * (then decode it in full to know what it says). Checks nothing else: run
 * fh_pb_measure first to know the whole message is well-formed and within a size. */
int fh_envelope_peek(const void *buf, size_t len, fh_envelope_peek_t *out);

/* The `batch` of the encoded Route at P (LEN bytes), read without decoding it; 0 when
 * absent or the route is malformed. */
uint32_t fh_route_batch(const uint8_t *p, size_t len);

/* Decodes the documents frame into a new array the caller owns (fh_docs_destroy), of at
 * most MAX bytes decoded. An empty frame is an empty array. Returns 0, FH_E_PROTOCOL or
 * FH_E_RANGE (see fh_pb_measure). */
int fh_docs_decode_max(const void *buf, size_t len, size_t max, fh_docs **out);

/* fh_docs_decode_max with FH_DECODE_DOCS_FACTOR x FH_DECODE_DEFAULT_MAX. */
int fh_docs_decode(const void *buf, size_t len, fh_docs **out);

/* Packs DOCS into a new frame. Returns 0 or FH_E_NOMEM. */
int fh_docs_pack(const fh_docs *docs, zmq_msg_t *out);

/* Blobs, embeddings and tensors of at least this many bytes travel as frames of their
 * own (when the sender may take them: fh_docs_pack_wire). Below it, copying is cheaper
 * than another frame. */
#define FH_BLOB_FRAME_MIN (32 * 1024)

/* Packs DOCS into OUT (initialised here; the caller sends or closes it). With
 * TAKE_BLOBS, the blobs, embedding buffers and tensor buffers of FH_BLOB_FRAME_MIN bytes
 * or more of the top-level documents (the first FH_WIRE_MAX_BLOBS of them, in document
 * order, and blob, embedding, tensor within a document) are not copied: each buffer is
 * taken out of its document (left without those bytes: DOCS is then only fit to be
 * destroyed) and sent as a frame of its own, freed by ZeroMQ once sent. Without
 * TAKE_BLOBS, everything is packed into the documents frame. Either way the top-level
 * documents' attached flags say what was taken (a flag left from elsewhere is cleared);
 * nothing else of DOCS changes. Returns 0 or FH_E_NOMEM (OUT is then empty). */
int fh_docs_pack_wire(fh_docs *docs, int take_blobs, fh_wire_docs *out);

/* Decodes the documents of IN (the documents frame and its blob frames, which are
 * copied back into the fields that say they are attached) into a new array the caller
 * owns (fh_docs_destroy), of at most MAX bytes decoded, blob frames included. No
 * documents frame is an empty array. Returns 0, FH_E_PROTOCOL (the frame does not
 * decode, or the blob frames do not match the fields that say they are attached),
 * FH_E_RANGE (over MAX, or a string with a NUL) or FH_E_NOMEM. */
int fh_docs_decode_wire_max(const fh_wire_docs *in, size_t max, fh_docs **out);

/* fh_docs_decode_wire_max with FH_DECODE_DOCS_FACTOR x FH_DECODE_DEFAULT_MAX. */
int fh_docs_decode_wire(const fh_wire_docs *in, fh_docs **out);

/* Appends a route (EXECUTOR, START_US, END_US) to ENV. Returns 0 or FH_E_NOMEM. */
int fh_envelope_add_route(Flowhost__Envelope *env, const char *executor, int64_t start_us,
                          int64_t end_us);

/* Appends ROUTE to the encoded envelope ENV (LEN bytes) without decoding it: OUT (a new
 * frame, initialised here; the caller sends or closes it) gets ENV's bytes unchanged,
 * then field 4 (routes) holding ROUTE. Protobuf gathers a repeated field wherever it
 * stands in a message, so whoever decodes OUT finds ENV's routes, then ROUTE, as
 * fh_envelope_add_route and fh_pb_pack_msg would give (only the bytes' order differs).
 * ENV is not checked: append only to an envelope known to be well-formed. Returns 0 or
 * FH_E_NOMEM (OUT is then not initialised). */
/* The gateway's answer from the encoded envelope ENV (LEN bytes), without decoding it:
 * OUT (a new frame, initialised here) gets field 4 holding FIRST, then ENV's bytes, then
 * field 6 (prefetch) holding PREFETCH, 0 too. Whoever decodes OUT finds FIRST before
 * ENV's routes, and PREFETCH whatever ENV said (a later scalar wins). ENV is not
 * checked: use it only on an envelope known to be well-formed. Returns 0 or FH_E_NOMEM
 * (OUT is then not initialised). */
int fh_envelope_wrap_reply(const void *env, size_t len, const Flowhost__Route *first,
                           uint32_t prefetch, zmq_msg_t *out);

int fh_envelope_append_route(const void *env, size_t len, const Flowhost__Route *route,
                             zmq_msg_t *out);

/* Sets ENV's status to ERROR from EXECUTOR with DESCRIPTION (copied). Returns 0 or
 * FH_E_NOMEM. */
int fh_envelope_set_error(Flowhost__Envelope *env, const char *executor,
                          const char *description);

#endif

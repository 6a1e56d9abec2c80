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

/* Checks that BUF (LEN bytes) is well-formed protobuf for DESC with sub-messages nested
 * at most FH_PB_MAX_DEPTH deep, without recursing deeper than that. Returns 0, or
 * FH_E_PROTOCOL with the reason. */
int fh_pb_check(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len);

/* protobuf-c's unpack for DESC after fh_pb_check; NULL (with the error set) when BUF is
 * refused or does not decode. Free the result with protobuf_c_message_free_unpacked. */
ProtobufCMessage *fh_pb_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len);

/* Decodes an envelope. *OUT is freed with flowhost__envelope__free_unpacked(*OUT, NULL).
 * Returns 0 or FH_E_PROTOCOL ("cannot decode request envelope"). */
int fh_envelope_decode(const void *buf, size_t len, Flowhost__Envelope **out);

/* Decodes the documents frame into a new array the caller owns (fh_docs_destroy). An
 * empty frame is an empty array. Returns 0 or FH_E_PROTOCOL. */
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
 * owns (fh_docs_destroy). No documents frame is an empty array. Returns 0,
 * FH_E_PROTOCOL (the frame does not decode, or the blob frames do not match the fields
 * that say they are attached) or FH_E_NOMEM. */
int fh_docs_decode_wire(const fh_wire_docs *in, fh_docs **out);

/* Appends a route (EXECUTOR, START_US, END_US) to ENV. Returns 0 or FH_E_NOMEM. */
int fh_envelope_add_route(Flowhost__Envelope *env, const char *executor, int64_t start_us,
                          int64_t end_us);

/* Sets ENV's status to ERROR from EXECUTOR with DESCRIPTION (copied). Returns 0 or
 * FH_E_NOMEM. */
int fh_envelope_set_error(Flowhost__Envelope *env, const char *executor,
                          const char *description);

#endif

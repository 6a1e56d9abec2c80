/* protobuf <-> frames: see codec.h. */
#include "codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "pb.h"

int fh_pb_pack_msg(const ProtobufCMessage *msg, zmq_msg_t *out)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    /* zmq_msg_init_size keeps small messages inline (no allocation); larger ones get
     * one buffer that ZeroMQ frees after sending. */
    if (zmq_msg_init_size(out, len) != 0)
        return fh_set_error(FH_E_NOMEM, "out of memory packing %zu bytes", len);
    protobuf_c_message_pack(msg, zmq_msg_data(out));
    return 0;
}

int fh_pb_decode(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len, size_t max,
                 ProtobufCMessage **out, size_t *decoded)
{
    *out = NULL;
    int rc = fh_pb_measure(desc, buf, len, max, decoded);
    if (rc != 0)
        return rc;
    *out = protobuf_c_message_unpack(desc, NULL, len, buf);
    if (*out == NULL)
        return fh_set_error(FH_E_PROTOCOL, "malformed %s message (%zu bytes)", desc->short_name, len);
    return 0;
}

ProtobufCMessage *fh_pb_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len)
{
    ProtobufCMessage *m;
    fh_pb_decode(desc, buf, len, SIZE_MAX, &m, NULL);
    return m;
}

int fh_envelope_decode_max(const void *buf, size_t len, size_t max, Flowhost__Envelope **out,
                           size_t *decoded)
{
    ProtobufCMessage *m;
    int rc = fh_pb_decode(&flowhost__envelope__descriptor, buf, len, max, &m, decoded);
    *out = (Flowhost__Envelope *)m;
    if (rc != 0)
        return fh_set_error(rc, "cannot decode the request envelope: %s", fh_last_error());
    return 0;
}

int fh_envelope_decode(const void *buf, size_t len, Flowhost__Envelope **out)
{
    return fh_envelope_decode_max(buf, len, FH_DECODE_DEFAULT_MAX, out, NULL);
}

int fh_docs_decode_max(const void *buf, size_t len, size_t max, fh_docs **out)
{
    ProtobufCMessage *m;
    int rc = fh_pb_decode(&flowhost__document_array__descriptor, buf, len, max, &m, NULL);
    if (rc != 0)
        return fh_set_error(rc, "cannot decode documents: %s", fh_last_error());
    *out = (fh_docs *)m;
    return 0;
}

int fh_docs_decode(const void *buf, size_t len, fh_docs **out)
{
    return fh_docs_decode_max(buf, len, FH_DECODE_DOCS_FACTOR * FH_DECODE_DEFAULT_MAX, out);
}

int fh_docs_pack(const fh_docs *docs, zmq_msg_t *out)
{
    return fh_pb_pack_msg(&FH_PB_CDOCS(docs)->base, out);
}

static void free_blob(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* A byte field of a document that may travel as a frame of its own. */
typedef struct attachable {
    const char *name;               /* "blob", "embedding" or "tensor", for messages */
    ProtobufCBinaryData *bytes;
    protobuf_c_boolean *attached;
} attachable;

#define MAX_ATTACHABLE 3

/* The byte fields of D that may travel as frames, in the order their frames follow the
 * documents frame: the blob, the embedding's buffer, the tensor's buffer. Returns how
 * many (1 to MAX_ATTACHABLE) were put in OUT. */
static size_t attachables(Flowhost__Document *d, attachable *out)
{
    size_t n = 0;
    out[n++] = (attachable){"blob", &d->blob, &d->blob_attached};
    if (d->embedding != NULL)
        out[n++] = (attachable){"embedding", &d->embedding->buffer, &d->embedding->buffer_attached};
    if (d->tensor != NULL)
        out[n++] = (attachable){"tensor", &d->tensor->buffer, &d->tensor->buffer_attached};
    return n;
}

int fh_docs_pack_wire(fh_docs *docs, int take_blobs, fh_wire_docs *out)
{
    fh_wire_docs_init(out);
    Flowhost__DocumentArray *a = FH_PB_DOCS(docs);
    attachable f[MAX_ATTACHABLE];
    size_t want = 0;
    for (size_t i = 0; take_blobs && i < a->n_docs && want < FH_WIRE_MAX_BLOBS; i++)
        for (size_t k = 0, n = attachables(a->docs[i], f); k < n; k++)
            want += f[k].bytes->len >= FH_BLOB_FRAME_MIN;
    if (want > FH_WIRE_MAX_BLOBS)
        want = FH_WIRE_MAX_BLOBS;
    if (want > 0 && (out->blobs = calloc(want, sizeof *out->blobs)) == NULL)
        want = 0; /* out of memory for the frame list: pack them in the documents frame */
    for (size_t i = 0; i < a->n_docs; i++) {
        for (size_t k = 0, n = attachables(a->docs[i], f); k < n; k++) {
            if (*f[k].attached) /* only bytes taken below are attached; a flag that is */
                *f[k].attached = 0; /* already clear is not written (the caller's documents) */
            if (out->n_blobs == want || f[k].bytes->len < FH_BLOB_FRAME_MIN)
                continue;
            if (zmq_msg_init_data(&out->blobs[out->n_blobs], f[k].bytes->data, f[k].bytes->len,
                                  free_blob, NULL) != 0) {
                want = out->n_blobs; /* the rest go in the documents frame */
                continue;
            }
            out->n_blobs++;
            f[k].bytes->data = NULL;
            f[k].bytes->len = 0;
            *f[k].attached = 1;
        }
    }
    if (fh_pb_pack_msg(&a->base, &out->docs) != 0) {
        zmq_msg_init(&out->docs);
        fh_wire_docs_close(out);
        return FH_E_NOMEM;
    }
    return 0;
}

/* Clears the attached flags in the chunks and matches of D, all the way down
 * (fh_pb_check bounds the depth): only top-level documents have blob frames, and a flag
 * left on a chunk would travel on with it if it were ever made a top-level document. */
static void clear_nested_flags(Flowhost__Document *d)
{
    attachable f[MAX_ATTACHABLE];
    for (size_t j = 0; j < d->n_chunks + d->n_matches; j++) {
        Flowhost__Document *c = j < d->n_chunks ? d->chunks[j] : d->matches[j - d->n_chunks];
        for (size_t k = 0, n = attachables(c, f); k < n; k++)
            *f[k].attached = 0;
        clear_nested_flags(c);
    }
}

int fh_docs_decode_wire(const fh_wire_docs *in, fh_docs **out)
{
    return fh_docs_decode_wire_max(in, FH_DECODE_DOCS_FACTOR * FH_DECODE_DEFAULT_MAX, out);
}

int fh_docs_decode_wire_max(const fh_wire_docs *in, size_t max, fh_docs **out)
{
    zmq_msg_t *frame = (zmq_msg_t *)&in->docs;
    /* The blob frames are copied back into their fields: they count too. */
    size_t blobs = 0;
    for (size_t i = 0; i < in->n_blobs; i++)
        blobs += zmq_msg_size(&in->blobs[i]);
    if (blobs > max)
        return fh_set_error(FH_E_RANGE, "cannot decode documents: their blob frames hold %zu "
                            "bytes, over the limit of %zu", blobs, max);
    int rc = fh_docs_decode_max(zmq_msg_data(frame), zmq_msg_size(frame), max - blobs, out);
    if (rc != 0)
        return rc;
    Flowhost__DocumentArray *a = FH_PB_DOCS(*out);
    attachable f[MAX_ATTACHABLE];
    size_t used = 0;
    for (size_t i = 0; rc == 0 && i < a->n_docs; i++) {
        clear_nested_flags(a->docs[i]);
        for (size_t k = 0, n = attachables(a->docs[i], f); rc == 0 && k < n; k++) {
            if (!*f[k].attached)
                continue;
            if (used == in->n_blobs) {
                rc = fh_set_error(FH_E_PROTOCOL, "cannot decode documents: document %zu says its "
                                  "%s is attached, but only %zu blob frames came", i, f[k].name,
                                  in->n_blobs);
                break;
            }
            zmq_msg_t *b = &in->blobs[used++];
            size_t len = zmq_msg_size(b);
            void *copy = len > 0 ? malloc(len) : NULL;
            if (len > 0 && copy == NULL) {
                rc = fh_set_error(FH_E_NOMEM, "out of memory for a %s of %zu bytes", f[k].name, len);
                break;
            }
            if (len > 0)
                memcpy(copy, zmq_msg_data(b), len);
            free(f[k].bytes->data);
            f[k].bytes->data = copy;
            f[k].bytes->len = len;
            *f[k].attached = 0;
        }
    }
    if (rc == 0 && used != in->n_blobs)
        rc = fh_set_error(FH_E_PROTOCOL, "cannot decode documents: %zu blob frames came for %zu "
                          "attached fields", in->n_blobs, used);
    if (rc != 0)
        fh_docs_destroy(out);
    return rc;
}

int fh_envelope_add_route(Flowhost__Envelope *env, const char *executor, int64_t start_us,
                          int64_t end_us)
{
    Flowhost__Route *r = malloc(sizeof *r);
    Flowhost__Route **routes = realloc(env->routes, (env->n_routes + 1) * sizeof *routes);
    if (r == NULL || routes == NULL) {
        free(r);
        if (routes != NULL)
            env->routes = routes;
        return fh_set_error(FH_E_NOMEM, "out of memory adding a route");
    }
    env->routes = routes;
    flowhost__route__init(r);
    if (fh_pb_set_string(&r->executor, executor) != 0) {
        free(r);
        return FH_E_NOMEM;
    }
    r->start_time_us = start_us;
    r->end_time_us = end_us;
    env->routes[env->n_routes++] = r;
    return 0;
}

/* Writes V as a protobuf varint at P (NULL: only counts). Returns the bytes it takes. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        if (p)
            p[n] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
        n++;
        v >>= 7;
    } while (v != 0);
    return n;
}

/* Writes ROUTE's fields at P (NULL: only counts), as protobuf-c packs a proto3 Route:
 * in field order, a field at its default (0, "") left out. Returns the bytes written.
 * By hand because the worker does this for every request: protobuf-c's generic
 * packer walks the descriptor and costs ten times as much (test_route_append checks
 * both agree). */
static size_t put_route(uint8_t *p, const Flowhost__Route *r)
{
    size_t n = 0, len = r->executor ? strlen(r->executor) : 0;
    if (len > 0) {
        n += put_varint(p ? p + n : NULL, 1 << 3 | 2);
        n += put_varint(p ? p + n : NULL, len);
        if (p)
            memcpy(p + n, r->executor, len);
        n += len;
    }
    const uint64_t v[7] = {(uint64_t)r->start_time_us, (uint64_t)r->end_time_us, r->replica,
                           r->replicas, r->shard, r->shards, r->batch};
    for (int k = 0; k < 7; k++)
        if (v[k] != 0) {
            n += put_varint(p ? p + n : NULL, (uint64_t)(k + 2) << 3 | 0);
            n += put_varint(p ? p + n : NULL, v[k]);
        }
    return n;
}

int fh_envelope_wrap_reply(const void *env, size_t len, const Flowhost__Route *first,
                           uint32_t prefetch, zmq_msg_t *out)
{
    size_t rlen = put_route(NULL, first);
    size_t h = 1 + put_varint(NULL, rlen); /* the key of field 4, length-delimited; the length */
    size_t tail = 1 + put_varint(NULL, prefetch);
    if (zmq_msg_init_size(out, h + rlen + len + tail) != 0)
        return fh_set_error(FH_E_NOMEM, "out of memory answering");
    uint8_t *p = zmq_msg_data(out);
    p[0] = 4 << 3 | 2;
    put_varint(p + 1, rlen);
    put_route(p + h, first);
    if (len > 0)
        memcpy(p + h + rlen, env, len);
    p[h + rlen + len] = 6 << 3 | 0;
    put_varint(p + h + rlen + len + 1, prefetch);
    return 0;
}

int fh_envelope_append_route(const void *env, size_t len, const Flowhost__Route *route,
                             zmq_msg_t *out)
{
    size_t rlen = put_route(NULL, route);
    size_t h = 1 + put_varint(NULL, rlen); /* the key of field 4, length-delimited; the length */
    if (zmq_msg_init_size(out, len + h + rlen) != 0)
        return fh_set_error(FH_E_NOMEM, "out of memory adding a route");
    uint8_t *p = zmq_msg_data(out);
    if (len > 0)
        memcpy(p, env, len);
    p[len] = 4 << 3 | 2;
    put_varint(p + len + 1, rlen);
    put_route(p + len + h, route);
    return 0;
}

int fh_envelope_set_error(Flowhost__Envelope *env, const char *executor,
                          const char *description)
{
    if (env->status == NULL) {
        env->status = malloc(sizeof *env->status);
        if (env->status == NULL)
            return fh_set_error(FH_E_NOMEM, "out of memory");
        flowhost__status__init(env->status);
    }
    env->status->code = FLOWHOST__STATUS__CODE__ERROR;
    if (fh_pb_set_string(&env->status->executor, executor) != 0 ||
        fh_pb_set_string(&env->status->description, description) != 0)
        return FH_E_NOMEM;
    return 0;
}

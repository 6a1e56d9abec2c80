/* Fuzzes the protobuf decoders (sdk/src/wire/codec.c, pb_check.c): the same bytes as a
 * request envelope, as a documents frame (then every document to JSON), as a documents
 * frame followed by 0-3 blob frames (what decodes must survive being packed again, blobs
 * taken into frames, and decoded back to as many documents), and through fh_pb_check /
 * fh_pb_unpack as a WorkerHello and an ExecutorSpec; fh_envelope_decode_ids; fh_envelope_peek
 * (what it reads must be what the full decoder reads). For every
 * message that decodes, fh_pb_measure's prediction must cover what protobuf-c held at
 * most while decoding it (counted by an allocator of its own). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#include <flowhost/json.h>

/* What protobuf-c holds: each block as requested, with malloc's 8-byte header. */
typedef struct counted {
    size_t now, peak;
} counted;

typedef struct block {
    size_t size;
    max_align_t align[];
} block;

static void *counted_alloc(void *data, size_t size)
{
    counted *c = data;
    block *b = malloc(sizeof *b + size);
    if (b == NULL)
        return NULL;
    b->size = size;
    c->now += size + 8;
    if (c->now > c->peak)
        c->peak = c->now;
    return b->align;
}

static void counted_free(void *data, void *p)
{
    if (p == NULL)
        return;
    block *b = (block *)((char *)p - offsetof(block, align));
    ((counted *)data)->now -= b->size + 8;
    free(b);
}

/* Decodes DATA as DESC with the counting allocator when fh_pb_measure accepts it, and
 * aborts if the prediction fell short. */
static void check_prediction(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    size_t predicted;
    if (fh_pb_measure(desc, data, size, SIZE_MAX, &predicted) != 0)
        return;
    counted c = {0, 0};
    ProtobufCAllocator a = {counted_alloc, counted_free, &c};
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a, size, data);
    if (m != NULL && c.peak > predicted)
        abort();
    protobuf_c_message_free_unpacked(m, &a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Flowhost__Envelope *env = NULL;
    fh_envelope_peek_t pk;
    int peeked = fh_envelope_peek(data, size, &pk);
    if (fh_envelope_decode(data, size, &env) == 0) {
        /* What the gateway reads without decoding must be what the decoder reads. */
        if (peeked == 0) {
            const char *id = env->request_id, *ep = env->endpoint;
            int code = env->status ? (int)env->status->code : 0;
            if ((pk.request_id ? pk.request_id_len != strlen(id) ||
                                     memcmp(pk.request_id, id, pk.request_id_len) != 0
                               : id[0] != '\0') ||
                (pk.endpoint ? pk.endpoint_len != strlen(ep) ||
                                   memcmp(pk.endpoint, ep, pk.endpoint_len) != 0
                             : ep[0] != '\0') ||
                (pk.status_code != 0) != (code != 0))
                abort();
        }
        flowhost__envelope__free_unpacked(env, NULL);
    }
    if (fh_envelope_decode_ids(data, size, &env) == 0)
        flowhost__envelope__free_unpacked(env, NULL);
    check_prediction(&flowhost__envelope__descriptor, data, size);
    check_prediction(&flowhost__document_array__descriptor, data, size);

    fh_docs *docs = NULL;
    if (fh_docs_decode(data, size, &docs) == 0) {
        for (size_t i = 0; i < fh_docs_len(docs); i++)
            free(fh_doc_to_json(fh_docs_at(docs, i)));
        fh_docs_destroy(&docs);
    }

    fh_wire_docs w;
    fh_wire_docs_init(&w);
    zmq_msg_init_size(&w.docs, size);
    memcpy(zmq_msg_data(&w.docs), data, size);
    size_t n_blobs = size % 4;
    if (n_blobs > 0 && (w.blobs = calloc(n_blobs, sizeof *w.blobs)) != NULL) {
        for (size_t i = 0; i < n_blobs; i++) /* frames of 0, 1 and 40,000 bytes */
            zmq_msg_init_size(&w.blobs[i], i == 2 ? 40000 : i);
        w.n_blobs = n_blobs;
    }
    if (fh_docs_decode_wire(&w, &docs) == 0) {
        size_t n = fh_docs_len(docs);
        fh_wire_docs again;
        if (fh_docs_pack_wire(docs, 1, &again) != 0)
            abort();
        fh_docs_destroy(&docs);
        if (fh_docs_decode_wire(&again, &docs) != 0 || fh_docs_len(docs) != n)
            abort();
        fh_docs_destroy(&docs);
        fh_wire_docs_close(&again);
    }
    fh_wire_docs_close(&w);

    const ProtobufCMessageDescriptor *descs[] = {&flowhost__worker_hello__descriptor,
                                                 &flowhost__executor_spec__descriptor};
    for (size_t i = 0; i < sizeof descs / sizeof descs[0]; i++) {
        if (fh_pb_check(descs[i], data, size) != 0)
            continue;
        ProtobufCMessage *m = fh_pb_unpack(descs[i], data, size);
        if (m != NULL)
            protobuf_c_message_free_unpacked(m, NULL);
    }
    return 0;
}

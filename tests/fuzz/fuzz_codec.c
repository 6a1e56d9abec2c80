/* Fuzzes the protobuf decoders (sdk/src/codec.c, pb depth check): the same bytes as a
 * request envelope, as a documents frame (then every document to JSON), and through
 * fh_pb_check / fh_pb_unpack as a WorkerHello and an ExecutorSpec. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"

#include <flowhost/json.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Flowhost__Envelope *env = NULL;
    if (fh_envelope_decode(data, size, &env) == 0)
        flowhost__envelope__free_unpacked(env, NULL);

    fh_docs *docs = NULL;
    if (fh_docs_decode(data, size, &docs) == 0) {
        for (size_t i = 0; i < fh_docs_len(docs); i++)
            free(fh_doc_to_json(fh_docs_at(docs, i)));
        fh_docs_destroy(&docs);
    }

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

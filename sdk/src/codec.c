/* protobuf <-> frames: see codec.h. */
#include "codec.h"

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

int fh_envelope_decode(const void *buf, size_t len, Flowhost__Envelope **out)
{
    *out = flowhost__envelope__unpack(NULL, len, buf);
    if (*out == NULL)
        return fh_set_error(FH_E_PROTOCOL, "cannot decode request envelope (%zu bytes)", len);
    return 0;
}

int fh_docs_decode(const void *buf, size_t len, fh_docs **out)
{
    Flowhost__DocumentArray *a = flowhost__document_array__unpack(NULL, len, buf);
    if (a == NULL)
        return fh_set_error(FH_E_PROTOCOL, "cannot decode documents (%zu bytes)", len);
    *out = (fh_docs *)a;
    return 0;
}

int fh_docs_pack(const fh_docs *docs, zmq_msg_t *out)
{
    return fh_pb_pack_msg(&FH_PB_CDOCS(docs)->base, out);
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

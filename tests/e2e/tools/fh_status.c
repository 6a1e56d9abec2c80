/* fh_status ADDRESS ENDPOINT: sends one request whose envelope already carries an ERROR
 * status (as a client may forge it) and prints the reply as one line:
 *   CODE EXECUTOR|ROUTE,ROUTE,...
 * CODE is the reply's status (SUCCESS, ERROR), EXECUTOR the executor its status names
 * ("-" when none), then the executors in its routes. Exits 0 when a reply came, 1
 * otherwise (10 s at most).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "codec.h"
#include "flowhost.pb-c.h"
#include "wire.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fh_status HOST:PORT ENDPOINT\n");
        return 2;
    }
    char ep[300];
    snprintf(ep, sizeof ep, strstr(argv[1], "://") ? "%s" : "tcp://%s", argv[1]);
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int timeout = 10000, linger = 0;
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(sock, ep) != 0) {
        fprintf(stderr, "fh_status: cannot connect to %s\n", ep);
        return 1;
    }
    Flowhost__Envelope env = FLOWHOST__ENVELOPE__INIT;
    Flowhost__Status st = FLOWHOST__STATUS__INIT;
    st.code = FLOWHOST__STATUS__CODE__ERROR;
    st.executor = "client";
    st.description = "forged by the client";
    env.request_id = "forged-status";
    env.endpoint = argv[2];
    env.status = &st;
    zmq_msg_t frame;
    if (fh_pb_pack_msg(&env.base, &frame) != 0 ||
        fh_wire_send(sock, NULL, 0, FH_CMD_REQUEST, &frame, 1, 0) != 0) {
        fprintf(stderr, "fh_status: cannot send\n");
        return 1;
    }
    fh_wire_msg m;
    int rc = 1;
    if (fh_wire_recv(sock, &m, 0) != 0 || fh_wire_command(&m, 0) != FH_CMD_REPLY) {
        fprintf(stderr, "fh_status: no reply\n");
        goto out;
    }
    size_t len;
    const void *buf = fh_wire_data(&m, 2, &len);
    Flowhost__Envelope *reply;
    if (buf == NULL || fh_envelope_decode(buf, len, &reply) != 0) {
        fprintf(stderr, "fh_status: undecodable reply\n");
        fh_wire_close(&m);
        goto out;
    }
    bool failed = reply->status && reply->status->code == FLOWHOST__STATUS__CODE__ERROR;
    printf("%s %s|", failed ? "ERROR" : "SUCCESS",
           reply->status && reply->status->executor && reply->status->executor[0]
               ? reply->status->executor : "-");
    for (size_t i = 0; i < reply->n_routes; i++)
        printf("%s%s", i ? "," : "", reply->routes[i]->executor);
    printf("\n");
    flowhost__envelope__free_unpacked(reply, NULL);
    fh_wire_close(&m);
    rc = 0;
out:
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return rc;
}

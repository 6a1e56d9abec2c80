/* fh_garbage ADDRESS: sends malformed messages to a flow's gateway and checks that it
 * drops them and keeps serving.
 *
 * ADDRESS is HOST:PORT (or a ZeroMQ endpoint). One DEALER socket sends, in turn: random
 * bytes, a wrong protocol signature, the right signature with unknown commands, a
 * REQUEST without an envelope and one with an undecodable envelope, a message of 24
 * frames, an empty frame. After each of them it sends a probe: a REQUEST with an invalid
 * endpoint (no leading '/'), which the gateway must answer with an ERROR reply. The next
 * reply must be that probe's: the garbage got no answer and the gateway still serves.
 * Prints "ok - ..." per check; exits 0 when all passed, 1 otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "codec.h"
#include "flowhost.pb-c.h"
#include "wire.h"

#define RECV_TIMEOUT_MS 10000

static int failures;
static int checks;

static void ok(int cond, const char *what)
{
    checks++;
    if (cond) {
        printf("ok - %s\n", what);
    } else {
        printf("FAIL - %s\n", what);
        failures++;
    }
    fflush(stdout);
}

/* Sends N frames (DATA[i], LEN[i]) as one multipart message. */
static int send_frames(void *sock, const void *const *data, const size_t *len, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (zmq_send(sock, data[i], len[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0) {
            fprintf(stderr, "fh_garbage: send: %s\n", zmq_strerror(zmq_errno()));
            return -1;
        }
    return 0;
}

/* A packed envelope with REQUEST_ID and ENDPOINT; the caller frees it. */
static uint8_t *pack_envelope(const char *request_id, const char *endpoint, size_t *len)
{
    Flowhost__Envelope env;
    flowhost__envelope__init(&env);
    env.request_id = (char *)request_id;
    env.endpoint = (char *)endpoint;
    *len = flowhost__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf == NULL) {
        perror("fh_garbage");
        exit(1);
    }
    flowhost__envelope__pack(&env, buf);
    return buf;
}

static void send_request(void *sock, const char *request_id, const char *endpoint)
{
    size_t envlen;
    uint8_t *env = pack_envelope(request_id, endpoint, &envlen);
    unsigned char cmd = FH_CMD_REQUEST;
    const void *data[] = {FH_WIRE_SIGNATURE, &cmd, env, ""};
    size_t len[] = {FH_WIRE_SIGNATURE_LEN, 1, envlen, 0};
    send_frames(sock, data, len, 4);
    free(env);
}

/* Receives one reply; returns its decoded envelope (free with
 * flowhost__envelope__free_unpacked) or NULL after a timeout or a malformed reply. */
static Flowhost__Envelope *recv_reply(void *sock, const char *what)
{
    fh_wire_msg m;
    char buf[256];
    if (fh_wire_recv(sock, &m, 0) != 0) {
        snprintf(buf, sizeof buf, "%s: a reply within %d ms", what, RECV_TIMEOUT_MS);
        ok(0, buf);
        return NULL;
    }
    int cmd = fh_wire_command(&m, 0);
    Flowhost__Envelope *env = NULL;
    size_t len;
    const void *envbuf = fh_wire_data(&m, 2, &len);
    if (cmd != FH_CMD_REPLY || envbuf == NULL || fh_envelope_decode(envbuf, len, &env) != 0) {
        snprintf(buf, sizeof buf, "%s: a well-formed REPLY (command %d, %zu frames)", what, cmd,
                 m.n);
        ok(0, buf);
        env = NULL;
    }
    fh_wire_close(&m);
    return env;
}

/* Sends a probe with an invalid endpoint and checks that the next reply is its ERROR. */
/* Prints R as a "# reply: ..." line the test script greps for. */
static void print_reply(const Flowhost__Envelope *r)
{
    int error = r->status && r->status->code == FLOWHOST__STATUS__CODE__ERROR;
    printf("# reply: request_id=%s status=%s executor=%s description=%s\n", r->request_id,
           error ? "ERROR" : "SUCCESS", r->status ? r->status->executor : "",
           r->status ? r->status->description : "");
}

static void probe(void *sock, const char *after)
{
    static int n;
    char id[64], what[256];
    snprintf(id, sizeof id, "probe-%d", ++n);
    snprintf(what, sizeof what, "after %s, an invalid endpoint gets an ERROR reply", after);
    send_request(sock, id, "no-slash");
    Flowhost__Envelope *env = recv_reply(sock, what);
    if (env == NULL)
        return;
    const char *code = env->status == NULL ? "none"
                       : env->status->code == FLOWHOST__STATUS__CODE__ERROR ? "ERROR"
                                                                           : "SUCCESS";
    const char *executor = env->status ? env->status->executor : "";
    const char *desc = env->status ? env->status->description : "";
    printf("# reply: request_id=%s endpoint=%s status=%s executor=%s description=%s\n",
           env->request_id, env->endpoint, code, executor, desc);
    int good = strcmp(env->request_id, id) == 0 && strcmp(code, "ERROR") == 0 &&
               strcmp(executor, "gateway") == 0 && strstr(desc, "invalid endpoint") != NULL;
    ok(good, what);
    flowhost__envelope__free_unpacked(env, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fh_garbage HOST:PORT\n");
        return 2;
    }
    char endpoint[512];
    if (strstr(argv[1], "://"))
        snprintf(endpoint, sizeof endpoint, "%s", argv[1]);
    else
        snprintf(endpoint, sizeof endpoint, "tcp://%s", argv[1]);

    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int timeout = RECV_TIMEOUT_MS, linger = 0;
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(sock, endpoint) != 0) {
        fprintf(stderr, "fh_garbage: connect %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }

    /* The connection works: the gateway answers an invalid endpoint. */
    probe(sock, "connecting");

    /* 1. random bytes, one frame (a fixed seed: the same bytes every run). */
    unsigned char rnd[512];
    srand(12345);
    for (size_t i = 0; i < sizeof rnd; i++)
        rnd[i] = (unsigned char)(rand() & 0xff);
    rnd[0] = 0xff; /* never the signature */
    {
        const void *d[] = {rnd};
        size_t l[] = {sizeof rnd};
        send_frames(sock, d, l, 1);
    }
    probe(sock, "random bytes");

    /* 2. a wrong protocol signature, otherwise a good request. */
    size_t envlen;
    uint8_t *env = pack_envelope("wrong-signature", "/x", &envlen);
    unsigned char req = FH_CMD_REQUEST;
    {
        const void *d[] = {"FHP0", &req, env, ""};
        size_t l[] = {4, 1, envlen, 0};
        send_frames(sock, d, l, 4);
    }
    free(env);
    probe(sock, "a wrong signature");

    /* 3. the right signature with an unknown command, then with a command a client
     * must not send (READY), then a command of 2 bytes. */
    unsigned char unknown = 99, ready = FH_CMD_READY, two[2] = {FH_CMD_REQUEST, 0};
    {
        const void *d[] = {FH_WIRE_SIGNATURE, &unknown};
        size_t l[] = {FH_WIRE_SIGNATURE_LEN, 1};
        send_frames(sock, d, l, 2);
    }
    probe(sock, "an unknown command");
    {
        const void *d[] = {FH_WIRE_SIGNATURE, &ready, ""};
        size_t l[] = {FH_WIRE_SIGNATURE_LEN, 1, 0};
        send_frames(sock, d, l, 3);
    }
    probe(sock, "a READY from a client");
    {
        const void *d[] = {FH_WIRE_SIGNATURE, two};
        size_t l[] = {FH_WIRE_SIGNATURE_LEN, 2};
        send_frames(sock, d, l, 2);
    }
    probe(sock, "a 2-byte command");

    /* 4. a REQUEST without an envelope, then one with an envelope cut short: field 1
     * (request_id) announces 80 bytes and 3 follow. */
    {
        const void *d[] = {FH_WIRE_SIGNATURE, &req};
        size_t l[] = {FH_WIRE_SIGNATURE_LEN, 1};
        send_frames(sock, d, l, 2);
    }
    probe(sock, "a REQUEST without an envelope");
    static const unsigned char cut[] = {0x0a, 0x50, 'a', 'b', 'c'};
    {
        const void *d[] = {FH_WIRE_SIGNATURE, &req, cut, ""};
        size_t l[] = {FH_WIRE_SIGNATURE_LEN, 1, sizeof cut, 0};
        send_frames(sock, d, l, 4);
    }
    probe(sock, "a truncated envelope");
    /* A good envelope cut in the middle of its endpoint string. */
    env = pack_envelope("cut-request", "/a-long-endpoint-name", &envlen);
    {
        const void *d[] = {FH_WIRE_SIGNATURE, &req, env, ""};
        size_t l[] = {FH_WIRE_SIGNATURE_LEN, 1, envlen - 5, 0};
        send_frames(sock, d, l, 4);
    }
    free(env);
    probe(sock, "an envelope cut short");

    /* 5. invalid endpoints: empty, with a space, too long. Each gets its ERROR. */
    static const char *const bad_endpoints[] = {"", "/with space", NULL};
    for (size_t k = 0; bad_endpoints[k] != NULL; k++) {
        char id[32], what[128];
        snprintf(id, sizeof id, "bad-endpoint-%zu", k);
        snprintf(what, sizeof what, "endpoint '%s' gets an ERROR reply", bad_endpoints[k]);
        send_request(sock, id, bad_endpoints[k]);
        Flowhost__Envelope *r = recv_reply(sock, what);
        if (r != NULL) {
            ok(strcmp(r->request_id, id) == 0 && r->status != NULL &&
                   r->status->code == FLOWHOST__STATUS__CODE__ERROR &&
                   strstr(r->status->description, "invalid endpoint") != NULL,
               what);
            flowhost__envelope__free_unpacked(r, NULL);
        }
    }
    {
        char longep[2048];
        longep[0] = '/';
        memset(longep + 1, 'a', sizeof longep - 2);
        longep[sizeof longep - 1] = '\0';
        send_request(sock, "long-endpoint", longep);
        Flowhost__Envelope *r = recv_reply(sock, "a 2 KiB endpoint");
        if (r != NULL) {
            ok(strcmp(r->request_id, "long-endpoint") == 0 && r->status != NULL &&
                   r->status->code == FLOWHOST__STATUS__CODE__ERROR,
               "a 2 KiB endpoint gets an ERROR reply");
            flowhost__envelope__free_unpacked(r, NULL);
        }
    }

    /* 6. a message of 24 frames: a good request followed by 20 extra frames (a request
     * has at most 4 + FH_WIRE_MAX_BLOBS). It must be dropped whole, not served. */
    env = pack_envelope("many-frames", "/x", &envlen);
    {
        const void *d[24] = {FH_WIRE_SIGNATURE, &req, env, ""};
        size_t l[24] = {FH_WIRE_SIGNATURE_LEN, 1, envlen, 0};
        for (size_t i = 4; i < 24; i++) {
            d[i] = "extra";
            l[i] = 5;
        }
        send_frames(sock, d, l, 24);
    }
    free(env);
    probe(sock, "24 frames");

    /* 7. one empty frame. */
    {
        const void *d[] = {""};
        size_t l[] = {0};
        send_frames(sock, d, l, 1);
    }
    probe(sock, "an empty frame");

    /* 8. a good envelope to a real endpoint with an undecodable documents frame: it
     * reaches the executors, and must come back as an ERROR reply, not kill anything. */
    env = pack_envelope("bad-docs", "/x", &envlen);
    {
        const void *d[] = {FH_WIRE_SIGNATURE, &req, env, cut};
        size_t l[] = {FH_WIRE_SIGNATURE_LEN, 1, envlen, sizeof cut};
        send_frames(sock, d, l, 4);
    }
    free(env);
    {
        Flowhost__Envelope *r = recv_reply(sock, "undecodable documents");
        if (r != NULL) {
            print_reply(r);
            ok(strcmp(r->request_id, "bad-docs") == 0 && r->status != NULL &&
                   r->status->code == FLOWHOST__STATUS__CODE__ERROR,
               "undecodable documents get an ERROR reply");
            flowhost__envelope__free_unpacked(r, NULL);
        }
    }
    probe(sock, "undecodable documents");

    /* 9. blob frames that do not match the documents: two blob frames after an empty
     * documents frame (no document says it has one), and a document that says its blob
     * is attached with no blob frame. Each reaches the executor and comes back as an
     * ERROR reply. */
    {
        Flowhost__Document doc = FLOWHOST__DOCUMENT__INIT, *docs[] = {&doc};
        Flowhost__DocumentArray arr = FLOWHOST__DOCUMENT_ARRAY__INIT;
        doc.id = (char *)"d1";
        doc.blob_attached = 1;
        arr.n_docs = 1;
        arr.docs = docs;
        size_t alen = flowhost__document_array__get_packed_size(&arr);
        uint8_t *abuf = malloc(alen);
        flowhost__document_array__pack(&arr, abuf);
        const char *ids[] = {"stray-blobs", "missing-blob"};
        for (int k = 0; k < 2; k++) {
            env = pack_envelope(ids[k], "/x", &envlen);
            const void *d[] = {FH_WIRE_SIGNATURE, &req, env, k == 0 ? (const void *)"" : abuf,
                               "blob one", "blob two"};
            size_t l[] = {FH_WIRE_SIGNATURE_LEN, 1, envlen, k == 0 ? 0 : alen, 8, 8};
            send_frames(sock, d, l, k == 0 ? 6 : 4);
            free(env);
            Flowhost__Envelope *r = recv_reply(sock, ids[k]);
            if (r != NULL) {
                print_reply(r);
                char what[100];
                snprintf(what, sizeof what, "%s: an ERROR reply about blob frames", ids[k]);
                ok(strcmp(r->request_id, ids[k]) == 0 && r->status != NULL &&
                       r->status->code == FLOWHOST__STATUS__CODE__ERROR &&
                       strstr(r->status->description, "blob frame") != NULL,
                   what);
                flowhost__envelope__free_unpacked(r, NULL);
            }
        }
        free(abuf);
    }
    probe(sock, "mismatched blob frames");

    zmq_close(sock);
    zmq_ctx_term(ctx);
    printf("fh_garbage: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}

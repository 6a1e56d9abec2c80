/* flowhost ping ADDRESS: whether a flow is ready, asked on its ZeroMQ port; a probe for
 * Kubernetes (exec) or a script. The gateway answers a HEARTBEAT with one frame: empty
 * when every executor has a ready replica, else why not (clients.c). A remote worker
 * (`flowhost worker --listen`) answers the same way once its executor is loaded
 * (worker_listen.c). With --key and --server-key the probe speaks CURVE. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include <flowhost/error.h>
#include <flowhost/keys.h>

#include "commands.h"
#include "util.h"
#include "wire.h"

static const char usage[] =
    "usage: flowhost ping [OPTIONS] HOST:PORT\n"
    "\n"
    "Ask the flow at HOST:PORT (its ZeroMQ port) whether it is ready: every executor has a\n"
    "ready replica and the flow is not shutting down. Asked of a remote worker's address\n"
    "(flowhost worker --listen), whether its executor is loaded. For a Kubernetes exec\n"
    "probe.\n"
    "\n"
    "options:\n"
    "  --timeout MS         wait at most this long for the answer (default 1000)\n"
    "  --key SECRET         CURVE: the probe's key pair (a secret certificate; beside a\n"
    "                       worker, the worker's own --key)\n"
    "  --server-key PUBLIC  CURVE: the public key (or certificate) of the flow or worker\n"
    "  -q, --quiet   print nothing\n"
    "  -h, --help    this text\n"
    "\n"
    "Exit status: 0 ready, 1 not ready or no answer within the timeout, 2 bad usage.\n";

int fh_cmd_ping(int argc, char **argv)
{
    static const struct option longopts[] = {{"timeout", required_argument, NULL, 't'},
                                              {"key", required_argument, NULL, 'k'},
                                              {"server-key", required_argument, NULL, 's'},
                                              {"quiet", no_argument, NULL, 'q'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
    long timeout = 1000;
    bool quiet = false;
    const char *key = NULL, *server_key = NULL;
    int c;
    optind = 1;
    argv[0] = (char *)"flowhost ping";
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (c) {
        case 't': {
            char *end;
            errno = 0;
            timeout = strtol(optarg, &end, 10);
            if (errno || *optarg == '\0' || *end != '\0' || timeout < 1 || timeout > 3600000) {
                fprintf(stderr, "flowhost: --timeout must be 1 to 3600000 ms, not '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'q': quiet = true; break;
        case 'k': key = optarg; break;
        case 's': server_key = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *address = argv[optind];
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address || colon[1] == '\0' ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(address) > 256) {
        fprintf(stderr, "flowhost: '%s' is not HOST:PORT\n", address);
        return 2;
    }
    if ((key == NULL) != (server_key == NULL)) {
        fprintf(stderr, "flowhost: %s\n", key ? "--key needs --server-key (the public key of "
                                               "what is asked)"
                                             : "--server-key needs --key (the probe's key pair)");
        return 2;
    }
    fh_keypair kp;
    char server[FH_KEY_TEXT + 1];
    if (key != NULL && (fh_keypair_load(key, &kp) != 0 || fh_public_key_load(server_key, server) != 0)) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return 2;
    }
    char ep[300];
    snprintf(ep, sizeof ep, "tcp://%s", address);
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    int zero = 0;
    int rc = 1;
    char why[400] = "cannot start ZeroMQ";
    if (sock == NULL || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0)
        goto out;
    if (key != NULL && (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server, FH_KEY_TEXT) != 0 ||
                        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, kp.public_key, FH_KEY_TEXT) != 0 ||
                        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp.secret_key, FH_KEY_TEXT) != 0))
        goto out;
    if (zmq_connect(sock, ep) != 0) {
        fprintf(stderr, "flowhost: cannot connect to %s: %s\n", address, zmq_strerror(errno));
        rc = 2;
        goto out;
    }
    int64_t deadline = fh_monotonic_ms() + timeout;
    snprintf(why, sizeof why, "no answer from %s within %ld ms", address, timeout);
    if (fh_wire_send(sock, NULL, 0, FH_CMD_HEARTBEAT, NULL, 0, 0) != 0)
        goto out;
    for (;;) {
        int64_t left = deadline - fh_monotonic_ms();
        if (left <= 0)
            break;
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)left) <= 0)
            continue;
        fh_wire_msg m;
        if (fh_wire_recv(sock, &m, ZMQ_DONTWAIT) != 0)
            continue;
        if (fh_wire_command(&m, 0) != FH_CMD_HEARTBEAT) { /* not an answer to the ping */
            fh_wire_close(&m);
            continue;
        }
        size_t len = 0;
        const char *text = fh_wire_data(&m, 2, &len);
        if (text == NULL || len == 0) {
            snprintf(why, sizeof why, "%s is ready", address);
            rc = 0;
        } else {
            snprintf(why, sizeof why, "%s is not ready: %.*s", address, (int)(len > 300 ? 300 : len),
                     text);
        }
        fh_wire_close(&m);
        break;
    }
out:
    if (key != NULL)
        explicit_bzero(&kp, sizeof kp);
    if (!quiet) {
        if (rc == 0)
            printf("%s\n", why);
        else if (rc == 1)
            fprintf(stderr, "flowhost: %s\n", why);
    }
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

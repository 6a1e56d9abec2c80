/* flowhost keygen PATH: a CURVE key pair for a flow or a client. */
#include <getopt.h>
#include <stdio.h>

#include <flowhost/error.h>
#include <flowhost/keys.h>

#include "commands.h"

static const char usage[] =
    "usage: flowhost keygen PATH\n"
    "\n"
    "Make a CURVE key pair, for a flow (with.server_key) or for a client (post --key):\n"
    "PATH gets the public certificate, to give to the other side; PATH_secret the secret\n"
    "one (both keys, mode 0600), to keep. Neither may exist yet. The public key is also\n"
    "printed. The files use the certificate format of ZeroMQ's tools (czmq's zcert).\n"
    "\n"
    "options:\n"
    "  -h, --help  this text\n";

int fh_cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    argv[0] = (char *)"flowhost keygen"; /* getopt names the command in its messages */
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        fputs(usage, stderr);
        return 2;
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return 2;
    }
    fh_keypair kp;
    if (fh_keypair_generate(&kp) != 0 || fh_keypair_save(&kp, argv[optind]) != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return 1;
    }
    printf("%s\n", kp.public_key);
    return 0;
}

/* flowhost post ENDPOINT [INPUT], and index/search/update/delete. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <flowhost/client.h>
#include <flowhost/error.h>
#include <flowhost/json.h>

#include "commands.h"
#include "flow_config.h"
#include "flow_run.h"
#include "util.h"

static const char usage[] =
    "usage: flowhost post ENDPOINT [INPUT] (--to HOST:PORT | --flow FLOW.yml) [OPTIONS]\n"
    "       flowhost index|search|update|delete [INPUT] (--to ... | --flow ...) [OPTIONS]\n"
    "\n"
    "Post documents to a flow: to one that runs (--to), or to FLOW.yml started for the\n"
    "length of the post (--flow). INPUT is an NDJSON file of documents (one JSON object a\n"
    "line), or - for standard input; without INPUT one request with no documents is sent\n"
    "(a parameters-only post). Each response is written as one JSON line.\n"
    "\n"
    "options:\n"
    "  --to HOST:PORT         the gateway of a running flow\n"
    "  --flow FLOW.yml        start this flow, post, then stop it\n"
    "  -p, --parameters JSON  request parameters, a JSON object (ints stay ints)\n"
    "  --request-size N       documents per request (default 100)\n"
    "  --prefetch N           requests in flight at most (default: the flow's, else 0 = no cap)\n"
    "  --timeout MS           give up when no response comes for MS milliseconds\n"
    "  --connect-timeout MS   give up when no flow answers the connection (default 5000;\n"
    "                         0 waits forever)\n"
    "  -o, --output FILE      write responses to FILE instead of standard output\n"
    "  -q, --quiet            no summary line on stderr\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 all responses succeeded, 1 some response was an error, 2 bad usage,\n"
    "bad input or no flow to talk to.\n";

typedef struct post_cli {
    FILE *out;
    size_t responses, errors;
    int write_failed;
} post_cli;

static int on_always(const fh_response *r, void *user)
{
    post_cli *pc = user;
    pc->responses++;
    if (fh_response_status(r) == FH_RESPONSE_ERROR) {
        pc->errors++;
        fprintf(stderr, "flowhost: request %s failed in executor '%s': %s\n",
                fh_response_request_id(r), fh_response_error_executor(r),
                fh_response_error_description(r));
    }
    char *json = fh_response_to_json(r);
    if (json == NULL) {
        fprintf(stderr, "flowhost: cannot write response %s: %s\n", fh_response_request_id(r),
                fh_last_error());
        pc->write_failed = 1;
        return 0;
    }
    if (fprintf(pc->out, "%s\n", json) < 0)
        pc->write_failed = 1;
    free(json);
    return 0;
}

static int next_ndjson(void *user, fh_doc **out)
{
    return fh_ndjson_next(user, out);
}

static int parse_count(const char *s, const char *name, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > max) {
        fprintf(stderr, "flowhost: %s must be an integer from 0 to %ld, not '%s'\n", name, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int fh_cmd_post(int argc, char **argv, const char *endpoint)
{
    static const struct option longopts[] = {
        {"to", required_argument, NULL, 't'},        {"flow", required_argument, NULL, 'f'},
        {"parameters", required_argument, NULL, 'p'}, {"request-size", required_argument, NULL, 'r'},
        {"prefetch", required_argument, NULL, 'P'},  {"timeout", required_argument, NULL, 'T'},
        {"connect-timeout", required_argument, NULL, 'C'},
        {"output", required_argument, NULL, 'o'},    {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    const char *to = NULL, *flow = NULL, *params_json = NULL, *output = NULL;
    long request_size = 100, prefetch = -1, timeout = 0, connect_timeout = FH_CLIENT_CONNECT_TIMEOUT_MS;
    int quiet = 0, c;
    optind = 1;
    argv[0] = (char *)"flowhost post"; /* getopt names the command in its messages */
    while ((c = getopt_long(argc, argv, "p:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 't': to = optarg; break;
        case 'f': flow = optarg; break;
        case 'p': params_json = optarg; break;
        case 'o': output = optarg; break;
        case 'q': quiet = 1; break;
        case 'r':
            if (parse_count(optarg, "--request-size", 1000000, &request_size) != 0)
                return 2;
            if (request_size == 0) {
                fprintf(stderr, "flowhost: --request-size must be at least 1\n");
                return 2;
            }
            break;
        case 'P':
            if (parse_count(optarg, "--prefetch", FH_CLIENT_MAX_INFLIGHT, &prefetch) != 0)
                return 2;
            break;
        case 'T':
            if (parse_count(optarg, "--timeout", 86400000, &timeout) != 0)
                return 2;
            break;
        case 'C':
            if (parse_count(optarg, "--connect-timeout", 86400000, &connect_timeout) != 0)
                return 2;
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (endpoint == NULL) {
        if (optind >= argc) {
            fprintf(stderr, "flowhost: post needs an ENDPOINT (e.g. /index)\n");
            return 2;
        }
        endpoint = argv[optind++];
    }
    const char *input = optind < argc ? argv[optind++] : NULL;
    if (optind < argc || (to == NULL) == (flow == NULL)) {
        fprintf(stderr, "flowhost: %s\n", optind < argc ? "too many arguments"
                                                         : "give exactly one of --to and --flow");
        fputs(usage, stderr);
        return 2;
    }
    if (endpoint[0] != '/') {
        fprintf(stderr, "flowhost: endpoint '%s' must start with '/'\n", endpoint);
        return 2;
    }

    int status = 2;
    fh_value *params = NULL;
    fh_ndjson_reader *reader = NULL;
    fh_flow_config *cfg = NULL;
    fh_client *client = NULL;
    pid_t flow_pid = 0;
    post_cli pc = {.out = stdout};
    if (params_json != NULL) {
        if (fh_value_from_json(params_json, strlen(params_json), &params) != 0) {
            fprintf(stderr, "flowhost: --parameters: %s\n", fh_last_error());
            goto out;
        }
        if (fh_value_type(params) != FH_TYPE_MAP) {
            fprintf(stderr, "flowhost: --parameters must be a JSON object, not %s\n",
                    fh_type_name(fh_value_type(params)));
            goto out;
        }
    }
    if (input != NULL && fh_ndjson_open(input, &reader) != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        goto out;
    }
    if (output != NULL && (pc.out = fopen(output, "w")) == NULL) {
        fprintf(stderr, "flowhost: cannot write %s: %m\n", output);
        goto out;
    }
    char address[512];
    if (flow != NULL) {
        char self[4096];
        if (fh_self_exe(self, sizeof self) != 0 || fh_flow_config_load(flow, &cfg) != 0) {
            fprintf(stderr, "flowhost: %s\n", fh_last_error());
            goto out;
        }
        if (prefetch < 0)
            prefetch = cfg->prefetch;
        if (fh_flow_start_child(cfg, self, &flow_pid, address, sizeof address) != 0) {
            fprintf(stderr, "flowhost: %s\n", fh_last_error());
            flow_pid = 0;
            goto out;
        }
        to = address;
    }
    if (fh_client_new(to, &client) != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        goto out;
    }
    fh_post_options opts;
    fh_post_options_init(&opts);
    opts.parameters = params;
    opts.request_size = (size_t)request_size;
    opts.prefetch = prefetch > 0 ? (unsigned)prefetch : 0;
    opts.timeout_ms = (int)timeout;
    opts.connect_timeout_ms = connect_timeout ? (int)connect_timeout : -1;
    opts.on_always = on_always;
    opts.user = &pc;
    int64_t t0 = fh_monotonic_ms();
    int rc = reader ? fh_client_post_input(client, endpoint, next_ndjson, reader, &opts)
                    : fh_client_post(client, endpoint, NULL, &opts);
    double secs = (double)(fh_monotonic_ms() - t0) / 1000.0;
    if (rc != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        goto out;
    }
    if (pc.write_failed) {
        fprintf(stderr, "flowhost: writing responses failed\n");
        goto out;
    }
    if (!quiet)
        fprintf(stderr, "flowhost: %zu request%s done in %.3f s, %zu error%s\n", pc.responses,
                pc.responses == 1 ? "" : "s", secs, pc.errors, pc.errors == 1 ? "" : "s");
    status = pc.errors ? 1 : 0;
out:
    fh_client_destroy(&client);
    if (flow_pid > 0 && fh_flow_stop_child(flow_pid) != 0 && status == 0) {
        fprintf(stderr, "flowhost: the flow did not stop cleanly\n");
        status = 1;
    }
    if (pc.out != NULL && pc.out != stdout && fclose(pc.out) != 0 && status == 0) {
        fprintf(stderr, "flowhost: cannot write %s\n", output);
        status = 2;
    }
    fflush(stdout);
    fh_flow_config_destroy(&cfg);
    fh_ndjson_close(&reader);
    fh_value_destroy(&params);
    return status;
}

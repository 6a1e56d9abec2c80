/* flowhost post ENDPOINT [INPUT], and index/search/update/delete. */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <flowhost/client.h>
#include <flowhost/error.h>
#include <flowhost/json.h>
#include <flowhost/keys.h>
#include <flowhost/source.h>

#include "commands.h"
#include "flow_config.h"
#include "flow_run.h"
#include "progress.h"
#include "util.h"

static const char usage[] =
    "usage: flowhost post ENDPOINT [INPUT] (--to HOST:PORT | --flow FLOW.yml) [OPTIONS]\n"
    "       flowhost index|search|update|delete [INPUT] (--to ... | --flow ...) [OPTIONS]\n"
    "\n"
    "Post documents to a flow: to one that runs (--to), or to FLOW.yml started for the\n"
    "length of the post (--flow). Without INPUT one request with no documents is sent (a\n"
    "parameters-only post). Each response is written as one JSON line.\n"
    "\n"
    "INPUT, read as it is sent, by its name or --format:\n"
    "  FILE.ndjson, FILE.jsonl  one JSON object a line; - is standard input\n"
    "  FILE.csv                 a header row, then one document a row\n"
    "  FILE.npy                 a numpy array: one document a row (along axis 0)\n"
    "  'PATTERN'                files matching a glob (quote it; ** matches any folders)\n"
    "  DIRECTORY                a docstore\n"
    "\n"
    "options:\n"
    "  --to HOST:PORT         the gateway of a running flow\n"
    "  --flow FLOW.yml        start this flow, post, then stop it\n"
    "  -p, --parameters JSON  request parameters, a JSON object (ints stay ints)\n"
    "  --request-size N       documents per request (default 100)\n"
    "  --prefetch N           requests in flight at most (default 0: the flow's with.prefetch,\n"
    "                         learnt from its first reply)\n"
    "  --timeout MS           give up when no response comes for MS milliseconds\n"
    "  --connect-timeout MS   give up when no flow answers the connection (default 5000;\n"
    "                         0 waits forever)\n"
    "  --server-key KEY       --to a flow with keys (CURVE): its public key, as 40 characters\n"
    "                         of Z85 or a certificate file\n"
    "  --key FILE             this client's secret certificate (flowhost keygen), for a flow\n"
    "                         with keys; with --flow, a key of its own is made when not given\n"
    "  --format NAME          ndjson, csv, npy, files or docstore (default: from INPUT)\n"
    "  --field-resolver MAP   CSV/NDJSON: input field -> document field, as JSON\n"
    "                         ('{\"question\": \"text\"}') or 'question=text,a=b'; other\n"
    "                         fields go to tags\n"
    "  --size N               send at most N documents\n"
    "  --sampling-rate X      send each document with probability X (0 < X <= 1)\n"
    "  --shuffle              .npy: rows in a random order\n"
    "  --seed N               seed of --sampling-rate and --shuffle (default: random)\n"
    "  --read-mode MODE       files: uri (default), text or bytes\n"
    "  --as WHAT              .npy: each row as the document's tensor (default) or embedding\n"
    "  --max-line BYTES       NDJSON: the longest line taken (default 256M; K, M, G suffixes);\n"
    "                         a longer one is an error\n"
    "  --progress             a progress bar on stderr\n"
    "  --no-wait              when the flow is full, get a 'busy' error instead of waiting\n"
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
    /* Flushed per response: a reader of a pipe or a file sees each one as it comes. */
    if (fprintf(pc->out, "%s\n", json) < 0 || fflush(pc->out) != 0)
        pc->write_failed = 1;
    free(json);
    return 0;
}

static int parse_count(const char *s, const char *name, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "flowhost: %s must be an integer from %ld to %ld, not '%s'\n", name, min,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* --max-line: a byte count, with an optional K, M or G (binary) suffix. */
static int parse_bytes(const char *s, const char *name, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (*s < '0' || *s > '9' || *end != '\0' || v == 0 || v > (1ULL << 40) >> shift) {
        fprintf(stderr, "flowhost: %s must be a number of bytes from 1 to 1024G (K, M, G "
                        "suffixes allowed), not '%s'\n", name, s);
        return -1;
    }
    *out = (size_t)(v << shift);
    return 0;
}

/* --field-resolver: a JSON object, or "a=b,c=d". A new map in *OUT. */
static int parse_resolver(const char *s, fh_value **out)
{
    if (s[0] == '{') {
        if (fh_value_from_json(s, strlen(s), out) != 0) {
            fprintf(stderr, "flowhost: --field-resolver: %s\n", fh_last_error());
            return -1;
        }
        for (size_t i = 0; i < fh_value_len(*out); i++)
            if (fh_value_type(fh_map_value_at(*out, i)) != FH_TYPE_STRING) {
                fprintf(stderr, "flowhost: --field-resolver: the value of '%s' must be a string\n",
                        fh_map_key_at(*out, i));
                return -1;
            }
        return 0;
    }
    *out = fh_value_new_map();
    char *copy = strdup(s), *save = NULL;
    int rc = *out && copy ? 0 : -1;
    for (char *pair = copy ? strtok_r(copy, ",", &save) : NULL; rc == 0 && pair;
         pair = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(pair, '=');
        if (eq == NULL || eq == pair || eq[1] == '\0') {
            fprintf(stderr, "flowhost: --field-resolver: '%s' is not FIELD=DOCUMENT_FIELD\n", pair);
            rc = -1;
            break;
        }
        *eq = '\0';
        rc = fh_map_set_string(*out, pair, eq + 1) == 0 ? 0 : -1;
    }
    free(copy);
    return rc;
}

typedef struct post_args {
    const char *endpoint, *input, *to, *flow, *params_json, *output, *format, *resolver;
    const char *read_mode, *array_as, *server_key, *key;
    long request_size, prefetch, timeout, connect_timeout, size, seed;
    size_t max_line; /* 0: the source's default */
    double sampling_rate;
    int quiet, shuffle, progress, no_wait;
} post_args;

/* Fills A from the command line. Returns 0, 1 after --help, or -1 on bad usage. */
static int parse_args(int argc, char **argv, post_args *a)
{
    static const struct option longopts[] = {
        {"to", required_argument, NULL, 't'},         {"flow", required_argument, NULL, 'f'},
        {"parameters", required_argument, NULL, 'p'}, {"request-size", required_argument, NULL, 'r'},
        {"prefetch", required_argument, NULL, 'P'},   {"timeout", required_argument, NULL, 'T'},
        {"connect-timeout", required_argument, NULL, 'C'},
        {"format", required_argument, NULL, 'F'},     {"field-resolver", required_argument, NULL, 'R'},
        {"size", required_argument, NULL, 'S'},       {"sampling-rate", required_argument, NULL, 'A'},
        {"shuffle", no_argument, NULL, 'X'},          {"seed", required_argument, NULL, 'E'},
        {"read-mode", required_argument, NULL, 'M'},  {"as", required_argument, NULL, 'W'},
        {"progress", no_argument, NULL, 'G'},         {"output", required_argument, NULL, 'o'},
        {"no-wait", no_argument, NULL, 'N'},          {"max-line", required_argument, NULL, 'L'},
        {"server-key", required_argument, NULL, 'K'}, {"key", required_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},            {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:o:qh", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 't': a->to = optarg; break;
        case 'f': a->flow = optarg; break;
        case 'p': a->params_json = optarg; break;
        case 'o': a->output = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'F': a->format = optarg; break;
        case 'R': a->resolver = optarg; break;
        case 'X': a->shuffle = 1; break;
        case 'M': a->read_mode = optarg; break;
        case 'W': a->array_as = optarg; break;
        case 'G': a->progress = 1; break;
        case 'N': a->no_wait = 1; break;
        case 'K': a->server_key = optarg; break;
        case 'k': a->key = optarg; break;
        case 'r':
            if (parse_count(optarg, "--request-size", 1, FH_CLIENT_MAX_REQUEST_SIZE,
                            &a->request_size) != 0)
                return -1;
            break;
        case 'P':
            if (parse_count(optarg, "--prefetch", 0, FH_CLIENT_MAX_INFLIGHT, &a->prefetch) != 0)
                return -1;
            break;
        case 'T':
            if (parse_count(optarg, "--timeout", 0, 86400000, &a->timeout) != 0)
                return -1;
            break;
        case 'C':
            if (parse_count(optarg, "--connect-timeout", 0, 86400000, &a->connect_timeout) != 0)
                return -1;
            break;
        case 'S':
            if (parse_count(optarg, "--size", 0, LONG_MAX, &a->size) != 0)
                return -1;
            break;
        case 'E':
            if (parse_count(optarg, "--seed", 0, LONG_MAX, &a->seed) != 0)
                return -1;
            break;
        case 'L':
            if (parse_bytes(optarg, "--max-line", &a->max_line) != 0)
                return -1;
            break;
        case 'A':
            a->sampling_rate = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(a->sampling_rate > 0 && a->sampling_rate <= 1)) {
                fprintf(stderr, "flowhost: --sampling-rate must be a number in (0, 1], not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 'h': fputs(usage, stdout); return 1;
        default: fputs(usage, stderr); return -1;
        }
    }
    if (a->endpoint == NULL) {
        if (optind >= argc) {
            fprintf(stderr, "flowhost: post needs an ENDPOINT (e.g. /index)\n");
            return -1;
        }
        a->endpoint = argv[optind++];
    }
    a->input = optind < argc ? argv[optind++] : NULL;
    if (optind < argc || (a->to == NULL) == (a->flow == NULL)) {
        fprintf(stderr, "flowhost: %s\n", optind < argc ? "too many arguments"
                                                         : "give exactly one of --to and --flow");
        fputs(usage, stderr);
        return -1;
    }
    if (a->endpoint[0] != '/') {
        fprintf(stderr, "flowhost: endpoint '%s' must start with '/'\n", a->endpoint);
        return -1;
    }
    if (a->server_key != NULL && a->flow != NULL) {
        fprintf(stderr, "flowhost: --server-key goes with --to (with --flow, the flow's own key "
                        "is known)\n");
        return -1;
    }
    if ((a->server_key == NULL) != (a->key == NULL) && a->flow == NULL) {
        fprintf(stderr, "flowhost: --server-key and --key go together (a flow with keys needs "
                        "both)\n");
        return -1;
    }
    return 0;
}

/* The keys of the post in K (NULL in *USE when the flow has none): from --server-key and
 * --key, or with --flow from its config (CFG), letting this client's key in (a key of its
 * own is made unless --key names one). Returns 0 or -1 (the reason printed). */
static int client_keys(const post_args *a, fh_flow_config *cfg, fh_keypair *kp, char *server,
                       fh_client_keys *k, fh_client_keys **use)
{
    *use = NULL;
    if (cfg != NULL && !cfg->curve) {
        if (a->key != NULL) {
            fprintf(stderr, "flowhost: --key: the flow %s has no keys (with.server_key)\n", a->flow);
            return -1;
        }
        return 0;
    }
    if (cfg == NULL && a->key == NULL)
        return 0;
    if ((a->key ? fh_keypair_load(a->key, kp) : fh_keypair_generate(kp)) != 0) {
        fprintf(stderr, "flowhost: %s%s\n", a->key ? "--key: " : "", fh_last_error());
        return -1;
    }
    if (cfg != NULL) {
        memcpy(server, cfg->server_key.public_key, FH_KEY_TEXT + 1);
        if (fh_flow_config_allow_key(cfg, kp->public_key) != 0) {
            fprintf(stderr, "flowhost: %s\n", fh_last_error());
            return -1;
        }
    } else if (fh_public_key_load(a->server_key, server) != 0) {
        fprintf(stderr, "flowhost: --server-key: %s\n", fh_last_error());
        return -1;
    }
    *k = (fh_client_keys){.server_key = server, .public_key = kp->public_key,
                          .secret_key = kp->secret_key};
    *use = k;
    return 0;
}

/* Opens the input of A as a source in *OUT. Returns 0 or -1 (the reason printed). */
static int open_input(const post_args *a, fh_source **out)
{
    fh_source_options so;
    fh_source_options_init(&so);
    fh_value *resolver = NULL;
    int format = a->format ? fh_source_format_from_name(a->format) : FH_FORMAT_AUTO;
    if (format < 0) {
        fprintf(stderr, "flowhost: unknown --format '%s' (ndjson, csv, npy, files, docstore)\n",
                a->format);
        return -1;
    }
    if (a->read_mode) {
        static const char *const modes[] = {"uri", "text", "bytes"};
        int m = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(a->read_mode, modes[i]) == 0)
                m = i;
        if (m < 0) {
            fprintf(stderr, "flowhost: --read-mode must be uri, text or bytes, not '%s'\n",
                    a->read_mode);
            return -1;
        }
        so.read_mode = (fh_read_mode)m;
    }
    if (a->array_as) {
        if (strcmp(a->array_as, "tensor") != 0 && strcmp(a->array_as, "embedding") != 0) {
            fprintf(stderr, "flowhost: --as must be tensor or embedding, not '%s'\n", a->array_as);
            return -1;
        }
        so.array_as = strcmp(a->array_as, "embedding") == 0 ? FH_ARRAY_AS_EMBEDDING : FH_ARRAY_AS_TENSOR;
    }
    if (a->resolver && parse_resolver(a->resolver, &resolver) != 0) {
        fh_value_destroy(&resolver);
        return -1;
    }
    so.size = (size_t)a->size;
    so.sampling_rate = a->sampling_rate;
    so.shuffle = a->shuffle;
    so.seed = (uint64_t)a->seed;
    if (a->max_line)
        so.max_line = a->max_line;
    so.field_resolver = resolver;
    int rc = fh_source_open(a->input, (fh_source_format)format, &so, out);
    fh_value_destroy(&resolver);
    if (rc != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return -1;
    }
    return 0;
}

int fh_cmd_post(int argc, char **argv, const char *endpoint)
{
    argv[0] = (char *)"flowhost post"; /* getopt names the command in its messages */
    post_args a = {.endpoint = endpoint, .request_size = 100, .prefetch = -1,
                   .connect_timeout = FH_CLIENT_CONNECT_TIMEOUT_MS};
    int parsed = parse_args(argc, argv, &a);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;

    int status = 2;
    fh_value *params = NULL;
    fh_source *source = NULL;
    fh_flow_config *cfg = NULL;
    fh_client *client = NULL;
    pid_t flow_pid = 0;
    post_cli pc = {.out = stdout};
    if (a.params_json != NULL) {
        if (fh_value_from_json(a.params_json, strlen(a.params_json), &params) != 0) {
            fprintf(stderr, "flowhost: --parameters: %s\n", fh_last_error());
            goto out;
        }
        if (fh_value_type(params) != FH_TYPE_MAP) {
            fprintf(stderr, "flowhost: --parameters must be a JSON object, not %s\n",
                    fh_type_name(fh_value_type(params)));
            goto out;
        }
    }
    if (a.input != NULL && open_input(&a, &source) != 0)
        goto out;
    char address[2048]; /* the flow's address, or why it did not start */
    fh_keypair kp = {{0}, {0}};
    char server[FH_KEY_TEXT + 1];
    fh_client_keys keys, *use_keys = NULL;
    if (a.flow != NULL) {
        char self[4096];
        if (fh_self_exe(self, sizeof self) != 0 || fh_flow_config_load(a.flow, &cfg) != 0) {
            fprintf(stderr, "flowhost: %s\n", fh_last_error());
            goto out;
        }
        if (a.prefetch < 0)
            a.prefetch = cfg->prefetch;
        if (client_keys(&a, cfg, &kp, server, &keys, &use_keys) != 0)
            goto out;
        if (fh_flow_start_child(cfg, self, &flow_pid, address, sizeof address) != 0) {
            fprintf(stderr, "flowhost: %s\n", fh_last_error());
            flow_pid = 0;
            goto out;
        }
        address[strcspn(address, " ")] = '\0'; /* "HOST:PORT", then the flow's key */
        a.to = address;
    } else if (client_keys(&a, NULL, &kp, server, &keys, &use_keys) != 0) {
        goto out;
    }
    if ((use_keys ? fh_client_new_secure(a.to, use_keys, &client)
                  : fh_client_new(a.to, &client)) != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        goto out;
    }
    /* Opened (and emptied) only now that there is something to write into it. */
    if (a.output != NULL && (pc.out = fopen(a.output, "w")) == NULL) {
        fprintf(stderr, "flowhost: cannot write %s: %m\n", a.output);
        pc.out = stdout;
        goto out;
    }
    fh_post_options opts;
    fh_post_options_init(&opts);
    opts.parameters = params;
    opts.request_size = (size_t)a.request_size;
    opts.prefetch = a.prefetch > 0 ? (unsigned)a.prefetch : 0;
    opts.timeout_ms = (int)a.timeout;
    opts.connect_timeout_ms = a.connect_timeout ? (int)a.connect_timeout : -1;
    opts.show_progress = a.progress;
    opts.no_wait = a.no_wait;
    opts.on_always = on_always;
    opts.user = &pc;
    int64_t t0 = fh_monotonic_us();
    /* A source that can wait (NDJSON, a live pipe too) is waited on with the responses:
     * each response is written as soon as it comes, whatever the pace of the input. */
    int rc = source ? fh_client_post_input_fd(client, a.endpoint, fh_source_input, source,
                                              fh_source_wait_fd(source), &opts)
                    : fh_client_post(client, a.endpoint, NULL, &opts);
    char took[32]; /* microseconds: a short post is not "0.000 s" */
    fh_progress_duration(fh_monotonic_us() - t0, took, sizeof took);
    if (rc != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        goto out;
    }
    if (pc.write_failed) {
        fprintf(stderr, "flowhost: writing responses failed\n");
        goto out;
    }
    if (!a.quiet && !a.progress)
        fprintf(stderr, "flowhost: %zu request%s done in %s, %zu error%s\n", pc.responses,
                pc.responses == 1 ? "" : "s", took, pc.errors, pc.errors == 1 ? "" : "s");
    status = pc.errors ? 1 : 0;
out:
    explicit_bzero(&kp, sizeof kp);
    fh_client_destroy(&client);
    if (flow_pid > 0 && fh_flow_stop_child(flow_pid) != 0 && status == 0) {
        fprintf(stderr, "flowhost: the flow did not stop cleanly\n");
        status = 1;
    }
    if (pc.out != NULL && pc.out != stdout && fclose(pc.out) != 0 && status == 0) {
        fprintf(stderr, "flowhost: cannot write %s\n", a.output);
        status = 2;
    }
    fflush(stdout);
    fh_flow_config_destroy(&cfg);
    fh_source_close(&source);
    fh_value_destroy(&params);
    return status;
}

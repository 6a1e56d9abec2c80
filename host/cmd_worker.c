/* flowhost worker --spec FILE (started by the host), or --listen ADDR --uses X (a worker
 * you run anywhere, for a gateway on another machine: worker_listen.h). */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "commands.h"
#include "flow_run.h"
#include "worker.h"
#include "worker_listen.h"

static const char usage[] =
    "usage: flowhost worker --listen tcp://ADDR:PORT --uses USES [OPTIONS]\n"
    "       flowhost worker --spec FILE\n"
    "\n"
    "Serve one executor (one replica) for a gateway on another machine: a flow names it\n"
    "with 'host:' and 'port:' (docs/remote-workers.md). The worker loads the executor,\n"
    "listens, and serves one gateway at a time; it runs until SIGINT or SIGTERM.\n"
    "With --spec, run the executor a spec file describes, connected to the gateway the\n"
    "spec names: `flowhost run` starts these itself.\n"
    "\n"
    "options:\n"
    "  --listen tcp://ADDR:PORT  where gateways connect (0.0.0.0 for every interface)\n"
    "  --uses USES               a plugin (.so), an executor type on the plugin path\n"
    "                            (FLOWHOST_PLUGIN_PATH), or an executor YAML, as in a flow\n"
    "  --uses-with JSON          the executor's uses_with (a JSON object)\n"
    "  --uses-metas JSON         its uses_metas (name, description, workspace)\n"
    "  --uses-requests JSON      its uses_requests ({\"/endpoint\": \"handler\"})\n"
    "  --name NAME               its name (as a flow entry's name)\n"
    "  --env K=V                 an environment variable for the executor (repeatable)\n"
    "  --workspace DIR           its workspace (default ./workspace/NAME)\n"
    "  --key SECRET_FILE         its CURVE key pair (flowhost keygen PATH: PATH_secret);\n"
    "                            then only the gateways --allow names get in\n"
    "  --allow PUBLIC_FILE       a gateway's public key or certificate (repeatable)\n"
    "  --max-message-size BYTES  the largest message it takes from anyone (1024 to\n"
    "                            2147483647; default 268435456, a flow's default); a flow\n"
    "                            with a larger max_message_size is refused\n"
    "  --replica N --shard S --shards N\n"
    "                            its place in the executor (metas), until a gateway says\n"
    "  -h, --help                this text\n"
    "\n"
    "`flowhost ping ADDR:PORT` asks it whether it is ready (exit 0).\n";

static int number(const char *opt, const char *text, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *text == '\0' || *end != '\0' || v > max || text[0] == '-') {
        fprintf(stderr, "flowhost worker: %s must be 0 to %u, not '%s'\n", opt, max, text);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

int fh_cmd_worker(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--spec") == 0)
        return fh_worker_main(argv[2]);
    enum { O_LISTEN = 256, O_USES, O_WITH, O_METAS, O_REQUESTS, O_NAME, O_ENV, O_WS, O_KEY,
           O_ALLOW, O_REPLICA, O_SHARD, O_SHARDS, O_SPEC, O_MAX_MESSAGE };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"uses", required_argument, NULL, O_USES},
        {"uses-with", required_argument, NULL, O_WITH},
        {"uses-metas", required_argument, NULL, O_METAS},
        {"uses-requests", required_argument, NULL, O_REQUESTS},
        {"name", required_argument, NULL, O_NAME},
        {"env", required_argument, NULL, O_ENV},
        {"workspace", required_argument, NULL, O_WS},
        {"key", required_argument, NULL, O_KEY},
        {"allow", required_argument, NULL, O_ALLOW},
        {"replica", required_argument, NULL, O_REPLICA},
        {"shard", required_argument, NULL, O_SHARD},
        {"shards", required_argument, NULL, O_SHARDS},
        {"spec", required_argument, NULL, O_SPEC},
        {"max-message-size", required_argument, NULL, O_MAX_MESSAGE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    fh_worker_listen_options o = {.shards = 1};
    char **env = calloc((size_t)argc + 1, sizeof *env);
    char **allow = calloc((size_t)argc + 1, sizeof *allow);
    int rc = 2;
    if (env == NULL || allow == NULL) {
        fprintf(stderr, "flowhost worker: out of memory\n");
        rc = 1;
        goto out;
    }
    o.env = env;
    o.allow = allow;
    optind = 1;
    argv[0] = (char *)"flowhost worker";
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN: o.listen = optarg; break;
        case O_USES: o.uses = optarg; break;
        case O_WITH: o.uses_with = optarg; break;
        case O_METAS: o.uses_metas = optarg; break;
        case O_REQUESTS: o.uses_requests = optarg; break;
        case O_NAME: o.name = optarg; break;
        case O_ENV: env[o.n_env++] = optarg; break;
        case O_WS: o.workspace = optarg; break;
        case O_KEY: o.key = optarg; break;
        case O_ALLOW: allow[o.n_allow++] = optarg; break;
        case O_REPLICA:
            if (number("--replica", optarg, 4095, &o.replica) != 0)
                goto out;
            break;
        case O_SHARD:
            if (number("--shard", optarg, 4095, &o.shard) != 0)
                goto out;
            break;
        case O_SHARDS:
            if (number("--shards", optarg, 4096, &o.shards) != 0 || o.shards == 0) {
                if (o.shards == 0)
                    fprintf(stderr, "flowhost worker: --shards must be at least 1\n");
                goto out;
            }
            break;
        case O_MAX_MESSAGE: {
            unsigned v;
            if (number("--max-message-size", optarg, INT_MAX, &v) != 0)
                goto out;
            if (v < 1024) {
                fprintf(stderr, "flowhost worker: --max-message-size must be at least 1024, "
                        "not %u\n", v);
                goto out;
            }
            o.max_message_size = v;
            break;
        }
        case O_SPEC:
            fprintf(stderr, "flowhost worker: --spec FILE takes no other option\n");
            goto out;
        case 'h':
            fputs(usage, stdout);
            rc = 0;
            goto out;
        default:
            fputs(usage, stderr);
            goto out;
        }
    }
    if (optind != argc || o.listen == NULL || o.uses == NULL) {
        fprintf(stderr, "flowhost worker: %s\n",
                optind != argc ? "unexpected arguments (see --help)"
                : o.listen == NULL ? "--listen tcp://ADDR:PORT is required (or --spec FILE)"
                                   : "--uses is required: the executor to serve");
        goto out;
    }
    if (o.shard >= o.shards) {
        fprintf(stderr, "flowhost worker: --shard %u is not below --shards %u\n", o.shard,
                o.shards);
        goto out;
    }
    char self[4096];
    if (fh_self_exe(self, sizeof self) != 0) {
        fprintf(stderr, "flowhost worker: %s\n", fh_last_error());
        rc = 1;
        goto out;
    }
    o.self_exe = self;
    rc = fh_worker_listen_main(&o);
out:
    free(env);
    free(allow);
    return rc;
}

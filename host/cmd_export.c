/* flowhost export kubernetes FLOW.yml DIR | compose FLOW.yml FILE */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "commands.h"
#include "export_kube.h"
#include "export_plan.h"
#include "flow_config.h"

static const char usage[] =
    "usage: flowhost export kubernetes FLOW.yml DIR [OPTIONS]\n"
    "       flowhost export compose FLOW.yml FILE [OPTIONS]\n"
    "\n"
    "Write what runs FLOW.yml on a cluster: per executor (per shard) a workload of remote\n"
    "workers (`flowhost worker --listen`), one addressable pod per replica (a StatefulSet\n"
    "and its headless Service, or a Compose service per replica), and a gateway running\n"
    "`flowhost run " FH_EXPORT_FLOW "` on a generated flow that names the workers by DNS.\n"
    "An executor the flow already serves elsewhere (host:) stays where it points.\n"
    "Kubernetes: one file per object in DIR (made when missing). Compose: one FILE.\n"
    "docs/deploy.md walks through it.\n"
    "\n"
    "options:\n"
    "  --image IMAGE       the image of every container (default " FH_EXPORT_DEFAULT_IMAGE ")\n"
    "  --namespace NS      put every object in namespace NS (and write the Namespace)\n"
    "  --port PORT         the port the workers listen on (default 8081)\n"
    "  --keys DIR          CURVE between gateway and workers: a key pair per executor\n"
    "                      and one for the gateway, kept in DIR (made there when missing,\n"
    "                      reused after: exporting again ships the same keys)\n"
    "  --plugin-dir DIR    where the image holds the plugins (default\n"
    "                      " FH_EXPORT_DEFAULT_PLUGIN_DIR ")\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 written, 1 a file could not be written, 2 bad usage or a flow that\n"
    "cannot be exported (the reason on stderr).\n";

/* A DNS label (RFC 1123) of at most 63 characters: a namespace's name. */
static int dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return 0;
    return 1;
}

int fh_cmd_export(int argc, char **argv)
{
    static const struct option longopts[] = {{"image", required_argument, NULL, 'i'},
                                             {"namespace", required_argument, NULL, 'n'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"keys", required_argument, NULL, 'k'},
                                             {"plugin-dir", required_argument, NULL, 'd'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    fh_export_options o = {.image = FH_EXPORT_DEFAULT_IMAGE,
                           .port = FH_EXPORT_DEFAULT_PORT,
                           .plugin_dir = FH_EXPORT_DEFAULT_PLUGIN_DIR};
    int c;
    optind = 1;
    argv[0] = (char *)"flowhost export"; /* getopt names the command in its messages */
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end;
        long v;
        switch (c) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'i':
            if (!*optarg || strpbrk(optarg, " \t\n") != NULL) {
                fprintf(stderr, "flowhost: --image '%s': not an image name\n", optarg);
                return 2;
            }
            o.image = optarg;
            break;
        case 'n':
            if (!dns_label(optarg)) {
                fprintf(stderr, "flowhost: --namespace '%s': a namespace is a DNS label "
                                "(a-z, 0-9, '-', at most 63 characters)\n", optarg);
                return 2;
            }
            o.ns = optarg;
            break;
        case 'p':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 65535) {
                fprintf(stderr, "flowhost: --port '%s': a port is 1 to 65535\n", optarg);
                return 2;
            }
            o.port = (int)v;
            break;
        case 'k':
            o.keys_dir = optarg;
            break;
        case 'd':
            if (optarg[0] != '/') {
                fprintf(stderr, "flowhost: --plugin-dir '%s': must be an absolute path in "
                                "the image\n", optarg);
                return 2;
            }
            o.plugin_dir = optarg;
            break;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (argc - optind != 3) {
        fprintf(stderr, "flowhost: export takes a target (kubernetes or compose), a flow and "
                        "an output: %s\n", argc - optind < 3 ? "missing arguments"
                                                          : "too many arguments");
        return 2;
    }
    const char *target = argv[optind], *flow = argv[optind + 1], *dest = argv[optind + 2];
    bool kube = strcmp(target, "kubernetes") == 0 || strcmp(target, "k8s") == 0;
    if (!kube && strcmp(target, "compose") != 0) {
        fprintf(stderr, "flowhost: export: unknown target '%s' (kubernetes or compose)\n",
                target);
        return 2;
    }
    fh_flow_config *cfg;
    if (fh_flow_config_load(flow, &cfg) != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return 2;
    }
    for (size_t i = 0; i < cfg->n_warnings; i++)
        fprintf(stderr, "flowhost: warning: %s\n", cfg->warnings[i]);
    fh_export_plan *p;
    int rc = fh_export_plan_make(cfg, &o, &p);
    if (rc < 0) {
        fprintf(stderr, "flowhost: %s: %s\n", flow, fh_last_error());
        fh_flow_config_destroy(&cfg);
        return rc == FH_E_INVAL ? 2 : 1;
    }
    rc = kube ? fh_export_kubernetes(p, &o, dest) : fh_export_compose(p, &o, dest);
    if (rc < 0)
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
    fh_export_plan_destroy(&p);
    fh_flow_config_destroy(&cfg);
    return rc == 0 ? 0 : rc == FH_E_INVAL ? 2 : 1;
}

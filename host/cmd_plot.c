/* flowhost plot FLOW.yml [--format mermaid|dot] [-o FILE] */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <flowhost/error.h>

#include "commands.h"
#include "flow_config.h"
#include "flow_plot.h"

static const char usage[] =
    "usage: flowhost plot FLOW.yml [--format mermaid|dot] [-o FILE]\n"
    "\n"
    "Check a flow as `validate` does, then print its graph: a gateway where requests\n"
    "start, the executors (with their replicas, shards and polling, conditions, and\n"
    "floating ones dashed), an edge from each executor to the ones that need it, and a\n"
    "gateway where responses leave, which waits for every executor nobody needs.\n"
    "\n"
    "options:\n"
    "  -f, --format FORMAT  mermaid (default: a flowchart GitHub and Markdown viewers\n"
    "                       draw) or dot (Graphviz: `dot -Tsvg`)\n"
    "  -o, --output FILE    write the graph to FILE instead of standard output\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0, or 2 with FILE:LINE:COLUMN: what is wrong (1 when FILE cannot be\n"
    "written).\n";

int fh_cmd_plot(int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    fh_plot_format format = FH_PLOT_MERMAID;
    const char *output = NULL;
    int c;
    optind = 1;
    argv[0] = (char *)"flowhost plot"; /* getopt names the command in its messages */
    while ((c = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c == 'f' && strcmp(optarg, "mermaid") == 0) {
            format = FH_PLOT_MERMAID;
        } else if (c == 'f' && strcmp(optarg, "dot") == 0) {
            format = FH_PLOT_DOT;
        } else if (c == 'f') {
            fprintf(stderr, "flowhost: --format must be mermaid or dot, not '%s'\n",
                    optarg);
            return 2;
        } else if (c == 'o') {
            output = optarg;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return 2;
    }
    fh_flow_config *cfg;
    if (fh_flow_config_load(argv[optind], &cfg) != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return 2;
    }
    for (size_t i = 0; i < cfg->n_warnings; i++)
        fprintf(stderr, "flowhost: warning: %s\n", cfg->warnings[i]);
    FILE *out = stdout;
    if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "flowhost: %s: %s\n", output, strerror(errno));
        fh_flow_config_destroy(&cfg);
        return 1;
    }
    int rc = fh_flow_plot(cfg, format, out);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = fh_set_error(FH_E_IO, "%s", strerror(errno));
    if (rc != 0)
        fprintf(stderr, "flowhost: %s%s%s\n", output ? output : "", output ? ": " : "",
                fh_last_error());
    fh_flow_config_destroy(&cfg);
    return rc == 0 ? 0 : 1;
}

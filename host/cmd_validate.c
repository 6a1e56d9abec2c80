/* flowhost validate FLOW.yml */
#include <stdio.h>
#include <string.h>

#include <flowhost/error.h>

#include "commands.h"
#include "flow_config.h"

static const char usage[] =
    "usage: flowhost validate FLOW.yml\n"
    "\n"
    "Check a flow's YAML (keys, types, paths, names) without starting it. Prints the\n"
    "executors in order and exits 0 (what it ignores, such as Jina keys that only tune\n"
    "Python, is named on stderr as a warning), or prints FILE:LINE:COLUMN: what is wrong\n"
    "and exits 2.\n";

int fh_cmd_validate(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fputs(usage, stderr);
        return 2;
    }
    fh_flow_config *cfg;
    if (fh_flow_config_load(argv[1], &cfg) != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return 2;
    }
    for (size_t i = 0; i < cfg->n_warnings; i++)
        fprintf(stderr, "flowhost: warning: %s\n", cfg->warnings[i]);
    printf("%s: valid flow, %zu executor%s\n", argv[1], cfg->n_executors,
           cfg->n_executors == 1 ? "" : "s");
    for (size_t i = 0; i < cfg->n_executors; i++) {
        const fh_flow_executor *x = &cfg->executors[i];
        if (x->n_hosts > 0) { /* served elsewhere: its worker there loads what it loads */
            printf("  %zu. %s  (remote%s:", i + 1, x->name, x->has_worker_key ? ", CURVE" : "");
            for (size_t k = 0; k < x->n_hosts; k++)
                printf(" %s", x->hosts[k]);
            printf(")\n");
            continue;
        }
        printf("  %zu. %s  (%s%s%s)\n", i + 1, x->name,
               x->type ? x->type : (x->plugin ? "only type" : "pass-through"),
               x->plugin ? " from " : "", x->plugin ? x->plugin : "");
    }
    fh_flow_config_destroy(&cfg);
    return 0;
}

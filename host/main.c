/* flowhost: run flows of executor plugins, post documents to them. */
#include <stdio.h>
#include <string.h>

#include "commands.h"


static const char usage[] =
    "usage: flowhost COMMAND [ARGS]\n"
    "\n"
    "Run flows of C executor plugins and post documents to them.\n"
    "\n"
    "commands:\n"
    "  run FLOW.yml            serve a flow until SIGINT/SIGTERM\n"
    "  reload PID              replace a running flow's workers one at a time (the plugin\n"
    "                          files as they are now), no request failed\n"
    "  post ENDPOINT [INPUT]   post documents to a flow (--to HOST:PORT or --flow FLOW.yml)\n"
    "  index|search|update|delete [INPUT]\n"
    "                          post to /index, /search, /update, /delete\n"
    "  validate FLOW.yml       check a flow without serving it\n"
    "  plot FLOW.yml           print a flow's graph (Mermaid, or DOT with --format dot)\n"
    "  ping HOST:PORT          exit 0 when the flow there is ready (a probe)\n"
    "  keygen PATH             make a CURVE key pair (PATH, PATH_secret)\n"
    "  worker --listen tcp://ADDR:PORT --uses USES\n"
    "                          serve one executor for a flow on another machine\n"
    "  worker --spec FILE      run one executor (the host starts these)\n"
    "  export kubernetes|compose FLOW.yml OUT\n"
    "                          write manifests that run a flow on a cluster\n"
    "  docstore check|repair|compact DIR\n"
    "                          look after a docstore (an indexer's WORKSPACE/index)\n"
    "\n"
    "`flowhost COMMAND --help` tells more. Exit status: 0 success, 1 failure, 2 bad usage.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        puts("flowhost " FH_VERSION);
        return 0;
    }
    static const char *const sugar[][2] = {
        {"index", "/index"}, {"search", "/search"}, {"update", "/update"}, {"delete", "/delete"}};
    for (size_t i = 0; i < sizeof sugar / sizeof sugar[0]; i++)
        if (strcmp(cmd, sugar[i][0]) == 0)
            return fh_cmd_post(argc - 1, argv + 1, sugar[i][1]);
    if (strcmp(cmd, "run") == 0)
        return fh_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "reload") == 0)
        return fh_cmd_reload(argc - 1, argv + 1);
    if (strcmp(cmd, "post") == 0)
        return fh_cmd_post(argc - 1, argv + 1, NULL);
    if (strcmp(cmd, "validate") == 0)
        return fh_cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "plot") == 0)
        return fh_cmd_plot(argc - 1, argv + 1);
    if (strcmp(cmd, "worker") == 0)
        return fh_cmd_worker(argc - 1, argv + 1);
    if (strcmp(cmd, "docstore") == 0)
        return fh_cmd_docstore(argc - 1, argv + 1);
    if (strcmp(cmd, "ping") == 0)
        return fh_cmd_ping(argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return fh_cmd_keygen(argc - 1, argv + 1);
    if (strcmp(cmd, "export") == 0)
        return fh_cmd_export(argc - 1, argv + 1);
    if (strcmp(cmd, "plugin-scan") == 0) /* the workers' scanner: not in the usage */
        return fh_cmd_plugin_scan(argc - 1, argv + 1);
    fprintf(stderr, "flowhost: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}

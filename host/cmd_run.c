/* flowhost run FLOW.yml */
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <flowhost/error.h>

#include "commands.h"
#include "flow_config.h"
#include "flow_run.h"
#include "log.h"

static const char usage[] =
    "usage: flowhost run [OPTIONS] FLOW.yml\n"
    "\n"
    "Start every executor of the flow in its own worker process and serve clients until\n"
    "SIGINT or SIGTERM; then answer the requests in flight and stop (a second signal\n"
    "stops at once). The client address is printed when the flow is ready.\n"
    "\n"
    "options:\n"
    "  --address-file FILE  write HOST:PORT to FILE once ready, and the HTTP URL on a\n"
    "                       second line when the flow serves HTTP (removed on exit)\n"
    "  --pid-file FILE      write the flow's pid to FILE once ready (removed on exit):\n"
    "                       `flowhost reload --pid-file FILE` replaces its workers\n"
    "  --ready-fd FD        write HOST:PORT and a newline to descriptor FD once ready (with\n"
    "                       keys: HOST:PORT, a space, the flow's public key), or '!' and\n"
    "                       the reason when the flow cannot start; no banner\n"
    "  --owner-key KEY      with --ready-fd: the public key of the program that starts the\n"
    "                       flow, let in too when the flow has keys (with.server_key)\n"
    "  --log-format FORMAT  text (default) or json: one JSON object a line, for the host\n"
    "                       and every worker (time, level, executor, replica, request_id,\n"
    "                       message); the same as FLOWHOST_LOG_FORMAT=json\n"
    "  -h, --help           this text\n"
    "\n"
    "SIGHUP (or `flowhost reload`) replaces every executor's workers, one replica at a time,\n"
    "each by a new worker that loads the plugin file as it is on disk now: the new one\n"
    "starts beside the old, takes its place once ready, and the old one finishes what it\n"
    "holds before it stops; no request fails. A new worker that does not start leaves the\n"
    "old one serving, and the log says why (docs/reload.md).\n";

int fh_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {{"address-file", required_argument, NULL, 'a'},
                                              {"ready-fd", required_argument, NULL, 'r'},
                                              {"pid-file", required_argument, NULL, 'p'},
                                              {"owner-key", required_argument, NULL, 'o'},
                                              {"log-format", required_argument, NULL, 'l'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
    fh_flow_run_options o = {.banner = true, .ready_fd = -1};
    const char *owner_key = NULL;
    int c;
    optind = 1;
    argv[0] = (char *)"flowhost run"; /* getopt names the command in its messages */
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': o.address_file = optarg; break;
        case 'p': o.pid_file = optarg; break;
        case 'r': {
            char *end;
            long fd = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || fd < 0 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) {
                fprintf(stderr, "flowhost: --ready-fd '%s' is not an open descriptor\n", optarg);
                return 2;
            }
            /* Workers must not inherit it: the reader waits for its last writer. */
            fcntl((int)fd, F_SETFD, FD_CLOEXEC);
            o.ready_fd = (int)fd;
            o.banner = false;
            break;
        }
        case 'o': owner_key = optarg; break;
        case 'l':
            /* Through the environment: the workers, started later, read it too. */
            if ((strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) ||
                setenv("FLOWHOST_LOG_FORMAT", optarg, 1) != 0) {
                fprintf(stderr, "flowhost: --log-format must be text or json, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return 2;
    }
    char self[4096];
    fh_flow_config *cfg;
    if (fh_self_exe(self, sizeof self) != 0 || fh_flow_config_load(argv[optind], &cfg) != 0) {
        if (o.ready_fd >= 0)
            dprintf(o.ready_fd, "!%s\n", fh_last_error());
        else
            fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return 2;
    }
    for (size_t i = 0; i < cfg->n_warnings; i++) {
        char line[1200];
        snprintf(line, sizeof line, "warning: %s", cfg->warnings[i]);
        fh_log_emit(NULL, FH_LOG_WARNING, NULL, line);
    }
    if (owner_key != NULL && cfg->curve && fh_flow_config_allow_key(cfg, owner_key) != 0) {
        if (o.ready_fd >= 0)
            dprintf(o.ready_fd, "!--owner-key: %s\n", fh_last_error());
        else
            fprintf(stderr, "flowhost: --owner-key: %s\n", fh_last_error());
        fh_flow_config_destroy(&cfg);
        return 2;
    }
    o.self_exe = self;
    int rc = fh_flow_run(cfg, &o);
    if (rc != 0 && rc != FH_E_NOTREADY_REPORTED)
        fh_log_emit(NULL, FH_LOG_ERROR, NULL, fh_last_error());
    fh_flow_config_destroy(&cfg);
    return rc == 0 ? 0 : 1;
}

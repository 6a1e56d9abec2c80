/* The subcommands of the flowhost binary. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit status:
 * 0 success, 1 the work failed (e.g. a response was an error), 2 bad usage or input. */
#ifndef FH_HOST_COMMANDS_H
#define FH_HOST_COMMANDS_H

int fh_cmd_run(int argc, char **argv);
/* flowhost reload PID | --pid-file FILE: 0 the running flow accepted the reload (with
 * --wait: and every new worker started), 1 refused, failed or no answer, 2 bad usage. */
int fh_cmd_reload(int argc, char **argv);
/* ENDPOINT is NULL for `post` (the first argument is the endpoint), or "/index" etc. for
 * index, search, update and delete. */
int fh_cmd_post(int argc, char **argv, const char *endpoint);
int fh_cmd_validate(int argc, char **argv);
/* flowhost plot FLOW.yml: the flow's graph as Mermaid or DOT (flow_plot.h). */
int fh_cmd_plot(int argc, char **argv);
int fh_cmd_worker(int argc, char **argv);
/* flowhost docstore check|repair|compact DIR */
int fh_cmd_docstore(int argc, char **argv);
int fh_cmd_keygen(int argc, char **argv);
/* flowhost ping HOST:PORT: 0 the flow is ready, 1 not ready or no answer, 2 bad usage. */
int fh_cmd_ping(int argc, char **argv);
/* flowhost plugin-scan FILE: the scanner process of plugin lookups (plugin_scan.h). */
int fh_cmd_plugin_scan(int argc, char **argv);
/* flowhost export kubernetes|compose FLOW.yml OUT: manifests for a cluster (export_plan.h). */
int fh_cmd_export(int argc, char **argv);

#endif

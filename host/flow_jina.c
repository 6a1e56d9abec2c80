/* Jina 2's keys that flowhost treats apart: see flow_jina.h. */
#include "flow_jina.h"

#include <stddef.h>
#include <string.h>

#define IGNORE FH_JINA_IGNORE
#define LATER FH_JINA_LATER
#define LATER_UNLESS_FALSE FH_JINA_LATER_UNLESS_FALSE
#define REFUSE FH_JINA_REFUSE

/* Shared reasons, so that one key reads the same wherever it is written. */
#define WHY_PY_MODULES "flowhost runs C plugins; the executor type is found on the plugin " \
                       "path (with.plugin_path) or in metas.plugin"
#define WHY_LOGGING "flowhost's log goes to stderr"
#define WHY_RUNTIME "every executor of flowhost runs in a process of its own"
#define WHY_REMOTE "flowhost starts no executor on another machine for you: run " \
                   "'flowhost worker --listen' there and name it with 'host'/'port' " \
                   "(docs/remote-workers.md)"
#define WHY_PORTS "flowhost picks the sockets between its gateway and its workers " \
                  "itself; remove it"
#define WHY_CONTAINER "flowhost runs C plugins, not containers"
#define WHY_HTTP_GATEWAY "an option of Jina's HTTP gateway that flowhost's does not " \
                         "take (docs/http.md)"

static const fh_jina_key flow_with[] = {
    {"name", IGNORE, "the flow's name is not used (the log names the flow by its file)"},
    {"log_config", IGNORE, WHY_LOGGING},
    {"quiet", IGNORE, WHY_LOGGING},
    {"quiet_error", IGNORE, WHY_LOGGING},
    {"cors", IGNORE, WHY_HTTP_GATEWAY},
    {"title", IGNORE, WHY_HTTP_GATEWAY},
    {"description", IGNORE, WHY_HTTP_GATEWAY},
    {"no_debug_endpoints", IGNORE, WHY_HTTP_GATEWAY},
    {"no_crud_endpoints", IGNORE, WHY_HTTP_GATEWAY},
    {"expose_endpoints", IGNORE, WHY_HTTP_GATEWAY},
    {"runtime_backend", IGNORE, WHY_RUNTIME},
    {"timeout_ctrl", IGNORE, "flowhost watches its workers with heartbeats (see Worker "
                             "supervision)"},
    {"py_modules", IGNORE, WHY_PY_MODULES},
    {"parallel", REFUSE, "shards are set per executor: write 'shards: N' on it"},
    {"replicas", REFUSE, "replicas are set per executor: write 'replicas: N' on it"},
    {"shards", REFUSE, "shards are set per executor: write 'shards: N' on it"},
    {"polling", REFUSE, "polling is set per executor, beside its 'shards'"},
    {"port_in", REFUSE, WHY_PORTS},
    {"port_out", REFUSE, WHY_PORTS},
    {"port_ctrl", REFUSE, WHY_PORTS},
    {"compression", REFUSE, "ZeroMQ carries flowhost's messages uncompressed; remove it"},
    {"uses", REFUSE, "a custom gateway is Python code; flowhost has one gateway"},
    {"return_results", IGNORE, "flowhost always returns the responses to the client"},
    {"port_monitoring", IGNORE, "the gateway serves its metrics on the HTTP port (GET /metrics)"},
    {"tracing", IGNORE, "flowhost has no OpenTelemetry tracing; routes carry each "
                        "executor's start and end times"},
    {"timeout_send", REFUSE, "set 'timeout' on the executors, or --timeout on the client"},
    {"retries", REFUSE, "flowhost does not send a request twice: a request a crash cost "
                        "gets an error (see docs/reliability.md)"},
    {NULL, IGNORE, NULL},
};

static const fh_jina_key executor[] = {
    {"uses_before", LATER, "an executor before the shards is coming in a next release; "
                           "add it to the flow and make the sharded executor need it"},
    {"uses_after", LATER, "an executor after the shards is coming in a next release; the "
                          "gateway reduces the shards' replies: add it to the flow after "
                          "the sharded executor"},
    {"no_reduce", REFUSE, "a join always gets its inputs merged into one request (the "
                          "reduce of docs/flow-yaml.md); an executor cannot take them apart"},
    {"disable_reduce", REFUSE, "a join always gets its inputs merged into one request (the "
                               "reduce of docs/flow-yaml.md)"},
    {"monitoring", IGNORE, "the gateway's metrics cover every executor: set 'monitoring' on "
                           "the flow's 'with'"},
    {"port_monitoring", IGNORE, "the gateway serves every executor's metrics on the HTTP "
                                "port (GET /metrics)"},
    {"tls", REFUSE, "the links to remote workers are encrypted with CURVE: give the "
                    "executor a 'worker_key' and the flow a 'gateway_key' "
                    "(docs/remote-workers.md)"},
    {"timeout_send", REFUSE, "set 'timeout' (ms) on the executor"},
    {"retries", REFUSE, "flowhost does not send a request twice: a request a crash cost "
                        "gets an error (see docs/reliability.md)"},
    {"grpc_metadata", IGNORE, "flowhost's workers do not speak gRPC"},
    {"output_array_type", IGNORE, "flowhost's embeddings and tensors keep their own type"},
    {"exit_on_exceptions", IGNORE, "a handler's error fails its request; the worker serves on"},
    {"method", IGNORE, "Jina 2.0 wrote 'method: needs' on a join; flowhost reads the join "
                       "from 'needs' alone"},
    {"port_in", REFUSE, WHY_PORTS},
    {"port_out", REFUSE, WHY_PORTS},
    {"port_ctrl", REFUSE, WHY_PORTS},
    {"port_jinad", REFUSE, WHY_REMOTE},
    {"upload_files", REFUSE, WHY_REMOTE},
    {"timeout_ready", REFUSE, "flowhost has one start deadline for every worker: set "
                              "'timeout_ready' in the flow's 'with:'"},
    {"timeout_ctrl", IGNORE, "flowhost watches its workers with heartbeats (see Worker "
                             "supervision)"},
    {"py_modules", IGNORE, WHY_PY_MODULES},
    {"runtime_backend", IGNORE, WHY_RUNTIME},
    {"runtime", IGNORE, WHY_RUNTIME},
    {"log_config", IGNORE, WHY_LOGGING},
    {"quiet", IGNORE, WHY_LOGGING},
    {"quiet_error", IGNORE, WHY_LOGGING},
    {"show_exc_info", IGNORE, WHY_LOGGING},
    {"read_only", IGNORE, "flowhost does not save executors"},
    {"docker_kwargs", REFUSE, WHY_CONTAINER},
    {"gpus", REFUSE, WHY_CONTAINER},
    {"volumes", REFUSE, WHY_CONTAINER},
    {"entrypoint", REFUSE, WHY_CONTAINER},
    {"pull_latest", REFUSE, WHY_CONTAINER},
    {"uses_internal", REFUSE, WHY_CONTAINER},
    {NULL, IGNORE, NULL},
};

static const fh_jina_key exec_yaml[] = {
    {"py_modules", IGNORE, WHY_PY_MODULES},
    {"components", REFUSE, "it is Jina 1's compound executor; make one executor of each "
                           "component in the flow"},
    {NULL, IGNORE, NULL},
};

static const fh_jina_key metas[] = {
    {"py_modules", IGNORE, WHY_PY_MODULES},
    {NULL, IGNORE, NULL},
};

const fh_jina_key *fh_jina_key_find(fh_jina_where where, const char *key)
{
    const fh_jina_key *t = where == FH_JINA_FLOW_WITH ? flow_with
                         : where == FH_JINA_EXECUTOR  ? executor
                         : where == FH_JINA_EXEC_YAML ? exec_yaml
                                                      : metas;
    for (; t->key; t++)
        if (strcmp(t->key, key) == 0)
            return t;
    return NULL;
}

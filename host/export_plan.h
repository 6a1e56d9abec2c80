/* What `flowhost export` deploys, worked out once from a loaded flow, for both writers
 * (export_kube.c, export_compose.c): the worker workloads with their commands, the
 * gateway's generated flow, its ports and probes, and the CURVE keys to ship as Secrets.
 *
 * Names. Each executor shard is one workload named after the executor as a DNS label
 * (lower case, `_` and `.` made `-`; `NAME-shard-S` when sharded). Its replicas are
 * reached one by one, never through one load-balanced address: the gateway keeps one
 * long ZeroMQ connection per worker address, so an address in front of several replicas
 * would give all the work to one of them. Replica R of workload W is `W-R.W` (a
 * StatefulSet's pod behind its headless Service; a Compose service with that alias), and
 * the generated flow lists those names in its executors' `host:`.
 *
 * An executor the flow already serves elsewhere (`host:`) gets no workload: the gateway's
 * flow keeps its hosts and its worker_key as they are, and the flow's gateway_key (when it
 * has one) is shipped in the gateway's Secret.
 *
 * Paths. The flow's plugins are taken from the image's plugin folder (OPTIONS.plugin_dir):
 * an executor given by type keeps its type (found on the image's plugin path), one given
 * by a .so path becomes PLUGIN_DIR/BASENAME.so. Keys are mounted at FH_EXPORT_KEYS, the
 * flow at FH_EXPORT_FLOW, a workspace at FH_EXPORT_WORKSPACE.
 */
#ifndef FH_HOST_EXPORT_PLAN_H
#define FH_HOST_EXPORT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <flowhost/value.h>

#include "flow_config.h"

#define FH_EXPORT_KEYS "/keys"
#define FH_EXPORT_FLOW_DIR "/flow"
#define FH_EXPORT_FLOW "/flow/flow.yml"
#define FH_EXPORT_WORKSPACE "/workspace"
#define FH_EXPORT_DEFAULT_IMAGE "flowhost:latest"
#define FH_EXPORT_DEFAULT_PORT 8081
#define FH_EXPORT_DEFAULT_PLUGIN_DIR "/usr/local/lib/flowhost/plugins"
#define FH_EXPORT_GATEWAY_ZMQ 8080  /* the gateway's ports when the flow leaves them */
#define FH_EXPORT_GATEWAY_HTTP 8090 /* ephemeral (a Service needs a fixed port) */
/* The variable a worker's container gets its replica number from (Kubernetes: the pod
 * index label of a StatefulSet pod; Compose: written out per service). */
#define FH_EXPORT_REPLICA_VAR "FH_REPLICA"

typedef struct fh_export_options {
    const char *image;      /* container image of every workload */
    const char *ns;         /* Kubernetes namespace, or NULL: kubectl's current one */
    int port;               /* the port every worker listens on */
    const char *plugin_dir; /* the plugin folder inside the image */
    const char *keys_dir;   /* --keys: a key pair per executor and for the gateway, kept
                               in this folder (made there when missing), or NULL */
} fh_export_options;

typedef struct fh_export_worker {
    char *name;      /* workload and Service name, a DNS label */
    size_t executor; /* index into the flow's executors */
    int shard;       /* this workload's shard, 0..shards-1 */
    int shards;      /* the executor's shards */
    int replicas;    /* replicas of this shard */
    fh_value *args;  /* list of strings: `flowhost` ARGS, the contract's worker command,
                        without `--replica` (each writer adds its own); the values the
                        worker reads with the flow loader (--uses, --name, the JSON
                        options) have every '$' doubled */
    fh_value *env;   /* map string -> string: the executor's env (the flow's, then its own) */
    fh_value *probe; /* list of strings: the readiness command (`flowhost ping ...`) */
    bool workspace;  /* the executor has a workspace: a volume at FH_EXPORT_WORKSPACE */
    char *secret;    /* the Secret holding its keys, or NULL: no keys */
} fh_export_worker;

typedef struct fh_export_plan {
    fh_export_worker *workers; /* n_workers, executor by executor, shard by shard */
    size_t n_workers;
    fh_value *flow;            /* the gateway's flow (a map), workers named by DNS;
                                  every '$' of its string values doubled, since the
                                  gateway reads it with the flow loader */
    int port_zmq;              /* the gateway's ZeroMQ port */
    bool http;                 /* the gateway serves HTTP (probes on /health/...) */
    int port_http;             /* its HTTP port when http */
    bool tls;                  /* HTTP is HTTPS */
    fh_value *gateway_probe;   /* list of strings: readiness command when !http */
    int startup_s;             /* seconds the gateway may take to start: the flow's
                                  timeout_ready and a margin (its probes wait that
                                  long), or 0 when it waits for its workers forever */
    int grace_s;               /* seconds the gateway needs to stop: its drain
                                  (with.timeout_drain) and a margin, for Kubernetes'
                                  terminationGracePeriodSeconds */
    /* Secrets: map of Secret name -> map of file name -> file text. The gateway's is
       "gateway-keys" (its own key pairs, its TLS files, the workers' public keys);
       each keyed executor's "NAME-keys" (its key pair, the gateway's public key). */
    fh_value *secrets;
} fh_export_plan;

/* Works out the deployment of CFG (a loaded flow) with OPTS into a new *OUT the caller
 * frees with fh_export_plan_destroy(). May create OPTS->keys_dir and key pairs in it.
 * Returns 0, or a negative FH_E... code with a one-line reason in fh_last_error():
 * FH_E_INVAL (a flow that cannot be exported: a name that is no DNS label, two executors
 * with the same DNS name, a setting no remote worker takes), FH_E_IO (a key or TLS file),
 * FH_E_NOMEM. */
int fh_export_plan_make(const fh_flow_config *cfg, const fh_export_options *opts,
                        fh_export_plan **out);

/* The DNS name of replica R of W ("W-R.W") in BUF of SIZE bytes. Returns BUF. */
const char *fh_export_replica_host(const fh_export_worker *w, int r, char *buf, size_t size);

/* Frees *P and sets it to NULL. Accepts NULL. */
void fh_export_plan_destroy(fh_export_plan **p);

#endif

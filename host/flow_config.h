/* A flow as declared in YAML (Jina's v1 schema), loaded and validated.
 *
 * Jina 2's own files load as they are: the `!Flow` tag or `jtype: Flow`, version '1' or
 * '1.N', executor YAML files typed `!MyExecutor` or `jtype: MyExecutor`, the older key
 * names (port_expose, override_with, ...) and `${{ ENV.VAR }}`. A Jina key flowhost does
 * not honour is refused by name saying why, or ignored with a warning (flow_jina.h).
 *
 * The loader resolves everything that can be resolved without running plugin code:
 * paths are made absolute (relative ones are taken from the YAML file's folder),
 * `${VAR}` is expanded from the environment, executor YAML files are read and merged
 * with uses_with / uses_metas / uses_requests, and metas.name is decided. Which executor
 * type a plugin holds is checked later by the worker that loads it.
 */
#ifndef FH_HOST_FLOW_CONFIG_H
#define FH_HOST_FLOW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <flowhost/keys.h>
#include <flowhost/value.h>

typedef enum fh_on_error {
    FH_ON_ERROR_SKIP = 0, /* an error skips the executors after this one */
    FH_ON_ERROR_IGNORE    /* the request goes on through the rest, status stays ERROR */
} fh_on_error;

/* uses_requests / requests: endpoint -> handler function name. */
typedef struct fh_flow_binding {
    char *endpoint; /* "/index", or "default" */
    char *handler;  /* the handler's function name in the plugin */
} fh_flow_binding;

/* uses_dynamic_batching of one endpoint. */
typedef struct fh_flow_batching {
    char *endpoint;           /* "/search" */
    int preferred_batch_size; /* documents a handler call takes, at most */
    int timeout_ms;           /* how long the first request of a batch waits for more */
} fh_flow_batching;

/* Which shards of a sharded executor get a request (Jina's `polling`). */
typedef enum fh_polling {
    FH_POLLING_ANY = 0, /* one shard: the least loaded (Jina's default) */
    FH_POLLING_ALL      /* every shard; their replies are reduced into one */
} fh_polling;

/* `polling` of one endpoint, from the map form {'/search': ALL, '/index': ANY}. */
typedef struct fh_flow_polling {
    char *endpoint;       /* "/search" */
    fh_polling polling;
} fh_flow_polling;

struct fh_when; /* a compiled `when:` condition (flow_when.h) */

typedef struct fh_flow_executor {
    char *name;          /* metas.name: unique in the flow, [A-Za-z0-9_.-]+ */
    char *plugin;        /* absolute path of the .so, or NULL: found by type on the
                            plugin path, or (type NULL too) the built-in pass-through */
    char *type;          /* executor type (jtype), or NULL: the plugin's only type */
    fh_value *uses_with; /* map, never NULL */
    char *description;   /* never NULL */
    char *workspace;     /* absolute, or NULL: the flow's workspace decides */
    bool workspace_per_replica; /* WORKSPACE/REPLICA is a replica's (the entry's
                                   `workspace`); else WORKSPACE is used as is when the
                                   executor has one replica */
    fh_flow_binding *requests; /* uses_requests, n_requests entries */
    size_t n_requests;
    bool has_requests;   /* requests given: they replace the plugin's own bindings */
    fh_value *env;       /* map string -> string: the flow's env, then the executor's */
    int timeout_ms;      /* `timeout`; -1 when not set */
    int replicas;        /* `replicas`: worker processes of this executor, default 1 */
    int credit;          /* `credit`: requests the gateway keeps queued at each of its
                            workers, default FH_FLOW_DEFAULT_CREDIT */
    fh_flow_batching *batching; /* uses_dynamic_batching, n_batching entries */
    size_t n_batching;
    fh_on_error on_error;
    /* The graph (Jina's `needs`): the executors this one runs after, as indexes into the
       flow's executors, in the order written. Empty: it starts at the gateway (`needs:
       gateway`, or the first executor without `needs`). Without `needs` an executor
       follows the one declared before it. Every index is of an executor declared in the
       flow, never this one, never a floating one, and the graph has no cycle. */
    size_t *needs;
    size_t n_needs;
    bool floating;       /* `floating: true`: gets every request, nobody waits for it */
    int shards;          /* `shards`: its index is split over this many workers (each with
                            its replicas), default 1 */
    fh_polling polling;  /* `polling` for endpoints not in POLLINGS (the map's '*', or
                            the single value), default ANY */
    fh_flow_polling *pollings; /* `polling` by endpoint, n_pollings entries */
    size_t n_pollings;
    struct fh_when *when; /* `when:`: only the documents that match go to it; NULL: all */
    char *when_text;     /* the condition as compact JSON (for messages and plots), or NULL */
    /* Served elsewhere (Jina's `external` executor: `host:`/`port:`): the gateway
       connects to `flowhost worker --listen` there instead of starting a worker. */
    char **hosts;        /* "HOST:PORT" of each worker, shard-major (all replicas of
                            shard 0, then shard 1, ...): shards * replicas entries; NULL
                            when the executor runs here */
    size_t n_hosts;
    bool has_worker_key; /* `worker_key`: the workers' public key (CURVE) */
    char worker_key[FH_KEY_TEXT + 1];
    int line, column;    /* where the executor is declared (1-based) */
} fh_flow_executor;

#define FH_FLOW_DEFAULT_MAX_MESSAGE (256 << 20)
#define FH_FLOW_DEFAULT_MAX_INFLIGHT 1024
#define FH_FLOW_DEFAULT_TIMEOUT_DRAIN 20000
#define FH_FLOW_DEFAULT_MAX_CONNECTIONS 1024
#define FH_FLOW_DEFAULT_CREDIT 16
#define FH_FLOW_MAX_CREDIT 256
#define FH_FLOW_MAX_REPLICAS 64
#define FH_FLOW_MAX_SHARDS 64
#define FH_FLOW_MAX_BATCH 4096
#define FH_FLOW_DEFAULT_BATCH_TIMEOUT 10
#define FH_FLOW_MAX_BATCH_TIMEOUT 60000 /* ms: a batch's timeout at most */
#define FH_FLOW_DEFAULT_HTTP_CONNECTIONS 1024
#define FH_FLOW_DEFAULT_HTTP_HEADER 32768
#define FH_FLOW_DEFAULT_HTTP_READ_TIMEOUT 30000
#define FH_FLOW_DEFAULT_HTTP_TIMEOUT 60000

typedef struct fh_flow_config {
    char *path;              /* the YAML file as given, for messages */
    char *dir;               /* absolute folder of the YAML file */
    char *host;              /* with.host, default "127.0.0.1" */
    int port;                /* with.port, 0: an ephemeral port */
    /* The HTTP gateway (docs/http.md), on when with.protocol names http (or
       with.restful / with.port_http say so). */
    bool http;               /* serve HTTP+JSON beside the ZeroMQ socket */
    int port_http;           /* its port on HOST, 0: an ephemeral port */
    char *ssl_certfile;      /* with.ssl_certfile (absolute, PEM), or NULL: no TLS */
    char *ssl_keyfile;       /* with.ssl_keyfile; given exactly when ssl_certfile is */
    int http_max_connections; /* HTTP connections at once, default
                                 FH_FLOW_DEFAULT_HTTP_CONNECTIONS */
    int http_max_header_size; /* bytes a connection may use for its request line and
                                 headers (libmicrohttpd's per-connection memory),
                                 default FH_FLOW_DEFAULT_HTTP_HEADER */
    int http_read_timeout_ms; /* a client sends a whole request within this from its
                                 connection or its previous answer, else it is cut;
                                 default FH_FLOW_DEFAULT_HTTP_READ_TIMEOUT */
    bool http_keep_alive;    /* connections serve several requests, default true */
    int http_timeout_ms;     /* an HTTP request not answered within this gets 504,
                                default FH_FLOW_DEFAULT_HTTP_TIMEOUT (a request may ask
                                for its own with X-Flowhost-Timeout) */
    int prefetch;            /* with.prefetch, default 0 (no per-client cap) */
    int timeout_ready_ms;    /* with.timeout_ready, default 60000; -1: wait forever. The
                                deadline of every start of a worker, restarts too */
    int timeout_drain_ms;    /* with.timeout_drain, default FH_FLOW_DEFAULT_TIMEOUT_DRAIN:
                                after SIGINT/SIGTERM, requests not answered within this
                                get an error and the workers are stopped */
    int max_message_size;    /* with.max_message_size in bytes, default
                                FH_FLOW_DEFAULT_MAX_MESSAGE: a larger message is refused
                                on every socket of the flow */
    int max_inflight;        /* with.max_inflight, default FH_FLOW_DEFAULT_MAX_INFLIGHT:
                                requests the gateway holds at once, all clients together */
    bool monitoring;         /* with.monitoring (Jina's key), default true: the gateway
                                counts its metrics (GET /metrics, the status page) */
    int max_connections;     /* with.max_connections, default FH_FLOW_DEFAULT_MAX_CONNECTIONS:
                                client connections at once (the gateway may lower it to
                                fit the process's descriptor limit) */
    bool curve;              /* with.server_key given: clients must authenticate (CURVE) */
    fh_keypair server_key;   /* with.server_key, read from its secret certificate */
    char (*client_keys)[FH_KEY_TEXT + 1]; /* with.client_keys: the public keys let in */
    size_t n_client_keys;
    bool has_gateway_key;    /* with.gateway_key given: the gateway's own key pair towards
                                remote workers (CURVE client) */
    fh_keypair gateway_key;
    char *workspace;         /* with.workspace, absolute, or NULL */
    char **plugin_path;      /* with.plugin_path (absolute dirs), n_plugin_path entries */
    size_t n_plugin_path;
    fh_value *env;           /* with.env, map string -> string, never NULL */
    fh_flow_executor *executors;
    size_t n_executors;
    char **warnings;         /* n_warnings one-line "FILE:LINE:COLUMN: ..." notes on what
                                the load ignored (Jina keys that only tune Python's
                                runtime, protocol: grpc); the caller shows them */
    size_t n_warnings;
} fh_flow_config;

/* Reads and validates the flow YAML at PATH. Stores a new config the caller owns in
 * *OUT. Returns 0, or a negative FH_E... code with a one-line message in fh_last_error()
 * of the form "PATH:LINE:COLUMN: what is wrong" (an unknown key names the nearest valid
 * one: "unknown key 'exectors' in flow (did you mean 'executors'?)"). */
int fh_flow_config_load(const char *path, fh_flow_config **out);

/* Same from a buffer: NAME is used in messages, DIR resolves relative paths. */
int fh_flow_config_parse(const char *text, size_t len, const char *name, const char *dir,
                         fh_flow_config **out);

/* Lets the client with public key KEY (Z85, FH_KEY_TEXT characters) in too, in a flow
 * with CURVE on (a client that starts the flow for itself). Returns 0, FH_E_STATE (the
 * flow has no server_key), FH_E_PARSE (not a key) or FH_E_NOMEM. */
int fh_flow_config_allow_key(fh_flow_config *cfg, const char *key);

/* Frees *C and sets it to NULL. Accepts NULL. */
void fh_flow_config_destroy(fh_flow_config **c);

#endif

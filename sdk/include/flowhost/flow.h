/* flowhost — a flow held in C: `with Flow().add(...) as f: f.post(...)`.
 *
 * A flow is loaded from a YAML file or built in code with fh_flow_add, started (the
 * `flowhost` binary serves it in a child process: the gateway and one worker process
 * per executor), posted to, and closed (it answers what it has accepted, then stops).
 *
 *     fh_flow *f;
 *     fh_flow_new(NULL, &f);
 *     fh_flow_add(f, &(fh_executor_options){.uses = "MyExecutor", .env = env});
 *     if (fh_flow_start(f) != 0) { fprintf(stderr, "%s\n", fh_flow_error(f)); ... }
 *     fh_flow_post(f, "/index", docs, &opts);
 *     fh_flow_destroy(&f);                       // closes it
 *
 * The binary is $FLOWHOST_BIN when set, else the one installed with this library, else
 * `flowhost` on PATH. A flow is used by one thread at a time. Every failing call on a
 * flow keeps its message with the flow (fh_flow_error) until the next failing call on
 * the same flow; fh_last_error() has it too, until any failure on the thread.
 *
 * Ownership: options and values passed in are copied. fh_flow_new / fh_flow_load store a
 * flow the caller owns and frees with fh_flow_destroy.
 */
#ifndef FLOWHOST_FLOW_H
#define FLOWHOST_FLOW_H

#include <flowhost/client.h>
#include <flowhost/document.h>
#include <flowhost/value.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fh_flow fh_flow;

/* One executor of Flow().add(...): the keys of an `executors:` entry of the YAML. */
typedef struct fh_executor_options {
    const char *name;              /* NULL: decided as in YAML (metas.name, type, ...) */
    const char *uses;              /* a .so path, an executor type on the plugin path, an
                                      executor YAML file; NULL: pass-through. Relative
                                      paths are taken from the current directory. */
    const fh_value *uses_with;     /* a map, or NULL */
    const fh_value *uses_metas;    /* a map, or NULL */
    const fh_value *uses_requests; /* a map endpoint -> handler name, or NULL */
    const fh_value *env;           /* a map of environment variables, or NULL */
    int timeout_ms;                /* 0: no limit */
    const char *on_error;          /* "skip" (NULL) or "ignore" */
} fh_executor_options;

/* A new flow with no executors. WITH (may be NULL) is the map of flow options, the keys
 * of the YAML's `with:` (port, host, prefetch, env, timeout_ready, workspace,
 * plugin_path, max_connections, server_key, client_keys...; relative paths are taken
 * from the current directory). Returns 0, or FH_E_INVAL / FH_E_NOMEM. */
int fh_flow_new(const fh_value *with, fh_flow **out);

/* A flow from the YAML file at PATH, read and checked when it starts. Returns 0, or
 * FH_E_IO when PATH cannot be read. */
int fh_flow_load(const char *path, fh_flow **out);

/* Adds an executor at the end. Returns 0, or FH_E_STATE (the flow is started or was
 * loaded from a file), FH_E_NOTFOUND (a uses path that does not exist), FH_E_INVAL. */
int fh_flow_add(fh_flow *f, const fh_executor_options *x);

/* Starts the flow and waits until every executor is ready. Returns 0, or a negative
 * code with the reason in fh_flow_error(F) and fh_last_error() (the YAML error, or which executor failed to
 * start and why). FH_E_STATE when it is started already. A flow with keys
 * (with.server_key) lets in the posts of this handle too, whatever its client_keys: with a
 * key pair made for this start, never written to a file. */
int fh_flow_start(fh_flow *f);

/* The client address of a started flow ("HOST:PORT"), or NULL. Borrowed. */
const char *fh_flow_address(const fh_flow *f);

/* fh_client_post and fh_client_post_input to the flow. FH_E_STATE when the flow is not
 * started ("a post must be made inside the with block" of the docs). */
int fh_flow_post(fh_flow *f, const char *endpoint, const fh_docs *docs,
                 const fh_post_options *opts);
int fh_flow_post_input(fh_flow *f, const char *endpoint, fh_input_fn next, void *input_user,
                       const fh_post_options *opts);
/* fh_client_post_input_fd to the flow: an input that waits on FD instead of blocking. */
int fh_flow_post_input_fd(fh_flow *f, const char *endpoint, fh_input_fn next, void *input_user,
                          int fd, const fh_post_options *opts);

/* Sugar: post to /index, /search, /update, /delete. */
int fh_flow_index(fh_flow *f, const fh_docs *docs, const fh_post_options *opts);
int fh_flow_search(fh_flow *f, const fh_docs *docs, const fh_post_options *opts);
int fh_flow_update(fh_flow *f, const fh_docs *docs, const fh_post_options *opts);
int fh_flow_delete(fh_flow *f, const fh_docs *docs, const fh_post_options *opts);

/* Stops a started flow: it answers the requests it accepted, stops its workers and
 * exits. Returns 0 after a clean stop, FH_E_STATE when it was not started, FH_E_IO when
 * it did not stop cleanly. The flow may be started again. */
int fh_flow_close(fh_flow *f);

/* The message of the last failing call on F (fh_flow_add, fh_flow_start, a post,
 * fh_flow_close), kept until the next failing call on F, whatever fails in between
 * elsewhere (unlike fh_last_error()). "" when none. Borrowed from F; valid until its next
 * failing call or fh_flow_destroy. F NULL: "". */
const char *fh_flow_error(const fh_flow *f);

/* Closes the flow if it is started, frees *F, sets *F to NULL. Accepts NULL. */
void fh_flow_destroy(fh_flow **f);

#ifdef __cplusplus
}
#endif
#endif

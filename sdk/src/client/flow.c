/* A flow held in C: see flow.h. The flow runs in a child process, `flowhost run`, which
 * reports on a pipe when it is ready (its address) or why it could not start. A flow
 * built in code is written as JSON (which is YAML) to a private temporary file. */
#define _GNU_SOURCE
#include <flowhost/flow.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <flowhost/error.h>
#include <flowhost/keys.h>

#include "json_internal.h"

struct fh_flow {
    char *path;         /* the YAML file of a loaded flow, or NULL */
    json_t *config;     /* a flow built in code: {jtype, version, with, executors} */
    pid_t pid;          /* the flow's process while started, else 0 */
    char address[256];
    fh_client *client;  /* connected to the started flow */
    fh_keypair owner;   /* the key the flow lets its owner in with, when it has keys */
    char error[1024];   /* the message of the last failing call on this flow */
};

/* Keeps the message of a failing call on F (RC < 0) as F's own, and returns RC. */
static int flow_failed(fh_flow *f, int rc)
{
    if (rc < 0 && f != NULL)
        snprintf(f->error, sizeof f->error, "%s", fh_last_error());
    return rc;
}

const char *fh_flow_error(const fh_flow *f)
{
    return f ? f->error : "";
}

/* Makes PATH absolute (from the current directory) when it names a file that exists. */
static int absolute(const char *what, const char *path, char **out)
{
    char buf[PATH_MAX];
    if (realpath(path, buf) == NULL)
        return fh_set_error(errno == ENOENT ? FH_E_NOTFOUND : FH_E_IO, "%s '%s': %s", what, path,
                            strerror(errno));
    *out = strdup(buf);
    return *out ? 0 : fh_set_error(FH_E_NOMEM, "out of memory");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A copy of V as JSON, with the keys naming paths made absolute. */
static int with_json(const fh_value *with, json_t **out)
{
    *out = with ? fh_value_to_jansson(with) : json_object();
    if (*out == NULL || !json_is_object(*out)) {
        json_decref(*out);
        return fh_set_error(FH_E_INVAL, "the flow options must be a map");
    }
    json_t *ws = json_object_get(*out, "workspace");
    if (json_is_string(ws) && json_string_value(ws)[0] != '/') {
        /* The workspace may not exist yet: make it absolute without realpath. */
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            json_decref(*out);
            return fh_set_error(FH_E_IO, "getcwd: %s", strerror(errno));
        }
        json_object_set_new(*out, "workspace", json_sprintf("%s/%s", cwd, json_string_value(ws)));
    }
    /* Key files too (a client key may also be the key itself: kept when no such file). */
    json_t *sk = json_object_get(*out, "server_key");
    char *abs_key = NULL;
    if (json_is_string(sk) && json_string_value(sk)[0] != '/' &&
        absolute("server_key", json_string_value(sk), &abs_key) == 0) {
        json_object_set_new(*out, "server_key", json_string(abs_key));
        free(abs_key);
    }
    json_t *ck = json_object_get(*out, "client_keys");
    if (json_is_string(ck)) {
        json_t *list = json_array();
        json_array_append(list, ck);
        json_object_set_new(*out, "client_keys", list);
        ck = list;
    }
    size_t k;
    json_t *key;
    json_array_foreach(ck, k, key) {
        if (json_is_string(key) && json_string_value(key)[0] != '/' &&
            access(json_string_value(key), F_OK) == 0 &&
            absolute("client_keys", json_string_value(key), &abs_key) == 0) {
            json_array_set_new(ck, k, json_string(abs_key));
            free(abs_key);
        }
    }
    json_t *pp = json_object_get(*out, "plugin_path");
    size_t i;
    json_t *dir;
    if (json_is_string(pp)) {
        json_t *list = json_array();
        json_array_append(list, pp);
        json_object_set_new(*out, "plugin_path", list);
        pp = list;
    }
    json_array_foreach(pp, i, dir) {
        char *abs;
        if (json_is_string(dir) && json_string_value(dir)[0] != '/' &&
            absolute("plugin_path", json_string_value(dir), &abs) == 0) {
            json_array_set_new(pp, i, json_string(abs));
            free(abs);
        }
    }
    return 0;
}

int fh_flow_new(const fh_value *with, fh_flow **out)
{
    *out = NULL;
    json_t *w;
    int rc = with_json(with, &w);
    if (rc != 0)
        return rc;
    fh_flow *f = calloc(1, sizeof *f);
    json_t *c = json_pack("{s:s, s:s, s:o, s:[]}", "jtype", "Flow", "version", "1", "with", w,
                          "executors");
    if (f == NULL || c == NULL) {
        free(f);
        json_decref(c);
        return fh_set_error(FH_E_NOMEM, "out of memory");
    }
    f->config = c;
    *out = f;
    return 0;
}

int fh_flow_load(const char *path, fh_flow **out)
{
    *out = NULL;
    if (access(path, R_OK) != 0)
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    fh_flow *f = calloc(1, sizeof *f);
    if (f == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    int rc = absolute("flow", path, &f->path);
    if (rc != 0) {
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* Sets KEY of X to a JSON copy of V (a map) when V is given. */
static int set_map(json_t *x, const char *key, const fh_value *v)
{
    if (v == NULL)
        return 0;
    if (fh_value_type(v) != FH_TYPE_MAP)
        return fh_set_error(FH_E_INVAL, "%s must be a map", key);
    json_t *j = fh_value_to_jansson(v);
    return j && json_object_set_new(x, key, j) == 0 ? 0 : fh_set_error(FH_E_NOMEM, "out of memory");
}

static int flow_add(fh_flow *f, const fh_executor_options *o)
{
    if (f->config == NULL)
        return fh_set_error(FH_E_STATE, "a flow loaded from %s cannot be added to", f->path);
    if (f->pid > 0)
        return fh_set_error(FH_E_STATE, "the flow is started: add executors before fh_flow_start");
    json_t *x = json_object();
    int rc = x ? 0 : fh_set_error(FH_E_NOMEM, "out of memory");
    if (rc == 0 && o->name)
        json_object_set_new(x, "name", json_string(o->name));
    if (rc == 0 && o->uses) {
        char *abs = NULL;
        bool is_path = ends_with(o->uses, ".so") || ends_with(o->uses, ".yml") ||
                       ends_with(o->uses, ".yaml");
        if (is_path)
            rc = absolute("uses", o->uses, &abs);
        if (rc == 0)
            json_object_set_new(x, "uses", json_string(abs ? abs : o->uses));
        free(abs);
    }
    if (rc == 0)
        rc = set_map(x, "uses_with", o->uses_with);
    if (rc == 0)
        rc = set_map(x, "uses_metas", o->uses_metas);
    if (rc == 0)
        rc = set_map(x, "uses_requests", o->uses_requests);
    if (rc == 0)
        rc = set_map(x, "env", o->env);
    if (rc == 0 && o->timeout_ms > 0)
        json_object_set_new(x, "timeout", json_integer(o->timeout_ms));
    if (rc == 0 && o->on_error)
        json_object_set_new(x, "on_error", json_string(o->on_error));
    if (rc == 0 && json_array_append(json_object_get(f->config, "executors"), x) != 0)
        rc = fh_set_error(FH_E_NOMEM, "out of memory");
    json_decref(x);
    return rc;
}

/* The flowhost binary: $FLOWHOST_BIN, else next to this library (installed: LIB/../bin;
 * in the build tree: LIB/..), else "flowhost" on PATH. */
static void find_binary(char *buf, size_t size)
{
    const char *env = getenv("FLOWHOST_BIN");
    if (env != NULL && env[0] != '\0') {
        snprintf(buf, size, "%s", env);
        return;
    }
    Dl_info info;
    if (dladdr((void *)fh_flow_start, &info) != 0 && info.dli_fname != NULL) {
        char lib[PATH_MAX];
        if (realpath(info.dli_fname, lib) != NULL) {
            char *slash = strrchr(lib, '/');
            if (slash)
                *slash = '\0';
            const char *tries[] = {"../bin/flowhost", "../flowhost"};
            for (size_t i = 0; i < 2; i++) {
                int n = snprintf(buf, size, "%s/%s", lib, tries[i]);
                if (n > 0 && (size_t)n < size && access(buf, X_OK) == 0)
                    return;
            }
        }
    }
    snprintf(buf, size, "flowhost");
}

/* Writes a built flow to a new private file; its path (malloc'd) in *OUT. */
static int write_config(const fh_flow *f, char **out)
{
    char tmpl[] = "/tmp/flowhost-flow-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        return fh_set_error(FH_E_IO, "cannot make a temporary folder: %s", strerror(errno));
    if (asprintf(out, "%s/flow.yml", tmpl) < 0)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    if (json_dump_file(f->config, *out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        free(*out);
        rmdir(tmpl);
        return fh_set_error(FH_E_IO, "cannot write the flow to %s", tmpl);
    }
    return 0;
}

static void remove_config(char *path)
{
    unlink(path);
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = '\0';
        rmdir(path);
    }
}

static int flow_close(fh_flow *f);

static int flow_start(fh_flow *f)
{
    if (f->pid > 0)
        return fh_set_error(FH_E_STATE, "the flow is started already");
    char *config = f->path;
    if (f->config != NULL) {
        int rc = write_config(f, &config);
        if (rc != 0)
            return rc;
    }
    char bin[PATH_MAX], fdarg[32];
    find_binary(bin, sizeof bin);
    /* A flow with keys lets in only the clients it knows: its owner too, with a key
     * made for this start (the flow says its own public key when it is ready). */
    bool keys = fh_keypair_generate(&f->owner) == 0;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        if (config != f->path)
            remove_config(config), free(config);
        return fh_set_error(FH_E_IO, "pipe: %s", strerror(errno));
    }
    snprintf(fdarg, sizeof fdarg, "%d", fds[1]);
    char *const argv[] = {"flowhost", "run", "--ready-fd", fdarg,
                          keys ? "--owner-key" : config, keys ? f->owner.public_key : NULL,
                          keys ? config : NULL, NULL};
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* The flow ends with its owner; the write end of the pipe crosses exec. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        fcntl(fds[1], F_SETFD, 0);
        execvp(bin, argv);
        dprintf(fds[1], "!cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    /* One line: "HOST:PORT" once ready, "!REASON" when it cannot start; EOF if it died. */
    char line[1200];
    size_t used = 0;
    while (pid > 0 && used + 1 < sizeof line && memchr(line, '\n', used) == NULL) {
        ssize_t n = read(fds[0], line + used, sizeof line - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    close(fds[0]);
    line[used] = '\0';
    if (config != f->path) {
        remove_config(config); /* read by now, or never will be */
        free(config);
    }
    if (pid < 0)
        return fh_set_error(FH_E_IO, "cannot start the flow: %s", strerror(errno));
    char *nl = strchr(line, '\n');
    if (nl == NULL || line[0] == '!') {
        int status;
        waitpid(pid, &status, 0);
        if (nl)
            *nl = '\0';
        return fh_set_error(FH_E_STATE, "%s", line[0] == '!' ? line + 1 : "the flow did not start");
    }
    *nl = '\0';
    char *server_key = strchr(line, ' '); /* "HOST:PORT KEY" when the flow has keys */
    if (server_key != NULL)
        *server_key++ = '\0';
    if (strlen(line) >= sizeof f->address) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return fh_set_error(FH_E_PROTOCOL, "the flow reported a malformed address");
    }
    memcpy(f->address, line, strlen(line) + 1);
    f->pid = pid;
    fh_client_keys k = {server_key, f->owner.public_key, f->owner.secret_key};
    int rc = server_key && keys ? fh_client_new_secure(f->address, &k, &f->client)
                                : fh_client_new(f->address, &f->client);
    if (rc != 0) {
        /* The client's failure is the reason, whatever stopping the flow meets after it. */
        char why[sizeof f->error];
        snprintf(why, sizeof why, "%s", fh_last_error());
        flow_close(f);
        return fh_set_error(rc, "%s", why);
    }
    return 0;
}

int fh_flow_add(fh_flow *f, const fh_executor_options *o)
{
    return flow_failed(f, flow_add(f, o));
}

int fh_flow_start(fh_flow *f)
{
    return flow_failed(f, flow_start(f));
}

const char *fh_flow_address(const fh_flow *f) { return f->pid > 0 ? f->address : NULL; }

static int not_started(void)
{
    return fh_set_error(FH_E_STATE, "the flow is not started: call fh_flow_start before posting "
                                    "(a post must be made inside the with block)");
}

int fh_flow_post(fh_flow *f, const char *endpoint, const fh_docs *docs, const fh_post_options *opts)
{
    return flow_failed(f, f->client ? fh_client_post(f->client, endpoint, docs, opts)
                                    : not_started());
}

int fh_flow_post_input_fd(fh_flow *f, const char *endpoint, fh_input_fn next, void *input_user,
                          int fd, const fh_post_options *opts)
{
    return flow_failed(f, f->client ? fh_client_post_input_fd(f->client, endpoint, next,
                                                              input_user, fd, opts)
                                    : not_started());
}

int fh_flow_post_input(fh_flow *f, const char *endpoint, fh_input_fn next, void *input_user,
                       const fh_post_options *opts)
{
    return fh_flow_post_input_fd(f, endpoint, next, input_user, -1, opts);
}

int fh_flow_index(fh_flow *f, const fh_docs *d, const fh_post_options *o) { return fh_flow_post(f, "/index", d, o); }
int fh_flow_search(fh_flow *f, const fh_docs *d, const fh_post_options *o) { return fh_flow_post(f, "/search", d, o); }
int fh_flow_update(fh_flow *f, const fh_docs *d, const fh_post_options *o) { return fh_flow_post(f, "/update", d, o); }
int fh_flow_delete(fh_flow *f, const fh_docs *d, const fh_post_options *o) { return fh_flow_post(f, "/delete", d, o); }

static int flow_close(fh_flow *f)
{
    if (f->pid <= 0)
        return fh_set_error(FH_E_STATE, "the flow is not started");
    fh_client_destroy(&f->client);
    kill(f->pid, SIGTERM);
    int status;
    while (waitpid(f->pid, &status, 0) < 0 && errno == EINTR)
        ;
    f->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fh_set_error(FH_E_IO, "the flow did not stop cleanly (wait status 0x%x)", status);
    return 0;
}

int fh_flow_close(fh_flow *f)
{
    return flow_failed(f, flow_close(f));
}

void fh_flow_destroy(fh_flow **fp)
{
    fh_flow *f = fp ? *fp : NULL;
    if (f == NULL)
        return;
    if (f->pid > 0)
        fh_flow_close(f);
    json_decref(f->config);
    free(f->path);
    explicit_bzero(&f->owner, sizeof f->owner);
    free(f);
    *fp = NULL;
}

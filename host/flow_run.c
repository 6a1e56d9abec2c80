/* Serving a flow: see flow_run.h. */
#define _GNU_SOURCE
#include "flow_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "gateway.h"
#include "log.h"
#include "util.h"

int fh_self_exe(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n < 0)
        return fh_set_error(FH_E_IO, "cannot find the flowhost binary: %s", strerror(errno));
    buf[n] = '\0';
    return 0;
}

static void print_banner(const fh_flow_config *cfg, const char *address, const char *http)
{
    if (fh_log_json()) { /* one line, as every other */
        char line[4096];
        int n = snprintf(line, sizeof line, "flow %s is ready to use: ZeroMQ %s%s%s, executors",
                         cfg->path, address, http ? ", HTTP " : "", http ? http : "");
        for (size_t i = 0; i < cfg->n_executors && n > 0 && (size_t)n < sizeof line; i++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%s %s", i ? "," : "",
                          cfg->executors[i].name);
        fh_log_emit(NULL, FH_LOG_INFO, NULL, line);
        return;
    }
    fprintf(stderr, "flowhost: flow %s is ready to use\n", cfg->path);
    fprintf(stderr, "\tProtocol:     flowhost over ZeroMQ (tcp)%s\n", http ? ", HTTP" : "");
    fprintf(stderr, "\tLocal access: %s\n", address);
    if (http != NULL)
        fprintf(stderr, "\tHTTP:         %s (API: %s/docs)\n", http, http);
    if (cfg->curve)
        fprintf(stderr, "\tServer key:   %s (clients must have keys: with.client_keys)\n",
                cfg->server_key.public_key);
    fprintf(stderr, "\tExecutors:   ");
    for (size_t i = 0; i < cfg->n_executors; i++)
        fprintf(stderr, "%s %s", i ? "," : "", cfg->executors[i].name);
    fprintf(stderr, "%s\n", cfg->n_executors ? "" : " (none)");
}

/* ADDRESS, and the HTTP URL on a second line when there is one (also the pid file: the
 * pid, no URL). */
static int write_address_file(const char *path, const char *address, const char *http)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%s\n%s%s", address, http ? http : "", http ? "\n" : "") < 0 ||
        fclose(f) != 0)
        return fh_set_error(FH_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    /* rename: a reader never sees a half-written file. */
    if (rename(tmp, path) != 0)
        return fh_set_error(FH_E_IO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Removes the file PATH that write_address_file made with FIRST as its first line, only
 * while it still holds that line: another flow given the same file (which renamed its
 * own over it) keeps its file. */
static void unlink_if_ours(const char *path, const char *first)
{
    char line[512] = "";
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    if (ok && strcmp(line, first) == 0)
        unlink(path);
}

int fh_flow_run(const fh_flow_config *cfg, const fh_flow_run_options *opts)
{
    fh_gateway_options gopts = {.cfg = cfg, .self_exe = opts->self_exe};
    fh_gateway *g;
    int rc = fh_gateway_start(&gopts, &g);
    if (rc != 0 && opts->ready_fd >= 0) {
        dprintf(opts->ready_fd, "!%s\n", fh_last_error());
        close(opts->ready_fd);
        return FH_E_NOTREADY_REPORTED;
    }
    if (rc != 0)
        return rc;
    const char *address = fh_gateway_address(g), *http = fh_gateway_http_url(g);
    if (opts->address_file != NULL &&
        (rc = write_address_file(opts->address_file, address, http)) != 0) {
        fh_gateway_destroy(&g);
        return rc;
    }
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    if (opts->pid_file != NULL && (rc = write_address_file(opts->pid_file, pid, NULL)) != 0) {
        fh_gateway_destroy(&g);
        if (opts->address_file != NULL)
            unlink_if_ours(opts->address_file, address);
        return rc;
    }
    if (opts->banner)
        print_banner(cfg, address, http);
    if (opts->ready_fd >= 0) {
        /* With keys, the flow's public key follows: its owner connects with it. */
        dprintf(opts->ready_fd, "%s%s%s\n", address, cfg->curve ? " " : "",
                cfg->curve ? cfg->server_key.public_key : "");
        close(opts->ready_fd);
    }
    rc = fh_gateway_serve(g);
    char why[1100];
    snprintf(why, sizeof why, "%s", fh_last_error());
    char own_address[300]; /* G's, gone with it */
    snprintf(own_address, sizeof own_address, "%s", address);
    fh_gateway_destroy(&g);
    if (opts->address_file != NULL)
        unlink_if_ours(opts->address_file, own_address);
    if (opts->pid_file != NULL)
        unlink_if_ours(opts->pid_file, pid);
    return rc == 0 ? 0 : fh_set_error(rc, "%s", why);
}

int fh_flow_start_child(const fh_flow_config *cfg, const char *self_exe, pid_t *pid,
                        char *address, size_t size)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return fh_set_error(FH_E_IO, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        close(fds[0]);
        close(fds[1]);
        return fh_set_error(FH_E_IO, "cannot start the flow: %s", strerror(errno));
    }
    if (child == 0) {
        /* This process has no ZeroMQ context and no threads yet: it may run the flow. It
         * ends with the process that posts. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        close(fds[0]);
        fh_flow_run_options o = {.self_exe = self_exe, .banner = false, .ready_fd = fds[1]};
        int rc = fh_flow_run(cfg, &o);
        if (rc != 0 && rc != FH_E_NOTREADY_REPORTED)
            fprintf(stderr, "flowhost: %s\n", fh_last_error());
        fflush(NULL);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fds[0], address + used, size - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        if (memchr(address, '\n', used) != NULL || used + 1 >= size)
            break;
    }
    close(fds[0]);
    address[used] = '\0';
    char *nl = strchr(address, '\n');
    if (nl == NULL) {
        int status;
        waitpid(child, &status, 0);
        /* A reason longer than the buffer: what fits of it, rather than none. */
        if (address[0] == '!' && used > 1)
            return fh_set_error(FH_E_STATE, "%s...", address + 1);
        return fh_set_error(FH_E_STATE, "the flow did not start");
    }
    *nl = '\0';
    if (address[0] == '!') { /* the reason the flow did not start */
        int status;
        waitpid(child, &status, 0);
        return fh_set_error(FH_E_STATE, "%s", address + 1);
    }
    *pid = child;
    return 0;
}

int fh_flow_stop_child(pid_t pid)
{
    int status;
    kill(pid, SIGTERM);
    /* The post is over: nothing should be in flight, and the drain is quick. A flow that
     * does not stop within the grace period is killed (its workers die with it). */
    int64_t deadline = fh_monotonic_ms() + FH_STOP_CHILD_GRACE_MS;
    pid_t got;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && fh_monotonic_ms() < deadline)
        usleep(10000);
    if (got == 0) {
        fprintf(stderr, "flowhost: the flow did not stop within %d ms: killing it\n",
                FH_STOP_CHILD_GRACE_MS);
        kill(pid, SIGKILL);
        got = waitpid(pid, &status, 0);
    }
    if (got < 0)
        return 1;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

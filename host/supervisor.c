/* Worker processes: see supervisor.h. */
#define _GNU_SOURCE
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flowhost/error.h>

extern char **environ;

/* "KEY=VALUE" strings: environ, with ENV's entries replacing or added. Built before
 * fork: the child of a threaded process (ZeroMQ has threads) may only call
 * async-signal-safe functions until it execs, so no malloc there. */
static char **build_envp(const fh_value *env)
{
    size_t n_env = 0, n_add = fh_value_len(env);
    while (environ[n_env] != NULL)
        n_env++;
    char **envp = calloc(n_env + n_add + 1, sizeof *envp);
    if (envp == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < n_env; i++) {
        int overridden = 0;
        for (size_t j = 0; j < n_add && !overridden; j++) {
            const char *k = fh_map_key_at(env, j);
            size_t klen = strlen(k);
            overridden = strncmp(environ[i], k, klen) == 0 && environ[i][klen] == '=';
        }
        if (!overridden && (envp[n++] = strdup(environ[i])) == NULL)
            goto oom;
    }
    for (size_t j = 0; j < n_add; j++) {
        const char *v = fh_value_string(fh_map_value_at(env, j));
        if (asprintf(&envp[n++], "%s=%s", fh_map_key_at(env, j), v ? v : "") < 0) {
            envp[--n] = NULL;
            goto oom;
        }
    }
    return envp;
oom:
    for (size_t i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
    return NULL;
}

static void free_envp(char **envp)
{
    for (size_t i = 0; envp[i] != NULL; i++)
        free(envp[i]);
    free(envp);
}

int fh_supervisor_spawn(const char *self_exe, const char *spec_path, const fh_value *env,
                        pid_t *pid)
{
    char **envp = build_envp(env);
    if (envp == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    char *const argv[] = {(char *)"flowhost", (char *)"worker", (char *)"--spec",
                          (char *)spec_path, NULL};
    pid_t host = getpid();
    pid_t child = fork();
    if (child < 0) {
        int err = errno;
        free_envp(envp);
        return fh_set_error(FH_E_IO, "cannot start a worker: %s", strerror(err));
    }
    if (child == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != host)
            _exit(1); /* the host died before prctl took effect */
        /* A process group of its own: a Ctrl-C at the terminal reaches the host, which
         * drains and then stops its workers, not the workers in the middle of a request. */
        setpgid(0, 0);
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execve(self_exe, argv, envp);
        static const char msg[] = "flowhost: cannot exec the worker binary\n";
        if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
            _exit(127);
        _exit(127);
    }
    free_envp(envp);
    *pid = child;
    return 0;
}

void fh_describe_exit(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        snprintf(buf, size, "signal %d (SIG%s)%s", sig, abbrev ? abbrev : "?",
                 WCOREDUMP(status) ? ", core dumped" : "");
    } else if (WIFEXITED(status)) {
        snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
    } else {
        snprintf(buf, size, "wait status 0x%x", status);
    }
}

void fh_supervisor_kill_all(const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGKILL);
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0)
            while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
                ;
}

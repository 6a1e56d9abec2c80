/* Worker processes: see supervisor.h. */
#define _GNU_SOURCE
#include "supervisor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "util.h"

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
    /* The child makes its group too, but perhaps after the host already wants to kill
     * it; whichever runs first wins, the other fails harmlessly. */
    setpgid(child, child);
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

void fh_supervisor_kill_group(pid_t pid)
{
    if (pid > 0)
        kill(-pid, SIGKILL);
}

pid_t fh_supervisor_reap(int *status)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    /* WNOWAIT leaves it a zombie: its pid, and so the id of the group it leads, cannot
     * be taken by another process until it is reaped below. */
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return -1;
    if (si.si_pid == 0)
        return 0;
    kill(-si.si_pid, SIGKILL); /* fails (ESRCH) when it leads no group: fine */
    pid_t pid;
    while ((pid = waitpid(si.si_pid, status, 0)) < 0 && errno == EINTR)
        ;
    return pid;
}

void fh_supervisor_kill_all(const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0) {
            fh_supervisor_kill_group(pids[i]);
            kill(pids[i], SIGKILL); /* in case it is not in its group yet */
        }
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0)
            while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
                ;
}

int fh_supervisor_adopt_orphans(void)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        return fh_set_error(FH_E_IO, "cannot become a child subreaper: %s", strerror(errno));
    return 0;
}

/* The parent pid in /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces and
 * parentheses: the last ')' ends it), or -1. */
static pid_t parent_of(const char *pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *end = strrchr(buf, ')');
    char state;
    int ppid;
    if (end == NULL || sscanf(end + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

size_t fh_supervisor_kill_strays(const pid_t *keep, size_t n)
{
    /* /proc/self/task/TID/children would list them directly, but kernels built without
     * CONFIG_PROC_CHILDREN lack it: read every process's parent instead. */
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    pid_t self = getpid();
    size_t found = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9' || parent_of(de->d_name) != self)
            continue;
        pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
        bool ours = false;
        for (size_t i = 0; keep != NULL && i < n && !ours; i++)
            ours = keep[i] == pid;
        if (ours)
            continue;
        found++;
        /* A stray that made a session of its own leads a group its children share. */
        if (getpgid(pid) == pid)
            kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    closedir(d);
    return found;
}

size_t fh_supervisor_end_children(int wait_ms)
{
    int64_t deadline = fh_monotonic_ms() + wait_ms;
    for (;;) {
        int status;
        pid_t pid;
        while ((pid = fh_supervisor_reap(&status)) > 0)
            ;
        if (pid < 0)
            return 0; /* no child left */
        size_t left = fh_supervisor_kill_strays(NULL, 0);
        if (fh_monotonic_ms() >= deadline)
            return left;
        usleep(5000); /* SIGKILLed processes take a moment to end */
    }
}

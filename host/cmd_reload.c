/* flowhost reload PID | --pid-file FILE: a rolling reload of a running flow.
 *
 * No network control: the request is a file in the flow's private runtime directory
 * (mode 0700, found through the descriptor the flow holds on it) and a queued signal
 * (FH_RELOAD_SIGNAL, its value naming the file); only the flow's own user can ask (the
 * directory must be this user's, and the flow takes only its own user's files: root
 * gets "not a running flow of this user" too). The flow answers in a file beside it
 * (see host/gateway/reload.c for the exchange). The process is held by a pidfd from
 * the start, so that a pid reused after the flow ended is never signalled. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "gateway.h"
#include "util.h"

static const char usage[] =
    "usage: flowhost reload [OPTIONS] PID\n"
    "       flowhost reload [OPTIONS] --pid-file FILE\n"
    "\n"
    "Replace the workers of the flow running as process PID one replica at a time, each by\n"
    "a new worker that loads the plugin file as it is on disk now (replace a plugin with\n"
    "`mv` or `install`, not by writing into it: its running workers map it). The new\n"
    "worker starts beside the old one and takes its place once ready; the old one finishes\n"
    "the requests it holds, then stops. No request fails, with one replica as with many.\n"
    "A new worker that does not start leaves the old one serving; the reload of that\n"
    "executor stops there and the flow's log says which replica and why. The same as\n"
    "`kill -HUP PID` (every executor), with an answer. Only the flow's user can do it.\n"
    "\n"
    "options:\n"
    "  --pid-file FILE      the flow's pid, as `flowhost run --pid-file FILE` wrote it\n"
    "  --executor NAME      reload this executor (repeatable); default: every executor,\n"
    "                       one after the other, in the flow's order\n"
    "  --wait               wait until the reload is over, and say how it went\n"
    "  --in-place           stop each old worker first (it finishes what it holds), then\n"
    "                       start the new one: for executors whose workspace takes one\n"
    "                       process at a time (a docstore indexer); with one replica\n"
    "                       the executor pauses meanwhile (requests wait, none fails)\n"
    "  --timeout MS         how long to wait for the flow's answer (default 10000); with\n"
    "                       --wait also for the end of the reload (default: no limit)\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 the flow accepted the reload (with --wait: and every new worker\n"
    "started), 1 it refused it, did not answer, or (--wait) a new worker failed or a\n"
    "replica is down (its breaker open: not reloaded), 2 bad usage.\n";

#define MAX_EXECUTORS 256

/* Reads a pid from FILE (its first line). Returns it, or -1 with a reason in WHY. */
static pid_t read_pid_file(const char *file, char *why, size_t size)
{
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        snprintf(why, size, "cannot read the pid file %s: %s", file, strerror(errno));
        return -1;
    }
    char line[64] = "";
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    char *end;
    long pid = ok ? strtol(line, &end, 10) : 0;
    if (!ok || pid <= 0 || pid > INT_MAX || (*end != '\n' && *end != '\0')) {
        snprintf(why, size, "the pid file %s holds no pid", file);
        return -1;
    }
    return (pid_t)pid;
}

/* Finds the runtime directory of the flow PID: a directory it holds open, named
 * flowhost-XXXXXX, owned by this user, whose owner file names PID. Returns 0 and the
 * path in DIR, or -1. */
static int find_runtime_dir(pid_t pid, char *dir, size_t size)
{
    char fds[64];
    snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(fds);
    if (d == NULL)
        return -1;
    struct dirent *de;
    int found = -1;
    while (found != 0 && (de = readdir(d)) != NULL) {
        char link[400], path[PATH_MAX];
        snprintf(link, sizeof link, "%s/%s", fds, de->d_name);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n <= 0)
            continue;
        path[n] = '\0';
        const char *base = strrchr(path, '/');
        struct stat st;
        if (base == NULL || strncmp(base + 1, "flowhost-", 9) != 0 || strlen(base + 1) != 15 ||
            lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
            (st.st_mode & 077) != 0)
            continue;
        char owner[PATH_MAX + 32];
        snprintf(owner, sizeof owner, "%s/flowhost.pid", path);
        FILE *f = fopen(owner, "r");
        int who = 0;
        if (f != NULL) {
            if (fscanf(f, "%d", &who) != 1)
                who = 0;
            fclose(f);
        }
        if (who == (int)pid && strlen(path) < size) {
            snprintf(dir, size, "%s", path);
            found = 0;
        }
    }
    closedir(d);
    return found;
}

/* True when process PID blocks FH_RELOAD_SIGNAL (its gateway takes it through a
 * signalfd). A flow of a flowhost from before that signal does not, and would die of it
 * (its default action): it is asked with SIGHUP instead. */
static bool takes_reload_signal(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    unsigned long long blocked = 0;
    bool found = false;
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
        found = sscanf(line, "SigBlk: %llx", &blocked) == 1;
    if (f != NULL)
        fclose(f);
    return found && (blocked >> (FH_RELOAD_SIGNAL - 1) & 1);
}

/* Makes the empty answer file PATH (mode 0600) the flow writes into, and opens it.
 * Returns the descriptor, or -1. */
static int make_answer_file(const char *path)
{
    unlink(path); /* one left by an earlier command of the same pid */
    return open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* The signal (SIGINT, SIGTERM) that interrupted the command, or 0. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) { interrupted = sig; }

/* Catches SIGINT and SIGTERM, unless ignored (a job of a script ignores SIGINT), so that
 * an interrupted command removes its files from the flow's runtime directory. */
static void catch_interrupts(void)
{
    static const int sigs[] = {SIGINT, SIGTERM};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old, sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_interrupt; /* no SA_RESTART: poll() returns at once */
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

/* True once the process PIDFD holds has ended (its pidfd turns readable). */
static bool process_gone(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

/* Waits until the answer file FD holds a line (true: it is in BUF, newline cut), the
 * process PIDFD is gone, or TIMEOUT_MS passed (-1: no limit). Reads through the
 * descriptor: an answer written as the flow stops is read even though its directory is
 * gone. */
static bool wait_answer(int fd, int pidfd, int timeout_ms, char *buf, size_t size)
{
    int64_t deadline = timeout_ms < 0 ? -1 : fh_monotonic_ms() + timeout_ms;
    for (;;) {
        bool gone = process_gone(pidfd);
        ssize_t n = pread(fd, buf, size - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl != NULL) {
            *nl = '\0';
            return true;
        }
        if (n == (ssize_t)size - 1)
            return true; /* longer than any answer: as much of it as fits */
        if (gone || interrupted || (deadline >= 0 && fh_monotonic_ms() >= deadline))
            return false;
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        poll(&p, 1, 10); /* the answer file cannot be polled: a look every 10 ms */
    }
}

static int reload(pid_t pid, int pidfd, const char *dir, const char *part, const char *req,
                  int ack_fd, int done_fd, const char *const *executors, size_t n_executors,
                  bool in_place, long timeout);

int fh_cmd_reload(int argc, char **argv)
{
    static const struct option longopts[] = {{"pid-file", required_argument, NULL, 'p'},
                                              {"executor", required_argument, NULL, 'e'},
                                              {"wait", no_argument, NULL, 'w'},
                                              {"in-place", no_argument, NULL, 'i'},
                                              {"timeout", required_argument, NULL, 't'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
    const char *pid_file = NULL, *executors[MAX_EXECUTORS];
    size_t n_executors = 0;
    bool wait = false, in_place = false;
    long timeout = -2;
    int c;
    optind = 1;
    argv[0] = (char *)"flowhost reload";
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': pid_file = optarg; break;
        case 'e':
            if (n_executors == MAX_EXECUTORS || optarg[0] == '\0' || strchr(optarg, '\n')) {
                fprintf(stderr, "flowhost: --executor '%s': not an executor name (or too many)\n",
                        optarg);
                return 2;
            }
            executors[n_executors++] = optarg;
            break;
        case 'w': wait = true; break;
        case 'i': in_place = true; break;
        case 't': {
            char *end;
            timeout = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || timeout < 0 || timeout > INT_MAX) {
                fprintf(stderr, "flowhost: --timeout '%s' is not a number of milliseconds\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if ((pid_file == NULL) == (optind == argc) || optind + 1 < argc) {
        fputs(usage, stderr);
        return 2;
    }
    char why[PATH_MAX + 100];
    pid_t pid;
    if (pid_file != NULL) {
        if ((pid = read_pid_file(pid_file, why, sizeof why)) < 0) {
            fprintf(stderr, "flowhost: %s\n", why);
            return 1;
        }
    } else {
        char *end;
        long v = strtol(argv[optind], &end, 10);
        if (*argv[optind] == '\0' || *end != '\0' || v <= 0 || v > INT_MAX) {
            fprintf(stderr, "flowhost: '%s' is not a process id\n", argv[optind]);
            return 2;
        }
        pid = (pid_t)v;
    }
    /* Held from here on: whatever PID names later, the signal goes to this process. */
    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0 || pidfd_send_signal(pidfd, 0, NULL, 0) != 0) {
        fprintf(stderr, "flowhost: %s %d\n",
                errno == EPERM ? "not allowed to reload the flow of another user: process"
                               : "no such process:", (int)pid);
        if (pidfd >= 0)
            close(pidfd);
        return 1;
    }
    char dir[PATH_MAX];
    if (find_runtime_dir(pid, dir, sizeof dir) != 0 || process_gone(pidfd)) {
        fprintf(stderr, "flowhost: process %d is not a running flow of this user (no runtime "
                "directory of its own)\n", (int)pid);
        close(pidfd);
        return 1;
    }
    if (!takes_reload_signal(pid)) {
        fprintf(stderr, "flowhost: process %d is a flow of an older flowhost, which takes no "
                "reload requests: reload it with `kill -HUP %d` (every executor)\n", (int)pid,
                (int)pid);
        close(pidfd);
        return 1;
    }
    /* The request, written whole before its name says it is one. */
    char part[PATH_MAX + 64], req[PATH_MAX + 64], ack[PATH_MAX + 64], done[PATH_MAX + 64];
    snprintf(part, sizeof part, "%s/reload-%d.part", dir, (int)getpid());
    snprintf(req, sizeof req, "%s/reload-%d.req", dir, (int)getpid());
    snprintf(ack, sizeof ack, "%s/reload-%d.ack", dir, (int)getpid());
    snprintf(done, sizeof done, "%s/reload-%d.done", dir, (int)getpid());
    catch_interrupts();
    int ack_fd = make_answer_file(ack), done_fd = wait ? make_answer_file(done) : -1;
    if (ack_fd < 0 || (wait && done_fd < 0)) {
        fprintf(stderr, "flowhost: cannot make an answer file in %s: %s\n", dir, strerror(errno));
        if (ack_fd >= 0)
            close(ack_fd);
        unlink(ack);
        close(pidfd);
        return 1;
    }
    int rc = reload(pid, pidfd, dir, part, req, ack_fd, done_fd, executors, n_executors,
                    in_place, timeout);
    close(pidfd);
    close(ack_fd);
    unlink(ack);
    if (done_fd >= 0) {
        close(done_fd);
        unlink(done);
    }
    if (interrupted) {
        unlink(part);
        unlink(req); /* withdrawn, if the flow has not taken it */
        return 128 + interrupted;
    }
    return rc;
}

/* Queues FH_RELOAD_SIGNAL to the process PIDFD, its value ID (sigqueue's semantics
 * through the pidfd). Returns 0, or -1 with errno. */
static int signal_request(int pidfd, int id)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = FH_RELOAD_SIGNAL;
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_int = id;
    return pidfd_send_signal(pidfd, FH_RELOAD_SIGNAL, &info, 0);
}

/* Writes the request, signals the flow, reads its answers. Returns the exit status. */
static int reload(pid_t pid, int pidfd, const char *dir, const char *part, const char *req,
                  int ack_fd, int done_fd, const char *const *executors, size_t n_executors,
                  bool in_place, long timeout)
{
    bool wait = done_fd >= 0;
    FILE *f = fopen(part, "w");
    bool ok = f != NULL && (!wait || fputs("wait\n", f) >= 0) &&
              (!in_place || fputs("in-place\n", f) >= 0);
    for (size_t i = 0; ok && i < n_executors; i++)
        ok = fprintf(f, "executor %s\n", executors[i]) >= 0;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    if (!ok || rename(part, req) != 0) {
        fprintf(stderr, "flowhost: cannot write the reload request in %s: %s\n", dir,
                strerror(errno));
        unlink(part);
        return 1;
    }
    if (signal_request(pidfd, (int)getpid()) != 0) {
        fprintf(stderr, "flowhost: cannot signal process %d: %s\n", (int)pid, strerror(errno));
        unlink(req);
        return 1;
    }
    char answer[2048];
    int answer_ms = timeout >= 0 ? (int)timeout : 10000;
    if (!wait_answer(ack_fd, pidfd, answer_ms, answer, sizeof answer)) {
        unlink(req); /* withdrawn: the flow, reading it later, finds nothing to do */
        if (interrupted) {
            fprintf(stderr, "flowhost: interrupted: the reload request withdrawn\n");
            return 1;
        }
        fprintf(stderr, "flowhost: the flow (pid %d) did not answer the reload within %d ms\n",
                (int)pid, answer_ms);
        return 1;
    }
    if (strncmp(answer, "accepted:", 9) != 0) {
        fprintf(stderr, "flowhost: the flow refused the reload: %s\n",
                strncmp(answer, "refused: ", 9) == 0 ? answer + 9 : answer);
        return 1;
    }
    if (!wait) {
        fprintf(stderr, "flowhost: reload accepted:%s\n", answer + 9);
        return 0;
    }
    fprintf(stderr, "flowhost: reloading:%s\n", answer + 9);
    if (!wait_answer(done_fd, pidfd, timeout >= 0 ? (int)timeout : -1, answer, sizeof answer)) {
        fprintf(stderr, "flowhost: %s\n",
                interrupted           ? "interrupted: the reload goes on in the flow"
                : process_gone(pidfd) ? "the flow stopped before the reload was over"
                                      : "the reload was not over within --timeout");
        return 1;
    }
    if (strncmp(answer, "ok: ", 4) == 0) {
        fprintf(stderr, "flowhost: reload done: %s\n", answer + 4);
        return 0;
    }
    fprintf(stderr, "flowhost: reload %s\n", answer);
    return 1;
}

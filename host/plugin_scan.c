/* The plugin scanner: a child process per file, a report on a pipe, a deadline. */
#define _GNU_SOURCE
#include "plugin_scan.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "plugin_loader.h"
#include "util.h"

extern char **environ;

/* The first line of every report: a scanner of another version is not believed. */
#define SCAN_MAGIC "flowhost-plugin-scan 2\n"
/* The child's report goes to this descriptor, so that what the library's constructors
 * print on stdout cannot be taken for it. */
#define SCAN_FD 3
/* The longest line of a report ("refused " and a reason), and the longest report: the
 * magic, FH_MAX_TYPES type lines and the last line. Anything longer is garbled. */
#define SCAN_MAX_LINE (sizeof "refused " - 1 + FH_SCAN_MAX_REASON)
#define SCAN_MAX_REPORT                                                                    \
    (sizeof SCAN_MAGIC + FH_MAX_TYPES * (sizeof "type \n" + FH_SCAN_MAX_NAME) +               \
     SCAN_MAX_LINE + 1)

int fh_plugin_scan_timeout_ms(void)
{
    const char *s = getenv("FLOWHOST_SCAN_TIMEOUT_MS");
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    return s && *s && *end == '\0' && v >= 1 && v <= 600000 ? (int)v : 10000;
}

void fh_scan_result_clear(fh_scan_result *r)
{
    for (size_t i = 0; i < r->n_types; i++)
        free(r->types[i]);
    free(r->types);
    free(r->reason);
    memset(r, 0, sizeof *r);
}

/* ---- the child ------------------------------------------------------------------------ */

int fh_plugin_scan_report(const char *path, int fd)
{
    FILE *f = fdopen(fd, "w");
    if (f == NULL)
        return -1;
    fputs(SCAN_MAGIC, f);
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    const fh_plugin_descriptor *d = dl ? dlsym(dl, FH_PLUGIN_SYMBOL) : NULL;
    /* "none" and "abi": the file's content decides (cached); "refused": it may not. */
    size_t n = strlen(path);
    char reason[FH_SCAN_MAX_REASON + 1];
    const char *kind = "none";
    if (dl == NULL) {
        const char *why = dlerror();
        if (why == NULL)
            why = "unknown error";
        else if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
            why += n + 2; /* the report is about PATH: the reader names it */
        kind = "refused";
        snprintf(reason, sizeof reason, "cannot load: %s", why);
    } else if (d == NULL) {
        snprintf(reason, sizeof reason, "no '%s' symbol (not a flowhost plugin)",
                 FH_PLUGIN_SYMBOL);
    } else if (fh_plugin_check_descriptor(d, path) != 0) {
        const char *why = fh_last_error();
        if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
            why += n + 2;
        bool content = d->magic != FH_PLUGIN_MAGIC || d->abi_major != FH_ABI_MAJOR;
        kind = content ? "abi" : "refused";
        snprintf(reason, sizeof reason, "%s", why);
    } else {
        kind = NULL;
        for (size_t i = 0; d->types[i] != NULL; i++) /* at most FH_MAX_TYPES: checked */
            if (strchr(d->types[i]->name, '\n') == NULL && /* cannot be named in a flow */
                strlen(d->types[i]->name) <= FH_SCAN_MAX_NAME)
                fprintf(f, "type %s\n", d->types[i]->name);
        fputs("end\n", f);
    }
    if (kind != NULL) {
        for (char *p = reason; (p = strchr(p, '\n')) != NULL;)
            *p = ' '; /* one line */
        fprintf(f, "%s %s\n", kind, reason);
    }
    /* Never dlclose: a library that misbehaves on unload must not spoil a good report. */
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- the parent ----------------------------------------------------------------------- */

static int set_reason(fh_scan_result *out, fh_scan_status status, const char *fmt, const char *arg)
{
    out->status = status;
    if (asprintf(&out->reason, fmt, arg) < 0) {
        out->reason = NULL;
        return fh_set_error(FH_E_NOMEM, "out of memory");
    }
    return 0;
}

/* The reason after PREFIX on LINE (LEN bytes) into *OUT with STATUS: 1, or FH_E_PARSE
 * when it is too long, or FH_E_NOMEM. */
static int take_reason(const char *line, size_t len, size_t prefix, fh_scan_status status,
                       fh_scan_result *out)
{
    if (len - prefix > FH_SCAN_MAX_REASON)
        return FH_E_PARSE;
    out->status = status;
    return (out->reason = strndup(line + prefix, len - prefix)) ? 1 : FH_E_NOMEM;
}

int fh_plugin_scan_parse(const char *buf, fh_scan_result *out)
{
    size_t magic = strlen(SCAN_MAGIC);
    if (strncmp(buf, SCAN_MAGIC, magic) != 0)
        return strlen(buf) < magic && strncmp(buf, SCAN_MAGIC, strlen(buf)) == 0 ? 0
                                                                                : FH_E_PARSE;
    const char *line = buf + magic;
    for (const char *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        size_t len = (size_t)(nl - line);
        if (len > SCAN_MAX_LINE)
            return FH_E_PARSE;
        if (len >= 5 && strncmp(line, "none ", 5) == 0)
            return take_reason(line, len, 5, FH_SCAN_NONE, out);
        if (len >= 4 && strncmp(line, "abi ", 4) == 0)
            return take_reason(line, len, 4, FH_SCAN_OTHER_ABI, out);
        if (len >= 8 && strncmp(line, "refused ", 8) == 0)
            return take_reason(line, len, 8, FH_SCAN_REFUSED, out);
        if (len == 3 && strncmp(line, "end", 3) == 0) {
            out->status = FH_SCAN_PLUGIN;
            return 1;
        }
        if (len <= 5 || strncmp(line, "type ", 5) != 0 || len - 5 > FH_SCAN_MAX_NAME ||
            out->n_types == FH_MAX_TYPES)
            return FH_E_PARSE;
        if (out->types == NULL &&
            (out->types = calloc(FH_MAX_TYPES, sizeof *out->types)) == NULL)
            return FH_E_NOMEM;
        if ((out->types[out->n_types] = strndup(line + 5, len - 5)) == NULL)
            return FH_E_NOMEM;
        out->n_types++;
    }
    return strlen(line) > SCAN_MAX_LINE ? FH_E_PARSE : 0;
}

/* Where the scanner is: running, exited (a zombie that this process has to reap: its
 * pid, and so the id of its process group, cannot have been reused), or reaped elsewhere. */
typedef enum scanner_state { SCANNER_RUNNING, SCANNER_EXITED, SCANNER_GONE } scanner_state;

static scanner_state scanner_state_of(pid_t pid)
{
    siginfo_t si;
    for (;;) {
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
            return si.si_pid == pid ? SCANNER_EXITED : SCANNER_RUNNING;
        if (errno != EINTR)
            return SCANNER_GONE;
    }
}

/* While a scanner runs, its exit is looked for this often (a process its library started
 * may hold the report's pipe open after it). No pidfd: valgrind does not know it, and a
 * scan is rare (its answer is cached). */
#define EXIT_POLL_MS 10

/* Reads the report of the scanner PID from FD until it is complete, the pipe closes, the
 * scanner has exited and all it wrote has been read (a process its library started may
 * hold the pipe open for ever), or DEADLINE. Returns 1 complete
 * (*OUT filled), 0 not, FH_E_PARSE garbled, or FH_E_NOMEM. */
static int read_report(int fd, pid_t pid, int64_t deadline, fh_scan_result *out)
{
    char buf[SCAN_MAX_REPORT + 1];
    size_t used = 0;
    int rc = 0;
    for (;;) {
        int64_t left = deadline - fh_monotonic_ms();
        if (left <= 0)
            break;
        /* Once it has exited, what it wrote is in the pipe: take it without waiting. */
        bool exited = scanner_state_of(pid) != SCANNER_RUNNING;
        int wait_ms = exited ? 0 : left > EXIT_POLL_MS ? EXIT_POLL_MS : (int)left;
        struct pollfd p[1] = {{.fd = fd, .events = POLLIN}};
        int n = poll(p, 1, wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (p[0].revents == 0) {
            if (exited)
                break;
            continue; /* it exited, or a slice passed: look again */
        }
        ssize_t got = read(fd, buf + used, SCAN_MAX_REPORT - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        used += (size_t)got;
        buf[used] = '\0';
        fh_scan_result_clear(out);
        if ((rc = fh_plugin_scan_parse(buf, out)) != 0)
            break;
        if (used == SCAN_MAX_REPORT) {
            rc = FH_E_PARSE;
            break;
        }
    }
    if (rc != 1)
        fh_scan_result_clear(out);
    return rc;
}

/* Waits for the scanner PID to exit until DEADLINE; then, exited or not, kills its
 * process group (the scanner if still there, and whatever its library started: those
 * must not outlive the scan) and reaps it. Returns the wait status, or -1 when the
 * scanner was killed at the deadline. */
static int reap(pid_t pid, int64_t deadline)
{
    scanner_state st;
    bool late = false;
    while ((st = scanner_state_of(pid)) == SCANNER_RUNNING) {
        int64_t left = deadline - fh_monotonic_ms();
        if (left <= 0) {
            late = true;
            break;
        }
        (void)poll(NULL, 0, left < EXIT_POLL_MS ? (int)left : EXIT_POLL_MS);
    }
    if (st == SCANNER_GONE)
        return 0; /* reaped elsewhere: its group id may be another's now; nothing to learn */
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL); /* in case its library moved it to another group */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return late ? -1 : status;
}

int fh_plugin_scan(const char *path, int timeout_ms, fh_scan_result *out)
{
    memset(out, 0, sizeof *out);
    /* The binary this process runs: its path, or /proc/self/exe when its file was
     * replaced or removed since (the link then ends in " (deleted)"). The path first:
     * under a tool such as valgrind, /proc/self/exe is the tool's binary, while the link
     * reads as the program's. */
    char exe[4096];
    static const char deleted[] = " (deleted)";
    ssize_t got = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (got <= 0 || (size_t)got >= sizeof exe - 1 ||
        ((size_t)got >= sizeof deleted - 1 &&
         memcmp(exe + got - (sizeof deleted - 1), deleted, sizeof deleted - 1) == 0))
        snprintf(exe, sizeof exe, "/proc/self/exe");
    else
        exe[got] = '\0';
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return fh_set_error(FH_E_IO, "cannot scan %s: pipe: %s", path, strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], SCAN_FD);
    /* Its own process group, so that the deadline ends whatever the library started;
     * default signal handling and no blocked signal, whatever this process has. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {program_invocation_name, (char *)"plugin-scan", (char *)path, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        return fh_set_error(FH_E_IO, "cannot start the scanner of %s: %s", path, strerror(err));
    }
    int64_t deadline = fh_monotonic_ms() + timeout_ms;
    int rc = read_report(fds[0], pid, deadline, out);
    close(fds[0]);
    /* After a whole report, a second to exit (its destructors run); after a garbled one,
     * none. */
    int status = reap(pid, rc == 1 ? fh_monotonic_ms() + 1000 : rc < 0 ? fh_monotonic_ms() : deadline);
    if (rc == FH_E_NOMEM)
        return fh_set_error(rc, "out of memory");
    if (rc == 1)
        return 0; /* a whole report is believed, whatever the exit (a destructor's crash) */
    char why[128];
    if (rc == FH_E_PARSE)
        snprintf(why, sizeof why, "its scan sent a garbled report");
    else if (status == -1)
        snprintf(why, sizeof why, "no answer within %d ms (set FLOWHOST_SCAN_TIMEOUT_MS)",
                 timeout_ms);
    else if (WIFSIGNALED(status))
        snprintf(why, sizeof why, "its scan died of signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(why, sizeof why, "its scan exited with status %d without a report",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return set_reason(out, FH_SCAN_FAILED, "%s", why);
}

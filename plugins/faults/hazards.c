/* Executors that misbehave towards their worker process and the host, for the tests of
 * worker supervision (a plugin of its own beside faults.so, which has its 8 types).
 *
 * Grow   appends parameters.grow (an int, bytes, default 0) characters to the text of the
 *        first document: a reply larger than the request.
 * Stall  works until a request has a document tagged stall: true; then it marks its
 *        workspace "stall" and dies (SIGSEGV); while the mark is there, init waits (at
 *        most 120 s): a restarted worker stuck in init. Removing the file lets it start.
 * Cut    cuts its worker's connection to the gateway (shutdown of its ipc socket) on a
 *        request whose parameters hold cut: true, then answers normally: ZeroMQ
 *        reconnects under a new routing id, and the answer goes to nobody.
 * Spawn  starts a process per request whose parameters hold spawn: NAME (its name, as
 *        pgrep sees it; it sleeps 60 s, holding every descriptor of the worker, then
 *        exits): in the worker's process group, in a session of its own with setsid:
 *        true, or as a daemon with daemon: true (a child that calls setsid and forks the
 *        NAME process, then exits: its parent is gone at once). With crash: true the
 *        worker then dies (SIGSEGV); with hang_ms: N it then sleeps N ms.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/executor.h>

static bool any_doc_tagged(const fh_docs *docs, const char *tag)
{
    for (size_t i = 0; i < fh_docs_len(docs); i++)
        if (fh_map_get_bool(fh_doc_tags_get(fh_docs_at(docs, i)), tag, false))
            return true;
    return false;
}

static int grow_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    int64_t grow = fh_map_get_int(params, "grow", 0);
    if (grow < 0 || grow > (256 << 20))
        return fh_ctx_fail(ctx, "grow must be from 0 to 268435456");
    if (grow == 0 || fh_docs_len(docs) == 0)
        return 0;
    fh_doc *d = fh_docs_at(docs, 0);
    const char *text = fh_doc_text(d);
    size_t len = strlen(text);
    char *buf = malloc(len + (size_t)grow + 1);
    if (buf == NULL)
        return fh_ctx_fail(ctx, "out of memory");
    memcpy(buf, text, len);
    memset(buf + len, '+', (size_t)grow);
    buf[len + (size_t)grow] = '\0';
    int rc = fh_doc_set_text(d, buf);
    free(buf);
    return rc != 0 ? fh_ctx_fail(ctx, "out of memory") : 0;
}

FH_EXECUTOR(Grow, NULL, NULL, FH_REQUESTS(grow_foo));

static void stall_marker(const char *workspace, char *path, size_t size)
{
    snprintf(path, size, "%s/stall", workspace);
}

static int stall_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    (void)ctx;
    (void)with;
    (void)state;
    char path[4096];
    stall_marker(metas->workspace, path, sizeof path);
    struct timespec tick = {0, 20 * 1000000L};
    for (int i = 0; i < 6000 && access(path, F_OK) == 0; i++)
        nanosleep(&tick, NULL);
    return 0;
}

static int stall_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    if (!any_doc_tagged(docs, "stall"))
        return 0;
    char path[4096];
    stall_marker(fh_ctx_workspace(ctx), path, sizeof path);
    FILE *f = fopen(path, "w");
    if (f != NULL)
        fclose(f);
    raise(SIGSEGV);
    return 0;
}

FH_EXECUTOR(Stall, stall_init, NULL, FH_REQUESTS(stall_foo));

/* Whether FD is a connected unix socket whose peer's path ends with "/workers.sock": the
 * worker's ipc connection to its gateway. */
static bool is_gateway_link(int fd)
{
    struct sockaddr_un a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    if (getpeername(fd, (struct sockaddr *)&a, &len) != 0 || a.sun_family != AF_UNIX)
        return false;
    const char *tail = "/workers.sock";
    size_t n = strnlen(a.sun_path, sizeof a.sun_path), t = strlen(tail);
    return n >= t && memcmp(a.sun_path + n - t, tail, t) == 0;
}

static int cut_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)docs;
    if (!fh_map_get_bool(params, "cut", false))
        return 0;
    int cut = 0;
    for (int fd = 3; fd < 1024; fd++)
        if (is_gateway_link(fd) && shutdown(fd, SHUT_RDWR) == 0)
            cut++;
    if (cut == 0)
        return fh_ctx_fail(ctx, "found no connection to cut");
    /* Give ZeroMQ time to see it and reconnect before the answer goes out. */
    struct timespec pause_ts = {0, 300 * 1000000L};
    nanosleep(&pause_ts, NULL);
    return 0;
}

FH_EXECUTOR(Cut, NULL, NULL, FH_REQUESTS(cut_foo));

/* The life of a spawned process: its name, then 60 s of sleep. Only async-signal-safe
 * calls: it was forked from a process with threads. */
static void stray_life(const char *name)
{
    prctl(PR_SET_NAME, name, 0, 0, 0);
    struct timespec left = {60, 0};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    _exit(0);
}

static int spawn_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)docs;
    const char *name = fh_value_string(fh_map_get(params, "spawn"));
    if (name == NULL)
        return 0;
    char comm[16];
    snprintf(comm, sizeof comm, "%s", name);
    bool own_session = fh_map_get_bool(params, "setsid", false);
    bool daemon = fh_map_get_bool(params, "daemon", false);
    pid_t pid = fork();
    if (pid < 0)
        return fh_ctx_fail(ctx, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (own_session || daemon)
            setsid();
        if (daemon && fork() != 0)
            _exit(0); /* the parent of the daemon is gone at once */
        stray_life(comm);
    }
    if (daemon)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    if (fh_map_get_bool(params, "crash", false))
        raise(SIGSEGV);
    int64_t ms = fh_map_get_int(params, "hang_ms", 0);
    struct timespec left = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    return 0;
}

FH_EXECUTOR(Spawn, NULL, NULL, FH_REQUESTS(spawn_foo));

FH_PLUGIN(Grow, Stall, Cut, Spawn);

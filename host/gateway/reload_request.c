/* Rolling reload, the requests (the rollout is reload.c's): which signals ask for a
 * reload, the request files of `flowhost reload` (cmd_reload.c) and the answers to them.
 *
 * A plain SIGHUP reloads every executor (by surge) and never looks at request files.
 * `flowhost reload` first writes reload-ID.req in the flow's private runtime directory
 * (mode 0700: only the flow's user can), one line a word: "executor NAME" (none: every
 * executor), "wait", "in-place", then queues FH_RELOAD_SIGNAL with ID as its value:
 * real-time signals queue, so that requests never coalesce with each other nor with a
 * SIGHUP, and the flow reads exactly the file named (gone: the command withdrew it,
 * nothing is done). The host answers in reload-ID.ack ("accepted: NAMES" or "refused:
 * WHY") and, when asked to wait, in reload-ID.done once the rollout is over ("ok: ..."
 * or "failed: WHY"): empty files the command made and holds open, so that an answer
 * written as the flow stops is still read; each is removed once written. An answer is
 * one line, never longer than the command reads, with what it echoes of the request
 * escaped. */
#define _GNU_SOURCE
#include "reload_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime_dir.h"

#define REQ_MAX_BYTES 16384   /* a request file's size at most */

/* Writes TEXT into the answer file PATH, which the reload command made and holds open
 * (so that it reads the answer even when the flow stops and its runtime directory goes
 * right after), then removes it: the command reads through its descriptor, and one
 * killed meanwhile leaves nothing behind. Nothing when it is not there (the command is
 * gone). */
static void write_answer(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return;
    size_t len = strlen(text);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        write(fd, text, len) != (ssize_t)len)
        gw_log("reload: cannot write the answer %s: %s", path, strerror(errno));
    close(fd);
    unlink(path);
}

void gw_reload_notify_waiters(gw_reload *r, const char *text)
{
    for (size_t i = 0; i < r->n_waiters; i++) {
        write_answer(r->waiters[i], text);
        free(r->waiters[i]);
    }
    r->n_waiters = 0;
}

/* The index of executor NAME in the flow, or SIZE_MAX. */
static size_t executor_index(const fh_gateway *g, const char *name)
{
    for (size_t e = 0; e < g->cfg->n_executors; e++)
        if (strcmp(g->cfg->executors[e].name, name) == 0)
            return e;
    return SIZE_MAX;
}

/* Copies at most MAX bytes of TEXT into OUT (SIZE bytes, at least 4 * MAX + 1) with the
 * bytes that are not printable ASCII written \xNN: what a request holds is echoed into
 * an answer, and so into the user's terminal. Returns OUT. */
static const char *escaped(const char *text, size_t max, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; text[i] != '\0' && i < max && o + 5 <= size; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

#define ANSWER_MAX 2048 /* an answer's line at most, its '\n' included (the command reads
                           as much) */

/* Appends to the answer LINE (ANSWER_MAX bytes, a string) the names of the executors
 * with TAKE[e] (NULL: all), after a space, SEP between two, and TAIL: as many names as
 * fit with room for " and N more" and TAIL, so that the line is never cut (its '\n' is
 * in TAIL). */
static void append_names(const fh_gateway *g, const bool *take, const char *sep,
                         const char *tail, char *line)
{
    size_t used = strlen(line), more = 0, room = ANSWER_MAX - 40 - strlen(tail);
    const char *before = " ";
    for (size_t e = 0; e < g->cfg->n_executors; e++) {
        if (take != NULL && !take[e])
            continue;
        const char *name = g->cfg->executors[e].name;
        if (more > 0 || used + strlen(before) + strlen(name) >= room) {
            more++;
            continue;
        }
        used += (size_t)snprintf(line + used, ANSWER_MAX - used, "%s%s", before, name);
        before = sep;
    }
    if (more > 0)
        used += (size_t)snprintf(line + used, ANSWER_MAX - used, " and %zu more", more);
    snprintf(line + used, ANSWER_MAX - used, "%s", tail);
}

/* Handles the request reload-ID.req of the runtime directory DIR: answers it, queues
 * what it asks. A request that is not there was withdrawn by its command (it gave up
 * waiting for an answer): nothing is done. */
static void take_request(fh_gateway *g, int dir, int id)
{
    gw_reload *r = g->reload;
    const char *base = fh_runtime_dir_path(g->rundir);
    char name[64], ack[4300], done[4300];
    snprintf(name, sizeof name, "reload-%d.req", id);
    snprintf(ack, sizeof ack, "%s/reload-%d.ack", base, id);
    snprintf(done, sizeof done, "%s/reload-%d.done", base, id);
    /* Only a regular file of this user: nobody else can write in the directory anyway. */
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        gw_reload_info("reload: request %d withdrawn (its file is gone: its command gave up): "
                       "nothing to do", id);
        return;
    }
    struct stat st;
    char text[REQ_MAX_BYTES + 1];
    ssize_t n = -1;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
        n = read(fd, text, REQ_MAX_BYTES);
    if (fd >= 0)
        close(fd);
    unlinkat(dir, name, 0);
    if (n < 0) {
        write_answer(ack, "refused: the request could not be read\n");
        return;
    }
    text[n] = '\0';
    if (g->draining) {
        write_answer(ack, "refused: the flow is shutting down\n");
        return;
    }
    bool *asked = calloc(g->cfg->n_executors + 1, sizeof *asked);
    if (asked == NULL) {
        write_answer(ack, "refused: out of memory\n");
        return;
    }
    bool any = false, wait = false, in_place = false;
    char answer[ANSWER_MAX], *save = NULL;
    answer[0] = '\0';
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strcmp(line, "wait") == 0) {
            wait = true;
        } else if (strcmp(line, "in-place") == 0) {
            in_place = true;
        } else if (strncmp(line, "executor ", 9) == 0) {
            size_t e = executor_index(g, line + 9);
            if (e == SIZE_MAX) {
                char shown[401];
                snprintf(answer, sizeof answer, "refused: the flow has no executor '%s' (it has:",
                         escaped(line + 9, 100, shown, sizeof shown));
                append_names(g, NULL, ", ", ")\n", answer);
                break;
            }
            asked[e] = any = true;
        } else if (line[0] != '\0') {
            char shown[401];
            snprintf(answer, sizeof answer, "refused: a request line it does not know: '%s'\n",
                     escaped(line, 100, shown, sizeof shown));
            break;
        }
    }
    if (answer[0] == '\0' && wait && r->n_waiters == WAITERS_MAX)
        snprintf(answer, sizeof answer, "refused: %d reloads are waited for already\n",
                 WAITERS_MAX);
    if (answer[0] != '\0') {
        write_answer(ack, answer);
        free(asked);
        return;
    }
    for (size_t e = 0; e < g->cfg->n_executors; e++)
        if (asked[e] || !any)
            r->pending[e] = in_place ? MODE_IN_PLACE : MODE_SURGE;
    snprintf(answer, sizeof answer, "accepted:");
    append_names(g, any ? asked : NULL, " ", "\n", answer);
    free(asked);
    if (wait && (r->waiters[r->n_waiters] = strdup(done)) != NULL)
        r->n_waiters++;
    write_answer(ack, answer);
    answer[strcspn(answer, "\n")] = '\0';
    gw_reload_info("reload asked for:%s%s%s", answer + strlen("accepted:"),
                   in_place ? " (in place)" : "", wait ? " (waited for)" : "");
    gw_reload_begin(g);
}

void gw_reload_signalled(fh_gateway *g, int id)
{
    gw_reload *r = g->reload;
    if (id < 0) {
        gw_log("reload: a reload signal with no request id: ignored");
        return;
    }
    if (id == 0) {
        r->hup = true;
    } else if (r->n_ids == SIGNALLED_MAX) {
        gw_log("reload: more than %d reload requests at once: request %d not read",
               SIGNALLED_MAX, id);
        return;
    } else {
        r->ids[r->n_ids++] = id;
    }
    g->reload_asked = true;
}

void gw_reload_asked(fh_gateway *g)
{
    gw_reload *r = g->reload;
    if (r->n_ids > 0) {
        int dir = open(fh_runtime_dir_path(g->rundir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
            gw_log("reload: cannot read the runtime directory: %s", strerror(errno));
        for (size_t i = 0; dir >= 0 && i < r->n_ids; i++)
            take_request(g, dir, r->ids[i]);
        if (dir >= 0)
            close(dir);
        r->n_ids = 0;
    }
    if (!r->hup)
        return;
    /* A plain SIGHUP: every executor, by surge; those a request queued keep its mode. */
    r->hup = false;
    if (g->draining) {
        gw_log("SIGHUP while shutting down: no reload");
        return;
    }
    gw_reload_info("SIGHUP: reloading every executor");
    for (size_t e = 0; e < g->cfg->n_executors; e++)
        if (r->pending[e] == MODE_NONE)
            r->pending[e] = MODE_SURGE;
    gw_reload_begin(g);
}

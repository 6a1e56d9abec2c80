/* Worker processes: start, describe how they ended, stop them and everything they
 * started. */
#ifndef FH_HOST_SUPERVISOR_H
#define FH_HOST_SUPERVISOR_H

#include <stddef.h>
#include <sys/types.h>

#include <flowhost/value.h>

/* Starts `SELF_EXE worker --spec SPEC_PATH` in a new process whose environment is this
 * one's with the string entries of ENV (a map, may be NULL) set over it. The child's
 * stdout goes to stderr (stdout stays for results), it is killed when the host dies, it
 * leads a process group of its own, whose id is its pid (a terminal's Ctrl-C reaches only
 * the host; fh_supervisor_kill_group ends the worker with everything it started), and it
 * starts with no signal blocked. The group exists when this returns (the parent sets it
 * too, so a kill right after the fork cannot miss it). Stores its pid in *PID. Returns 0
 * or FH_E_IO / FH_E_NOMEM. */
int fh_supervisor_spawn(const char *self_exe, const char *spec_path, const fh_value *env,
                        pid_t *pid);

/* Writes a human description of a wait() STATUS: "exit status 1",
 * "signal 11 (SIGSEGV)". */
void fh_describe_exit(int status, char *buf, size_t size);

/* Sends SIGKILL to the process group of every non-zero pid of PIDS (workers started by
 * fh_supervisor_spawn) and reaps those pids. */
void fh_supervisor_kill_all(const pid_t *pids, size_t n);

/* Sends SIGKILL to the process group of worker PID: the worker and every process it
 * started that stayed in its group. PID must not be reaped yet (alive or a zombie), so
 * that it cannot have been reused. */
void fh_supervisor_kill_group(pid_t pid);

/* Reaps one ended child of this process, without waiting; before that, while its pid
 * still cannot be reused, sends SIGKILL to the process group it leads, if any: what a
 * worker started in its group ends with it. Stores its wait status in *STATUS. Returns
 * its pid, 0 when no child has ended, -1 when there is no child. */
pid_t fh_supervisor_reap(int *status);

/* Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER): a
 * process that a plugin started and that left its worker's group (setsid) is reparented
 * to the host when its parent ends, not to init, so that fh_supervisor_kill_strays finds
 * it. The host must then reap every child (waitpid(-1)), and have no children of its own
 * besides its workers. Returns 0 or FH_E_IO. */
int fh_supervisor_adopt_orphans(void);

/* Sends SIGKILL to every child of this process whose pid is not one of the N pids of
 * KEEP, and to the process group it leads, if any: with fh_supervisor_adopt_orphans,
 * those are processes plugins started that outlived their parent. Does not reap them
 * (the caller's waitpid(-1) does, once they are gone). Returns how many it found. Reads
 * the stat file of every process in /proc: call it when a worker ends, not per
 * request. */
size_t fh_supervisor_kill_strays(const pid_t *keep, size_t n);

/* Ends every child of this process: SIGKILL to each and to the group it leads, reaping
 * them, again while orphans keep coming back (see fh_supervisor_adopt_orphans), for at
 * most WAIT_MS. Returns how many children were still there at the end (0: none). */
size_t fh_supervisor_end_children(int wait_ms);

#endif

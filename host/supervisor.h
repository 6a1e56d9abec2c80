/* Worker processes: start, describe how they ended, stop. */
#ifndef FH_HOST_SUPERVISOR_H
#define FH_HOST_SUPERVISOR_H

#include <stddef.h>
#include <sys/types.h>

#include <flowhost/value.h>

/* Starts `SELF_EXE worker --spec SPEC_PATH` in a new process whose environment is this
 * one's with the string entries of ENV (a map, may be NULL) set over it. The child's
 * stdout goes to stderr (stdout stays for results), it is killed when the host dies, it
 * has a process group of its own (a terminal's Ctrl-C reaches only the host), and it
 * starts with no signal blocked. Stores its pid in *PID. Returns 0 or FH_E_IO /
 * FH_E_NOMEM. */
int fh_supervisor_spawn(const char *self_exe, const char *spec_path, const fh_value *env,
                        pid_t *pid);

/* Writes a human description of a wait() STATUS: "exit status 1",
 * "signal 11 (SIGSEGV)". */
void fh_describe_exit(int status, char *buf, size_t size);

/* Sends SIGKILL to every non-zero pid of PIDS and reaps them. */
void fh_supervisor_kill_all(const pid_t *pids, size_t n);

#endif

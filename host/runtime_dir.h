/* The private runtime directory of a running flow: ipc sockets, executor specs and the
 * default workspaces.
 *
 * Each flow makes BASE/flowhost-XXXXXX (BASE: $XDG_RUNTIME_DIR, or /tmp when that is
 * unset, not absolute or not writable; XXXXXX: 6 letters or digits from mkdtemp), mode
 * 0700, takes an flock on the directory itself, then writes its pid into the owner file
 * flowhost.pid inside, and holds the lock for as long as it runs. A directory with an
 * owner file and a free lock belongs to a flow that is gone without cleaning up
 * (SIGKILL, abort, power loss): the next flow started with the same BASE removes it
 * (fh_runtime_dir_sweep). One without an owner file (being set up, or made by a
 * flowhost that predates the lock) is never touched.
 *
 * Removal never follows a symlink, never leaves the directory's file system and never
 * works on a path that could be swapped under it: it walks with openat(O_NOFOLLOW) and
 * unlinkat from descriptors, so that whatever a plugin plants inside (a symlink to
 * /etc, a directory swapped for a symlink) is removed itself and nothing it points to.
 */
#ifndef FH_HOST_RUNTIME_DIR_H
#define FH_HOST_RUNTIME_DIR_H

typedef struct fh_runtime_dir fh_runtime_dir;

/* Removes the stale runtime directories under BASE (see fh_runtime_dir_sweep; its
 * failures are ignored), then makes a new directory, mode 0700, and locks it. Stores a
 * new handle in *OUT that the caller ends with fh_runtime_dir_remove(). Returns 0, or
 * FH_E_IO ("cannot create a runtime directory in BASE: why") or FH_E_NOMEM. */
int fh_runtime_dir_create(fh_runtime_dir **out);

/* The directory's absolute path, owned by D and valid until fh_runtime_dir_remove(). */
const char *fh_runtime_dir_path(const fh_runtime_dir *d);

/* Removes the directory and everything in it (without following links), releases its
 * lock, frees *D and sets it to NULL. Accepts NULL. Errors are ignored: this runs on the
 * way out, and what stays (say, a file a leftover process still writes) is removed by
 * the sweep of a later flow. */
void fh_runtime_dir_remove(fh_runtime_dir **d);

/* Removes every stale runtime directory directly under BASE: an entry named
 * flowhost-XXXXXX that is a real directory (not a symlink) owned by this process's
 * effective user, that holds an owner file and whose lock nobody holds. Anything else
 * (other names, other users' directories, symlinks, directories of running flows or of
 * flows being set up) is left alone. Returns how many were removed, or -1 when BASE
 * cannot be read (errno set). */
int fh_runtime_dir_sweep(const char *base);

#endif

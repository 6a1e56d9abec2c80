/* The private runtime directory of a running flow: ipc sockets and executor specs. */
#ifndef FH_HOST_RUNTIME_DIR_H
#define FH_HOST_RUNTIME_DIR_H

/* Makes a new directory, mode 0700, under $XDG_RUNTIME_DIR or /tmp, and returns its path
 * (malloc'd, the caller frees) in *OUT. Returns 0 or FH_E_IO. */
int fh_runtime_dir_create(char **out);

/* Removes DIR and everything in it (the default workspaces live there too). Errors are
 * ignored: this runs on the way out. */
void fh_runtime_dir_remove(const char *dir);

#endif

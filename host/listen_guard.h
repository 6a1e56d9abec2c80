/* Guards of a listening TCP socket against running out of descriptors: shared by the
 * gateway's client door and a remote worker's listener. */
#ifndef FH_HOST_LISTEN_GUARD_H
#define FH_HOST_LISTEN_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/* Raises the soft descriptor limit of the process to the hard one; returns the limit
 * then in force, at most 2^20 (connections are tracked by descriptor: an unlimited hard
 * limit is not a size), or 1024 when it cannot be read. Never fails. */
size_t fh_raise_fd_limit(void);

/* Holds new connections on the listening socket FD back in the kernel (ON: a filter
 * that drops every packet, so none completes and no descriptor is spent) or lets them
 * in again. Returns 0, or -1 with errno set (the socket is left as it was). */
int fh_listen_hold_back(int fd, bool on);

#endif

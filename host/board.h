/* A worker's board: one word of memory shared by the gateway and a local worker process,
 * saying which request the worker began last.
 *
 * The gateway keeps several requests queued at a worker (credit). When the worker dies,
 * the gateway must know which of them it was running: that one failed with it, the ones
 * behind it were never started and go to another worker, and none may run twice. Replies
 * cannot tell: a worker that sends a reply and dies a moment later loses it inside
 * ZeroMQ. So before it touches a request, the worker stores the request's number (the
 * n-th REQUEST it received, from 1) with its own pid in one atomic word of a file in the
 * flow's private runtime directory, which both map. That is a plain store per request:
 * no system call, no message.
 *
 * The pid makes a word left by an earlier process of the same worker recognisable. */
#ifndef FH_HOST_BOARD_H
#define FH_HOST_BOARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct fh_board fh_board;

/* Gateway side: creates the file PATH (it must not exist; mode 0600) and maps it. Stores
 * the board in *OUT (free with fh_board_close; the file stays until the runtime
 * directory goes). Returns 0, or FH_E_IO / FH_E_NOMEM with the error set. */
int fh_board_create(const char *path, fh_board **out);

/* Worker side: maps the existing file PATH. Returns 0, or FH_E_IO / FH_E_NOMEM with the
 * error set. */
int fh_board_open(const char *path, fh_board **out);

/* Worker side: this process (PID) begins its request number SEQ (0: none yet, said once
 * at the start so that the gateway knows the board works). Accepts a NULL board. */
void fh_board_begin(fh_board *b, pid_t pid, uint64_t seq);

/* Gateway side: whether process PID has written the board; if so, *SEQ32 gets the low 32
 * bits of the number of the request it began last (the caller knows the rest: it holds
 * fewer than 2^32 requests). False for a NULL board. */
bool fh_board_read(const fh_board *b, pid_t pid, uint32_t *seq32);

/* Unmaps B and frees it; sets *B to NULL. Accepts NULL. */
void fh_board_close(fh_board **b);

#endif

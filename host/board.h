/* A worker's board: two words of memory shared by the gateway and a local worker process,
 * saying which requests the worker's current handler call runs.
 *
 * The gateway keeps several requests queued at a worker (credit). When the worker dies,
 * the gateway must know which of them it was running: that one failed with it, the ones
 * behind it were never started and go to another worker, and none may run twice. Replies
 * cannot tell: a worker that sends a reply and dies a moment later loses it inside
 * ZeroMQ. So before it runs a handler, the worker stores the numbers of the first and
 * the last request the call runs (the n-th REQUEST it received, from 1: a batch runs
 * several at once), the last with its own pid in one atomic word, in a file of the
 * flow's private runtime directory, which both map. Two plain stores per call: no system
 * call, no message.
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

/* Worker side: this process (PID) begins running its requests number FIRST to LAST (0, 0:
 * none yet, said once at the start so that the gateway knows the board works). Accepts a
 * NULL board. */
void fh_board_begin(fh_board *b, pid_t pid, uint64_t first, uint64_t last);

/* Gateway side: whether process PID has written the board; if so, *FIRST32 and *LAST32
 * get the low 32 bits of the numbers of the requests it began last (the caller knows the
 * rest: it holds fewer than 2^32 requests). False for a NULL board. */
bool fh_board_read(const fh_board *b, pid_t pid, uint32_t *first32, uint32_t *last32);

/* Unmaps B and frees it; sets *B to NULL. Accepts NULL. */
void fh_board_close(fh_board **b);

#endif

/* The worker's board: see board.h. */
#define _GNU_SOURCE
#include "board.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <flowhost/error.h>

/* The shared mapping: word[1] is the first request's number; word[0] is pid << 32 | the
 * last one's, stored after it (release), so that a reader that sees PID in word[0] (acquire)
 * sees that process's word[1]. */
#define BOARD_BYTES (2 * sizeof(uint64_t))

struct fh_board {
    _Atomic uint64_t *word;
};

static int map_fd(int fd, const char *path, fh_board **out)
{
    fh_board *b = malloc(sizeof *b);
    void *p = b ? mmap(NULL, BOARD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                : MAP_FAILED;
    int err = errno;
    close(fd);
    if (b == NULL) {
        return fh_set_error(FH_E_NOMEM, "out of memory");
    }
    if (p == MAP_FAILED) {
        free(b);
        return fh_set_error(FH_E_IO, "cannot map %s: %s", path, strerror(err));
    }
    b->word = p;
    *out = b;
    return 0;
}

int fh_board_create(const char *path, fh_board **out)
{
    *out = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return fh_set_error(FH_E_IO, "cannot create %s: %s", path, strerror(errno));
    if (ftruncate(fd, BOARD_BYTES) != 0) {
        int err = errno;
        close(fd);
        return fh_set_error(FH_E_IO, "cannot size %s: %s", path, strerror(err));
    }
    return map_fd(fd, path, out);
}

int fh_board_open(const char *path, fh_board **out)
{
    *out = NULL;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fh_set_error(FH_E_IO, "cannot open %s: %s", path, strerror(errno));
    return map_fd(fd, path, out);
}

void fh_board_begin(fh_board *b, pid_t pid, uint64_t first, uint64_t last)
{
    if (b == NULL)
        return;
    atomic_store_explicit(&b->word[1], first & 0xffffffffu, memory_order_relaxed);
    atomic_store_explicit(&b->word[0], (uint64_t)(uint32_t)pid << 32 | (last & 0xffffffffu),
                          memory_order_release);
}

bool fh_board_read(const fh_board *b, pid_t pid, uint32_t *first32, uint32_t *last32)
{
    if (b == NULL)
        return false;
    uint64_t w = atomic_load_explicit(&b->word[0], memory_order_acquire);
    if ((uint32_t)(w >> 32) != (uint32_t)pid)
        return false;
    *last32 = (uint32_t)w;
    *first32 = (uint32_t)atomic_load_explicit(&b->word[1], memory_order_relaxed);
    return true;
}

void fh_board_close(fh_board **b)
{
    if (b == NULL || *b == NULL)
        return;
    munmap((void *)(*b)->word, BOARD_BYTES);
    free(*b);
    *b = NULL;
}

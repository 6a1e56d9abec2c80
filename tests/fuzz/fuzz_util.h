/* Helpers shared by the fuzz targets: the input as a file the parsers can open by path. */
#ifndef FH_FUZZ_UTIL_H
#define FH_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Writes DATA into a new anonymous in-memory file and puts "/proc/self/fd/N" in PATH.
 * Returns the descriptor (close it after the parser is done) or aborts: a fuzz harness
 * that cannot set up its input must not report "no crash". */
static int fh_fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t path_len)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            perror("write");
            abort();
        }
        off += (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) != 0)
        abort();
    snprintf(path, path_len, "/proc/self/fd/%d", fd);
    return fd;
}

#endif

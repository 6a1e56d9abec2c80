/* Helpers shared by the fuzz targets: the input as a file the parsers can open by path,
 * and a source read to its end. */
#ifndef FH_FUZZ_UTIL_H
#define FH_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <flowhost/json.h>
#include <flowhost/source.h>

/* Writes all SIZE bytes of DATA to FD, or aborts: a fuzz harness that cannot set up its
 * input must not report "no crash". */
static inline void fh_fuzz_write_all(int fd, const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            perror("write");
            abort();
        }
        off += (size_t)n;
    }
}

/* Writes DATA into a new anonymous in-memory file and puts "/proc/self/fd/N" in PATH.
 * Returns the descriptor (close it after the parser is done) or aborts. */
static inline int fh_fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t path_len)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    fh_fuzz_write_all(fd, data, size);
    if (lseek(fd, 0, SEEK_SET) != 0)
        abort();
    snprintf(path, path_len, "/proc/self/fd/%d", fd);
    return fd;
}

/* Opens the source at PATH as FORMAT with O and reads every document, each turned into
 * JSON as well; what does not open is simply done with. */
static inline void fh_fuzz_read_source(const char *path, fh_source_format format,
                                const fh_source_options *o)
{
    fh_source *s = NULL;
    if (fh_source_open(path, format, o, &s) != 0)
        return;
    fh_doc *d = NULL;
    while (fh_source_next(s, &d) == 1) {
        free(fh_doc_to_json(d));
        fh_doc_destroy(&d);
    }
    fh_source_close(&s);
}

#endif

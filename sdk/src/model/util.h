/* Internal helpers shared by the SDK and the host. */
#ifndef FH_SDK_UTIL_H
#define FH_SDK_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Wall-clock time in microseconds since the Unix epoch. */
int64_t fh_now_us(void);

/* Monotonic time in milliseconds, for timeouts. */
int64_t fh_monotonic_ms(void);

/* Monotonic time in microseconds, for durations. */
int64_t fh_monotonic_us(void);

/* Writes NHEX random lowercase hex digits and a NUL into OUT (which holds NHEX + 1
 * bytes). Fast (a per-thread generator seeded from getrandom), not for secrets. */
void fh_random_hex(char *out, size_t nhex);

/* Formats US (microseconds since the epoch) as "2021-06-23T06:04:37.896226Z" into OUT
 * (at least 32 bytes). */
void fh_format_time_us(int64_t us, char *out, size_t size);

/* The largest file fh_read_file reads: 16 MiB. It reads configuration (flow and executor
 * YAML, executor specs), which is small; the bound keeps a wrong path (a log, a disk
 * image) from taking the machine's memory. */
#define FH_READ_FILE_MAX ((size_t)16 << 20)

/* Reads the regular file PATH whole into a new NUL-terminated buffer the caller frees;
 * *LEN (may be NULL) gets its length. A symlink is followed; what it leads to must be a
 * regular file: a FIFO, a device (/dev/zero), a socket is refused without being read and
 * without blocking. A file of more than FH_READ_FILE_MAX bytes is refused, also one that
 * grows while it is read or says it is empty (/proc): at most FH_READ_FILE_MAX + 1 bytes
 * are read. Returns 0, or on failure (*OUT NULL) FH_E_IO with "PATH: not a regular file",
 * "PATH: Is a directory" or "PATH: strerror", FH_E_RANGE with "PATH: larger than 16 MiB",
 * FH_E_NOMEM. */
int fh_read_file(const char *path, char **out, size_t *len);

/* fh_read_file with NAME in the place of PATH in its messages ("NAME: not a regular
 * file"), for a caller that names the file the way its user wrote it. NAME NULL: PATH. */
int fh_read_file_as(const char *path, const char *name, char **out, size_t *len);

/* Opens PATH for reading ("-" is standard input, which the caller must not fclose). A
 * directory is refused. Returns the stream, or NULL with errno set. */
FILE *fh_open_input(const char *path);

#endif

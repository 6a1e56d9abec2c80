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

/* Writes NHEX random lowercase hex digits and a NUL into OUT (which holds NHEX + 1
 * bytes). Fast (a per-thread generator seeded from getrandom), not for secrets. */
void fh_random_hex(char *out, size_t nhex);

/* Formats US (microseconds since the epoch) as "2021-06-23T06:04:37.896226Z" into OUT
 * (at least 32 bytes). */
void fh_format_time_us(int64_t us, char *out, size_t size);

/* Reads a whole file into a new NUL-terminated buffer the caller frees; *LEN gets its
 * length. Returns 0 or FH_E_IO ("PATH: strerror"), FH_E_NOMEM. */
int fh_read_file(const char *path, char **out, size_t *len);

/* Opens PATH for reading ("-" is standard input, which the caller must not fclose). A
 * directory is refused. Returns the stream, or NULL with errno set. */
FILE *fh_open_input(const char *path);

#endif

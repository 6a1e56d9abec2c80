/* Small helpers shared by the SDK and the host: clocks, random ids, file reading. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/error.h>

int64_t fh_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t fh_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fh_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Per-thread splitmix64 state: ids are made on hot paths (one per document), so one
 * getrandom per thread and plain arithmetic afterwards, no system call. A fork()ed child
 * would repeat its parent's sequence: a fork handler marks the state unseeded in the
 * child (the forking thread's is the only one there), and the seed mixes in the pid. (A
 * child made without fork handlers, by _Fork() or a raw clone, is not covered.) */
static _Thread_local uint64_t fh_rng_state;
static _Thread_local pid_t fh_rng_pid;
static pthread_once_t fh_rng_once = PTHREAD_ONCE_INIT;

static void fh_rng_forked(void) { fh_rng_pid = 0; }

static void fh_rng_register(void) { pthread_atfork(NULL, NULL, fh_rng_forked); }

static uint64_t fh_splitmix64(void)
{
    uint64_t z = (fh_rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fh_rng_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        /* No entropy yet (very early boot): time and address still make ids unique
         * enough for a non-secret purpose. */
        seed = (uint64_t)fh_now_us() ^ (uint64_t)(uintptr_t)&seed;
    }
    fh_rng_pid = getpid();
    fh_rng_state = seed ^ ((uint64_t)fh_rng_pid << 32);
}

void fh_random_hex(char *out, size_t nhex)
{
    static const char digits[] = "0123456789abcdef";
    if (fh_rng_pid == 0) {
        pthread_once(&fh_rng_once, fh_rng_register);
        fh_rng_seed();
    }
    size_t i = 0;
    while (i < nhex) {
        uint64_t r = fh_splitmix64();
        for (int k = 0; k < 16 && i < nhex; k++, r >>= 4)
            out[i++] = digits[r & 0xf];
    }
    out[nhex] = '\0';
}

void fh_format_time_us(int64_t us, char *out, size_t size)
{
    /* Floor division so that times before the epoch still get a positive fraction. */
    int64_t sec = us / 1000000;
    int64_t frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, size, "invalid-time");
        return;
    }
    char date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%06lldZ", date, (long long)frac);
}

int fh_read_file(const char *path, char **out, size_t *len)
{
    return fh_read_file_as(path, path, out, len);
}

/* Reads FD (a regular file of SIZE bytes by fstat) to its end into a new buffer, at most
 * FH_READ_FILE_MAX + 1 bytes. Returns 0 (*N bytes), or errno's value, or -1 when the file
 * is larger than FH_READ_FILE_MAX. */
static int read_bounded(int fd, off_t size, char **out, size_t *n)
{
    size_t cap = size > 0 && (size_t)size < FH_READ_FILE_MAX ? (size_t)size + 1 : 4096;
    size_t used = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return ENOMEM;
    for (;;) {
        if (used == cap) {
            /* Room for one byte past the bound, so that a longer file is seen as such. */
            if (cap > FH_READ_FILE_MAX) {
                free(buf);
                return -1;
            }
            size_t bigger = cap * 2 > FH_READ_FILE_MAX ? FH_READ_FILE_MAX + 1 : cap * 2;
            char *b = realloc(buf, bigger + 1);
            if (!b) {
                free(buf);
                return ENOMEM;
            }
            buf = b;
            cap = bigger;
        }
        ssize_t got = read(fd, buf + used, cap - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            free(buf);
            return err;
        }
        if (got == 0)
            break;
        used += (size_t)got;
    }
    if (used > FH_READ_FILE_MAX) {
        free(buf);
        return -1;
    }
    buf[used] = '\0';
    *out = buf;
    *n = used;
    return 0;
}

int fh_read_file_as(const char *path, const char *name, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    if (!name)
        name = path;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below);
     * O_NOCTTY: a terminal named by mistake does not become ours. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return fh_set_error(FH_E_IO, "%s: %s", name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return fh_set_error(FH_E_IO, "%s: %s", name, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (S_ISDIR(st.st_mode))
            return fh_set_error(FH_E_IO, "%s: %s", name, strerror(EISDIR));
        return fh_set_error(FH_E_IO, "%s: not a regular file", name);
    }
    if ((uintmax_t)st.st_size > FH_READ_FILE_MAX) {
        close(fd);
        return fh_set_error(FH_E_RANGE, "%s: larger than %zu MiB", name,
                            FH_READ_FILE_MAX >> 20);
    }
    /* A regular file never blocks; back to plain reads for file systems that care. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    size_t n = 0;
    int rc = read_bounded(fd, st.st_size, out, &n);
    close(fd);
    if (rc < 0)
        return fh_set_error(FH_E_RANGE, "%s: larger than %zu MiB", name,
                            FH_READ_FILE_MAX >> 20);
    if (rc == ENOMEM)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", name);
    if (rc != 0)
        return fh_set_error(FH_E_IO, "%s: %s", name, strerror(rc));
    if (len)
        *len = n;
    return 0;
}

FILE *fh_open_input(const char *path)
{
    if (strcmp(path, "-") == 0)
        return stdin;
    FILE *f = fopen(path, "r");
    struct stat st;
    if (f != NULL && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        errno = EISDIR; /* fopen succeeds on a directory; reading it would fail later */
        return NULL;
    }
    return f;
}

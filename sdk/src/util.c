/* Small helpers shared by the SDK and the host: clocks, random ids, file reading. */
#include "util.h"

#include <errno.h>
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
    *out = NULL;
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                fclose(f);
                return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        int err = errno;
        free(buf);
        fclose(f);
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(err ? err : EIO));
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
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

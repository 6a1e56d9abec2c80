/* Internal: the per-format readers behind fh_source (source.h).
 *
 * Each format has an opener that fills an fh_source_reader: a vtable and the reader's
 * own state. source.c owns the generic part (format detection, `size`, `sampling_rate`)
 * and calls the reader for the next document; the reader knows only its format.
 *
 * Openers return 0, or a negative FH_E_ code with fh_last_error() set (the message names
 * the file); on failure they leave nothing allocated. `next` returns 1 with *OUT set (the
 * caller owns it), 0 at the end, or a negative code with fh_last_error() set. `close`
 * frees the state and accepts NULL.
 */
#ifndef FH_SDK_SOURCE_INTERNAL_H
#define FH_SDK_SOURCE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flowhost/document.h>
#include <flowhost/source.h>
#include <flowhost/value.h>

typedef struct fh_source_reader_ops {
    int (*next)(void *state, fh_doc **out);
    void (*close)(void *state);
    /* NULL when the format cannot wait without blocking; else puts the reader in
     * nowait mode (next may return FH_SOURCE_WAIT) and returns the descriptor to wait
     * on. */
    int (*wait_fd)(void *state);
} fh_source_reader_ops;

typedef struct fh_source_reader {
    const fh_source_reader_ops *ops; /* the format's functions */
    void *state;                     /* the format's state, owned by the reader */
} fh_source_reader;

/* SEED is the non-zero seed of the source, for formats that shuffle (.npy). */
int fh_source_open_ndjson(const char *path, const fh_source_options *o, fh_source_reader *r);
int fh_source_open_csv(const char *path, const fh_source_options *o, fh_source_reader *r);
int fh_source_open_files(const char *pattern, const fh_source_options *o,
                         fh_source_reader *r);
int fh_source_open_npy(const char *path, const fh_source_options *o, uint64_t seed,
                       fh_source_reader *r);

/* True when NAME is a field of a document (id, text, tags, embedding, ...). */
bool fh_source_is_doc_field(const char *name);

/* Checks that a field resolver is NULL or a map of strings to non-empty strings:
 * 0, or FH_E_INVAL naming PATH and the offending entry. */
int fh_source_check_resolver(const char *path, const fh_value *resolver);

/* splitmix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator. Seeded sources
 * must give the same documents on every run and every machine, so the generator is
 * ours, not rand(). */
static inline uint64_t fh_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A uniform integer in [0, N) without modulo bias; N > 0. */
static inline uint64_t fh_random_below(uint64_t *state, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* values >= limit would favour small results */
    uint64_t x;
    do
        x = fh_splitmix64(state);
    while (x >= limit);
    return x % n;
}

#endif

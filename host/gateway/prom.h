/* A registry of Prometheus metrics whose every series is known when it is built, and its
 * writer in the text exposition format 0.0.4 (what `GET /metrics` answers).
 *
 * The shape: a registry holds DIMENSIONS and FAMILIES.
 *   - A dimension is a table of label values: a few label names (the columns) and a fixed
 *     number of rows, each row one tuple of values (a worker: executor, shard, replica; an
 *     endpoint; a status). A row is printed only once it has values (fh_prom_dim_row); rows
 *     may be filled late (an endpoint first seen at run time), never changed.
 *   - A family is one metric name (counter, gauge or histogram) over one or more
 *     dimensions: it has one series per combination of rows, numbered in mixed radix (the
 *     last dimension varies fastest, fh_prom_series computes the number). Its storage is
 *     allocated once, when it is declared.
 * So the number of series is bounded by construction, and an update is an index into an
 * array: no allocation, no string, no lock. Values are integers: counters and histogram
 * observations are unsigned, gauges signed; a histogram's bounds and observations share an
 * integer unit and a SCALE (a power of ten) by which the writer divides them, exactly, to
 * print the metric's base unit (microseconds observed, seconds printed: scale 1000000).
 *
 * The writer follows the format's rules: `# HELP` (its text escaped: backslash, newline)
 * and `# TYPE` once per family before its samples, a family's samples grouped, label
 * values escaped (backslash, double quote, newline) and made valid UTF-8 (a byte that
 * does not start a valid sequence is written as U+FFFD), histogram buckets cumulative in
 * ascending `le` with a last `le="+Inf"` equal to `_count`, then `_sum` and `_count`, every
 * line ending in a newline. A family with no printable series writes nothing at all.
 *
 * Single-threaded: one thread updates and writes (the gateway's loop). */
#ifndef FH_GATEWAY_PROM_H
#define FH_GATEWAY_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_PROM_MAX_LABELS 4    /* label names of one dimension, at most */
#define FH_PROM_MAX_DIMS 4      /* dimensions of one family, at most */
#define FH_PROM_MAX_BOUNDS 64   /* finite bucket bounds of one histogram, at most */
#define FH_PROM_MAX_SERIES ((size_t)1 << 20) /* series of one family, at most */

/* What `GET /metrics` says it answers. */
#define FH_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum fh_prom_type {
    FH_PROM_COUNTER,
    FH_PROM_GAUGE,
    FH_PROM_HISTOGRAM,
} fh_prom_type;

/* A caller's growable text buffer: the writer appends to DATA (always NUL-terminated
 * once anything was written) and grows it with realloc. Start it zeroed
 * (`fh_prom_buf b = {0};`), reuse it across scrapes (set LEN to 0: the memory stays),
 * free it with fh_prom_buf_free. */
typedef struct fh_prom_buf {
    char *data;   /* malloc'd, owned by whoever owns the struct */
    size_t len;   /* bytes written, the NUL aside */
    size_t cap;   /* bytes allocated */
} fh_prom_buf;

/* Frees B's memory and zeroes it. B may be NULL. */
void fh_prom_buf_free(fh_prom_buf *b);

typedef struct fh_prom fh_prom;

/* A new empty registry into *OUT (the caller destroys it with fh_prom_destroy). Returns 0
 * or FH_E_NOMEM (*OUT NULL). */
int fh_prom_new(fh_prom **out);

/* Frees the registry and everything it allocated, and sets *P to NULL. P or *P may be
 * NULL. The strings given to fh_prom_dim_row are the caller's and are not touched. */
void fh_prom_destroy(fh_prom **p);

/* Declares a dimension of ROWS rows (at least 1) whose rows hold the N label names
 * LABELS[0..N-1] (1..FH_PROM_MAX_LABELS, copied; each a valid Prometheus label name:
 * [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", not "le"; none twice). Every row starts empty
 * (not printed). Returns the dimension's id (>= 0), or FH_E_INVAL (a bad name or count,
 * with fh_last_error() naming it) or FH_E_NOMEM. */
int fh_prom_dim(fh_prom *p, const char *const *labels, size_t n, size_t rows);

/* Gives row ROW of dimension DIM its label values VALUES[0..n-1] (n: the dimension's
 * label count), and so makes the series over it printable. The strings are BORROWED:
 * they must stay valid and unchanged for the registry's life (the caller keeps them in
 * memory it owns; nothing is copied, so this never allocates and may be called on a hot
 * path). Any bytes are accepted: the writer escapes them. Returns 0, or FH_E_INVAL (no
 * such dimension or row, a NULL value) or FH_E_STATE (the row has values already). */
int fh_prom_dim_row(fh_prom *p, int dim, size_t row, const char *const *values);

/* Declares a family NAME (a valid metric name, [a-zA-Z_:][a-zA-Z0-9_:]*, unique in the
 * registry; copied) of TYPE with HELP (any text, copied) over the N dimensions DIMS[0..N-1]
 * (0..FH_PROM_MAX_DIMS ids from fh_prom_dim; none: one series without labels; no label
 * name twice among them). Its series start at 0. A histogram takes N_BOUNDS
 * (1..FH_PROM_MAX_BOUNDS) finite bucket bounds BOUNDS (copied, strictly increasing) and
 * the SCALE (1, 10, 100, ... 10^18) its bounds and observations are divided by when
 * printed; counters and gauges pass NULL, 0 and 1. Families are written in the order
 * they are declared. Returns the family's id (>= 0), or FH_E_INVAL (with
 * fh_last_error() saying which argument) or FH_E_NOMEM. */
int fh_prom_family(fh_prom *p, const char *name, const char *help, fh_prom_type type,
                   const int *dims, size_t n, const uint64_t *bounds, size_t n_bounds,
                   uint64_t scale);

/* The number of the series of FAMILY at the rows ROWS[0..n-1], one per dimension of the
 * family in its order (the last varies fastest); for a family without dimensions, 0.
 * Returns (size_t)-1 for no such family or a row out of range. */
size_t fh_prom_series(const fh_prom *p, int family, const size_t *rows);

/* The updates. None allocates, formats or fails: a family or series out of range, or a
 * type that does not fit (adding to a histogram, setting a counter), is ignored. O(1) but for observe, which
 * compares the value with each bound (at most FH_PROM_MAX_BOUNDS), without a branch. */

/* Adds N to counter (or gauge) series SERIES of FAMILY. Counters wrap at 2^64. */
void fh_prom_add(fh_prom *p, int family, size_t series, uint64_t n);

/* Sets gauge series SERIES of FAMILY to V (a counter is never set: it only goes up). */
void fh_prom_set(fh_prom *p, int family, size_t series, int64_t v);

/* Records V (in the histogram's integer unit) into histogram series SERIES of FAMILY: the
 * first bucket whose bound is >= V (the +Inf one past them), the sum and the count. */
void fh_prom_observe(fh_prom *p, int family, size_t series, uint64_t v);

/* Reads back: the value of counter or gauge series SERIES (a gauge's as int64_t cast),
 * the count of a histogram's series, or 0 out of range. For tests and status pages. */
uint64_t fh_prom_value(const fh_prom *p, int family, size_t series);

/* The Q quantile (0 <= Q <= 1) of the sum of the N histogram series FIRST..FIRST+N-1 of
 * FAMILY, in the printed unit (observations divided by the scale), estimated as
 * Prometheus' histogram_quantile() does: the bucket the rank Q x count falls in, and a
 * linear interpolation between its bounds (the first bucket starts at 0; a rank in the
 * +Inf bucket gives the last finite bound). NaN when the series hold no observation, Q is
 * out of range or FAMILY is not a histogram; series out of range are left out. For status
 * pages: reads, never changes anything. */
double fh_prom_quantile(const fh_prom *p, int family, size_t first, size_t n, double q);

/* True when the N bytes at S are valid UTF-8 (no overlong form, surrogate or code point
 * past U+10FFFF): the writer prints them as they are, escapes aside, where it replaces
 * each byte of an invalid sequence with U+FFFD. */
bool fh_prom_utf8_valid(const char *s, size_t n);

/* Appends the whole registry to OUT in the text format 0.0.4 (see the top of this file).
 * Returns 0, or FH_E_NOMEM: OUT then holds what was written before (OUT->len may have
 * grown), still NUL-terminated when it has memory; the caller discards it. */
int fh_prom_write(const fh_prom *p, fh_prom_buf *out);

#endif

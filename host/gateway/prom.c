/* The Prometheus registry and its text writer: see prom.h.
 *
 * Storage: each family has one array of 64-bit cells, CELLS_PER series each: a counter's
 * or gauge's value (one cell), or a histogram's per-bucket counts (not cumulative, so an
 * observation touches one bucket) then its +Inf bucket then its sum (n_bounds + 2 cells).
 * The writer makes the buckets cumulative and the count from them. */
#include "prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

typedef struct prom_dim {
    char *labels[FH_PROM_MAX_LABELS]; /* label names, owned */
    size_t n_labels;
    size_t rows;
    const char **values;          /* rows x n_labels borrowed strings; row r is set when
                                     values[r * n_labels] is not NULL */
} prom_dim;

typedef struct prom_family {
    char *name, *help;            /* owned */
    fh_prom_type type;
    int dims[FH_PROM_MAX_DIMS];
    size_t n_dims;
    size_t n_series;
    size_t cells_per;             /* cells per series */
    uint64_t *cells;              /* n_series x cells_per */
    uint64_t *bounds;             /* a histogram's finite bounds, owned */
    size_t n_bounds;
    uint64_t scale;
} prom_family;

struct fh_prom {
    prom_dim *dims;
    size_t n_dims;
    prom_family *fams;
    size_t n_fams;
};

/* ---- names ---- */

static bool valid_name(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (const char *c = s; *c; c++) {
        bool alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
                     (colon && *c == ':');
        bool digit = *c >= '0' && *c <= '9';
        if (!alpha && !(digit && c != s))
            return false;
    }
    return true;
}

static bool valid_label_name(const char *s)
{
    return valid_name(s, false) && strncmp(s, "__", 2) != 0 && strcmp(s, "le") != 0;
}

/* ---- the registry ---- */

int fh_prom_new(fh_prom **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : fh_set_error(FH_E_NOMEM, "metrics: out of memory");
}

void fh_prom_destroy(fh_prom **pp)
{
    if (!pp || !*pp)
        return;
    fh_prom *p = *pp;
    for (size_t i = 0; i < p->n_dims; i++) {
        for (size_t l = 0; l < p->dims[i].n_labels; l++)
            free(p->dims[i].labels[l]);
        free(p->dims[i].values);
    }
    for (size_t i = 0; i < p->n_fams; i++) {
        free(p->fams[i].name);
        free(p->fams[i].help);
        free(p->fams[i].cells);
        free(p->fams[i].bounds);
    }
    free(p->dims);
    free(p->fams);
    free(p);
    *pp = NULL;
}

int fh_prom_dim(fh_prom *p, const char *const *labels, size_t n, size_t rows)
{
    if (n == 0 || n > FH_PROM_MAX_LABELS || rows == 0 || rows > FH_PROM_MAX_SERIES)
        return fh_set_error(FH_E_INVAL, "metrics: a dimension takes 1 to %d labels and 1 to "
                            "%zu rows, not %zu and %zu", FH_PROM_MAX_LABELS,
                            FH_PROM_MAX_SERIES, n, rows);
    for (size_t l = 0; l < n; l++) {
        if (!valid_label_name(labels[l]))
            return fh_set_error(FH_E_INVAL, "metrics: '%s' is not a label name a dimension "
                                "may use", labels[l] ? labels[l] : "(null)");
        for (size_t k = 0; k < l; k++)
            if (strcmp(labels[k], labels[l]) == 0)
                return fh_set_error(FH_E_INVAL, "metrics: label '%s' twice", labels[l]);
    }
    prom_dim *grown = realloc(p->dims, (p->n_dims + 1) * sizeof *grown);
    if (!grown)
        return fh_set_error(FH_E_NOMEM, "metrics: out of memory");
    p->dims = grown;
    prom_dim *d = &p->dims[p->n_dims];
    memset(d, 0, sizeof *d);
    d->values = calloc(rows * n, sizeof *d->values);
    for (size_t l = 0; l < n && d->values; l++)
        if (!(d->labels[l] = strdup(labels[l])))
            break;
    if (!d->values || !d->labels[n - 1]) {
        for (size_t l = 0; l < n; l++)
            free(d->labels[l]);
        free(d->values);
        return fh_set_error(FH_E_NOMEM, "metrics: out of memory");
    }
    d->n_labels = n;
    d->rows = rows;
    return (int)p->n_dims++;
}

int fh_prom_dim_row(fh_prom *p, int dim, size_t row, const char *const *values)
{
    if (dim < 0 || (size_t)dim >= p->n_dims || row >= p->dims[dim].rows || !values)
        return fh_set_error(FH_E_INVAL, "metrics: no row %zu in dimension %d", row, dim);
    prom_dim *d = &p->dims[dim];
    const char **slot = &d->values[row * d->n_labels];
    if (slot[0])
        return fh_set_error(FH_E_STATE, "metrics: row %zu of dimension %d has its values",
                            row, dim);
    for (size_t l = 0; l < d->n_labels; l++)
        if (!values[l])
            return fh_set_error(FH_E_INVAL, "metrics: label '%s' of row %zu has no value",
                                d->labels[l], row);
    /* The first value last: it is the row's "set" mark. */
    for (size_t l = d->n_labels; l-- > 0;)
        slot[l] = values[l];
    return 0;
}

static int family_check(const fh_prom *p, const char *name, fh_prom_type type,
                        const int *dims, size_t n, const uint64_t *bounds, size_t n_bounds,
                        uint64_t scale, size_t *series)
{
    if (!valid_name(name, true))
        return fh_set_error(FH_E_INVAL, "metrics: '%s' is not a metric name",
                            name ? name : "(null)");
    for (size_t i = 0; i < p->n_fams; i++)
        if (strcmp(p->fams[i].name, name) == 0)
            return fh_set_error(FH_E_INVAL, "metrics: %s declared twice", name);
    if (type != FH_PROM_COUNTER && type != FH_PROM_GAUGE && type != FH_PROM_HISTOGRAM)
        return fh_set_error(FH_E_INVAL, "metrics: %s: unknown type %d", name, (int)type);
    if (n > FH_PROM_MAX_DIMS || (n > 0 && !dims))
        return fh_set_error(FH_E_INVAL, "metrics: %s: at most %d dimensions", name,
                            FH_PROM_MAX_DIMS);
    *series = 1;
    for (size_t i = 0; i < n; i++) {
        if (dims[i] < 0 || (size_t)dims[i] >= p->n_dims)
            return fh_set_error(FH_E_INVAL, "metrics: %s: no dimension %d", name, dims[i]);
        const prom_dim *d = &p->dims[dims[i]];
        for (size_t j = 0; j < i; j++)
            for (size_t a = 0; a < d->n_labels; a++)
                for (size_t b = 0; b < p->dims[dims[j]].n_labels; b++)
                    if (strcmp(d->labels[a], p->dims[dims[j]].labels[b]) == 0)
                        return fh_set_error(FH_E_INVAL, "metrics: %s: label '%s' twice",
                                            name, d->labels[a]);
        if (d->rows > FH_PROM_MAX_SERIES / *series)
            return fh_set_error(FH_E_INVAL, "metrics: %s: more than %zu series", name,
                                FH_PROM_MAX_SERIES);
        *series *= d->rows;
    }
    if (type != FH_PROM_HISTOGRAM)
        return bounds || n_bounds || scale != 1
                   ? fh_set_error(FH_E_INVAL, "metrics: %s: only a histogram has buckets",
                                  name)
                   : 0;
    if (!bounds || n_bounds == 0 || n_bounds > FH_PROM_MAX_BOUNDS)
        return fh_set_error(FH_E_INVAL, "metrics: %s: a histogram takes 1 to %d bounds",
                            name, FH_PROM_MAX_BOUNDS);
    for (size_t i = 1; i < n_bounds; i++)
        if (bounds[i] <= bounds[i - 1])
            return fh_set_error(FH_E_INVAL, "metrics: %s: bounds must increase", name);
    uint64_t s = scale;
    while (s >= 10 && s % 10 == 0)
        s /= 10;
    if (s != 1)
        return fh_set_error(FH_E_INVAL, "metrics: %s: the scale %" PRIu64 " is not a "
                            "power of ten", name, scale);
    return 0;
}

int fh_prom_family(fh_prom *p, const char *name, const char *help, fh_prom_type type,
                   const int *dims, size_t n, const uint64_t *bounds, size_t n_bounds,
                   uint64_t scale)
{
    size_t series = 0;
    int rc = family_check(p, name, type, dims, n, bounds, n_bounds, scale, &series);
    if (rc != 0)
        return rc;
    prom_family *grown = realloc(p->fams, (p->n_fams + 1) * sizeof *grown);
    if (!grown)
        return fh_set_error(FH_E_NOMEM, "metrics: out of memory");
    p->fams = grown;
    prom_family *f = &p->fams[p->n_fams];
    memset(f, 0, sizeof *f);
    f->type = type;
    f->n_dims = n;
    for (size_t i = 0; i < n; i++)
        f->dims[i] = dims[i];
    f->n_series = series;
    f->cells_per = type == FH_PROM_HISTOGRAM ? n_bounds + 2 : 1;
    f->n_bounds = type == FH_PROM_HISTOGRAM ? n_bounds : 0;
    f->scale = scale;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->cells = calloc(series * f->cells_per, sizeof *f->cells);
    if (f->n_bounds && (f->bounds = malloc(n_bounds * sizeof *f->bounds)))
        memcpy(f->bounds, bounds, n_bounds * sizeof *f->bounds);
    if (!f->name || !f->help || !f->cells || (f->n_bounds && !f->bounds)) {
        free(f->name);
        free(f->help);
        free(f->cells);
        free(f->bounds);
        return fh_set_error(FH_E_NOMEM, "metrics: out of memory");
    }
    return (int)p->n_fams++;
}

size_t fh_prom_series(const fh_prom *p, int family, const size_t *rows)
{
    if (family < 0 || (size_t)family >= p->n_fams)
        return (size_t)-1;
    const prom_family *f = &p->fams[family];
    size_t s = 0;
    for (size_t i = 0; i < f->n_dims; i++) {
        size_t n = p->dims[f->dims[i]].rows;
        if (rows[i] >= n)
            return (size_t)-1;
        s = s * n + rows[i];
    }
    return s;
}

/* ---- updates: the hot path ---- */

static inline uint64_t *cell(fh_prom *p, int family, size_t series, fh_prom_type want)
{
    if (family < 0 || (size_t)family >= p->n_fams)
        return NULL;
    prom_family *f = &p->fams[family];
    /* Adding fits a counter or a gauge; setting, only a gauge (a counter never goes
     * down); observing, only a histogram. */
    bool fits = want == FH_PROM_COUNTER ? f->type != FH_PROM_HISTOGRAM : f->type == want;
    if (series >= f->n_series || !fits)
        return NULL;
    return &f->cells[series * f->cells_per];
}

void fh_prom_add(fh_prom *p, int family, size_t series, uint64_t n)
{
    uint64_t *c = cell(p, family, series, FH_PROM_COUNTER);
    if (c)
        *c += n;
}

void fh_prom_set(fh_prom *p, int family, size_t series, int64_t v)
{
    uint64_t *c = cell(p, family, series, FH_PROM_GAUGE);
    if (c)
        *c = (uint64_t)v;
}

void fh_prom_observe(fh_prom *p, int family, size_t series, uint64_t v)
{
    uint64_t *c = cell(p, family, series, FH_PROM_HISTOGRAM);
    if (!c)
        return;
    const prom_family *f = &p->fams[family];
    /* The first bound >= v (n_bounds, the +Inf bucket, when none is) is the number of
     * bounds below v: counted without a branch, since durations vary from one request to
     * the next and a search's branches would be mispredicted (metrics_bench). */
    size_t below = 0;
    for (size_t i = 0; i < f->n_bounds; i++)
        below += f->bounds[i] < v;
    c[below]++;
    c[f->n_bounds + 1] += v;
}

uint64_t fh_prom_value(const fh_prom *p, int family, size_t series)
{
    if (family < 0 || (size_t)family >= p->n_fams || series >= p->fams[family].n_series)
        return 0;
    const prom_family *f = &p->fams[family];
    const uint64_t *c = &f->cells[series * f->cells_per];
    if (f->type != FH_PROM_HISTOGRAM)
        return c[0];
    uint64_t count = 0;
    for (size_t b = 0; b <= f->n_bounds; b++)
        count += c[b];
    return count;
}

double fh_prom_quantile(const fh_prom *p, int family, size_t first, size_t n, double q)
{
    if (family < 0 || (size_t)family >= p->n_fams || !(q >= 0 && q <= 1))
        return NAN;
    const prom_family *f = &p->fams[family];
    if (f->type != FH_PROM_HISTOGRAM)
        return NAN;
    uint64_t counts[FH_PROM_MAX_BOUNDS + 1] = {0}, total = 0;
    for (size_t s = first; s < f->n_series && s - first < n; s++) {
        const uint64_t *c = &f->cells[s * f->cells_per];
        for (size_t b = 0; b <= f->n_bounds; b++) {
            counts[b] += c[b];
            total += c[b];
        }
    }
    if (total == 0)
        return NAN;
    double rank = q * (double)total, below = 0, scale = (double)f->scale;
    for (size_t b = 0; b < f->n_bounds; b++) {
        if (counts[b] && below + (double)counts[b] >= rank) {
            double lo = b ? (double)f->bounds[b - 1] : 0, hi = (double)f->bounds[b];
            return (lo + (hi - lo) * (rank - below) / (double)counts[b]) / scale;
        }
        below += (double)counts[b];
    }
    return (double)f->bounds[f->n_bounds - 1] / scale;
}

/* ---- the writer ---- */

void fh_prom_buf_free(fh_prom_buf *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int put(fh_prom_buf *b, const char *s, size_t n)
{
    if (b->cap - b->len <= n || !b->data) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len <= n) {
            if (cap > SIZE_MAX / 2)
                return fh_set_error(FH_E_NOMEM, "metrics: out of memory");
            cap *= 2;
        }
        char *data = realloc(b->data, cap);
        if (!data)
            return fh_set_error(FH_E_NOMEM, "metrics: out of memory");
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int puts_(fh_prom_buf *b, const char *s)
{
    return put(b, s, strlen(s));
}

/* V / SCALE as an exact decimal, without trailing zeros: 100 / 10^6 is "0.0001". */
static int put_scaled(fh_prom_buf *b, uint64_t v, uint64_t scale)
{
    char num[48];
    int n = snprintf(num, sizeof num, "%" PRIu64, v / scale);
    uint64_t frac = v % scale;
    if (frac) {
        num[n++] = '.';
        for (uint64_t d = scale / 10; d && frac; d /= 10) {
            num[n++] = (char)('0' + frac / d);
            frac %= d;
        }
    }
    return put(b, num, (size_t)n);
}

/* The length of the valid UTF-8 sequence at S (at most N bytes), or 0 when it is not one
 * (a stray continuation byte, a truncated or overlong sequence, a surrogate, past
 * U+10FFFF): Prometheus refuses label values that are not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, cp = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, cp = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, cp = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool fh_prom_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0, len; i < n; i += len)
        if ((len = utf8_len(u + i, n - i)) == 0)
            return false;
    return true;
}

/* S escaped for a label value (QUOTE: backslash, double quote, newline) or a HELP text
 * (backslash, newline), invalid UTF-8 replaced byte by byte with U+FFFD. */
static int put_escaped(fh_prom_buf *b, const char *s, bool quote)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), run = 0; /* RUN: bytes before u that need no escape */
    for (size_t i = 0; i < n;) {
        const char *esc = NULL;
        size_t len = utf8_len(u + i, n - i);
        if (u[i] == '\\')
            esc = "\\\\";
        else if (u[i] == '\n')
            esc = "\\n";
        else if (u[i] == '"' && quote)
            esc = "\\\"";
        else if (len == 0)
            esc = "\xEF\xBF\xBD";
        if (!esc) {
            i += len;
            continue;
        }
        if (put(b, s + run, i - run) != 0 || puts_(b, esc) != 0)
            return FH_E_NOMEM;
        i++;
        run = i;
    }
    return put(b, s + run, n - run);
}

/* The row of each dimension of F for series S, into ROWS; false when one of those rows
 * has no values yet (the series is not printed). */
static bool series_rows(const fh_prom *p, const prom_family *f, size_t s, size_t *rows)
{
    for (size_t i = f->n_dims; i-- > 0;) {
        const prom_dim *d = &p->dims[f->dims[i]];
        rows[i] = s % d->rows;
        s /= d->rows;
        if (!d->values[rows[i] * d->n_labels])
            return false;
    }
    return true;
}

/* The start of a sample line: NAME SUFFIX{labels of ROWS[,le="LE"]} and a space. LE NULL:
 * no le label; "": the bound LE_V, scaled; else LE as it is ("+Inf"). */
static int put_head(fh_prom_buf *b, const fh_prom *p, const prom_family *f,
                    const char *suffix, const size_t *rows, const char *le, uint64_t le_v)
{
    if (puts_(b, f->name) || puts_(b, suffix))
        return FH_E_NOMEM;
    const char *sep = "{";
    for (size_t i = 0; i < f->n_dims; i++) {
        const prom_dim *d = &p->dims[f->dims[i]];
        for (size_t l = 0; l < d->n_labels; l++) {
            if (puts_(b, sep) || puts_(b, d->labels[l]) || puts_(b, "=\"") ||
                put_escaped(b, d->values[rows[i] * d->n_labels + l], true) || puts_(b, "\""))
                return FH_E_NOMEM;
            sep = ",";
        }
    }
    if (le) {
        if (puts_(b, sep) || puts_(b, "le=\"") ||
            (*le ? puts_(b, le) : put_scaled(b, le_v, f->scale)) || puts_(b, "\""))
            return FH_E_NOMEM;
        sep = ",";
    }
    if (*sep == ',' && puts_(b, "}"))
        return FH_E_NOMEM;
    return puts_(b, " ");
}

/* A whole sample line whose value is V / SCALE. */
static int put_sample(fh_prom_buf *b, const fh_prom *p, const prom_family *f,
                      const char *suffix, const size_t *rows, const char *le, uint64_t le_v,
                      uint64_t v, uint64_t scale)
{
    if (put_head(b, p, f, suffix, rows, le, le_v) || put_scaled(b, v, scale) ||
        puts_(b, "\n"))
        return FH_E_NOMEM;
    return 0;
}

static int put_gauge(fh_prom_buf *b, const fh_prom *p, const prom_family *f,
                     const size_t *rows, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64 "\n", v);
    if (put_head(b, p, f, "", rows, NULL, 0) || put(b, num, (size_t)n))
        return FH_E_NOMEM;
    return 0;
}

static int write_family(const fh_prom *p, const prom_family *f, fh_prom_buf *b)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    size_t rows[FH_PROM_MAX_DIMS];
    bool header = false;
    for (size_t s = 0; s < f->n_series; s++) {
        if (!series_rows(p, f, s, rows))
            continue;
        if (!header) {
            if (puts_(b, "# HELP ") || puts_(b, f->name) || puts_(b, " ") ||
                put_escaped(b, f->help, false) || puts_(b, "\n# TYPE ") ||
                puts_(b, f->name) || puts_(b, " ") || puts_(b, type_names[f->type]) ||
                puts_(b, "\n"))
                return FH_E_NOMEM;
            header = true;
        }
        const uint64_t *c = &f->cells[s * f->cells_per];
        int rc = 0;
        if (f->type == FH_PROM_COUNTER) {
            rc = put_sample(b, p, f, "", rows, NULL, 0, c[0], 1);
        } else if (f->type == FH_PROM_GAUGE) {
            rc = put_gauge(b, p, f, rows, (int64_t)c[0]);
        } else {
            uint64_t cum = 0;
            for (size_t k = 0; k < f->n_bounds && rc == 0; k++) {
                cum += c[k];
                rc = put_sample(b, p, f, "_bucket", rows, "", f->bounds[k], cum, 1);
            }
            cum += c[f->n_bounds];
            if (rc == 0)
                rc = put_sample(b, p, f, "_bucket", rows, "+Inf", 0, cum, 1);
            if (rc == 0)
                rc = put_sample(b, p, f, "_sum", rows, NULL, 0, c[f->n_bounds + 1], f->scale);
            if (rc == 0)
                rc = put_sample(b, p, f, "_count", rows, NULL, 0, cum, 1);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int fh_prom_write(const fh_prom *p, fh_prom_buf *out)
{
    for (size_t i = 0; i < p->n_fams; i++)
        if (write_family(p, &p->fams[i], out) != 0)
            return fh_set_error(FH_E_NOMEM, "metrics: out of memory writing %s",
                                p->fams[i].name);
    return 0;
}

/* .npy source (Jina's from_ndarray): each row of the array (the sub-array along the first
 * axis) is a document, as its tensor or as its float32 embedding.
 *
 * The format (numpy's format.py, NEP 1): the magic "\x93NUMPY", a major and minor
 * version byte, the header length (u16 little-endian in version 1, u32 in 2 and 3), then
 * the header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape':
 * (3, 4), } padded with spaces and a newline. The data follows in C order. Only that
 * dict is parsed, by a small parser that checks every bound; rows are read with pread
 * when asked for, so the file is never loaded whole.
 */
#define _GNU_SOURCE
#include "source_internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flowhost/error.h>

#define NPY_MAX_HEADER (64 * 1024) /* numpy itself refuses headers over 10000 bytes */
#define NPY_MAX_DIMS 32            /* numpy's NPY_MAXDIMS */
#define NPY_MAX_EMPTY_ROWS (1u << 20) /* rows of zero bytes, at most */
#define NPY_MAX_ROW ((size_t)256 << 20)
#define NPY_SUPPORTED "<f4 <f8 <i1 <i2 <i4 <i8 <u1 <u2 <u4 <u8 |i1 |u1"

typedef enum npy_kind { KIND_FLOAT, KIND_INT, KIND_UINT } npy_kind;

typedef struct npy_dtype {
    const char *descr; /* as in the header */
    const char *name;  /* numpy's name, for the tensor */
    size_t size;       /* bytes per element */
    npy_kind kind;
} npy_dtype;

static const npy_dtype dtypes[] = {
    {"<f4", "float32", 4, KIND_FLOAT}, {"<f8", "float64", 8, KIND_FLOAT},
    {"<i1", "int8", 1, KIND_INT},      {"|i1", "int8", 1, KIND_INT},
    {"<i2", "int16", 2, KIND_INT},     {"<i4", "int32", 4, KIND_INT},
    {"<i8", "int64", 8, KIND_INT},     {"<u1", "uint8", 1, KIND_UINT},
    {"|u1", "uint8", 1, KIND_UINT},    {"<u2", "uint16", 2, KIND_UINT},
    {"<u4", "uint32", 4, KIND_UINT},   {"<u8", "uint64", 8, KIND_UINT},
};

typedef struct npy_state {
    int fd;                 /* the open file */
    char *path;             /* for messages */
    const npy_dtype *dtype; /* element type */
    uint64_t shape[NPY_MAX_DIMS]; /* the array's shape */
    size_t ndim;            /* its dimensions (>= 1) */
    uint64_t rows;          /* shape[0] */
    size_t row_elems;       /* elements per row */
    size_t row_bytes;       /* bytes per row */
    uint64_t data_offset;   /* where row 0 starts */
    uint64_t *order;        /* shuffle: the rows in the order to give; NULL: in order */
    uint64_t next;          /* how many rows were given */
    fh_array_as as;         /* tensor or embedding */
    unsigned char *row;     /* a buffer of ROW_BYTES */
    float *emb;             /* embedding: a buffer of ROW_ELEMS floats */
} npy_state;

/* ---- the header dict ---- */

typedef struct cursor {
    const char *p, *start, *end;
    const char *path;
} cursor;

/* Reports a malformed header at the cursor's position (offset in the file). */
static int bad_header(const cursor *c, size_t header_offset, const char *what)
{
    return fh_set_error(FH_E_PARSE, "%s: offset %zu: malformed .npy header: %s", c->path,
                        header_offset + (size_t)(c->p - c->start), what);
}

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A quoted string without escapes into OUT (SIZE bytes): true on success. */
static bool parse_string(cursor *c, char *out, size_t size)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= size)
            return false;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return false;
    c->p++;
    out[n] = '\0';
    return true;
}

static bool parse_word(cursor *c, const char *w)
{
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

/* A tuple of non-negative integers, as "(3, 4)", "(3,)" or "()" (Python 2 wrote "3L"). */
static bool parse_tuple(cursor *c, uint64_t *dims, size_t *ndim)
{
    *ndim = 0;
    if (!eat(c, '('))
        return false;
    skip_ws(c);
    if (eat(c, ')'))
        return true;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return false;
        uint64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*c->p - '0'), &v))
                return false;
            c->p++;
        }
        if (c->p < c->end && *c->p == 'L')
            c->p++;
        if (*ndim >= NPY_MAX_DIMS)
            return false;
        dims[(*ndim)++] = v;
        if (eat(c, ')'))
            return true;
        if (!eat(c, ','))
            return false;
        if (eat(c, ')'))
            return true;
    }
}

static const char *supported_list(void)
{
    return NPY_SUPPORTED;
}

/* Parses the header dict HDR (LEN bytes at file offset OFF) into S. */
static int parse_header(npy_state *s, const char *hdr, size_t len, size_t off)
{
    cursor c = {hdr, hdr, hdr + len, s->path};
    char descr[64] = "";
    bool have_descr = false, have_fortran = false, have_shape = false, fortran = false;
    if (!eat(&c, '{'))
        return bad_header(&c, off, "expected '{'");
    for (;;) {
        if (eat(&c, '}'))
            break;
        char key[32];
        if (!parse_string(&c, key, sizeof key))
            return bad_header(&c, off, "expected a quoted key or '}'");
        if (!eat(&c, ':'))
            return bad_header(&c, off, "expected ':'");
        if (strcmp(key, "descr") == 0 && !have_descr) {
            skip_ws(&c);
            if (c.p < c.end && *c.p == '[')
                return fh_set_error(FH_E_TYPE,
                                    "%s: unsupported dtype (a structured dtype) (supported: %s)",
                                    s->path, supported_list());
            if (!parse_string(&c, descr, sizeof descr))
                return bad_header(&c, off, "'descr' must be a quoted dtype string");
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            if (parse_word(&c, "True"))
                fortran = true;
            else if (!parse_word(&c, "False"))
                return bad_header(&c, off, "'fortran_order' must be True or False");
            have_fortran = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!parse_tuple(&c, s->shape, &s->ndim))
                return bad_header(&c, off,
                                  "'shape' must be a tuple of at most 32 non-negative integers");
            have_shape = true;
        } else {
            return bad_header(&c, off, "unknown or repeated key (expected 'descr', "
                                       "'fortran_order', 'shape')");
        }
        if (eat(&c, '}'))
            break;
        if (!eat(&c, ','))
            return bad_header(&c, off, "expected ',' or '}'");
    }
    skip_ws(&c);
    if (c.p != c.end)
        return bad_header(&c, off, "text after the closing '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return fh_set_error(FH_E_PARSE, "%s: malformed .npy header: missing '%s'", s->path,
                            !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(descr, dtypes[i].descr) == 0)
            s->dtype = &dtypes[i];
    if (!s->dtype)
        return fh_set_error(FH_E_TYPE, "%s: unsupported dtype '%s' (supported: %s)", s->path,
                            descr, supported_list());
    if (fortran)
        return fh_set_error(FH_E_TYPE,
                            "%s: Fortran-order arrays are not supported (save a C-order array: "
                            "np.save(path, np.ascontiguousarray(a)))",
                            s->path);
    if (s->ndim == 0)
        return fh_set_error(FH_E_TYPE, "%s: a 0-d array (shape ()) has no rows", s->path);
    return 0;
}

/* ---- reading ---- */

static void npy_close(void *state)
{
    npy_state *s = state;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->order);
    free(s->row);
    free(s->emb);
    free(s->path);
    free(s);
}

/* Reads exactly LEN bytes at OFF: 0, or FH_E_IO. */
static int read_at(const npy_state *s, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(s->fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fh_set_error(FH_E_IO, "%s: offset %llu: %s", s->path,
                                (unsigned long long)(off + got), strerror(errno));
        if (n == 0)
            return fh_set_error(FH_E_IO, "%s: offset %llu: the file ended (was it cut since "
                                "it was opened?)",
                                s->path, (unsigned long long)(off + got));
        got += (size_t)n;
    }
    return 0;
}

/* Element I of the row as a float. The data is little-endian whatever the host is. */
static float element_as_float(const npy_state *s, size_t i)
{
    const unsigned char *p = s->row + i * s->dtype->size;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (s->dtype->size) {
    case 1:
        u8 = *p;
        return s->dtype->kind == KIND_INT ? (float)(int8_t)u8 : (float)u8;
    case 2:
        memcpy(&u16, p, 2);
        u16 = le16toh(u16);
        return s->dtype->kind == KIND_INT ? (float)(int16_t)u16 : (float)u16;
    case 4:
        memcpy(&u32, p, 4);
        u32 = le32toh(u32);
        if (s->dtype->kind == KIND_FLOAT) {
            float f;
            memcpy(&f, &u32, 4);
            return f;
        }
        return s->dtype->kind == KIND_INT ? (float)(int32_t)u32 : (float)u32;
    default:
        memcpy(&u64, p, 8);
        u64 = le64toh(u64);
        if (s->dtype->kind == KIND_FLOAT) {
            double d;
            memcpy(&d, &u64, 8);
            return (float)d;
        }
        return s->dtype->kind == KIND_INT ? (float)(int64_t)u64 : (float)u64;
    }
}

static int npy_next(void *state, fh_doc **out)
{
    npy_state *s = state;
    if (s->next >= s->rows)
        return 0;
    uint64_t idx = s->order ? s->order[s->next] : s->next;
    int rc = read_at(s, s->row, s->row_bytes, s->data_offset + idx * s->row_bytes);
    if (rc < 0)
        return rc;
    s->next++;
    fh_doc *d = fh_doc_new();
    if (!d)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->path);
    if (s->as == FH_ARRAY_AS_EMBEDDING) {
        for (size_t i = 0; i < s->row_elems; i++)
            s->emb[i] = element_as_float(s, i);
        rc = fh_doc_set_embedding(d, s->emb, s->row_elems);
    } else {
        rc = fh_doc_set_tensor(d, s->dtype->name, s->shape + 1, s->ndim - 1, s->row,
                               s->row_bytes);
    }
    if (rc < 0) {
        fh_doc_destroy(&d);
        return fh_set_error(rc, "%s: row %llu: %s", s->path, (unsigned long long)idx,
                            fh_last_error());
    }
    *out = d;
    return 1;
}

static const fh_source_reader_ops npy_ops = {npy_next, npy_close};

static uint32_t le_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads and checks the preamble and header; sets the layout fields of S. */
static int read_header(npy_state *s, uint64_t file_size)
{
    unsigned char pre[12];
    if (file_size < 10)
        return fh_set_error(FH_E_PARSE, "%s: not a .npy file (%llu bytes, shorter than the "
                            "preamble)", s->path, (unsigned long long)file_size);
    size_t pre_len = file_size >= 12 ? 12 : 10;
    int rc = read_at(s, pre, pre_len, 0);
    if (rc < 0)
        return rc;
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return fh_set_error(FH_E_PARSE, "%s: not a .npy file (bad magic; expected "
                            "\\x93NUMPY)", s->path);
    unsigned major = pre[6], minor = pre[7];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (pre_len < 12)
            return fh_set_error(FH_E_PARSE, "%s: truncated .npy preamble", s->path);
        hlen = le_u32(pre + 8);
        hoff = 12;
    } else {
        return fh_set_error(FH_E_PARSE, "%s: unsupported .npy version %u.%u (supported: 1, 2, 3)",
                            s->path, major, minor);
    }
    if (hlen > NPY_MAX_HEADER)
        return fh_set_error(FH_E_PARSE, "%s: .npy header of %zu bytes, more than %d", s->path,
                            hlen, NPY_MAX_HEADER);
    if (hoff + hlen > file_size)
        return fh_set_error(FH_E_PARSE, "%s: header length %zu goes beyond the end of the file "
                            "(%llu bytes)", s->path, hlen, (unsigned long long)file_size);
    char *hdr = malloc(hlen ? hlen : 1);
    if (!hdr)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", s->path);
    rc = read_at(s, hdr, hlen, hoff);
    if (rc == 0)
        rc = parse_header(s, hdr, hlen, hoff);
    free(hdr);
    if (rc < 0)
        return rc;
    s->data_offset = hoff + hlen;
    s->rows = s->shape[0];
    uint64_t elems = 1;
    for (size_t i = 1; i < s->ndim; i++)
        if (__builtin_mul_overflow(elems, s->shape[i], &elems))
            return fh_set_error(FH_E_PARSE, "%s: shape too large", s->path);
    uint64_t row_bytes, total;
    if (__builtin_mul_overflow(elems, (uint64_t)s->dtype->size, &row_bytes) ||
        __builtin_mul_overflow(row_bytes, s->rows, &total))
        return fh_set_error(FH_E_PARSE, "%s: shape too large", s->path);
    if (total > file_size - s->data_offset)
        return fh_set_error(FH_E_PARSE, "%s: truncated: %llu rows need %llu bytes after the "
                            "header at offset %llu, the file has %llu",
                            s->path, (unsigned long long)s->rows, (unsigned long long)total,
                            (unsigned long long)s->data_offset,
                            (unsigned long long)(file_size - s->data_offset));
    /* Rows of no elements cost no bytes, so the file size does not bound their number:
     * a few bytes of header could promise 10^18 documents. */
    if (row_bytes == 0 && s->rows > NPY_MAX_EMPTY_ROWS)
        return fh_set_error(FH_E_RANGE, "%s: %llu rows that hold no elements (at most %u)", s->path,
                            (unsigned long long)s->rows, (unsigned)NPY_MAX_EMPTY_ROWS);
    if (row_bytes > NPY_MAX_ROW)
        return fh_set_error(FH_E_RANGE, "%s: rows of %llu bytes, more than %zu MiB", s->path,
                            (unsigned long long)row_bytes, NPY_MAX_ROW >> 20);
    s->row_elems = (size_t)elems;
    s->row_bytes = (size_t)row_bytes;
    return 0;
}

int fh_source_open_npy(const char *path, const fh_source_options *o, uint64_t seed,
                       fh_source_reader *r)
{
    if (o->array_as != FH_ARRAY_AS_TENSOR && o->array_as != FH_ARRAY_AS_EMBEDDING)
        return fh_set_error(FH_E_INVAL, "%s: unknown array_as %d", path, (int)o->array_as);
    npy_state *s = calloc(1, sizeof *s);
    if (!s)
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    s->fd = -1;
    s->as = o->array_as;
    s->path = strdup(path);
    if (!s->path) {
        npy_close(s);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    }
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (s->fd < 0 || fstat(s->fd, &st) != 0) {
        int err = errno;
        npy_close(s);
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        npy_close(s);
        return fh_set_error(FH_E_IO, "%s: not a regular file", path);
    }
    int rc = read_header(s, (uint64_t)st.st_size);
    if (rc < 0) {
        npy_close(s);
        return rc;
    }
    s->row = malloc(s->row_bytes ? s->row_bytes : 1);
    if (s->as == FH_ARRAY_AS_EMBEDDING)
        s->emb = malloc((s->row_elems ? s->row_elems : 1) * sizeof *s->emb);
    if (!s->row || (s->as == FH_ARRAY_AS_EMBEDDING && !s->emb)) {
        npy_close(s);
        return fh_set_error(FH_E_NOMEM, "%s: out of memory", path);
    }
    if (o->shuffle && s->rows > 1) {
        /* Fisher-Yates over the row indices: memory grows with the rows (8 bytes each),
         * the data is still read a row at a time. */
        if (s->rows > SIZE_MAX / sizeof *s->order ||
            !(s->order = malloc((size_t)s->rows * sizeof *s->order))) {
            unsigned long long rows = (unsigned long long)s->rows; /* s is freed below */
            npy_close(s);
            return fh_set_error(FH_E_NOMEM, "%s: out of memory for shuffling %llu rows", path, rows);
        }
        for (uint64_t i = 0; i < s->rows; i++)
            s->order[i] = i;
        for (uint64_t i = s->rows - 1; i > 0; i--) {
            uint64_t j = fh_random_below(&seed, i + 1);
            uint64_t t = s->order[i];
            s->order[i] = s->order[j];
            s->order[j] = t;
        }
    }
    r->ops = &npy_ops;
    r->state = s;
    return 0;
}

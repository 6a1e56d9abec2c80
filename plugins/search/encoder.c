/* NgramEncoder: turns a document's text into a fixed-size float32 vector without any model
 * file: every character n-gram of the lower-cased text (with a space on each side) is
 * hashed into one of `dim` buckets with a sign from another hash bit (the "hashing
 * trick"), and the vector is scaled to unit length, so that a dot product is the cosine.
 *
 * uses_with: dim (int, default 256), n (int, default 3). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

typedef struct encoder {
    size_t dim;
    size_t n;
    float *vec; /* scratch, dim floats */
} encoder;

static int encoder_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    (void)metas;
    int64_t dim = fh_map_get_int(with, "dim", 256), n = fh_map_get_int(with, "n", 3);
    if (dim < 8 || dim > 65536 || n < 1 || n > 16)
        return fh_ctx_fail(ctx, "dim must be an int from 8 to 65536 and n from 1 to 16");
    encoder *e = calloc(1, sizeof *e);
    if (e == NULL || (e->vec = malloc((size_t)dim * sizeof *e->vec)) == NULL) {
        free(e);
        return fh_ctx_fail(ctx, "out of memory");
    }
    e->dim = (size_t)dim;
    e->n = (size_t)n;
    *state = e;
    return 0;
}

static void encoder_fini(void *state)
{
    encoder *e = state;
    if (e != NULL)
        free(e->vec);
    free(e);
}

static uint64_t fnv1a(const unsigned char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Fills e->vec with the unit vector of TEXT. */
static void encode(encoder *e, const char *text)
{
    size_t len = strlen(text);
    unsigned char window[16];
    memset(e->vec, 0, e->dim * sizeof *e->vec);
    /* Slide over " text " lower-cased, runs of white space folded into one space. */
    size_t have = 0;
    window[have++] = ' ';
    int last_space = 1;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)tolower((unsigned char)text[i]) : ' ';
        int space = isspace(c) || c == '\0';
        if (space && last_space)
            continue;
        last_space = space;
        if (have == e->n) {
            memmove(window, window + 1, e->n - 1);
            have--;
        }
        window[have++] = space ? ' ' : c;
        if (have == e->n) {
            uint64_t h = fnv1a(window, e->n);
            e->vec[h % e->dim] += (h >> 63) ? 1.0f : -1.0f;
        }
    }
    double norm = 0;
    for (size_t i = 0; i < e->dim; i++)
        norm += (double)e->vec[i] * e->vec[i];
    if (norm > 0) {
        float scale = (float)(1.0 / sqrt(norm));
        for (size_t i = 0; i < e->dim; i++)
            e->vec[i] *= scale;
    }
}

static int encode_docs(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    encoder *e = fh_ctx_state(ctx);
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_doc *d = fh_docs_at(docs, i);
        if (fh_doc_text(d)[0] == '\0')
            continue; /* nothing to encode: a delete by id, say */
        encode(e, fh_doc_text(d));
        if (fh_doc_set_embedding(d, e->vec, e->dim) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

FH_EXECUTOR(NgramEncoder, encoder_init, encoder_fini, FH_REQUESTS(encode_docs));

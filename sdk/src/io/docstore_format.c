/* The docstore's on-disk format: CRC-32, the file header, records of format 2 (written)
 * and format 1 (read). The layout is described in docstore_internal.h and
 * docs/docstore.md; this file is the only one that knows where a field sits. */
#include "docstore_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib computes it) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t fh_ds_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init_table);
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- little-endian fields ---- */

void fh_ds_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint32_t fh_ds_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void fh_ds_file_header(uint8_t h[FH_DS_HEADER_SIZE], uint32_t version, uint32_t salt)
{
    memcpy(h, FH_DS_FILE_MAGIC, 8);
    fh_ds_put_u32(h + 8, version);
    fh_ds_put_u32(h + 12, salt);
}

uint32_t fh_ds_head_size(unsigned version)
{
    return version == FH_DS_V1 ? FH_DS_V1_HEADER : FH_DS_V2_HEADER;
}

/* ---- format 2 ---- */

/* The header CRC: the store's salt, then the 20 bytes before the CRC field. */
static uint32_t v2_head_crc(uint32_t salt, const uint8_t *h)
{
    uint8_t s[4];
    fh_ds_put_u32(s, salt);
    return fh_ds_crc32(fh_ds_crc32(0, s, 4), h, 20);
}

void fh_ds_head_write(uint8_t *rec, uint32_t salt, unsigned kind, uint32_t id_len,
                      uint32_t doc_len, uint32_t id_crc, uint32_t doc_crc)
{
    fh_ds_put_u32(rec, FH_DS_V2_MAGIC);
    rec[4] = (uint8_t)kind;
    rec[5] = 0;
    rec[6] = (uint8_t)id_len;
    rec[7] = (uint8_t)(id_len >> 8);
    fh_ds_put_u32(rec + 8, doc_len);
    fh_ds_put_u32(rec + 12, id_crc);
    fh_ds_put_u32(rec + 16, doc_crc);
    fh_ds_put_u32(rec + 20, v2_head_crc(salt, rec));
}

static bool v2_head_parse(uint32_t salt, const uint8_t *h, struct ds_head *out)
{
    if (fh_ds_get_u32(h) != FH_DS_V2_MAGIC || fh_ds_get_u32(h + 20) != v2_head_crc(salt, h))
        return false;
    unsigned kind = h[4];
    uint32_t id_len = (uint32_t)h[6] | (uint32_t)h[7] << 8;
    uint32_t doc_len = fh_ds_get_u32(h + 8);
    /* A header with a right CRC and wrong fields was written by a broken writer: it
     * is damage like any other. */
    if (h[5] != 0 || (kind != FH_DS_PUT && kind != FH_DS_DELETE) ||
        doc_len > FH_DS_MAX_PAYLOAD - id_len || (kind == FH_DS_DELETE && doc_len != 0))
        return false;
    *out = (struct ds_head){.kind = kind,
                            .size = FH_DS_V2_HEADER + id_len + doc_len,
                            .id_at = FH_DS_V2_HEADER,
                            .id_len = id_len,
                            .doc_at = FH_DS_V2_HEADER + id_len,
                            .doc_len = doc_len,
                            .id_crc = fh_ds_get_u32(h + 12),
                            .doc_crc = fh_ds_get_u32(h + 16)};
    return true;
}

uint8_t *fh_ds_record_build(uint32_t salt, const char *id, size_t id_len,
                            const Flowhost__Document *doc, size_t doc_len, size_t *n)
{
    size_t size = FH_DS_V2_HEADER + id_len + doc_len;
    uint8_t *rec = malloc(size);
    if (!rec)
        return NULL;
    uint8_t *p = rec + FH_DS_V2_HEADER;
    memcpy(p, id, id_len);
    if (doc && protobuf_c_message_pack(&doc->base, p + id_len) != doc_len) {
        free(rec);
        return NULL;
    }
    fh_ds_head_write(rec, salt, doc ? FH_DS_PUT : FH_DS_DELETE, (uint32_t)id_len,
                     (uint32_t)doc_len, fh_ds_crc32(0, p, id_len),
                     fh_ds_crc32(0, p + id_len, doc_len));
    *n = size;
    return rec;
}

/* ---- format 1 ---- */

static bool v1_head_parse(const uint8_t *h, struct ds_head *out)
{
    unsigned kind = h[4];
    uint32_t len = fh_ds_get_u32(h + 5);
    if (fh_ds_get_u32(h) != FH_DS_V1_MAGIC || (kind != FH_DS_PUT && kind != FH_DS_DELETE) ||
        len < 4 || len > FH_DS_MAX_PAYLOAD)
        return false;
    *out = (struct ds_head){.kind = kind,
                            .size = FH_DS_V1_HEADER + len,
                            .id_at = FH_DS_V1_HEADER + 4,
                            .doc_at = FH_DS_V1_HEADER + 4,
                            .crc = fh_ds_get_u32(h + 9)};
    return true;
}

/* ---- both ---- */

bool fh_ds_head_parse(unsigned version, uint32_t salt, const uint8_t *h, struct ds_head *out)
{
    return version == FH_DS_V1 ? v1_head_parse(h, out) : v2_head_parse(salt, h, out);
}

enum ds_verdict fh_ds_record_check(unsigned version, const uint8_t *rec, struct ds_head *h)
{
    if (version == FH_DS_V1) {
        uint32_t len = h->size - FH_DS_V1_HEADER;
        if (fh_ds_crc32(fh_ds_crc32(0, rec + 4, 5), rec + FH_DS_V1_HEADER, len) != h->crc)
            return DS_DAMAGED;
        uint32_t id_len = fh_ds_get_u32(rec + FH_DS_V1_HEADER);
        if (id_len > FH_DS_MAX_ID || id_len > len - 4 ||
            (h->kind == FH_DS_DELETE && id_len != len - 4) ||
            memchr(rec + h->id_at, '\0', id_len))
            return DS_DAMAGED;
        h->id_len = id_len;
        h->doc_at = h->id_at + id_len;
        h->doc_len = len - 4 - id_len;
        return DS_GOOD;
    }
    if (fh_ds_crc32(0, rec + h->id_at, h->id_len) != h->id_crc ||
        memchr(rec + h->id_at, '\0', h->id_len))
        return DS_DAMAGED;
    if (fh_ds_crc32(0, rec + h->doc_at, h->doc_len) != h->doc_crc)
        return h->kind == FH_DS_PUT ? DS_DOC_DAMAGED : DS_DAMAGED;
    return DS_GOOD;
}

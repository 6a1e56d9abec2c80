/* Fuzzes opening a docstore (sdk/src/io/docstore*.c): the input is written as DIR/docs.log,
 * the docstore opened read-only, and every document read by position and by id; then
 * fh_docstore_check reads it the lenient way. Each input runs twice: as is (header,
 * record framing, CRC checks, tail/damage logic), and with every record's CRCs recomputed
 * (format 1 and 2, the latter with the salt of the file header), so that mutated record
 * payloads get past the CRCs into the id and document decoding. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <flowhost/docstore.h>
#include <flowhost/json.h>

#include "fuzz_util.h"

#define REC_MAGIC 0x31524846u /* "FHR1", as in docstore_internal.h */
#define REC_HEADER 13u
#define V2_MAGIC 0x32524846u /* "FHR2" */
#define V2_HEADER 24u
#define FILE_HEADER 16u

static char dir[64];
static char log_path[96];

static void cleanup(void)
{
    unlink(log_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/fh-fuzz-docstore-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        abort();
    }
    snprintf(log_path, sizeof log_path, "%s/docs.log", dir);
    atexit(cleanup);
    return 0;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Recomputes the CRC of every whole record found at a record magic. */
static void fix_crcs(uint8_t *buf, size_t size)
{
    size_t off = FILE_HEADER;
    while (off + REC_HEADER <= size) {
        uint32_t len = get_u32(buf + off + 5);
        if (get_u32(buf + off) != REC_MAGIC || len > size - off - REC_HEADER) {
            off++;
            continue;
        }
        uint32_t crc = crc32_update(crc32_update(0, buf + off + 4, 5), buf + off + REC_HEADER, len);
        put_u32(buf + off + 9, crc);
        off += REC_HEADER + len;
    }
}

/* The same for format 2: the id, document and header CRCs, the last one with the salt of
 * the file header. */
static void fix_crcs_v2(uint8_t *buf, size_t size)
{
    if (size < FILE_HEADER)
        return;
    size_t off = FILE_HEADER;
    while (off + V2_HEADER <= size) {
        uint8_t *h = buf + off;
        size_t id_len = (size_t)h[6] | (size_t)h[7] << 8, doc_len = get_u32(h + 8);
        if (get_u32(h) != V2_MAGIC || id_len > size - off - V2_HEADER ||
            doc_len > size - off - V2_HEADER - id_len) {
            off++;
            continue;
        }
        put_u32(h + 12, crc32_update(0, h + V2_HEADER, id_len));
        put_u32(h + 16, crc32_update(0, h + V2_HEADER + id_len, doc_len));
        put_u32(h + 20, crc32_update(crc32_update(0, buf + 12, 4), h, 20));
        off += V2_HEADER + id_len + doc_len;
    }
}

static void write_log(const uint8_t *data, size_t size)
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(log_path);
        abort();
    }
    fh_fuzz_write_all(fd, data, size);
    close(fd);
}

static void read_all(const uint8_t *data, size_t size)
{
    write_log(data, size);
    fh_docstore *s = NULL;
    if (fh_docstore_open(dir, FH_DOCSTORE_READONLY, &s) != 0)
        return;
    size_t n = fh_docstore_len(s);
    for (size_t i = 0; i < n; i++) {
        fh_doc *d = NULL;
        if (fh_docstore_get_at(s, i, &d) != 0)
            continue;
        free(fh_doc_to_json(d));
        fh_doc *again = NULL;
        if (fh_docstore_get(s, fh_doc_id(d), &again) == 0)
            fh_doc_destroy(&again);
        fh_doc_destroy(&d);
    }
    fh_doc *none = NULL;
    if (fh_docstore_get_at(s, n, &none) == 0) /* one past the end must be refused */
        abort();
    fh_docstore_close(&s);
}

static void count_finding(const fh_docstore_finding *f, void *user)
{
    if (f->what == NULL || (f->kind != FH_DOCSTORE_DAMAGED && f->kind != FH_DOCSTORE_UNFINISHED))
        abort();
    ++*(size_t *)user;
}

/* The lenient reading of check and repair: every finding well-formed. */
static void check_all(void)
{
    size_t n = 0;
    fh_docstore_report r;
    if (fh_docstore_check(dir, count_finding, &n, &r) != 0)
        return;
    if (n > r.damaged + 1)
        abort(); /* at most one unfinished tail besides the damage */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_all(data, size);
    check_all();
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    if (size >= 12 && get_u32(copy + 8) == 2)
        fix_crcs_v2(copy, size);
    else
        fix_crcs(copy, size);
    if (size > 0 && memcmp(copy, data, size) != 0) {
        read_all(copy, size);
        check_all();
    }
    free(copy);
    return 0;
}

/* Drives a docstore for the crash test (tests/e2e/test_docstore_crash.sh).
 *   fh_docstore_writer write DIR   opens DIR (CREATE) and appends doc-L, doc-L+1, ...
 *                                  (L = the number of documents already there), each
 *                                  with a few KB of text, forever; prints each id once
 *                                  fh_docstore_put has returned.
 *   fh_docstore_writer check DIR   opens DIR for writing (so an unfinished tail is cut),
 *                                  prints "len N", then the id of every document in
 *                                  position order; exits 1 if a document does not
 *                                  decode or its text is not the one written.
 *   fh_docstore_writer put DIR ID  stores one more document (making the store if need be)
 *                                  and syncs.
 *   fh_docstore_writer fake-records
 *                                  writes to stdout bytes a client could put in a blob:
 *                                  whole docstore records (format 1, and format 2 with a
 *                                  salt of 0), a put of "ghost" and a delete of "doc-0".
 *   fh_docstore_writer flip FILE OFFSET
 *                                  flips one bit of the byte at OFFSET of FILE.
 *   fh_docstore_writer kill-in-put DIR MB
 *                                  a child puts one document "huge" whose blob of MB
 *                                  MiB is whole records over and over (format 1 and 2, the
 *                                  latter also with the store's own salt: a put of "ghost",
 *                                  a delete of "doc-0"); once the log has grown by 1 MiB
 *                                  the child gets SIGKILL, in the middle of its write().
 *                                  Prints "START SIZE-AT-THE-KILL". */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <flowhost/docstore.h>
#include <flowhost/document.h>
#include <flowhost/error.h>

/* The text of document I: 1..5 KB, derived from I so that check can recompute it. */
static char *text_for(size_t i)
{
    size_t len = 1024 + (i * 2654435761u) % 4096;
    char *t = malloc(len + 1);
    if (!t)
        return NULL;
    for (size_t k = 0; k < len; k++)
        t[k] = (char)('a' + (i + k) % 26);
    t[len] = '\0';
    return t;
}

static int put_doc(fh_docstore *s, const char *id, size_t i)
{
    fh_doc *d = fh_doc_new();
    char *text = text_for(i);
    int rc = (!d || !text) ? FH_E_NOMEM : fh_doc_set_id(d, id);
    if (rc == 0)
        rc = fh_doc_set_text(d, text);
    if (rc == 0)
        rc = fh_docstore_put(s, d);
    free(text);
    fh_doc_destroy(&d);
    return rc;
}

static int run_write(const char *dir)
{
    fh_docstore *s = NULL;
    if (fh_docstore_open(dir, FH_DOCSTORE_CREATE, &s) < 0) {
        fprintf(stderr, "fh_docstore_writer: %s\n", fh_last_error());
        return 1;
    }
    for (size_t i = fh_docstore_len(s);; i++) {
        char id[32];
        snprintf(id, sizeof id, "doc-%zu", i);
        if (put_doc(s, id, i) < 0) {
            fprintf(stderr, "fh_docstore_writer: put %s: %s\n", id, fh_last_error());
            fh_docstore_close(&s);
            return 1;
        }
        printf("%s\n", id);
        fflush(stdout);
    }
}

static int run_check(const char *dir)
{
    fh_docstore *s = NULL;
    if (fh_docstore_open(dir, 0, &s) < 0) {
        fprintf(stderr, "fh_docstore_writer: %s\n", fh_last_error());
        return 1;
    }
    size_t n = fh_docstore_len(s);
    printf("len %zu\n", n);
    int rc = 0;
    for (size_t pos = 0; pos < n && rc == 0; pos++) {
        fh_doc *d = NULL;
        if (fh_docstore_get_at(s, pos, &d) < 0) {
            fprintf(stderr, "fh_docstore_writer: position %zu: %s\n", pos, fh_last_error());
            rc = 1;
            break;
        }
        const char *id = fh_doc_id(d);
        size_t i;
        char *text = NULL;
        if (sscanf(id, "doc-%zu", &i) == 1) {
            text = text_for(i);
            if (text && strcmp(text, fh_doc_text(d)) != 0) {
                fprintf(stderr, "fh_docstore_writer: %s: wrong text\n", id);
                rc = 1;
            }
        }
        printf("%s\n", id);
        free(text);
        fh_doc_destroy(&d);
    }
    fh_docstore_close(&s);
    return rc;
}

static int run_put(const char *dir, const char *id)
{
    fh_docstore *s = NULL;
    int rc = fh_docstore_open(dir, FH_DOCSTORE_CREATE, &s);
    if (rc == 0)
        rc = put_doc(s, id, 7);
    if (rc == 0)
        rc = fh_docstore_sync(s);
    if (rc < 0)
        fprintf(stderr, "fh_docstore_writer: %s\n", fh_last_error());
    fh_docstore_close(&s);
    return rc < 0;
}

static uint32_t crc32_of(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A format 1 record (docs/docstore.md) into OUT; returns its size. */
static size_t v1_record(unsigned char *out, unsigned kind, const char *id, const char *doc)
{
    size_t id_len = strlen(id), doc_len = strlen(doc), len = 4 + id_len + doc_len;
    put32(out, 0x31524846u);
    out[4] = (unsigned char)kind;
    put32(out + 5, (uint32_t)len);
    put32(out + 13, (uint32_t)id_len);
    memcpy(out + 17, id, id_len);
    memcpy(out + 17 + id_len, doc, doc_len);
    put32(out + 9, crc32_of(crc32_of(0, out + 4, 5), out + 13, len));
    return 13 + len;
}

/* A format 2 record with SALT into OUT; returns its size. */
static size_t v2_record(unsigned char *out, uint32_t salt, unsigned kind, const char *id,
                        const char *doc)
{
    size_t id_len = strlen(id), doc_len = strlen(doc);
    unsigned char s4[4];
    put32(out, 0x32524846u);
    out[4] = (unsigned char)kind;
    out[5] = 0;
    out[6] = (unsigned char)id_len;
    out[7] = (unsigned char)(id_len >> 8);
    put32(out + 8, (uint32_t)doc_len);
    put32(out + 12, crc32_of(0, (const unsigned char *)id, id_len));
    put32(out + 16, crc32_of(0, (const unsigned char *)doc, doc_len));
    put32(s4, salt);
    put32(out + 20, crc32_of(crc32_of(0, s4, 4), out, 20));
    memcpy(out + 24, id, id_len);
    memcpy(out + 24 + id_len, doc, doc_len);
    return 24 + id_len + doc_len;
}

static int run_fake_records(void)
{
    unsigned char buf[512];
    size_t n = 0;
    /* "\x0a\x05ghost": a Document whose id is "ghost" */
    n += v1_record(buf + n, 1, "ghost", "\x0a\x05ghost");
    n += v1_record(buf + n, 2, "doc-0", "");
    n += v2_record(buf + n, 0, 1, "ghost", "\x0a\x05ghost");
    n += v2_record(buf + n, 0, 2, "doc-0", "");
    return fwrite(buf, 1, n, stdout) == n ? 0 : 1;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int run_kill_in_put(const char *dir, const char *mb)
{
    char log[4096];
    snprintf(log, sizeof log, "%s/docs.log", dir);
    unsigned char hdr[16];
    FILE *f = fopen(log, "rb");
    if (!f || fread(hdr, 1, 16, f) != 16) {
        perror(log);
        return 1;
    }
    fclose(f);
    uint32_t salt = (uint32_t)hdr[12] | (uint32_t)hdr[13] << 8 | (uint32_t)hdr[14] << 16 |
                    (uint32_t)hdr[15] << 24;
    unsigned char unit[512];
    size_t u = 0;
    u += v1_record(unit + u, 1, "ghost", "\x0a\x05ghost");
    u += v1_record(unit + u, 2, "doc-0", "");
    u += v2_record(unit + u, 0, 1, "ghost", "\x0a\x05ghost");
    u += v2_record(unit + u, salt, 1, "ghost", "\x0a\x05ghost");
    u += v2_record(unit + u, salt, 2, "doc-0", "");
    size_t n = (size_t)atol(mb) << 20;
    unsigned char *blob = malloc(n);
    if (!blob || n == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        blob[i] = unit[i % u];
    long start = file_size(log);
    pid_t pid = fork();
    if (pid == 0) {
        fh_docstore *s = NULL;
        fh_doc *d = fh_doc_new();
        if (fh_docstore_open(dir, 0, &s) < 0 || !d || fh_doc_set_id(d, "huge") < 0 ||
            fh_doc_set_blob(d, blob, n) < 0 || fh_docstore_put(s, d) < 0) {
            fprintf(stderr, "fh_docstore_writer: %s\n", fh_last_error());
            _exit(1);
        }
        pause(); /* the put returned before the kill: wait for it */
        _exit(0);
    }
    long size = start;
    struct timespec tick = {0, 50000};
    for (int i = 0; i < 200000 && size < start + (1L << 20); i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "fh_docstore_writer: the child ended first\n");
            return 1;
        }
        nanosleep(&tick, NULL);
        size = file_size(log);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    printf("%ld %ld\n", start, file_size(log));
    free(blob);
    return 0;
}

static int run_flip(const char *path, const char *offset)
{
    FILE *f = fopen(path, "r+b");
    long off = strtol(offset, NULL, 10);
    int c;
    if (!f || fseek(f, off, SEEK_SET) != 0 || (c = fgetc(f)) == EOF ||
        fseek(f, off, SEEK_SET) != 0 || fputc(c ^ 0x10, f) == EOF || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "write"))
        return run_write(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "check"))
        return run_check(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "put"))
        return run_put(argv[2], argv[3]);
    if (argc == 2 && !strcmp(argv[1], "fake-records"))
        return run_fake_records();
    if (argc == 4 && !strcmp(argv[1], "flip"))
        return run_flip(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "kill-in-put"))
        return run_kill_in_put(argv[2], argv[3]);
    fprintf(stderr, "usage: fh_docstore_writer write DIR | check DIR | put DIR ID | "
                    "fake-records | flip FILE OFFSET | kill-in-put DIR MB\n");
    return 2;
}

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
 *                                  and syncs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "write"))
        return run_write(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "check"))
        return run_check(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "put"))
        return run_put(argv[2], argv[3]);
    fprintf(stderr, "usage: fh_docstore_writer write DIR | check DIR | put DIR ID\n");
    return 2;
}

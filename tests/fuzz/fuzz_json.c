/* Fuzzes the JSON readers (sdk/src/json.c): the input as one NDJSON document line
 * (fh_doc_from_json, then back to JSON) and as a value (fh_value_from_json, then back). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <flowhost/json.h>

/* Known bug, not yet fixed (tests/fuzz/crashes/json/timeout-empty-key.json): a document
 * with an empty key ({"":1}) makes locate_key() in sdk/src/json.c loop forever. scripts/fuzz
 * replays that input (and fails while the bug is there), then fuzzes with
 * FH_FUZZ_SKIP_KNOWN=1 so the run goes on finding other bugs instead of that hang again.
 * Remove this guard once json.c is fixed. */
static bool skip_known;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *e = getenv("FH_FUZZ_SKIP_KNOWN");
    skip_known = e != NULL && *e == '1';
    return 0;
}

/* An empty key: "" then optional blanks then ':'. */
static bool has_empty_key(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '"' || p[i + 1] != '"')
            continue;
        size_t j = i + 2;
        while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r' || p[j] == '\n'))
            j++;
        if (j < n && p[j] == ':')
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fh_doc *d = NULL;
    if (!(skip_known && has_empty_key(data, size)) &&
        fh_doc_from_json((const char *)data, size, &d) == 0) {
        free(fh_doc_to_json(d));
        fh_doc_destroy(&d);
    }
    fh_value *v = NULL;
    if (fh_value_from_json((const char *)data, size, &v) == 0) {
        free(fh_value_to_json(v));
        fh_value_destroy(&v);
    }
    return 0;
}

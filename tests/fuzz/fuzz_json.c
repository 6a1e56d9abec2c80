/* Fuzzes the JSON readers (sdk/src/model/json.c): the input as one NDJSON document line
 * (fh_doc_from_json, then back to JSON) and as a value (fh_value_from_json, then back). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <flowhost/json.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fh_doc *d = NULL;
    if (fh_doc_from_json((const char *)data, size, &d) == 0) {
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

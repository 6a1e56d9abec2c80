/* Fuzzes the CSV source (sdk/src/io/source_csv.c): the input as a .csv file, read to the
 * end (or the first error). When the first byte is odd a field resolver maps some
 * columns onto document fields (id, text, uri...) and the rest go to tags. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <flowhost/json.h>
#include <flowhost/source.h>
#include <flowhost/value.h>

#include "fuzz_util.h"

static fh_value *resolver;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char map[] = "{\"id\":\"id\",\"question\":\"text\",\"a\":\"text\",\"b\":\"uri\","
                              "\"c\":\"mime_type\",\"d\":\"weight\",\"e\":\"tags\","
                              "\"f\":\"embedding\",\"g\":\"granularity\",\"name\":\"parent_id\"}";
    if (fh_value_from_json(map, sizeof map - 1, &resolver) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fh_fuzz_memfile(data, size, path, sizeof path);
    fh_source_options o;
    fh_source_options_init(&o);
    o.seed = 1;
    if (size > 0 && (data[0] & 1))
        o.field_resolver = resolver;
    fh_fuzz_read_source(path, FH_FORMAT_CSV, &o);
    close(fd);
    return 0;
}

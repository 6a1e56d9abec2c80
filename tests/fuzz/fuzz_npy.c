/* Fuzzes the .npy source (sdk/src/io/source_npy.c): the input as a .npy file, every row
 * read. The last byte picks the options: bit 0 rows as embeddings (float32) instead of
 * tensors, bit 1 shuffled rows, bit 2 at most 3 rows with sampling 0.5. At most 4096 rows
 * are read either way: the target is the parser, not the making of a million documents. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <flowhost/json.h>
#include <flowhost/source.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fh_fuzz_memfile(data, size, path, sizeof path);
    fh_source_options o;
    fh_source_options_init(&o);
    o.seed = 1;
    o.size = 4096;
    uint8_t sel = size > 0 ? data[size - 1] : 0;
    if (sel & 1)
        o.array_as = FH_ARRAY_AS_EMBEDDING;
    if (sel & 2)
        o.shuffle = true;
    if (sel & 4) {
        o.size = 3;
        o.sampling_rate = 0.5;
    }
    fh_fuzz_read_source(path, FH_FORMAT_NPY, &o);
    close(fd);
    return 0;
}

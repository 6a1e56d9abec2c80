/* Helpers for the generated protobuf-c structs behind the SDK's public types. */
#include "pb.h"

#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

int fh_pb_set_string(char **field, const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        return fh_set_error(FH_E_NOMEM, "out of memory copying a string");
    fh_pb_clear_string(field);
    *field = copy;
    return 0;
}

void fh_pb_clear_string(char **field)
{
    /* The generated init points unset strings at this shared constant; free_unpacked
     * skips it too, so it must never reach free(). */
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = (char *)protobuf_c_empty_string;
}

/* Error codes and the per-thread last error message. */
#include <flowhost/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One buffer per thread, so that concurrent failures never overwrite each other's
 * message; 1024 bytes bounds it (longer messages are cut, as the header says). */
static _Thread_local char fh_last_error_buf[1024];

const char *fh_err_name(int code)
{
    switch (code) {
#define FH__NAME(name, val, desc) \
    case val:                     \
        return #name;
        FH_ERRNO_MAP(FH__NAME)
#undef FH__NAME
    default:
        return "FH_E_UNKNOWN";
    }
}

const char *fh_strerror(int code)
{
    switch (code) {
#define FH__DESC(name, val, desc) \
    case val:                     \
        return desc;
        FH_ERRNO_MAP(FH__DESC)
#undef FH__DESC
    default:
        return "unknown error";
    }
}

const char *fh_last_error(void)
{
    return fh_last_error_buf;
}

int fh_set_error(int code, const char *fmt, ...)
{
    /* Format into a scratch buffer first: FMT's arguments may point into the current
     * message (e.g. prefixing fh_last_error() with a path). */
    char tmp[sizeof fh_last_error_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(fh_last_error_buf, tmp, sizeof tmp);
    return code;
}

/* flowhost — error codes and the last error message.
 *
 * Every function of libflowhost that can fail returns an int: 0 on success, a negative
 * FH_E... code on failure. On failure it also records a one-line human message, which
 * fh_last_error() returns. The message is per thread and lives until the next failing
 * call on the same thread. A flow and a client also keep the message of their own last
 * failure, whatever fails after it elsewhere: fh_flow_error(), fh_client_error().
 * Library functions never print and never exit.
 */
#ifndef FLOWHOST_ERROR_H
#define FLOWHOST_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro: code, value, short description. */
#define FH_ERRNO_MAP(X)                                          \
    X(FH_OK, 0, "success")                                       \
    X(FH_E_NOMEM, -1, "out of memory")                           \
    X(FH_E_INVAL, -2, "invalid argument")                        \
    X(FH_E_IO, -3, "input/output error")                         \
    X(FH_E_PARSE, -4, "parse error")                             \
    X(FH_E_NOTFOUND, -5, "not found")                            \
    X(FH_E_TYPE, -6, "wrong type")                               \
    X(FH_E_ABI, -7, "plugin ABI mismatch")                       \
    X(FH_E_PLUGIN, -8, "plugin error")                           \
    X(FH_E_HANDLER, -9, "handler failed")                        \
    X(FH_E_PROTOCOL, -10, "protocol error")                      \
    X(FH_E_TIMEOUT, -11, "timed out")                            \
    X(FH_E_ZMQ, -12, "transport error")                          \
    X(FH_E_STATE, -13, "invalid state")                          \
    X(FH_E_RANGE, -14, "out of range")

enum fh_status_code {
#define FH__ENUM(name, val, desc) name = val,
    FH_ERRNO_MAP(FH__ENUM)
#undef FH__ENUM
};

/* Name of a code ("FH_E_PARSE"); a static string, "FH_E_UNKNOWN" for an unknown code. */
const char *fh_err_name(int code);

/* Short description of a code ("parse error"); a static string. */
const char *fh_strerror(int code);

/* The message of the last failure on this thread; "" when none. The string belongs to
 * the library and stays valid until the next failing call on this thread. */
const char *fh_last_error(void);

/* Records CODE with a printf-style message as this thread's last error and returns
 * CODE, so that a failing function can write `return fh_set_error(FH_E_IO, ...)`.
 * Messages longer than 1023 bytes are cut. Plugins may use it too. */
int fh_set_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif

/* Typed  reads its parameters with the typed lookups (fh_map_find_*): times (an int,
 *        default 1), scale (a number, default 1.0), loud (a bool, default false). An
 *        absent parameter takes its default; one of the wrong type fails the request with
 *        the lookup's message. Each document gets tags.times, tags.scale and tags.loud as
 *        read, for the tests of parameter types. */
#include <flowhost/executor.h>

/* An absent parameter keeps its default; any other failure of a lookup fails the
 * request with the lookup's own message ("'times' is a string, not an int"). */
#define READ(call)                                                  \
    do {                                                            \
        int rc_ = (call);                                           \
        if (rc_ != 0 && rc_ != FH_E_NOTFOUND)                       \
            return fh_ctx_fail(ctx, "%s", fh_last_error());         \
    } while (0)

static int typed_foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    int64_t times = 1;
    double scale = 1.0;
    bool loud = false;
    READ(fh_map_find_int(params, "times", &times));
    READ(fh_map_find_double(params, "scale", &scale));
    READ(fh_map_find_bool(params, "loud", &loud));
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_value *tags = fh_doc_tags(fh_docs_at(docs, i));
        if (tags == NULL || fh_map_set_int(tags, "times", times) != 0 ||
            fh_map_set_double(tags, "scale", scale) != 0 || fh_map_set_bool(tags, "loud", loud) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

FH_EXECUTOR(Typed, NULL, NULL, FH_REQUESTS(typed_foo));
FH_PLUGIN(Typed);

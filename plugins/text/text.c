/* Small text executors for the demo.
 *
 * Tokenize  counts the words of each document's text into tags.words (an int).
 * Shout     upper-cases the text; uses_with.suffix (a string, default "!") is appended.
 *           parameters.shout: false leaves the text as it is. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/executor.h>

static int tokenize(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_doc *d = fh_docs_at(docs, i);
        int64_t words = 0;
        int in_word = 0;
        for (const char *p = fh_doc_text(d); *p; p++) {
            int space = isspace((unsigned char)*p);
            words += !space && !in_word;
            in_word = !space;
        }
        if (fh_map_set_int(fh_doc_tags(d), "words", words) != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

FH_EXECUTOR(Tokenize, NULL, NULL, FH_REQUESTS(tokenize));

static int shout_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    (void)metas;
    const fh_value *suffix = fh_map_get(with, "suffix");
    if (suffix != NULL && fh_value_type(suffix) != FH_TYPE_STRING)
        return fh_ctx_fail(ctx, "suffix must be a string");
    *state = strdup(suffix ? fh_value_string(suffix) : "!");
    return *state ? 0 : fh_ctx_fail(ctx, "out of memory");
}

static void shout_fini(void *state) { free(state); }

static int shout(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    if (!fh_map_get_bool(params, "shout", true))
        return 0;
    const char *suffix = fh_ctx_state(ctx);
    for (size_t i = 0; i < fh_docs_len(docs); i++) {
        fh_doc *d = fh_docs_at(docs, i);
        const char *text = fh_doc_text(d);
        size_t n = strlen(text), m = strlen(suffix);
        char *loud = malloc(n + m + 1);
        if (loud == NULL)
            return fh_ctx_fail(ctx, "out of memory");
        for (size_t k = 0; k < n; k++)
            loud[k] = (char)toupper((unsigned char)text[k]);
        memcpy(loud + n, suffix, m + 1);
        int rc = fh_doc_set_text(d, loud);
        free(loud);
        if (rc != 0)
            return fh_ctx_fail(ctx, "out of memory");
    }
    return 0;
}

FH_EXECUTOR(Shout, shout_init, shout_fini, FH_REQUESTS(shout));

FH_PLUGIN(Tokenize, Shout);

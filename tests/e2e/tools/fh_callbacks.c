/* Posts through the C client API and prints every callback as it fires, one line each:
 *   done N / error N EXECUTOR: DESCRIPTION / always N    (N = the document's text)
 * Usage: fh_callbacks ADDRESS ENDPOINT TEXT...  — one document per TEXT, one request
 * each, one in flight; a TEXT starting with "fail" gets the tag fail: true. */
#include <stdio.h>
#include <string.h>

#include <flowhost/flowhost.h>

static const char *text_of(const fh_response *r)
{
    const fh_docs *docs = fh_response_docs(r);
    return docs && fh_docs_len(docs) ? fh_doc_text(fh_docs_at(docs, 0)) : "-";
}

static int on_done(const fh_response *r, void *user)
{
    (void)user;
    printf("done %s\n", text_of(r));
    return 0;
}

static int on_error(const fh_response *r, void *user)
{
    (void)user;
    printf("error %s %s: %s\n", text_of(r), fh_response_error_executor(r),
           fh_response_error_description(r));
    return 0;
}

static int on_always(const fh_response *r, void *user)
{
    (void)user;
    printf("always %s\n", text_of(r));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fh_callbacks ADDRESS ENDPOINT TEXT...\n");
        return 2;
    }
    fh_client *c;
    if (fh_client_new(argv[1], &c) != 0) {
        fprintf(stderr, "fh_callbacks: %s\n", fh_last_error());
        return 2;
    }
    fh_docs *docs = fh_docs_new();
    for (int i = 3; i < argc; i++) {
        fh_doc *d = fh_doc_new();
        fh_doc_set_text(d, argv[i]);
        if (strncmp(argv[i], "fail", 4) == 0)
            fh_map_set_bool(fh_doc_tags(d), "fail", true);
        fh_docs_append(docs, d);
    }
    fh_post_options o;
    fh_post_options_init(&o);
    o.request_size = 1;
    o.prefetch = 1;
    o.timeout_ms = 30000;
    o.on_done = on_done;
    o.on_error = on_error;
    o.on_always = on_always;
    int rc = fh_client_post(c, argv[2], docs, &o);
    if (rc != 0)
        fprintf(stderr, "fh_callbacks: %s\n", fh_last_error());
    fh_docs_destroy(&docs);
    fh_client_destroy(&c);
    return rc == 0 ? 0 : 1;
}

/* A post through the C API whose input is a slow callback (Jina's
 * test_disable_prefetch_slow_client_fast_executor): the source sleeps GAP_MS before each
 * document. Prints one line per event, with milliseconds since the start:
 *   call N T      the source is called for document N
 *   response N T  the response of document N is delivered (on_always)
 * Usage: fh_slow_source ADDRESS COUNT GAP_MS [REQUEST_SIZE] — request_size 1 unless
 * given, the flow's prefetch. A response is named by its request's first document. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <flowhost/flowhost.h>

typedef struct slow {
    int count, gap_ms, given;
    struct timespec t0;
} slow;

static long elapsed_ms(const slow *s)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - s->t0.tv_sec) * 1000 + (now.tv_nsec - s->t0.tv_nsec) / 1000000;
}

static int next(void *user, fh_doc **out)
{
    slow *s = user;
    if (s->given == s->count)
        return 0;
    printf("call %d %ld\n", s->given + 1, elapsed_ms(s));
    fflush(stdout);
    struct timespec gap = {s->gap_ms / 1000, (long)(s->gap_ms % 1000) * 1000000};
    nanosleep(&gap, NULL); /* a generator that is slow to yield */
    char text[32];
    snprintf(text, sizeof text, "%d", ++s->given);
    *out = fh_doc_new();
    return *out && fh_doc_set_text(*out, text) == 0 ? 1 : fh_set_error(FH_E_NOMEM, "no memory");
}

static int on_always(const fh_response *r, void *user)
{
    const fh_docs *docs = fh_response_docs(r);
    printf("response %s %ld\n", docs && fh_docs_len(docs) ? fh_doc_text(fh_docs_at(docs, 0)) : "-",
           elapsed_ms(user));
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: fh_slow_source ADDRESS COUNT GAP_MS [REQUEST_SIZE]\n");
        return 2;
    }
    slow s = {.count = atoi(argv[2]), .gap_ms = atoi(argv[3])};
    clock_gettime(CLOCK_MONOTONIC, &s.t0);
    fh_client *c;
    if (fh_client_new(argv[1], &c) != 0) {
        fprintf(stderr, "fh_slow_source: %s\n", fh_last_error());
        return 2;
    }
    fh_post_options o;
    fh_post_options_init(&o);
    o.request_size = argc == 5 ? (size_t)atoi(argv[4]) : 1;
    o.timeout_ms = 30000;
    o.on_always = on_always;
    o.user = &s;
    int rc = fh_client_post_input(c, "/x", next, &s, &o);
    if (rc != 0)
        fprintf(stderr, "fh_slow_source: %s\n", fh_client_error(c));
    fh_client_destroy(&c);
    return rc == 0 ? 0 : 1;
}

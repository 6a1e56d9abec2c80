/* Posts one request while a timer interrupts the process every 20 ms (a SIGALRM handler
 * without SA_RESTART, as a profiler or a watchdog would install), with no response
 * timeout: a client must still see its flow go away, not wait for ever.
 * Usage: fh_signals ADDRESS ENDPOINT SLEEP_MS  — sends one document with the parameter
 * sleep_ms = SLEEP_MS; prints "ok" or "error: MESSAGE"; exits 0 or 1. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <flowhost/flowhost.h>

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
    (void)sig;
    ticks++;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fh_signals ADDRESS ENDPOINT SLEEP_MS\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: every wait is interrupted */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &every, NULL);

    fh_client *c;
    if (fh_client_new(argv[1], &c) != 0) {
        fprintf(stderr, "fh_signals: %s\n", fh_last_error());
        return 2;
    }
    fh_docs *docs = fh_docs_new();
    fh_doc *d = fh_doc_new();
    fh_doc_set_text(d, "signals");
    fh_docs_append(docs, d);
    fh_value *params = fh_value_new_map();
    fh_map_set_int(params, "sleep_ms", strtoll(argv[3], NULL, 10));
    fh_post_options o;
    fh_post_options_init(&o);
    o.parameters = params; /* no timeout_ms: only a lost connection ends the wait */
    int rc = fh_client_post(c, argv[2], docs, &o);
    if (rc == 0)
        printf("ok\n");
    else
        printf("error: %s\n", fh_last_error());
    fh_value_destroy(&params);
    fh_docs_destroy(&docs);
    fh_client_destroy(&c);
    return rc == 0 ? 0 : 1;
}

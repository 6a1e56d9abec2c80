/* A flow's and a client's own last error outlive later failures elsewhere:
 *   a flow whose start fails (an executor type that does not exist), then an unrelated
 *   failing call: fh_flow_error still names the first reason;
 *   a client that cannot reach its flow, then an unrelated failing call: fh_client_error
 *   still says why the post failed.
 * Prints each message; exits 0 when every check holds, 1 otherwise.
 * Usage: fh_own_errors UNUSED_PORT */
#include <stdio.h>
#include <string.h>

#include <flowhost/flowhost.h>

static int failures;

static void expect(const char *what, const char *message, const char *needle)
{
    bool ok = strstr(message, needle) != NULL;
    printf("%s %s: [%s]\n", ok ? "ok" : "FAIL", what, message);
    failures += !ok;
}

static void expect_none(const char *what, const char *message)
{
    bool ok = message[0] == '\0';
    printf("%s %s: [%s]\n", ok ? "ok" : "FAIL", what, message);
    failures += !ok;
}

/* A failing call that has nothing to do with the flow or the client. */
static void unrelated_failure(void)
{
    fh_value *v = NULL;
    if (fh_value_from_json("{oops", 5, &v) == 0)
        fh_value_destroy(&v);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fh_own_errors UNUSED_PORT\n");
        return 2;
    }
    fh_flow *f = NULL;
    if (fh_flow_new(NULL, &f) != 0 ||
        fh_flow_add(f, &(fh_executor_options){.uses = "NoSuchExecutorType"}) != 0) {
        fprintf(stderr, "fh_own_errors: %s\n", fh_last_error());
        return 2;
    }
    expect_none("no error before a failure", fh_flow_error(f));
    int rc = fh_flow_start(f);
    printf("%s fh_flow_start fails\n", rc != 0 ? "ok" : "FAIL");
    failures += rc == 0;
    unrelated_failure();
    expect("fh_last_error is the later failure", fh_last_error(), "line 1");
    expect("fh_flow_error still names the start's reason", fh_flow_error(f), "NoSuchExecutorType");
    rc = fh_flow_post(f, "/x", NULL, NULL);
    expect("a failing post on the flow replaces it", fh_flow_error(f), "not started");
    fh_flow_destroy(&f);

    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%s", argv[1]);
    fh_client *c = NULL;
    if (fh_client_new(address, &c) != 0) {
        fprintf(stderr, "fh_own_errors: %s\n", fh_last_error());
        return 2;
    }
    expect_none("a new client has no error", fh_client_error(c));
    fh_post_options o;
    fh_post_options_init(&o);
    o.connect_timeout_ms = 200;
    rc = fh_client_post(c, "/x", NULL, &o);
    printf("%s a post to nothing fails\n", rc != 0 ? "ok" : "FAIL");
    failures += rc == 0;
    unrelated_failure();
    expect("fh_client_error still says why the post failed", fh_client_error(c), "cannot reach");
    fh_client_destroy(&c);
    expect_none("NULL objects have no error", fh_flow_error(NULL));
    expect_none("NULL clients have no error", fh_client_error(NULL));
    return failures ? 1 : 0;
}

/* Unit tests: the reason fh_flow_start gives is the first failure, not one met while
 * cleaning up after it (flow.c). A stand-in for the flowhost binary ($FLOWHOST_BIN)
 * reports an address no client can connect to, then exits with status 3, so that
 * stopping it fails too. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <flowhost/error.h>
#include <flowhost/flow.h>

static char dir[] = "/tmp/fh-flow-start-XXXXXX";
static char bin[sizeof dir + 16];

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(bin, sizeof bin, "%s/flowhost", dir);
    FILE *f = fopen(bin, "w");
    if (f == NULL)
        return -1;
    /* argv: run --ready-fd FD [--owner-key KEY] FLOW: say a malformed address on FD, and
     * stop with a status that is not a clean stop. */
    fputs("#!/bin/sh\neval \"echo 127.0.0.1:noport >&$3\"\nexit 3\n", f);
    fclose(f);
    chmod(bin, 0700);
    return setenv("FLOWHOST_BIN", bin, 1);
}

static int teardown(void **state)
{
    (void)state;
    unlink(bin);
    rmdir(dir);
    unsetenv("FLOWHOST_BIN");
    return 0;
}

static void test_client_failure_is_the_reason(void **state)
{
    (void)state;
    fh_flow *f = NULL;
    assert_int_equal(fh_flow_new(NULL, &f), 0);
    int rc = fh_flow_start(f);
    /* The client's failure, code and message alike; the failed stop after it is not. */
    assert_int_equal(rc, FH_E_INVAL);
    assert_string_equal(fh_flow_error(f), "invalid address '127.0.0.1:noport': expected HOST:PORT");
    assert_string_equal(fh_last_error(), fh_flow_error(f));
    assert_null(fh_flow_address(f));
    /* Stopped: nothing is left to close. */
    assert_int_equal(fh_flow_close(f), FH_E_STATE);
    fh_flow_destroy(&f);
    assert_null(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_failure_is_the_reason),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

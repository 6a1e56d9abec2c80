/* Unit tests of Jina 2's own YAML forms in the flow loader (host/flow_config.c,
 * host/flow_yaml.c, host/flow_jina.c). Fixtures are under $FH_TEST_DATA/flows/jina. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <flowhost/error.h>
#include <flowhost/value.h>

#include "flow_config.h"
#include "flow_yaml.h"

static char jina_dir[PATH_MAX]; /* absolute $FH_TEST_DATA/flows/jina */

static int setup_all(void **state)
{
    (void)state;
    const char *data = getenv("FH_TEST_DATA");
    char buf[PATH_MAX];
    if (!data || snprintf(buf, sizeof buf, "%s/flows/jina", data) >= (int)sizeof buf ||
        !realpath(buf, jina_dir)) {
        fprintf(stderr, "FH_TEST_DATA/flows/jina not found\n");
        return -1;
    }
    setenv("FH_JINA_PORT", "5555", 1);
    setenv("FH_JINA_PARAM", "4", 1);
    return 0;
}

#define assert_contains(hay, needle)                                                 \
    do {                                                                             \
        const char *h_ = (hay);                                                      \
        if (!h_ || !strstr(h_, (needle)))                                            \
            fail_msg("message \"%s\" does not contain \"%s\"", h_ ? h_ : "(null)",   \
                     (needle));                                                      \
    } while (0)

static fh_flow_config *parse_ok(const char *yaml)
{
    fh_flow_config *c = NULL;
    int rc = fh_flow_config_parse(yaml, strlen(yaml), "t.yml", jina_dir, &c);
    if (rc != 0)
        fail_msg("parse failed (%d): %s", rc, fh_last_error());
    return c;
}

static const char *parse_fail(const char *yaml)
{
    fh_flow_config *c = NULL;
    int rc = fh_flow_config_parse(yaml, strlen(yaml), "t.yml", jina_dir, &c);
    if (rc == 0)
        fail_msg("parse of \"%s\" succeeded", yaml);
    assert_null(c);
    return fh_last_error();
}

/* The tree keeps a local tag on a mapping, and only there. */
static void test_tree_tags(void **state)
{
    (void)state;
    fh_yaml_node *t = NULL;
    const char *y = "!Flow\na: !Exec_2 {b: 1}\nc: {d: 2}\n";
    assert_int_equal(fh_yaml_parse(y, strlen(y), "t.yml", &t), 0);
    assert_string_equal(t->tag, "Flow");
    assert_string_equal(fh_yaml_map_get(t, "a", NULL)->tag, "Exec_2");
    assert_null(fh_yaml_map_get(t, "c", NULL)->tag);
    fh_yaml_destroy(&t);
    y = "a: !Exec [1]\n";
    assert_int_equal(fh_yaml_parse(y, strlen(y), "t.yml", &t), FH_E_PARSE);
    assert_contains(fh_last_error(), "t.yml:1:4: a type tag names the type of a mapping");
    y = "a: !Exec 5\n";
    assert_int_equal(fh_yaml_parse(y, strlen(y), "t.yml", &t), FH_E_PARSE);
    assert_contains(fh_last_error(), "not of a scalar: tag '!Exec'");
    y = "a: !<tag:x.org,1:y> {b: 1}\n";
    assert_int_equal(fh_yaml_parse(y, strlen(y), "t.yml", &t), FH_E_PARSE);
    assert_contains(fh_last_error(), "t.yml:1:4: unsupported tag 'tag:x.org,1:y'");
    y = "a: !bad-name {b: 1}\n";
    assert_int_equal(fh_yaml_parse(y, strlen(y), "t.yml", &t), FH_E_PARSE);
    assert_contains(fh_last_error(), "unsupported tag '!bad-name'");
}

/* !Flow and jtype: Flow, and the versions Jina reads as 1. */
static void test_flow_type_and_version(void **state)
{
    (void)state;
    const char *ok[] = {
        "!Flow\nversion: '1'\nexecutors: []\n",
        "!Flow\nversion: '1.0'\nexecutors: []\n",
        "!Flow\nversion: 1.0\nexecutors: []\n",
        "!Flow\nversion: 1\nexecutors: []\n",
        "jtype: Flow\nversion: '1.2'\nexecutors: []\n",
        "!Flow\njtype: Flow\nversion: '1'\nexecutors: []\n",
        "--- !Flow\nversion: '1'\nexecutors: []\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        fh_flow_config *c = parse_ok(ok[i]);
        assert_int_equal(c->n_warnings, 0);
        fh_flow_config_destroy(&c);
    }
    assert_contains(parse_fail("!Flow\nversion: '2.0'\nexecutors: []\n"),
                    "t.yml:2:10: unsupported version '2.0' (supported: '1', or '1.N')");
    assert_contains(parse_fail("!Flow\nversion: '1.x'\nexecutors: []\n"),
                    "unsupported version '1.x'");
    /* Without a version or a type, a flow file is a version 1 flow. */
    fh_flow_config *c = parse_ok("!Flow\nexecutors: [{name: a}]\n");
    assert_int_equal(c->n_executors, 1);
    fh_flow_config_destroy(&c);
    c = parse_ok("executors: [{name: a}, {name: b}]\n");
    assert_int_equal(c->n_executors, 2);
    fh_flow_config_destroy(&c);
    assert_contains(parse_fail("executors: [{name: a}]\npods: {a: {}}\n"),
                    "t.yml:2:1: 'pods' is Jina's legacy flow form");
    assert_contains(parse_fail("!Flow\njtype: Executor\nversion: '1'\nexecutors: []\n"),
                    "t.yml:2:8: 'jtype: Executor' contradicts the tag '!Flow'");
    assert_contains(parse_fail("!MyExecutor\nversion: '1'\nexecutors: []\n"),
                    "t.yml:1:1: a flow's type must be 'Flow', not 'MyExecutor'");
    assert_contains(parse_fail("!Flow\nwith: {}\npods: {a: {}}\n"),
                    "t.yml:3:1: 'pods' is Jina's legacy flow form");
    /* Jina 2.0's list under 'pods' is the list of executors; restful: false asks nothing */
    c = parse_ok("jtype: Flow\nversion: '1'\nwith: {restful: False}\npods: [{name: a}, {name: b}]\n");
    assert_int_equal(c->n_executors, 2);
    assert_string_equal(c->executors[1].name, "b");
    assert_int_equal(c->n_warnings, 0);
    assert_false(c->http);
    fh_flow_config_destroy(&c);
    assert_contains(parse_fail("!Flow\nexecutors: []\npods: []\n"),
                    "t.yml:3:1: 'pods' is Jina 2.0's older name for 'executors': keep one");
    c = parse_ok("!Flow\nwith: {restful: true}\nexecutors: []\n"); /* Jina 2's HTTP gateway */
    assert_true(c->http);
    fh_flow_config_destroy(&c);
    assert_contains(parse_fail("!Flow\nexecutors:\n  - uses: {jtype: T, requests: {on: {x: y}}}\n"),
                    "t.yml:3:33: 'requests: on:' is Jina 1's drivers, not supported");
}

/* The flow's with: port_expose is port, protocol grpc is ignored, Python keys warn. */
static void test_flow_with(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok("!Flow\nversion: '1'\nwith:\n  port_expose: 12345\n"
                                 "  protocol: GRPC\n  log_config: x.yml\nexecutors: []\n");
    assert_int_equal(c->port, 12345);
    assert_int_equal(c->n_warnings, 2);
    assert_contains(c->warnings[0], "t.yml:6:3: 'log_config' in with is ignored");
    assert_contains(c->warnings[1], "t.yml:5:13: 'protocol: GRPC' is read as 'zmq'");
    assert_false(c->http);
    fh_flow_config_destroy(&c);
    c = parse_ok("!Flow\nversion: '1'\nwith:\n  port_expose: ${{ ENV.FH_JINA_PORT }}\n"
                 "executors: []\n");
    assert_int_equal(c->port, 5555);
    fh_flow_config_destroy(&c);
    assert_contains(parse_fail("!Flow\nversion: '1'\nwith: {port: 1, port_expose: 2}\n"
                               "executors: []\n"),
                    "'port_expose' is Jina's older name for 'port': keep one of them");
    assert_contains(parse_fail("!Flow\nversion: '1'\nwith: {protocol: soap}\nexecutors: []\n"),
                    "t.yml:3:18: 'protocol' must be 'zmq', 'http' or 'grpc', not 'soap'");
}

/* Jina 3's protocol and port forms, port_http, TLS and the HTTP bounds. */
static void test_flow_protocols(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok("!Flow\nwith: {protocol: [zmq, http], port: [5001, 5002]}\n"
                                 "executors: []\n");
    assert_true(c->http);
    assert_int_equal(c->port, 5001);
    assert_int_equal(c->port_http, 5002);
    assert_true(c->http_keep_alive);
    assert_int_equal(c->http_timeout_ms, FH_FLOW_DEFAULT_HTTP_TIMEOUT);
    assert_int_equal(c->http_max_connections, FH_FLOW_DEFAULT_HTTP_CONNECTIONS);
    fh_flow_config_destroy(&c);
    c = parse_ok("!Flow\nwith: {protocol: [http, grpc], port: [5002, 5001]}\nexecutors: []\n");
    assert_int_equal(c->port, 5001);
    assert_int_equal(c->port_http, 5002);
    fh_flow_config_destroy(&c);
    c = parse_ok("!Flow\nwith: {protocol: http, port: 8080}\nexecutors: []\n");
    assert_true(c->http);
    assert_int_equal(c->port_http, 8080);
    assert_int_equal(c->port, 0); /* ZeroMQ still served, on an ephemeral port */
    fh_flow_config_destroy(&c);
    c = parse_ok("!Flow\nwith: {port: 5001, port_http: 5002, http_timeout: 500, "
                 "http_keep_alive: false, http_read_timeout: 2000, http_max_connections: 10, "
                 "http_max_header_size: 8192}\nexecutors: []\n");
    assert_true(c->http);
    assert_int_equal(c->port, 5001);
    assert_int_equal(c->port_http, 5002);
    assert_int_equal(c->http_timeout_ms, 500);
    assert_false(c->http_keep_alive);
    assert_int_equal(c->http_read_timeout_ms, 2000);
    assert_int_equal(c->http_max_connections, 10);
    assert_int_equal(c->http_max_header_size, 8192);
    fh_flow_config_destroy(&c);
    c = parse_ok("!Flow\nwith: {protocol: [zmq, http], ssl_certfile: c.pem, ssl_keyfile: k.pem}\n"
                 "executors: []\n");
    assert_non_null(strstr(c->ssl_certfile, "/c.pem"));
    assert_non_null(strstr(c->ssl_keyfile, "/k.pem"));
    fh_flow_config_destroy(&c);
    assert_contains(parse_fail("!Flow\nwith: {protocol: [zmq, http], port: [1]}\nexecutors: []\n"),
                    "t.yml:2:37: 'port' lists 1 ports for 2 protocols");
    assert_contains(parse_fail("!Flow\nwith: {protocol: [http, http]}\nexecutors: []\n"),
                    "t.yml:2:25: 'protocol' names http twice");
    assert_contains(parse_fail("!Flow\nwith: {protocol: websocket}\nexecutors: []\n"),
                    "'protocol: websocket' is not supported");
    assert_contains(parse_fail("!Flow\nwith: {protocol: zmq, port_http: 1}\nexecutors: []\n"),
                    "'port_http' needs 'http' in 'protocol'");
    assert_contains(parse_fail("!Flow\nwith: {protocol: http, port: 1, port_http: 2}\n"
                               "executors: []\n"),
                    "'port_http' and 'port' both give the HTTP port");
    assert_contains(parse_fail("!Flow\nwith: {ssl_certfile: c.pem}\nexecutors: []\n"),
                    "'ssl_certfile' is an option of the HTTP gateway, which is off");
    assert_contains(parse_fail("!Flow\nwith: {restful: true, ssl_certfile: c.pem}\n"
                               "executors: []\n"),
                    "'ssl_certfile' needs 'ssl_keyfile'");
    assert_contains(parse_fail("!Flow\nwith: {restful: true, http_read_timeout: 5}\n"
                               "executors: []\n"),
                    "'http_read_timeout' must be between 100 and 3600000, not 5");
    assert_contains(parse_fail("!Flow\nwith: {restful: true, protocol: zmq}\nexecutors: []\n"),
                    "'restful: true' and a 'protocol' without 'http' disagree");
}

/* An executor YAML typed by its tag, with Jina's keys; the entry's Jina keys. */
static void test_executor_forms(void **state)
{
    (void)state;
    fh_flow_config *c = parse_ok(
        "!Flow\nversion: '1'\nexecutors:\n"
        "  - uses: my-executor.yml\n"                       /* !MyExecutor file */
        "    override_with: {default_param: 2}\n"
        "    override_requests: {__default__: my_foo}\n"
        "    workspace: /tmp/jws\n"
        "  - uses: !Other\n      metas: {name: o, py_modules: [a.py]}\n"
        "    uses_with:\n      x: '${{ENV.FH_JINA_PARAM}}'\n      y: ${{ FH_JINA_PARAM }}\n");
    assert_int_equal(c->n_executors, 2);
    fh_flow_executor *x = &c->executors[0];
    assert_string_equal(x->type, "MyExecutor");
    assert_string_equal(x->name, "tagged");
    assert_int_equal(fh_map_get_int(x->uses_with, "default_param", 0), 2);
    /* override_requests is merged into the file's requests, by endpoint */
    assert_int_equal(x->n_requests, 3);
    assert_string_equal(x->requests[2].endpoint, "default");
    assert_string_equal(x->requests[2].handler, "my_foo");
    assert_string_equal(x->workspace, "/tmp/jws/tagged"); /* + /REPLICA */
    assert_true(x->workspace_per_replica);
    x = &c->executors[1];
    assert_string_equal(x->type, "Other");
    assert_string_equal(x->name, "o");
    assert_string_equal(fh_map_get_string(x->uses_with, "x", NULL), "4");
    assert_int_equal(fh_map_get_int(x->uses_with, "y", 0), 4);
    assert_int_equal(c->n_warnings, 2); /* py_modules of the file, and of the inline map */
    fh_flow_config_destroy(&c);

    assert_contains(parse_fail("!Flow\nversion: '1'\nexecutors:\n  - uses: {with: {}}\n"),
                    "t.yml:4:11: missing the executor type in executor YAML");
    assert_contains(parse_fail("!Flow\nversion: '1'\nexecutors:\n  - {shards: 2, parallel: 2}\n"),
                    "t.yml:4:17: 'parallel' is Jina's older name for 'shards': keep one");
    assert_contains(parse_fail("!Flow\nversion: '1'\nwith: {polling: any}\nexecutors: []\n"),
                    "t.yml:3:8: 'polling' in with is not supported: polling is set per "
                    "executor");
    assert_contains(parse_fail("!Flow\nversion: '1'\nexecutors:\n  - timeout_ready: 5\n"),
                    "t.yml:4:5: 'timeout_ready' in executors[0] is not supported: flowhost "
                    "has one start deadline");
    assert_contains(parse_fail("!Flow\nversion: '1'\nexecutors:\n  - docker_kwargs: {}\n"),
                    "'docker_kwargs' in executors[0] is not supported: flowhost runs C "
                    "plugins, not containers");
    assert_contains(parse_fail("!Flow\nversion: '1'\nexecutors:\n"
                               "  - uses: {jtype: T, components: []}\n"),
                    "t.yml:4:22: 'components' in executor YAML is not supported");
    assert_contains(parse_fail("!Flow\nversion: '1'\nexecutors:\n  - name: ${{ this.x }}\n"),
                    "t.yml:4:11: '${{ this.x }}': references to other keys are not supported");
    assert_contains(parse_fail("!Flow\nversion: '1'\nexecutors:\n  - name: ${{ ENV.NO_SUCH_V }}\n"),
                    "environment variable 'NO_SUCH_V' is not set");
    assert_contains(parse_fail("!Flow\nversion: '1'\nexecutors:\n  - name: ${{ X\n"),
                    "unterminated '${{'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_tags),
        cmocka_unit_test(test_flow_type_and_version),
        cmocka_unit_test(test_flow_with),
        cmocka_unit_test(test_flow_protocols),
        cmocka_unit_test(test_executor_forms),
    };
    return cmocka_run_group_tests(tests, setup_all, NULL);
}

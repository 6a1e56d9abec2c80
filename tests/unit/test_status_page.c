/* Unit tests of the status page (host/gateway/status_page.c): it names every executor of
 * a graph flow, in its table and in the graph it draws, fetches nothing from outside the
 * page, and free text from the flow (a `when` condition) cannot break out of its HTML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow_config.h"
#include "status_page.h"

/* A diamond (a -> b, c -> d) with replicas and shards, a floating executor and a
 * condition whose text holds markup. */
static const char FLOW[] =
    "jtype: Flow\nversion: '1'\nexecutors:\n"
    "  - {name: encode, replicas: 2}\n"
    "  - {name: left, needs: encode, shards: 3, polling: ALL}\n"
    "  - {name: right, needs: encode, replicas: 3}\n"
    "  - {name: join, needs: [left, right]}\n"
    "  - {name: audit, needs: encode, floating: true}\n"
    "  - name: picky\n    needs: join\n    when: {text: {$eq: \"</script><b>&\"}}\n";

static char *page_of(const char *yaml, size_t *len)
{
    fh_flow_config *cfg = NULL;
    assert_int_equal(fh_flow_config_parse(yaml, strlen(yaml), "/flows/graph.yml", "/tmp", &cfg), 0);
    char *page = NULL;
    assert_int_equal(fh_status_page_html(cfg, &page, len), 0);
    fh_flow_config_destroy(&cfg);
    assert_non_null(page);
    assert_int_equal(strlen(page), *len);
    return page;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_every_executor(void **state)
{
    (void)state;
    size_t len;
    char *page = page_of(FLOW, &len);
    static const char *const names[] = {"encode", "left", "right", "join", "audit", "picky"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char row[64], node[64];
        snprintf(row, sizeof row, "<tr id=\"x-%s\">", names[i]); /* its table row */
        snprintf(node, sizeof node, "{\"name\":\"%s\",", names[i]); /* its graph node */
        if (count(page, row) != 1 || count(page, node) != 1)
            fail_msg("executor %s: %zu rows, %zu graph nodes", names[i], count(page, row),
                     count(page, node));
    }
    /* What the flow declares: replicas of every shard, shards and polling, floating. */
    assert_non_null(strstr(page, "<td data-k=\"replicas\">? / 2</td>"));
    assert_non_null(strstr(page, "<td data-k=\"replicas\">? / 3</td>")); /* left: 3 x 1 */
    assert_non_null(strstr(page, "3 shards, ALL"));
    assert_non_null(strstr(page, "\"needs\":[1,2]"));  /* join's edges */
    assert_non_null(strstr(page, "\"floating\":true"));
    assert_non_null(strstr(page, "\"name\":\"graph.yml\""));
    free(page);
}

static void test_self_contained(void **state)
{
    (void)state;
    size_t len;
    char *page = page_of(FLOW, &len);
    /* Nothing loaded from elsewhere: no src= or href= at all (the condition's "src=x" is
       would be escaped text), CSS url() only to the page's own fragments, no @import, and the one
       address fetched is the flow's own metrics. */
    assert_int_equal(count(page, "src="), 0);
    assert_int_equal(count(page, "href="), 0);
    assert_int_equal(count(page, "url("), count(page, "url(#"));
    assert_int_equal(count(page, "@import"), 0);
    assert_int_equal(count(page, "fetch("), 1);
    assert_non_null(strstr(page, "fetch(\"metrics\""));
    /* "http" only as the SVG namespace's name, which is never fetched. */
    assert_int_equal(count(page, "http"), count(page, "http://www.w3.org/2000/svg"));
    assert_int_equal(count(page, "//"), count(page, "http://www.w3.org/2000/svg"));
    /* The condition's markup stays text: two script elements, each closed once. */
    assert_int_equal(count(page, "<script"), 2);
    assert_int_equal(count(page, "</script>"), 2);
    assert_int_equal(count(page, "<b>"), 0);
    assert_non_null(strstr(page, "when {&quot;text&quot;:{&quot;$eq&quot;:&quot;&lt;/script&gt;"));
    assert_non_null(strstr(page, "\\u003c/script\\u003e\\u003cb\\u003e\\u0026"));
    free(page);
}

static void test_no_executor(void **state)
{
    (void)state;
    size_t len;
    char *page = page_of("jtype: Flow\nversion: '1'\nexecutors: []\n", &len);
    assert_non_null(strstr(page, "\"executors\":[]"));
    assert_int_equal(count(page, "<tr id=\"x-"), 0);
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_executor),
        cmocka_unit_test(test_self_contained),
        cmocka_unit_test(test_no_executor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

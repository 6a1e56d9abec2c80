/* Unit tests of `when:` conditions (host/flow_when.c): compile errors with their
 * positions, every operator, the types rule, nesting, and the JSON the worker gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <flowhost/error.h>
#include <flowhost/json.h>

#include "flow_config.h"
#include "flow_when.h"
#include "flow_yaml.h"

#define assert_contains(hay, needle)                                                 \
    do {                                                                             \
        const char *h_ = (hay);                                                      \
        if (!h_ || !strstr(h_, (needle)))                                            \
            fail_msg("message \"%s\" does not contain \"%s\"", h_ ? h_ : "(null)",   \
                     (needle));                                                      \
    } while (0)

/* The condition in the YAML text COND, compiled; its JSON in *TEXT when TEXT. */
static fh_when *compile(const char *cond, char **text, int *rc)
{
    fh_yaml_node *root = NULL;
    assert_int_equal(fh_yaml_parse(cond, strlen(cond), "t.yml", &root), 0);
    fh_when *w = NULL;
    char *json = NULL;
    *rc = fh_when_compile_yaml(root, "t.yml", NULL, NULL, &w, &json);
    fh_yaml_destroy(&root);
    if (text)
        *text = json;
    else
        free(json);
    return w;
}

/* Whether the document DOC (JSON) matches COND (YAML); checks that the condition read
 * back from its JSON, as a worker reads it, says the same. */
static bool match(const char *cond, const char *doc)
{
    int rc;
    char *text = NULL;
    fh_when *w = compile(cond, &text, &rc);
    if (rc != 0)
        fail_msg("%s: %s", cond, fh_last_error());
    fh_when *back = NULL;
    if (fh_when_compile_json(text, &back) != 0)
        fail_msg("%s: its JSON %s: %s", cond, text, fh_last_error());
    fh_doc *d = NULL;
    if (fh_doc_from_json(doc, strlen(doc), &d) != 0)
        fail_msg("%s: %s", doc, fh_last_error());
    bool m = fh_when_match(w, d);
    if (fh_when_match(back, d) != m)
        fail_msg("%s on %s: the JSON %s says otherwise", cond, doc, text);
    fh_doc_destroy(&d);
    fh_when_destroy(&w);
    fh_when_destroy(&back);
    free(text);
    return m;
}

/* COND must fail to compile with a message holding WANT. */
static void refused(const char *cond, const char *want)
{
    int rc;
    char *text = (char *)"unset";
    fh_when *w = compile(cond, &text, &rc);
    if (rc == 0)
        fail_msg("%s compiled; expected an error with \"%s\"", cond, want);
    assert_null(w);
    assert_null(text);
    assert_contains(fh_last_error(), want);
}

static void test_equality(void **state)
{
    (void)state;
    const char *d = "{\"id\":\"a\",\"text\":\"hello\",\"tags\":{\"lang\":\"en\",\"n\":3,"
                    "\"x\":2.5,\"ok\":true,\"nil\":null,\"list\":[1,2]}}";
    assert_true(match("{tags__lang: {$eq: en}}", d));
    assert_false(match("{tags__lang: {$eq: fr}}", d));
    assert_true(match("{tags__lang: {$ne: fr}}", d));
    assert_false(match("{tags__lang: {$ne: en}}", d));
    assert_true(match("{tags__n: {$eq: 3}}", d));
    assert_true(match("{tags__n: {$eq: 3.0}}", d));      /* an int equals a double */
    assert_true(match("{tags__x: {$eq: 2.5}}", d));
    assert_false(match("{tags__n: {$eq: '3'}}", d));     /* a string never equals a number */
    assert_true(match("{tags__n: {$ne: '3'}}", d));
    assert_true(match("{tags__ok: {$eq: true}}", d));
    assert_false(match("{tags__ok: {$eq: 1}}", d));      /* nor a boolean an int */
    assert_true(match("{tags__nil: {$eq: null}}", d));
    assert_true(match("{tags__gone: {$eq: null}}", d));  /* missing is null */
    assert_false(match("{tags__gone: {$eq: 1}}", d));
    assert_true(match("{tags__gone: {$ne: 1}}", d));
    assert_false(match("{tags__list: {$eq: 1}}", d));    /* a list equals no scalar */
    assert_true(match("{text: {$eq: hello}}", d));
    assert_true(match("{id: {$eq: a}}", d));
    assert_true(match("{uri: {$eq: null}}", d));          /* an empty string field is null */
    assert_false(match("{uri: {$eq: ''}}", d));
}

static void test_order(void **state)
{
    (void)state;
    const char *d = "{\"text\":\"m\",\"weight\":0.5,\"granularity\":2,\"tags\":{\"n\":3,"
                    "\"big\":9007199254740993,\"s\":\"b\",\"ok\":true}}";
    assert_true(match("{tags__n: {$gt: 2}}", d));
    assert_false(match("{tags__n: {$gt: 3}}", d));
    assert_true(match("{tags__n: {$gte: 3}}", d));
    assert_true(match("{tags__n: {$lt: 3.5}}", d));
    assert_false(match("{tags__n: {$lt: 3}}", d));
    assert_true(match("{tags__n: {$lte: 3.0}}", d));
    assert_true(match("{tags__n: {$gt: 2.999}}", d));
    /* exact, not through a double: 2^53 + 1 is more than 2^53 */
    assert_true(match("{tags__big: {$gt: 9007199254740992.0}}", d));
    assert_false(match("{tags__big: {$lte: 9007199254740992.0}}", d));
    assert_true(match("{tags__big: {$lt: 1.0e300}}", d));
    assert_true(match("{tags__s: {$gt: a}}", d));          /* strings, bytewise */
    assert_false(match("{tags__s: {$gt: c}}", d));
    /* mismatched types are never ordered: false both ways */
    assert_false(match("{tags__s: {$gt: 1}}", d));
    assert_false(match("{tags__s: {$lte: 1}}", d));
    assert_false(match("{tags__n: {$gt: a}}", d));
    assert_false(match("{tags__ok: {$gte: 0}}", d));
    assert_false(match("{tags__gone: {$lt: 10}}", d));
    assert_true(match("{weight: {$gt: 0.25, $lt: 1}}", d));
    assert_true(match("{granularity: {$gte: 2}}", d));
    assert_true(match("{adjacency: {$eq: 0}}", d));
    assert_true(match("{text: {$lt: n}}", d));
}

static void test_membership_and_exists(void **state)
{
    (void)state;
    const char *d = "{\"text\":\"t\",\"tags\":{\"lang\":\"de\",\"n\":2,\"nil\":null,"
                    "\"zero\":0,\"empty\":\"\"},\"embedding\":[1,2],\"scores\":{\"cos\":0.9},"
                    "\"chunks\":[{\"text\":\"c\"}]}";
    assert_true(match("{tags__lang: {$in: [en, de]}}", d));
    assert_false(match("{tags__lang: {$in: [en, fr]}}", d));
    assert_false(match("{tags__lang: {$in: []}}", d));
    assert_true(match("{tags__lang: {$nin: [en, fr]}}", d));
    assert_true(match("{tags__n: {$in: [2.0, x]}}", d));
    assert_false(match("{tags__n: {$in: ['2']}}", d));
    assert_true(match("{tags__gone: {$nin: [1]}}", d));
    assert_true(match("{tags__gone: {$in: [null]}}", d));
    assert_true(match("{tags__lang: {$exists: true}}", d));
    assert_true(match("{tags__zero: {$exists: true}}", d));  /* 0 and "" are values */
    assert_true(match("{tags__empty: {$exists: true}}", d));
    assert_false(match("{tags__nil: {$exists: true}}", d));  /* null is not */
    assert_true(match("{tags__gone: {$exists: false}}", d));
    assert_true(match("{tags: {$exists: true}}", d));
    assert_true(match("{embedding: {$exists: true}}", d));
    assert_false(match("{tensor: {$exists: true}}", d));
    assert_false(match("{blob: {$exists: true}}", d));
    assert_true(match("{chunks: {$exists: true}}", d));
    assert_false(match("{matches: {$exists: true}}", d));
    assert_true(match("{text: {$exists: true}}", d));
    assert_false(match("{uri: {$exists: true}}", d));
    assert_true(match("{scores__cos: {$gt: 0.5}}", d));
    assert_true(match("{scores__cos__value: {$gt: 0.5}}", d)); /* Jina's spelling */
    assert_true(match("{scores__l2: {$exists: false}}", d));
    assert_false(match("{scores__l2: {$lt: 1}}", d));
    assert_false(match("{text: {$exists: true}}", "{\"tags\":{\"a\":1}}"));
    assert_false(match("{tags: {$exists: true}}", "{\"text\":\"t\"}"));
}

static void test_nesting(void **state)
{
    (void)state;
    const char *d = "{\"text\":\"t\",\"tags\":{\"a\":{\"b\":{\"c\":5}},\"k\":1,\"s\":\"x\"}}";
    assert_true(match("{tags__a__b__c: {$eq: 5}}", d));
    assert_false(match("{tags__a__b: {$eq: 5}}", d));
    assert_true(match("{tags__a__b__c__d: {$exists: false}}", d)); /* through a number */
    assert_true(match("{tags__k__x: {$eq: null}}", d));
    /* several fields: all of them */
    assert_true(match("{tags__k: {$eq: 1}, tags__s: {$eq: x}}", d));
    assert_false(match("{tags__k: {$eq: 1}, tags__s: {$eq: y}}", d));
    assert_true(match("{$or: [{tags__k: {$eq: 2}}, {tags__s: {$eq: x}}]}", d));
    assert_false(match("{$or: [{tags__k: {$eq: 2}}, {tags__s: {$eq: y}}]}", d));
    assert_true(match("{$and: [{tags__k: {$eq: 1}}, {tags__s: {$eq: x}}]}", d));
    assert_false(match("{$and: [{tags__k: {$eq: 1}}, {tags__s: {$eq: y}}]}", d));
    assert_true(match("{$or: [{$and: [{tags__k: {$gt: 0}}, {tags__k: {$lt: 2}}]}, "
                      "{text: {$eq: nope}}], text: {$eq: t}}", d));
    assert_false(match("{$or: [{$and: [{tags__k: {$gt: 0}}, {tags__k: {$lt: 1}}]}, "
                       "{text: {$eq: nope}}], text: {$eq: t}}", d));
    assert_true(match("{}", d)); /* no condition: every document */
    assert_true(match("{$and: [{}]}", d));
}

static void test_errors(void **state)
{
    (void)state;
    refused("{txt: {$eq: a}}", "t.yml:1:2: unknown field 'txt' in 'when' (fields: tags__KEY");
    refused("tags__x:\n  $regex: a\n", "t.yml:2:3: unknown operator '$regex' on 'tags__x'");
    refused("{text: {$gt: 5}}", "t.yml:1:14: 'text' is a string: '$gt' needs a string, not an integer");
    refused("{text: {$eq: 5}}", "t.yml:1:14: 'text' is a string: '$eq' needs a string or null");
    refused("{weight: {$eq: heavy}}", "'weight' is a number: '$eq' needs a number, not a string");
    refused("{weight: {$exists: true}}", "t.yml:1:11: '$exists' does not apply to 'weight'");
    refused("{chunks: {$gt: 1}}", "t.yml:1:11: only '$exists' applies to 'chunks', not '$gt'");
    refused("{tags__x: {$gt: true}}", "t.yml:1:17: '$gt' needs a number or a string, not a boolean");
    refused("{tags__x: {$gt: null}}", "'$gt' needs a number or a string, not null");
    refused("{tags__x: {$in: 1}}", "t.yml:1:17: '$in' needs a list, not an integer");
    refused("{tags__x: {$nin: [1, [2]]}}", "t.yml:1:22: '$nin' needs a scalar");
    refused("{tags__x: {$eq: {a: 1}}}", "'$eq' needs a scalar (null, boolean, number or string), not a mapping");
    refused("{tags__x: {$exists: yes}}", "'$exists' needs true or false, not a string");
    refused("{tags__x: {$lt: .inf}}", "t.yml:1:17: '$lt' needs a finite number");
    refused("{tags__x: 5}", "t.yml:1:11: 'tags__x' needs a mapping of operators such as {$eq: VALUE}, not an integer");
    refused("{tags__x: {}}", "'tags__x' needs a mapping of operators such as {$eq: VALUE}, not an empty mapping");
    refused("[a]", "t.yml:1:1: 'when' must be a mapping, not a list");
    refused("{$and: []}", "t.yml:1:8: '$and' needs a non-empty list of conditions, not an empty list");
    refused("{$or: {a: 1}}", "'$or' needs a non-empty list of conditions, not a mapping");
    refused("{$or: [1]}", "t.yml:1:8: each condition of '$or' must be a mapping, not an integer");
    refused("{$not: {text: {$eq: a}}}", "t.yml:1:2: '$not' is not supported in 'when'");
    refused("{tags__: {$eq: 1}}", "field 'tags__' has an empty name between '__'");
    refused("{tags__a____b: {$eq: 1}}", "has an empty name between '__'");
    refused("{scores__: {$eq: 1}}", "a score is named as scores__NAME or scores__NAME__value");
    refused("{scores__a__b: {$eq: 1}}", "a score is named as");
    refused("{scores__a: {$eq: x}}", "'scores__a' is a number: '$eq' needs a number or null");
    /* deep inside: the position of the very key */
    refused("$or:\n  - text: {$eq: a}\n  - $and:\n      - tags__k: {$bad: 1}\n",
            "t.yml:4:19: unknown operator '$bad'");
    refused("{tags__n: {$eq: 99999999999999999999}}", "t.yml:1:17: integer '99999999999999999999' does not fit 64 bits");
}

static void test_json(void **state)
{
    (void)state;
    int rc;
    char *text = NULL;
    fh_when *w = compile("{tags__n: {$in: [1, 2.0, 'x', null, true]}, text: {$exists: true}}",
                         &text, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(text, "{\"tags__n\":{\"$in\":[1,2.0,\"x\",null,true]},"
                              "\"text\":{\"$exists\":true}}");
    fh_when_destroy(&w);
    free(text);
    /* From JSON, a mistake says "when:" (no file to point into) */
    assert_int_not_equal(fh_when_compile_json("{\"txt\":{\"$eq\":1}}", &w), 0);
    assert_null(w);
    assert_contains(fh_last_error(), "when: unknown field 'txt'");
    assert_int_not_equal(fh_when_compile_json("{\"a\":", &w), 0);
    assert_contains(fh_last_error(), "when: ");
    /* no condition matches everything; destroying none is fine */
    assert_true(fh_when_match(NULL, NULL));
    fh_when_destroy(&w);
    fh_when_destroy(NULL);
}

/* The loader fills an executor's `when` and `when_text`, with ${VAR} expanded and typed. */
static void test_loader(void **state)
{
    (void)state;
    const char *yaml = "jtype: Flow\nexecutors:\n  - name: a\n  - name: b\n    when:\n"
                       "      tags__n:\n        $gte: ${FH_WHEN_N}\n";
    setenv("FH_WHEN_N", "2", 1);
    fh_flow_config *cfg = NULL;
    assert_int_equal(fh_flow_config_parse(yaml, strlen(yaml), "f.yml", "/tmp", &cfg), 0);
    assert_null(cfg->executors[0].when);
    assert_null(cfg->executors[0].when_text);
    assert_non_null(cfg->executors[1].when);
    assert_string_equal(cfg->executors[1].when_text, "{\"tags__n\":{\"$gte\":2}}");
    fh_flow_config_destroy(&cfg);
    const char *bad = "jtype: Flow\nexecutors:\n  - name: a\n    when: {tags__n: {$gte: [1]}}\n";
    assert_int_not_equal(fh_flow_config_parse(bad, strlen(bad), "f.yml", "/tmp", &cfg), 0);
    assert_null(cfg);
    assert_contains(fh_last_error(), "f.yml:4:28: '$gte' needs a number or a string, not a list");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equality),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_membership_and_exists),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

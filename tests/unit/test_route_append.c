/* Unit tests: a route appended to an encoded envelope (codec.c fh_envelope_append_route)
 * decodes as the same envelope with the route added and encoded again
 * (fh_envelope_add_route + fh_pb_pack_msg), and the gateway's readers (fh_pb_measure,
 * fh_envelope_peek) take it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "pb.h"
#include <flowhost/error.h>
#include <flowhost/value.h>

/* An envelope with parameters, ROUTES routes before and a status (field 5 after the
 * routes' field 4, so that the appended route does not come last in field order). */
static Flowhost__Envelope *sample(size_t routes, bool error)
{
    Flowhost__Envelope *env = malloc(sizeof *env);
    assert_non_null(env);
    flowhost__envelope__init(env);
    assert_int_equal(fh_pb_set_string(&env->request_id, "req-1"), 0);
    assert_int_equal(fh_pb_set_string(&env->endpoint, "/index"), 0);
    fh_value *params = fh_value_new_map();
    assert_non_null(params);
    assert_int_equal(fh_map_set(params, "k", fh_value_new_int(42)), 0);
    env->parameters = FH_PB_VALUE(params);
    for (size_t i = 0; i < routes; i++) {
        char name[32];
        snprintf(name, sizeof name, "ex%zu", i);
        assert_int_equal(fh_envelope_add_route(env, name, 1000 + (int64_t)i, 2000 + (int64_t)i), 0);
    }
    if (error)
        assert_int_equal(fh_envelope_set_error(env, "ex0", "it failed"), 0);
    env->prefetch = 7;
    return env;
}

static void check_same(const Flowhost__Envelope *a, const Flowhost__Envelope *b)
{
    assert_string_equal(a->request_id, b->request_id);
    assert_string_equal(a->endpoint, b->endpoint);
    assert_int_equal(a->prefetch, b->prefetch);
    assert_true(fh_value_equal((const fh_value *)a->parameters, (const fh_value *)b->parameters));
    assert_int_equal(a->status != NULL, b->status != NULL);
    if (a->status != NULL) {
        assert_int_equal(a->status->code, b->status->code);
        assert_string_equal(a->status->description, b->status->description);
    }
    assert_int_equal(a->n_routes, b->n_routes);
    for (size_t i = 0; i < a->n_routes; i++) {
        assert_string_equal(a->routes[i]->executor, b->routes[i]->executor);
        assert_int_equal(a->routes[i]->start_time_us, b->routes[i]->start_time_us);
        assert_int_equal(a->routes[i]->end_time_us, b->routes[i]->end_time_us);
        assert_int_equal(a->routes[i]->replica, b->routes[i]->replica);
        assert_int_equal(a->routes[i]->replicas, b->routes[i]->replicas);
    }
}

static void appended_equals_reencoded_at(size_t routes, bool error, const char *name,
                                         uint32_t replica, uint32_t replicas, int64_t start)
{
    Flowhost__Envelope *env = sample(routes, error);
    zmq_msg_t in, appended, expected;
    assert_int_equal(fh_pb_pack_msg(&env->base, &in), 0);

    Flowhost__Route r = FLOWHOST__ROUTE__INIT;
    r.executor = (char *)name;
    r.start_time_us = start;
    r.end_time_us = start + 543;
    r.replica = replica;
    r.replicas = replicas;
    assert_int_equal(fh_envelope_append_route(zmq_msg_data(&in), zmq_msg_size(&in), &r, &appended),
                     0);

    /* Byte for byte what protobuf-c packs for the route alone, after the key and length. */
    size_t rlen = protobuf_c_message_get_packed_size(&r.base);
    uint8_t *packed = malloc(rlen + 1);
    assert_non_null(packed);
    protobuf_c_message_pack(&r.base, packed);
    assert_int_equal(zmq_msg_size(&appended), zmq_msg_size(&in) + 1 + (rlen < 128 ? 1 : 2) + rlen);
    assert_memory_equal((uint8_t *)zmq_msg_data(&appended) + zmq_msg_size(&appended) - rlen, packed,
                        rlen);
    free(packed);

    assert_int_equal(fh_envelope_add_route(env, name, r.start_time_us, r.end_time_us), 0);
    env->routes[env->n_routes - 1]->replica = replica;
    env->routes[env->n_routes - 1]->replicas = replicas;
    assert_int_equal(fh_pb_pack_msg(&env->base, &expected), 0);
    assert_int_equal(zmq_msg_size(&appended), zmq_msg_size(&expected));

    Flowhost__Envelope *got = NULL, *want = NULL;
    assert_int_equal(fh_pb_measure(&flowhost__envelope__descriptor, zmq_msg_data(&appended),
                                   zmq_msg_size(&appended), FH_DECODE_DEFAULT_MAX, NULL),
                     0);
    assert_int_equal(fh_envelope_decode(zmq_msg_data(&appended), zmq_msg_size(&appended), &got), 0);
    assert_int_equal(fh_envelope_decode(zmq_msg_data(&expected), zmq_msg_size(&expected), &want),
                     0);
    check_same(got, want);
    assert_int_equal(got->n_routes, routes + 1);

    fh_envelope_peek_t pk;
    assert_int_equal(fh_envelope_peek(zmq_msg_data(&appended), zmq_msg_size(&appended), &pk), 0);
    assert_int_equal(pk.request_id_len, 5);
    assert_memory_equal(pk.request_id, "req-1", 5);
    assert_int_equal(pk.status_code,
                     error ? FLOWHOST__STATUS__CODE__ERROR : FLOWHOST__STATUS__CODE__SUCCESS);

    flowhost__envelope__free_unpacked(got, NULL);
    flowhost__envelope__free_unpacked(want, NULL);
    flowhost__envelope__free_unpacked(env, NULL);
    zmq_msg_close(&in);
    zmq_msg_close(&appended);
    zmq_msg_close(&expected);
}

static void appended_equals_reencoded(size_t routes, bool error, const char *name,
                                      uint32_t replica, uint32_t replicas)
{
    appended_equals_reencoded_at(routes, error, name, replica, replicas, 1764770000123456);
}

/* A clock before 1970 (negative times take ten bytes of varint) and one at 0 (left out). */
static void test_odd_times(void **state)
{
    (void)state;
    appended_equals_reencoded_at(1, false, "p", 0, 0, -5);
    appended_equals_reencoded_at(1, false, "p", 0, 0, -543);
}

/* The gateway's answer: its route first, the prefetch over what the envelope says, as the
 * full decode, re-encode and insertion at the front would give. */
static void wrapped_equals_reencoded(size_t routes, bool error, uint32_t prefetch)
{
    Flowhost__Envelope *env = sample(routes, error);
    env->prefetch = 3; /* a later prefetch must win */
    zmq_msg_t in, wrapped, expected;
    assert_int_equal(fh_pb_pack_msg(&env->base, &in), 0);
    Flowhost__Route r = FLOWHOST__ROUTE__INIT;
    r.executor = (char *)"gateway";
    r.start_time_us = 1764770000000001;
    r.end_time_us = 1764770000999999;
    assert_int_equal(fh_envelope_wrap_reply(zmq_msg_data(&in), zmq_msg_size(&in), &r, prefetch,
                                            &wrapped),
                     0);
    assert_int_equal(fh_envelope_add_route(env, "gateway", r.start_time_us, r.end_time_us), 0);
    Flowhost__Route *gw = env->routes[env->n_routes - 1];
    memmove(env->routes + 1, env->routes, (env->n_routes - 1) * sizeof *env->routes);
    env->routes[0] = gw;
    env->prefetch = prefetch;
    assert_int_equal(fh_pb_pack_msg(&env->base, &expected), 0);
    Flowhost__Envelope *got = NULL, *want = NULL;
    assert_int_equal(fh_pb_measure(&flowhost__envelope__descriptor, zmq_msg_data(&wrapped),
                                   zmq_msg_size(&wrapped), FH_DECODE_DEFAULT_MAX, NULL),
                     0);
    assert_int_equal(fh_envelope_decode(zmq_msg_data(&wrapped), zmq_msg_size(&wrapped), &got), 0);
    assert_int_equal(fh_envelope_decode(zmq_msg_data(&expected), zmq_msg_size(&expected), &want),
                     0);
    check_same(got, want);
    assert_string_equal(got->routes[0]->executor, "gateway");
    assert_int_equal(got->prefetch, prefetch);
    /* The envelope's own prefetch stays in the bytes, and a 0 is written too. */
    assert_int_equal(zmq_msg_size(&wrapped), zmq_msg_size(&expected) + 2 + (prefetch == 0 ? 2 : 0));
    flowhost__envelope__free_unpacked(got, NULL);
    flowhost__envelope__free_unpacked(want, NULL);
    flowhost__envelope__free_unpacked(env, NULL);
    zmq_msg_close(&in);
    zmq_msg_close(&wrapped);
    zmq_msg_close(&expected);
}

static void test_wrap_reply(void **state)
{
    (void)state;
    wrapped_equals_reencoded(0, false, 0);
    wrapped_equals_reencoded(3, false, 8);
    wrapped_equals_reencoded(2, true, 300);
}

static void test_first_route(void **state)
{
    (void)state;
    appended_equals_reencoded(0, false, "p1", 0, 0);
}

static void test_after_routes_and_a_status(void **state)
{
    (void)state;
    appended_equals_reencoded(3, true, "p2", 1, 2);
}

/* A route of more than 127 bytes: its length takes two bytes of varint. */
static void test_long_name(void **state)
{
    (void)state;
    char name[300];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    appended_equals_reencoded(2, false, name, 5, 9);
}

/* An empty envelope (no field at all) takes a route too. */
static void test_empty_envelope(void **state)
{
    (void)state;
    Flowhost__Route r = FLOWHOST__ROUTE__INIT;
    r.executor = "e";
    r.end_time_us = 1;
    zmq_msg_t out;
    assert_int_equal(fh_envelope_append_route(NULL, 0, &r, &out), 0);
    Flowhost__Envelope *got = NULL;
    assert_int_equal(fh_envelope_decode(zmq_msg_data(&out), zmq_msg_size(&out), &got), 0);
    assert_int_equal(got->n_routes, 1);
    assert_string_equal(got->routes[0]->executor, "e");
    assert_int_equal(got->routes[0]->end_time_us, 1);
    flowhost__envelope__free_unpacked(got, NULL);
    zmq_msg_close(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_route),
        cmocka_unit_test(test_wrap_reply),
        cmocka_unit_test(test_after_routes_and_a_status),
        cmocka_unit_test(test_long_name),
        cmocka_unit_test(test_empty_envelope),
        cmocka_unit_test(test_odd_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: what a message costs decoded, known before it is decoded (pb_check.c
 * fh_pb_measure and the decoders that use it): the size it predicts against what the
 * heap really gives protobuf-c, budgets refused before anything is allocated, strings
 * with a NUL, a singular message given twice, the ids of a refused envelope. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "pb.h"
#include <flowhost/document.h>
#include <flowhost/error.h>

/* A growing byte buffer. */
typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_varint(buf *b, uint64_t v)
{
    uint8_t c[10];
    size_t n = 0;
    do {
        c[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c[n] |= 0x80;
        n++;
    } while (v);
    put(b, c, n);
}

/* Field NUMBER, length-delimited, holding N bytes at DATA. */
static void put_field(buf *b, unsigned number, const void *data, size_t n)
{
    put_varint(b, (uint64_t)number << 3 | 2);
    put_varint(b, n);
    put(b, data, n);
}

/* An envelope {request_id: "r1", endpoint: "/x", parameters: a map of N empty entries}:
 * 2 bytes on the wire per entry. */
static buf empty_entries_envelope(size_t n)
{
    buf entries = {0}, map = {0}, value = {0}, env = {0};
    for (size_t i = 0; i < n; i++)
        put_field(&entries, 1, "", 0); /* MapValue.entries: an empty MapEntry */
    put_field(&map, 8, entries.p, entries.len); /* Value.map_value */
    put_field(&env, 1, "r1", 2);
    put_field(&env, 2, "/x", 2);
    put_field(&env, 3, map.p, map.len); /* Envelope.parameters */
    free(entries.p);
    free(map.p);
    free(value.p);
    return env;
}

/* An allocator for protobuf-c that counts what the heap gives it: every block as malloc
 * holds it (its usable size and 8 bytes of header), and the most held at once. */
typedef struct counted {
    size_t now, peak;
} counted;

static void *counted_alloc(void *data, size_t size)
{
    counted *c = data;
    void *p = malloc(size);
    if (p != NULL) {
        c->now += malloc_usable_size(p) + 8;
        if (c->now > c->peak)
            c->peak = c->now;
    }
    return p;
}

static void counted_free(void *data, void *p)
{
    counted *c = data;
    if (p != NULL)
        c->now -= malloc_usable_size(p) + 8;
    free(p);
}

/* Decodes B as DESC and checks that fh_pb_measure's prediction covers the most the
 * decoder held at once (the message and its scratch), and is not more than a fifth above
 * it (allocator rounding aside, the prediction follows protobuf-c's own steps). */
static void check_prediction(const ProtobufCMessageDescriptor *desc, const buf *b)
{
    size_t predicted = 0;
    assert_int_equal(fh_pb_measure(desc, b->p, b->len, SIZE_MAX, &predicted), 0);
    assert_true(predicted > b->len);
    counted c = {0, 0};
    ProtobufCAllocator a = {counted_alloc, counted_free, &c};
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a, b->len, b->p);
    assert_non_null(m);
    print_message("%s of %zu bytes: predicted %zu, held at most %zu, then %zu\n",
                  desc->short_name, b->len, predicted, c.peak, c.now);
    assert_true(predicted >= c.peak);
#ifndef __SANITIZE_ADDRESS__ /* its malloc rounds otherwise */
    assert_true(predicted <= c.peak + c.peak / 5);
#endif
    protobuf_c_message_free_unpacked(m, &a);
    assert_int_equal(c.now, 0);
}

static void test_prediction_of_empty_entries(void **state)
{
    (void)state;
    buf env = empty_entries_envelope(100000);
    assert_true(env.len < 210000);
    check_prediction(&flowhost__envelope__descriptor, &env);
    size_t predicted;
    assert_int_equal(fh_pb_measure(&flowhost__envelope__descriptor, env.p, env.len, SIZE_MAX,
                                   &predicted), 0);
    /* 200 KB on the wire, more than 40 times that decoded */
    assert_true(predicted > 40 * env.len);
    free(env.p);
}

static void test_prediction_of_documents(void **state)
{
    (void)state;
    fh_docs *docs = fh_docs_new();
    for (int i = 0; i < 20000; i++) {
        fh_doc *d = fh_doc_new();
        char text[32];
        snprintf(text, sizeof text, "d%d", i);
        assert_int_equal(fh_doc_set_text(d, text), 0);
        if (i % 7 == 0) {
            fh_value *tags = fh_doc_tags(d);
            assert_int_equal(fh_map_set_int(tags, "n", i), 0);
            assert_int_equal(fh_map_set_string(tags, "s", "tag"), 0);
        }
        if (i % 11 == 0) {
            float e[3] = {1, 2, 3};
            assert_int_equal(fh_doc_set_embedding(d, e, 3), 0);
        }
        assert_int_equal(fh_docs_append(docs, d), 0);
    }
    zmq_msg_t frame;
    assert_int_equal(fh_docs_pack(docs, &frame), 0);
    buf b = {zmq_msg_data(&frame), zmq_msg_size(&frame), 0};
    check_prediction(&flowhost__document_array__descriptor, &b);
    zmq_msg_close(&frame);
    fh_docs_destroy(&docs);
}

/* A budget refuses before decoding, with FH_E_RANGE; the exact prediction passes. */
static void test_budget(void **state)
{
    (void)state;
    buf env = empty_entries_envelope(50000);
    size_t predicted, decoded = 0;
    assert_int_equal(fh_pb_measure(&flowhost__envelope__descriptor, env.p, env.len, SIZE_MAX,
                                   &predicted), 0);
    Flowhost__Envelope *e = NULL;
    assert_int_equal(fh_envelope_decode_max(env.p, env.len, predicted - 1, &e, &decoded), FH_E_RANGE);
    assert_null(e);
    assert_non_null(strstr(fh_last_error(), "cannot decode the request envelope: it would take "
                                            "more than"));
    assert_int_equal(fh_envelope_decode_max(env.p, env.len, predicted, &e, &decoded), 0);
    assert_int_equal(decoded, predicted);
    assert_int_equal(e->parameters->map_value->n_entries, 50000);
    flowhost__envelope__free_unpacked(e, NULL);

    /* Documents: the blob frames count. */
    fh_wire_docs w;
    fh_wire_docs_init(&w);
    w.blobs = calloc(1, sizeof *w.blobs);
    zmq_msg_init_size(&w.blobs[0], 5000);
    w.n_blobs = 1;
    fh_docs *docs = NULL;
    assert_int_equal(fh_docs_decode_wire_max(&w, 4999, &docs), FH_E_RANGE);
    assert_non_null(strstr(fh_last_error(), "blob frames hold 5000 bytes"));
    fh_wire_docs_close(&w);
    free(env.p);
}

/* A string with a NUL would be cut short in C: refused, and named. */
static void test_nul_in_string(void **state)
{
    (void)state;
    buf env = {0};
    put_field(&env, 1, "ab\0cd", 5);
    put_field(&env, 2, "/x", 2);
    Flowhost__Envelope *e = NULL;
    assert_int_equal(fh_envelope_decode(env.p, env.len, &e), FH_E_RANGE);
    assert_non_null(strstr(fh_last_error(), "string field 'request_id' of Envelope holds a NUL byte"));
    /* ... but its id and endpoint can still be read, to answer it. */
    assert_int_equal(fh_envelope_decode_ids(env.p, env.len, &e), 0);
    assert_string_equal(e->request_id, "ab");
    assert_string_equal(e->endpoint, "/x");
    flowhost__envelope__free_unpacked(e, NULL);
    free(env.p);

    buf doc = {0}, docs = {0};
    put_field(&doc, 3, "text\0more", 9); /* Document.text */
    put_field(&docs, 1, doc.p, doc.len);
    fh_docs *d = NULL;
    assert_int_equal(fh_docs_decode(docs.p, docs.len, &d), FH_E_RANGE);
    assert_non_null(strstr(fh_last_error(), "string field 'text' of Document holds a NUL byte"));
    free(doc.p);
    free(docs.p);
}

/* protobuf-c merges a singular message field given twice, concatenating its repeated
 * fields: given 10^5 times, 5 x 10^9 copies. Refused before. */
static void test_singular_message_twice(void **state)
{
    (void)state;
    buf nd = {0}, doc = {0}, docs = {0};
    uint8_t shape[] = {1};
    put_field(&nd, 2, shape, 1); /* NdArray.shape, packed */
    for (int i = 0; i < 100000; i++)
        put_field(&doc, 8, nd.p, nd.len); /* Document.embedding, again and again */
    put_field(&docs, 1, doc.p, doc.len);
    fh_docs *d = NULL;
    assert_int_equal(fh_docs_decode(docs.p, docs.len, &d), FH_E_PROTOCOL);
    assert_non_null(strstr(fh_last_error(), "field 'embedding' of Document given twice"));
    /* A repeated field given many times is fine. */
    buf many = {0};
    for (int i = 0; i < 1000; i++)
        put_field(&many, 1, "", 0);
    assert_int_equal(fh_docs_decode(many.p, many.len, &d), 0);
    assert_int_equal(fh_docs_len(d), 1000);
    fh_docs_destroy(&d);
    free(nd.p);
    free(doc.p);
    free(docs.p);
    free(many.p);
}

/* A malformed envelope is not well-formed enough to answer: FH_E_PROTOCOL. */
static void test_malformed(void **state)
{
    (void)state;
    const uint8_t cut[] = {0x0a, 0x50, 'a', 'b', 'c'};
    Flowhost__Envelope *e = NULL;
    assert_int_equal(fh_envelope_decode(cut, sizeof cut, &e), FH_E_PROTOCOL);
    assert_int_equal(fh_envelope_decode_ids(cut, sizeof cut, &e), FH_E_PROTOCOL);
    assert_null(e);
}

/* A map with a field maps do not have is refused: it could hold no hash index, and every
 * lookup in it would scan. The same map without it decodes. */
static void test_map_with_unknown_field(void **state)
{
    (void)state;
    /* Envelope.parameters (3) = Value.map_value (8) = MapValue { field 2: varint 1 } */
    const uint8_t odd[] = {0x1a, 0x04, 0x42, 0x02, 0x10, 0x01};
    const uint8_t plain[] = {0x1a, 0x02, 0x42, 0x00};
    Flowhost__Envelope *e = NULL;
    assert_int_equal(fh_envelope_decode(odd, sizeof odd, &e), FH_E_PROTOCOL);
    assert_null(e);
    assert_int_equal(fh_envelope_decode(plain, sizeof plain, &e), 0);
    assert_non_null(e);
    flowhost__envelope__free_unpacked(e, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prediction_of_empty_entries),
        cmocka_unit_test(test_prediction_of_documents),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_nul_in_string),
        cmocka_unit_test(test_singular_message_twice),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_map_with_unknown_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

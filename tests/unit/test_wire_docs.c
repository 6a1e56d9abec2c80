/* Unit tests: documents as they travel (codec.c fh_docs_pack_wire / fh_docs_decode_wire,
 * wire.c fh_wire_docs_*): large blobs taken out into frames of their own and put back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "pb.h"
#include "wire.h"
#include <flowhost/document.h>
#include <flowhost/error.h>

#define KIB 1024

static unsigned char pattern_byte(size_t i, unsigned seed)
{
    return (unsigned char)(i * 131 + seed * 7 + (i >> 9));
}

/* A buffer of N bytes whose content depends on SEED, from malloc. */
static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = pattern_byte(i, seed);
    return p;
}

/* An array of N documents; document I has a blob of SIZES[I] bytes (pattern seed I). */
static fh_docs *make_docs(const size_t *sizes, size_t n)
{
    fh_docs *docs = fh_docs_new();
    assert_non_null(docs);
    for (size_t i = 0; i < n; i++) {
        fh_doc *d = fh_doc_new();
        assert_non_null(d);
        if (sizes[i] > 0) {
            unsigned char *b = pattern(sizes[i], (unsigned)i);
            assert_int_equal(fh_doc_take_blob(d, b, sizes[i]), 0);
        }
        assert_int_equal(fh_docs_append(docs, d), 0);
    }
    return docs;
}

/* Checks that document I of DOCS has the blob make_docs gave it. */
static void assert_blobs(const fh_docs *docs, const size_t *sizes, size_t n)
{
    assert_int_equal(fh_docs_len(docs), n);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const void *b = fh_doc_blob(fh_docs_at(docs, i), &len);
        assert_int_equal(len, sizes[i]);
        if (sizes[i] > 0) {
            unsigned char *want = pattern(sizes[i], (unsigned)i);
            assert_memory_equal(b, want, sizes[i]);
            free(want);
        }
    }
}

static void test_large_blobs_are_taken_into_frames(void **state)
{
    (void)state;
    const size_t sizes[] = {100, FH_BLOB_FRAME_MIN - 1, FH_BLOB_FRAME_MIN, 0, 1024 * KIB};
    size_t n = sizeof sizes / sizeof sizes[0];
    fh_docs *docs = make_docs(sizes, n);
    const void *big = fh_doc_blob(fh_docs_at(docs, 4), NULL);
    fh_wire_docs w;
    assert_int_equal(fh_docs_pack_wire(docs, 1, &w), 0);
    /* the two blobs at or above the threshold, in document order, not copied */
    assert_int_equal(w.n_blobs, 2);
    assert_int_equal(zmq_msg_size(&w.blobs[0]), FH_BLOB_FRAME_MIN);
    assert_int_equal(zmq_msg_size(&w.blobs[1]), 1024 * KIB);
    assert_ptr_equal(zmq_msg_data(&w.blobs[1]), big);
    /* they left their documents; the small ones stayed */
    size_t len;
    assert_null(fh_doc_blob(fh_docs_at(docs, 2), &len));
    assert_null(fh_doc_blob(fh_docs_at(docs, 4), &len));
    assert_non_null(fh_doc_blob(fh_docs_at(docs, 1), &len));
    assert_int_equal(len, FH_BLOB_FRAME_MIN - 1);
    /* the documents frame holds the small blobs only */
    assert_true(zmq_msg_size(&w.docs) < 2 * FH_BLOB_FRAME_MIN);
    assert_int_equal(fh_wire_docs_size(&w),
                     zmq_msg_size(&w.docs) + FH_BLOB_FRAME_MIN + 1024 * KIB);
    fh_docs_destroy(&docs);

    fh_docs *back = NULL;
    assert_int_equal(fh_docs_decode_wire(&w, &back), 0);
    assert_blobs(back, sizes, n);
    /* decoded documents say nothing of frames: packed again without taking, they are whole */
    zmq_msg_t inline_frame;
    assert_int_equal(fh_docs_pack(back, &inline_frame), 0);
    fh_docs *again = NULL;
    assert_int_equal(fh_docs_decode(zmq_msg_data(&inline_frame), zmq_msg_size(&inline_frame),
                                    &again),
                     0);
    assert_blobs(again, sizes, n);
    zmq_msg_close(&inline_frame);
    fh_docs_destroy(&again);
    fh_docs_destroy(&back);
    fh_wire_docs_close(&w);
    assert_int_equal(w.n_blobs, 0);
    assert_null(w.blobs);
}

static void test_without_taking_everything_is_inline(void **state)
{
    (void)state;
    const size_t sizes[] = {64 * KIB, 10, 512 * KIB};
    fh_docs *docs = make_docs(sizes, 3);
    fh_wire_docs w;
    assert_int_equal(fh_docs_pack_wire(docs, 0, &w), 0);
    assert_int_equal(w.n_blobs, 0);
    assert_true(zmq_msg_size(&w.docs) > 576 * KIB);
    assert_blobs(docs, sizes, 3); /* untouched */
    fh_docs *back = NULL;
    assert_int_equal(fh_docs_decode_wire(&w, &back), 0);
    assert_blobs(back, sizes, 3);
    fh_docs_destroy(&back);
    fh_docs_destroy(&docs);
    fh_wire_docs_close(&w);
}

static void test_at_most_max_blob_frames(void **state)
{
    (void)state;
    enum { N = FH_WIRE_MAX_BLOBS + 4 };
    size_t sizes[N];
    for (size_t i = 0; i < N; i++)
        sizes[i] = FH_BLOB_FRAME_MIN + i;
    fh_docs *docs = make_docs(sizes, N);
    fh_wire_docs w;
    assert_int_equal(fh_docs_pack_wire(docs, 1, &w), 0);
    assert_int_equal(w.n_blobs, FH_WIRE_MAX_BLOBS);
    for (size_t i = 0; i < FH_WIRE_MAX_BLOBS; i++)
        assert_int_equal(zmq_msg_size(&w.blobs[i]), sizes[i]);
    size_t len;
    assert_non_null(fh_doc_blob(fh_docs_at(docs, N - 1), &len)); /* the rest stay inline */
    fh_docs_destroy(&docs);
    fh_docs *back = NULL;
    assert_int_equal(fh_docs_decode_wire(&w, &back), 0);
    assert_blobs(back, sizes, N);
    fh_docs_destroy(&back);
    fh_wire_docs_close(&w);
}

static void test_mismatched_frames_are_refused(void **state)
{
    (void)state;
    const size_t sizes[] = {FH_BLOB_FRAME_MIN, 5, FH_BLOB_FRAME_MIN * 2};
    fh_docs *docs = make_docs(sizes, 3);
    fh_wire_docs w;
    assert_int_equal(fh_docs_pack_wire(docs, 1, &w), 0);
    fh_docs_destroy(&docs);
    assert_int_equal(w.n_blobs, 2);

    /* a frame missing */
    w.n_blobs = 1;
    fh_docs *back = (fh_docs *)&back; /* not NULL: must come back NULL */
    assert_int_equal(fh_docs_decode_wire(&w, &back), FH_E_PROTOCOL);
    assert_null(back);
    assert_non_null(strstr(fh_last_error(), "document 2 says its blob is attached"));
    /* no frames at all */
    w.n_blobs = 0;
    assert_int_equal(fh_docs_decode_wire(&w, &back), FH_E_PROTOCOL);
    /* a frame too many */
    w.n_blobs = 2;
    zmq_msg_t extra[3];
    for (size_t i = 0; i < 2; i++) {
        zmq_msg_init(&extra[i]);
        zmq_msg_move(&extra[i], &w.blobs[i]);
    }
    zmq_msg_init_size(&extra[2], 3);
    memcpy(zmq_msg_data(&extra[2]), "abc", 3);
    zmq_msg_t *three = malloc(3 * sizeof *three);
    assert_non_null(three);
    for (size_t i = 0; i < 3; i++) {
        zmq_msg_init(&three[i]);
        zmq_msg_move(&three[i], &extra[i]);
    }
    free(w.blobs);
    w.blobs = three;
    w.n_blobs = 3;
    assert_int_equal(fh_docs_decode_wire(&w, &back), FH_E_PROTOCOL);
    assert_null(back);
    assert_non_null(strstr(fh_last_error(), "3 blob frames came for 2 attached fields"));
    fh_wire_docs_close(&w);
}

static void test_share_take_and_move(void **state)
{
    (void)state;
    const size_t sizes[] = {FH_BLOB_FRAME_MIN, 1};
    fh_docs *docs = make_docs(sizes, 2);
    fh_wire_docs w, shared, moved;
    assert_int_equal(fh_docs_pack_wire(docs, 1, &w), 0);
    fh_docs_destroy(&docs);
    assert_int_equal(fh_wire_docs_share(&shared, &w), 0);
    assert_int_equal(shared.n_blobs, 1);
    /* a share is the same buffer, not a copy */
    assert_ptr_equal(zmq_msg_data(&shared.blobs[0]), zmq_msg_data(&w.blobs[0]));
    assert_int_equal(fh_wire_docs_size(&shared), fh_wire_docs_size(&w));
    fh_wire_docs_close(&w); /* the share keeps the bytes alive */
    fh_wire_docs_move(&moved, &shared);
    assert_int_equal(shared.n_blobs, 0);
    assert_int_equal(fh_wire_docs_size(&shared), 0);
    fh_docs *back = NULL;
    assert_int_equal(fh_docs_decode_wire(&moved, &back), 0);
    assert_blobs(back, sizes, 2);
    fh_docs_destroy(&back);
    fh_wire_docs_close(&moved);
    fh_wire_docs_close(&shared);

    /* take: frames from a received message, from a given index on */
    fh_wire_msg m = {.n = 0};
    const char *parts[] = {"sig", "c", "env", "docs", "b1", "b2"};
    for (size_t i = 0; i < 6; i++) {
        zmq_msg_init_size(&m.frames[i], strlen(parts[i]));
        memcpy(zmq_msg_data(&m.frames[i]), parts[i], strlen(parts[i]));
        m.n++;
    }
    fh_wire_docs t;
    fh_wire_docs_init(&t);
    assert_int_equal(fh_wire_docs_take(&t, &m, 3), 0);
    assert_int_equal(zmq_msg_size(&t.docs), 4);
    assert_int_equal(t.n_blobs, 2);
    assert_memory_equal(zmq_msg_data(&t.blobs[1]), "b2", 2);
    assert_int_equal(zmq_msg_size(&m.frames[2]), 3); /* before AT: still the message's */
    fh_wire_docs_close(&t);
    /* nothing from AT on: no documents */
    assert_int_equal(fh_wire_docs_take(&t, &m, 6), 0);
    assert_int_equal(fh_wire_docs_size(&t), 0);
    fh_wire_close(&m);
}

static void test_too_many_blob_frames_to_take(void **state)
{
    (void)state;
    fh_wire_msg m = {.n = 0};
    for (size_t i = 0; i < FH_WIRE_MAX_FRAMES; i++) {
        zmq_msg_init_size(&m.frames[i], 1);
        m.n++;
    }
    fh_wire_docs t;
    fh_wire_docs_init(&t);
    /* a message without routing id: frames 3.. are documents + 17 blobs */
    assert_int_equal(fh_wire_docs_take(&t, &m, 3), FH_E_PROTOCOL);
    assert_int_equal(t.n_blobs, 0);
    assert_non_null(strstr(fh_last_error(), "blob frames (at most 16)"));
    /* with a routing id in front, the same count fits */
    assert_int_equal(fh_wire_docs_take(&t, &m, 4), 0);
    fh_wire_docs_close(&t);
    fh_wire_close(&m);
}

/* A blob_attached flag that did not come with a frame (on a chunk, where it means
 * nothing, or left on a document from elsewhere) never travels on: decoding clears it in
 * chunks and matches, packing sets it on top-level documents only for blobs it took. */
static void test_stale_flags_do_not_travel(void **state)
{
    (void)state;
    /* by hand, as a foreign sender could: a document whose chunk and match say
     * blob_attached, with small blobs inline, and no blob frame */
    Flowhost__Document chunk = FLOWHOST__DOCUMENT__INIT, match = FLOWHOST__DOCUMENT__INIT;
    Flowhost__Document top = FLOWHOST__DOCUMENT__INIT;
    Flowhost__Document *chunks[] = {&chunk}, *matches[] = {&match}, *tops[] = {&top};
    chunk.blob_attached = match.blob_attached = 1;
    chunk.blob.data = (uint8_t *)"chunk bytes";
    chunk.blob.len = 11;
    top.n_chunks = 1;
    top.chunks = chunks;
    top.n_matches = 1;
    top.matches = matches;
    Flowhost__DocumentArray arr = FLOWHOST__DOCUMENT_ARRAY__INIT;
    arr.n_docs = 1;
    arr.docs = tops;
    fh_wire_docs w;
    fh_wire_docs_init(&w);
    size_t len = flowhost__document_array__get_packed_size(&arr);
    zmq_msg_init_size(&w.docs, len);
    flowhost__document_array__pack(&arr, zmq_msg_data(&w.docs));
    fh_docs *docs = NULL;
    assert_int_equal(fh_docs_decode_wire(&w, &docs), 0);
    fh_wire_docs_close(&w);
    fh_doc *d = fh_docs_at(docs, 0);
    assert_false(FH_PB_DOC(fh_doc_chunk_at(d, 0))->blob_attached);
    assert_false(FH_PB_DOC(fh_doc_match_at(d, 0))->blob_attached);

    /* a chunk made a top-level document of its own, with a flag forced on it, and a
     * big blob after it: only the big one is attached, and it all decodes again */
    fh_doc *promoted = fh_doc_copy(fh_doc_chunk_at(d, 0));
    assert_non_null(promoted);
    FH_PB_DOC(promoted)->blob_attached = 1;
    assert_int_equal(fh_docs_append(docs, promoted), 0);
    fh_doc *big = fh_doc_new();
    assert_int_equal(fh_doc_take_blob(big, pattern(FH_BLOB_FRAME_MIN, 9), FH_BLOB_FRAME_MIN), 0);
    assert_int_equal(fh_docs_append(docs, big), 0);
    for (int take = 0; take <= 1; take++) {
        assert_int_equal(fh_docs_pack_wire(docs, take, &w), 0);
        assert_int_equal(w.n_blobs, (size_t)take);
        fh_docs *back = NULL;
        assert_int_equal(fh_docs_decode_wire(&w, &back), 0);
        assert_int_equal(fh_docs_len(back), 3);
        size_t n;
        const void *b = fh_doc_blob(fh_docs_at(back, 1), &n);
        assert_int_equal(n, 11);
        assert_memory_equal(b, "chunk bytes", 11);
        fh_doc_blob(fh_docs_at(back, 2), &n);
        assert_int_equal(n, FH_BLOB_FRAME_MIN);
        fh_docs_destroy(&back);
        fh_wire_docs_close(&w);
    }
    fh_docs_destroy(&docs);
}

/* Embeddings and tensors travel like blobs: per document blob, embedding, tensor, and
 * the cap counts them all. */
static void test_embeddings_and_tensors_travel_as_frames(void **state)
{
    (void)state;
    enum { FLOATS = FH_BLOB_FRAME_MIN / 4 + 1, DOCS = 7 };
    float *emb = malloc(FLOATS * sizeof *emb);
    assert_non_null(emb);
    for (size_t i = 0; i < FLOATS; i++)
        emb[i] = (float)i * 0.5f;
    const uint64_t shape[] = {64, 256, 3}; /* uint8: 48 KiB */
    unsigned char *pixels = pattern(64 * 256 * 3, 5);
    fh_docs *docs = fh_docs_new();
    for (size_t i = 0; i < DOCS; i++) { /* 7 documents of 3 big fields: 21 > 16 */
        fh_doc *d = fh_doc_new();
        assert_int_equal(fh_doc_take_blob(d, pattern(FH_BLOB_FRAME_MIN, (unsigned)i), FH_BLOB_FRAME_MIN), 0);
        assert_int_equal(fh_doc_set_embedding(d, emb, FLOATS), 0);
        assert_int_equal(fh_doc_set_tensor(d, "uint8", shape, 3, pixels, 64 * 256 * 3), 0);
        assert_int_equal(fh_docs_append(docs, d), 0);
    }
    fh_doc *small = fh_doc_new(); /* a small tensor stays inline */
    const uint64_t one[] = {4};
    assert_int_equal(fh_doc_set_tensor(small, "uint8", one, 1, "abcd", 4), 0);
    assert_int_equal(fh_docs_append(docs, small), 0);

    fh_wire_docs w;
    assert_int_equal(fh_docs_pack_wire(docs, 1, &w), 0);
    assert_int_equal(w.n_blobs, FH_WIRE_MAX_BLOBS);
    /* document 0: blob, embedding, tensor, in that order */
    assert_int_equal(zmq_msg_size(&w.blobs[0]), FH_BLOB_FRAME_MIN);
    assert_int_equal(zmq_msg_size(&w.blobs[1]), FLOATS * sizeof(float));
    assert_int_equal(zmq_msg_size(&w.blobs[2]), 64 * 256 * 3);
    fh_docs_destroy(&docs);

    fh_docs *back = NULL;
    assert_int_equal(fh_docs_decode_wire(&w, &back), 0);
    assert_int_equal(fh_docs_len(back), DOCS + 1);
    for (size_t i = 0; i < DOCS; i++) {
        const fh_doc *d = fh_docs_at(back, i);
        size_t n;
        const void *b = fh_doc_blob(d, &n);
        unsigned char *want = pattern(FH_BLOB_FRAME_MIN, (unsigned)i);
        assert_int_equal(n, FH_BLOB_FRAME_MIN);
        assert_memory_equal(b, want, n);
        free(want);
        const float *e = fh_doc_embedding(d, &n);
        assert_int_equal(n, FLOATS);
        assert_memory_equal(e, emb, FLOATS * sizeof *emb);
        const char *dtype;
        const uint64_t *sh;
        size_t ndim, nbytes;
        const void *t = fh_doc_tensor(d, &dtype, &sh, &ndim, &nbytes);
        assert_non_null(t);
        assert_string_equal(dtype, "uint8");
        assert_int_equal(ndim, 3);
        assert_int_equal(nbytes, 64 * 256 * 3);
        assert_memory_equal(t, pixels, nbytes);
    }
    const char *dtype;
    const uint64_t *sh;
    size_t ndim, nbytes;
    const void *t = fh_doc_tensor(fh_docs_at(back, DOCS), &dtype, &sh, &ndim, &nbytes);
    assert_int_equal(nbytes, 4);
    assert_memory_equal(t, "abcd", 4);
    fh_docs_destroy(&back);

    /* a tensor that says it is attached, with no frame: named in the error */
    w.n_blobs = 2;
    assert_int_equal(fh_docs_decode_wire(&w, &back), FH_E_PROTOCOL);
    assert_non_null(strstr(fh_last_error(), "document 0 says its tensor is attached"));
    w.n_blobs = FH_WIRE_MAX_BLOBS;
    fh_wire_docs_close(&w);
    free(emb);
    free(pixels);
}

static void test_take_blob(void **state)
{
    (void)state;
    fh_doc *d = fh_doc_new();
    unsigned char *b = pattern(1000, 1);
    assert_int_equal(fh_doc_take_blob(d, b, 1000), 0);
    size_t len;
    assert_ptr_equal(fh_doc_blob(d, &len), b); /* the same buffer: no copy */
    assert_int_equal(len, 1000);
    unsigned char *c = pattern(10, 2);
    assert_int_equal(fh_doc_take_blob(d, c, 10), 0); /* the first is freed */
    assert_int_equal(fh_doc_take_blob(d, NULL, 10), FH_E_INVAL);
    assert_int_equal(fh_doc_take_blob(d, c, 0), FH_E_INVAL);
    assert_int_equal(fh_doc_take_blob(NULL, c, 10), FH_E_INVAL);
    assert_ptr_equal(fh_doc_blob(d, &len), c);
    assert_int_equal(fh_doc_take_blob(d, c, 10), 0); /* its own blob again: kept, not freed */
    assert_ptr_equal(fh_doc_blob(d, &len), c);
    assert_int_equal(c[9], pattern_byte(9, 2));
    fh_doc_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_blobs_are_taken_into_frames),
        cmocka_unit_test(test_without_taking_everything_is_inline),
        cmocka_unit_test(test_at_most_max_blob_frames),
        cmocka_unit_test(test_mismatched_frames_are_refused),
        cmocka_unit_test(test_share_take_and_move),
        cmocka_unit_test(test_too_many_blob_frames_to_take),
        cmocka_unit_test(test_stale_flags_do_not_travel),
        cmocka_unit_test(test_embeddings_and_tensors_travel_as_frames),
        cmocka_unit_test(test_take_blob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

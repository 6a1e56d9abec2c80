/* Unit tests: documents and document arrays (document.c) and the SDK utilities
 * (util.c) they rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pb.h"
#include "util.h"
#include <flowhost/document.h>
#include <flowhost/error.h>

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

static void test_new_doc_has_random_id(void **state)
{
    (void)state;
    fh_doc *a = fh_doc_new(), *b = fh_doc_new();
    assert_true(is_hex(fh_doc_id(a), 32));
    assert_string_not_equal(fh_doc_id(a), fh_doc_id(b));
    /* everything else is at its default, never NULL */
    assert_string_equal(fh_doc_text(a), "");
    assert_string_equal(fh_doc_parent_id(a), "");
    assert_string_equal(fh_doc_uri(a), "");
    assert_string_equal(fh_doc_mime_type(a), "");
    assert_null(fh_doc_tags_get(a));
    size_t n = 5;
    assert_null(fh_doc_embedding(a, &n));
    assert_int_equal(n, 0);
    assert_null(fh_doc_blob(a, &n));
    assert_int_equal(n, 0);
    fh_doc_destroy(&a);
    fh_doc_destroy(&b);
    assert_null(a);
    fh_doc_destroy(NULL);
}

/* A forked child does not repeat its parent's ids: both make their next id from the
 * same state unless the child reseeds. */
static void test_ids_differ_after_fork(void **state)
{
    (void)state;
    fh_doc *a = fh_doc_new(); /* the state is seeded in this process */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fh_doc *c = fh_doc_new();
        ssize_t w = c ? write(fds[1], fh_doc_id(c), 32) : -1;
        _exit(w == 32 ? 0 : 1);
    }
    close(fds[1]);
    fh_doc *b = fh_doc_new();
    char child_id[33] = "";
    assert_int_equal(read(fds[0], child_id, 32), 32);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(is_hex(child_id, 32));
    assert_string_not_equal(child_id, fh_doc_id(b));
    fh_doc_destroy(&a);
    fh_doc_destroy(&b);
}

static void test_string_fields(void **state)
{
    (void)state;
    fh_doc *d = fh_doc_new();
    assert_int_equal(fh_doc_set_id(d, "doc-1"), 0);
    assert_int_equal(fh_doc_set_text(d, "hello"), 0);
    assert_int_equal(fh_doc_set_text(d, "hello again"), 0); /* the old one is freed */
    assert_int_equal(fh_doc_set_uri(d, "file:///x"), 0);
    assert_int_equal(fh_doc_set_mime_type(d, "text/plain"), 0);
    assert_int_equal(fh_doc_set_parent_id(d, "p"), 0);
    assert_string_equal(fh_doc_id(d), "doc-1");
    assert_string_equal(fh_doc_text(d), "hello again");
    assert_string_equal(fh_doc_uri(d), "file:///x");
    assert_string_equal(fh_doc_mime_type(d), "text/plain");
    assert_string_equal(fh_doc_parent_id(d), "p");
    assert_int_equal(fh_doc_set_text(d, NULL), 0);
    assert_string_equal(fh_doc_text(d), "");
    assert_int_equal(fh_doc_set_text(NULL, "x"), FH_E_INVAL);
    assert_string_equal(fh_doc_text(NULL), "");
    fh_doc_destroy(&d);
}

static void test_blob(void **state)
{
    (void)state;
    fh_doc *d = fh_doc_new();
    uint8_t bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (uint8_t)i;
    assert_int_equal(fh_doc_set_blob(d, bytes, sizeof bytes), 0);
    size_t len = 0;
    const uint8_t *got = fh_doc_blob(d, &len);
    assert_int_equal(len, 256);
    assert_memory_equal(got, bytes, 256);
    assert_ptr_not_equal(got, bytes); /* copied */
    assert_int_equal(fh_doc_set_blob(d, NULL, 0), 0);
    assert_null(fh_doc_blob(d, &len));
    assert_int_equal(len, 0);
    assert_int_equal(fh_doc_set_blob(d, NULL, 3), FH_E_INVAL);
    fh_doc_destroy(&d);
}

static void test_tags_made_on_first_use(void **state)
{
    (void)state;
    fh_doc *d = fh_doc_new();
    assert_null(fh_doc_tags_get(d));
    fh_value *tags = fh_doc_tags(d);
    assert_int_equal(fh_value_type(tags), FH_TYPE_MAP);
    assert_ptr_equal(fh_doc_tags(d), tags); /* the same map each time */
    fh_map_set_int(tags, "n", 3);
    assert_int_equal(fh_map_get_int(fh_doc_tags_get(d), "n", 0), 3);
    fh_doc_destroy(&d);
}

static void test_embedding(void **state)
{
    (void)state;
    fh_doc *d = fh_doc_new();
    const float v[3] = {0.5f, -1.0f, 3.25f};
    assert_int_equal(fh_doc_set_embedding(d, v, 3), 0);
    size_t n = 0;
    const float *e = fh_doc_embedding(d, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(e, v, sizeof v);
    /* stored as the proto says: float32, shape [n], n*4 little-endian bytes */
    const Flowhost__NdArray *a = FH_PB_DOC(d)->embedding;
    assert_string_equal(a->dtype, "float32");
    assert_int_equal(a->n_shape, 1);
    assert_int_equal(a->shape[0], 3);
    assert_int_equal(a->buffer.len, 12);
    /* another dtype is not handed out as floats */
    fh_pb_set_string(&FH_PB_DOC(d)->embedding->dtype, "float64");
    assert_null(fh_doc_embedding(d, &n));
    assert_int_equal(n, 0);
    assert_int_equal(fh_doc_set_embedding(d, NULL, 0), 0);
    assert_null(FH_PB_DOC(d)->embedding);
    assert_int_equal(fh_doc_set_embedding(d, NULL, 2), FH_E_INVAL);
    fh_doc_destroy(&d);
}

static void test_tensor(void **state)
{
    (void)state;
    fh_doc *d = fh_doc_new();
    const int64_t data[6] = {1, 2, 3, 4, 5, 6};
    const uint64_t shape[2] = {2, 3};
    assert_null(fh_doc_tensor(d, NULL, NULL, NULL, NULL));
    assert_int_equal(fh_doc_set_tensor(d, "int64", shape, 2, data, sizeof data), 0);
    const char *dtype;
    const uint64_t *sh;
    size_t ndim, nbytes;
    const int64_t *got = fh_doc_tensor(d, &dtype, &sh, &ndim, &nbytes);
    assert_non_null(got);
    assert_string_equal(dtype, "int64");
    assert_int_equal(ndim, 2);
    assert_int_equal(sh[0], 2);
    assert_int_equal(sh[1], 3);
    assert_int_equal(nbytes, 48);
    assert_memory_equal(got, data, 48);
    /* the size must agree with dtype and shape; a failed set keeps the old tensor */
    assert_int_equal(fh_doc_set_tensor(d, "float32", shape, 2, data, sizeof data), FH_E_INVAL);
    assert_non_null(strstr(fh_last_error(), "48 bytes"));
    assert_int_equal(fh_doc_set_tensor(d, "", shape, 2, data, 48), FH_E_INVAL);
    fh_doc_tensor(d, &dtype, NULL, NULL, NULL);
    assert_string_equal(dtype, "int64");
    /* an unknown dtype is stored as given */
    assert_int_equal(fh_doc_set_tensor(d, "<U8", shape, 1, "abcd", 4), 0);
    assert_int_equal(fh_doc_set_tensor(d, NULL, NULL, 0, NULL, 0), 0);
    assert_null(fh_doc_tensor(d, &dtype, &sh, &ndim, &nbytes));
    assert_int_equal(ndim, 0);
    fh_doc_destroy(&d);
}

static void test_numbers_and_scores(void **state)
{
    (void)state;
    fh_doc *d = fh_doc_new();
    fh_doc_set_weight(d, 0.25);
    fh_doc_set_granularity(d, 2);
    fh_doc_set_adjacency(d, 3);
    assert_true(fh_doc_weight(d) == 0.25);
    assert_int_equal(fh_doc_granularity(d), 2);
    assert_int_equal(fh_doc_adjacency(d), 3);

    double s = -1;
    assert_false(fh_doc_score(d, "cosine", &s));
    assert_int_equal(fh_doc_set_score(d, "cosine", 0.9), 0);
    assert_int_equal(fh_doc_set_score(d, "l2", 4.0), 0);
    assert_int_equal(fh_doc_set_score(d, "cosine", 0.8), 0); /* replaces */
    assert_int_equal(fh_doc_score_count(d), 2);
    assert_true(fh_doc_score(d, "cosine", &s));
    assert_true(s == 0.8);
    assert_string_equal(fh_doc_score_at(d, 1, &s), "l2");
    assert_true(s == 4.0);
    assert_null(fh_doc_score_at(d, 2, &s));
    assert_int_equal(fh_doc_set_score(d, NULL, 1), FH_E_INVAL);
    fh_doc_destroy(&d);
}

static void test_chunks_and_matches(void **state)
{
    (void)state;
    fh_doc *d = fh_doc_new();
    fh_doc_set_granularity(d, 1);
    fh_doc_set_adjacency(d, 4);
    fh_doc *c = fh_doc_new();
    fh_doc_set_text(c, "chunk0");
    assert_int_equal(fh_doc_add_chunk(d, c), 0);
    assert_int_equal(fh_doc_add_chunk(d, fh_doc_new()), 0);
    assert_int_equal(fh_doc_chunk_count(d), 2);
    fh_doc *c0 = fh_doc_chunk_at(d, 0);
    assert_string_equal(fh_doc_text(c0), "chunk0");
    assert_string_equal(fh_doc_parent_id(c0), fh_doc_id(d));
    assert_int_equal(fh_doc_granularity(c0), 2);
    assert_null(fh_doc_chunk_at(d, 2));

    assert_int_equal(fh_doc_add_match(d, fh_doc_new()), 0);
    assert_int_equal(fh_doc_match_count(d), 1);
    assert_int_equal(fh_doc_adjacency(fh_doc_match_at(d, 0)), 5);
    assert_string_equal(fh_doc_parent_id(fh_doc_match_at(d, 0)), "");

    assert_int_equal(fh_doc_remove_chunk(d, 0), 0);
    assert_int_equal(fh_doc_chunk_count(d), 1);
    assert_string_equal(fh_doc_text(fh_doc_chunk_at(d, 0)), "");
    assert_int_equal(fh_doc_remove_chunk(d, 1), FH_E_RANGE);
    assert_int_equal(fh_doc_remove_match(d, 0), 0);
    assert_int_equal(fh_doc_remove_match(d, 0), FH_E_RANGE);
    /* failures take ownership (ASan reports the leak otherwise) */
    assert_int_equal(fh_doc_add_chunk(NULL, fh_doc_new()), FH_E_INVAL);
    assert_int_equal(fh_doc_add_match(NULL, fh_doc_new()), FH_E_INVAL);
    assert_int_equal(fh_doc_add_chunk(d, NULL), FH_E_INVAL);
    fh_doc_destroy(&d);
}

static fh_doc *full_doc(void)
{
    fh_doc *d = fh_doc_new();
    fh_doc_set_text(d, "text");
    fh_doc_set_blob(d, "\x01\x02", 2);
    fh_map_set_int(fh_doc_tags(d), "i", 1);
    fh_map_set_double(fh_doc_tags(d), "d", 1.0);
    const float e[2] = {1, 2};
    fh_doc_set_embedding(d, e, 2);
    const uint64_t shape[1] = {2};
    fh_doc_set_tensor(d, "float32", shape, 1, e, sizeof e);
    fh_doc_set_score(d, "s", 0.5);
    fh_doc *c = fh_doc_new();
    fh_doc_set_text(c, "inner");
    fh_doc_add_chunk(d, c);
    fh_doc_add_match(d, fh_doc_new());
    return d;
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    fh_doc *d = full_doc();
    fh_doc *c = fh_doc_copy(d);
    assert_non_null(c);
    assert_string_equal(fh_doc_id(c), fh_doc_id(d));
    assert_string_equal(fh_doc_text(c), "text");
    assert_int_equal(fh_value_type(fh_map_get(fh_doc_tags_get(c), "i")), FH_TYPE_INT);
    assert_int_equal(fh_value_type(fh_map_get(fh_doc_tags_get(c), "d")), FH_TYPE_DOUBLE);
    size_t n;
    assert_non_null(fh_doc_embedding(c, &n));
    assert_int_equal(n, 2);
    assert_int_equal(fh_doc_chunk_count(c), 1);
    assert_string_equal(fh_doc_text(fh_doc_chunk_at(c, 0)), "inner");
    assert_int_equal(fh_doc_match_count(c), 1);
    /* independent of the original */
    fh_doc_set_text(fh_doc_chunk_at(c, 0), "changed");
    assert_string_equal(fh_doc_text(fh_doc_chunk_at(d, 0)), "inner");
    assert_null(fh_doc_copy(NULL));
    fh_doc_destroy(&c);
    fh_doc_destroy(&d);
}

static void test_docs_array(void **state)
{
    (void)state;
    fh_docs *a = fh_docs_new();
    assert_int_equal(fh_docs_len(a), 0);
    for (int i = 0; i < 5; i++) {
        fh_doc *d = fh_doc_new();
        char id[8];
        snprintf(id, sizeof id, "d%d", i);
        fh_doc_set_id(d, id);
        assert_int_equal(fh_docs_append(a, d), 0);
    }
    assert_int_equal(fh_docs_len(a), 5);
    assert_string_equal(fh_doc_id(fh_docs_at(a, 4)), "d4");
    assert_null(fh_docs_at(a, 5));
    assert_ptr_equal(fh_docs_find(a, "d3"), fh_docs_at(a, 3));
    assert_null(fh_docs_find(a, "nope"));

    fh_doc *taken = fh_docs_take(a, 1);
    assert_string_equal(fh_doc_id(taken), "d1");
    assert_int_equal(fh_docs_len(a), 4);
    assert_string_equal(fh_doc_id(fh_docs_at(a, 1)), "d2"); /* moved down */
    fh_doc_destroy(&taken);
    assert_null(fh_docs_take(a, 4));
    assert_int_equal(fh_docs_remove(a, 0), 0);
    assert_string_equal(fh_doc_id(fh_docs_at(a, 0)), "d2");
    assert_int_equal(fh_docs_remove(a, 3), FH_E_RANGE);
    assert_int_equal(fh_docs_append(a, NULL), FH_E_INVAL);
    assert_int_equal(fh_docs_append(NULL, fh_doc_new()), FH_E_INVAL); /* destroyed */

    fh_docs_clear(a);
    assert_int_equal(fh_docs_len(a), 0);
    assert_int_equal(fh_docs_append(a, fh_doc_new()), 0); /* still usable */
    assert_int_equal(fh_docs_len(a), 1);
    fh_docs_destroy(&a);
    assert_null(a);
}

/* What a handler builds is what goes on the wire: pack, unpack, same document. */
static void test_docs_protobuf_round_trip(void **state)
{
    (void)state;
    fh_docs *a = fh_docs_new();
    fh_docs_append(a, full_doc());
    const Flowhost__DocumentArray *pa = FH_PB_CDOCS(a);
    size_t size = flowhost__document_array__get_packed_size(pa);
    uint8_t *buf = malloc(size);
    flowhost__document_array__pack(pa, buf);
    fh_docs *b = (fh_docs *)flowhost__document_array__unpack(NULL, size, buf);
    free(buf);
    assert_non_null(b);
    fh_doc *d = fh_docs_at(b, 0);
    assert_string_equal(fh_doc_id(d), fh_doc_id(fh_docs_at(a, 0)));
    assert_int_equal(fh_map_get_int(fh_doc_tags_get(d), "i", 0), 1);
    assert_int_equal(fh_value_type(fh_map_get(fh_doc_tags_get(d), "d")), FH_TYPE_DOUBLE);
    assert_string_equal(fh_doc_parent_id(fh_doc_chunk_at(d, 0)), fh_doc_id(d));
    /* decoded documents are edited through the same API */
    assert_int_equal(fh_doc_set_text(d, "edited"), 0);
    assert_int_equal(fh_doc_add_chunk(d, fh_doc_new()), 0);
    fh_docs_destroy(&b);
    fh_docs_destroy(&a);
}

static void test_util_random_hex(void **state)
{
    (void)state;
    char a[33], b[33], odd[6];
    fh_random_hex(a, 32);
    fh_random_hex(b, 32);
    assert_true(is_hex(a, 32));
    assert_string_not_equal(a, b);
    fh_random_hex(odd, 5);
    assert_true(is_hex(odd, 5));
}

static void test_util_time(void **state)
{
    (void)state;
    char buf[40];
    fh_format_time_us(1624428277896226LL, buf, sizeof buf);
    assert_string_equal(buf, "2021-06-23T06:04:37.896226Z");
    fh_format_time_us(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
    fh_format_time_us(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
    assert_true(fh_now_us() > 1600000000000000LL);
    int64_t t0 = fh_monotonic_ms();
    assert_true(fh_monotonic_ms() >= t0);
}

static void test_util_read_file(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 1;
    assert_int_equal(fh_read_file("/nonexistent/flowhost/x", &buf, &len), FH_E_IO);
    assert_null(buf);
    assert_string_equal(fh_last_error(), "/nonexistent/flowhost/x: No such file or directory");

    char path[] = "/tmp/fh_test_readXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < 10000; i++) /* bigger than one read */
        fputs("0123456789", f);
    fclose(f);
    assert_int_equal(fh_read_file(path, &buf, &len), 0);
    assert_int_equal(len, 100000);
    assert_int_equal(buf[len], '\0');
    assert_memory_equal(buf + 99990, "0123456789", 10);
    free(buf);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_doc_has_random_id),
        cmocka_unit_test(test_ids_differ_after_fork),
        cmocka_unit_test(test_string_fields),
        cmocka_unit_test(test_blob),
        cmocka_unit_test(test_tags_made_on_first_use),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_tensor),
        cmocka_unit_test(test_numbers_and_scores),
        cmocka_unit_test(test_chunks_and_matches),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_docs_array),
        cmocka_unit_test(test_docs_protobuf_round_trip),
        cmocka_unit_test(test_util_random_hex),
        cmocka_unit_test(test_util_time),
        cmocka_unit_test(test_util_read_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Writes the binary fuzz seeds with the real encoders, so they stay in step with the
 * wire format: `fuzz_gen_corpus tests/fuzz/corpus` (re)writes
 *   codec/envelope.pb codec/docs.pb codec/hello.pb codec/spec.pb codec/docs_empty.pb
 *   docstore/one.log docstore/three_deleted.log */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "pb.h"

#include <flowhost/docstore.h>
#include <flowhost/error.h>
#include <flowhost/json.h>

static const char *out_dir;

static void die(const char *what)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, fh_last_error());
    exit(1);
}

static void write_file(const char *sub, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void write_msg(const char *name, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    protobuf_c_message_pack(m, buf);
    write_file("codec", name, buf, len);
    free(buf);
}

static const char *doc_json[] = {
    ("{\"id\":\"a\",\"text\":\"hello world\",\"tags\":{\"k\":1,\"l\":[true,null,2.5,\"s\"]},"
     "\"embedding\":[0.5,1,-2],\"scores\":{\"cosine\":0.25},\"weight\":2,"
     "\"chunks\":[{\"id\":\"a1\",\"text\":\"hello\"}],\"matches\":[{\"id\":\"b\",\"uri\":\"x.txt\"}]}"),
    ("{\"id\":\"b\",\"blob\":\"AAEC\",\"mime_type\":\"application/octet-stream\","
     "\"tensor\":{\"dtype\":\"float32\",\"shape\":[2],\"data\":\"AACAPwAAAEA=\"},\"parent_id\":\"a\"}"),
    "{\"id\":\"c\",\"uri\":\"data/c.txt\",\"granularity\":1,\"adjacency\":2}",
};

static fh_docs *make_docs(void)
{
    fh_docs *docs = fh_docs_new();
    for (size_t i = 0; i < sizeof doc_json / sizeof doc_json[0]; i++) {
        fh_doc *d = NULL;
        if (fh_doc_from_json(doc_json[i], strlen(doc_json[i]), &d) != 0)
            die(doc_json[i]);
        if (fh_docs_append(docs, d) != 0)
            die("append");
    }
    return docs;
}

static void gen_codec(void)
{
    fh_docs *docs = make_docs();
    write_msg("docs.pb", &FH_PB_CDOCS(docs)->base);
    fh_docs_destroy(&docs);
    write_file("codec", "docs_empty.pb", "", 0);

    Flowhost__Envelope env = FLOWHOST__ENVELOPE__INIT;
    env.request_id = "3f2a";
    env.endpoint = "/search";
    fh_value *params = NULL;
    const char *pj = "{\"top_k\":3,\"filter\":{\"tags\":[\"x\",\"y\"]},\"b\":false}";
    if (fh_value_from_json(pj, strlen(pj), &params) != 0)
        die("params");
    env.parameters = FH_PB_VALUE(params);
    Flowhost__Route r = FLOWHOST__ROUTE__INIT;
    r.executor = "encoder";
    r.start_time_us = 1700000000000000;
    r.end_time_us = 1700000000000123;
    Flowhost__Route *routes[] = {&r};
    env.n_routes = 1;
    env.routes = routes;
    Flowhost__Status st = FLOWHOST__STATUS__INIT;
    st.code = FLOWHOST__STATUS__CODE__ERROR;
    st.executor = "encoder";
    st.description = "boom";
    env.status = &st;
    env.prefetch = 4;
    write_msg("envelope.pb", &env.base);
    fh_value_destroy(&params);

    Flowhost__WorkerHello h = FLOWHOST__WORKER_HELLO__INIT;
    h.executor = "encoder";
    h.pid = 1234;
    h.status = &st;
    h.index = 1;
    write_msg("hello.pb", &h.base);

    Flowhost__ExecutorSpec sp = FLOWHOST__EXECUTOR_SPEC__INIT;
    sp.name = "encoder";
    sp.plugin = "/usr/lib/flowhost/plugins/libencoder.so";
    sp.type = "Encoder";
    fh_value *with = NULL;
    const char *wj = "{\"dim\":8,\"model\":\"tiny\"}";
    if (fh_value_from_json(wj, strlen(wj), &with) != 0)
        die("with");
    sp.uses_with = FH_PB_VALUE(with);
    Flowhost__RequestBinding b = FLOWHOST__REQUEST_BINDING__INIT;
    b.endpoint = "/index";
    b.handler = "encode";
    Flowhost__RequestBinding *bs[] = {&b};
    sp.n_requests = 1;
    sp.requests = bs;
    sp.has_requests = 1;
    sp.gateway = "ipc:///tmp/fh/gw";
    char *pp[] = {"/opt/plugins"};
    sp.n_plugin_path = 1;
    sp.plugin_path = pp;
    write_msg("spec.pb", &sp.base);
    fh_value_destroy(&with);
}

static void copy_log(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/docs.log", dir);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_file("docstore", name, buf, n);
    unlink(path);
    snprintf(path, sizeof path, "%s/docs.lock", dir);
    unlink(path);
}

static void gen_docstore(void)
{
    char dir[] = "/tmp/fh-gen-corpus-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    fh_docs *docs = make_docs();
    fh_docstore *s = NULL;
    if (fh_docstore_open(dir, FH_DOCSTORE_CREATE, &s) != 0 || fh_docstore_put(s, fh_docs_at(docs, 2)) != 0)
        die("docstore");
    fh_docstore_close(&s);
    copy_log(dir, "one.log");

    if (fh_docstore_open(dir, FH_DOCSTORE_CREATE, &s) != 0)
        die("docstore");
    for (size_t i = 0; i < fh_docs_len(docs); i++)
        if (fh_docstore_put(s, fh_docs_at(docs, i)) != 0)
            die("put");
    if (fh_docstore_delete(s, "b") != 0 || fh_docstore_put(s, fh_docs_at(docs, 0)) != 0)
        die("delete");
    fh_docstore_close(&s);
    copy_log(dir, "three_deleted.log");
    rmdir(dir);
    fh_docs_destroy(&docs);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    gen_codec();
    gen_docstore();
    return 0;
}

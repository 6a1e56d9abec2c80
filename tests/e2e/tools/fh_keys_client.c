/* fh_keys_client MODE ...: posts one document through the C API to a flow with keys and
 * prints "SUCCESS <text>" or "ERROR <why>" (the post's error or the response's).
 *
 *   client HOST:PORT SERVER_KEY CLIENT_SECRET   fh_client_new_secure: SERVER_KEY a key or
 *                                               certificate, CLIENT_SECRET a secret
 *                                               certificate
 *   plain HOST:PORT                             fh_client_new: no keys
 *   flow FLOW.yml                               fh_flow_load + fh_flow_start: the owner's
 *                                               posts get in whatever the flow's keys
 *   built SERVER_SECRET CLIENT_KEY              fh_flow_new with those keys and an Echo
 *                                               executor, started and posted to
 * Exits 0 when it printed a result, 2 on bad usage. */
#include <stdio.h>
#include <string.h>

#include <flowhost/flowhost.h>

static int on_response(const fh_response *r, void *user)
{
    (void)user;
    const fh_docs *docs = fh_response_docs(r);
    if (fh_response_status(r) == FH_RESPONSE_SUCCESS)
        printf("SUCCESS %s\n", docs && fh_docs_len(docs) ? fh_doc_text(fh_docs_at(docs, 0)) : "");
    else
        printf("ERROR %s\n", fh_response_error_description(r));
    return 0;
}

static fh_docs *one_doc(void)
{
    fh_docs *docs = fh_docs_new();
    fh_doc *d = fh_doc_new();
    fh_doc_set_text(d, "secret text");
    fh_docs_append(docs, d);
    return docs;
}

static void options(fh_post_options *o)
{
    fh_post_options_init(o);
    o->on_always = on_response;
    o->timeout_ms = 10000;
    o->connect_timeout_ms = 3000;
}

static int post_to(const char *address, const fh_client_keys *keys)
{
    fh_client *c = NULL;
    int rc = keys ? fh_client_new_secure(address, keys, &c) : fh_client_new(address, &c);
    fh_docs *docs = one_doc();
    fh_post_options o;
    options(&o);
    if (rc == 0)
        rc = fh_client_post(c, "/x", docs, &o);
    if (rc != 0)
        printf("ERROR %s\n", fh_last_error());
    fh_docs_destroy(&docs);
    fh_client_destroy(&c);
    return 0;
}

static int post_flow(fh_flow *f)
{
    fh_docs *docs = one_doc();
    fh_post_options o;
    options(&o);
    int rc = fh_flow_start(f);
    if (rc == 0)
        rc = fh_flow_post(f, "/x", docs, &o);
    if (rc != 0)
        printf("ERROR %s\n", fh_last_error());
    fh_docs_destroy(&docs);
    fh_flow_destroy(&f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "client") == 0) {
        fh_keypair kp;
        char server[FH_KEY_TEXT + 1];
        if (fh_keypair_load(argv[4], &kp) != 0 || fh_public_key_load(argv[3], server) != 0) {
            printf("ERROR %s\n", fh_last_error());
            return 0;
        }
        fh_client_keys k = {server, kp.public_key, kp.secret_key};
        return post_to(argv[2], &k);
    }
    if (argc == 3 && strcmp(argv[1], "plain") == 0)
        return post_to(argv[2], NULL);
    if (argc == 3 && strcmp(argv[1], "flow") == 0) {
        fh_flow *f;
        if (fh_flow_load(argv[2], &f) != 0) {
            printf("ERROR %s\n", fh_last_error());
            return 0;
        }
        return post_flow(f);
    }
    if (argc == 4 && strcmp(argv[1], "built") == 0) {
        fh_value *with = fh_value_new_map();
        fh_map_set_string(with, "server_key", argv[2]);
        fh_map_set_string(with, "client_keys", argv[3]);
        fh_flow *f;
        if (fh_flow_new(with, &f) != 0 || fh_flow_add(f, &(fh_executor_options){.uses = "Echo"}) != 0) {
            printf("ERROR %s\n", fh_last_error());
            fh_value_destroy(&with);
            return 0;
        }
        fh_value_destroy(&with);
        return post_flow(f);
    }
    fprintf(stderr, "usage: fh_keys_client client|plain|flow|built ... (see the source)\n");
    return 2;
}

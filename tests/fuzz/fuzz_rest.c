/* Fuzzes the REST conversion (host/gateway/rest*.c): the input as a request body, to
 * /index and to /post. What is accepted must write a response that is JSON, and the
 * documents of that response, posted again, must be accepted and come back the same
 * (Jina's names and defaults read back to the same documents). What is refused must say
 * so in one line with an HTTP status. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"
#include "json_internal.h"
#include "rest.h"

#define MAX_BODY (64 * 1024)

/* The response body of the request R, as if echoed back; NULL when it cannot be
 * written (a value JSON cannot hold). */
static char *respond(fh_rest_request *r)
{
    char *text = NULL;
    fh_rest_error err;
    if (fh_rest_write_response_frame(zmq_msg_data(&r->envelope), zmq_msg_size(&r->envelope),
                                     &r->docs, MAX_BODY * 64, &text, NULL, &err) != 0) {
        if (err.http_status != 500 || err.message[0] == '\0')
            abort();
        return NULL;
    }
    return text;
}

/* The "docs" of the response TEXT, as a new reference. */
static json_t *docs_of(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    if (j == NULL)
        abort(); /* a response must be JSON */
    json_t *docs = json_incref(json_object_get(json_object_get(j, "data"), "docs"));
    json_decref(j);
    if (!json_is_array(docs))
        abort();
    return docs;
}

static void one(const uint8_t *data, size_t size, const char *endpoint)
{
    fh_rest_parse_options o = {.max_bytes = MAX_BODY, .endpoint = endpoint};
    fh_rest_request r;
    fh_rest_error err;
    if (fh_rest_parse_request((const char *)data, size, &o, &r, &err) != 0) {
        if (err.http_status < 400 || err.message[0] == '\0' || strchr(err.message, '\n'))
            abort();
        return;
    }
    char *text = respond(&r);
    fh_rest_request_close(&r);
    if (text == NULL)
        return;
    json_t *docs = docs_of(text);
    free(text);
    /* the response's documents, posted again, come back the same */
    json_t *again = json_pack("{s:O}", "data", docs);
    char *body = again ? fh_jansson_dumps(again) : NULL;
    json_decref(again);
    if (body == NULL)
        abort();
    o.endpoint = "/index";
    o.max_bytes = strlen(body) + 1;
    if (o.max_bytes < MAX_BODY * 64)
        o.max_bytes = MAX_BODY * 64;
    if (fh_rest_parse_request(body, strlen(body), &o, &r, &err) != 0)
        abort();
    free(body);
    char *text2 = respond(&r);
    fh_rest_request_close(&r);
    if (text2 == NULL)
        abort();
    json_t *docs2 = docs_of(text2);
    free(text2);
    if (!json_equal(docs, docs2))
        abort();
    json_decref(docs);
    json_decref(docs2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size, "/index");
    one(data, size, NULL);
    return 0;
}

/* ZAP requests and answers: see zap.h. */
#include "zap.h"

#include <stdio.h>
#include <string.h>

bool fh_zap_recv(void *zap, fh_zap_request *r)
{
    r->n = 0;
    r->address[0] = '\0';
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, zap, r->n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&part);
            for (size_t i = 0; i < r->n; i++)
                zmq_msg_close(&r->f[i]);
            r->n = 0;
            return false;
        }
        more = zmq_msg_more(&part);
        if (r->n < FH_ZAP_FRAMES) {
            zmq_msg_init(&r->f[r->n]);
            zmq_msg_move(&r->f[r->n++], &part);
        }
        zmq_msg_close(&part);
    }
    if (r->n > FH_ZAP_ADDRESS)
        snprintf(r->address, sizeof r->address, "%.*s", (int)zmq_msg_size(&r->f[FH_ZAP_ADDRESS]),
                 (const char *)zmq_msg_data(&r->f[FH_ZAP_ADDRESS]));
    return true;
}

bool fh_zap_complete(const fh_zap_request *r) { return r->n > FH_ZAP_MECHANISM; }

const unsigned char *fh_zap_curve_key(const fh_zap_request *r)
{
    zmq_msg_t *mech = (zmq_msg_t *)&r->f[FH_ZAP_MECHANISM];
    zmq_msg_t *cred = (zmq_msg_t *)&r->f[FH_ZAP_CREDENTIAL];
    if (r->n <= FH_ZAP_CREDENTIAL || zmq_msg_size(mech) != 5 ||
        memcmp(zmq_msg_data(mech), "CURVE", 5) != 0 || zmq_msg_size(cred) != 32)
        return NULL;
    return zmq_msg_data(cred);
}

void fh_zap_reply(void *zap, fh_zap_request *r, const char *code, const char *text)
{
    zmq_send(zap, "1.0", 3, ZMQ_SNDMORE);
    /* A REP socket answers every request, a malformed one too. */
    if (r->n > FH_ZAP_ID)
        zmq_msg_send(&r->f[FH_ZAP_ID], zap, ZMQ_SNDMORE);
    else
        zmq_send(zap, "", 0, ZMQ_SNDMORE);
    zmq_send(zap, code, 3, ZMQ_SNDMORE);
    zmq_send(zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(zap, "", 0, ZMQ_SNDMORE); /* user id */
    zmq_send(zap, "", 0, 0);           /* metadata */
    for (size_t i = 0; i < r->n; i++)
        zmq_msg_close(&r->f[i]);
    r->n = 0;
}

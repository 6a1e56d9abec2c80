/* A ZAP handler's side of RFC 27 (ZeroMQ's authentication protocol), shared by the
 * gateway's client door (gateway/door.c) and a remote worker's listener
 * (worker_listen.c): libzmq asks, over a REP socket bound at FH_ZAP_ENDPOINT in the same
 * context, about every connection whose handshake is done; the handler answers 200 (in)
 * or 400/500 (refused, with a reason libzmq passes to the peer). */
#ifndef FH_HOST_ZAP_H
#define FH_HOST_ZAP_H

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

#define FH_ZAP_ENDPOINT "inproc://zeromq.zap.01"

/* A ZAP request's frames, as RFC 27 orders them. */
enum { FH_ZAP_VERSION, FH_ZAP_ID, FH_ZAP_DOMAIN, FH_ZAP_ADDRESS, FH_ZAP_IDENTITY,
       FH_ZAP_MECHANISM, FH_ZAP_CREDENTIAL, FH_ZAP_FRAMES };

typedef struct fh_zap_request {
    zmq_msg_t f[FH_ZAP_FRAMES]; /* the first frames (more are read and dropped) */
    size_t n;                   /* frames held */
    char address[64];           /* the peer's address, "" when not given */
} fh_zap_request;

/* Takes the next request waiting on ZAP (without waiting) into *R. Returns true, or false
 * when none is there (R then holds nothing). A request taken must be answered with
 * fh_zap_reply, which also frees it. */
bool fh_zap_recv(void *zap, fh_zap_request *r);

/* Whether R is well-formed (every frame up to the mechanism). */
bool fh_zap_complete(const fh_zap_request *r);

/* R's CURVE client key (32 bytes, borrowed from R), or NULL when R's mechanism is not
 * CURVE. */
const unsigned char *fh_zap_curve_key(const fh_zap_request *r);

/* Answers R with CODE ("200", "400", "500") and TEXT, then closes R's frames. */
void fh_zap_reply(void *zap, fh_zap_request *r, const char *code, const char *text);

#endif

/* Internal: a response as the client hands it out, and the list return_results keeps. */
#ifndef FH_SDK_RESPONSE_H
#define FH_SDK_RESPONSE_H

#include <stddef.h>
#include <zmq.h>

#include <flowhost/client.h>

#include "flowhost.pb-c.h"
#include "wire.h"

struct fh_response {
    Flowhost__Envelope *env; /* owned */
    fh_wire_docs docs_frames; /* owned: the documents, decoded on first use */
    fh_docs *docs;           /* owned, NULL until decoded */
    fh_value *no_params;     /* owned: an empty map when the envelope has no parameters */
};

/* Makes R a response of ENV and the documents in DOCS, both taken over (DOCS' frames are
 * moved: DOCS is left empty). */
void fh_response_init(fh_response *r, Flowhost__Envelope *env, fh_wire_docs *docs);

/* Frees what R holds (not R itself). */
void fh_response_clear(fh_response *r);

/* Moves R (its contents; R is left empty) to the end of *LIST, made on first use.
 * Returns 0 or FH_E_NOMEM (R is then cleared). */
int fh_responses_keep(fh_responses **list, fh_response *r);

#endif

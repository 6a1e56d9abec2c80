/* flowhost — CURVE keys: who may talk to a flow.
 *
 * A flow that names a server key (with.server_key) authenticates and encrypts its client
 * connections with ZeroMQ's CURVE (RFC 26, CurveZMQ): a client must know the flow's
 * public key, and the flow lets in only the clients whose public keys it lists
 * (with.client_keys). Keys are 40 characters of Z85 text, as zmq_curve_keypair makes
 * them.
 *
 * Key files use the certificate format of ZeroMQ's own tools (czmq's zcert): a public
 * certificate PATH, and a secret certificate PATH_secret that holds both keys. A secret
 * certificate must not be readable by anyone but its owner (mode 0600): one that is, is
 * refused. A file holding nothing but a 40-character Z85 key is also read as a public key.
 *
 *     # PATH                                  # PATH_secret
 *     metadata                                metadata
 *     curve                                   curve
 *         public-key = "rq:rM>}U?@Lns4..."        public-key = "rq:rM>}U?@Lns4..."
 *                                                 secret-key = "JTKVSB%%)wK0E.X..."
 *
 * Every function returns 0 or a negative FH_E... code with fh_last_error() saying why.
 */
#ifndef FLOWHOST_KEYS_H
#define FLOWHOST_KEYS_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Characters of a key as Z85 text, without the NUL. */
#define FH_KEY_TEXT 40

/* A CURVE key pair as Z85 text, each NUL-terminated. */
typedef struct fh_keypair {
    char public_key[FH_KEY_TEXT + 1];
    char secret_key[FH_KEY_TEXT + 1];
} fh_keypair;

/* Whether this libzmq can do CURVE (it is built with libsodium). */
bool fh_curve_available(void);

/* Makes a new key pair in *OUT. Returns 0, or FH_E_STATE when libzmq cannot do CURVE. */
int fh_keypair_generate(fh_keypair *out);

/* Writes KP as the public certificate PATH (mode 0644) and the secret certificate
 * PATH_secret (mode 0600). Neither may exist yet. Returns 0, FH_E_IO (with the file and
 * the reason; a secret file left half-written is removed) or FH_E_INVAL (PATH too
 * long). */
int fh_keypair_save(const fh_keypair *kp, const char *path);

/* Reads the secret certificate at PATH into *OUT: both keys, checked to belong together.
 * Returns 0; FH_E_IO (cannot read it, not a regular file, or readable by its group or
 * others: "PATH: a secret key must be readable by its owner only (chmod 600 PATH)");
 * FH_E_PARSE (no secret-key, or not 40 characters of Z85, or a public-key that does not
 * match); FH_E_STATE (this libzmq has no CURVE). On failure *OUT is zeroed: no part of a
 * secret stays in it. */
int fh_keypair_load(const char *path, fh_keypair *out);

/* A public key from KEY: 40 characters of Z85 text, or the path of a certificate (public
 * or secret: its public-key is taken) or of a file holding only the key. Stores the key,
 * NUL-terminated, in OUT. Returns 0, FH_E_IO or FH_E_PARSE. */
int fh_public_key_load(const char *key, char out[FH_KEY_TEXT + 1]);

#ifdef __cplusplus
}
#endif
#endif

/* The key and certificate files that `flowhost export` ships in Secrets. */
#ifndef FH_HOST_EXPORT_KEYS_H
#define FH_HOST_EXPORT_KEYS_H

#include <flowhost/keys.h>

/* The certificates of key pair NAME kept in DIR (DIR/NAME and DIR/NAME_secret, as
 * `flowhost keygen DIR/NAME` writes them), made there first when DIR/NAME_secret does
 * not exist (DIR too, mode 0700), so that exporting again ships the same keys. Stores
 * the secret certificate's text in *SECRET and the public one's in *PUBLIC (new strings
 * the caller frees). Returns 0, or FH_E_IO / FH_E_PARSE / FH_E_STATE (no CURVE) /
 * FH_E_NOMEM with fh_last_error() naming the file; *SECRET and *PUBLIC are then NULL. */
int fh_export_key_files(const char *dir, const char *name, char **secret, char **public_);

/* The certificates of KP as `flowhost keygen` writes them (made through a private
 * temporary folder, removed before returning), without their comment lines: the header
 * comment holds the time of writing, and the same KP must give the same text. Same
 * results as fh_export_key_files. */
int fh_export_key_texts(const fh_keypair *kp, char **secret, char **public_);

/* The whole text of the file at PATH (at most 1 MiB: a key or a TLS certificate) in a
 * new string *OUT the caller frees. Returns 0, or FH_E_IO ("PATH: why") / FH_E_NOMEM. */
int fh_export_read_file(const char *path, char **out);

#endif

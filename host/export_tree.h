/* Building the value trees of manifests, first error kept: every builder takes RC, does
 * nothing once *RC is set (a value handed to it is then destroyed), and sets *RC to
 * FH_E_NOMEM (fh_last_error says so) when it cannot allocate. A writer builds a whole
 * object, then checks RC once. */
#ifndef FH_HOST_EXPORT_TREE_H
#define FH_HOST_EXPORT_TREE_H

#include <stdint.h>

#include <flowhost/value.h>

/* A new empty map / list the caller owns, or NULL (with *RC set or already set). */
fh_value *fh_tree_map(int *rc);
fh_value *fh_tree_list(int *rc);
/* A deep copy of V the caller owns, or NULL. */
fh_value *fh_tree_copy(const fh_value *v, int *rc);
/* M[KEY] = V; M takes V (V is destroyed when *RC is or becomes set). */
void fh_tree_put(fh_value *m, const char *key, fh_value *v, int *rc);
/* M[KEY] = a copy of string S / the int I. */
void fh_tree_put_s(fh_value *m, const char *key, const char *s, int *rc);
void fh_tree_put_i(fh_value *m, const char *key, int64_t i, int *rc);
/* Appends V to L, which takes it (as fh_tree_put); or a copy of string S. */
void fh_tree_push(fh_value *l, fh_value *v, int *rc);
void fh_tree_push_s(fh_value *l, const char *s, int *rc);

#endif

/* YAML text of a value tree, written with libyaml's emitter: the one writer of every
 * manifest and flow that `flowhost export` makes, so that no string is quoted by hand.
 *
 * Maps keep their insertion order, so the same tree gives the same bytes. A string that
 * a YAML 1.1 reader (Kubernetes' and Compose's) would take for something else — a
 * number, a bool (yes, on, y...), null, or empty — is single-quoted; a string of several
 * lines is written as a literal block (`|`) when libyaml can, so that an embedded flow
 * stays readable.
 */
#ifndef FH_HOST_EXPORT_YAML_H
#define FH_HOST_EXPORT_YAML_H

#include <stddef.h>

#include <flowhost/value.h>

/* Writes V (a map, list or scalar; bytes are refused) as one YAML document into a new
 * NUL-terminated buffer *OUT of *LEN bytes that the caller frees. Returns 0, or
 * FH_E_NOMEM / FH_E_TYPE (bytes in V) / FH_E_IO (libyaml refused an event) with
 * fh_last_error() saying why; *OUT is then NULL. */
int fh_export_yaml(const fh_value *v, char **out, size_t *len);

/* Writes V as YAML (fh_export_yaml) to the file PATH with MODE (0644, or 0600 for one
 * holding secrets), replacing it whole: the text goes to PATH.tmp first, then is renamed,
 * so that a failed export leaves no half-written manifest. Returns 0, or FH_E_IO
 * ("PATH: why") / the codes of fh_export_yaml. */
int fh_export_write(const char *path, const fh_value *v, unsigned mode);

/* A new copy of V whose strings (map values and list items, never map keys) have every
 * '$' doubled, for a reader that expands variables in them and turns "$$" into "$":
 * Compose ($VAR), Kubernetes in env values and container args ($(VAR)), flowhost's own
 * flow loader (${VAR}). The caller frees it; NULL when out of memory. */
fh_value *fh_export_double_dollars(const fh_value *v);

/* S with every '$' doubled, in a new string the caller frees; NULL when out of memory. */
char *fh_export_double_dollars_text(const char *s);

#endif

/* flowhost — typed values: parameters, tags, uses_with.
 *
 * A value is null, bool, int64, double, string, bytes, list or map. Types are kept end
 * to end: an int sent is an int received. Maps keep insertion order and hold each key
 * once.
 *
 * Maps stay fast at any size: a map of 16 entries or more carries a hash index (built on
 * its first lookup, in one pass, then kept up to date; about 11-21 bytes per entry), so
 * fh_map_get and fh_map_set cost O(1) expected time, and building a map of n keys, copying,
 * merging or comparing maps costs O(n). Keys are hashed with a per-process random key, so
 * chosen keys cannot make lookups slow. What each map function costs is given below, for
 * a map of n entries. (A map decoded from the wire with fields this version does not know
 * keeps them and has no index: each lookup in it scans, O(n).)
 *
 * Duplicate keys: a map built through this API never holds a key twice, but one decoded
 * from the wire may (protobuf allows repeated entries). Then, as protobuf does for its own
 * map fields, the last entry of the key wins: fh_map_get returns its value, fh_map_set
 * replaces it, fh_map_remove removes every entry of the key, fh_value_equal and JSON
 * output see the key once with that value. fh_value_len, fh_map_key_at and
 * fh_map_value_at show the entries as they are, repeats included.
 *
 * Ownership: a function named _new or _copy returns a value the caller owns and frees
 * with fh_value_destroy(). A function that takes an `fh_value *item` argument to store
 * (fh_list_append, fh_map_set) takes ownership of it, also when it fails (the item is
 * then destroyed), so a caller never has to free on the error path. Pointers returned by
 * getters are borrowed: they stay valid until the container is changed or destroyed.
 * Getters accept NULL and then answer as for a missing value.
 */
#ifndef FLOWHOST_VALUE_H
#define FLOWHOST_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fh_value fh_value;

typedef enum fh_type {
    FH_TYPE_NULL = 0,
    FH_TYPE_BOOL,
    FH_TYPE_INT,
    FH_TYPE_DOUBLE,
    FH_TYPE_STRING,
    FH_TYPE_BYTES,
    FH_TYPE_LIST,
    FH_TYPE_MAP
} fh_type;

/* Constructors: return a new value, or NULL when out of memory. Strings and bytes are
 * copied. */
fh_value *fh_value_new_null(void);
fh_value *fh_value_new_bool(bool b);
fh_value *fh_value_new_int(int64_t i);
fh_value *fh_value_new_double(double d);
fh_value *fh_value_new_string(const char *s);
fh_value *fh_value_new_bytes(const void *data, size_t len);
fh_value *fh_value_new_list(void);
fh_value *fh_value_new_map(void);

/* Deep copy, O(size of V); a map's entries are copied as they are, in order. NULL when
 * out of memory or when V is NULL. */
fh_value *fh_value_copy(const fh_value *v);

/* Frees *V and everything it holds, and sets *V to NULL. Accepts NULL and *V == NULL. */
void fh_value_destroy(fh_value **v);

/* Type of V; FH_TYPE_NULL for NULL. */
fh_type fh_value_type(const fh_value *v);

/* Name of a type: "null", "bool", "int", "double", "string", "bytes", "list", "map". */
const char *fh_type_name(fh_type t);

/* Scalar getters. Each returns DFLT when V is NULL or not of the type asked for, with the
 * numeric rule of the fh_map_find_* functions below and no other conversion:
 * fh_value_int also takes a double of integral value in int64's range (3.0 gives 3; 3.5,
 * 1e300, NaN give DFLT), fh_value_double also takes an int. A bool is never a number. */
bool fh_value_bool(const fh_value *v, bool dflt);
int64_t fh_value_int(const fh_value *v, int64_t dflt);
double fh_value_double(const fh_value *v, double dflt);
/* The string, or NULL when V is not a string. Borrowed. */
const char *fh_value_string(const fh_value *v);
/* The bytes and their length, or NULL (and *LEN = 0) when V is not bytes. Borrowed. */
const void *fh_value_bytes(const fh_value *v, size_t *len);

/* Number of items of a list or entries of a map; 0 for anything else. */
size_t fh_value_len(const fh_value *v);

/* Lists. fh_list_at returns the I-th item (borrowed) or NULL when out of range or V is
 * not a list. fh_list_append stores ITEM at the end: 0, or FH_E_TYPE / FH_E_NOMEM. */
fh_value *fh_list_at(const fh_value *list, size_t i);
int fh_list_append(fh_value *list, fh_value *item);

/* Maps. fh_map_get returns the value of KEY (borrowed) or NULL when absent or MAP is not
 * a map: O(1) expected (O(n) for the first lookup of a map of 16 entries or more, which
 * builds its index; may build it on a const map too, safely for other threads reading the
 * same map). fh_map_set stores VAL under KEY, replacing (and freeing) any value there, the
 * key keeping its position; a new key goes at the end: 0, or FH_E_TYPE / FH_E_NOMEM /
 * FH_E_INVAL; O(1) amortised. fh_map_remove removes KEY, the later entries keeping their
 * order: 0, or FH_E_NOTFOUND; O(n). */
fh_value *fh_map_get(const fh_value *map, const char *key);
int fh_map_set(fh_value *map, const char *key, fh_value *val);
int fh_map_remove(fh_value *map, const char *key);
/* The I-th entry in insertion order: key and value (borrowed), NULL when out of range.
 * O(1). */
const char *fh_map_key_at(const fh_value *map, size_t i);
fh_value *fh_map_value_at(const fh_value *map, size_t i);

/* Sets a deep copy of every entry of SRC over DST, in SRC's order, as fh_map_set does: a
 * key DST holds keeps its position and takes SRC's value, a new key goes at the end.
 * SRC is only read; it may be DST itself or a map inside DST. O(len(SRC)) expected, plus
 * the copying. Returns 0, or FH_E_TYPE (DST or SRC not a map; DST unchanged) or
 * FH_E_NOMEM (DST then holds some of SRC's entries, each one whole, and stays valid). */
int fh_map_merge(fh_value *dst, const fh_value *src);

/* Typed lookups that tell "absent" from "wrong type", for parameters and uses_with that
 * come from users. Each looks KEY up in MAP (as fh_map_get does) and returns:
 *   0              found and of the type asked for: *OUT holds the value;
 *   FH_E_NOTFOUND  MAP holds no KEY, or MAP is NULL (as for every getter);
 *   FH_E_TYPE      KEY holds another type (null included: a null is present, not absent),
 *                  or MAP is not a map.
 * *OUT is written only on 0. On failure fh_last_error() names the key and what was found
 * ("'times' is a string, not an int"), ready for fh_ctx_fail(ctx, "%s", fh_last_error()).
 * Numbers: an int is asked for -> an int, or a double of integral value within int64's
 * range (JSON has one number type: Python's json.dumps(3.0) writes "3.0" where
 * JavaScript writes "3", and Jina turns every int into a float, so a client may send 3.0
 * for 3); 3.5, NaN, infinities and 1e300 are FH_E_TYPE. A double is asked for -> a double
 * or an int (converted; beyond 2^53 the nearest double). A bool is never a number and a
 * number never a bool. Strings, lists and maps only as themselves (bytes are not a
 * string). Pointers written to *OUT are borrowed from MAP. O(1) expected, as fh_map_get. */
int fh_map_find_int(const fh_value *map, const char *key, int64_t *out);
int fh_map_find_double(const fh_value *map, const char *key, double *out);
int fh_map_find_bool(const fh_value *map, const char *key, bool *out);
int fh_map_find_string(const fh_value *map, const char *key, const char **out);
int fh_map_find_list(const fh_value *map, const char *key, const fh_value **out);
int fh_map_find_map(const fh_value *map, const char *key, const fh_value **out);

/* Convenience getters: the value fh_map_find_* finds, or DFLT whenever it fails — KEY
 * absent, KEY of another type (null included, e.g. {"times": "3"} or {"times": 3.5} give
 * DFLT for an int), MAP NULL or not a map. They never touch fh_last_error(). Use them
 * where a default is the right answer to a wrong type as well; use fh_map_find_* to
 * refuse a wrong type. fh_map_get_string's result is borrowed from MAP (or is DFLT). */
int64_t fh_map_get_int(const fh_value *map, const char *key, int64_t dflt);
double fh_map_get_double(const fh_value *map, const char *key, double dflt);
bool fh_map_get_bool(const fh_value *map, const char *key, bool dflt);
const char *fh_map_get_string(const fh_value *map, const char *key, const char *dflt);

/* Convenience setters: like fh_map_set with a new scalar. */
int fh_map_set_int(fh_value *map, const char *key, int64_t i);
int fh_map_set_double(fh_value *map, const char *key, double d);
int fh_map_set_bool(fh_value *map, const char *key, bool b);
int fh_map_set_string(fh_value *map, const char *key, const char *s);

/* Deep equality, types included: int 1 and double 1.0 differ. Maps are equal when they
 * hold the same keys with equal values, in any order: O(n) expected. */
bool fh_value_equal(const fh_value *a, const fh_value *b);

#ifdef __cplusplus
}
#endif
#endif

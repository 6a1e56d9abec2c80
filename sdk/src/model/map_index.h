/* Internal: the hash index of a map's entries, so that finding a key costs O(1) expected
 * time instead of a scan, whatever the map's size.
 *
 * Where the index lives. A map is the generated Flowhost__MapValue, freed by protobuf-c's
 * free_unpacked in many places that know nothing of an index, and maps also come straight
 * out of protobuf decoding. The index is therefore one malloc'd block hung on the
 * MapValue's own base.unknown_fields pointer while base.n_unknown_fields is 0:
 * - free_unpacked frees unknown_fields whenever it is not NULL, so the index goes with its
 *   map wherever the map is freed;
 * - pack and get_packed_size walk n_unknown_fields (0) entries, so it never travels;
 * - a decoded map has unknown_fields NULL unless the wire carried fields this version does
 *   not know; such a map keeps them (they are forwarded) and gets no index: lookups scan
 *   it, bulk operations build a transient index for it (fh_map_index_bulk).
 * The index records the entries array and count it describes; one that no longer matches
 * (the entries were changed behind the API's back) is never used, and is dropped by the
 * next change made through the API.
 *
 * When. Maps of fewer than FH_MAP_INDEX_MIN entries are scanned (faster than hashing, and
 * no memory). A larger map gets its index on the first lookup, built in one pass; every
 * change made through value.c keeps it up to date. A lookup on a const map may build the
 * index: it is published with an atomic compare-and-swap, so readers on several threads
 * stay safe (a map being changed is, as before, not to be read at the same time).
 *
 * Keys are hashed with SipHash-1-3 under a key drawn at random once per process, so a
 * client cannot choose keys that collide (hash flooding). Slots use linear probing at a
 * load of at most 3/4; each holds the entry's position and 32 bits of its hash, so that
 * growing the table never reads a key again. Memory: 8 bytes per slot, at most about 21
 * bytes per entry, plus a 40-byte header.
 *
 * Duplicate keys: a map decoded from the wire may hold a key more than once (protobuf
 * allows it). The entry that counts is the last one, as protobuf does for its map fields.
 */
#ifndef FH_SDK_MAP_INDEX_H
#define FH_SDK_MAP_INDEX_H

#include "pb.h"

#include <stddef.h>

/* Maps with fewer entries than this are scanned and get no index. */
#define FH_MAP_INDEX_MIN 16
/* Maps with more entries than this get no index (positions are kept in 32 bits). */
#define FH_MAP_INDEX_MAX ((size_t)1 << 30)

typedef struct fh_map_index fh_map_index;

/* Position in M->entries of the entry that holds KEY (the last one when the key repeats),
 * or -1. Builds M's index when it has none and is large enough (falls back to a scan when
 * that is impossible: no memory, unknown fields). Expected O(1) with an index, O(n)
 * otherwise; the first lookup of a large map is O(n). */
ptrdiff_t fh_map_index_find(const Flowhost__MapValue *m, const char *key);

/* Makes room in M->entries for MORE more entries, growing it geometrically when M has an
 * index (amortised O(1) per entry), to the exact size otherwise. Returns 0, or FH_E_NOMEM
 * with M unchanged. */
int fh_map_index_reserve(Flowhost__MapValue *m, size_t more);

/* Records that the caller stored a new entry at M->entries[M->n_entries - 1] (after a
 * reserve), with a key no other entry holds. Never fails: when the index cannot grow it
 * is dropped and rebuilt by a later lookup. */
void fh_map_index_appended(Flowhost__MapValue *m);

/* Removes every entry that holds KEY, freeing them; entries after them move down and keep
 * their order. Returns how many were removed. O(n). */
size_t fh_map_index_remove(Flowhost__MapValue *m, const char *key);

/* For many lookups in M: M's own index (built when missing), or a transient one made for
 * a map that cannot hold one (returned in *TMP too: the caller frees it with
 * fh_map_index_free), or NULL when M is small or memory is short (then scan). */
const fh_map_index *fh_map_index_bulk(const Flowhost__MapValue *m, fh_map_index **tmp);

/* fh_map_index_find with the index IDX from fh_map_index_bulk (NULL: scan). */
ptrdiff_t fh_map_index_lookup(const fh_map_index *idx, const Flowhost__MapValue *m,
                              const char *key);

/* Number of distinct keys in M (IDX from fh_map_index_bulk for M, or NULL). */
size_t fh_map_index_keys(const fh_map_index *idx, const Flowhost__MapValue *m);

/* Frees a transient index. Accepts NULL. */
void fh_map_index_free(fh_map_index *idx);

#endif

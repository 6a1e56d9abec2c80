/* Internal: a keyed hash for tables whose keys come from outside (map keys, document
 * ids, client routing ids). SipHash-1-3 under a key drawn at random once per process
 * (getrandom), so that nobody can choose keys that collide and turn a table's O(1) into
 * O(n) per key (hash flooding). Hashes differ between processes: never store them. */
#ifndef FH_SDK_SIPHASH_H
#define FH_SDK_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The hash of the LEN bytes at DATA (LEN may be 0). Thread-safe; never fails. */
uint64_t fh_siphash(const void *data, size_t len);

#endif

/* The docstore's in-memory index: only this stays in memory, not the documents.
 *
 * `entries` is in position order (one per document ever put since the last squeeze); a
 * deleted document leaves a tombstone (id NULL) so that delete is O(1); the tombstones
 * are squeezed out — O(n), moving the later entries down by one position each — the next
 * time a position is asked for (get_at) or the array is full. So a run of k deletes
 * costs O(k + n) once, not O(k * n). Ids are found through an open-addressing hash table
 * (linear probing, backward-shift deletion, load <= 1/2) of indexes into `entries`; it
 * grows with the data. fh_ds_index_reserve makes every allocation an update needs before
 * the record is written, so a write that succeeded is always reflected in the index and
 * one that failed never is.
 */
#include "docstore_internal.h"

#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "siphash.h"

uint64_t fh_ds_hash(const char *s, size_t n)
{
    /* Ids come from clients: a keyed hash, so that they cannot be chosen to collide. */
    return fh_siphash(s, n);
}

/* The slot holding ID (hash H), or the empty slot where it would go. n_slots > 0. */
static size_t slot_find(const struct ds_index *x, const char *id, size_t id_len, uint64_t h,
                        bool *found)
{
    size_t mask = x->n_slots - 1, i = (size_t)h & mask;
    while (x->slots[i]) {
        const struct ds_entry *e = &x->entries[x->slots[i] - 1];
        if (e->hash == h && strncmp(e->id, id, id_len) == 0 && e->id[id_len] == '\0') {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

size_t fh_ds_index_lookup(const struct ds_index *x, const char *id, size_t id_len, uint64_t h)
{
    if (!x->n_slots)
        return SIZE_MAX;
    bool found;
    size_t i = slot_find(x, id, id_len, h, &found);
    return found ? x->slots[i] - 1 : SIZE_MAX;
}

/* Puts entries[IDX] into the table (whose load was checked by the caller). */
static void slot_insert(struct ds_index *x, size_t idx)
{
    size_t mask = x->n_slots - 1, i = (size_t)x->entries[idx].hash & mask;
    while (x->slots[i])
        i = (i + 1) & mask;
    x->slots[i] = idx + 1;
}

/* Removes slot I, shifting later members of its probe run back (no tombstones). */
static void slot_remove(struct ds_index *x, size_t i)
{
    size_t mask = x->n_slots - 1, j = i;
    x->slots[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        if (!x->slots[j])
            return;
        size_t home = (size_t)x->entries[x->slots[j] - 1].hash & mask;
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            x->slots[i] = x->slots[j];
            x->slots[j] = 0;
            i = j;
        }
    }
}

static void rehash(struct ds_index *x)
{
    memset(x->slots, 0, x->n_slots * sizeof *x->slots);
    for (size_t k = 0; k < x->n_entries; k++)
        if (x->entries[k].id)
            slot_insert(x, k);
}

void fh_ds_index_squeeze(struct ds_index *x)
{
    if (x->n_live == x->n_entries)
        return;
    size_t w = 0;
    for (size_t r = 0; r < x->n_entries; r++)
        if (x->entries[r].id)
            x->entries[w++] = x->entries[r];
    x->n_entries = w;
    rehash(x);
}

int fh_ds_index_reserve(struct ds_index *x)
{
    if (x->n_entries == x->cap_entries) {
        if (x->n_live <= x->n_entries / 2 && x->n_entries > 0) {
            fh_ds_index_squeeze(x);
        } else {
            size_t cap = x->cap_entries ? x->cap_entries * 2 : 64;
            if (cap > SIZE_MAX / sizeof *x->entries)
                return FH_E_NOMEM;
            struct ds_entry *e = realloc(x->entries, cap * sizeof *e);
            if (!e)
                return FH_E_NOMEM;
            x->entries = e;
            x->cap_entries = cap;
        }
    }
    if ((x->n_live + 1) * 2 > x->n_slots) {
        size_t n = x->n_slots ? x->n_slots * 2 : 128;
        if (n > SIZE_MAX / sizeof(size_t))
            return FH_E_NOMEM;
        size_t *slots = calloc(n, sizeof *slots);
        if (!slots)
            return FH_E_NOMEM;
        free(x->slots);
        x->slots = slots;
        x->n_slots = n;
        rehash(x);
    }
    return 0;
}

void fh_ds_index_append(struct ds_index *x, char *id, uint64_t h, uint64_t off, uint32_t size)
{
    size_t k = x->n_entries++;
    x->entries[k] = (struct ds_entry){.id = id, .hash = h, .off = off, .size = size};
    slot_insert(x, k);
    x->n_live++;
    x->live_bytes += size;
}

void fh_ds_index_replace(struct ds_index *x, size_t k, uint64_t off, uint32_t size)
{
    x->live_bytes -= x->entries[k].size;
    x->entries[k].off = off;
    x->entries[k].size = size;
    x->entries[k].damaged = false;
    x->live_bytes += size;
}

void fh_ds_index_remove(struct ds_index *x, size_t k)
{
    struct ds_entry *e = &x->entries[k];
    bool found;
    size_t i = slot_find(x, e->id, strlen(e->id), e->hash, &found);
    if (found)
        slot_remove(x, i);
    x->live_bytes -= e->size;
    free(e->id);
    e->id = NULL;
    e->damaged = false;
    x->n_live--;
}

void fh_ds_index_free(struct ds_index *x)
{
    for (size_t k = 0; k < x->n_entries; k++)
        free(x->entries[k].id);
    free(x->entries);
    free(x->slots);
    memset(x, 0, sizeof *x);
}

/* The hash index of a map's entries: see map_index.h for where it lives and why. */
#include "map_index.h"
#include "siphash.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

typedef struct slot {
    uint32_t pos1; /* position of the entry + 1; 0: empty */
    uint32_t hash; /* low 32 bits of the key's hash: its home slot, and a quick compare */
} slot;

struct fh_map_index {
    Flowhost__MapEntry **entries; /* the entries array indexed: another one means stale */
    size_t n_entries;             /* entries indexed: another count means stale */
    size_t cap;                   /* entries the array has room for */
    size_t n_keys;                /* distinct keys (fewer than n_entries when one repeats) */
    size_t mask;                  /* slots - 1 (slots is a power of two) */
    slot slots[];
};

/* SipHash under the process's random key: keys cannot be chosen to collide. */
static uint64_t key_hash(const char *key) { return fh_siphash(key, strlen(key)); }

/* ---- the index hung on the map ---- */

/* M's index, or NULL. The slot is M's only while M has no real unknown fields. */
static fh_map_index *attached(const Flowhost__MapValue *m)
{
    if (m->base.n_unknown_fields != 0)
        return NULL;
    return (fh_map_index *)__atomic_load_n(&m->base.unknown_fields, __ATOMIC_ACQUIRE);
}

static bool current(const fh_map_index *x, const Flowhost__MapValue *m)
{
    return x && x->entries == m->entries && x->n_entries == m->n_entries;
}

static void set_attached(Flowhost__MapValue *m, fh_map_index *x)
{
    __atomic_store_n(&m->base.unknown_fields, (ProtobufCMessageUnknownField *)x,
                     __ATOMIC_RELEASE);
}

/* Frees M's index (a later lookup builds a new one). For changes only, never while other
 * threads may read M. */
static void drop(Flowhost__MapValue *m)
{
    fh_map_index *x = attached(m);
    if (x) {
        set_attached(m, NULL);
        free(x);
    }
}

/* Hangs X on the const map M unless another thread was first; returns the one in place. */
static fh_map_index *publish(const Flowhost__MapValue *m, fh_map_index *x)
{
    if (!x)
        return NULL;
    ProtobufCMessageUnknownField *expected = NULL;
    /* Casting the const away is sound: every map is malloc'd, and the slot is ours. */
    if (__atomic_compare_exchange_n(&((Flowhost__MapValue *)m)->base.unknown_fields,
                                    &expected, (ProtobufCMessageUnknownField *)x, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return x;
    free(x);
    return (fh_map_index *)expected;
}

/* ---- the table ---- */

/* Slots for KEYS keys: a power of two, at least 16, loaded at most 3/4. */
static size_t slots_for(size_t keys)
{
    size_t s = 16;
    while (s / 4 * 3 < keys)
        s *= 2;
    return s;
}

static fh_map_index *index_alloc(size_t nslots)
{
    if (nslots > (SIZE_MAX - sizeof(fh_map_index)) / sizeof(slot))
        return NULL;
    fh_map_index *x = calloc(1, sizeof *x + nslots * sizeof(slot));
    if (x)
        x->mask = nslots - 1;
    return x;
}

/* The slot that holds KEY (hash H) in X, or the empty slot where it would go. */
static size_t probe(const fh_map_index *x, const Flowhost__MapValue *m, const char *key,
                    uint32_t h)
{
    size_t i = h & x->mask;
    while (x->slots[i].pos1) {
        if (x->slots[i].hash == h && strcmp(m->entries[x->slots[i].pos1 - 1]->key, key) == 0)
            return i;
        i = (i + 1) & x->mask;
    }
    return i;
}

/* Indexes the entry at POS. A key already there now points at POS: the later entry wins. */
static void put(fh_map_index *x, const Flowhost__MapValue *m, size_t pos)
{
    uint32_t h = (uint32_t)key_hash(m->entries[pos]->key);
    size_t i = probe(x, m, m->entries[pos]->key, h);
    if (!x->slots[i].pos1)
        x->n_keys++;
    x->slots[i] = (slot){(uint32_t)(pos + 1), h};
}

/* A new index of M, or NULL (too small, too large, no memory). One pass over the keys. */
static fh_map_index *index_build(const Flowhost__MapValue *m)
{
    size_t n = m->n_entries;
    if (n < FH_MAP_INDEX_MIN || n > FH_MAP_INDEX_MAX)
        return NULL;
    fh_map_index *x = index_alloc(slots_for(n));
    if (!x)
        return NULL;
    x->entries = m->entries;
    x->n_entries = n;
    x->cap = n;
    for (size_t i = 0; i < n; i++)
        put(x, m, i);
    return x;
}

/* X with twice the slots, from the hashes it keeps (no key is read); NULL on no memory. */
static fh_map_index *index_grow(const fh_map_index *x)
{
    fh_map_index *y = index_alloc((x->mask + 1) * 2);
    if (!y)
        return NULL;
    y->entries = x->entries;
    y->n_entries = x->n_entries;
    y->cap = x->cap;
    y->n_keys = x->n_keys;
    for (size_t i = 0; i <= x->mask; i++) {
        if (!x->slots[i].pos1)
            continue;
        size_t j = x->slots[i].hash & y->mask;
        while (y->slots[j].pos1)
            j = (j + 1) & y->mask;
        y->slots[j] = x->slots[i];
    }
    return y;
}

/* Empties slot I and moves later entries of its run back (linear probing keeps no
 * tombstones). */
static void slot_delete(fh_map_index *x, size_t i)
{
    for (;;) {
        x->slots[i].pos1 = 0;
        size_t k = i;
        for (;;) {
            k = (k + 1) & x->mask;
            if (!x->slots[k].pos1)
                return;
            size_t home = x->slots[k].hash & x->mask;
            /* The entry at K may stay unless its home lies cyclically outside (I, K]. */
            bool stays = i <= k ? (i < home && home <= k) : (i < home || home <= k);
            if (!stays)
                break;
        }
        x->slots[i] = x->slots[k];
        i = k;
    }
}

/* Last entry of M that holds KEY, by a scan from the end. */
static ptrdiff_t scan(const Flowhost__MapValue *m, const char *key)
{
    for (size_t i = m->n_entries; i-- > 0;)
        if (strcmp(m->entries[i]->key, key) == 0)
            return (ptrdiff_t)i;
    return -1;
}

/* ---- the interface ---- */

ptrdiff_t fh_map_index_lookup(const fh_map_index *x, const Flowhost__MapValue *m,
                              const char *key)
{
    if (!x)
        return scan(m, key);
    size_t i = probe(x, m, key, (uint32_t)key_hash(key));
    return x->slots[i].pos1 ? (ptrdiff_t)x->slots[i].pos1 - 1 : -1;
}

ptrdiff_t fh_map_index_find(const Flowhost__MapValue *m, const char *key)
{
    if (m->n_entries < FH_MAP_INDEX_MIN)
        return scan(m, key);
    fh_map_index *x = attached(m);
    if (!x && m->base.n_unknown_fields == 0)
        x = publish(m, index_build(m));
    return fh_map_index_lookup(current(x, m) ? x : NULL, m, key);
}

int fh_map_index_reserve(Flowhost__MapValue *m, size_t more)
{
    fh_map_index *x = attached(m);
    if (x && !current(x, m)) {
        drop(m);
        x = NULL;
    }
    size_t n = m->n_entries;
    if (more > SIZE_MAX / sizeof *m->entries - n)
        return fh_set_error(FH_E_NOMEM, "map of %zu entries: out of memory", n);
    size_t need = n + more, have = x ? x->cap : n;
    if (need <= have)
        return 0;
    size_t cap = need;
    if (x && have <= SIZE_MAX / sizeof *m->entries / 2 && have * 2 > need)
        cap = have * 2;
    Flowhost__MapEntry **grown = realloc(m->entries, cap * sizeof *grown);
    if (!grown)
        return fh_set_error(FH_E_NOMEM, "map of %zu entries: out of memory", n);
    m->entries = grown;
    if (x) {
        x->entries = grown;
        x->cap = cap;
    }
    return 0;
}

void fh_map_index_appended(Flowhost__MapValue *m)
{
    fh_map_index *x = attached(m);
    if (!x)
        return; /* a later lookup builds it when the map is large enough */
    if (x->entries != m->entries || x->n_entries + 1 != m->n_entries ||
        m->n_entries > FH_MAP_INDEX_MAX) {
        drop(m);
        return;
    }
    if (x->n_keys + 1 > (x->mask + 1) / 4 * 3) {
        fh_map_index *y = index_grow(x);
        if (!y) {
            drop(m);
            return;
        }
        set_attached(m, y);
        free(x);
        x = y;
    }
    x->n_entries++;
    put(x, m, m->n_entries - 1);
}

size_t fh_map_index_remove(Flowhost__MapValue *m, const char *key)
{
    fh_map_index *x = attached(m);
    if (x && !current(x, m)) {
        drop(m);
        x = NULL;
    }
    if (x && x->n_keys == x->n_entries) {
        /* Keys are unique: one entry at most, found in O(1); the positions after it
         * move down by one in the table as in the array. */
        size_t i = probe(x, m, key, (uint32_t)key_hash(key));
        if (!x->slots[i].pos1)
            return 0;
        size_t pos = x->slots[i].pos1 - 1;
        protobuf_c_message_free_unpacked(&m->entries[pos]->base, NULL);
        memmove(&m->entries[pos], &m->entries[pos + 1],
                (m->n_entries - pos - 1) * sizeof *m->entries);
        m->n_entries--;
        slot_delete(x, i);
        for (size_t k = 0; k <= x->mask; k++)
            if (x->slots[k].pos1 > pos + 1)
                x->slots[k].pos1--;
        x->n_entries--;
        x->n_keys--;
        return 1;
    }
    /* A key may repeat (or there is no index): one pass removes every entry of it. */
    size_t w = 0, removed = 0;
    for (size_t r = 0; r < m->n_entries; r++) {
        if (strcmp(m->entries[r]->key, key) == 0) {
            protobuf_c_message_free_unpacked(&m->entries[r]->base, NULL);
            removed++;
        } else {
            m->entries[w++] = m->entries[r];
        }
    }
    m->n_entries = w;
    if (removed)
        drop(m);
    return removed;
}

const fh_map_index *fh_map_index_bulk(const Flowhost__MapValue *m, fh_map_index **tmp)
{
    *tmp = NULL;
    if (m->n_entries < FH_MAP_INDEX_MIN)
        return NULL;
    if (m->base.n_unknown_fields == 0) {
        fh_map_index *x = attached(m);
        if (!x)
            x = publish(m, index_build(m));
        if (current(x, m))
            return x;
    }
    *tmp = index_build(m);
    return *tmp;
}

size_t fh_map_index_keys(const fh_map_index *x, const Flowhost__MapValue *m)
{
    if (x)
        return x->n_keys;
    size_t n = 0;
    for (size_t i = 0; i < m->n_entries; i++)
        n += scan(m, m->entries[i]->key) == (ptrdiff_t)i;
    return n;
}

void fh_map_index_free(fh_map_index *x)
{
    free(x);
}

/* Open addressing with linear probing and backward-shift deletion: no tombstones, so a
 * table that sees millions of clients come and go stays as fast as on the first day. */
#include "client_table.h"

#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "siphash.h"

/* Clients may choose their routing ids: a keyed hash, so that they cannot collide on
 * purpose. */
static uint64_t hash(const unsigned char *id, size_t len) { return fh_siphash(id, len); }

int fh_client_table_init(fh_client_table *t, size_t max_clients)
{
    size_t cap = 16;
    while (cap < 2 * max_clients)
        cap *= 2;
    t->entries = calloc(cap, sizeof *t->entries);
    t->cap = cap;
    t->count = 0;
    return t->entries ? 0 : fh_set_error(FH_E_NOMEM, "out of memory");
}

void fh_client_table_free(fh_client_table *t)
{
    free(t->entries);
    t->entries = NULL;
    t->cap = t->count = 0;
}

/* The slot of ID: its entry, or the empty slot where it would go. */
static size_t probe(const fh_client_table *t, const void *id, size_t len)
{
    size_t i = hash(id, len) & (t->cap - 1);
    while (t->entries[i].used &&
           !(t->entries[i].len == len && memcmp(t->entries[i].id, id, len) == 0))
        i = (i + 1) & (t->cap - 1);
    return i;
}

fh_client_entry *fh_client_table_find(fh_client_table *t, const void *id, size_t len)
{
    if (len == 0 || len > FH_CLIENT_ID_MAX)
        return NULL;
    fh_client_entry *e = &t->entries[probe(t, id, len)];
    return e->used ? e : NULL;
}

fh_client_entry *fh_client_table_get(fh_client_table *t, const void *id, size_t len)
{
    if (len == 0 || len > FH_CLIENT_ID_MAX)
        return NULL;
    fh_client_entry *e = &t->entries[probe(t, id, len)];
    if (e->used)
        return e;
    if (2 * (t->count + 1) > t->cap)
        return NULL; /* keep the load at one half: probes stay short */
    e->used = true;
    memcpy(e->id, id, len);
    e->len = len;
    e->inflight = 0;
    e->parked_head = e->parked_tail = -1;
    t->count++;
    return e;
}

void fh_client_table_remove(fh_client_table *t, fh_client_entry *e)
{
    size_t mask = t->cap - 1;
    size_t hole = (size_t)(e - t->entries);
    t->entries[hole].used = false;
    t->count--;
    /* Move back every entry of the run after the hole that may sit there. */
    for (size_t i = (hole + 1) & mask; t->entries[i].used; i = (i + 1) & mask) {
        size_t home = hash(t->entries[i].id, t->entries[i].len) & mask;
        /* The entry may move to HOLE when HOLE lies cyclically in [home, i). */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            t->entries[hole] = t->entries[i];
            t->entries[i].used = false;
            hole = i;
        }
    }
}

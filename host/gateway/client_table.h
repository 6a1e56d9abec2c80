/* The gateway's table of clients with requests in the flow, for the per-client prefetch
 * bound. Fixed capacity, chosen at init: it never grows, and it never needs more than
 * one entry per request in flight. */
#ifndef FH_HOST_CLIENT_TABLE_H
#define FH_HOST_CLIENT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_CLIENT_ID_MAX 256 /* longest ZeroMQ routing id */

typedef struct fh_client_entry {
    bool used;
    unsigned char id[FH_CLIENT_ID_MAX];
    size_t len;
    uint32_t inflight;      /* its requests past the prefetch gate */
    int parked_head;        /* its requests waiting at the gate (slot indices), -1: none */
    int parked_tail;
} fh_client_entry;

typedef struct fh_client_table {
    fh_client_entry *entries;
    size_t cap;             /* a power of two, at least twice the most entries */
    size_t count;
} fh_client_table;

/* Makes room for MAX_CLIENTS clients at once. Returns 0 or FH_E_NOMEM. */
int fh_client_table_init(fh_client_table *t, size_t max_clients);

/* Frees the entries. */
void fh_client_table_free(fh_client_table *t);

/* The entry of client ID (LEN bytes, 1..FH_CLIENT_ID_MAX), made empty (no requests,
 * nothing parked) when absent. NULL when LEN is out of range or the table is full.
 * The pointer is valid until the next insert or remove. */
fh_client_entry *fh_client_table_get(fh_client_table *t, const void *id, size_t len);

/* The entry of client ID, or NULL when absent. */
fh_client_entry *fh_client_table_find(fh_client_table *t, const void *id, size_t len);

/* Removes entry E (from this table). */
void fh_client_table_remove(fh_client_table *t, fh_client_entry *e);

#endif

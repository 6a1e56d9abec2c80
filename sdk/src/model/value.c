/* Typed values. An fh_value is the generated Flowhost__Value (see pb.h), so a value
 * built here goes on the wire as it is, and one decoded from the wire is used in place.
 *
 * Invariants kept by every constructor and setter, because protobuf-c relies on them:
 * - a string or bytes value owns a malloc'd buffer (never protobuf_c_empty_string: a
 *   oneof string equal to the default is not packed and its kind would be lost);
 * - a list or map value always has its ListValue / MapValue message (a NULL one is not
 *   packed either, and would arrive as an unset kind).
 */
#include "map_index.h"
#include "pb.h"

#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>
#include <flowhost/value.h>

#define V(v) FH_PB_VALUE(v)
#define CV(v) FH_PB_CVALUE(v)

static Flowhost__Value *value_alloc(Flowhost__Value__KindCase kind)
{
    Flowhost__Value *v = malloc(sizeof *v);
    if (!v)
        return NULL;
    flowhost__value__init(v);
    v->kind_case = kind;
    return v;
}

fh_value *fh_value_new_null(void)
{
    Flowhost__Value *v = value_alloc(FLOWHOST__VALUE__KIND_NULL_VALUE);
    if (v)
        v->null_value = 1;
    return (fh_value *)v;
}

fh_value *fh_value_new_bool(bool b)
{
    Flowhost__Value *v = value_alloc(FLOWHOST__VALUE__KIND_BOOL_VALUE);
    if (v)
        v->bool_value = b;
    return (fh_value *)v;
}

fh_value *fh_value_new_int(int64_t i)
{
    Flowhost__Value *v = value_alloc(FLOWHOST__VALUE__KIND_INT_VALUE);
    if (v)
        v->int_value = i;
    return (fh_value *)v;
}

fh_value *fh_value_new_double(double d)
{
    Flowhost__Value *v = value_alloc(FLOWHOST__VALUE__KIND_DOUBLE_VALUE);
    if (v)
        v->double_value = d;
    return (fh_value *)v;
}

fh_value *fh_value_new_string(const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        return NULL;
    Flowhost__Value *v = value_alloc(FLOWHOST__VALUE__KIND_STRING_VALUE);
    if (!v) {
        free(copy);
        return NULL;
    }
    v->string_value = copy;
    return (fh_value *)v;
}

fh_value *fh_value_new_bytes(const void *data, size_t len)
{
    /* Always allocate (1 byte at least) so that the buffer is never NULL. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, data, len);
    Flowhost__Value *v = value_alloc(FLOWHOST__VALUE__KIND_BYTES_VALUE);
    if (!v) {
        free(copy);
        return NULL;
    }
    v->bytes_value.data = copy;
    v->bytes_value.len = len;
    return (fh_value *)v;
}

fh_value *fh_value_new_list(void)
{
    Flowhost__ListValue *l = malloc(sizeof *l);
    if (!l)
        return NULL;
    flowhost__list_value__init(l);
    Flowhost__Value *v = value_alloc(FLOWHOST__VALUE__KIND_LIST_VALUE);
    if (!v) {
        free(l);
        return NULL;
    }
    v->list_value = l;
    return (fh_value *)v;
}

fh_value *fh_value_new_map(void)
{
    Flowhost__MapValue *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    flowhost__map_value__init(m);
    Flowhost__Value *v = value_alloc(FLOWHOST__VALUE__KIND_MAP_VALUE);
    if (!v) {
        free(m);
        return NULL;
    }
    v->map_value = m;
    return (fh_value *)v;
}

void fh_value_destroy(fh_value **v)
{
    if (!v || !*v)
        return;
    protobuf_c_message_free_unpacked(&V(*v)->base, NULL);
    *v = NULL;
}

fh_type fh_value_type(const fh_value *v)
{
    if (!v)
        return FH_TYPE_NULL;
    switch (CV(v)->kind_case) {
    case FLOWHOST__VALUE__KIND_BOOL_VALUE:
        return FH_TYPE_BOOL;
    case FLOWHOST__VALUE__KIND_INT_VALUE:
        return FH_TYPE_INT;
    case FLOWHOST__VALUE__KIND_DOUBLE_VALUE:
        return FH_TYPE_DOUBLE;
    case FLOWHOST__VALUE__KIND_STRING_VALUE:
        return FH_TYPE_STRING;
    case FLOWHOST__VALUE__KIND_BYTES_VALUE:
        return FH_TYPE_BYTES;
    /* A list or map decoded from the wire without its message is treated as null, so
     * that no getter ever follows a NULL list_value / map_value. */
    case FLOWHOST__VALUE__KIND_LIST_VALUE:
        return CV(v)->list_value ? FH_TYPE_LIST : FH_TYPE_NULL;
    case FLOWHOST__VALUE__KIND_MAP_VALUE:
        return CV(v)->map_value ? FH_TYPE_MAP : FH_TYPE_NULL;
    default: /* NULL_VALUE, NOT_SET (from the wire), or an unknown case */
        return FH_TYPE_NULL;
    }
}

const char *fh_type_name(fh_type t)
{
    switch (t) {
    case FH_TYPE_NULL:
        return "null";
    case FH_TYPE_BOOL:
        return "bool";
    case FH_TYPE_INT:
        return "int";
    case FH_TYPE_DOUBLE:
        return "double";
    case FH_TYPE_STRING:
        return "string";
    case FH_TYPE_BYTES:
        return "bytes";
    case FH_TYPE_LIST:
        return "list";
    case FH_TYPE_MAP:
        return "map";
    }
    return "unknown";
}

/* ---- deep copy ---- */

static Flowhost__Value *value_copy(const Flowhost__Value *src);

static Flowhost__Value *list_copy(const Flowhost__Value *src)
{
    Flowhost__Value *dst = V(fh_value_new_list());
    if (!dst)
        return NULL;
    size_t n = src->list_value->n_values;
    if (n == 0)
        return dst;
    dst->list_value->values = calloc(n, sizeof *dst->list_value->values);
    if (!dst->list_value->values)
        goto fail;
    /* Count as we go, so that free_unpacked frees exactly what was copied. */
    for (size_t i = 0; i < n; i++) {
        Flowhost__Value *item = value_copy(src->list_value->values[i]);
        if (!item)
            goto fail;
        dst->list_value->values[dst->list_value->n_values++] = item;
    }
    return dst;
fail:
    protobuf_c_message_free_unpacked(&dst->base, NULL);
    return NULL;
}

static Flowhost__MapEntry *entry_new(const char *key, Flowhost__Value *val)
{
    Flowhost__MapEntry *e = malloc(sizeof *e);
    char *k = strdup(key);
    if (!e || !k) {
        free(e);
        free(k);
        return NULL;
    }
    flowhost__map_entry__init(e);
    e->key = k;
    e->value = val;
    return e;
}

static Flowhost__Value *map_copy(const Flowhost__Value *src)
{
    Flowhost__Value *dst = V(fh_value_new_map());
    if (!dst)
        return NULL;
    size_t n = src->map_value->n_entries;
    if (n == 0)
        return dst;
    Flowhost__MapValue *m = dst->map_value;
    m->entries = calloc(n, sizeof *m->entries);
    if (!m->entries)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const Flowhost__MapEntry *se = src->map_value->entries[i];
        Flowhost__Value *val = NULL;
        if (se->value && !(val = value_copy(se->value)))
            goto fail;
        Flowhost__MapEntry *e = entry_new(se->key, val);
        if (!e) {
            if (val)
                protobuf_c_message_free_unpacked(&val->base, NULL);
            goto fail;
        }
        m->entries[m->n_entries++] = e;
    }
    return dst;
fail:
    protobuf_c_message_free_unpacked(&dst->base, NULL);
    return NULL;
}

static Flowhost__Value *value_copy(const Flowhost__Value *src)
{
    switch (fh_value_type((const fh_value *)src)) {
    case FH_TYPE_NULL:
        return V(fh_value_new_null());
    case FH_TYPE_BOOL:
        return V(fh_value_new_bool(src->bool_value));
    case FH_TYPE_INT:
        return V(fh_value_new_int(src->int_value));
    case FH_TYPE_DOUBLE:
        return V(fh_value_new_double(src->double_value));
    case FH_TYPE_STRING:
        return V(fh_value_new_string(src->string_value));
    case FH_TYPE_BYTES:
        return V(fh_value_new_bytes(src->bytes_value.data, src->bytes_value.len));
    case FH_TYPE_LIST:
        return list_copy(src);
    case FH_TYPE_MAP:
        return map_copy(src);
    }
    return NULL;
}

fh_value *fh_value_copy(const fh_value *v)
{
    if (!v)
        return NULL;
    return (fh_value *)value_copy(CV(v));
}

/* ---- scalar getters ---- */

bool fh_value_bool(const fh_value *v, bool dflt)
{
    return fh_value_type(v) == FH_TYPE_BOOL ? CV(v)->bool_value != 0 : dflt;
}

const char *fh_value_string(const fh_value *v)
{
    return fh_value_type(v) == FH_TYPE_STRING ? CV(v)->string_value : NULL;
}

const void *fh_value_bytes(const fh_value *v, size_t *len)
{
    if (fh_value_type(v) != FH_TYPE_BYTES) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = CV(v)->bytes_value.len;
    /* Empty bytes decoded from the wire may have a NULL buffer; answer with a valid
     * pointer so that callers can tell "empty bytes" from "not bytes". */
    return CV(v)->bytes_value.data ? (const void *)CV(v)->bytes_value.data : (const void *)"";
}

size_t fh_value_len(const fh_value *v)
{
    switch (fh_value_type(v)) {
    case FH_TYPE_LIST:
        return CV(v)->list_value->n_values;
    case FH_TYPE_MAP:
        return CV(v)->map_value->n_entries;
    default:
        return 0;
    }
}

/* ---- lists ---- */

fh_value *fh_list_at(const fh_value *list, size_t i)
{
    if (fh_value_type(list) != FH_TYPE_LIST || i >= CV(list)->list_value->n_values)
        return NULL;
    return (fh_value *)CV(list)->list_value->values[i];
}

int fh_list_append(fh_value *list, fh_value *item)
{
    if (!item)
        return fh_set_error(FH_E_INVAL, "fh_list_append: NULL item");
    if (fh_value_type(list) != FH_TYPE_LIST) {
        fh_value_destroy(&item);
        return fh_set_error(FH_E_TYPE, "fh_list_append: not a list (%s)",
                            fh_type_name(fh_value_type(list)));
    }
    Flowhost__ListValue *l = V(list)->list_value;
    Flowhost__Value **grown = realloc(l->values, (l->n_values + 1) * sizeof *grown);
    if (!grown) {
        fh_value_destroy(&item);
        return fh_set_error(FH_E_NOMEM, "fh_list_append: out of memory");
    }
    l->values = grown;
    l->values[l->n_values++] = V(item);
    return 0;
}

/* ---- maps ---- */

/* Lookups, appends and removals go through map_index.c: maps of FH_MAP_INDEX_MIN entries
 * or more carry a hash index, so that a key costs O(1) expected time at any size. */

fh_value *fh_map_get(const fh_value *map, const char *key)
{
    if (!key || fh_value_type(map) != FH_TYPE_MAP)
        return NULL;
    ptrdiff_t i = fh_map_index_find(CV(map)->map_value, key);
    return i < 0 ? NULL : (fh_value *)CV(map)->map_value->entries[i]->value;
}

int fh_map_set(fh_value *map, const char *key, fh_value *val)
{
    if (!val || !key) {
        fh_value_destroy(&val);
        return fh_set_error(FH_E_INVAL, "fh_map_set: NULL %s", key ? "value" : "key");
    }
    if (fh_value_type(map) != FH_TYPE_MAP) {
        fh_value_destroy(&val);
        return fh_set_error(FH_E_TYPE, "fh_map_set: not a map (%s)",
                            fh_type_name(fh_value_type(map)));
    }
    Flowhost__MapValue *m = V(map)->map_value;
    ptrdiff_t i = fh_map_index_find(m, key);
    if (i >= 0) { /* replace in place: the key keeps its position */
        Flowhost__MapEntry *e = m->entries[i];
        if (e->value)
            protobuf_c_message_free_unpacked(&e->value->base, NULL);
        e->value = V(val);
        return 0;
    }
    Flowhost__MapEntry *e = NULL;
    if (fh_map_index_reserve(m, 1) != 0 || !(e = entry_new(key, V(val)))) {
        fh_value_destroy(&val);
        return fh_set_error(FH_E_NOMEM, "fh_map_set: out of memory");
    }
    m->entries[m->n_entries++] = e;
    fh_map_index_appended(m);
    return 0;
}

int fh_map_remove(fh_value *map, const char *key)
{
    if (!key || fh_value_type(map) != FH_TYPE_MAP)
        return fh_set_error(FH_E_NOTFOUND, "key '%s' not found", key ? key : "(null)");
    if (fh_map_index_remove(V(map)->map_value, key) == 0)
        return fh_set_error(FH_E_NOTFOUND, "key '%s' not found", key);
    return 0;
}

int fh_map_merge(fh_value *dst, const fh_value *src)
{
    if (fh_value_type(dst) != FH_TYPE_MAP || fh_value_type(src) != FH_TYPE_MAP)
        return fh_set_error(FH_E_TYPE, "fh_map_merge: not a map (%s)",
                            fh_type_name(fh_value_type(fh_value_type(dst) != FH_TYPE_MAP
                                                           ? dst
                                                           : src)));
    /* Copy SRC whole first: SRC may be DST itself or lie inside it, and setting a key of
     * DST could then free what is still to be read. The copy's values are moved, not
     * copied again. */
    fh_value *copy = fh_value_copy(src);
    if (!copy)
        return fh_set_error(FH_E_NOMEM, "fh_map_merge: out of memory");
    Flowhost__MapValue *from = V(copy)->map_value;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < from->n_entries; i++) {
        Flowhost__MapEntry *e = from->entries[i];
        fh_value *val = e->value ? (fh_value *)e->value : fh_value_new_null();
        e->value = NULL;
        rc = val ? fh_map_set(dst, e->key, val)
                 : fh_set_error(FH_E_NOMEM, "fh_map_merge: out of memory");
    }
    fh_value_destroy(&copy);
    return rc;
}

const char *fh_map_key_at(const fh_value *map, size_t i)
{
    if (fh_value_type(map) != FH_TYPE_MAP || i >= CV(map)->map_value->n_entries)
        return NULL;
    return CV(map)->map_value->entries[i]->key;
}

fh_value *fh_map_value_at(const fh_value *map, size_t i)
{
    if (fh_value_type(map) != FH_TYPE_MAP || i >= CV(map)->map_value->n_entries)
        return NULL;
    return (fh_value *)CV(map)->map_value->entries[i]->value;
}

/* The scalar setters report FH_E_NOMEM when the new value cannot be made; fh_map_set
 * then reports the rest (it gets NULL only in that case). */
static int map_set_new(fh_value *map, const char *key, fh_value *val)
{
    if (!val)
        return fh_set_error(FH_E_NOMEM, "fh_map_set: out of memory");
    return fh_map_set(map, key, val);
}

int fh_map_set_int(fh_value *map, const char *key, int64_t i)
{
    return map_set_new(map, key, fh_value_new_int(i));
}

int fh_map_set_double(fh_value *map, const char *key, double d)
{
    return map_set_new(map, key, fh_value_new_double(d));
}

int fh_map_set_bool(fh_value *map, const char *key, bool b)
{
    return map_set_new(map, key, fh_value_new_bool(b));
}

int fh_map_set_string(fh_value *map, const char *key, const char *s)
{
    return map_set_new(map, key, fh_value_new_string(s));
}

/* ---- equality ---- */

bool fh_value_equal(const fh_value *a, const fh_value *b)
{
    fh_type t = fh_value_type(a);
    if (t != fh_value_type(b))
        return false;
    switch (t) {
    case FH_TYPE_NULL:
        return true;
    case FH_TYPE_BOOL:
        return (CV(a)->bool_value != 0) == (CV(b)->bool_value != 0);
    case FH_TYPE_INT:
        return CV(a)->int_value == CV(b)->int_value;
    case FH_TYPE_DOUBLE:
        return CV(a)->double_value == CV(b)->double_value;
    case FH_TYPE_STRING:
        return strcmp(CV(a)->string_value, CV(b)->string_value) == 0;
    case FH_TYPE_BYTES: {
        size_t la, lb;
        const void *pa = fh_value_bytes(a, &la), *pb = fh_value_bytes(b, &lb);
        return la == lb && memcmp(pa, pb, la) == 0;
    }
    case FH_TYPE_LIST: {
        size_t n = fh_value_len(a);
        if (n != fh_value_len(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!fh_value_equal(fh_list_at(a, i), fh_list_at(b, i)))
                return false;
        return true;
    }
    case FH_TYPE_MAP: {
        /* The same keys with equal values; order is not part of equality (a map is a
         * map). A key that repeats counts once, with its last value (see value.h). */
        const Flowhost__MapValue *ma = CV(a)->map_value, *mb = CV(b)->map_value;
        fh_map_index *ta, *tb;
        const fh_map_index *ia = fh_map_index_bulk(ma, &ta), *ib = fh_map_index_bulk(mb, &tb);
        bool eq = fh_map_index_keys(ia, ma) == fh_map_index_keys(ib, mb);
        for (size_t i = 0; eq && i < ma->n_entries; i++) {
            const char *key = ma->entries[i]->key;
            if (fh_map_index_lookup(ia, ma, key) != (ptrdiff_t)i)
                continue; /* a later entry holds this key */
            ptrdiff_t j = fh_map_index_lookup(ib, mb, key);
            eq = j >= 0 && fh_value_equal((const fh_value *)ma->entries[i]->value,
                                          (const fh_value *)mb->entries[j]->value);
        }
        fh_map_index_free(ta);
        fh_map_index_free(tb);
        return eq;
    }
    }
    return false;
}

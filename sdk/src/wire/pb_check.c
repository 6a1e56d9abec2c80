/* The walk over protobuf wire bytes that runs before protobuf-c decodes them (see
 * codec.h, fh_pb_measure): it refuses what protobuf-c would decode too deep, too slowly
 * or into too much memory, and what a C string cannot hold.
 *
 * The size it computes follows protobuf-c 1.4's unpack (protobuf_c_message_unpack):
 * every message is one allocation of its struct; the fields seen on the wire are first
 * scanned into slabs of ScannedMember (16 on the stack, then slabs doubling in size);
 * a repeated field is one array of its elements; a string is a copy with its NUL; bytes
 * are a copy (none when empty); an unknown field is an entry in an array plus a copy of
 * its bytes. Each allocation is counted as glibc's malloc holds it (8 bytes of header,
 * rounded up to 16, at least 32), so the total is what the decoded message costs the
 * process, within a few percent. */
#include "codec.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

/* protobuf-c's ScannedMember: tag, wire type, prefix length, field, length, data. */
#define SCANNED_MEMBER_SIZE 32
/* ... of which the first slab lives on the stack. */
#define FIRST_SLAB 16
/* glibc's malloc maps blocks of this size or more on their own (its default). */
#define MMAP_THRESHOLD (128 * 1024)
/* Fields of a message (by index in its descriptor) whose arrays are counted exactly. */
#define COUNTED_FIELDS 64

typedef struct walk {
    size_t total;  /* bytes counted so far */
    size_t max;    /* the budget */
} walk;

/* What malloc(N) takes from the heap: a header of 8 bytes, rounded up to 16 (at least
 * 32); a large block is mapped on its own, in whole pages. */
static size_t chunk(size_t n)
{
    if (n >= MMAP_THRESHOLD)
        return (n + 16 + 4095) & ~(size_t)4095;
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

static int over(const walk *w)
{
    return fh_set_error(FH_E_RANGE, "it would take more than %zu bytes decoded", w->max);
}

/* Adds N bytes; fails once the budget is exceeded (the walk stops there: its time is
 * bounded by the budget too). */
static int add(walk *w, size_t n)
{
    w->total += n;
    return w->total > w->max ? over(w) : 0;
}

/* Reads a varint at *P (< END) into *V. Returns 0, or -1 when it is cut or too long. */
static inline int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    if (*p < end && **p < 0x80) { /* most keys and lengths: one byte */
        *v = *(*p)++;
        return 0;
    }
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Bytes of one element of a repeated field of TYPE in protobuf-c's arrays. */
static size_t element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    default: /* 64-bit numbers */
        return 8;
    }
}

/* Elements in a packed run of N bytes at P of TYPE (as protobuf-c counts them). */
static size_t packed_count(ProtobufCType type, const uint8_t *p, size_t n)
{
    switch (type) {
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return n / 4;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return n / 8;
    default: { /* varints: one per byte without the continuation bit */
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += !(p[i] & 0x80);
        return c;
    }
    }
}

/* DESC's field number ID, or NULL. Every message of flowhost.proto numbers its fields
 * 1..n in order, so the field is usually at index ID - 1; protobuf-c's own lookup (a
 * search over ranges, in another library) is the way for the rest. */
static inline const ProtobufCFieldDescriptor *field_of(const ProtobufCMessageDescriptor *desc,
                                                       uint64_t id)
{
    if (id - 1 < desc->n_fields && desc->fields[id - 1].id == id)
        return &desc->fields[id - 1];
    return protobuf_c_message_descriptor_get_field(desc, (unsigned)id);
}

/* The wire type a field of TYPE is written with (a repeated number may also come packed,
 * as 2): protobuf-c refuses any other. */
static int wire_type_of(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 1;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 5;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return 2;
    default: /* the varints: ints, bool, enum */
        return 0;
    }
}

static int walk_message(walk *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                        const uint8_t *end, int depth)
{
    if (depth > FH_PB_MAX_DEPTH)
        return fh_set_error(FH_E_PROTOCOL, "message nested deeper than %d levels", FH_PB_MAX_DEPTH);
    int rc = add(w, chunk(desc->sizeof_message));
    size_t members = 0, unknown = 0;
    uint64_t seen = 0; /* fields (by index, the first 64) met so far in this message */
    size_t elements[COUNTED_FIELDS]; /* of each repeated field, when seen */
    while (rc == 0 && p < end) {
        uint64_t key, n = 0;
        /* Field numbers are 1..2^29-1. protobuf-c reads a key of field 0 spelt in more
         * than one byte, keeps it as an unknown field and writes it back in one byte,
         * which it then refuses: refused here, a message decodes only if what it becomes
         * decodes again. */
        if (read_varint(&p, end, &key) != 0 || key >> 3 == 0 || key >> 3 > 0x1fffffff)
            return fh_set_error(FH_E_PROTOCOL, "malformed message (bad field key)");
        members++;
        const ProtobufCFieldDescriptor *f = field_of(desc, key >> 3);
        size_t index = f ? (size_t)(f - desc->fields) : 0;
        bool counted = f != NULL && index < COUNTED_FIELDS;
        bool first = !counted || !(seen & (UINT64_C(1) << index));
        if (counted && first)
            elements[index] = 0;
        if (counted)
            seen |= UINT64_C(1) << index;
        const uint8_t *data = p;
        switch (key & 7) {
        case 0: /* varint */
            if (read_varint(&p, end, &n) != 0)
                return fh_set_error(FH_E_PROTOCOL, "malformed message (bad varint)");
            break;
        case 1: /* 64-bit */
            if (end - p < 8)
                return fh_set_error(FH_E_PROTOCOL, "malformed message (cut 64-bit field)");
            p += 8;
            break;
        case 5: /* 32-bit */
            if (end - p < 4)
                return fh_set_error(FH_E_PROTOCOL, "malformed message (cut 32-bit field)");
            p += 4;
            break;
        case 2: /* length-delimited: bytes, string, packed numbers, or a message */
            if (read_varint(&p, end, &n) != 0 || n > (uint64_t)(end - p))
                return fh_set_error(FH_E_PROTOCOL, "malformed message (bad length)");
            break;
        default: /* groups (3, 4) are not used by flowhost; 6 and 7 do not exist */
            return fh_set_error(FH_E_PROTOCOL, "malformed message (wire type %d)", (int)(key & 7));
        }
        if (f == NULL) { /* kept as an unknown field: an entry and a copy of its bytes */
            /* A map's hash index hangs where its unknown fields would (model/map_index.h):
             * a map carrying one would be scanned key by key, so a client could make
             * every lookup in its parameters linear with two bytes. A map has one field. */
            if (desc == &flowhost__map_value__descriptor)
                return fh_set_error(FH_E_PROTOCOL, "malformed message (a map with field %llu, "
                                    "which maps do not have)", (unsigned long long)(key >> 3));
            unknown++;
            if ((key & 7) == 2)
                p += n;
            rc = add(w, chunk((size_t)(p - data)));
            continue;
        }
        bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        int want = wire_type_of(f->type);
        if ((int)(key & 7) != want && !(repeated && want != 2 && (key & 7) == 2))
            return fh_set_error(FH_E_PROTOCOL, "malformed message (field '%s' of %s with wire "
                                "type %d)", f->name, desc->short_name, (int)(key & 7));
        if (repeated) { /* one array per field, its block's overhead added at the end */
            size_t count = 1;
            if ((key & 7) == 2 && f->type != PROTOBUF_C_TYPE_STRING &&
                f->type != PROTOBUF_C_TYPE_BYTES && f->type != PROTOBUF_C_TYPE_MESSAGE)
                count = packed_count(f->type, p, (size_t)n);
            size_t bytes = count * element_size(f->type);
            if (counted)
                elements[index] += count;
            rc = add(w, counted ? bytes : chunk(bytes));
        }
        if (rc != 0 || (key & 7) != 2)
            continue;
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
            /* A C string ends at its first NUL: what follows would be lost unseen. */
            if (memchr(p, 0, (size_t)n) != NULL)
                return fh_set_error(FH_E_RANGE, "string field '%s' of %s holds a NUL byte",
                                    f->name, desc->short_name);
            rc = add(w, chunk((size_t)n + 1));
            break;
        case PROTOBUF_C_TYPE_BYTES:
            rc = n > 0 ? add(w, chunk((size_t)n)) : 0;
            break;
        case PROTOBUF_C_TYPE_MESSAGE:
            /* protobuf-c merges a singular message field given twice, concatenating its
             * repeated fields into new arrays: given N times, that is N^2 work. No sender
             * of flowhost repeats one. */
            if (!repeated && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && !first)
                return fh_set_error(FH_E_PROTOCOL, "malformed message (field '%s' of %s given twice)",
                                    f->name, desc->short_name);
            rc = walk_message(w, f->descriptor, p, p + n, depth + 1);
            break;
        default:
            break;
        }
        p += n;
    }
    if (rc != 0)
        return rc;
    for (size_t k = 0; rc == 0 && k < desc->n_fields && k < COUNTED_FIELDS; k++) {
        if (!(seen & (UINT64_C(1) << k)) || desc->fields[k].label != PROTOBUF_C_LABEL_REPEATED)
            continue;
        size_t bytes = elements[k] * element_size(desc->fields[k].type);
        rc = add(w, chunk(bytes) - bytes);
    }
    /* The scan slabs after the first (which is on the stack), doubling in size. */
    for (size_t cap = FIRST_SLAB, slab = FIRST_SLAB; rc == 0 && cap < members; cap += slab) {
        slab *= 2;
        rc = add(w, chunk(slab * SCANNED_MEMBER_SIZE));
    }
    if (rc == 0 && unknown > 0)
        rc = add(w, chunk(unknown * sizeof(ProtobufCMessageUnknownField)));
    return rc;
}

int fh_pb_measure(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                  size_t max, size_t *decoded)
{
    walk w = {0, max};
    const uint8_t *p = buf;
    int rc = walk_message(&w, desc, p, p + len, 1);
    if (decoded != NULL)
        *decoded = rc == 0 ? w.total : 0;
    return rc;
}

int fh_pb_check(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len)
{
    return fh_pb_measure(desc, buf, len, SIZE_MAX, NULL);
}

/* A copy of the N bytes at P as a string field: cut at the first NUL and to
 * FH_ENVELOPE_ID_PEEK bytes. Returns 0 or FH_E_NOMEM. */
static int peek_string(char **field, const uint8_t *p, uint64_t n)
{
    size_t len = n < FH_ENVELOPE_ID_PEEK ? (size_t)n : FH_ENVELOPE_ID_PEEK;
    const uint8_t *nul = memchr(p, 0, len);
    if (nul != NULL)
        len = (size_t)(nul - p);
    char *s = malloc(len + 1);
    if (s == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    memcpy(s, p, len);
    s[len] = '\0';
    if (*field != protobuf_c_empty_string)
        free(*field);
    *field = s;
    return 0;
}

int fh_envelope_decode_ids(const void *buf, size_t len, Flowhost__Envelope **out)
{
    Flowhost__Envelope *env = malloc(sizeof *env);
    *out = NULL;
    if (env == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    flowhost__envelope__init(env);
    const uint8_t *p = buf, *end = p + len;
    int rc = 0;
    while (rc == 0 && p < end) {
        uint64_t key, n;
        if (read_varint(&p, end, &key) != 0) {
            rc = fh_set_error(FH_E_PROTOCOL, "malformed message (bad field key)");
            break;
        }
        switch (key & 7) {
        case 0:
            rc = read_varint(&p, end, &n) == 0 ? 0 : FH_E_PROTOCOL;
            break;
        case 1:
        case 5: {
            size_t w = (key & 7) == 1 ? 8 : 4;
            rc = (size_t)(end - p) >= w ? 0 : FH_E_PROTOCOL;
            p += rc == 0 ? w : 0;
            break;
        }
        case 2:
            if (read_varint(&p, end, &n) != 0 || n > (uint64_t)(end - p)) {
                rc = FH_E_PROTOCOL;
                break;
            }
            if (key >> 3 == 1)
                rc = peek_string(&env->request_id, p, n);
            else if (key >> 3 == 2)
                rc = peek_string(&env->endpoint, p, n);
            p += n;
            break;
        default:
            rc = FH_E_PROTOCOL;
        }
        if (rc == FH_E_PROTOCOL)
            fh_set_error(FH_E_PROTOCOL, "malformed message");
    }
    if (rc != 0) {
        flowhost__envelope__free_unpacked(env, NULL);
        return rc;
    }
    *out = env;
    return 0;
}

/* Reads the field at *P (before END): its KEY, and its value: *V for a varint, DATA and
 * *N for a length-delimited one (fixed-width ones are skipped). Advances *P past it.
 * Returns 0, or -1 when malformed. */
static int next_field(const uint8_t **p, const uint8_t *end, uint64_t *key, uint64_t *v,
                      const uint8_t **data, uint64_t *n)
{
    if (read_varint(p, end, key) != 0)
        return -1;
    switch (*key & 7) {
    case 0:
        return read_varint(p, end, v);
    case 1:
    case 5: {
        size_t w = (*key & 7) == 1 ? 8 : 4;
        if ((size_t)(end - *p) < w)
            return -1;
        *p += w;
        return 0;
    }
    case 2:
        if (read_varint(p, end, n) != 0 || *n > (uint64_t)(end - *p))
            return -1;
        *data = *p;
        *p += *n;
        return 0;
    default:
        return -1;
    }
}

/* Reads the status message's code (field 1) from P..END into *CODE (SUCCESS when absent).
 * Returns 0, or FH_E_PROTOCOL when malformed or when the code is given twice. */
static int peek_status(const uint8_t *p, const uint8_t *end, int *code)
{
    bool seen = false;
    *code = 0;
    while (p < end) {
        uint64_t key, v = 0, n = 0;
        const uint8_t *data = NULL;
        if (next_field(&p, end, &key, &v, &data, &n) != 0)
            return FH_E_PROTOCOL;
        if (key == (1 << 3 | 0)) {
            if (seen)
                return FH_E_PROTOCOL;
            seen = true;
            *code = v <= 1 ? (int)v : 2; /* an unknown code: not an error, as decoded */
        }
    }
    return 0;
}

/* A varint bool as protobuf-c reads it: true when any of its bytes P..END has a bit set
 * besides the continuation bit (bits past the 64th count too). */
static bool varint_bool(const uint8_t *p, const uint8_t *end)
{
    for (; p < end; p++)
        if (*p & 0x7f)
            return true;
    return false;
}

int fh_envelope_peek(const void *buf, size_t len, fh_envelope_peek_t *out)
{
    const uint8_t *p = buf, *end = p + len;
    bool seen_status = false;
    memset(out, 0, sizeof *out);
    while (p < end) {
        uint64_t key, v = 0, n = 0;
        const uint8_t *data = NULL, *field = p;
        if (next_field(&p, end, &key, &v, &data, &n) != 0)
            return FH_E_PROTOCOL;
        if (key == (1 << 3 | 2) || key == (2 << 3 | 2)) {
            const uint8_t **at = key >> 3 == 1 ? &out->request_id : &out->endpoint;
            size_t *at_len = key >> 3 == 1 ? &out->request_id_len : &out->endpoint_len;
            if (*at != NULL)
                return FH_E_PROTOCOL; /* given twice: the full decoder decides */
            *at = data;
            *at_len = (size_t)n;
        } else if (key == (5 << 3 | 2)) {
            if (seen_status || peek_status(data, data + n, &out->status_code) != 0)
                return FH_E_PROTOCOL;
            seen_status = out->has_status = true;
        } else if (key == (4 << 3 | 2)) {
            out->last_route = data;
            out->last_route_len = (size_t)n;
        } else if (key == (7 << 3 | 0)) {
            while (*field & 0x80) /* past the key, however long it was written */
                field++;
            out->no_wait = varint_bool(field + 1, p);
        }
    }
    return 0;
}

uint32_t fh_route_batch(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint32_t batch = 0;
    while (p != NULL && p < end) {
        uint64_t key, v = 0, n = 0;
        const uint8_t *data = NULL;
        if (next_field(&p, end, &key, &v, &data, &n) != 0)
            return 0;
        if (key == (8 << 3 | 0))
            batch = (uint32_t)v;
    }
    return batch;
}

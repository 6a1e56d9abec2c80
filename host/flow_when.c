/* `when:` conditions: compiled once (at load from the YAML tree, in the worker from the
 * JSON the gateway sends), matched per document. See flow_when.h for the language.
 *
 * One compiler serves both sources: the YAML is first turned into a value (a map keeps
 * its keys in order), then the value is compiled while walking the YAML tree beside it,
 * entry by entry, so that an error can name the line and column of the key or value at
 * fault. From JSON there is no tree: the error says "when:" instead. */
#include "flow_when.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>
#include <flowhost/json.h>

#include "pb.h"

typedef enum w_kind {
    W_ALL = 0, /* every kid holds (an implicit and, `$and`); no kid: true */
    W_ANY,     /* some kid holds (`$or`) */
    W_TEST     /* one operator on one field */
} w_kind;

typedef enum w_op { OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE, OP_IN, OP_NIN, OP_EXISTS } w_op;

static const char *const op_names[] = {"$eq", "$ne", "$gt", "$gte", "$lt",
                                       "$lte", "$in", "$nin", "$exists"};
#define OP_LIST "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $exists"

typedef enum w_field {
    F_ID, F_PARENT_ID, F_TEXT, F_URI, F_MIME_TYPE,  /* strings, "" is null */
    F_WEIGHT, F_GRANULARITY, F_ADJACENCY,            /* numbers, always there */
    F_TAGS, F_BLOB, F_EMBEDDING, F_TENSOR, F_CHUNKS, F_MATCHES, /* $exists only */
    F_TAG,  /* tags__a__b: any value, null when missing */
    F_SCORE /* scores__name: a number, null when missing */
} w_field;

/* What a field holds, for the operand checks. */
typedef enum w_class { C_STRING, C_NUMBER, C_PRESENCE, C_ANY, C_SCORE } w_class;

static const struct {
    const char *name;
    w_field field;
    w_class cls;
} named_fields[] = {
    {"id", F_ID, C_STRING},           {"parent_id", F_PARENT_ID, C_STRING},
    {"text", F_TEXT, C_STRING},       {"uri", F_URI, C_STRING},
    {"mime_type", F_MIME_TYPE, C_STRING}, {"weight", F_WEIGHT, C_NUMBER},
    {"granularity", F_GRANULARITY, C_NUMBER}, {"adjacency", F_ADJACENCY, C_NUMBER},
    {"tags", F_TAGS, C_PRESENCE},     {"blob", F_BLOB, C_PRESENCE},
    {"embedding", F_EMBEDDING, C_PRESENCE}, {"tensor", F_TENSOR, C_PRESENCE},
    {"chunks", F_CHUNKS, C_PRESENCE}, {"matches", F_MATCHES, C_PRESENCE},
};
#define FIELD_LIST                                                                          \
    "tags__KEY (tags__a__b nested), scores__NAME, id, parent_id, text, uri, mime_type, "    \
    "weight, granularity, adjacency, and with $exists only: tags, blob, embedding, tensor, " \
    "chunks, matches"

typedef struct w_node w_node;
struct w_node {
    w_kind kind;
    w_node *kids;             /* W_ALL, W_ANY: n_kids conditions */
    size_t n_kids;
    w_field field;            /* W_TEST */
    char **path;              /* F_TAG: the keys, outermost first; F_SCORE: the name */
    size_t n_path;
    w_op op;
    const fh_value *operand;  /* borrowed from fh_when.src */
};

struct fh_when {
    fh_value *src; /* the condition as a value: the operands live in it */
    w_node root;
};

/* ---- errors ---------------------------------------------------------------------------- */

typedef struct cc {
    const char *name; /* the flow file, or NULL: the condition came as JSON */
} cc;

static int fail_at(const cc *c, const fh_yaml_node *at, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(const cc *c, const fh_yaml_node *at, int code, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->name != NULL && at != NULL)
        return fh_set_error(code, "%s:%d:%d: %s", c->name, at->line, at->column, msg);
    return fh_set_error(code, "when: %s", msg);
}

static int nomem(void)
{
    return fh_set_error(FH_E_NOMEM, "out of memory");
}

static const char *type_name(const fh_value *v)
{
    switch (fh_value_type(v)) {
    case FH_TYPE_NULL: return "null";
    case FH_TYPE_BOOL: return "a boolean";
    case FH_TYPE_INT: return "an integer";
    case FH_TYPE_DOUBLE: return "a number";
    case FH_TYPE_STRING: return "a string";
    case FH_TYPE_BYTES: return "bytes";
    case FH_TYPE_LIST: return "a list";
    default: return "a mapping";
    }
}

/* The I-th key / value node of the YAML mapping or list Y, or NULL without a tree. */
static const fh_yaml_node *ykey(const fh_yaml_node *y, size_t i)
{
    return y != NULL && y->kind == FH_YAML_MAPPING && i < y->n ? y->keys[i] : NULL;
}

static const fh_yaml_node *yitem(const fh_yaml_node *y, size_t i)
{
    return y != NULL && y->kind != FH_YAML_SCALAR && i < y->n ? y->items[i] : NULL;
}

/* ---- compiling ------------------------------------------------------------------------- */

static void node_free(w_node *n)
{
    for (size_t i = 0; i < n->n_kids; i++)
        node_free(&n->kids[i]);
    free(n->kids);
    for (size_t i = 0; i < n->n_path; i++)
        free(n->path[i]);
    free(n->path);
    memset(n, 0, sizeof *n);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Splits S at every "__" into OUT's path. An empty part is refused. */
static int split_path(const cc *c, const fh_yaml_node *at, const char *key, const char *s,
                      w_node *out)
{
    size_t parts = 1;
    for (const char *p = strstr(s, "__"); p; p = strstr(p + 2, "__"))
        parts++;
    if (!(out->path = calloc(parts, sizeof *out->path)))
        return nomem();
    for (const char *p = s;; ) {
        const char *end = strstr(p, "__");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return fail_at(c, at, FH_E_PARSE, "field %s has an empty name between '__'",
                           fh_yaml_quote(key).s);
        if (!(out->path[out->n_path] = strndup(p, len)))
            return nomem();
        out->n_path++;
        if (!end)
            break;
        p = end + 2;
    }
    return 0;
}

/* Resolves the field KEY (at AT) into OUT (field, path) and *CLS. */
static int resolve_field(const cc *c, const fh_yaml_node *at, const char *key, w_node *out,
                         w_class *cls)
{
    for (size_t i = 0; i < sizeof named_fields / sizeof *named_fields; i++) {
        if (strcmp(key, named_fields[i].name) == 0) {
            out->field = named_fields[i].field;
            *cls = named_fields[i].cls;
            return 0;
        }
    }
    if (starts_with(key, "tags__")) {
        out->field = F_TAG;
        *cls = C_ANY;
        return split_path(c, at, key, key + strlen("tags__"), out);
    }
    if (starts_with(key, "scores__")) {
        out->field = F_SCORE;
        *cls = C_SCORE;
        const char *name = key + strlen("scores__");
        size_t len = strlen(name);
        /* Jina's own spelling: scores__NAME__value */
        if (len > strlen("__value") && strcmp(name + len - strlen("__value"), "__value") == 0)
            len -= strlen("__value");
        const char *sep = strstr(name, "__");
        if (len == 0 || (sep != NULL && sep < name + len))
            return fail_at(c, at, FH_E_PARSE,
                           "field %s: a score is named as scores__NAME or scores__NAME__value",
                           fh_yaml_quote(key).s);
        if (!(out->path = calloc(1, sizeof *out->path)) ||
            !(out->path[0] = strndup(name, len)))
            return nomem();
        out->n_path = 1;
        return 0;
    }
    if (key[0] == '$')
        return fail_at(c, at, FH_E_PARSE,
                       "%s is not supported in 'when' where a field is expected (a condition's "
                       "keys are fields, '$and' and '$or')", fh_yaml_quote(key).s);
    return fail_at(c, at, FH_E_PARSE, "unknown field %s in 'when' (fields: " FIELD_LIST ")",
                   fh_yaml_quote(key).s);
}

static bool is_number(const fh_value *v)
{
    return fh_value_type(v) == FH_TYPE_INT || fh_value_type(v) == FH_TYPE_DOUBLE;
}

/* An operand of $eq, $ne, $in, $nin (V, at AT) for field KEY of class CLS. */
static int check_equal_operand(const cc *c, const fh_yaml_node *at, const char *key,
                               w_class cls, const char *op, const fh_value *v)
{
    fh_type t = fh_value_type(v);
    if (t == FH_TYPE_DOUBLE && !isfinite(fh_value_double(v, 0)))
        return fail_at(c, at, FH_E_TYPE, "'%s' needs a finite number", op);
    if (t == FH_TYPE_BYTES || t == FH_TYPE_LIST || t == FH_TYPE_MAP)
        return fail_at(c, at, FH_E_TYPE, "'%s' needs a scalar (null, boolean, number or "
                       "string), not %s", op, type_name(v));
    if (cls == C_STRING && t != FH_TYPE_STRING && t != FH_TYPE_NULL)
        return fail_at(c, at, FH_E_TYPE, "%s is a string: '%s' needs a string or null, not %s",
                       fh_yaml_quote(key).s, op, type_name(v));
    if (cls == C_NUMBER && !is_number(v))
        return fail_at(c, at, FH_E_TYPE, "%s is a number: '%s' needs a number, not %s",
                       fh_yaml_quote(key).s, op, type_name(v));
    if (cls == C_SCORE && !is_number(v) && t != FH_TYPE_NULL)
        return fail_at(c, at, FH_E_TYPE, "%s is a number: '%s' needs a number or null, not %s",
                       fh_yaml_quote(key).s, op, type_name(v));
    return 0;
}

/* Compiles the operator OPKEY (key node OPAT) with operand V (node VAT) on the field KEY
 * (already resolved in OUT, class CLS) into OUT. */
static int compile_test(const cc *c, const char *key, w_class cls, const char *opkey,
                        const fh_yaml_node *opat, const fh_value *v, const fh_yaml_node *vat,
                        w_node *out)
{
    size_t op = 0;
    while (op < sizeof op_names / sizeof *op_names && strcmp(opkey, op_names[op]) != 0)
        op++;
    if (op == sizeof op_names / sizeof *op_names)
        return fail_at(c, opat, FH_E_PARSE, "unknown operator %s on %s in 'when' (operators: "
                       OP_LIST ")", fh_yaml_quote(opkey).s, fh_yaml_quote(key).s);
    out->kind = W_TEST;
    out->op = (w_op)op;
    out->operand = v;
    if (cls == C_PRESENCE && op != OP_EXISTS)
        return fail_at(c, opat, FH_E_PARSE, "only '$exists' applies to %s, not '%s'",
                       fh_yaml_quote(key).s, opkey);
    switch (out->op) {
    case OP_EXISTS:
        if (cls == C_NUMBER)
            return fail_at(c, opat, FH_E_PARSE, "'$exists' does not apply to %s: a number "
                           "field always has a value (0 when not set)", fh_yaml_quote(key).s);
        if (fh_value_type(v) != FH_TYPE_BOOL)
            return fail_at(c, vat, FH_E_TYPE, "'$exists' needs true or false, not %s",
                           type_name(v));
        return 0;
    case OP_EQ:
    case OP_NE:
        return check_equal_operand(c, vat, key, cls, opkey, v);
    case OP_IN:
    case OP_NIN:
        if (fh_value_type(v) != FH_TYPE_LIST)
            return fail_at(c, vat, FH_E_TYPE, "'%s' needs a list, not %s", opkey, type_name(v));
        for (size_t i = 0; i < fh_value_len(v); i++) {
            int rc = check_equal_operand(c, yitem(vat, i) ? yitem(vat, i) : vat, key, cls,
                                         opkey, fh_list_at(v, i));
            if (rc < 0)
                return rc;
        }
        return 0;
    default: /* the orderings */
        if (fh_value_type(v) == FH_TYPE_DOUBLE && !isfinite(fh_value_double(v, 0)))
            return fail_at(c, vat, FH_E_TYPE, "'%s' needs a finite number", opkey);
        if (!is_number(v) && fh_value_type(v) != FH_TYPE_STRING)
            return fail_at(c, vat, FH_E_TYPE, "'%s' needs a number or a string, not %s", opkey,
                           type_name(v));
        if (cls == C_STRING && fh_value_type(v) != FH_TYPE_STRING)
            return fail_at(c, vat, FH_E_TYPE, "%s is a string: '%s' needs a string, not %s",
                           fh_yaml_quote(key).s, opkey, type_name(v));
        if ((cls == C_NUMBER || cls == C_SCORE) && !is_number(v))
            return fail_at(c, vat, FH_E_TYPE, "%s is a number: '%s' needs a number, not %s",
                           fh_yaml_quote(key).s, opkey, type_name(v));
        return 0;
    }
}

static int compile_cond(const cc *c, const fh_value *v, const fh_yaml_node *y,
                        const char *what, w_node *out);

/* The entry KEY: V of a condition (key node KAT, value node VAT) into OUT. */
static int compile_entry(const cc *c, const char *key, const fh_value *v,
                         const fh_yaml_node *kat, const fh_yaml_node *vat, w_node *out)
{
    if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0) {
        out->kind = key[1] == 'a' ? W_ALL : W_ANY;
        if (fh_value_type(v) != FH_TYPE_LIST || fh_value_len(v) == 0)
            return fail_at(c, vat ? vat : kat, FH_E_TYPE,
                           "'%s' needs a non-empty list of conditions, not %s", key,
                           fh_value_type(v) == FH_TYPE_LIST ? "an empty list" : type_name(v));
        if (!(out->kids = calloc(fh_value_len(v), sizeof *out->kids)))
            return nomem();
        char what[32];
        snprintf(what, sizeof what, "each condition of '%s'", key);
        for (size_t i = 0; i < fh_value_len(v); i++) {
            out->n_kids = i + 1;
            int rc = compile_cond(c, fh_list_at(v, i), yitem(vat, i), what, &out->kids[i]);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    w_class cls = C_ANY;
    w_node field = {0};
    int rc = resolve_field(c, kat, key, &field, &cls);
    if (rc < 0) {
        node_free(&field);
        return rc;
    }
    if (fh_value_type(v) != FH_TYPE_MAP || fh_value_len(v) == 0) {
        node_free(&field);
        return fail_at(c, vat ? vat : kat, FH_E_TYPE,
                       "%s needs a mapping of operators such as {$eq: VALUE}, not %s",
                       fh_yaml_quote(key).s,
                       fh_value_type(v) == FH_TYPE_MAP ? "an empty mapping" : type_name(v));
    }
    size_t n = fh_value_len(v);
    w_node *tests = out;
    if (n > 1) { /* {$gt: 1, $lt: 5}: all of them */
        out->kind = W_ALL;
        if (!(out->kids = calloc(n, sizeof *out->kids))) {
            node_free(&field);
            return nomem();
        }
        tests = out->kids;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        w_node *t = &tests[i];
        if (n > 1)
            out->n_kids = i + 1;
        t->field = field.field;
        if (field.n_path > 0) { /* each test owns its copy of the path */
            if (!(t->path = calloc(field.n_path, sizeof *t->path)))
                rc = nomem();
            for (size_t k = 0; rc == 0 && k < field.n_path; k++) {
                if (!(t->path[k] = strdup(field.path[k])))
                    rc = nomem();
                else
                    t->n_path = k + 1;
            }
        }
        if (rc == 0)
            rc = compile_test(c, key, cls, fh_map_key_at(v, i), ykey(vat, i),
                              fh_map_value_at(v, i), yitem(vat, i), t);
    }
    node_free(&field);
    return rc;
}

/* The condition V (node Y, or NULL) into OUT; WHAT names it in a message. */
static int compile_cond(const cc *c, const fh_value *v, const fh_yaml_node *y,
                        const char *what, w_node *out)
{
    memset(out, 0, sizeof *out);
    if (fh_value_type(v) != FH_TYPE_MAP)
        return fail_at(c, y, FH_E_TYPE, "%s must be a mapping, not %s", what, type_name(v));
    size_t n = fh_value_len(v);
    if (n == 1)
        return compile_entry(c, fh_map_key_at(v, 0), fh_map_value_at(v, 0), ykey(y, 0),
                             yitem(y, 0), out);
    out->kind = W_ALL; /* several fields: all of them; none: true */
    if (n == 0)
        return 0;
    if (!(out->kids = calloc(n, sizeof *out->kids)))
        return nomem();
    for (size_t i = 0; i < n; i++) {
        out->n_kids = i + 1;
        int rc = compile_entry(c, fh_map_key_at(v, i), fh_map_value_at(v, i), ykey(y, i),
                               yitem(y, i), &out->kids[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Compiles SRC (moved in) into a new condition in *OUT. */
static int compile(const cc *c, fh_value *src, const fh_yaml_node *y, fh_when **out)
{
    *out = NULL;
    fh_when *w = calloc(1, sizeof *w);
    if (w == NULL) {
        fh_value_destroy(&src);
        return nomem();
    }
    w->src = src;
    int rc = compile_cond(c, src, y, "'when'", &w->root);
    if (rc < 0) {
        fh_when_destroy(&w);
        return rc;
    }
    *out = w;
    return 0;
}

int fh_when_compile_yaml(const fh_yaml_node *node, const char *name, fh_when_scalar_fn scalar,
                         void *ctx, fh_when **out, char **text)
{
    *out = NULL;
    *text = NULL;
    cc c = {name ? name : "flow"};
    fh_value *v;
    int rc = fh_yaml_to_value(node, c.name, scalar, ctx, &v);
    if (rc < 0 || (rc = compile(&c, v, node, out)) < 0)
        return rc;
    /* After the checks: a number JSON cannot hold (.inf) has been refused by then. */
    if ((*text = fh_value_to_json((*out)->src)) == NULL) {
        fh_when_destroy(out);
        return nomem();
    }
    return 0;
}

int fh_when_compile_json(const char *text, fh_when **out)
{
    *out = NULL;
    cc c = {NULL};
    fh_value *v;
    int rc = fh_value_from_json(text, strlen(text), &v);
    if (rc < 0)
        return fh_set_error(rc, "when: %s", fh_last_error());
    return compile(&c, v, NULL, out);
}

void fh_when_destroy(fh_when **w)
{
    if (w == NULL || *w == NULL)
        return;
    node_free(&(*w)->root);
    fh_value_destroy(&(*w)->src);
    free(*w);
    *w = NULL;
}

/* ---- matching -------------------------------------------------------------------------- */

/* A scalar to compare: a field's value or an operand. */
typedef struct w_val {
    fh_type t;     /* NULL, BOOL, INT, DOUBLE, STRING; BYTES for anything else */
    bool b;
    int64_t i;
    double d;
    const char *s;
} w_val;

static w_val of_value(const fh_value *v)
{
    w_val r = {.t = fh_value_type(v)};
    switch (r.t) {
    case FH_TYPE_BOOL: r.b = fh_value_bool(v, false); break;
    case FH_TYPE_INT: r.i = fh_value_int(v, 0); break;
    case FH_TYPE_DOUBLE: r.d = fh_value_double(v, 0); break;
    case FH_TYPE_STRING: r.s = fh_value_string(v); break;
    case FH_TYPE_NULL: break;
    default: r.t = FH_TYPE_BYTES; break; /* bytes, a list, a map: equal to nothing */
    }
    return r;
}

static w_val of_string(const char *s)
{
    return s != NULL && *s ? (w_val){.t = FH_TYPE_STRING, .s = s} : (w_val){.t = FH_TYPE_NULL};
}

/* The value of N's field in D. */
static w_val field_value(const w_node *n, const fh_doc *d)
{
    switch (n->field) {
    case F_ID: return of_string(fh_doc_id(d));
    case F_PARENT_ID: return of_string(fh_doc_parent_id(d));
    case F_TEXT: return of_string(fh_doc_text(d));
    case F_URI: return of_string(fh_doc_uri(d));
    case F_MIME_TYPE: return of_string(fh_doc_mime_type(d));
    case F_WEIGHT: return (w_val){.t = FH_TYPE_DOUBLE, .d = fh_doc_weight(d)};
    case F_GRANULARITY: return (w_val){.t = FH_TYPE_INT, .i = fh_doc_granularity(d)};
    case F_ADJACENCY: return (w_val){.t = FH_TYPE_INT, .i = fh_doc_adjacency(d)};
    case F_SCORE: {
        double s;
        return fh_doc_score(d, n->path[0], &s) ? (w_val){.t = FH_TYPE_DOUBLE, .d = s}
                                               : (w_val){.t = FH_TYPE_NULL};
    }
    case F_TAG: {
        const fh_value *v = fh_doc_tags_get(d);
        for (size_t k = 0; k < n->n_path && v != NULL; k++)
            v = fh_map_get(v, n->path[k]); /* NULL when V is not a map */
        return v ? of_value(v) : (w_val){.t = FH_TYPE_NULL};
    }
    default: return (w_val){.t = FH_TYPE_NULL};
    }
}

/* Whether N's field is there in D ($exists). */
static bool present(const w_node *n, const fh_doc *d)
{
    const Flowhost__Document *p = FH_PB_CDOC(d);
    size_t len = 0;
    switch (n->field) {
    case F_TAGS: return fh_value_len(fh_doc_tags_get(d)) > 0;
    case F_BLOB: return fh_doc_blob(d, &len) != NULL && len > 0;
    case F_EMBEDDING: return p->embedding != NULL;
    case F_TENSOR: return p->tensor != NULL;
    case F_CHUNKS: return fh_doc_chunk_count(d) > 0;
    case F_MATCHES: return fh_doc_match_count(d) > 0;
    default: return field_value(n, d).t != FH_TYPE_NULL;
    }
}

/* I <=> D exactly (D not NaN): -1, 0 or 1. Converting I to a double would round it. */
static int cmp_int_double(int64_t i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    int64_t t = (int64_t)d; /* in range: truncated toward zero, exactly */
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* A <=> B into *R when they are ordered (two numbers, neither NaN, or two strings). */
static bool order(w_val a, w_val b, int *r)
{
    bool an = a.t == FH_TYPE_INT || a.t == FH_TYPE_DOUBLE;
    bool bn = b.t == FH_TYPE_INT || b.t == FH_TYPE_DOUBLE;
    if (an && bn) {
        if ((a.t == FH_TYPE_DOUBLE && isnan(a.d)) || (b.t == FH_TYPE_DOUBLE && isnan(b.d)))
            return false;
        if (a.t == FH_TYPE_INT && b.t == FH_TYPE_INT)
            *r = (a.i > b.i) - (a.i < b.i);
        else if (a.t == FH_TYPE_DOUBLE && b.t == FH_TYPE_DOUBLE)
            *r = (a.d > b.d) - (a.d < b.d);
        else if (a.t == FH_TYPE_INT)
            *r = cmp_int_double(a.i, b.d);
        else
            *r = -cmp_int_double(b.i, a.d);
        return true;
    }
    if (a.t == FH_TYPE_STRING && b.t == FH_TYPE_STRING) {
        int c = strcmp(a.s, b.s);
        *r = (c > 0) - (c < 0);
        return true;
    }
    return false;
}

static bool equal(w_val a, w_val b)
{
    int r;
    if (order(a, b, &r))
        return r == 0;
    if (a.t != b.t)
        return false;
    return a.t == FH_TYPE_NULL || (a.t == FH_TYPE_BOOL && a.b == b.b);
}

static bool in_list(w_val a, const fh_value *list)
{
    for (size_t i = 0; i < fh_value_len(list); i++)
        if (equal(a, of_value(fh_list_at(list, i))))
            return true;
    return false;
}

static bool test(const w_node *n, const fh_doc *d)
{
    if (n->op == OP_EXISTS)
        return present(n, d) == fh_value_bool(n->operand, false);
    w_val a = field_value(n, d);
    int r;
    switch (n->op) {
    case OP_EQ: return equal(a, of_value(n->operand));
    case OP_NE: return !equal(a, of_value(n->operand));
    case OP_IN: return in_list(a, n->operand);
    case OP_NIN: return !in_list(a, n->operand);
    case OP_GT: return order(a, of_value(n->operand), &r) && r > 0;
    case OP_GTE: return order(a, of_value(n->operand), &r) && r >= 0;
    case OP_LT: return order(a, of_value(n->operand), &r) && r < 0;
    case OP_LTE: return order(a, of_value(n->operand), &r) && r <= 0;
    default: return false;
    }
}

static bool eval(const w_node *n, const fh_doc *d)
{
    switch (n->kind) {
    case W_ALL:
        for (size_t i = 0; i < n->n_kids; i++)
            if (!eval(&n->kids[i], d))
                return false;
        return true;
    case W_ANY:
        for (size_t i = 0; i < n->n_kids; i++)
            if (eval(&n->kids[i], d))
                return true;
        return false;
    default:
        return test(n, d);
    }
}

bool fh_when_match(const fh_when *w, const fh_doc *d)
{
    return w == NULL || eval(&w->root, d);
}

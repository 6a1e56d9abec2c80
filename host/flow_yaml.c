/* YAML tree from libyaml events: see flow_yaml.h. */
#include "flow_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include <flowhost/error.h>

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_MAP "tag:yaml.org,2002:map"
#define TAG_SEQ "tag:yaml.org,2002:seq"

void fh_yaml_destroy(fh_yaml_node **node)
{
    if (!node || !*node)
        return;
    fh_yaml_node *n = *node;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            fh_yaml_destroy(&n->keys[i]);
        fh_yaml_destroy(&n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->text);
    free(n->tag);
    free(n);
    *node = NULL;
}

const fh_yaml_node *fh_yaml_map_get(const fh_yaml_node *map, const char *key,
                                    const fh_yaml_node **key_node)
{
    if (key_node)
        *key_node = NULL;
    if (!map || map->kind != FH_YAML_MAPPING)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->text, key) == 0) {
            if (key_node)
                *key_node = map->keys[i];
            return map->items[i];
        }
    }
    return NULL;
}

const fh_yaml_node *fh_yaml_find_tag(const fh_yaml_node *node,
                                     const fh_yaml_node *const *allowed, size_t n_allowed)
{
    if (!node)
        return NULL;
    if (node->tag) {
        size_t i = 0;
        while (i < n_allowed && allowed[i] != node)
            i++;
        if (i == n_allowed)
            return node;
    }
    /* Keys are scalars, which carry no type tag; the depth is bounded by the parser. */
    for (size_t i = 0; i < node->n; i++) {
        const fh_yaml_node *found = fh_yaml_find_tag(node->items[i], allowed, n_allowed);
        if (found)
            return found;
    }
    return NULL;
}

/* How many bytes the UTF-8 character at P (of N bytes left) takes: 1 to 4, or 0 when P
 * does not start a valid one. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t k;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        k = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        k = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        k = 4;
    else
        return 0;
    if (k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return k;
}

fh_yaml_quoted fh_yaml_quote_n(const char *text, size_t len)
{
    fh_yaml_quoted q;
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    if (!text)
        len = 0;
    size_t used = 0; /* bytes of the value written after the opening quote */
    char *o = q.s;
    *o++ = '\'';
    bool cut = false;
    for (size_t i = 0; i < len;) {
        char esc[5];
        const char *piece = (const char *)p + i;
        size_t take = utf8_len(p + i, len - i), width = take;
        if (take == 1 && (p[i] < 0x20 || p[i] == 0x7f)) {
            const char *named = p[i] == '\n' ? "\\n" : p[i] == '\t' ? "\\t"
                              : p[i] == '\r' ? "\\r" : NULL;
            if (named)
                snprintf(esc, sizeof esc, "%s", named);
            else
                snprintf(esc, sizeof esc, "\\x%02x", p[i]);
            piece = esc;
            width = strlen(esc);
        } else if (take == 0) {
            snprintf(esc, sizeof esc, "\\x%02x", p[i]);
            piece = esc;
            width = strlen(esc);
            take = 1;
        }
        if (used + width > FH_YAML_QUOTE_MAX) {
            cut = true;
            break;
        }
        memcpy(o, piece, width);
        o += width;
        used += width;
        i += take;
    }
    if (cut) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o++ = '\'';
    *o = '\0';
    return q;
}

fh_yaml_quoted fh_yaml_quote(const char *text)
{
    return fh_yaml_quote_n(text, text ? strlen(text) : 0);
}

static bool is_digits(const char *s, const char **end)
{
    const char *p = s;
    while (*p >= '0' && *p <= '9')
        p++;
    *end = p;
    return p > s;
}

fh_yaml_plain fh_yaml_type_plain(const char *t, bool *b, int64_t *i, double *d)
{
    if (!*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") ||
        !strcmp(t, "NULL"))
        return FH_YAML_PLAIN_NULL;
    if (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "TRUE")) {
        if (b)
            *b = true;
        return FH_YAML_PLAIN_BOOL;
    }
    if (!strcmp(t, "false") || !strcmp(t, "False") || !strcmp(t, "FALSE")) {
        if (b)
            *b = false;
        return FH_YAML_PLAIN_BOOL;
    }
    const char *p = t;
    if (*p == '-' || *p == '+')
        p++;
    const char *e;
    if (is_digits(p, &e) && *e == '\0') {
        errno = 0;
        long long v = strtoll(t, NULL, 10);
        if (errno == ERANGE)
            return FH_YAML_PLAIN_INT_RANGE;
        if (i)
            *i = (int64_t)v;
        return FH_YAML_PLAIN_INT;
    }
    /* .inf / .nan in the spellings of the core schema */
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
        if (d)
            *d = *t == '-' ? -INFINITY : INFINITY;
        return FH_YAML_PLAIN_DOUBLE;
    }
    if (p == t && (!strcmp(t, ".nan") || !strcmp(t, ".NaN") || !strcmp(t, ".NAN"))) {
        if (d)
            *d = NAN;
        return FH_YAML_PLAIN_DOUBLE;
    }
    /* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
    bool mant = false;
    if (is_digits(p, &e)) {
        mant = true;
        p = e;
        if (*p == '.') {
            p++;
            is_digits(p, &e);
            p = e;
        }
    } else if (*p == '.') {
        p++;
        if (is_digits(p, &e)) {
            mant = true;
            p = e;
        }
    }
    if (!mant)
        return FH_YAML_PLAIN_STRING;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!is_digits(p, &e))
            return FH_YAML_PLAIN_STRING;
        p = e;
    }
    if (*p)
        return FH_YAML_PLAIN_STRING;
    if (d)
        *d = strtod(t, NULL); /* overflow gives ±HUGE_VAL, which is what YAML means */
    return FH_YAML_PLAIN_DOUBLE;
}

/* The parser's state while it builds the tree. */
typedef struct builder {
    const char *name;                          /* for messages */
    fh_yaml_node *root;                        /* the document, once started */
    fh_yaml_node *stack[FH_YAML_MAX_DEPTH + 1]; /* open collections, innermost last */
    fh_yaml_node *pending[FH_YAML_MAX_DEPTH + 1]; /* a mapping's key awaiting its value */
    int depth;                                 /* entries of stack in use */
    size_t nodes;                              /* nodes made so far */
} builder;

static int fail_at(const builder *bld, yaml_mark_t m, int code, const char *what,
                   const char *arg)
{
    if (arg)
        return fh_set_error(code, "%s:%zu:%zu: %s %s", bld->name, m.line + 1,
                            m.column + 1, what, fh_yaml_quote(arg).s);
    return fh_set_error(code, "%s:%zu:%zu: %s", bld->name, m.line + 1, m.column + 1, what);
}

static int grow(fh_yaml_node *n, bool with_keys)
{
    if (n->n < n->cap)
        return 0;
    size_t cap = n->cap ? n->cap * 2 : 4;
    fh_yaml_node **items = realloc(n->items, cap * sizeof *items);
    if (!items)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    n->items = items;
    if (with_keys) {
        fh_yaml_node **keys = realloc(n->keys, cap * sizeof *keys);
        if (!keys)
            return fh_set_error(FH_E_NOMEM, "out of memory");
        n->keys = keys;
    }
    n->cap = cap;
    return 0;
}

/* Hangs NODE below the innermost open collection (or makes it the root). Takes
 * ownership of NODE, also on failure. */
static int attach(builder *bld, fh_yaml_node *node, yaml_mark_t m)
{
    if (bld->depth == 0) {
        bld->root = node;
        return 0;
    }
    fh_yaml_node *parent = bld->stack[bld->depth - 1];
    fh_yaml_node **key = &bld->pending[bld->depth - 1];
    int rc;
    if (parent->kind == FH_YAML_SEQUENCE) {
        if ((rc = grow(parent, false)) < 0) {
            fh_yaml_destroy(&node);
            return rc;
        }
        parent->items[parent->n++] = node;
        return 0;
    }
    if (*key) { /* NODE is the value of the pending key */
        if ((rc = grow(parent, true)) < 0) {
            fh_yaml_destroy(&node);
            return rc;
        }
        parent->keys[parent->n] = *key;
        parent->items[parent->n] = node;
        parent->n++;
        *key = NULL;
        return 0;
    }
    /* NODE is a key. */
    if (node->kind != FH_YAML_SCALAR) {
        fh_yaml_destroy(&node);
        return fail_at(bld, m, FH_E_PARSE, "a mapping key must be a scalar", NULL);
    }
    for (size_t i = 0; i < parent->n; i++) {
        if (strcmp(parent->keys[i]->text, node->text) == 0) {
            rc = fail_at(bld, m, FH_E_PARSE, "duplicate key", node->text);
            fh_yaml_destroy(&node);
            return rc;
        }
    }
    *key = node;
    return 0;
}

static fh_yaml_node *new_node(builder *bld, fh_yaml_kind kind, yaml_mark_t m, int *rc)
{
    if (bld->nodes >= FH_YAML_MAX_NODES) {
        char what[64];
        snprintf(what, sizeof what, "more than %d nodes", FH_YAML_MAX_NODES);
        *rc = fail_at(bld, m, FH_E_PARSE, what, NULL);
        return NULL;
    }
    fh_yaml_node *n = calloc(1, sizeof *n);
    if (!n) {
        *rc = fh_set_error(FH_E_NOMEM, "out of memory");
        return NULL;
    }
    bld->nodes++;
    n->kind = kind;
    n->line = (int)m.line + 1;
    n->column = (int)m.column + 1;
    return n;
}

/* A local tag `!Name` with a Jina type name ([A-Za-z0-9_]+, Python's \w): NAME, else
 * NULL. */
static const char *local_tag_name(const char *tag)
{
    if (!tag || tag[0] != '!' || !tag[1])
        return NULL;
    for (const char *p = tag + 1; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            return NULL;
    return tag + 1;
}

/* The error for TAG where it cannot stand: a local type tag on a scalar or a list (WHAT),
 * or a tag of another kind. */
static int bad_tag(const builder *bld, yaml_mark_t m, const char *tag, const char *what)
{
    char msg[160];
    if (local_tag_name(tag)) {
        snprintf(msg, sizeof msg, "a type tag names the type of a mapping (a flow, an "
                 "executor YAML), not of %s: tag", what);
        return fail_at(bld, m, FH_E_PARSE, msg, tag);
    }
    return fail_at(bld, m, FH_E_PARSE, "unsupported tag", tag);
}

static int on_scalar(builder *bld, const yaml_event_t *ev)
{
    yaml_mark_t m = ev->start_mark;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (tag && strcmp(tag, TAG_STR) != 0)
        return bad_tag(bld, m, tag, "a scalar");
    size_t len = ev->data.scalar.length;
    if (memchr(ev->data.scalar.value, '\0', len))
        return fail_at(bld, m, FH_E_PARSE, "a scalar must not hold a NUL character", NULL);
    int rc = 0;
    fh_yaml_node *n = new_node(bld, FH_YAML_SCALAR, m, &rc);
    if (!n)
        return rc;
    n->text = malloc(len + 1);
    if (!n->text) {
        fh_yaml_destroy(&n);
        return fh_set_error(FH_E_NOMEM, "out of memory");
    }
    memcpy(n->text, ev->data.scalar.value, len);
    n->text[len] = '\0';
    n->len = len;
    n->quoted = tag != NULL || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    return attach(bld, n, m);
}

static int on_start(builder *bld, const yaml_event_t *ev, fh_yaml_kind kind)
{
    yaml_mark_t m = ev->start_mark;
    const char *tag = kind == FH_YAML_MAPPING ? (const char *)ev->data.mapping_start.tag
                                              : (const char *)ev->data.sequence_start.tag;
    const char *type = kind == FH_YAML_MAPPING ? local_tag_name(tag) : NULL;
    if (tag && !type && strcmp(tag, kind == FH_YAML_MAPPING ? TAG_MAP : TAG_SEQ) != 0)
        return bad_tag(bld, m, tag, "a list");
    if (bld->depth >= FH_YAML_MAX_DEPTH) {
        char what[64];
        snprintf(what, sizeof what, "nesting deeper than %d levels", FH_YAML_MAX_DEPTH);
        return fail_at(bld, m, FH_E_PARSE, what, NULL);
    }
    int rc = 0;
    fh_yaml_node *n = new_node(bld, kind, m, &rc);
    if (!n)
        return rc;
    if (type && !(n->tag = strdup(type))) {
        fh_yaml_destroy(&n);
        return fh_set_error(FH_E_NOMEM, "out of memory");
    }
    if ((rc = attach(bld, n, m)) < 0)
        return rc;
    bld->stack[bld->depth++] = n;
    return 0;
}

static int syntax_error(const builder *bld, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    const char *problem = p->problem ? p->problem : "invalid YAML";
    /* A reader error (bad encoding) has no problem_mark, only an offset. */
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR) {
        m = p->mark;
        return fh_set_error(FH_E_PARSE, "%s:%zu:%zu: %s", bld->name, m.line + 1,
                            m.column + 1, problem);
    }
    if (p->context)
        return fh_set_error(FH_E_PARSE, "%s:%zu:%zu: %s (%s at %zu:%zu)", bld->name,
                            m.line + 1, m.column + 1, problem, p->context,
                            p->context_mark.line + 1, p->context_mark.column + 1);
    return fh_set_error(FH_E_PARSE, "%s:%zu:%zu: %s", bld->name, m.line + 1, m.column + 1,
                        problem);
}

int fh_yaml_parse(const char *text, size_t len, const char *name, fh_yaml_node **out)
{
    *out = NULL;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return fh_set_error(FH_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);

    builder bld = {.name = name};
    int rc = 0;
    int docs = 0;
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = syntax_error(&bld, &p);
            break;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (docs++ > 0)
                rc = fail_at(&bld, ev.start_mark, FH_E_PARSE,
                             "only one YAML document is allowed", NULL);
            break;
        case YAML_ALIAS_EVENT:
            rc = fail_at(&bld, ev.start_mark, FH_E_PARSE, "aliases are not supported",
                         NULL);
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(&bld, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_start(&bld, &ev, FH_YAML_SEQUENCE);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_start(&bld, &ev, FH_YAML_MAPPING);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (bld.depth > 0)
                bld.depth--;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default: /* stream start, document end, no event */
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (rc < 0) {
        for (int i = 0; i <= FH_YAML_MAX_DEPTH; i++)
            fh_yaml_destroy(&bld.pending[i]);
        fh_yaml_destroy(&bld.root);
        return rc;
    }
    if (!bld.root) {
        yaml_mark_t m = {0, 0, 0};
        bld.root = new_node(&bld, FH_YAML_SCALAR, m, &rc);
        if (!bld.root)
            return rc;
        bld.root->text = calloc(1, 1);
        if (!bld.root->text) {
            fh_yaml_destroy(&bld.root);
            return fh_set_error(FH_E_NOMEM, "out of memory");
        }
    }
    *out = bld.root;
    return 0;
}

/* ---- the tree as a value ------------------------------------------------------------------ */

static int plain_scalar(const fh_yaml_node *n, const char *name, fh_value **out)
{
    bool b;
    int64_t i;
    double d;
    if (n->quoted) {
        *out = fh_value_new_string(n->text);
    } else {
        switch (fh_yaml_type_plain(n->text, &b, &i, &d)) {
        case FH_YAML_PLAIN_NULL: *out = fh_value_new_null(); break;
        case FH_YAML_PLAIN_BOOL: *out = fh_value_new_bool(b); break;
        case FH_YAML_PLAIN_INT: *out = fh_value_new_int(i); break;
        case FH_YAML_PLAIN_DOUBLE: *out = fh_value_new_double(d); break;
        case FH_YAML_PLAIN_INT_RANGE:
            return fh_set_error(FH_E_RANGE, "%s:%d:%d: integer %s does not fit 64 bits", name,
                                n->line, n->column, fh_yaml_quote(n->text).s);
        default: *out = fh_value_new_string(n->text); break;
        }
    }
    return *out ? 0 : fh_set_error(FH_E_NOMEM, "out of memory");
}

int fh_yaml_to_value(const fh_yaml_node *n, const char *name, fh_yaml_scalar_fn scalar,
                     void *ctx, fh_value **out)
{
    *out = NULL;
    if (n->kind == FH_YAML_SCALAR)
        return scalar ? scalar(ctx, n, out) : plain_scalar(n, name, out);
    fh_value *v = n->kind == FH_YAML_MAPPING ? fh_value_new_map() : fh_value_new_list();
    if (v == NULL)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n->n && rc == 0; i++) {
        fh_value *item;
        if ((rc = fh_yaml_to_value(n->items[i], name, scalar, ctx, &item)) < 0)
            break;
        if (n->kind == FH_YAML_MAPPING)
            rc = fh_map_set(v, n->keys[i]->text, item);
        else
            rc = fh_list_append(v, item);
        if (rc < 0)
            rc = fh_set_error(FH_E_NOMEM, "out of memory");
    }
    if (rc < 0) {
        fh_value_destroy(&v);
        return rc;
    }
    *out = v;
    return 0;
}

/* A small YAML document tree built from libyaml parser events, for the flow loader.
 *
 * The tree keeps what a strict schema needs to report good errors: every node knows
 * where it starts (1-based line and column), and a scalar knows whether it was written
 * plain or quoted (a quoted scalar is always a string; a plain one is typed by the
 * schema with fh_yaml_type_plain()).
 *
 * The parser is bounded: at most FH_YAML_MAX_DEPTH levels of nesting and
 * FH_YAML_MAX_NODES nodes. Aliases are rejected (so no "billion laughs"), anchors are
 * ignored, a mapping key must be a scalar and may appear once, the input holds one
 * document. Besides the standard !!str / !!map / !!seq, a mapping may carry a local tag
 * naming its type, `!Name` (Jina's `!Flow`, `!MyExecutor`: the schema reads it as
 * `jtype: Name`, and rejects it where no type is read: fh_yaml_find_tag); any other tag,
 * and a local tag on a scalar or a list, is rejected.
 */
#ifndef FH_HOST_FLOW_YAML_H
#define FH_HOST_FLOW_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flowhost/value.h>

#define FH_YAML_MAX_DEPTH 64
#define FH_YAML_MAX_NODES 20000

typedef enum fh_yaml_kind {
    FH_YAML_SCALAR = 0,
    FH_YAML_SEQUENCE,
    FH_YAML_MAPPING
} fh_yaml_kind;

typedef struct fh_yaml_node fh_yaml_node;
struct fh_yaml_node {
    fh_yaml_kind kind;
    int line, column;       /* where the node starts, 1-based */
    char *text;             /* scalar: its text, NUL-terminated (never NULL) */
    size_t len;             /* scalar: strlen(text) */
    bool quoted;            /* scalar: not plain (quoted, block, or tagged !!str) */
    char *tag;              /* mapping: NAME of a local tag `!NAME`, else NULL */
    fh_yaml_node **keys;    /* mapping: the keys (scalars), n entries */
    fh_yaml_node **items;   /* sequence: the items; mapping: the values of keys[i] */
    size_t n;               /* number of items (sequence) or entries (mapping) */
    size_t cap;             /* allocated room in items (and keys) */
};

/* Parses the one YAML document in TEXT (LEN bytes) into a new tree the caller owns and
 * frees with fh_yaml_destroy(). NAME is used in messages. An empty document gives a
 * plain empty scalar at 1:1. Returns 0, or FH_E_PARSE with the message
 * "NAME:LINE:COLUMN: what is wrong" (libyaml's problem for a syntax error,
 * "duplicate key 'x'", ...), or FH_E_NOMEM. */
int fh_yaml_parse(const char *text, size_t len, const char *name, fh_yaml_node **out);

/* Frees *NODE and everything below it and sets *NODE to NULL. Accepts NULL. */
void fh_yaml_destroy(fh_yaml_node **node);

/* The value of KEY in MAP (borrowed), or NULL when absent or MAP is not a mapping. When
 * KEY_NODE is not NULL it receives the key node. */
const fh_yaml_node *fh_yaml_map_get(const fh_yaml_node *map, const char *key,
                                    const fh_yaml_node **key_node);

/* The first node of the tree at NODE (NODE included), in document order, that carries a
 * type tag (`!Name`) and is none of the N_ALLOWED nodes ALLOWED; NULL when there is none.
 * The schema decides where a type tag may stand and calls this so that a tag anywhere
 * else is an error rather than dropped. */
const fh_yaml_node *fh_yaml_find_tag(const fh_yaml_node *node,
                                     const fh_yaml_node *const *allowed, size_t n_allowed);

/* What a plain scalar's text means (the YAML 1.2 core schema, decimal integers only). */
typedef enum fh_yaml_plain {
    FH_YAML_PLAIN_NULL = 0, /* "", "~", "null", "Null", "NULL" */
    FH_YAML_PLAIN_BOOL,     /* true/True/TRUE, false/False/FALSE */
    FH_YAML_PLAIN_INT,      /* [-+]?[0-9]+ that fits an int64 */
    FH_YAML_PLAIN_DOUBLE,   /* [-+]?(.5|5|5.|5.5)([eE][-+]?5)?, .inf, .nan */
    FH_YAML_PLAIN_STRING,   /* anything else */
    FH_YAML_PLAIN_INT_RANGE /* an integer that does not fit an int64 */
} fh_yaml_plain;

/* Types the plain scalar TEXT. Stores the value in *B, *I or *D when the result is a
 * bool, an int or a double (each may be NULL). */
fh_yaml_plain fh_yaml_type_plain(const char *text, bool *b, int64_t *i, double *d);

/* At most this many bytes of a value are shown in a message (fh_yaml_quote). */
#define FH_YAML_QUOTE_MAX 64

/* A value quoted for a message, in S: see fh_yaml_quote(). */
typedef struct fh_yaml_quoted {
    char s[FH_YAML_QUOTE_MAX + 8]; /* 'text' or 'text...', NUL-terminated */
} fh_yaml_quoted;

/* TEXT in single quotes for an error message, the way every message of the flow loader
 * shows a value that came from a file: cut after FH_YAML_QUOTE_MAX bytes (never inside a
 * UTF-8 character) with "..." before the closing quote, so that a 100,000-digit integer
 * costs a message 70 bytes; control characters and bytes that are not UTF-8 are written
 * \n, \t, \r or \xHH, so that the message stays one line. Returns the quoted text by
 * value: use fh_yaml_quote(t).s as a printf argument (it lives until the end of the
 * full expression). TEXT NULL is shown as ''. */
fh_yaml_quoted fh_yaml_quote(const char *text);

/* fh_yaml_quote of the LEN bytes at TEXT (which need not be NUL-terminated). */
fh_yaml_quoted fh_yaml_quote_n(const char *text, size_t len);

/* Turns the scalar N into a new value in *OUT (the caller's). Returns 0, or a negative
 * FH_E... code with the error set ("FILE:LINE:COLUMN: ..."). */
typedef int (*fh_yaml_scalar_fn)(void *ctx, const fh_yaml_node *n, fh_value **out);

/* The tree at N as a new value in *OUT (the caller's): mappings, lists, and scalars typed
 * by SCALAR with CTX, or, SCALAR NULL, by fh_yaml_type_plain (a quoted scalar is a
 * string; an integer over 64 bits an error naming NAME:LINE:COLUMN). Returns 0 or the
 * negative FH_E... code of the first scalar refused, or FH_E_NOMEM; *OUT is then NULL. */
int fh_yaml_to_value(const fh_yaml_node *n, const char *name, fh_yaml_scalar_fn scalar,
                     void *ctx, fh_value **out);

#endif

/* The flow schema (Jina v1) over the YAML tree of flow_yaml.c: see flow_config.h.
 *
 * Every check reports "FILE:LINE:COLUMN: what is wrong" with the position of the
 * offending node, in the file that holds it (the flow, or an executor YAML it uses).
 * A plain scalar is typed after `${VAR}` expansion; a quoted one is always a string.
 * A null value (`key:` with nothing after it) of an optional key means "not given".
 */
#include "flow_config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "flow_graph.h"
#include "flow_jina.h"
#include "flow_when.h"
#include "flow_yaml.h"
#include "util.h"

#define MAX_NAME_LEN 64

/* Where nodes come from: the file named in messages and the folder that relative paths
 * start from. */
typedef struct src {
    const char *name;    /* as shown in messages */
    const char *dir;     /* absolute folder */
    const char *display; /* prefix that turns a relative path into a shown one */
    fh_flow_config *cfg; /* receives the warnings */
} src;

/* A plain or quoted scalar after expansion and typing. */
typedef struct scalar {
    fh_yaml_plain type; /* NULL, BOOL, INT, DOUBLE or STRING */
    char *text;         /* the expanded text, owned */
    bool b;
    int64_t i;
    double d;
} scalar;

static int err_at(const src *s, const fh_yaml_node *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int err_at(const src *s, const fh_yaml_node *n, int code, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fh_set_error(code, "%s:%d:%d: %s", s->name, n->line, n->column, msg);
}

static int nomem(void)
{
    return fh_set_error(FH_E_NOMEM, "out of memory");
}

static int warn_at(const src *s, const fh_yaml_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds the warning "FILE:LINE:COLUMN: message" to the config being read. */
static int warn_at(const src *s, const fh_yaml_node *n, const char *fmt, ...)
{
    char msg[900], line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s:%d:%d: %s", s->name, n->line, n->column, msg);
    fh_flow_config *cfg = s->cfg;
    for (size_t i = 0; i < cfg->n_warnings; i++)
        if (strcmp(cfg->warnings[i], line) == 0)
            return 0; /* an executor YAML used twice says it once */
    char **w = realloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof *w);
    if (!w)
        return nomem();
    cfg->warnings = w;
    if (!(w[cfg->n_warnings] = strdup(line)))
        return nomem();
    cfg->n_warnings++;
    return 0;
}

/* ---- ${VAR} expansion and typing ---------------------------------------------------- */

/* Appends LEN bytes of P to the growing buffer *BUF. */
static int append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 32;
        while (c < *len + n + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b)
            return nomem();
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static bool is_var_name(const char *p, size_t n)
{
    if (n == 0 || (p[0] >= '0' && p[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* Appends the value of the environment variable NAME (LEN bytes) of the scalar N. */
static int append_var(const src *s, const fh_yaml_node *n, const char *name, size_t name_len,
                      char **buf, size_t *len, size_t *cap)
{
    if (!is_var_name(name, name_len))
        return err_at(s, n, FH_E_PARSE, "invalid environment variable name %s",
                      fh_yaml_quote_n(name, name_len).s);
    char var[256];
    if (name_len >= sizeof var)
        return err_at(s, n, FH_E_PARSE, "environment variable name too long");
    memcpy(var, name, name_len);
    var[name_len] = '\0';
    const char *val = getenv(var);
    if (!val)
        return err_at(s, n, FH_E_PARSE, "environment variable %s is not set",
                      fh_yaml_quote(var).s);
    return append(buf, len, cap, val, strlen(val));
}

/* Jina's `${{ ENV.VAR }}` and `${{ VAR }}` at P (just after the `${{`): appends the
 * value of VAR and sets *END after the closing `}}`. Jina's references to other keys
 * (`${{ root.x }}`, `${{ this.x }}`) are refused: flowhost has no such context. */
static int expand_jina(const src *s, const fh_yaml_node *n, const char *p, const char **end,
                       char **buf, size_t *len, size_t *cap)
{
    const char *start = p - 3; /* the `${{` */
    const char *close = strstr(p, "}}");
    if (!close)
        return err_at(s, n, FH_E_PARSE, "unterminated '${{' in %s", fh_yaml_quote(n->text).s);
    *end = close + 2;
    while (p < close && (*p == ' ' || *p == '\t'))
        p++;
    const char *e = close;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if ((size_t)(e - p) > 4 && strncmp(p, "ENV.", 4) == 0)
        p += 4;
    else if (memchr(p, '.', (size_t)(e - p)))
        return err_at(s, n, FH_E_PARSE, "%s: references to other keys are not supported; "
                      "use '${{ ENV.VAR }}' or '${VAR}' for an environment variable",
                      fh_yaml_quote_n(start, (size_t)(*end - start)).s);
    return append_var(s, n, p, (size_t)(e - p), buf, len, cap);
}

/* Expands ${VAR}, ${VAR:-default}, Jina's ${{ ENV.VAR }} and ${{ VAR }}, and $$ in the
 * scalar N into a new string *OUT. A `$` followed by anything else stays as it is. */
static int expand(const src *s, const fh_yaml_node *n, char **out)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    const char *p = n->text;
    int rc = append(&buf, &len, &cap, "", 0);
    while (rc == 0 && *p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            rc = append(&buf, &len, &cap, p, strlen(p));
            break;
        }
        if ((rc = append(&buf, &len, &cap, p, (size_t)(dollar - p))) < 0)
            break;
        if (dollar[1] == '$') {
            rc = append(&buf, &len, &cap, "$", 1);
            p = dollar + 2;
            continue;
        }
        if (dollar[1] != '{') {
            rc = append(&buf, &len, &cap, "$", 1);
            p = dollar + 1;
            continue;
        }
        if (dollar[2] == '{') {
            rc = expand_jina(s, n, dollar + 3, &p, &buf, &len, &cap);
            continue;
        }
        const char *name = dollar + 2;
        const char *close = strchr(name, '}');
        if (!close) {
            rc = err_at(s, n, FH_E_PARSE, "unterminated '${' in %s", fh_yaml_quote(n->text).s);
            break;
        }
        const char *dflt = NULL;
        size_t name_len = (size_t)(close - name);
        const char *sep = strstr(name, ":-");
        if (sep && sep < close) {
            name_len = (size_t)(sep - name);
            dflt = sep + 2;
        }
        if (!is_var_name(name, name_len)) {
            rc = err_at(s, n, FH_E_PARSE, "invalid environment variable name %s",
                        fh_yaml_quote_n(name, name_len).s);
            break;
        }
        char var[256];
        if (name_len >= sizeof var) {
            rc = err_at(s, n, FH_E_PARSE, "environment variable name too long");
            break;
        }
        memcpy(var, name, name_len);
        var[name_len] = '\0';
        const char *val = getenv(var);
        if (dflt && (!val || !*val))
            rc = append(&buf, &len, &cap, dflt, (size_t)(close - dflt));
        else if (val)
            rc = append(&buf, &len, &cap, val, strlen(val));
        else
            rc = err_at(s, n, FH_E_PARSE, "environment variable %s is not set",
                        fh_yaml_quote(var).s);
        p = close + 1;
    }
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

/* Expands and types the scalar N. The caller frees out->text. */
static int eval_scalar(const src *s, const fh_yaml_node *n, scalar *out)
{
    memset(out, 0, sizeof *out);
    int rc = expand(s, n, &out->text);
    if (rc < 0)
        return rc;
    if (n->quoted) {
        out->type = FH_YAML_PLAIN_STRING;
        return 0;
    }
    out->type = fh_yaml_type_plain(out->text, &out->b, &out->i, &out->d);
    if (out->type == FH_YAML_PLAIN_INT_RANGE) {
        rc = err_at(s, n, FH_E_RANGE, "integer %s does not fit 64 bits",
                    fh_yaml_quote(out->text).s);
        free(out->text);
        out->text = NULL;
        return rc;
    }
    return 0;
}

static const char *plain_name(fh_yaml_plain t)
{
    switch (t) {
    case FH_YAML_PLAIN_NULL: return "null";
    case FH_YAML_PLAIN_BOOL: return "a boolean";
    case FH_YAML_PLAIN_INT: return "an integer";
    case FH_YAML_PLAIN_DOUBLE: return "a number";
    default: return "a string";
    }
}

/* What N is, for "must be X, not Y" messages; scalars typed without expansion. */
static const char *node_name(const fh_yaml_node *n)
{
    if (n->kind == FH_YAML_MAPPING)
        return "a mapping";
    if (n->kind == FH_YAML_SEQUENCE)
        return "a list";
    if (n->quoted)
        return "a string";
    fh_yaml_plain t = fh_yaml_type_plain(n->text, NULL, NULL, NULL);
    return plain_name(t == FH_YAML_PLAIN_INT_RANGE ? FH_YAML_PLAIN_INT : t);
}

/* A plain null scalar: the key is there with no value. */
static bool is_null(const fh_yaml_node *n)
{
    return n && n->kind == FH_YAML_SCALAR && !n->quoted &&
           fh_yaml_type_plain(n->text, NULL, NULL, NULL) == FH_YAML_PLAIN_NULL;
}

/* ---- typed getters -------------------------------------------------------------------- */

/* The string value of KEY (node N) into *OUT (new, caller frees). *OUT stays NULL when N
 * is absent or null, unless REQUIRED. */
static int get_string(const src *s, const char *key, const fh_yaml_node *n, char **out)
{
    *out = NULL;
    if (!n || is_null(n))
        return 0;
    if (n->kind != FH_YAML_SCALAR)
        return err_at(s, n, FH_E_TYPE, "'%s' must be a string, not %s", key, node_name(n));
    scalar v;
    int rc = eval_scalar(s, n, &v);
    if (rc < 0)
        return rc;
    if (v.type != FH_YAML_PLAIN_STRING) {
        rc = err_at(s, n, FH_E_TYPE, "'%s' must be a string, not %s", key,
                    plain_name(v.type));
        free(v.text);
        return rc;
    }
    *out = v.text;
    return 0;
}

/* The scalar value of KEY (node N), which must be of type WANT (WHAT names it in the
 * message: "an integer"), into *V (its text freed). Returns 1, 0 when N is absent or
 * null (*V untouched), or a negative error. */
static int get_typed(const src *s, const char *key, const fh_yaml_node *n, fh_yaml_plain want,
                     const char *what, scalar *v)
{
    if (!n || is_null(n))
        return 0;
    if (n->kind != FH_YAML_SCALAR)
        return err_at(s, n, FH_E_TYPE, "'%s' must be %s, not %s", key, what, node_name(n));
    int rc = eval_scalar(s, n, v);
    if (rc < 0)
        return rc;
    free(v->text);
    v->text = NULL;
    if (v->type != want)
        return err_at(s, n, FH_E_TYPE, "'%s' must be %s, not %s", key, what,
                      plain_name(v->type));
    return 1;
}

/* The integer value of KEY (node N) in MIN..MAX into *OUT; *OUT is kept when N is absent
 * or null. */
static int get_int(const src *s, const char *key, const fh_yaml_node *n, int64_t min,
                   int64_t max, int *out)
{
    scalar v;
    int rc = get_typed(s, key, n, FH_YAML_PLAIN_INT, "an integer", &v);
    if (rc <= 0)
        return rc;
    if (v.i < min || v.i > max)
        return err_at(s, n, FH_E_RANGE, "'%s' must be between %" PRId64 " and %" PRId64
                      ", not %" PRId64, key, min, max, v.i);
    *out = (int)v.i;
    return 0;
}

/* N (present, not null) must be a mapping. */
static int want_mapping(const src *s, const char *key, const fh_yaml_node *n)
{
    if (n->kind != FH_YAML_MAPPING)
        return err_at(s, n, FH_E_TYPE, "'%s' must be a mapping, not %s", key, node_name(n));
    return 0;
}

/* ---- unknown keys ------------------------------------------------------------------- */

static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* No Jina table for check_keys(). */
#define NO_JINA (-1)

/* Every key of MAP must be in VALID (NULL-terminated); WHERE names the mapping. A key of
 * Jina's that flowhost treats apart (flow_jina.h, table JINA: an fh_jina_where, or
 * NO_JINA) is ignored with a warning, or refused saying why. */
static int check_keys(const src *s, const fh_yaml_node *map, const char *const *valid,
                      const char *where, int jina)
{
    for (size_t k = 0; k < map->n; k++) {
        const fh_yaml_node *key = map->keys[k];
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        bool known = false;
        for (const char *const *v = valid; *v; v++) {
            if (strcmp(key->text, *v) == 0) {
                known = true;
                break;
            }
            size_t d = levenshtein(key->text, *v);
            if (d < best_d) {
                best_d = d;
                best = *v;
            }
        }
        if (known)
            continue;
        const fh_jina_key *j = jina == NO_JINA ? NULL
                             : fh_jina_key_find((fh_jina_where)jina, key->text);
        int rc;
        const fh_yaml_node *val = map->items[k];
        bool off = j && j->action == FH_JINA_LATER_UNLESS_FALSE && val->kind == FH_YAML_SCALAR &&
                   (strcmp(val->text, "false") == 0 || strcmp(val->text, "False") == 0 ||
                    strcmp(val->text, "FALSE") == 0);
        if (j && (j->action == FH_JINA_IGNORE || off)) {
            if ((rc = warn_at(s, key, "'%s' in %s is ignored: %s", j->key, where,
                              off ? "it is false" : j->why)) < 0)
                return rc;
            continue;
        }
        if (j)
            return err_at(s, key, FH_E_PARSE, "'%s' in %s is not supported%s: %s", j->key,
                          where, j->action == FH_JINA_REFUSE ? "" : " yet", j->why);
        size_t limit = key->len / 3 > 2 ? key->len / 3 : 2;
        if (best && best_d <= limit)
            return err_at(s, key, FH_E_PARSE, "unknown key %s in %s (did you mean '%s'?)",
                          fh_yaml_quote(key->text).s, where, best);
        char list[400] = "";
        size_t used = 0;
        for (const char *const *v = valid; *v && used < sizeof list; v++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                     v == valid ? "" : ", ", *v);
        return err_at(s, key, FH_E_PARSE, "unknown key %s in %s (valid keys: %s)",
                      fh_yaml_quote(key->text).s, where, list);
    }
    return 0;
}

/* ---- paths ---------------------------------------------------------------------------- */

/* Collapses "//", "." and ".." of the absolute path P in place. */
static void normalize(char *p)
{
    char *out = p; /* p[0] == '/' */
    const char *in = p;
    while (*in) {
        while (*in == '/')
            in++;
        if (!*in)
            break;
        const char *end = strchr(in, '/');
        size_t n = end ? (size_t)(end - in) : strlen(in);
        if (n == 1 && in[0] == '.') {
            /* skip */
        } else if (n == 2 && in[0] == '.' && in[1] == '.') {
            while (out > p && *--out != '/')
                ;
        } else {
            *out++ = '/';
            memmove(out, in, n);
            out += n;
        }
        in += n;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

/* P made absolute from DIR and normalized: a new string, or NULL when out of memory. */
static char *resolve(const char *dir, const char *p)
{
    size_t n = strlen(dir) + strlen(p) + 2;
    char *buf = malloc(n);
    if (!buf)
        return NULL;
    if (p[0] == '/')
        snprintf(buf, n, "%s", p);
    else
        snprintf(buf, n, "%s/%s", dir, p);
    normalize(buf);
    return buf;
}

/* How the relative path P of a file read from S is shown in messages. */
static char *display_path(const src *s, const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    size_t n = strlen(s->display) + strlen(p) + 1;
    char *buf = malloc(n);
    if (buf)
        snprintf(buf, n, "%s%s", s->display, p);
    return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The path of the string KEY (node N), absolute from S's folder, into *OUT. */
static int get_path(const src *s, const char *key, const fh_yaml_node *n, char **out)
{
    char *text;
    int rc = get_string(s, key, n, &text);
    if (rc < 0 || !text)
        return rc;
    if (!*text) {
        free(text);
        return err_at(s, n, FH_E_PARSE, "'%s' must not be empty", key);
    }
    *out = resolve(s->dir, text);
    free(text);
    return *out ? 0 : nomem();
}

/* The plugin TEXT (from node N) must be a regular file: its absolute path into *OUT. */
static int find_plugin(const src *s, const fh_yaml_node *n, const char *text, char **out)
{
    char *path = resolve(s->dir, text);
    if (!path)
        return nomem();
    struct stat st;
    if (stat(path, &st) != 0) {
        free(path);
        return err_at(s, n, FH_E_NOTFOUND, "plugin %s not found", fh_yaml_quote(text).s);
    }
    if (!S_ISREG(st.st_mode)) {
        free(path);
        return err_at(s, n, FH_E_NOTFOUND, "plugin %s is not a regular file",
                      fh_yaml_quote(text).s);
    }
    *out = path;
    return 0;
}

/* ---- values --------------------------------------------------------------------------- */

/* The scalar N of a flow file as a new value: `${VAR}` expanded, typed by the schema's
 * rule (fh_yaml_scalar_fn, with the flow's source as CTX). */
static int config_scalar(void *ctx, const fh_yaml_node *n, fh_value **out)
{
    const src *s = ctx;
    scalar sc;
    int rc = eval_scalar(s, n, &sc);
    if (rc < 0)
        return rc;
    fh_value *v;
    switch (sc.type) {
    case FH_YAML_PLAIN_NULL: v = fh_value_new_null(); break;
    case FH_YAML_PLAIN_BOOL: v = fh_value_new_bool(sc.b); break;
    case FH_YAML_PLAIN_INT: v = fh_value_new_int(sc.i); break;
    case FH_YAML_PLAIN_DOUBLE: v = fh_value_new_double(sc.d); break;
    default: v = fh_value_new_string(sc.text); break;
    }
    free(sc.text);
    if (!v)
        return nomem();
    *out = v;
    return 0;
}

/* The YAML node N as a new fh_value: mappings, lists and typed scalars. */
static int to_value(const src *s, const fh_yaml_node *n, fh_value **out)
{
    return fh_yaml_to_value(n, s->name, config_scalar, (void *)s, out);
}

/* Sets every entry of the mapping N (KEY) over the map DST. */
static int merge_map(const src *s, const char *key, const fh_yaml_node *n, fh_value *dst)
{
    if (!n || is_null(n))
        return 0;
    int rc = want_mapping(s, key, n);
    for (size_t i = 0; i < n->n && rc == 0; i++) {
        fh_value *item;
        if ((rc = to_value(s, n->items[i], &item)) < 0)
            break;
        if (fh_map_set(dst, n->keys[i]->text, item) < 0)
            rc = nomem();
    }
    return rc;
}

/* Sets the entries of the env mapping N over DST as strings. */
static int merge_env(const src *s, const fh_yaml_node *n, fh_value *dst)
{
    if (!n || is_null(n))
        return 0;
    int rc = want_mapping(s, "env", n);
    for (size_t i = 0; i < n->n && rc == 0; i++) {
        const fh_yaml_node *k = n->keys[i], *val = n->items[i];
        if (!is_var_name(k->text, k->len))
            return err_at(s, k, FH_E_PARSE, "%s is not a valid environment variable name",
                          fh_yaml_quote(k->text).s);
        if (val->kind != FH_YAML_SCALAR)
            return err_at(s, val, FH_E_TYPE, "env %s must be a scalar, not %s",
                          fh_yaml_quote(k->text).s, node_name(val));
        scalar sc;
        if ((rc = eval_scalar(s, val, &sc)) < 0)
            break;
        char num[32];
        const char *str = sc.text;
        if (sc.type == FH_YAML_PLAIN_NULL)
            str = "";
        else if (sc.type == FH_YAML_PLAIN_BOOL)
            str = sc.b ? "true" : "false";
        else if (sc.type == FH_YAML_PLAIN_INT) {
            snprintf(num, sizeof num, "%" PRId64, sc.i);
            str = num;
        }
        if (fh_map_set_string(dst, k->text, str) < 0)
            rc = nomem();
        free(sc.text);
    }
    return rc;
}

/* ---- requests ------------------------------------------------------------------------- */

static void free_bindings(fh_flow_binding *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(b[i].endpoint);
        free(b[i].handler);
    }
    free(b);
}

/* The mapping N (KEY): endpoint -> handler name, into a new array *OUT of *N_OUT. */
static const char *const batching_keys[] = {"preferred_batch_size", "timeout", NULL};

/* uses_dynamic_batching: {ENDPOINT: {preferred_batch_size: N, timeout: MS}, ...} (Jina
 * 3's keys) into X. */
static int get_batching(const src *s, const fh_yaml_node *n, fh_flow_executor *x)
{
    const char *key = "uses_dynamic_batching";
    if (!n || is_null(n))
        return 0;
    int rc = want_mapping(s, key, n);
    if (rc < 0)
        return rc;
    x->batching = calloc(n->n ? n->n : 1, sizeof *x->batching);
    if (!x->batching)
        return nomem();
    for (size_t i = 0; i < n->n; i++) {
        const fh_yaml_node *k = n->keys[i], *v = n->items[i];
        fh_flow_batching *b = &x->batching[i];
        if (k->text[0] != '/')
            return err_at(s, k, FH_E_PARSE, "endpoint %s in '%s' must start with '/'",
                          fh_yaml_quote(k->text).s, key);
        if ((rc = want_mapping(s, k->text, v)) < 0 ||
            (rc = check_keys(s, v, batching_keys, k->text, NO_JINA)) < 0)
            return rc;
        const fh_yaml_node *pbs = fh_yaml_map_get(v, "preferred_batch_size", NULL);
        if (!pbs)
            return err_at(s, v, FH_E_PARSE, "missing key 'preferred_batch_size' in %s of '%s'",
                          fh_yaml_quote(k->text).s, key);
        b->timeout_ms = FH_FLOW_DEFAULT_BATCH_TIMEOUT;
        if ((rc = get_int(s, "preferred_batch_size", pbs, 1, FH_FLOW_MAX_BATCH,
                          &b->preferred_batch_size)) < 0 ||
            (rc = get_int(s, "timeout", fh_yaml_map_get(v, "timeout", NULL), 0,
                          FH_FLOW_MAX_BATCH_TIMEOUT,
                          &b->timeout_ms)) < 0)
            return rc;
        if (!(b->endpoint = strdup(k->text)))
            return nomem();
        x->n_batching = i + 1;
    }
    return 0;
}

static int get_requests(const src *s, const char *key, const fh_yaml_node *n,
                        fh_flow_binding **out, size_t *n_out)
{
    int rc = want_mapping(s, key, n);
    if (rc < 0)
        return rc;
    fh_flow_binding *b = calloc(n->n ? n->n : 1, sizeof *b);
    if (!b)
        return nomem();
    size_t i;
    for (i = 0; i < n->n; i++) {
        const fh_yaml_node *k = n->keys[i];
        /* Jina 2's default endpoint is '/default'; 'default' and '__default__' are
         * aliases of it that flowhost accepts. */
        bool dflt = strcmp(k->text, "default") == 0 || strcmp(k->text, "__default__") == 0;
        if (strcmp(k->text, "on") == 0) {
            rc = err_at(s, k, FH_E_PARSE,
                        "'%s: on:' is Jina 1's drivers, not supported: bind each endpoint to "
                        "a handler function, e.g. {/index: index_docs}", key);
            break;
        }
        if (k->text[0] != '/' && !dflt) {
            rc = err_at(s, k, FH_E_PARSE,
                        "endpoint %s in '%s' must start with '/' (or be 'default')",
                        fh_yaml_quote(k->text).s, key);
            break;
        }
        char *handler;
        if ((rc = get_string(s, "handler", n->items[i], &handler)) < 0)
            break;
        if (!handler || !is_var_name(handler, strlen(handler))) {
            rc = err_at(s, n->items[i], FH_E_PARSE,
                        "handler of %s must be a function name, not %s",
                        fh_yaml_quote(k->text).s, fh_yaml_quote(handler).s);
            free(handler);
            break;
        }
        b[i].handler = handler;
        if (!(b[i].endpoint = strdup(dflt ? "default" : k->text))) {
            i++;
            rc = nomem();
            break;
        }
    }
    if (rc < 0) {
        free_bindings(b, n->n); /* calloc'd: entries not reached are NULL */
        return rc;
    }
    *out = b;
    *n_out = n->n;
    return 0;
}

/* Merges OVER (uses_requests) into *REQ (the executor YAML's requests) as Jina updates
 * one dict with the other: an endpoint in both takes OVER's handler in its place, the
 * others of OVER follow in their order. The worker applies the result to the plugin's
 * own bindings. Takes OVER (freed here, also on failure). */
static int merge_requests(fh_flow_binding **req, size_t *n_req, fh_flow_binding *over,
                          size_t n_over)
{
    fh_flow_binding *m = realloc(*req, (*n_req + n_over + 1) * sizeof *m);
    if (!m) {
        free_bindings(over, n_over);
        return nomem();
    }
    *req = m;
    for (size_t i = 0; i < n_over; i++) {
        size_t k = 0;
        while (k < *n_req && strcmp(m[k].endpoint, over[i].endpoint) != 0)
            k++;
        if (k < *n_req) {
            free(m[k].handler);
            free(over[i].endpoint);
            m[k].handler = over[i].handler;
        } else {
            m[(*n_req)++] = over[i];
        }
    }
    free(over);
    return 0;
}

/* ---- executors ------------------------------------------------------------------------ */

static const char *const flow_keys[] = {"jtype", "version", "with", "executors", "pods",
                                        NULL};

/* The flow's list of executors: `executors`, or `pods` as Jina 2.0 still named it (a list:
 * Jina 1's mapping form is refused by read_flow). NULL when neither is there. */
static const fh_yaml_node *flow_executors(const fh_yaml_node *root)
{
    const fh_yaml_node *ex = fh_yaml_map_get(root, "executors", NULL);
    return ex ? ex : fh_yaml_map_get(root, "pods", NULL);
}
static const char *const with_keys[] = {"port", "host", "prefetch", "env", "timeout_ready",
                                        "workspace", "plugin_path", "max_message_size",
                                        "max_inflight", "timeout_drain", "max_connections",
                                        "server_key", "client_keys", "port_expose",
                                        "protocol", "port_http", "restful", "monitoring",
                                        "ssl_certfile",
                                        "ssl_keyfile", "http_max_connections",
                                        "http_max_header_size", "http_read_timeout",
                                        "http_keep_alive", "http_timeout",
                                        "gateway_key", NULL};
static const char *const entry_keys[] = {"name", "uses", "uses_with", "uses_metas",
                                         "uses_requests", "env", "timeout", "on_error",
                                         "workspace", "override_with", "override_metas",
                                         "override_requests", "replicas", "credit",
                                         "uses_dynamic_batching", "needs", "floating",
                                         "shards", "parallel", "polling", "when",
                                         "host", "port", "external", "worker_key",
                                         "port_in", NULL};
static const char *const uses_metas_keys[] = {"name", "description", "workspace", NULL};
static const char *const exec_keys[] = {"jtype", "with", "metas", "requests", NULL};
static const char *const metas_keys[] = {"name", "description", "workspace", "plugin",
                                         NULL};

/* The value of KEY in MAP, or of OLD, an older name Jina gave it, into *OUT (NULL when
 * neither is there); both given is an error. */
static int get_aliased(const src *s, const fh_yaml_node *map, const char *key, const char *old,
                       const fh_yaml_node **out)
{
    const fh_yaml_node *k_new, *k_old;
    const fh_yaml_node *v_new = fh_yaml_map_get(map, key, &k_new);
    const fh_yaml_node *v_old = fh_yaml_map_get(map, old, &k_old);
    *out = v_new ? v_new : v_old;
    if (v_new && v_old)
        return err_at(s, k_new->line > k_old->line ? k_new : k_old, FH_E_PARSE,
                      "'%s' is Jina's older name for '%s': keep one of them", old, key);
    return 0;
}

/* Where an executor's name came from, for messages. */
typedef struct name_origin {
    int line, column; /* in the flow file */
} name_origin;

/* What an executor YAML (file or inline) declares, before uses_* are merged over it. */
typedef struct exec_yaml {
    char *type;
    char *name;                 /* metas.name */
    const fh_yaml_node *name_node;
    const fh_yaml_node *type_node;
    char *description;
    char *workspace;
    char *plugin;
    fh_flow_binding *requests;
    size_t n_requests;
    bool has_requests;
} exec_yaml;

static void exec_yaml_free(exec_yaml *e)
{
    free(e->type);
    free(e->name);
    free(e->description);
    free(e->workspace);
    free(e->plugin);
    free_bindings(e->requests, e->n_requests);
    memset(e, 0, sizeof *e);
}

/* The type of the mapping N: its tag `!Type`, or its `jtype` key (Jina reads one as the
 * other), into *OUT (new; NULL when neither is given) and the node that names it into
 * *AT. Both given must agree. */
static int get_type(const src *s, const fh_yaml_node *n, char **out, const fh_yaml_node **at)
{
    *out = NULL;
    *at = n;
    const fh_yaml_node *j = fh_yaml_map_get(n, "jtype", NULL);
    int rc;
    if (j && (j->kind != FH_YAML_SCALAR || is_null(j)))
        return err_at(s, j, FH_E_TYPE, "'jtype' must be a string, not %s", node_name(j));
    if (j && (rc = get_string(s, "jtype", j, out)) < 0)
        return rc;
    if (!n->tag) {
        if (j)
            *at = j;
        return 0;
    }
    if (*out && strcmp(*out, n->tag) != 0) {
        rc = err_at(s, j, FH_E_PARSE, "'jtype: %s' contradicts the tag '!%s'", *out, n->tag);
        free(*out);
        *out = NULL;
        return rc;
    }
    free(*out);
    return (*out = strdup(n->tag)) ? 0 : nomem();
}

/* A type tag names the type of what is read with one: a flow (ROOT when FLOW), an
 * executor YAML (ROOT otherwise) and an inline `uses` of the flow; anywhere else it would
 * be dropped without a word, so it is an error naming the tag. */
static int check_tags(const src *s, const fh_yaml_node *root, bool flow)
{
    const fh_yaml_node *ex = flow ? flow_executors(root) : NULL;
    size_t n = ex && ex->kind == FH_YAML_SEQUENCE ? ex->n : 0, used = 0;
    const fh_yaml_node **allowed = calloc(n + 1, sizeof *allowed);
    if (!allowed)
        return nomem();
    allowed[used++] = root;
    for (size_t i = 0; i < n; i++) {
        const fh_yaml_node *u = fh_yaml_map_get(ex->items[i], "uses", NULL);
        if (u && u->kind == FH_YAML_MAPPING)
            allowed[used++] = u;
    }
    const fh_yaml_node *bad = fh_yaml_find_tag(root, allowed, used);
    free(allowed);
    if (!bad)
        return 0;
    return err_at(s, bad, FH_E_PARSE, "a type tag names the type of a flow, an executor YAML "
                  "or an inline 'uses', not of this mapping: tag '!%s'", bad->tag);
}

/* Reads the executor YAML mapping N (from S) into *E and its `with` over WITH. */
static int read_exec_yaml(const src *s, const fh_yaml_node *n, exec_yaml *e, fh_value *with)
{
    if (n->kind != FH_YAML_MAPPING)
        return err_at(s, n, FH_E_TYPE, "an executor YAML must be a mapping, not %s",
                      node_name(n));
    int rc = check_keys(s, n, exec_keys, "executor YAML", FH_JINA_EXEC_YAML);
    if (rc < 0)
        return rc;
    const fh_yaml_node *v;
    if ((rc = get_type(s, n, &e->type, &v)) < 0)
        return rc;
    if (!e->type)
        return err_at(s, n, FH_E_PARSE, "missing the executor type in executor YAML (a "
                      "'!Type' tag or 'jtype: Type')");
    if (!is_var_name(e->type, strlen(e->type)))
        return err_at(s, v, FH_E_PARSE, "'jtype' must be an executor type name, not %s",
                      fh_yaml_quote(e->type).s);
    e->type_node = v;
    if ((rc = merge_map(s, "with", fh_yaml_map_get(n, "with", NULL), with)) < 0)
        return rc;
    const fh_yaml_node *m = fh_yaml_map_get(n, "metas", NULL);
    if (m && !is_null(m)) {
        if ((rc = want_mapping(s, "metas", m)) < 0 ||
            (rc = check_keys(s, m, metas_keys, "metas", FH_JINA_METAS)) < 0)
            return rc;
        e->name_node = fh_yaml_map_get(m, "name", NULL);
        if ((rc = get_string(s, "name", e->name_node, &e->name)) < 0 ||
            (rc = get_string(s, "description", fh_yaml_map_get(m, "description", NULL),
                             &e->description)) < 0 ||
            (rc = get_path(s, "workspace", fh_yaml_map_get(m, "workspace", NULL),
                           &e->workspace)) < 0)
            return rc;
        const fh_yaml_node *p = fh_yaml_map_get(m, "plugin", NULL);
        char *text;
        if ((rc = get_string(s, "plugin", p, &text)) < 0)
            return rc;
        if (text) {
            rc = find_plugin(s, p, text, &e->plugin);
            free(text);
            if (rc < 0)
                return rc;
        }
    }
    const fh_yaml_node *r = fh_yaml_map_get(n, "requests", NULL);
    if (r && !is_null(r)) {
        if ((rc = get_requests(s, "requests", r, &e->requests, &e->n_requests)) < 0)
            return rc;
        e->has_requests = true;
    }
    return 0;
}

/* Reads the executor YAML file TEXT (node N of S) into *E. */
static int read_exec_file(const src *s, const fh_yaml_node *n, const char *text,
                          exec_yaml *e, fh_value *with)
{
    char *path = resolve(s->dir, text);
    char *shown = display_path(s, text);
    char *dir = path ? strdup(path) : NULL;
    char *buf = NULL;
    size_t len = 0;
    fh_yaml_node *tree = NULL;
    int rc;
    if (!path || !shown || !dir) {
        rc = nomem();
        goto done;
    }
    *strrchr(dir, '/') = '\0';
    if (!*dir)
        strcpy(dir, "/");
    /* Named as the user wrote it, not by the absolute path: "executor YAML 'x.yml': ..."
     * (not a regular file, too large, No such file or directory). */
    char what[sizeof(fh_yaml_quoted) + 16];
    snprintf(what, sizeof what, "executor YAML %s", fh_yaml_quote(text).s);
    if ((rc = fh_read_file_as(path, what, &buf, &len)) < 0) {
        rc = err_at(s, n, rc, "%s", fh_last_error());
        goto done;
    }
    if ((rc = fh_yaml_parse(buf, len, shown, &tree)) < 0)
        goto done;
    size_t dlen;
    char prefix[PATH_MAX];
    const char *slash = strrchr(shown, '/');
    dlen = slash ? (size_t)(slash - shown) + 1 : 0;
    if (dlen >= sizeof prefix)
        dlen = 0;
    memcpy(prefix, shown, dlen);
    prefix[dlen] = '\0';
    src fs = {.name = shown, .dir = dir, .display = prefix, .cfg = s->cfg};
    if ((rc = check_tags(&fs, tree, false)) == 0)
        rc = read_exec_yaml(&fs, tree, e, with);
    /* Nodes of TREE die with it: only the flow's nodes may be remembered. */
    e->name_node = NULL;
    e->type_node = NULL;
done:
    fh_yaml_destroy(&tree);
    free(buf);
    free(path);
    free(shown);
    free(dir);
    return rc;
}

/* ---- the graph: needs, floating, shards, polling ------------------------------------ */

/* The boolean value of KEY (node N) into *OUT; *OUT is kept when N is absent or null. */
static int get_bool(const src *s, const char *key, const fh_yaml_node *n, bool *out)
{
    scalar v;
    int rc = get_typed(s, key, n, FH_YAML_PLAIN_BOOL, "true or false", &v);
    if (rc <= 0)
        return rc;
    *out = v.b;
    return 0;
}

/* One polling value, the scalar N: ANY or ALL in any case, as Jina takes it. AT is where
 * a mistake is shown (N itself, or the string N was read from). */
static int polling_value(const src *s, const fh_yaml_node *n, const fh_yaml_node *at,
                         fh_polling *out)
{
    if (n->kind != FH_YAML_SCALAR)
        return err_at(s, at, FH_E_TYPE, "'polling' must be ANY or ALL, not %s",
                      node_name(n));
    scalar v;
    int rc = eval_scalar(s, n, &v);
    if (rc < 0)
        return rc;
    if (v.type == FH_YAML_PLAIN_STRING && strcasecmp(v.text, "any") == 0)
        *out = FH_POLLING_ANY;
    else if (v.type == FH_YAML_PLAIN_STRING && strcasecmp(v.text, "all") == 0)
        *out = FH_POLLING_ALL;
    else
        rc = err_at(s, at, FH_E_PARSE, "'polling' must be ANY or ALL, not %s",
                    fh_yaml_quote(v.text).s);
    free(v.text);
    return rc;
}

/* `polling` as a map by endpoint, the mapping M: '*' is every other endpoint. AT as in
 * polling_value (NULL: each entry's own node). */
static int polling_map(const src *s, const fh_yaml_node *m, const fh_yaml_node *at,
                       fh_flow_executor *x)
{
    if (m->n == 0)
        return err_at(s, at ? at : m, FH_E_PARSE,
                      "'polling' by endpoint names no endpoint: write ANY, ALL or "
                      "{'/search': ALL, '*': ANY}");
    if (!(x->pollings = calloc(m->n, sizeof *x->pollings)))
        return nomem();
    for (size_t k = 0; k < m->n; k++) {
        const fh_yaml_node *key = m->keys[k];
        fh_polling p = FH_POLLING_ANY; /* set by polling_value when it returns 0 */
        int rc = polling_value(s, m->items[k], at ? at : m->items[k], &p);
        if (rc < 0)
            return rc;
        if (strcmp(key->text, "*") == 0) {
            x->polling = p;
            continue;
        }
        if (key->text[0] != '/')
            return err_at(s, at ? at : key, FH_E_PARSE, "'polling' by endpoint: %s is not "
                          "an endpoint (they start with '/'; '*' is every other one)",
                          fh_yaml_quote(key->text).s);
        fh_flow_polling *e = &x->pollings[x->n_pollings];
        if (!(e->endpoint = strdup(key->text)))
            return nomem();
        e->polling = p;
        x->n_pollings++;
    }
    return 0;
}

/* `polling` (node N): ANY, ALL, a map by endpoint, or Jina's map written as a string
 * ("{'/index': ANY, '/search': ALL}", what Jina's command line takes). */
static int read_polling(const src *s, const fh_yaml_node *n, fh_flow_executor *x)
{
    if (n->kind == FH_YAML_MAPPING)
        return polling_map(s, n, NULL, x);
    if (n->kind != FH_YAML_SCALAR || n->text[0] != '{')
        return polling_value(s, n, n, &x->polling);
    fh_yaml_node *tree = NULL;
    if (fh_yaml_parse(n->text, n->len, s->name, &tree) < 0 || tree->kind != FH_YAML_MAPPING) {
        fh_yaml_destroy(&tree);
        return err_at(s, n, FH_E_PARSE, "'polling' must be ANY, ALL or a map by endpoint "
                      "such as {'/search': ALL, '*': ANY}, not %s", fh_yaml_quote(n->text).s);
    }
    int rc = polling_map(s, tree, n, x);
    fh_yaml_destroy(&tree);
    return rc;
}

/* floating, shards (Jina 2.0's `parallel`) and polling of the flow entry N. */
static int read_shards(const src *s, const fh_yaml_node *n, const char *where,
                       fh_flow_executor *x)
{
    const fh_yaml_node *sh, *pk, *p = fh_yaml_map_get(n, "polling", &pk);
    int rc = get_bool(s, "floating", fh_yaml_map_get(n, "floating", NULL), &x->floating);
    if (rc < 0 || (rc = get_aliased(s, n, "shards", "parallel", &sh)) < 0 ||
        (rc = get_int(s, "shards", sh, 1, FH_FLOW_MAX_SHARDS, &x->shards)) < 0)
        return rc;
    if (!p || is_null(p))
        return 0;
    if ((rc = read_polling(s, p, x)) < 0)
        return rc;
    /* Jina takes a polling on one shard and does nothing with it; so do we, saying so. */
    if (x->shards == 1)
        return warn_at(s, pk, "'polling' in %s does nothing with one shard (shards: 1)",
                       where);
    return 0;
}

/* The executor of CFG named NAME, or -1. */
static long find_executor(const fh_flow_config *cfg, const char *name)
{
    for (size_t j = 0; j < cfg->n_executors; j++)
        if (strcmp(cfg->executors[j].name, name) == 0)
            return (long)j;
    return -1;
}

/* "names no executor" for the need NAME (node N), with the nearest name if there is one
 * close enough, else the names there are. */
static int err_no_executor(const src *s, const fh_flow_config *cfg, const fh_yaml_node *n,
                           const char *name, const char *who)
{
    const char *best = "gateway";
    size_t best_d = levenshtein(name, best);
    for (size_t j = 0; j < cfg->n_executors; j++) {
        size_t d = levenshtein(name, cfg->executors[j].name);
        if (d < best_d) {
            best_d = d;
            best = cfg->executors[j].name;
        }
    }
    size_t len = strlen(name), limit = len / 3 > 2 ? len / 3 : 2;
    if (best_d <= limit)
        return err_at(s, n, FH_E_PARSE, "'needs' of '%s': no executor is named %s (did "
                      "you mean '%s'?)", who, fh_yaml_quote(name).s, best);
    /* A few names say what names look like; a long list would drown the line. */
    char list[400] = "";
    size_t used = 0, shown = cfg->n_executors < 8 ? cfg->n_executors : 8;
    for (size_t j = 0; j < shown; j++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "",
                                 cfg->executors[j].name);
    if (shown < cfg->n_executors)
        snprintf(list + used, sizeof list - used, ", ... (%zu in all)", cfg->n_executors);
    return err_at(s, n, FH_E_PARSE, "'needs' of '%s': no executor is named %s (the "
                  "executors: %s; 'gateway' is the start)", who, fh_yaml_quote(name).s, list);
}

/* The `needs` (node N, present and not null) of executor I. */
static int read_needs(const src *s, fh_flow_config *cfg, size_t i, const fh_yaml_node *n)
{
    fh_flow_executor *x = &cfg->executors[i];
    const fh_yaml_node *const *items = &n;
    size_t count = 1;
    if (n->kind == FH_YAML_SEQUENCE) {
        items = (const fh_yaml_node *const *)n->items;
        count = n->n;
    } else if (n->kind != FH_YAML_SCALAR) {
        return err_at(s, n, FH_E_TYPE, "'needs' must be an executor's name or a list of "
                      "them, not %s", node_name(n));
    }
    if (count && !(x->needs = malloc(count * sizeof *x->needs)))
        return nomem();
    const fh_yaml_node *gateway = NULL;
    for (size_t k = 0; k < count; k++) {
        const fh_yaml_node *it = items[k];
        char *name;
        if (it->kind != FH_YAML_SCALAR)
            return err_at(s, it, FH_E_TYPE, "'needs' must list executors' names, not %s",
                          node_name(it));
        int rc = get_string(s, "needs", it, &name);
        if (rc < 0)
            return rc;
        if (!name || !*name) {
            free(name);
            return err_at(s, it, FH_E_PARSE, "'needs' of '%s' lists an empty name", x->name);
        }
        long j = find_executor(cfg, name);
        if (strcmp(name, "gateway") == 0 && j < 0) {
            gateway = it;
        } else if (j < 0) {
            rc = err_no_executor(s, cfg, it, name, x->name);
        } else if ((size_t)j == i) {
            rc = err_at(s, it, FH_E_PARSE, "'%s' needs itself", x->name);
        } else if (cfg->executors[j].floating) {
            rc = err_at(s, it, FH_E_PARSE, "'%s' needs '%s', a floating executor: nobody "
                        "waits for a floating executor, so '%s' would never run (take '%s' "
                        "out of its needs, or make it not floating)", x->name, name, x->name,
                        name);
        } else {
            for (size_t m = 0; m < x->n_needs && rc == 0; m++)
                if (x->needs[m] == (size_t)j)
                    rc = err_at(s, it, FH_E_PARSE, "'needs' of '%s' names %s twice",
                                x->name, fh_yaml_quote(name).s);
            if (rc == 0)
                x->needs[x->n_needs++] = (size_t)j;
        }
        free(name);
        if (rc < 0)
            return rc;
    }
    /* An executor starts at the gateway, or runs after others and joins them: the
       gateway as one of several needs would be both. */
    if (gateway && x->n_needs > 0)
        return err_at(s, gateway, FH_E_PARSE, "'needs' of '%s' names 'gateway' and "
                      "executors: it either starts at the gateway or runs after the "
                      "executors; remove 'gateway'", x->name);
    return 0;
}

/* The needs of every executor (read_needs, or by default the executor declared before,
 * not counting floating ones, as in Jina), then the graph as a whole: no cycle. EX is
 * the list of flow entries. */
static int read_graph(const src *s, fh_flow_config *cfg, const fh_yaml_node *ex)
{
    size_t last = SIZE_MAX; /* the last executor that is not floating, so far */
    for (size_t i = 0; i < cfg->n_executors; i++) {
        fh_flow_executor *x = &cfg->executors[i];
        const fh_yaml_node *n = fh_yaml_map_get(ex->items[i], "needs", NULL);
        int rc;
        if (n && !is_null(n) && !(n->kind == FH_YAML_SEQUENCE && n->n == 0)) {
            if ((rc = read_needs(s, cfg, i, n)) < 0)
                return rc;
        } else if (last != SIZE_MAX) {
            /* Jina's default too, `needs: []` included: the executor before. */
            if (!(x->needs = malloc(sizeof *x->needs)))
                return nomem();
            x->needs[0] = last;
            x->n_needs = 1;
        }
        if (!x->floating)
            last = i;
    }
    size_t *cycle = malloc(cfg->n_executors * sizeof *cycle), m;
    if (!cycle)
        return nomem();
    int rc = fh_flow_graph_cycle(cfg->executors, cfg->n_executors, cycle, &m);
    if (rc == 0) {
        char text[600];
        size_t used = 0;
        for (size_t k = 0; k <= m && used < sizeof text; k++)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%s",
                                     k ? " -> " : "", cfg->executors[cycle[k % m]].name);
        if (used >= sizeof text)
            memcpy(text + sizeof text - 4, "...", 4);
        /* Shown at the needs of the first declared: it needs one declared later, so it
           has written needs. */
        const fh_yaml_node *at = fh_yaml_map_get(ex->items[cycle[0]], "needs", NULL);
        rc = err_at(s, at ? at : ex->items[cycle[0]], FH_E_PARSE, "'needs' make a cycle: %s "
                    "(each runs after the one before it)", text);
    } else if (rc == 1) {
        rc = 0;
    }
    free(cycle);
    return rc;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > MAX_NAME_LEN || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* ---- an executor served elsewhere: host, port, external, worker_key ----------------- */

/* Whether TEXT is HOST:PORT with a port of 1..65535 (HOST: a name, an IPv4 address, or
 * an IPv6 address in brackets). */
static bool host_port(const char *text)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || strlen(text) > 255)
        return false;
    if (text[0] == '[' ? colon[-1] != ']' : memchr(text, ':', (size_t)(colon - text)) != NULL)
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] >= '0' && colon[1] <= '9' && *end == '\0' && port >= 1 && port <= 65535 &&
           strcspn(text, " \t/") == strlen(text);
}

/* `host` (one host with `port`, or a list of HOST:PORT), `external` and `worker_key` of
 * the entry N into X. The count against replicas and shards is checked by
 * check_remote, once those are read. */
static int read_remote(const src *s, const fh_yaml_node *n, fh_flow_executor *x)
{
    const fh_yaml_node *hk, *pk, *ek, *p;
    const fh_yaml_node *h = fh_yaml_map_get(n, "host", &hk);
    const fh_yaml_node *e = fh_yaml_map_get(n, "external", &ek);
    const fh_yaml_node *wk = fh_yaml_map_get(n, "worker_key", NULL);
    bool external = false;
    int rc = get_aliased(s, n, "port", "port_in", &p); /* port_in: Jina 2's name */
    if (rc < 0 || (rc = get_bool(s, "external", e, &external)) < 0)
        return rc;
    if (fh_yaml_map_get(n, "port", &pk) == NULL)
        fh_yaml_map_get(n, "port_in", &pk);
    if (h == NULL || is_null(h)) {
        if (external)
            return err_at(s, ek, FH_E_PARSE, "'external: true' needs 'host' (and 'port'): "
                          "where the executor's worker listens");
        if (p != NULL && !is_null(p))
            return err_at(s, pk, FH_E_PARSE, "'port' needs 'host': the machine of the "
                          "executor's worker ('flowhost worker --listen')");
        if (wk != NULL && !is_null(wk))
            return err_at(s, wk, FH_E_PARSE, "'worker_key' needs 'host': it is the key of "
                          "a worker served elsewhere");
        return 0;
    }
    if (e != NULL && !is_null(e) && !external)
        return err_at(s, ek, FH_E_PARSE, "'external: false' contradicts 'host': an executor "
                      "with 'host' is served there (flowhost starts nothing on another "
                      "machine); remove 'external' or 'host'");
    if (h->kind == FH_YAML_MAPPING)
        return err_at(s, h, FH_E_TYPE, "'host' must be a string or a list of HOST:PORT "
                      "strings, not a mapping");
    size_t count = h->kind == FH_YAML_SEQUENCE ? h->n : 1;
    if (count == 0)
        return err_at(s, h, FH_E_PARSE, "'host' lists no worker");
    if (count > (size_t)FH_FLOW_MAX_REPLICAS * FH_FLOW_MAX_SHARDS)
        return err_at(s, h, FH_E_PARSE, "'host' lists %zu workers: at most %d", count,
                      FH_FLOW_MAX_REPLICAS * FH_FLOW_MAX_SHARDS);
    int port = 0;
    if (p != NULL && !is_null(p)) {
        if (h->kind == FH_YAML_SEQUENCE)
            return err_at(s, pk, FH_E_PARSE, "'port' goes with a single 'host'; a list of "
                          "hosts names each one's port: HOST:PORT");
        if ((rc = get_int(s, "port", p, 1, 65535, &port)) < 0)
            return rc;
    }
    if (!(x->hosts = calloc(count, sizeof *x->hosts)))
        return nomem();
    for (size_t i = 0; i < count; i++) {
        const fh_yaml_node *item = h->kind == FH_YAML_SEQUENCE ? h->items[i] : h;
        char *text = NULL;
        if (item->kind != FH_YAML_SCALAR || is_null(item))
            return err_at(s, item, FH_E_TYPE, "'host' entries must be strings, not %s",
                          node_name(item));
        if ((rc = get_string(s, "host", item, &text)) < 0)
            return rc;
        if (port > 0 && strchr(text, ':') == NULL && text[0] != '\0') {
            size_t len = strlen(text) + 8;
            char *hp = malloc(len);
            if (hp == NULL) {
                free(text);
                return nomem();
            }
            snprintf(hp, len, "%s:%d", text, port);
            free(text);
            text = hp;
        } else if (port > 0) {
            rc = err_at(s, pk, FH_E_PARSE, "'port' and a port in 'host' (%s): give one",
                        fh_yaml_quote(text).s);
            free(text);
            return rc;
        }
        if (!host_port(text)) {
            rc = err_at(s, item, FH_E_PARSE, "'host' %s is not HOST:PORT (a port of 1 to "
                        "65535: write 'port:' beside a single host)", fh_yaml_quote(text).s);
            free(text);
            return rc;
        }
        x->hosts[x->n_hosts++] = text;
    }
    if (wk != NULL && !is_null(wk)) {
        char *text = NULL, *path = NULL;
        if ((rc = get_string(s, "worker_key", wk, &text)) < 0)
            return rc;
        if (!text || !*text) {
            free(text);
            return err_at(s, wk, FH_E_PARSE, "'worker_key' must not be empty");
        }
        /* The key itself (40 characters of Z85), or its certificate's path. */
        if (strlen(text) != FH_KEY_TEXT || fh_public_key_load(text, x->worker_key) != 0) {
            path = resolve(s->dir, text);
            if (path == NULL) {
                free(text);
                return nomem();
            }
            rc = fh_public_key_load(path, x->worker_key);
            free(path);
            if (rc < 0) {
                free(text);
                return err_at(s, wk, rc, "worker_key: %s", fh_last_error());
            }
        }
        free(text);
        if (!fh_curve_available())
            return err_at(s, wk, FH_E_STATE, "worker_key: this libzmq cannot do CURVE (it is "
                                             "built without libsodium)");
        x->has_worker_key = true;
    }
    return 0;
}

/* A host entry, normalised (the host in lower case, the port as a number), with where
 * it came from. */
typedef struct host_seen {
    char key[300];
    size_t exec, entry;
} host_seen;

static int cmp_host_seen(const void *a, const void *b)
{
    const host_seen *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x->exec != y->exec ? (x->exec < y->exec ? -1 : 1)
                              : (x->entry < y->entry ? -1 : x->entry > y->entry);
}

/* The YAML node of entry K of the `host` of the flow entry N. */
static const fh_yaml_node *host_node(const fh_yaml_node *n, size_t k)
{
    const fh_yaml_node *h = fh_yaml_map_get(n, "host", NULL);
    return h != NULL && h->kind == FH_YAML_SEQUENCE && k < h->n ? h->items[k] : h;
}

/* One worker serves one gateway's worker at a time: an address listed twice (in one
 * executor or two) would be refused by the worker for the second, which the gateway
 * would then keep reconnecting, cutting the first's connection each time. Compared
 * normalised (HOST in lower case, PORT as a number: "Host:080" is "host:80"); names
 * that resolve alike ("localhost" and "127.0.0.1") are not seen here. */
static int check_hosts_unique(const src *s, const fh_flow_config *cfg, const fh_yaml_node *ex)
{
    size_t total = 0;
    for (size_t i = 0; i < cfg->n_executors; i++)
        total += cfg->executors[i].n_hosts;
    if (total < 2)
        return 0;
    host_seen *all = calloc(total, sizeof *all);
    if (all == NULL)
        return nomem();
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_executors; i++)
        for (size_t k = 0; k < cfg->executors[i].n_hosts; k++) {
            const char *text = cfg->executors[i].hosts[k];
            const char *colon = strrchr(text, ':'); /* host_port checked it */
            host_seen *h = &all[n++];
            size_t len = (size_t)(colon - text);
            for (size_t c = 0; c < len && c < sizeof h->key - 8; c++)
                h->key[c] = (char)tolower((unsigned char)text[c]);
            snprintf(h->key + strlen(h->key), 8, ":%ld", strtol(colon + 1, NULL, 10));
            h->exec = i;
            h->entry = k;
        }
    qsort(all, n, sizeof *all, cmp_host_seen);
    int rc = 0;
    for (size_t j = 1; j < n && rc == 0; j++) {
        if (strcmp(all[j - 1].key, all[j].key) != 0)
            continue;
        const host_seen *first = &all[j - 1], *again = &all[j];
        const fh_flow_executor *x = &cfg->executors[first->exec];
        rc = err_at(s, host_node(ex->items[again->exec], again->entry), FH_E_PARSE,
                    "'host' %s is listed twice (as %s of executor '%s' too): a worker serves "
                    "one replica of one flow; give each an address of its own",
                    fh_yaml_quote(cfg->executors[again->exec].hosts[again->entry]).s,
                    fh_yaml_quote(x->hosts[first->entry]).s, x->name);
    }
    free(all);
    return rc;
}

/* An executor served elsewhere lists shards * replicas workers: `replicas`, when given,
 * must agree, and is that count otherwise. */
static int check_remote(const src *s, const fh_yaml_node *n, fh_flow_executor *x)
{
    if (x->n_hosts == 0)
        return 0;
    const fh_yaml_node *rk, *r = fh_yaml_map_get(n, "replicas", &rk);
    const fh_yaml_node *h = fh_yaml_map_get(n, "host", NULL);
    size_t shards = (size_t)x->shards;
    if (x->n_hosts % shards != 0)
        return err_at(s, h, FH_E_PARSE, "'host' lists %zu workers for %zu shards: a worker "
                      "per replica of each shard, shard by shard (shards x replicas entries)",
                      x->n_hosts, shards);
    size_t replicas = x->n_hosts / shards;
    if (r != NULL && !is_null(r) && (size_t)x->replicas != replicas)
        return err_at(s, rk, FH_E_PARSE, "'replicas: %d' but 'host' lists %zu worker%s%s: "
                      "an executor served elsewhere has one replica per host listed",
                      x->replicas, x->n_hosts, x->n_hosts == 1 ? "" : "s",
                      shards > 1 ? " (per shard: its count divided by 'shards')" : "");
    if (replicas > FH_FLOW_MAX_REPLICAS)
        return err_at(s, h, FH_E_PARSE, "'host' lists %zu replicas per shard: at most %d",
                      replicas, FH_FLOW_MAX_REPLICAS);
    x->replicas = (int)replicas;
    return 0;
}

/* Reads the flow entry N (index I) into cfg->executors[I]; ORIGINS holds where the names
 * of the executors before it came from. */
static int read_executor(const src *s, fh_flow_config *cfg, size_t i,
                         const fh_yaml_node *n, name_origin *origins)
{
    fh_flow_executor *x = &cfg->executors[i];
    char where[64];
    snprintf(where, sizeof where, "executors[%zu]", i);
    x->timeout_ms = -1;
    x->replicas = 1;
    x->shards = 1;
    x->credit = FH_FLOW_DEFAULT_CREDIT;
    x->line = n->line;
    x->column = n->column;
    if (n->kind != FH_YAML_MAPPING)
        return err_at(s, n, FH_E_TYPE, "%s must be a mapping, not %s", where, node_name(n));
    int rc = check_keys(s, n, entry_keys, where, FH_JINA_EXECUTOR);
    if (rc < 0)
        return rc;
    /* Jina 2 named an external executor's port port_in (read_remote); without 'host' it
     * is one of Jina's internal ports, refused as the others. */
    const fh_yaml_node *pik;
    if (fh_yaml_map_get(n, "port_in", &pik) != NULL && fh_yaml_map_get(n, "host", NULL) == NULL)
        return err_at(s, pik, FH_E_PARSE, "'port_in' in %s is not supported: %s", where,
                      fh_jina_key_find(FH_JINA_EXECUTOR, "port_in")->why);
    /* Jina 2.0 spelt uses_with, uses_metas and uses_requests override_*. */
    const fh_yaml_node *uw, *um, *ur;
    if ((rc = get_aliased(s, n, "uses_with", "override_with", &uw)) < 0 ||
        (rc = get_aliased(s, n, "uses_metas", "override_metas", &um)) < 0 ||
        (rc = get_aliased(s, n, "uses_requests", "override_requests", &ur)) < 0)
        return rc;

    exec_yaml e = {0};
    char *entry_name = NULL, *meta = NULL, *entry_ws = NULL;
    const fh_yaml_node *name_node = NULL; /* where the chosen name is written */
    if (!(x->uses_with = fh_value_new_map()) || !(x->env = fh_value_copy(cfg->env))) {
        rc = nomem();
        goto done;
    }

    /* host, port, external, worker_key: served elsewhere, `uses` is the worker's */
    if ((rc = read_remote(s, n, x)) < 0)
        goto done;
    const fh_yaml_node *uk, *u = fh_yaml_map_get(n, "uses", &uk);
    if (x->n_hosts > 0 && u != NULL) {
        /* As Jina does for an external executor: the worker there loads what it loads. */
        if ((rc = warn_at(s, uk, "'uses' of an executor served elsewhere ('host') is "
                          "ignored: its worker loads what its own --uses names")) < 0)
            goto done;
        u = NULL;
    }

    /* uses */
    bool uses_file = false;
    if (u && u->kind == FH_YAML_MAPPING) {
        if ((rc = read_exec_yaml(s, u, &e, x->uses_with)) < 0)
            goto done;
    } else if (u && !is_null(u)) {
        char *text;
        if (u->kind != FH_YAML_SCALAR) {
            rc = err_at(s, u, FH_E_TYPE, "'uses' must be a string or a mapping, not %s",
                        node_name(u));
            goto done;
        }
        if ((rc = get_string(s, "uses", u, &text)) < 0)
            goto done;
        if (!text || !*text) /* expanded to nothing: the pass-through */
            ;
        else if (ends_with(text, ".so"))
            rc = find_plugin(s, u, text, &x->plugin);
        else if (ends_with(text, ".yml") || ends_with(text, ".yaml")) {
            rc = read_exec_file(s, u, text, &e, x->uses_with);
            uses_file = true;
        } else if (is_var_name(text, strlen(text))) {
            if (!(x->type = strdup(text)))
                rc = nomem();
        } else {
            rc = err_at(s, u, FH_E_PARSE,
                        "'uses' must be a plugin (.so), an executor YAML (.yml) or an "
                        "executor type name, not %s", fh_yaml_quote(text).s);
        }
        free(text);
        if (rc < 0)
            goto done;
    }
    if (e.type) {
        x->type = e.type;
        e.type = NULL;
    }
    if (e.plugin) {
        x->plugin = e.plugin;
        e.plugin = NULL;
    }
    x->description = e.description;
    x->workspace = e.workspace;
    e.description = e.workspace = NULL;
    x->requests = e.requests;
    x->n_requests = e.n_requests;
    x->has_requests = e.has_requests;
    e.requests = NULL;
    e.n_requests = 0;

    /* name, uses_with, uses_metas, uses_requests, env, timeout, on_error */
    const fh_yaml_node *en = fh_yaml_map_get(n, "name", NULL);
    if ((rc = get_string(s, "name", en, &entry_name)) < 0)
        goto done;
    if ((rc = merge_map(s, "uses_with", uw, x->uses_with)) < 0)
        goto done;
    const fh_yaml_node *um_name = NULL;
    if (um && !is_null(um)) {
        char w[96];
        snprintf(w, sizeof w, "%s.uses_metas", where);
        if ((rc = want_mapping(s, "uses_metas", um)) < 0 ||
            (rc = check_keys(s, um, uses_metas_keys, w, FH_JINA_METAS)) < 0)
            goto done;
        um_name = fh_yaml_map_get(um, "name", NULL);
        if ((rc = get_string(s, "name", um_name, &meta)) < 0)
            goto done;
        if (!meta)
            um_name = NULL;
        char *desc = NULL, *ws = NULL;
        if ((rc = get_string(s, "description", fh_yaml_map_get(um, "description", NULL),
                             &desc)) < 0)
            goto done;
        if (desc) {
            free(x->description);
            x->description = desc;
        }
        if ((rc = get_path(s, "workspace", fh_yaml_map_get(um, "workspace", NULL), &ws)) < 0)
            goto done;
        if (ws) {
            free(x->workspace);
            x->workspace = ws;
        }
    }
    if (ur && !is_null(ur)) {
        fh_flow_binding *b;
        size_t nb;
        if ((rc = get_requests(s, "uses_requests", ur, &b, &nb)) < 0)
            goto done;
        rc = merge_requests(&x->requests, &x->n_requests, b, nb);
        if (rc < 0)
            goto done;
        x->has_requests = true;
    }
    if ((rc = merge_env(s, fh_yaml_map_get(n, "env", NULL), x->env)) < 0)
        goto done;
    if ((rc = get_int(s, "timeout", fh_yaml_map_get(n, "timeout", NULL), 0, INT_MAX,
                      &x->timeout_ms)) < 0)
        goto done;
    if ((rc = get_int(s, "replicas", fh_yaml_map_get(n, "replicas", NULL), 1,
                      FH_FLOW_MAX_REPLICAS, &x->replicas)) < 0)
        goto done;
    if ((rc = get_int(s, "credit", fh_yaml_map_get(n, "credit", NULL), 1, FH_FLOW_MAX_CREDIT,
                      &x->credit)) < 0)
        goto done;
    if ((rc = get_batching(s, fh_yaml_map_get(n, "uses_dynamic_batching", NULL), x)) < 0)
        goto done;
    if ((rc = read_shards(s, n, where, x)) < 0 || (rc = check_remote(s, n, x)) < 0)
        goto done;
    const fh_yaml_node *wn = fh_yaml_map_get(n, "when", NULL);
    if (wn && !is_null(wn) &&
        (rc = fh_when_compile_yaml(wn, s->name, config_scalar, (void *)s, &x->when,
                                   &x->when_text)) < 0)
        goto done;
    const fh_yaml_node *oe = fh_yaml_map_get(n, "on_error", NULL);
    char *on_error;
    if ((rc = get_string(s, "on_error", oe, &on_error)) < 0)
        goto done;
    if (on_error) {
        if (!strcmp(on_error, "skip"))
            x->on_error = FH_ON_ERROR_SKIP;
        else if (!strcmp(on_error, "ignore"))
            x->on_error = FH_ON_ERROR_IGNORE;
        else
            rc = err_at(s, oe, FH_E_PARSE, "'on_error' must be 'skip' or 'ignore', not %s",
                        fh_yaml_quote(on_error).s);
        free(on_error);
        if (rc < 0)
            goto done;
    }
    if (!x->description && !(x->description = strdup(""))) {
        rc = nomem();
        goto done;
    }

    /* metas.name: uses_metas.name, metas.name of uses, name, type, executor<i> */
    const char *chosen;
    char fallback[32];
    if (meta) {
        chosen = meta;
        name_node = um_name;
    } else if (e.name) {
        chosen = e.name;
        name_node = uses_file ? u : (e.name_node ? e.name_node : u);
    } else if (entry_name) {
        chosen = entry_name;
        name_node = en;
    } else if (x->type) {
        chosen = x->type;
        name_node = uses_file ? u : (e.type_node ? e.type_node : u);
    } else {
        snprintf(fallback, sizeof fallback, "executor%zu", i);
        chosen = fallback;
        name_node = n;
    }
    if (!valid_name(chosen)) {
        rc = err_at(s, name_node, FH_E_PARSE,
                    "executor name %s must be 1 to %d characters of A-Z a-z 0-9 _ . -",
                    fh_yaml_quote(chosen).s, MAX_NAME_LEN);
        goto done;
    }
    if (strcmp(chosen, "gateway") == 0) { /* `needs: gateway` and routes name the gateway */
        rc = err_at(s, name_node, FH_E_PARSE,
                    "executor name 'gateway' is the flow's gateway (in 'needs' and routes): "
                    "choose another name");
        goto done;
    }
    /* The entry's workspace (Jina's runtime workspace) wins over metas.workspace, and
     * holds a folder per executor and replica, as with.workspace does. */
    if ((rc = get_path(s, "workspace", fh_yaml_map_get(n, "workspace", NULL), &entry_ws)) < 0)
        goto done;
    if (entry_ws) {
        size_t len = strlen(entry_ws) + strlen(chosen) + 2;
        char *ws = malloc(len);
        if (!ws) {
            rc = nomem();
            goto done;
        }
        snprintf(ws, len, "%s/%s", entry_ws, chosen);
        free(x->workspace);
        x->workspace = ws;
        x->workspace_per_replica = true;
    }
    origins[i].line = name_node->line;
    origins[i].column = name_node->column;
    for (size_t j = 0; j < i; j++) {
        if (strcmp(cfg->executors[j].name, chosen) == 0) {
            rc = err_at(s, name_node, FH_E_PARSE,
                        "duplicate executor name %s (first at %d:%d)",
                        fh_yaml_quote(chosen).s, origins[j].line, origins[j].column);
            goto done;
        }
    }
    if (!(x->name = strdup(chosen)))
        rc = nomem();
done:
    exec_yaml_free(&e);
    free(entry_name);
    free(entry_ws);
    free(meta);
    return rc;
}

/* ---- the client socket's door: connections and keys ---------------------------------- */

/* Adds the public key(s) named by the string node N (a key, a certificate, or a folder
 * of certificates: its files but hidden ones and *_secret) to CFG. */
static int add_client_keys(const src *s, fh_flow_config *cfg, const fh_yaml_node *n)
{
    char *text = NULL, *path = NULL;
    int rc = get_string(s, "client_keys", n, &text);
    if (rc < 0 || text == NULL)
        return rc < 0 ? rc : err_at(s, n, FH_E_TYPE, "'client_keys' entries must be strings");
    char key[FH_KEY_TEXT + 1];
    if (strlen(text) == FH_KEY_TEXT && fh_public_key_load(text, key) == 0) {
        free(text);
        return fh_flow_config_allow_key(cfg, key); /* the key itself */
    }
    path = resolve(s->dir, text);
    free(text);
    if (path == NULL)
        return nomem();
    struct stat st;
    if (stat(path, &st) != 0) {
        rc = err_at(s, n, FH_E_NOTFOUND, "client key '%s': %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        struct dirent **names;
        int count = scandir(path, &names, NULL, alphasort);
        if (count < 0)
            rc = err_at(s, n, FH_E_IO, "client keys '%s': %s", path, strerror(errno));
        for (int i = 0; i < count; i++) {
            const char *f = names[i]->d_name;
            size_t len = strlen(f);
            char file[PATH_MAX];
            if (rc == 0 && f[0] != '.' && !(len > 7 && strcmp(f + len - 7, "_secret") == 0) &&
                snprintf(file, sizeof file, "%s/%s", path, f) < (int)sizeof file &&
                stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
                if (fh_public_key_load(file, key) != 0)
                    rc = err_at(s, n, FH_E_PARSE, "%s", fh_last_error());
                else
                    rc = fh_flow_config_allow_key(cfg, key);
            }
            free(names[i]);
        }
        free(names);
    } else if (fh_public_key_load(path, key) != 0) {
        rc = err_at(s, n, FH_E_PARSE, "%s", fh_last_error());
    } else {
        rc = fh_flow_config_allow_key(cfg, key);
    }
    free(path);
    return rc;
}

/* with.max_connections, with.server_key, with.client_keys. */
static int read_door(const src *s, fh_flow_config *cfg, const fh_yaml_node *w)
{
    int rc = get_int(s, "max_connections", fh_yaml_map_get(w, "max_connections", NULL), 1,
                     1000000, &cfg->max_connections);
    const fh_yaml_node *sk = fh_yaml_map_get(w, "server_key", NULL);
    const fh_yaml_node *ck = fh_yaml_map_get(w, "client_keys", NULL);
    char *path = NULL;
    if (rc < 0 || (rc = get_path(s, "server_key", sk, &path)) < 0)
        return rc;
    if (path != NULL) {
        rc = fh_keypair_load(path, &cfg->server_key);
        free(path);
        if (rc < 0)
            return err_at(s, sk, rc, "server_key: %s", fh_last_error());
        if (!fh_curve_available())
            return err_at(s, sk, FH_E_STATE, "server_key: this libzmq cannot do CURVE (it is "
                                             "built without libsodium)");
        cfg->curve = true;
    }
    const fh_yaml_node *gk = fh_yaml_map_get(w, "gateway_key", NULL);
    path = NULL;
    if ((rc = get_path(s, "gateway_key", gk, &path)) < 0)
        return rc;
    if (path != NULL) {
        rc = fh_keypair_load(path, &cfg->gateway_key);
        free(path);
        path = NULL;
        if (rc < 0)
            return err_at(s, gk, rc, "gateway_key: %s", fh_last_error());
        if (!fh_curve_available())
            return err_at(s, gk, FH_E_STATE, "gateway_key: this libzmq cannot do CURVE (it "
                                             "is built without libsodium)");
        cfg->has_gateway_key = true;
    }
    bool has_ck = ck != NULL && !is_null(ck);
    if (cfg->curve != has_ck)
        return err_at(s, has_ck ? ck : sk, FH_E_PARSE, "%s",
                      has_ck ? "'client_keys' needs 'server_key' (the flow's own key pair)"
                             : "'server_key' needs 'client_keys' (the public keys of the "
                               "clients it lets in)");
    if (!has_ck)
        return 0;
    if (ck->kind == FH_YAML_MAPPING)
        return err_at(s, ck, FH_E_TYPE, "'client_keys' must be a string or a list of strings, "
                                        "not a mapping");
    size_t n = ck->kind == FH_YAML_SEQUENCE ? ck->n : 1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_client_keys(s, cfg, ck->kind == FH_YAML_SEQUENCE ? ck->items[i] : ck);
    if (rc == 0 && cfg->n_client_keys == 0)
        rc = err_at(s, ck, FH_E_PARSE, "'client_keys' names no key");
    return rc;
}

int fh_flow_config_allow_key(fh_flow_config *cfg, const char *key)
{
    if (!cfg->curve)
        return fh_set_error(FH_E_STATE, "the flow has no server_key: it lets every client in");
    char checked[FH_KEY_TEXT + 1];
    if (strlen(key) != FH_KEY_TEXT || fh_public_key_load(key, checked) != 0)
        return fh_set_error(FH_E_PARSE, "not a public key (40 characters of Z85)");
    for (size_t i = 0; i < cfg->n_client_keys; i++)
        if (strcmp(cfg->client_keys[i], checked) == 0)
            return 0;
    char (*keys)[FH_KEY_TEXT + 1] = realloc(cfg->client_keys,
                                           (cfg->n_client_keys + 1) * sizeof *keys);
    if (keys == NULL)
        return nomem();
    memcpy(keys[cfg->n_client_keys++], checked, sizeof checked);
    cfg->client_keys = keys;
    return 0;
}

/* ---- the flow ------------------------------------------------------------------------- */

/* One protocol the gateway serves: 0 flowhost's over ZeroMQ ('zmq', or Jina's 'grpc', in
 * whose place it stands), 1 HTTP; negative when N names none (an error). */
static int read_one_protocol(const src *s, const fh_yaml_node *n)
{
    char *p;
    int rc = get_string(s, "protocol", n, &p);
    if (rc < 0)
        return rc;
    if (!p)
        return err_at(s, n, FH_E_TYPE, "'protocol' must be 'zmq', 'http' or 'grpc', not null");
    if (strcasecmp(p, "zmq") == 0)
        rc = 0;
    else if (strcasecmp(p, "http") == 0)
        rc = 1;
    else if (strcasecmp(p, "grpc") == 0)
        rc = warn_at(s, n, "'protocol: %s' is read as 'zmq': flowhost's own protocol over "
                     "ZeroMQ (flowhost post, libflowhost) takes the place of gRPC", p);
    else if (strcasecmp(p, "websocket") == 0)
        rc = err_at(s, n, FH_E_PARSE, "'protocol: %s' is not supported: flowhost's gateway "
                    "speaks 'zmq' (its own protocol) and 'http'", p);
    else
        rc = err_at(s, n, FH_E_PARSE, "'protocol' must be 'zmq', 'http' or 'grpc', not %s",
                    fh_yaml_quote(p).s);
    free(p);
    return rc;
}

/* with.protocol and with.port, Jina 3's way: one protocol or a list of them, and one
 * port or a list of as many, the Nth port for the Nth protocol (a single port is the
 * first protocol's). The ZeroMQ socket is always served (flowhost's own clients need
 * it): on an ephemeral port when the protocols do not name it. Then port_http, restful,
 * and what only HTTP uses, which needs HTTP on. */
static int read_protocols(const src *s, fh_flow_config *cfg, const fh_yaml_node *w)
{
    const fh_yaml_node *pk, *p = fh_yaml_map_get(w, "protocol", &pk);
    const fh_yaml_node *port; /* Jina 2 calls the gateway's port port_expose */
    int rc = get_aliased(s, w, "port", "port_expose", &port);
    if (rc < 0)
        return rc;
    int kinds[2] = {0, -1}; /* the protocols in their order: zmq alone by default */
    size_t n = 1;
    if (p && !is_null(p)) {
        if (p->kind == FH_YAML_MAPPING)
            return err_at(s, p, FH_E_TYPE, "'protocol' must be a string or a list of strings, "
                          "not a mapping");
        n = p->kind == FH_YAML_SEQUENCE ? p->n : 1;
        if (n == 0 || n > 2)
            return err_at(s, p, FH_E_PARSE, "'protocol' must name 1 or 2 protocols ('zmq', "
                          "'http'), not %zu", n);
        for (size_t i = 0; i < n; i++) {
            const fh_yaml_node *item = p->kind == FH_YAML_SEQUENCE ? p->items[i] : p;
            if ((rc = read_one_protocol(s, item)) < 0)
                return rc;
            kinds[i] = rc;
            if (i == 1 && kinds[0] == kinds[1])
                return err_at(s, item, FH_E_PARSE, "'protocol' names %s twice",
                              rc ? "http" : "zmq (or grpc)");
        }
    }
    cfg->http = kinds[0] == 1 || kinds[1] == 1;
    if (port && port->kind == FH_YAML_SEQUENCE) {
        if (port->n != n)
            return err_at(s, port, FH_E_PARSE, "'port' lists %zu ports for %zu protocol%s: one "
                          "port per protocol, in the order of 'protocol'", port->n, n,
                          n == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            if ((rc = get_int(s, "port", port->items[i], 0, 65535,
                              kinds[i] ? &cfg->port_http : &cfg->port)) < 0)
                return rc;
    } else if ((rc = get_int(s, "port", port, 0, 65535,
                             kinds[0] ? &cfg->port_http : &cfg->port)) < 0) {
        return rc;
    }
    const fh_yaml_node *ph = fh_yaml_map_get(w, "port_http", NULL);
    if (ph && !is_null(ph)) {
        if (p && !is_null(p) && !cfg->http)
            return err_at(s, ph, FH_E_PARSE, "'port_http' needs 'http' in 'protocol'");
        if (cfg->http && cfg->port_http != 0)
            return err_at(s, ph, FH_E_PARSE, "'port_http' and 'port' both give the HTTP port: "
                          "keep one of them");
        if ((rc = get_int(s, "port_http", ph, 0, 65535, &cfg->port_http)) < 0)
            return rc;
        cfg->http = true;
    }
    /* Jina 2's switch for its HTTP gateway. */
    const fh_yaml_node *rk, *r = fh_yaml_map_get(w, "restful", &rk);
    bool restful = false;
    if ((rc = get_bool(s, "restful", r, &restful)) < 0)
        return rc;
    if (restful && p && !is_null(p) && !cfg->http)
        return err_at(s, rk, FH_E_PARSE, "'restful: true' and a 'protocol' without 'http' "
                      "disagree: keep one of them");
    cfg->http = cfg->http || restful;
    static const char *const http_only[] = {"ssl_certfile", "ssl_keyfile",
                                            "http_max_connections", "http_max_header_size",
                                            "http_read_timeout", "http_keep_alive",
                                            "http_timeout", NULL};
    for (const char *const *k = http_only; *k && !cfg->http; k++) {
        const fh_yaml_node *key;
        if (fh_yaml_map_get(w, *k, &key) != NULL)
            return err_at(s, key, FH_E_PARSE, "'%s' is an option of the HTTP gateway, which "
                          "is off: add 'protocol: [zmq, http]'", *k);
    }
    if (!cfg->http)
        return 0;
    const fh_yaml_node *ck, *c = fh_yaml_map_get(w, "ssl_certfile", &ck);
    const fh_yaml_node *kk, *k = fh_yaml_map_get(w, "ssl_keyfile", &kk);
    if ((rc = get_path(s, "ssl_certfile", c, &cfg->ssl_certfile)) < 0 ||
        (rc = get_path(s, "ssl_keyfile", k, &cfg->ssl_keyfile)) < 0)
        return rc;
    if ((cfg->ssl_certfile == NULL) != (cfg->ssl_keyfile == NULL))
        return err_at(s, cfg->ssl_certfile ? ck : kk, FH_E_PARSE, "'%s' needs '%s': TLS takes "
                      "the certificate and its key", cfg->ssl_certfile ? "ssl_certfile"
                      : "ssl_keyfile", cfg->ssl_certfile ? "ssl_keyfile" : "ssl_certfile");
    if ((rc = get_int(s, "http_max_connections", fh_yaml_map_get(w, "http_max_connections", NULL),
                      1, 65536, &cfg->http_max_connections)) < 0 ||
        (rc = get_int(s, "http_max_header_size", fh_yaml_map_get(w, "http_max_header_size", NULL),
                      4096, 16 << 20, &cfg->http_max_header_size)) < 0 ||
        (rc = get_int(s, "http_read_timeout", fh_yaml_map_get(w, "http_read_timeout", NULL),
                      100, 3600000, &cfg->http_read_timeout_ms)) < 0 ||
        (rc = get_bool(s, "http_keep_alive", fh_yaml_map_get(w, "http_keep_alive", NULL),
                       &cfg->http_keep_alive)) < 0 ||
        (rc = get_int(s, "http_timeout", fh_yaml_map_get(w, "http_timeout", NULL), 1,
                      86400000, &cfg->http_timeout_ms)) < 0)
        return rc;
    return 0;
}

static int read_with(const src *s, fh_flow_config *cfg, const fh_yaml_node *w)
{
    if (!w || is_null(w))
        return 0;
    int rc;
    if ((rc = want_mapping(s, "with", w)) < 0 ||
        (rc = check_keys(s, w, with_keys, "with", FH_JINA_FLOW_WITH)) < 0 ||
        (rc = read_protocols(s, cfg, w)) < 0)
        return rc;
    if ((rc = get_int(s, "prefetch", fh_yaml_map_get(w, "prefetch", NULL), 0, INT_MAX,
                      &cfg->prefetch)) < 0 ||
        (rc = get_int(s, "timeout_ready", fh_yaml_map_get(w, "timeout_ready", NULL), -1,
                      INT_MAX, &cfg->timeout_ready_ms)) < 0 ||
        (rc = get_int(s, "max_message_size", fh_yaml_map_get(w, "max_message_size", NULL), 1024,
                      INT_MAX, &cfg->max_message_size)) < 0 ||
        (rc = get_int(s, "max_inflight", fh_yaml_map_get(w, "max_inflight", NULL), 1, 65536,
                      &cfg->max_inflight)) < 0 ||
        (rc = get_int(s, "timeout_drain", fh_yaml_map_get(w, "timeout_drain", NULL), 0,
                      INT_MAX, &cfg->timeout_drain_ms)) < 0 ||
        (rc = get_bool(s, "monitoring", fh_yaml_map_get(w, "monitoring", NULL),
                       &cfg->monitoring)) < 0)
        return rc;
    const fh_yaml_node *h = fh_yaml_map_get(w, "host", NULL);
    char *host;
    if ((rc = get_string(s, "host", h, &host)) < 0)
        return rc;
    if (host) {
        if (!*host) {
            free(host);
            return err_at(s, h, FH_E_PARSE, "'host' must not be empty");
        }
        free(cfg->host);
        cfg->host = host;
    }
    if ((rc = get_path(s, "workspace", fh_yaml_map_get(w, "workspace", NULL),
                       &cfg->workspace)) < 0)
        return rc;
    if ((rc = merge_env(s, fh_yaml_map_get(w, "env", NULL), cfg->env)) < 0 ||
        (rc = read_door(s, cfg, w)) < 0)
        return rc;
    const fh_yaml_node *pp = fh_yaml_map_get(w, "plugin_path", NULL);
    if (!pp || is_null(pp))
        return 0;
    if (pp->kind == FH_YAML_MAPPING)
        return err_at(s, pp, FH_E_TYPE,
                      "'plugin_path' must be a string or a list of strings, not a mapping");
    size_t n = pp->kind == FH_YAML_SEQUENCE ? pp->n : 1;
    if (!(cfg->plugin_path = calloc(n ? n : 1, sizeof *cfg->plugin_path)))
        return nomem();
    for (size_t i = 0; i < n; i++) {
        const fh_yaml_node *item = pp->kind == FH_YAML_SEQUENCE ? pp->items[i] : pp;
        char *dir = NULL;
        if (item->kind != FH_YAML_SCALAR || is_null(item))
            return err_at(s, item, FH_E_TYPE, "'plugin_path' entries must be strings, not %s",
                          node_name(item));
        if ((rc = get_path(s, "plugin_path", item, &dir)) < 0)
            return rc;
        cfg->plugin_path[cfg->n_plugin_path++] = dir;
    }
    return 0;
}

/* The flow's version: Jina takes "MAJOR[.MINOR]" and falls back to the major version, so
 * '1.0', 1.0 and '1.2' are version 1. (Without a version, a flow is version 1 too: the
 * only one with 'executors:'. Jina 2 would read it with its legacy parser, which takes
 * 'pods:', refused by read_flow.) */
static int check_version(const src *s, const fh_yaml_node *v)
{
    int rc;
    if (v->kind != FH_YAML_SCALAR)
        return err_at(s, v, FH_E_TYPE, "'version' must be a string, not %s", node_name(v));
    scalar ver;
    if ((rc = eval_scalar(s, v, &ver)) < 0)
        return rc;
    const char *vt = ver.text;
    bool ok = (ver.type == FH_YAML_PLAIN_INT && ver.i == 1) ||
              ((ver.type == FH_YAML_PLAIN_STRING || ver.type == FH_YAML_PLAIN_DOUBLE) &&
               vt[0] == '1' && (vt[1] == '\0' || (vt[1] == '.' && vt[2] &&
               strspn(vt + 2, "0123456789") == strlen(vt + 2))));
    rc = 0;
    if (!ok)
        rc = err_at(s, v, FH_E_PARSE, "unsupported version %s (supported: '1', or '1.N')",
                    fh_yaml_quote(ver.text).s);
    free(ver.text);
    return rc < 0 ? rc : 0;
}

static int read_flow(const src *s, fh_flow_config *cfg, const fh_yaml_node *root)
{
    if (root->kind != FH_YAML_MAPPING)
        return err_at(s, root, FH_E_TYPE, "a flow must be a mapping, not %s",
                      node_name(root));
    const fh_yaml_node *pods_key, *pods = fh_yaml_map_get(root, "pods", &pods_key);
    if (pods && pods->kind != FH_YAML_SEQUENCE)
        return err_at(s, pods_key, FH_E_PARSE, "'pods' is Jina's legacy flow form, not "
                      "supported: write version: '1' and the executors as a list under "
                      "'executors:'");
    if (pods && fh_yaml_map_get(root, "executors", NULL))
        return err_at(s, pods_key, FH_E_PARSE, "'pods' is Jina 2.0's older name for "
                      "'executors': keep one of them");
    int rc = check_keys(s, root, flow_keys, "flow", NO_JINA);
    if (rc < 0 || (rc = check_tags(s, root, true)) < 0)
        return rc;

    char *jtype = NULL;
    const fh_yaml_node *j;
    if ((rc = get_type(s, root, &jtype, &j)) < 0)
        return rc;
    /* A file read as a flow is a flow: like Jina's Flow.load_config, take one without
     * its type as one. */
    if (jtype && strcmp(jtype, "Flow") != 0) {
        rc = err_at(s, j, FH_E_PARSE, "a flow's type must be 'Flow', not %s",
                    fh_yaml_quote(jtype).s);
        free(jtype);
        return rc;
    }
    free(jtype);

    /* Without a version, a flow is version 1: the only one with 'executors:' (Jina 2
     * would read it with its legacy parser, which takes 'pods:', refused above). */
    const fh_yaml_node *v = fh_yaml_map_get(root, "version", NULL);
    if (v && (rc = check_version(s, v)) < 0)
        return rc;

    if ((rc = read_with(s, cfg, fh_yaml_map_get(root, "with", NULL))) < 0)
        return rc;

    const fh_yaml_node *ex = flow_executors(root);
    if (!ex)
        return err_at(s, root, FH_E_PARSE,
                      "missing key 'executors' in flow (use 'executors: []' for none)");
    if (ex->kind != FH_YAML_SEQUENCE)
        return err_at(s, ex, FH_E_TYPE, "'executors' must be a list, not %s", node_name(ex));
    if (ex->n == 0)
        return 0;
    cfg->executors = calloc(ex->n, sizeof *cfg->executors);
    name_origin *origins = calloc(ex->n, sizeof *origins);
    if (!cfg->executors || !origins) {
        free(origins);
        return nomem();
    }
    for (size_t i = 0; i < ex->n && rc == 0; i++) {
        cfg->n_executors = i + 1; /* so that destroy frees a half-read entry */
        rc = read_executor(s, cfg, i, ex->items[i], origins);
    }
    free(origins);
    if (rc == 0)
        rc = read_graph(s, cfg, ex);
    if (rc == 0)
        rc = check_hosts_unique(s, cfg, ex);
    /* A worker's key makes the gateway a CURVE client: it needs its own key pair, whose
     * public half the worker lets in (--allow). */
    for (size_t i = 0; rc == 0 && i < cfg->n_executors; i++)
        if (cfg->executors[i].has_worker_key && !cfg->has_gateway_key)
            rc = err_at(s, fh_yaml_map_get(ex->items[i], "worker_key", NULL), FH_E_PARSE,
                        "'worker_key' needs the flow's 'gateway_key' (with: gateway_key: "
                        "PATH_secret): the gateway's own key pair, whose public key the "
                        "worker lets in with --allow");
    return rc;
}

static void free_executor(fh_flow_executor *x)
{
    for (size_t i = 0; i < x->n_batching; i++)
        free(x->batching[i].endpoint);
    free(x->batching);
    free(x->needs);
    for (size_t i = 0; i < x->n_pollings; i++)
        free(x->pollings[i].endpoint);
    free(x->pollings);
    fh_when_destroy(&x->when);
    free(x->when_text);
    free(x->name);
    free(x->plugin);
    free(x->type);
    fh_value_destroy(&x->uses_with);
    free(x->description);
    free(x->workspace);
    free_bindings(x->requests, x->n_requests);
    fh_value_destroy(&x->env);
    for (size_t i = 0; i < x->n_hosts; i++)
        free(x->hosts[i]);
    free(x->hosts);
}

void fh_flow_config_destroy(fh_flow_config **c)
{
    if (!c || !*c)
        return;
    fh_flow_config *cfg = *c;
    free(cfg->path);
    free(cfg->dir);
    free(cfg->host);
    free(cfg->ssl_certfile);
    free(cfg->ssl_keyfile);
    free(cfg->workspace);
    free(cfg->client_keys);
    explicit_bzero(&cfg->server_key, sizeof cfg->server_key);
    explicit_bzero(&cfg->gateway_key, sizeof cfg->gateway_key);
    for (size_t i = 0; i < cfg->n_plugin_path; i++)
        free(cfg->plugin_path[i]);
    free(cfg->plugin_path);
    fh_value_destroy(&cfg->env);
    for (size_t i = 0; i < cfg->n_executors; i++)
        free_executor(&cfg->executors[i]);
    free(cfg->executors);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
    *c = NULL;
}

/* Parses TEXT with DIR (absolute) and DISPLAY (see src) into a new config. */
static int parse(const char *text, size_t len, const char *name, const char *dir,
                 const char *display, fh_flow_config **out)
{
    fh_flow_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return nomem();
    cfg->timeout_ready_ms = 60000;
    cfg->max_message_size = FH_FLOW_DEFAULT_MAX_MESSAGE;
    cfg->max_inflight = FH_FLOW_DEFAULT_MAX_INFLIGHT;
    cfg->timeout_drain_ms = FH_FLOW_DEFAULT_TIMEOUT_DRAIN;
    cfg->max_connections = FH_FLOW_DEFAULT_MAX_CONNECTIONS;
    cfg->monitoring = true;
    cfg->http_max_connections = FH_FLOW_DEFAULT_HTTP_CONNECTIONS;
    cfg->http_max_header_size = FH_FLOW_DEFAULT_HTTP_HEADER;
    cfg->http_read_timeout_ms = FH_FLOW_DEFAULT_HTTP_READ_TIMEOUT;
    cfg->http_keep_alive = true;
    cfg->http_timeout_ms = FH_FLOW_DEFAULT_HTTP_TIMEOUT;
    cfg->path = strdup(name);
    cfg->dir = strdup(dir);
    cfg->host = strdup("127.0.0.1");
    cfg->env = fh_value_new_map();
    int rc = 0;
    if (!cfg->path || !cfg->dir || !cfg->host || !cfg->env)
        rc = nomem();
    fh_yaml_node *root = NULL;
    if (rc == 0)
        rc = fh_yaml_parse(text, len, name, &root);
    if (rc == 0) {
        src s = {.name = name, .dir = dir, .display = display, .cfg = cfg};
        rc = read_flow(&s, cfg, root);
    }
    fh_yaml_destroy(&root);
    if (rc < 0) {
        fh_flow_config_destroy(&cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int fh_flow_config_parse(const char *text, size_t len, const char *name, const char *dir,
                         fh_flow_config **out)
{
    if (!out)
        return fh_set_error(FH_E_INVAL, "fh_flow_config_parse: OUT is NULL");
    *out = NULL;
    if (!text)
        return fh_set_error(FH_E_INVAL, "fh_flow_config_parse: TEXT is NULL");
    if (!name)
        name = "<flow>";
    char cwd[PATH_MAX];
    char *abs;
    if (dir && dir[0] == '/') {
        abs = resolve("/", dir);
    } else {
        if (!getcwd(cwd, sizeof cwd))
            return fh_set_error(FH_E_IO, "getcwd: %s", strerror(errno));
        abs = resolve(cwd, dir ? dir : ".");
    }
    if (!abs)
        return nomem();
    size_t n = strlen(abs) + 2;
    char *display = malloc(n);
    if (!display) {
        free(abs);
        return nomem();
    }
    snprintf(display, n, "%s%s", abs, strcmp(abs, "/") ? "/" : "");
    int rc = parse(text, len, name, abs, display, out);
    free(display);
    free(abs);
    return rc;
}

int fh_flow_config_load(const char *path, fh_flow_config **out)
{
    if (!out)
        return fh_set_error(FH_E_INVAL, "fh_flow_config_load: OUT is NULL");
    *out = NULL;
    if (!path)
        return fh_set_error(FH_E_INVAL, "fh_flow_config_load: PATH is NULL");
    char *text = NULL;
    size_t len = 0;
    int rc = fh_read_file(path, &text, &len);
    if (rc < 0)
        return rc;
    char *real = realpath(path, NULL);
    if (!real) {
        rc = fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
        free(text);
        return rc;
    }
    *strrchr(real, '/') = '\0';
    if (!*real)
        strcpy(real, "/");
    /* Files it names are shown relative to how PATH was given. */
    const char *slash = strrchr(path, '/');
    size_t plen = slash ? (size_t)(slash - path) + 1 : 0;
    char *display = malloc(plen + 1);
    if (!display) {
        free(real);
        free(text);
        return nomem();
    }
    memcpy(display, path, plen);
    display[plen] = '\0';
    rc = parse(text, len, path, real, display, out);
    free(display);
    free(real);
    free(text);
    return rc;
}

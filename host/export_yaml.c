/* YAML text of a value tree through libyaml's emitter (export_yaml.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include <flowhost/error.h>

#include "export_yaml.h"

typedef struct sink {
    char *buf;
    size_t len, cap;
    int failed; /* out of memory while libyaml wrote */
} sink;

static int write_cb(void *data, unsigned char *bytes, size_t size)
{
    sink *s = data;
    if (s->len + size + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + size + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (b == NULL) {
            s->failed = 1;
            return 0;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, bytes, size);
    s->len += size;
    s->buf[s->len] = '\0';
    return 1;
}

/* Whether a YAML 1.1 reader would resolve the plain scalar S to a non-string: null,
 * bools of YAML 1.1 (Go's yaml.v2 behind kubectl still reads `on` and `y` as bools),
 * numbers in any of their forms (a leading digit, sign or dot is enough to quote: a
 * string that only looks like one costs two quotes), or nothing. */
static int looks_typed(const char *s)
{
    static const char *const words[] = {"null", "~", "true", "false", "yes", "no", "on",
                                        "off", "y", "n", NULL};
    if (*s == '\0')
        return 1;
    for (const char *const *w = words; *w; w++)
        if (strcasecmp(s, *w) == 0)
            return 1;
    if (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.')
        return 1;
    return 0;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
    if (!yaml_emitter_emit(e, ev))
        return fh_set_error(FH_E_IO, "export: YAML emitter: %s",
                            e->problem ? e->problem : "refused an event");
    return 0;
}

static int scalar(yaml_emitter_t *e, const char *text, yaml_scalar_style_t style, int plain_ok)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text),
                                      plain_ok, !plain_ok || style != YAML_PLAIN_SCALAR_STYLE,
                                      style))
        return fh_set_error(FH_E_NOMEM, "out of memory");
    return emit(e, &ev);
}

static int string(yaml_emitter_t *e, const char *s)
{
    if (strchr(s, '\n') != NULL)
        return scalar(e, s, YAML_LITERAL_SCALAR_STYLE, 0);
    if (looks_typed(s))
        return scalar(e, s, YAML_SINGLE_QUOTED_SCALAR_STYLE, 0);
    return scalar(e, s, YAML_ANY_SCALAR_STYLE, 1);
}

static int node(yaml_emitter_t *e, const fh_value *v)
{
    yaml_event_t ev;
    char num[64];
    int rc = 0;
    switch (fh_value_type(v)) {
    case FH_TYPE_NULL:
        return scalar(e, "null", YAML_PLAIN_SCALAR_STYLE, 1);
    case FH_TYPE_BOOL:
        return scalar(e, fh_value_bool(v, false) ? "true" : "false", YAML_PLAIN_SCALAR_STYLE, 1);
    case FH_TYPE_INT:
        snprintf(num, sizeof num, "%lld", (long long)fh_value_int(v, 0));
        return scalar(e, num, YAML_PLAIN_SCALAR_STYLE, 1);
    case FH_TYPE_DOUBLE: {
        double d = fh_value_double(v, 0);
        snprintf(num, sizeof num, "%.17g", d);
        if (strspn(num, "-0123456789") == strlen(num)) /* 3.0 stays a float */
            strcat(num, ".0");
        if (d != d || d - d != 0) /* NaN and infinities in YAML's spelling */
            snprintf(num, sizeof num, "%s", d != d ? ".nan" : d > 0 ? ".inf" : "-.inf");
        return scalar(e, num, YAML_PLAIN_SCALAR_STYLE, 1);
    }
    case FH_TYPE_STRING:
        return string(e, fh_value_string(v));
    case FH_TYPE_BYTES:
        return fh_set_error(FH_E_TYPE, "export: bytes have no YAML form here");
    case FH_TYPE_LIST:
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if ((rc = emit(e, &ev)) < 0)
            return rc;
        for (size_t i = 0; rc == 0 && i < fh_value_len(v); i++)
            rc = node(e, fh_list_at(v, i));
        if (rc < 0)
            return rc;
        yaml_sequence_end_event_initialize(&ev);
        return emit(e, &ev);
    case FH_TYPE_MAP:
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if ((rc = emit(e, &ev)) < 0)
            return rc;
        for (size_t i = 0; rc == 0 && i < fh_value_len(v); i++)
            if ((rc = string(e, fh_map_key_at(v, i))) == 0)
                rc = node(e, fh_map_value_at(v, i));
        if (rc < 0)
            return rc;
        yaml_mapping_end_event_initialize(&ev);
        return emit(e, &ev);
    }
    return fh_set_error(FH_E_TYPE, "export: unknown value type");
}

int fh_export_yaml(const fh_value *v, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    yaml_emitter_t e;
    if (!yaml_emitter_initialize(&e))
        return fh_set_error(FH_E_NOMEM, "out of memory");
    sink s = {0};
    yaml_emitter_set_output(&e, write_cb, &s);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1); /* no folding: a long command line stays one line */
    yaml_emitter_set_indent(&e, 2);
    yaml_event_t ev;
    int rc = 0;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if ((rc = emit(&e, &ev)) == 0) {
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        rc = emit(&e, &ev);
    }
    if (rc == 0)
        rc = node(&e, v);
    if (rc == 0) {
        yaml_document_end_event_initialize(&ev, 1);
        rc = emit(&e, &ev);
    }
    if (rc == 0) {
        yaml_stream_end_event_initialize(&ev);
        rc = emit(&e, &ev);
    }
    if (rc == 0 && !yaml_emitter_flush(&e))
        rc = fh_set_error(FH_E_IO, "export: YAML emitter: cannot flush");
    yaml_emitter_delete(&e);
    if (rc == 0 && s.failed)
        rc = fh_set_error(FH_E_NOMEM, "out of memory");
    if (rc < 0) {
        free(s.buf);
        return rc;
    }
    if (s.buf == NULL && !(s.buf = calloc(1, 1)))
        return fh_set_error(FH_E_NOMEM, "out of memory");
    *out = s.buf;
    *len = s.len;
    return 0;
}

int fh_export_write(const char *path, const fh_value *v, unsigned mode)
{
    char *text;
    size_t len;
    int rc = fh_export_yaml(v, &text, &len);
    if (rc < 0)
        return rc;
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        free(text);
        return fh_set_error(FH_E_IO, "%s: path too long", path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        free(text);
        return fh_set_error(FH_E_IO, "%s: %s", tmp, strerror(errno));
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    int err = done < len ? errno : 0;
    if (fchmod(fd, (mode_t)mode) != 0 && err == 0) /* whatever the umask left */
        err = errno;
    if (close(fd) != 0 && err == 0)
        err = errno;
    free(text);
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0) {
        unlink(tmp);
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(err ? err : EIO));
    }
    return 0;
}

char *fh_export_double_dollars_text(const char *s)
{
    size_t n = strlen(s), extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += s[i] == '$';
    char *t = malloc(n + extra + 1), *q = t;
    if (t == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '$')
            *q++ = '$';
        *q++ = s[i];
    }
    *q = '\0';
    return t;
}

fh_value *fh_export_double_dollars(const fh_value *v)
{
    switch (fh_value_type(v)) {
    case FH_TYPE_STRING: {
        char *t = fh_export_double_dollars_text(fh_value_string(v));
        fh_value *r = t ? fh_value_new_string(t) : NULL;
        free(t);
        return r;
    }
    case FH_TYPE_LIST: {
        fh_value *l = fh_value_new_list();
        for (size_t i = 0; l && i < fh_value_len(v); i++) {
            fh_value *item = fh_export_double_dollars(fh_list_at(v, i));
            if (item == NULL || fh_list_append(l, item) != 0)
                fh_value_destroy(&l);
        }
        return l;
    }
    case FH_TYPE_MAP: {
        fh_value *m = fh_value_new_map();
        for (size_t i = 0; m && i < fh_value_len(v); i++) {
            fh_value *item = fh_export_double_dollars(fh_map_value_at(v, i));
            if (item == NULL || fh_map_set(m, fh_map_key_at(v, i), item) != 0)
                fh_value_destroy(&m);
        }
        return m;
    }
    default:
        return fh_value_copy(v);
    }
}

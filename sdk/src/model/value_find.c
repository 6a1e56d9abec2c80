/* Typed lookups in maps, and the one numeric rule every typed getter follows: an int is
 * an int or a double of integral value within int64's range, a double is a double or an
 * int. Kept in one file so that fh_value_int, fh_map_get_int and fh_map_find_int cannot
 * drift apart. */
#include "pb.h"

#include <stdio.h>
#include <stdlib.h>

#include <flowhost/error.h>
#include <flowhost/value.h>

#define CV(v) FH_PB_CVALUE(v)

/* True with *OUT set when V counts as an int. -2^63 and 2^63 are exact doubles, so the
 * range test is exact; NaN fails both comparisons. */
static bool as_int(const fh_value *v, int64_t *out)
{
    switch (fh_value_type(v)) {
    case FH_TYPE_INT:
        *out = CV(v)->int_value;
        return true;
    case FH_TYPE_DOUBLE: {
        double d = CV(v)->double_value;
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
            d != (double)(int64_t)d)
            return false;
        *out = (int64_t)d;
        return true;
    }
    default:
        return false;
    }
}

static bool as_double(const fh_value *v, double *out)
{
    switch (fh_value_type(v)) {
    case FH_TYPE_DOUBLE:
        *out = CV(v)->double_value;
        return true;
    case FH_TYPE_INT:
        *out = (double)CV(v)->int_value;
        return true;
    default:
        return false;
    }
}

int64_t fh_value_int(const fh_value *v, int64_t dflt)
{
    int64_t i;
    return as_int(v, &i) ? i : dflt;
}

double fh_value_double(const fh_value *v, double dflt)
{
    double d;
    return as_double(v, &d) ? d : dflt;
}

/* Finds KEY in MAP: 0 with *V set, or the failure of the fh_map_find_* contract. */
static int find(const fh_value *map, const char *key, const fh_value **v)
{
    if (map == NULL)
        return fh_set_error(FH_E_NOTFOUND, "'%s' not found (no map)", key ? key : "(null)");
    if (fh_value_type(map) != FH_TYPE_MAP)
        return fh_set_error(FH_E_TYPE, "cannot look up '%s' in a %s, not a map",
                            key ? key : "(null)", fh_type_name(fh_value_type(map)));
    if ((*v = fh_map_get(map, key)) == NULL)
        return fh_set_error(FH_E_NOTFOUND, "'%s' not found", key ? key : "(null)");
    return 0;
}

/* D in its shortest usual form that reads back as D: 15 significant digits when they
 * do (0.1, not 0.10000000000000001), else 17, which always do. */
static void format_double(double d, char *buf, size_t size)
{
    snprintf(buf, size, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, size, "%.17g", d);
}

/* The FH_E_TYPE error for KEY holding V where WANTED was asked for. A double that is not
 * an int says its value: "3.5" tells more than "a double". */
static int wrong_type(const char *key, const fh_value *v, const char *wanted)
{
    fh_type t = fh_value_type(v);
    const char *article = t == FH_TYPE_INT ? "an" : "a";
    if (t == FH_TYPE_NULL)
        return fh_set_error(FH_E_TYPE, "'%s' is null, not %s", key, wanted);
    if (t == FH_TYPE_DOUBLE) {
        char d[40];
        format_double(CV(v)->double_value, d, sizeof d);
        return fh_set_error(FH_E_TYPE, "'%s' is a double (%s), not %s", key, d, wanted);
    }
    return fh_set_error(FH_E_TYPE, "'%s' is %s %s, not %s", key, article, fh_type_name(t), wanted);
}

int fh_map_find_int(const fh_value *map, const char *key, int64_t *out)
{
    const fh_value *v;
    int rc = find(map, key, &v);
    if (rc != 0)
        return rc;
    int64_t i;
    if (!as_int(v, &i))
        return wrong_type(key, v, "an int");
    *out = i;
    return 0;
}

int fh_map_find_double(const fh_value *map, const char *key, double *out)
{
    const fh_value *v;
    int rc = find(map, key, &v);
    if (rc != 0)
        return rc;
    double d;
    if (!as_double(v, &d))
        return wrong_type(key, v, "a number");
    *out = d;
    return 0;
}

int fh_map_find_bool(const fh_value *map, const char *key, bool *out)
{
    const fh_value *v;
    int rc = find(map, key, &v);
    if (rc != 0)
        return rc;
    if (fh_value_type(v) != FH_TYPE_BOOL)
        return wrong_type(key, v, "a bool");
    *out = CV(v)->bool_value != 0;
    return 0;
}

int fh_map_find_string(const fh_value *map, const char *key, const char **out)
{
    const fh_value *v;
    int rc = find(map, key, &v);
    if (rc != 0)
        return rc;
    if (fh_value_type(v) != FH_TYPE_STRING)
        return wrong_type(key, v, "a string");
    *out = CV(v)->string_value;
    return 0;
}

/* A list or a map, found as itself. */
static int find_container(const fh_value *map, const char *key, fh_type want,
                          const fh_value **out)
{
    const fh_value *v;
    int rc = find(map, key, &v);
    if (rc != 0)
        return rc;
    if (fh_value_type(v) != want)
        return wrong_type(key, v, want == FH_TYPE_LIST ? "a list" : "a map");
    *out = v;
    return 0;
}

int fh_map_find_list(const fh_value *map, const char *key, const fh_value **out)
{
    return find_container(map, key, FH_TYPE_LIST, out);
}

int fh_map_find_map(const fh_value *map, const char *key, const fh_value **out)
{
    return find_container(map, key, FH_TYPE_MAP, out);
}

/* The convenience getters go through fh_map_get, not find(): they must leave
 * fh_last_error() alone. */
int64_t fh_map_get_int(const fh_value *map, const char *key, int64_t dflt)
{
    return fh_value_int(fh_map_get(map, key), dflt);
}

double fh_map_get_double(const fh_value *map, const char *key, double dflt)
{
    return fh_value_double(fh_map_get(map, key), dflt);
}

bool fh_map_get_bool(const fh_value *map, const char *key, bool dflt)
{
    return fh_value_bool(fh_map_get(map, key), dflt);
}

const char *fh_map_get_string(const fh_value *map, const char *key, const char *dflt)
{
    const char *s = fh_value_string(fh_map_get(map, key));
    return s ? s : dflt;
}

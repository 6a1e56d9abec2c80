/* Building the value trees of manifests, first error kept (export_tree.h). */
#include "export_tree.h"

#include <flowhost/error.h>

static int nomem(void)
{
    return fh_set_error(FH_E_NOMEM, "out of memory");
}

fh_value *fh_tree_map(int *rc)
{
    fh_value *m = *rc ? NULL : fh_value_new_map();
    if (*rc == 0 && m == NULL)
        *rc = nomem();
    return m;
}

fh_value *fh_tree_list(int *rc)
{
    fh_value *l = *rc ? NULL : fh_value_new_list();
    if (*rc == 0 && l == NULL)
        *rc = nomem();
    return l;
}

fh_value *fh_tree_copy(const fh_value *v, int *rc)
{
    fh_value *c = *rc ? NULL : fh_value_copy(v);
    if (*rc == 0 && c == NULL)
        *rc = nomem();
    return c;
}

void fh_tree_put(fh_value *m, const char *key, fh_value *v, int *rc)
{
    if (*rc == 0 && (m == NULL || v == NULL || fh_map_set(m, key, v) != 0)) {
        *rc = nomem();
        return;
    }
    if (*rc != 0)
        fh_value_destroy(&v);
}

void fh_tree_put_s(fh_value *m, const char *key, const char *s, int *rc)
{
    fh_tree_put(m, key, *rc ? NULL : fh_value_new_string(s), rc);
}

void fh_tree_put_i(fh_value *m, const char *key, int64_t i, int *rc)
{
    fh_tree_put(m, key, *rc ? NULL : fh_value_new_int(i), rc);
}

void fh_tree_push(fh_value *l, fh_value *v, int *rc)
{
    if (*rc == 0 && (l == NULL || v == NULL || fh_list_append(l, v) != 0)) {
        *rc = nomem();
        return;
    }
    if (*rc != 0)
        fh_value_destroy(&v);
}

void fh_tree_push_s(fh_value *l, const char *s, int *rc)
{
    fh_tree_push(l, *rc ? NULL : fh_value_new_string(s), rc);
}

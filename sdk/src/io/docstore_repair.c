/* fh_docstore_check and fh_docstore_repair: what an operator runs on a docstore that
 * does not open (`flowhost docstore check|repair DIR`). Both read the log with the scan
 * of docstore_scan.c, which lists damage instead of failing on it; repair then drops what
 * is damaged by writing the documents that read back whole into a new log. */
#include "docstore_internal.h"

#include <string.h>

#include <flowhost/error.h>

/* Hands every finding of SC to FN, in offset order. */
static void deliver(const struct ds_scan *sc, fh_docstore_finding_fn fn, void *user)
{
    for (size_t i = 0; fn && i < sc->n_findings; i++) {
        const struct ds_finding *f = &sc->findings[i];
        fh_docstore_finding out = {.kind = f->kind, .offset = f->off, .length = f->len,
                                   .id = f->id, .what = f->what};
        fn(&out, user);
    }
}

static void fill_report(const fh_docstore *s, const struct ds_scan *sc, fh_docstore_report *r)
{
    size_t lost = 0;
    for (size_t k = 0; k < s->index.n_entries; k++)
        if (s->index.entries[k].id && s->index.entries[k].damaged)
            lost++;
    *r = (fh_docstore_report){.format = s->version,
                              .log_bytes = sc->size,
                              .documents = s->index.n_live - lost,
                              .damaged = sc->n_damaged,
                              .lost_documents = lost,
                              .unfinished_bytes = sc->size - sc->tail,
                              .stale = sc->stale};
}

int fh_docstore_check(const char *path, fh_docstore_finding_fn fn, void *user,
                      fh_docstore_report *out)
{
    fh_docstore *s = NULL;
    struct ds_scan sc;
    int rc = fh_ds_open(path, FH_DOCSTORE_READONLY, DS_OPEN_CHECK, &s, &sc);
    if (rc == 0) {
        deliver(&sc, fn, user);
        if (out)
            fill_report(s, &sc, out);
    }
    fh_ds_scan_free(&sc);
    fh_docstore_close(&s);
    return rc;
}

int fh_docstore_repair(const char *path, fh_docstore_finding_fn fn, void *user,
                       fh_docstore_report *out)
{
    fh_docstore *s = NULL;
    struct ds_scan sc;
    fh_docstore_report r;
    int rc = fh_ds_open(path, 0, DS_OPEN_REPAIR, &s, &sc);
    if (rc < 0)
        goto done;
    deliver(&sc, fn, user);
    fill_report(s, &sc, &r);
    if (sc.n_damaged || s->version == FH_DS_V1) {
        /* A document whose latest record is damaged goes: an older version of it would
         * bring back what its owner had replaced. */
        for (size_t k = 0; k < s->index.n_entries; k++)
            if (s->index.entries[k].id && s->index.entries[k].damaged)
                fh_ds_index_remove(&s->index, k);
        rc = fh_ds_rewrite(s, sc.n_damaged > 0);
        r.rewritten = rc == 0;
        r.kept_old = rc == 0 && sc.n_damaged > 0;
    } else if (sc.tail < sc.size) {
        rc = fh_ds_cut_tail(s);
    }
    if (out)
        *out = r;
done:
    fh_ds_scan_free(&sc);
    fh_docstore_close(&s);
    return rc;
}

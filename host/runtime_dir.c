/* Private runtime directory: see runtime_dir.h. */
#define _GNU_SOURCE
#include "runtime_dir.h"

#include <ftw.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flowhost/error.h>

int fh_runtime_dir_create(char **out)
{
    const char *base = getenv("XDG_RUNTIME_DIR");
    if (base == NULL || base[0] == '\0' || access(base, W_OK) != 0)
        base = "/tmp";
    char *tmpl;
    if (asprintf(&tmpl, "%s/flowhost-XXXXXX", base) < 0)
        return fh_set_error(FH_E_NOMEM, "out of memory");
    /* mkdtemp makes the directory with mode 0700. */
    if (mkdtemp(tmpl) == NULL) {
        int err = errno;
        free(tmpl);
        return fh_set_error(FH_E_IO, "cannot create a runtime directory in %s: %s", base,
                            strerror(err));
    }
    *out = tmpl;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void fh_runtime_dir_remove(const char *dir)
{
    /* Depth first, not following symlinks: only what the flow made goes. */
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

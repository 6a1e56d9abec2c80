/* Key and certificate files for `flowhost export`'s Secrets (export_keys.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "export_keys.h"

#define MAX_FILE (1 << 20)

int fh_export_read_file(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    char *buf = malloc(MAX_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        return fh_set_error(FH_E_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, MAX_FILE + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > MAX_FILE) {
        free(buf);
        return fh_set_error(FH_E_IO, "%s: %s", path,
                            bad ? "cannot read it" : "larger than 1 MiB: not a key or certificate");
    }
    if (memchr(buf, '\0', n) != NULL) {
        free(buf);
        return fh_set_error(FH_E_IO, "%s: holds NUL bytes: not a key or certificate", path);
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* Reads PATH_secret and PATH into *SECRET, *PUBLIC_, after checking the pair loads. */
static int read_pair(const char *path, char **secret, char **public_)
{
    char sec[4096];
    if (snprintf(sec, sizeof sec, "%s_secret", path) >= (int)sizeof sec)
        return fh_set_error(FH_E_INVAL, "%s: path too long", path);
    fh_keypair kp;
    int rc = fh_keypair_load(sec, &kp);
    memset(&kp, 0, sizeof kp);
    if (rc < 0)
        return rc;
    if ((rc = fh_export_read_file(sec, secret)) < 0)
        return rc;
    if ((rc = fh_export_read_file(path, public_)) < 0) {
        free(*secret);
        *secret = NULL;
    }
    return rc;
}

int fh_export_key_files(const char *dir, const char *name, char **secret, char **public_)
{
    *secret = *public_ = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fh_set_error(FH_E_IO, "%s: cannot make it: %s", dir, strerror(errno));
    char path[4096], sec[4096 + 8];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return fh_set_error(FH_E_INVAL, "%s: path too long", dir);
    snprintf(sec, sizeof sec, "%s_secret", path);
    if (access(sec, F_OK) != 0) {
        fh_keypair kp;
        int rc = fh_keypair_generate(&kp);
        if (rc == 0)
            rc = fh_keypair_save(&kp, path);
        memset(&kp, 0, sizeof kp);
        if (rc < 0)
            return rc;
    }
    return read_pair(path, secret, public_);
}

/* Removes the lines of TEXT that start with '#': the certificate's header comment holds
 * the time it was written, and an export must give the same bytes every time. */
static void drop_comments(char *text)
{
    char *out = text;
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) + 1 : strlen(p);
        if (*p != '#') {
            memmove(out, p, n);
            out += n;
        }
        p += n;
    }
    *out = '\0';
}

int fh_export_key_texts(const fh_keypair *kp, char **secret, char **public_)
{
    *secret = *public_ = NULL;
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200], sec[4300];
    if (snprintf(dir, sizeof dir, "%s/flowhost-export.XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
        (int)sizeof dir)
        return fh_set_error(FH_E_INVAL, "TMPDIR too long");
    if (mkdtemp(dir) == NULL)
        return fh_set_error(FH_E_IO, "%s: cannot make a temporary folder: %s", dir,
                            strerror(errno));
    snprintf(path, sizeof path, "%s/key", dir);
    snprintf(sec, sizeof sec, "%s_secret", path);
    int rc = fh_keypair_save(kp, path);
    if (rc == 0)
        rc = read_pair(path, secret, public_);
    if (rc == 0) {
        drop_comments(*secret);
        drop_comments(*public_);
    }
    unlink(sec);
    unlink(path);
    rmdir(dir);
    return rc;
}

/* CURVE keys and their files: see keys.h. */
#define _GNU_SOURCE
#include <flowhost/keys.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <flowhost/error.h>

/* A certificate is a few hundred bytes: a larger file is not one. */
#define CERT_MAX 16384

bool fh_curve_available(void) { return zmq_has("curve") != 0; }

int fh_keypair_generate(fh_keypair *out)
{
    if (!fh_curve_available() || zmq_curve_keypair(out->public_key, out->secret_key) != 0)
        return fh_set_error(FH_E_STATE, "this libzmq cannot do CURVE (it is built without "
                                        "libsodium)");
    return 0;
}

/* Whether S (FH_KEY_TEXT characters) is a key in Z85. */
static bool is_z85_key(const char *s)
{
    uint8_t bin[32];
    char copy[FH_KEY_TEXT + 1];
    memcpy(copy, s, FH_KEY_TEXT);
    copy[FH_KEY_TEXT] = '\0';
    return strlen(copy) == FH_KEY_TEXT && zmq_z85_decode(bin, copy) != NULL;
}

static int write_cert(const char *path, mode_t mode, const fh_keypair *kp, bool secret)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&now, &tm));
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        int err = errno;
        close(fd);
        unlink(path);
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(err));
    }
    fprintf(f, "#   ****  Generated on %s UTC by flowhost  ****\n", when);
    if (secret)
        fprintf(f, "#   ZeroMQ CURVE **Secret** Certificate\n"
                   "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n");
    else
        fprintf(f, "#   ZeroMQ CURVE Public Certificate\n"
                   "#   Exchange securely, or use a secure mechanism to verify the contents\n"
                   "#   of this file after exchange.\n");
    fprintf(f, "\nmetadata\ncurve\n    public-key = \"%s\"\n", kp->public_key);
    if (secret)
        fprintf(f, "    secret-key = \"%s\"\n", kp->secret_key);
    if (ferror(f) | (fclose(f) != 0)) {
        unlink(path);
        return fh_set_error(FH_E_IO, "%s: cannot write it", path);
    }
    return 0;
}

int fh_keypair_save(const fh_keypair *kp, const char *path)
{
    char secret[4096];
    if ((size_t)snprintf(secret, sizeof secret, "%s_secret", path) >= sizeof secret)
        return fh_set_error(FH_E_INVAL, "key file path too long");
    /* The secret first, private from its first byte (O_CREAT with 0600, O_EXCL). */
    int rc = write_cert(secret, 0600, kp, true);
    if (rc == 0 && (rc = write_cert(path, 0644, kp, false)) != 0) {
        char why[1100];
        snprintf(why, sizeof why, "%s", fh_last_error());
        unlink(secret);
        fh_set_error(rc, "%s", why);
    }
    return rc;
}

/* Reads the file at PATH (a certificate: at most CERT_MAX bytes) into BUF; *MODE (may be
 * NULL) gets its permissions. Returns 0, FH_E_IO or FH_E_PARSE. */
static int read_cert(const char *path, char *buf, size_t size, mode_t *mode)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = fh_set_error(FH_E_IO, "%s: not a regular file", path);
    else if (st.st_size >= (off_t)size)
        rc = fh_set_error(FH_E_PARSE, "%s: not a key certificate (%lld bytes)", path,
                          (long long)st.st_size);
    ssize_t n = rc == 0 ? read(fd, buf, size - 1) : 0;
    if (rc == 0 && n < 0)
        rc = fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    close(fd);
    if (rc == 0)
        buf[n] = '\0';
    if (mode != NULL && rc == 0)
        *mode = st.st_mode;
    return rc;
}

/* The value of `NAME = "..."` in the certificate TEXT, into OUT. Returns 1 found and
 * well-formed, 0 absent, -1 present but not a key. */
static int cert_value(const char *text, const char *name, char out[FH_KEY_TEXT + 1])
{
    size_t nlen = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, name, nlen) != 0)
            continue;
        p += nlen;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '"')
            return -1;
        const char *end = strchr(p, '"');
        if (end == NULL || end - p != FH_KEY_TEXT || !is_z85_key(p))
            return -1;
        memcpy(out, p, FH_KEY_TEXT);
        out[FH_KEY_TEXT] = '\0';
        return 1;
    }
    return 0;
}

int fh_keypair_load(const char *path, fh_keypair *out)
{
    char text[CERT_MAX];
    mode_t mode = 0;
    int rc = read_cert(path, text, sizeof text, &mode);
    int s = rc == 0 ? cert_value(text, "secret-key", out->secret_key) : 1;
    if (rc == 0 && s <= 0)
        rc = fh_set_error(FH_E_PARSE, "%s: %s", path,
                          s < 0 ? "its secret-key is not 40 characters of Z85"
                                : "no secret-key in it (a secret certificate, PATH_secret, "
                                  "as `flowhost keygen PATH` writes it, is needed here)");
    if (rc == 0 && (mode & (S_IRWXG | S_IRWXO)))
        rc = fh_set_error(FH_E_IO, "%s: a secret key must be readable by its owner only "
                                   "(chmod 600 %s)", path, path);
    char stated[FH_KEY_TEXT + 1] = "";
    int p = rc == 0 ? cert_value(text, "public-key", stated) : 0;
    explicit_bzero(text, sizeof text);
    if (rc == 0 && zmq_curve_public(out->public_key, out->secret_key) != 0)
        rc = fh_set_error(FH_E_STATE, "this libzmq cannot do CURVE (it is built without "
                                      "libsodium)");
    if (rc == 0 && (p < 0 || (p > 0 && strcmp(stated, out->public_key) != 0)))
        rc = fh_set_error(FH_E_PARSE, "%s: its public-key does not belong to its secret-key",
                          path);
    if (rc != 0) /* no part of a secret stays behind in the caller's memory */
        explicit_bzero(out, sizeof *out);
    return rc;
}

int fh_public_key_load(const char *key, char out[FH_KEY_TEXT + 1])
{
    if (strlen(key) == FH_KEY_TEXT && is_z85_key(key) && access(key, F_OK) != 0) {
        memcpy(out, key, FH_KEY_TEXT + 1);
        return 0;
    }
    char text[CERT_MAX];
    int rc = read_cert(key, text, sizeof text, NULL);
    if (rc != 0)
        return rc;
    int p = cert_value(text, "public-key", out);
    if (p > 0)
        return 0;
    /* A file of just the key (and white space). */
    char *s = text;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strcspn(s, " \t\r\n");
    char *rest = s + n;
    while (*rest == ' ' || *rest == '\t' || *rest == '\n' || *rest == '\r')
        rest++;
    if (p == 0 && n == FH_KEY_TEXT && *rest == '\0' && is_z85_key(s)) {
        memcpy(out, s, FH_KEY_TEXT);
        out[FH_KEY_TEXT] = '\0';
        return 0;
    }
    return fh_set_error(FH_E_PARSE, "%s: no public key in it (a certificate with public-key = "
                                    "\"...\", or 40 characters of Z85)", key);
}

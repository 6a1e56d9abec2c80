/* Log lines of the host and of the executors, as text or as JSON (log.h). */
#define _GNU_SOURCE
#include "log.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "warning", "error"};

const char *fh_log_level_name(fh_log_level level)
{
    return level >= FH_LOG_DEBUG && level <= FH_LOG_ERROR ? level_names[level] : "info";
}

bool fh_log_json(void)
{
    static int json = -1; /* read once: the format does not change while a process runs */
    if (json < 0) {
        const char *f = getenv("FLOWHOST_LOG_FORMAT");
        json = f != NULL && strcmp(f, "json") == 0;
    }
    return json == 1;
}

/* A non-negative number from the environment variable NAME, or -1. */
static long env_number(const char *name)
{
    const char *v = getenv(name);
    char *end;
    if (v == NULL || *v == '\0')
        return -1;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n >= 0 ? n : -1;
}

void fh_log_emit(const char *executor, fh_log_level level, const char *request_id,
                 const char *message)
{
    if (!fh_log_json()) {
        if (executor != NULL)
            fprintf(stderr, "%s [%s] %s\n", executor, fh_log_level_name(level), message);
        else
            fprintf(stderr, "flowhost: %s\n", message);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
    json_t *o = json_object();
    if (o == NULL)
        return;
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "level", json_string(fh_log_level_name(level)));
    if (executor != NULL) {
        json_object_set_new(o, "executor", json_stringn(executor, strlen(executor)));
        long replica = env_number("FLOWHOST_REPLICA"), shard = env_number("FLOWHOST_SHARD");
        if (replica >= 0)
            json_object_set_new(o, "replica", json_integer(replica));
        if (shard > 0)
            json_object_set_new(o, "shard", json_integer(shard));
    } else {
        json_object_set_new(o, "component", json_string("host"));
    }
    if (request_id != NULL)
        json_object_set_new(o, "request_id", json_stringn(request_id, strlen(request_id)));
    /* A message that is not UTF-8 is kept, its bad bytes replaced, not dropped. */
    json_t *m = json_stringn(message, strlen(message));
    if (m == NULL) {
        char *fixed = strdup(message);
        for (char *p = fixed; p != NULL && *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        m = json_string(fixed != NULL ? fixed : "(unprintable)");
        free(fixed);
    }
    json_object_set_new(o, "message", m);
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (line != NULL) {
        fprintf(stderr, "%s\n", line); /* one write a line: lines of processes do not mix */
        free(line);
    }
}

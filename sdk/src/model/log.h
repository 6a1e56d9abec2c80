/* Internal: the log lines of the host and of the executors' workers.
 *
 * Text by default: "flowhost: MESSAGE" for the host, "EXECUTOR [LEVEL] MESSAGE" for an
 * executor. With FLOWHOST_LOG_FORMAT=json (`flowhost run --log-format json`, inherited by
 * the workers), one JSON object a line, to be shipped as it is: {"time" (UTC, ISO 8601,
 * microseconds), "level", "executor" (or "component": "host"), "replica" and "shard" (from
 * the worker's FLOWHOST_REPLICA / FLOWHOST_SHARD, the shard when there are several),
 * "request_id" (when a request is being handled), "message"}. Each line is written
 * whole with one call, so the lines of several processes on one stderr do not mix. */
#ifndef FH_SDK_LOG_H
#define FH_SDK_LOG_H

#include <stdbool.h>

#include <flowhost/executor.h>

/* Whether lines are JSON (FLOWHOST_LOG_FORMAT=json, read once). */
bool fh_log_json(void);

/* "debug", "info", "warning" or "error" (a static string). */
const char *fh_log_level_name(fh_log_level level);

/* Writes one line: MESSAGE of EXECUTOR (NULL: the host) at LEVEL, handling REQUEST_ID
 * (may be NULL). Never fails: a line that cannot be built is dropped. */
void fh_log_emit(const char *executor, fh_log_level level, const char *request_id,
                 const char *message);

#endif

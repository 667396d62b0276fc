/* Structured JSON-lines logging to stderr, one object per line:
 *   {"ts":"2026-11-23T11:30:00.123Z","level":"info","event":"lease","job_id":"..."}
 * Fields are given as NULL-terminated key/value string pairs; values are
 * JSON-escaped. Never pass a token or a password as a value. Thread-safe
 * (one write(2) per line). */
#ifndef DP_LOG_H
#define DP_LOG_H

#include "common/err.h"

typedef enum { DP_LOG_DEBUG = 0, DP_LOG_INFO, DP_LOG_WARN, DP_LOG_ERROR } dp_log_level;

/* Lines below this level are dropped; default INFO, or DISPATCH_LOG_LEVEL. */
void dp_log_set_level(dp_log_level level);

/* Reads DISPATCH_LOG_LEVEL (debug, info, warn, error; unset: info): a
 * program calls it with its other configuration, so a bad value stops it
 * with a line naming the variable (DP_EINVAL). */
int dp_log_configure(dp_err *err);

/* dp_log(DP_LOG_INFO, "lease", "job_id", id, "runner_id", rid, (char *)NULL); */
void dp_log(dp_log_level level, const char *event, ...);

#endif

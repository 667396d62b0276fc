/* Structured JSON-lines logging to stderr, one object per line:
 *   {"ts":"2026-11-23T11:30:00.123Z","level":"info","event":"lease","job_id":"..."}
 * Fields are given as NULL-terminated key/value string pairs; values are
 * JSON-escaped. Never pass a token or a password as a value. Thread-safe
 * (one write(2) per line). */
#ifndef DP_LOG_H
#define DP_LOG_H

typedef enum { DP_LOG_DEBUG = 0, DP_LOG_INFO, DP_LOG_WARN, DP_LOG_ERROR } dp_log_level;

/* Lines below this level are dropped; default INFO, or DISPATCH_LOG_LEVEL. */
void dp_log_set_level(dp_log_level level);

/* dp_log(DP_LOG_INFO, "lease", "job_id", id, "runner_id", rid, (char *)NULL); */
void dp_log(dp_log_level level, const char *event, ...);

#endif

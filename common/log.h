/* Structured JSON-lines logging to stderr, one object per line:
 *   {"ts":"2026-11-23T11:30:00.123Z","level":"info","event":"lease","job_id":"..."}
 * Fields are given as NULL-terminated key/value string pairs; values are
 * JSON-escaped. Never pass a token or a password as a value. Thread-safe
 * (one write(2) per line, or per held batch of lines: dp_log_hold). */
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

/* Holding, per thread: from dp_log_hold on, this thread's lines below WARN
 * wait in a buffer of the thread's and go out together, in one write(2),
 * at dp_log_release, or first when they would pass PIPE_BUF (a write a
 * pipe keeps whole). A WARN or ERROR line writes what waits, then itself,
 * so the order stays. For an actor that handles a burst of messages, each
 * worth a line: it holds while more messages wait and releases when its
 * queue runs empty (the batching of every other boundary, for its log). A
 * crash loses the lines still held. */
void dp_log_hold(void);
void dp_log_release(void);

#endif

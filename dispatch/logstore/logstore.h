/* The log store: where dispatchd keeps each job's whole log, by URL
 * template through libcurl. "{job_id}" and "{attempt}" in the template are
 * replaced. file:///... by default (directories are created); https:// to
 * an S3-compatible store is signed with AWS SigV4 (CURLOPT_AWS_SIGV4) when
 * DISPATCH_LOG_STORE_KEY / DISPATCH_LOG_STORE_SECRET / DISPATCH_LOG_STORE_REGION
 * are set. Credentials never appear in URLs, logs or errors. */
#ifndef DP_LOGSTORE_H
#define DP_LOGSTORE_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct logstore logstore;

/* template is copied; validated (scheme file, http or https; must contain
 * {job_id}). */
logstore *logstore_open(const char *url_template, dp_err *err);
void logstore_close(logstore *ls);

/* Writes len bytes; url_out (len url_len) gets the object's URL. */
int logstore_put(logstore *ls, const char *job_id, uint32_t attempt, const void *data, size_t len,
                 char *url_out, size_t url_len, dp_err *err);

#endif

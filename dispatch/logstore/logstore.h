/* The log store: where dispatchd keeps each job's whole log, by URL
 * template through libcurl. "{job_id}" and "{attempt}" in the template are
 * replaced. file:///... by default (directories are created); https:// to
 * an S3-compatible store is signed with AWS SigV4 (CURLOPT_AWS_SIGV4) when
 * DISPATCH_LOG_STORE_KEY / DISPATCH_LOG_STORE_SECRET / DISPATCH_LOG_STORE_REGION
 * are set. Credentials never appear in URLs, logs or errors (a presigned
 * URL carries the key id and a signature, never the secret).
 * DISPATCH_LOG_STORE_CA_FILE: a PEM CA bundle for a store whose certificate
 * a private CA signed (MinIO, a test's server). */
#ifndef DP_LOGSTORE_H
#define DP_LOGSTORE_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct logstore logstore;

/* template is copied; validated (scheme file, http or https; must contain
 * {job_id}). */
logstore *logstore_open(const char *url_template, dp_err *err);
void logstore_close(logstore *ls);

/* Writes len bytes; url_out (len url_len) gets the object's URL. */
int logstore_put(logstore *ls, const char *job_id, uint32_t attempt, const void *data, size_t len,
                 char *url_out, size_t url_len, dp_err *err);

/* The URL logstore_put would write for (job_id, attempt), into url_out.
 * DP_EINVAL when it does not fit. No I/O. */
int logstore_url(const logstore *ls, const char *job_id, uint32_t attempt, char *url_out,
                 size_t url_len, dp_err *err);

/* 1 when objects are read with a signature (an http(s) store with
 * credentials): logstore_presign_get makes their URLs. */
int logstore_signed(const logstore *ls);

/* url (an object this store wrote) as a presigned GET valid for expires_s
 * seconds from now (AWS SigV4 query signing with the store's key, secret,
 * region and session token) into out (out_len bytes). DP_EINVAL when the
 * store has no credentials or the URL is not its kind. */
int logstore_presign_get(const logstore *ls, const char *url, unsigned expires_s, char *out,
                         size_t out_len, dp_err *err);

/* The signing itself (logstore_sigv4.c), at time now; token may be NULL.
 * url: http(s)://host[:port]/path without a query. */
int logstore_sigv4_presign(const char *url, const char *key, const char *secret, const char *region,
                           const char *token, unsigned expires_s, time_t now, char *out,
                           size_t out_len, dp_err *err);

#endif

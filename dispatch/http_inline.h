/* Inline source for the HTTP API: a spec's "files" (name -> UTF-8 text) and
 * "files_base64" (name -> base64) become one zip archive, stored in the log
 * store under its SHA-256 (the same files give the same object), and the
 * spec gets "archive" (its URL) and "archive_sha256" instead: runners fetch
 * it like any archive and hold no database credentials.
 *
 * Everything is checked before anything is stored: names as for zip entries
 * (relative, no "..", "." or empty segments, no backslash or control
 * characters, at most HTTP_INLINE_NAME_MAX bytes), at most
 * HTTP_INLINE_MAX_FILES files, at most max_total bytes decoded.
 *
 * Ownership: spec is edited in place (the caller's); ls is borrowed. */
#ifndef DP_HTTP_INLINE_H
#define DP_HTTP_INLINE_H

#include "common/err.h"
#include "common/job.h"
#include "dispatch/logstore/logstore.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_INLINE_MAX_FILES 256
#define HTTP_INLINE_NAME_MAX 255

/* DP_OK with the spec rewritten (or untouched when it has no inline files);
 * DP_EINVAL naming the field ("files[\"../x\"]: ..."); DP_EUNAVAIL when the
 * store refused the write. `where` prefixes field names (batch: "[2] "). */
int http_inline_store(json_t *spec, logstore *ls, size_t max_total, const char *where, dp_err *err);

/* One spec object of a request -> *out (dp_job_spec_free it): the spec is
 * checked first (with a stand-in archive), then its inline files are stored
 * and it is parsed for real. Codes as http_inline_store. */
int http_inline_spec(json_t *obj, logstore *ls, size_t max_total, const char *where,
                     dp_job_spec *out, dp_err *err);

/* POST /execute's request {"language","source","tests":[{"stdin",
 * "expectedStdout","timeoutMs"}]} -> *spec, a job spec with the source as
 * the language's inline file (http_exec_spec.c), for http_inline_spec.
 * *wait_ms: how long to wait for the verdict (30 s plus the tests'
 * timeouts, at most HTTP_EXEC_WAIT_MAX_MS). DP_EINVAL naming the field.
 * doc is borrowed; *spec is the caller's (json_decref). */
#define HTTP_EXEC_WAIT_MAX_MS 120000 /* a client wanting longer submits and waits itself */
int http_execute_spec(const json_t *doc, json_t **spec, int64_t *wait_ms, dp_err *err);

#endif

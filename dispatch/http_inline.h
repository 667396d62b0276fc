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
 * Nothing is written here: the archives are collected in an http_uploads
 * (named, their URLs already in the specs) that http_forward_stored hands
 * to the stasher actor (dispatch/stasher.h) before the submit goes on, so
 * the HTTP thread never waits on the store.
 *
 * Ownership: spec is edited in place (the caller's); ls is borrowed (only
 * its URL template is used); up owns its archives (http_uploads_free). */
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

/* Archives to store before a submit goes on; names are unique
 * (content-addressed: the same files are stored once). */
struct http_upload {
    char name[80]; /* src-<sha256>: the log store's {job_id} */
    void *data;
    size_t len;
};

typedef struct {
    struct http_upload *items;
    size_t n, cap;
} http_uploads;

void http_uploads_free(http_uploads *up); /* its archives; up itself is the caller's */

/* DP_OK with the spec rewritten (or untouched when it has no inline files)
 * and its archive added to up; DP_EINVAL naming the field
 * ("files[\"../x\"]: ..."). `where` prefixes field names (batch: "[2] "). */
int http_inline_store(json_t *spec, const logstore *ls, http_uploads *up, size_t max_total,
                      const char *where, dp_err *err);

/* One spec object of a request -> *out (dp_job_spec_free it): the spec is
 * checked first (with a stand-in archive), then its inline files are zipped
 * into up and it is parsed for real; a refused spec leaves nothing in up.
 * Codes as http_inline_store. */
int http_inline_spec(json_t *obj, const logstore *ls, http_uploads *up, size_t max_total,
                     const char *where, dp_job_spec *out, dp_err *err);

/* POST /execute's request {"language","source","tests":[{"stdin",
 * "expectedStdout","timeoutMs"}]} -> *spec, a job spec with the source as
 * the language's inline file (http_exec_spec.c), for http_inline_spec.
 * *wait_ms: how long to wait for the verdict (30 s plus the tests'
 * timeouts, at most HTTP_EXEC_WAIT_MAX_MS). DP_EINVAL naming the field.
 * doc is borrowed; *spec is the caller's (json_decref). */
#define HTTP_EXEC_WAIT_MAX_MS 120000 /* a client wanting longer submits and waits itself */
int http_execute_spec(const json_t *doc, json_t **spec, int64_t *wait_ms, dp_err *err);

#endif

/* JSON forms of the job domain types (README.md "Job spec" and "Job"),
 * with jansson.
 *
 * Parsing validates everything and names the bad field in the dp_err message,
 * e.g. "tests[2].timeout_ms: must be a positive integer <= 600000". Unknown
 * fields (top level, in "limits", in a test) are REJECTED, so a typo such as
 * "max_attemps" is an error instead of a silently ignored setting.
 *
 * Ownership: parsed specs are written into caller-provided dp_job_spec
 * structs whose members become heap-owned by that struct (release with
 * dp_job_spec_free); on error *out is left zeroed. The *_to_json functions
 * return a NEW json_t reference the caller releases with json_decref (NULL on
 * allocation failure); they never keep pointers into their input. */
#ifndef DP_JOB_JSON_H
#define DP_JOB_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "common/job.h"

/* Validates one spec object. job_id is optional (the dispatcher sets it at
 * submit; stored specs carry it). Returns DP_OK, DP_EINVAL or DP_ENOMEM. */
int dp_job_spec_from_json(const json_t *obj, dp_job_spec *out, dp_err *err);

/* Same, from JSON text of len bytes (need not be NUL-terminated). */
int dp_job_spec_from_text(const char *text, size_t len, dp_job_spec *out, dp_err *err);

/* A batch: text holding one spec object or an array of 1..DP_SPEC_BATCH_MAX
 * of them. On success *out is a heap array of *n specs the caller frees with
 * dp_job_specs_free. A bad element fails the whole batch and the message
 * starts with its index: "[3] archive: required". */
int dp_job_specs_from_text(const char *text, size_t len, dp_job_spec **out, size_t *n, dp_err *err);

/* Frees each spec's members and the array itself (accepts NULL). */
void dp_job_specs_free(dp_job_spec *specs, size_t n);

/* The spec as compact JSON text, omitting absent fields (NULL strings, zero
 * limits), so dp_job_spec_from_text of it gives back spec. Strings are
 * escaped as JSON requires; bytes that are not valid UTF-8 become U+FFFD, as
 * in dp_json_string_lossy. On DP_OK *out is a malloc'd NUL-terminated text
 * the caller frees and *len (may be NULL) its length; DP_EINVAL names a
 * real that is not finite (the validator refuses those), DP_ENOMEM. Written
 * directly, without a jansson tree (common/job_spec_text.c says why). */
int dp_job_spec_json_text(const dp_job_spec *spec, char **out, size_t *len, dp_err *err);

/* The same JSON as a tree: dp_job_spec_json_text's text parsed. */
json_t *dp_job_spec_to_json(const dp_job_spec *spec);

/* README.md's "Job" object; absent values are JSON null (score is null
 * until a verdict exists, signal is null when 0). */
json_t *dp_job_view_to_json(const dp_job_view *view);

/* One test of a job view / result (the objects in "tests"). */
json_t *dp_test_result_to_json(const dp_test_result *tr);

/* {"runner_id","name","alive","draining","capacity","leased_jobs","labels",
 *  "version","last_seen"}; absent strings are null. */
json_t *dp_runner_info_to_json(const dp_runner_info *info);

/* {"pending","leased","dead","completed","runners_alive"}. */
json_t *dp_queue_stats_to_json(const dp_queue_stats *stats);

/* A JSON string of len bytes of arbitrary data (program output): invalid
 * UTF-8 and NUL bytes become U+FFFD so the value is always valid JSON and
 * valid PostgreSQL text. NULL s gives JSON null. New reference. */
json_t *dp_json_string_lossy(const char *s, size_t len);

/* Length of the valid UTF-8 sequence at p (1..4 of the left bytes), or 0
 * when invalid (overlong, surrogate, past U+10FFFF, cut short); NUL counts
 * as invalid, so the lossy forms replace it. */
size_t dp_utf8_seq_len(const unsigned char *p, size_t left);

#endif

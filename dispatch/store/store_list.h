/* Job listing (GET /api/v1/jobs, dispatchctl jobs) and the queries behind
 * API-key quotas, kept apart from store.h so each stays one read.
 *
 * Paging is by keyset, newest first: (created_at, id) descending, the
 * cursor being the last row's pair. A job submitted while a client pages
 * gets a created_at newer than any row already shown (the reporter stamps
 * now() when it inserts), so it appears before the first page and never
 * shifts the pages that follow: no row is seen twice or skipped.
 *
 * Ownership: inputs are borrowed; *out rows are heap (store_jobs_free). */
#ifndef DP_STORE_LIST_H
#define DP_STORE_LIST_H

#include "common/err.h"
#include "common/job.h"
#include "dispatch/store/store.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_CURSOR_MAX 200 /* "c1.<microseconds>.<job id>" */

typedef struct {
    const char *state;     /* a state name, or NULL */
    const char *profile;   /* or NULL */
    const char *owner_key; /* only this key's jobs, or NULL: everyone's */
    uint32_t limit;        /* 1..500 */
    int has_after;         /* 1: start below (after_us, after_id) */
    int64_t after_us;      /* created_at, microseconds since the epoch */
    char after_id[DP_ID_MAX + 1];
} store_job_filter;

/* Parses a cursor into f (has_after, after_us, after_id). DP_EINVAL naming
 * "after" when it is not one this module made. */
int store_job_cursor_parse(const char *cursor, store_job_filter *f, dp_err *err);

/* One page: up to f->limit rows into *out (n of them; views without per-test
 * results), and in next the cursor of the following page ("" when this was
 * the last). DP_EUNAVAIL / DP_EIO as store_call. */
int store_list_jobs(store_db *db, const store_job_filter *f, dp_job_view **out, size_t *n,
                    char next[STORE_CURSOR_MAX], dp_err *err);

void store_jobs_free(dp_job_view *jobs, size_t n);

/* Inserts the specs' texts as store_insert_job_texts does, but only as many (the
 * first *n_taken) as keep owner_key's non-terminal jobs (queued or leased)
 * at most max_queued. One transaction holding a per-key advisory lock: two
 * reporters (replicas) submitting for one key are serialised, and the
 * count each reads includes the other's inserts, so the bound is exact.
 * *in_queue gets the count before the insert, counted no further than
 * max_queued. */
int store_insert_jobs_quota(store_db *db, const char *const *texts, size_t n, const char *owner_key,
                            uint32_t max_queued, size_t *n_taken, uint64_t *in_queue, dp_err *err);

#endif

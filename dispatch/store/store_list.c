/* Job listing, keyset-paged newest first (see store_list.h). */
#include "dispatch/store/store_internal.h"
#include "dispatch/store/store_list.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_PREFIX "c1."

int store_job_cursor_parse(const char *cursor, store_job_filter *f, dp_err *err)
{
    f->has_after = 0;
    size_t plen = strlen(CURSOR_PREFIX);
    const char *p = cursor;
    if (p == NULL || strncmp(p, CURSOR_PREFIX, plen) != 0)
        return dp_err_set(err, DP_EINVAL, "after: not a cursor from a previous page's next");
    p += plen;
    const char *digits = p;
    while (isdigit((unsigned char)*p))
        p++;
    size_t nd = (size_t)(p - digits);
    if (nd == 0 || nd > 18 || *p != '.')
        return dp_err_set(err, DP_EINVAL, "after: not a cursor from a previous page's next");
    const char *id = p + 1;
    size_t idlen = strlen(id);
    if (idlen == 0 || idlen > DP_ID_MAX ||
        strspn(id, "abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != idlen)
        return dp_err_set(err, DP_EINVAL, "after: not a cursor from a previous page's next");
    f->after_us = (int64_t)strtoll(digits, NULL, 10);
    memcpy(f->after_id, id, idlen + 1);
    f->has_after = 1;
    return DP_OK;
}

void store_jobs_free(dp_job_view *jobs, size_t n)
{
    for (size_t i = 0; jobs != NULL && i < n; i++)
        dp_job_view_free(&jobs[i]);
    free(jobs);
}

int store_list_jobs(store_db *db, const store_job_filter *f, dp_job_view **out, size_t *n,
                    char next[STORE_CURSOR_MAX], dp_err *err)
{
    *out = NULL;
    *n = 0;
    next[0] = '\0';
    if (f->limit < 1 || f->limit > 500)
        return dp_err_set(err, DP_EINVAL, "limit: %u outside 1..500", f->limit);
    char us[24], limit[16];
    snprintf(us, sizeof us, "%" PRId64, f->after_us);
    snprintf(limit, sizeof limit, "%u", f->limit + 1); /* one more: is there a next page? */
    const char *params[] = {f->state,
                            f->profile,
                            f->owner_key != NULL && f->owner_key[0] != '\0' ? f->owner_key : NULL,
                            f->has_after ? us : NULL,
                            f->has_after ? f->after_id : NULL,
                            limit};
    PGresult *res;
    /* planned with the filters given, so absent ones fold away and the
     * page walks the index that fits (store_sql.c) */
    int rc = store_call_custom(db, ST_LIST_JOBS, 6, params, "list jobs", &res, err);
    if (rc != DP_OK)
        return rc;
    int rows = PQntuples(res), oom = 0;
    size_t take = (size_t)rows > f->limit ? f->limit : (size_t)rows;
    dp_job_view *jobs = calloc(take > 0 ? take : 1, sizeof *jobs);
    if (jobs == NULL) {
        PQclear(res);
        return dp_err_set(err, DP_ENOMEM, "list jobs: out of memory");
    }
    for (size_t r = 0; r < take; r++) {
        dp_job_view *v = &jobs[r];
        int i = (int)r;
        v->job_id = store_field_dup(res, i, 0, &oom);
        v->submission_id = store_field_dup(res, i, 1, &oom);
        v->profile = store_field_dup(res, i, 2, &oom);
        dp_job_state_parse(PQgetvalue(res, i, 3), &v->state);
        if (!PQgetisnull(res, i, 4))
            dp_verdict_parse(PQgetvalue(res, i, 4), &v->verdict);
        v->score = PQgetisnull(res, i, 5) ? 0 : strtod(PQgetvalue(res, i, 5), NULL);
        v->attempts = (uint32_t)strtoul(PQgetvalue(res, i, 6), NULL, 10);
        v->runner_id = store_field_dup(res, i, 7, &oom);
        v->message = store_field_dup(res, i, 8, &oom);
        v->log_url = store_field_dup(res, i, 9, &oom);
        v->created_at = store_field_dup(res, i, 10, &oom);
        v->started_at = store_field_dup(res, i, 11, &oom);
        v->finished_at = store_field_dup(res, i, 12, &oom);
        v->labels = store_field_dup(res, i, 14, &oom);
        v->priority = store_field_dup(res, i, 15, &oom);
        if (!PQgetisnull(res, i, 16) && store_callback_view(PQgetvalue(res, i, 16), v) != DP_OK)
            oom = 1;
    }
    if ((size_t)rows > f->limit && take > 0)
        snprintf(next, STORE_CURSOR_MAX, CURSOR_PREFIX "%s.%s", PQgetvalue(res, (int)take - 1, 13),
                 PQgetvalue(res, (int)take - 1, 0));
    PQclear(res);
    if (oom) {
        store_jobs_free(jobs, take);
        next[0] = '\0';
        return dp_err_set(err, DP_ENOMEM, "list jobs: out of memory");
    }
    *out = jobs;
    *n = take;
    return DP_OK;
}

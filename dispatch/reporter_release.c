/* Releases in Redis that failed after PostgreSQL recorded the result: kept
 * here and retried on every tick until Redis answers, so a recorded job
 * leaves Redis within a second of Redis coming back (the connection's
 * reconnect backoff is at most 0.5 s, the tick 100 ms), not when its runner
 * is reaped. Completing again is idempotent in Redis: a job already
 * released (its tombstone) or reclaimed since (another owner or attempt:
 * DP_ECONFLICT, the PostgreSQL fence refuses that attempt's result anyway)
 * needs nothing more.
 *
 * Ownership: the list owns copies of every job and runner id. */
#include "dispatch/reporter_impl.h"

#include "common/clock.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reporter_release_later(reporter_state *s, const rq_complete_item *items, size_t n)
{
    if (s->n_unreleased + n > s->cap_unreleased) {
        size_t cap = s->cap_unreleased ? s->cap_unreleased : 64;
        while (cap < s->n_unreleased + n)
            cap *= 2;
        rq_complete_item *ni = realloc(s->unreleased, cap * sizeof *ni);
        if (ni == NULL) { /* the reaper releases them when their runners go */
            dp_log(DP_LOG_ERROR, "release_retry_lost", "error", "out of memory", (char *)NULL);
            return;
        }
        s->unreleased = ni;
        s->cap_unreleased = cap;
    }
    for (size_t i = 0; i < n; i++) {
        char *job = strdup(items[i].job_id);
        char *runner = items[i].runner_id != NULL ? strdup(items[i].runner_id) : NULL;
        if (job == NULL || (items[i].runner_id != NULL && runner == NULL)) {
            free(job);
            free(runner);
            dp_log(DP_LOG_ERROR, "release_retry_lost", "job_id", items[i].job_id, "error",
                   "out of memory", (char *)NULL);
            continue;
        }
        s->unreleased[s->n_unreleased++] =
            (rq_complete_item){.job_id = job, .attempt = items[i].attempt, .runner_id = runner};
    }
}

static void free_items(rq_complete_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)items[i].job_id);
        free((char *)items[i].runner_id);
    }
}

void reporter_retry_releases(reporter_state *s)
{
    if (s->n_unreleased == 0)
        return;
    size_t done = 0;
    dp_err err = {0};
    while (done < s->n_unreleased) {
        size_t n =
            s->n_unreleased - done < REPORTER_BATCH ? s->n_unreleased - done : REPORTER_BATCH;
        rq_complete_item *it = &s->unreleased[done];
        if (rq_lease_complete_batch(s->rq, it[0].runner_id, it, n, &err) != DP_OK)
            break; /* Redis still away: the next tick tries again */
        free_items(it, n);
        done += n;
    }
    if (done == 0)
        return;
    char count[24];
    snprintf(count, sizeof count, "%zu", done);
    dp_log(DP_LOG_INFO, "released_after_redis_failure", "jobs", count, (char *)NULL);
    memmove(s->unreleased, s->unreleased + done, (s->n_unreleased - done) * sizeof *s->unreleased);
    s->n_unreleased -= done;
}

void reporter_release_free(reporter_state *s)
{
    free_items(s->unreleased, s->n_unreleased);
    free(s->unreleased);
    s->unreleased = NULL;
    s->n_unreleased = s->cap_unreleased = 0;
}

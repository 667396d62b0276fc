/* The reporter's and the submitter's metrics: what they submit, record and
 * fail (docs/operations.md), each in its own registry. Only the owning
 * actor's thread touches one; the status actor asks for a
 * snapshot (dd_metrics_gather). */
#include "dispatch/reporter_impl.h"

#include "common/metrics.h"

int reporter_metrics_start(reporter_state *s, dp_err *err)
{
    if ((s->metrics = dp_metrics_new()) == NULL)
        return dp_err_set(err, DP_ENOMEM, "reporter: out of memory");
    /* unlabeled series exist from the start: a graph or alert sees 0, not nothing */
    dp_metrics_inc(s->metrics, "dispatch_jobs_failed_total", "", 0);
    dp_metrics_hist(s->metrics, "dispatch_complete_duration_seconds", "");
    dp_metrics_hist(s->metrics, "dispatch_job_duration_seconds", "");
    store_db *dbs[] = {s->db, s->commit_db, s->insert_db};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++)
        if (dbs[i] != NULL)
            store_set_metrics(dbs[i], s->metrics);
    rq_set_metrics(s->rq, s->metrics);
    return DP_OK;
}

void reporter_metrics_submitted(reporter_state *s, const char *profile)
{
    char l[DP_METRICS_LABELS_MAX];
    dp_metrics_inc(s->metrics, "dispatch_jobs_submitted_total",
                   dp_metrics_labels(l, sizeof l, "profile", profile, (char *)NULL), 1);
}

void reporter_metrics_completed(reporter_state *s, const char *profile, dp_verdict v, double age_s,
                                double complete_s)
{
    char l[DP_METRICS_LABELS_MAX];
    dp_metrics_inc(s->metrics, "dispatch_jobs_completed_total",
                   dp_metrics_labels(l, sizeof l, "profile", profile, "verdict", dp_verdict_name(v),
                                     (char *)NULL),
                   1);
    dp_metrics_observe(s->metrics, "dispatch_job_duration_seconds", "", age_s);
    dp_metrics_observe(s->metrics, "dispatch_complete_duration_seconds", "", complete_s);
}

void reporter_metrics_failed(reporter_state *s, size_t n)
{
    dp_metrics_inc(s->metrics, "dispatch_jobs_failed_total", "", (double)n);
}

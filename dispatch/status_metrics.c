#include "dispatch/status_metrics.h"

/* Counters end in _total, durations are seconds (_seconds), and every
 * histogram shares the buckets of common/metrics.c. */
const dp_metric_desc status_metric_descs[] = {
    {"dispatch_build_info", DP_METRIC_GAUGE, "The running dispatchd's version (always 1)."},
    {"dispatch_up", DP_METRIC_GAUGE, "1 when the dispatcher reaches Redis and PostgreSQL."},
    {"dispatch_uptime_seconds", DP_METRIC_COUNTER, "Seconds since dispatchd started."},
    {"dispatch_jobs", DP_METRIC_GAUGE,
     "Jobs by state: pending, leased and dead in Redis (the queue), completed in PostgreSQL."},
    {"dispatch_runners_alive", DP_METRIC_GAUGE, "Runners whose heartbeat is current."},
    {"dispatch_runners_draining", DP_METRIC_GAUGE, "Alive runners that take no new jobs."},
    {"dispatch_jobs_submitted_total", DP_METRIC_COUNTER,
     "Jobs accepted (recorded in PostgreSQL) by this dispatcher, by profile."},
    {"dispatch_jobs_completed_total", DP_METRIC_COUNTER,
     "Results recorded by this dispatcher, by profile and verdict."},
    {"dispatch_jobs_failed_total", DP_METRIC_COUNTER,
     "Jobs that ended failed (system error after the last attempt, or dead)."},
    {"dispatch_jobs_reclaimed_total", DP_METRIC_COUNTER,
     "Jobs taken back from lost runners and queued again."},
    {"dispatch_jobs_dead_total", DP_METRIC_COUNTER,
     "Jobs of lost runners that had no attempt left (moved to dead)."},
    {"dispatch_runners_lost_total", DP_METRIC_COUNTER,
     "Runners whose heartbeat stopped and whose jobs were reclaimed."},
    {"dispatch_lease_duration_seconds", DP_METRIC_HIST,
     "Leases that got jobs: from the claim in Redis to the reply (not the long-poll wait)."},
    {"dispatch_complete_duration_seconds", DP_METRIC_HIST,
     "Results: from arrival at the reporter to the runner's ack (log, group commit, release)."},
    {"dispatch_job_duration_seconds", DP_METRIC_HIST,
     "Jobs: from submit to the recorded result (queue wait, run, report)."},
    {"dispatch_redis_request_duration_seconds", DP_METRIC_HIST,
     "Redis round trips (a command, a script or a pipeline)."},
    {"dispatch_redis_errors_total", DP_METRIC_COUNTER,
     "Redis calls that failed: connection lost or refused, or an error reply."},
    {"dispatch_pg_request_duration_seconds", DP_METRIC_HIST, "PostgreSQL statements."},
    {"dispatch_pg_errors_total", DP_METRIC_COUNTER,
     "PostgreSQL calls that failed: unavailable, or the statement refused."},
    {"dispatch_metrics_missed", DP_METRIC_GAUGE,
     "Actors whose counters this scrape could not read (busy past the deadline)."},
};
const size_t status_n_metric_descs = sizeof status_metric_descs / sizeof status_metric_descs[0];

void status_metrics_gauges(dp_metrics *m, const status_gauges *g)
{
    char l[DP_METRICS_LABELS_MAX];
    dp_metrics_set(m, "dispatch_build_info",
                   dp_metrics_labels(l, sizeof l, "version", DP_VERSION, (char *)NULL), 1);
    dp_metrics_set(m, "dispatch_up", "", g->up);
    dp_metrics_inc(m, "dispatch_uptime_seconds", "", (double)(int64_t)g->uptime_s);
    dp_metrics_set(m, "dispatch_jobs", "state=\"pending\"", (double)g->q.pending);
    dp_metrics_set(m, "dispatch_jobs", "state=\"leased\"", (double)g->q.leased);
    dp_metrics_set(m, "dispatch_jobs", "state=\"dead\"", (double)g->q.dead);
    dp_metrics_set(m, "dispatch_jobs", "state=\"completed\"", (double)g->q.completed);
    dp_metrics_set(m, "dispatch_runners_alive", "", (double)g->q.runners_alive);
    dp_metrics_set(m, "dispatch_runners_draining", "", (double)g->runners_draining);
    dp_metrics_set(m, "dispatch_metrics_missed", "", (double)g->missed);
}

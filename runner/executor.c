#include "runner/executor.h"

#include "runner/runner_link.h"
#include "common/clock.h"
#include "common/log.h"
#include "runner/runner_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    executor_config cfg;
    char profiles_dir[1024], workdir[1024], require[256], fetch_allow[2048];
    exec_ctx *exec;
    char runner_id[DP_ID_MAX];
    dp_metrics *job_m; /* one job's counts for the status actor; NULL without one */
} executor_state;

/* The job's counts, pushed to the runner status actor (it is busy when a
 * scrape comes, so it cannot be asked). */
static void report_job(executor_state *s, const dp_job_result *res)
{
    if (s->job_m == NULL)
        return;
    exec_stats st;
    exec_last_stats(s->exec, &st);
    dp_metrics_reset(s->job_m);
    char l[DP_METRICS_LABELS_MAX];
    const char *v = dp_verdict_name(res->verdict);
    dp_metrics_inc(s->job_m, "dispatch_runner_jobs_total",
                   dp_metrics_labels(l, sizeof l, "verdict", v ? v : "none", (char *)NULL), 1);
    if (st.fetched) {
        dp_metrics_observe(s->job_m, "dispatch_runner_fetch_duration_seconds", "", st.fetch_s);
        dp_metrics_inc(s->job_m, "dispatch_runner_fetch_bytes_total", "", (double)st.fetch_bytes);
    }
    if (st.sandboxed)
        dp_metrics_observe(s->job_m, "dispatch_runner_sandbox_duration_seconds", "", st.sandbox_s);
    runner_status_job_done(s->cfg.status, s->cfg.index, s->job_m);
}

/* Runs one job; its result goes into *item (the caller's). Its line at the
 * deployed level, job_finished, is the job feeder's (log_finished there),
 * written with the other results of a burst; job_started is at debug. */
static void run_job(executor_state *s, dp_leased_job *job, dp_result_item *item)
{
    dp_job_result *res = &item->result;
    int retryable = 0;
    dp_err err = {0};
    char attempt[16];
    snprintf(attempt, sizeof attempt, "%u", job->attempt);
    dp_log(DP_LOG_DEBUG, "job_started", "job_id", job->job_id, "runner_id", s->runner_id, "profile",
           job->spec.profile, "attempt", attempt, (char *)NULL);
    runner_status_job_started(s->cfg.status, s->cfg.index);
    exec_job(s->exec, &job->spec, job->attempt, res, &retryable, &err);
    report_job(s, res);
    if (res->job_id == NULL)
        res->job_id = strdup(job->job_id);
    res->attempt = job->attempt;
    item->retry = retryable != 0;
}

static int executor_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    executor_state *s = state;
    dp_msg m;
    int decoded = dp_msg_decode_internal(msg, &m, NULL);
    if (decoded == DP_OK && m.type == DP_MSG_STOPPING && reply != NULL) {
        /* The runner stops: no job starts here after this answer (a job
         * still queued goes to another executor, or is released when the
         * runner deregisters). */
        actor_group_leave(actor_ctx_actor(ctx));
    } else if (decoded == DP_OK && m.type == DP_MSG_REGISTERED) {
        snprintf(s->runner_id, sizeof s->runner_id, "%s", m.registered.runner_id); /* logs */
    } else if (m.type == DP_MSG_LEASED && m.leased.n_jobs == 1) {
        /* The result goes to the job feeder with the slot: it delivers it
         * (batched with the other slots' results) and owns it from now on. */
        dp_result_item item = {0};
        run_job(s, &m.leased.jobs[0], &item);
        dp_msg done = {.type = DP_MSG_SLOT_FREE};
        done.slot_free.slot = s->cfg.index;
        done.slot_free.results = &item;
        done.slot_free.n_results = 1;
        dp_err err = {0};
        if (runner_link_tell(s->cfg.job_feeder, &done, &err) != DP_OK)
            dp_log(DP_LOG_ERROR, "slot_lost", "job_id", m.leased.jobs[0].job_id, "error", err.msg,
                   (char *)NULL);
        dp_job_result_free(&item.result);
    }
    dp_msg_free(&m);
    nng_msg_free(msg);
    (void)reply; /* an empty reply: "this slot is between jobs" */
    return 0;
}

static int executor_start(void *state, actor_ctx *ctx, dp_err *err)
{
    executor_state *s = state;
    (void)ctx;
    if ((s->exec = exec_open(&s->cfg.exec, err)) == NULL)
        return err->code != 0 ? err->code : DP_EINVAL;
    if (s->cfg.status != NULL && (s->job_m = dp_metrics_new()) == NULL)
        return dp_err_set(err, DP_ENOMEM, "executor: out of memory");
    return DP_OK;
}

static void executor_stop(void *state, actor_ctx *ctx)
{
    executor_state *s = state;
    (void)ctx;
    exec_close(s->exec);
    dp_metrics_free(s->job_m);
    free(s);
}

actor *executor_spawn(const executor_config *cfg, dp_err *err)
{
    executor_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "executor: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->profiles_dir, sizeof s->profiles_dir, "%s",
             cfg->exec.profiles_dir ? cfg->exec.profiles_dir : "");
    snprintf(s->workdir, sizeof s->workdir, "%s", cfg->exec.workdir ? cfg->exec.workdir : "");
    s->cfg.exec.profiles_dir = s->profiles_dir;
    s->cfg.exec.workdir = s->workdir;
    if (cfg->exec.fetch_allow_cidrs != NULL) {
        snprintf(s->fetch_allow, sizeof s->fetch_allow, "%s", cfg->exec.fetch_allow_cidrs);
        s->cfg.exec.fetch_allow_cidrs = s->fetch_allow;
    }
    if (cfg->exec.sandbox_require != NULL) {
        snprintf(s->require, sizeof s->require, "%s", cfg->exec.sandbox_require);
        s->cfg.exec.sandbox_require = s->require;
    }
    char name[32];
    snprintf(name, sizeof name, "executor-%d", cfg->slot);
    actor_opts o = {
        .name = name,
        .state = s,
        .handler = executor_handle,
        .on_start = executor_start,
        .on_stop = executor_stop,
        .mailbox = 16,
        .group = cfg->group,
        .max_msg_bytes = DP_MSG_MAX_SIZE,
    };
    return actor_spawn_owned(&o, err);
}

#include "runner/executor.h"

#include "runner/runner_link.h"
#include "common/log.h"
#include "runner/runner_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    executor_config cfg;
    char url[1024], profiles_dir[1024], workdir[1024], require[256], fetch_allow[2048];
    actor_client *link;
    exec_ctx *exec;
    char runner_id[DP_ID_MAX];
    char *token;         /* the runner token, in memory only */
    char request_id[48]; /* reused until a lease is answered: a retry gets the same jobs */
    uint32_t failures;   /* consecutive transport failures */
    dp_metrics *job_m;   /* one job's counts for the status actor; NULL without one */
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

static void forget_session(executor_state *s)
{
    if (s->token != NULL) {
        memset(s->token, 0, strlen(s->token));
        free(s->token);
    }
    s->token = NULL;
    s->runner_id[0] = '\0';
}

/* Delivers one result until acknowledged, refused, or we are stopping. */
static void deliver(executor_state *s, dp_job_result *res, int retryable)
{
    for (uint32_t n = 0;; n++) {
        dp_msg req = {.type = DP_MSG_COMPLETE}, rep;
        req.complete.runner_id = s->runner_id;
        req.complete.runner_token = s->token;
        req.complete.result = *res;
        req.complete.retry = retryable != 0;
        dp_err err = {0};
        int rc = s->token != NULL ? runner_link_call(&s->link, s->url, &req, &rep,
                                                     RUNNER_COMPLETE_TIMEOUT_MS, &err)
                                  : dp_err_set(&err, DP_EUNAVAIL, "not registered");
        if (rc == DP_OK) {
            dp_msg_type t = rep.type;
            if (t == DP_MSG_ACK) {
                dp_msg_free(&rep);
                return;
            }
            if (t == DP_MSG_CONFLICT || t == DP_MSG_NOT_FOUND ||
                (t == DP_MSG_ERROR && strcmp(rep.error.code, DP_MSG_ERR_UNAUTHORIZED) == 0)) {
                dp_log(DP_LOG_WARN, "result_dropped", "job_id", res->job_id, "reason",
                       dp_msg_type_name(t), (char *)NULL);
                dp_msg_free(&rep);
                return;
            }
            snprintf(err.msg, sizeof err.msg, "%s",
                     t == DP_MSG_ERROR && rep.error.message ? rep.error.message : "refused");
            dp_msg_free(&rep);
        }
        if (n == 0 || n % 10 == 0)
            dp_log(DP_LOG_WARN, "result_retry", "job_id", res->job_id, "error", err.msg,
                   (char *)NULL);
        /* Keep trying while the dispatcher is away; on SIGTERM give up after a
         * few tries: the reaper hands the job to another runner. */
        if (atomic_load(s->cfg.stopping) && n >= 5)
            return;
        runner_link_sleep(NULL, runner_link_backoff(n, 100, 5000));
    }
}

static void run_job(executor_state *s, dp_leased_job *job)
{
    dp_job_result res = {0};
    int retryable = 0;
    dp_err err = {0};
    dp_log(DP_LOG_INFO, "job_started", "job_id", job->job_id, "runner_id", s->runner_id, "profile",
           job->spec.profile, (char *)NULL);
    runner_status_job_started(s->cfg.status, s->cfg.index);
    exec_job(s->exec, &job->spec, job->attempt, &res, &retryable, &err);
    report_job(s, &res);
    if (res.job_id == NULL)
        res.job_id = strdup(job->job_id);
    res.attempt = job->attempt;
    dp_log(DP_LOG_INFO, "job_finished", "job_id", job->job_id, "verdict",
           dp_verdict_name(res.verdict) ? dp_verdict_name(res.verdict) : "-", (char *)NULL);
    deliver(s, &res, retryable);
    dp_job_result_free(&res);
}

static int executor_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    executor_state *s = state;
    (void)ctx;
    dp_msg m;
    if (dp_msg_decode_internal(msg, &m, NULL) == DP_OK && m.type == DP_MSG_REGISTERED) {
        forget_session(s);
        snprintf(s->runner_id, sizeof s->runner_id, "%s", m.registered.runner_id);
        s->token = strdup(m.registered.runner_token);
    } else if (m.type == DP_MSG_LEASED) {
        for (size_t i = 0; i < m.leased.n_jobs; i++)
            run_job(s, &m.leased.jobs[i]);
        dp_msg done = {.type = DP_MSG_SLOT_FREE};
        done.slot_free.slot = s->cfg.index;
        dp_err err = {0};
        if (runner_link_tell(s->cfg.job_feeder, &done, &err) != DP_OK)
            dp_log(DP_LOG_ERROR, "slot_lost", "error", err.msg, (char *)NULL);
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
    return DP_OK; /* the link opens on first use: the dispatcher may come later */
}

static void executor_stop(void *state, actor_ctx *ctx)
{
    executor_state *s = state;
    (void)ctx;
    forget_session(s);
    exec_close(s->exec);
    actor_client_close(s->link);
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
    snprintf(s->url, sizeof s->url, "%s", cfg->dispatch_url);
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
        .max_msg_bytes = DP_MSG_MAX_SIZE,
    };
    return actor_spawn_owned(&o, err);
}

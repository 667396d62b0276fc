#include "runner/job_feeder.h"

#include "runner/runner_link.h"
#include "common/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    job_feeder_config cfg;
    char url[1024];
    actor_client *link;
    actor_client **executors; /* by slot index, from the `peers` message */
    size_t n_executors;
    uint32_t *free_slots; /* stack of idle executor indexes */
    uint32_t n_free;
    char runner_id[DP_ID_MAX];
    char *token;
    char request_id[48]; /* reused until a lease is answered: a retry gets the same jobs */
    uint32_t failures;
} feeder_state;

static void forget_session(feeder_state *s)
{
    if (s->token != NULL) {
        memset(s->token, 0, strlen(s->token));
        free(s->token);
    }
    s->token = NULL;
    s->runner_id[0] = '\0';
}

/* Gives one job to an idle executor (a `leased` message with that job). */
static void hand_out(feeder_state *s, dp_leased_job *job)
{
    uint32_t slot = s->free_slots[--s->n_free];
    dp_msg m = {.type = DP_MSG_LEASED};
    m.leased.jobs = job;
    m.leased.n_jobs = 1;
    dp_err err = {0};
    if (runner_link_tell_client(s->executors[slot], &m, &err) != DP_OK) {
        /* Cannot happen while the executor lives; the reaper recovers the job. */
        dp_log(DP_LOG_ERROR, "job_not_handed_out", "job_id", job->job_id, "error", err.msg,
               (char *)NULL);
        s->free_slots[s->n_free++] = slot;
    }
}

/* The executors, by slot index; every one starts idle. */
static void take_executors(feeder_state *s, const dp_msg_peers *p)
{
    dp_err err = {0};
    s->executors = calloc(p->n_urls, sizeof *s->executors);
    if (s->executors == NULL ||
        runner_link_open_peers(p, s->executors, p->n_urls, &s->n_executors, &err) != DP_OK) {
        dp_log(DP_LOG_ERROR, "executors_unreachable", "error", err.msg, (char *)NULL);
        return;
    }
    for (size_t i = 0; i < s->n_executors; i++)
        s->free_slots[s->n_free++] = (uint32_t)(s->n_executors - 1 - i);
}

static void feeder_tick(void *state, actor_ctx *ctx)
{
    feeder_state *s = state;
    (void)ctx;
    if (atomic_load(s->cfg.stopping) || s->token == NULL || s->n_free == 0)
        return;
    if (s->request_id[0] == '\0')
        dp_new_id("q-", s->request_id, sizeof s->request_id);
    dp_msg req = {.type = DP_MSG_LEASE}, rep;
    req.lease.runner_id = s->runner_id;
    req.lease.runner_token = s->token;
    req.lease.max_jobs = s->n_free;
    req.lease.wait_ms = s->cfg.lease_wait_ms;
    req.lease.request_id = s->request_id;
    dp_err err = {0};
    int rc = runner_link_call(&s->link, s->url, &req, &rep,
                              (int)s->cfg.lease_wait_ms + RUNNER_CALL_SLACK_MS, &err);
    if (rc != DP_OK) {
        if (s->failures++ % 20 == 0)
            dp_log(DP_LOG_WARN, "lease_failed", "error", err.msg, (char *)NULL);
        runner_link_sleep(s->cfg.stopping, runner_link_backoff(s->failures, 100, 5000));
        return;
    }
    s->failures = 0;
    s->request_id[0] = '\0'; /* answered: the next lease is a new request */
    if (rep.type == DP_MSG_LEASED && atomic_load(s->cfg.stopping)) {
        /* Stopping: hand out nothing more; deregistering releases these jobs. */
    } else if (rep.type == DP_MSG_LEASED) {
        for (size_t i = 0; i < rep.leased.n_jobs && s->n_free > 0; i++)
            hand_out(s, &rep.leased.jobs[i]);
    } else if (rep.type == DP_MSG_ERROR) {
        const char *code = rep.error.code;
        dp_log(DP_LOG_WARN, "lease_refused", "code", code, "error",
               rep.error.message ? rep.error.message : "", (char *)NULL);
        if (strcmp(code, DP_MSG_ERR_UNKNOWN_RUNNER) == 0 ||
            strcmp(code, DP_MSG_ERR_UNAUTHORIZED) == 0) {
            forget_session(s); /* wait for the new identity */
            dp_msg wake = {.type = DP_MSG_WAKE};
            runner_link_tell(s->cfg.session, &wake, NULL);
        } else {
            runner_link_sleep(s->cfg.stopping, runner_link_backoff(1, 200, 2000));
        }
    }
    dp_msg_free(&rep);
}

static int feeder_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    feeder_state *s = state;
    (void)reply;
    dp_msg m;
    bool freed = false;
    if (dp_msg_decode_internal(msg, &m, NULL) == DP_OK) {
        if (m.type == DP_MSG_PEERS && s->executors == NULL && m.peers.n_urls == s->cfg.slots) {
            take_executors(s, &m.peers);
        } else if (m.type == DP_MSG_REGISTERED) {
            forget_session(s);
            snprintf(s->runner_id, sizeof s->runner_id, "%s", m.registered.runner_id);
            s->token = strdup(m.registered.runner_token);
        } else if (m.type == DP_MSG_SLOT_FREE && m.slot_free.slot < s->n_executors &&
                   s->n_free < s->n_executors) {
            s->free_slots[s->n_free++] = m.slot_free.slot;
            freed = true;
        }
        dp_msg_free(&m);
    }
    nng_msg_free(msg);
    /* Lease for the freed slots now, not at the next tick, unless more slot
     * frees wait behind this one: they then go out together in one lease. */
    actor_stats st;
    actor_get_stats(actor_ctx_actor(ctx), &st);
    if (freed && st.queued == 0)
        feeder_tick(s, ctx);
    return 0;
}

static void feeder_stop(void *state, actor_ctx *ctx)
{
    feeder_state *s = state;
    (void)ctx;
    forget_session(s);
    actor_client_close(s->link);
    runner_link_close_peers(s->executors, s->n_executors);
    free(s->executors);
    free(s->free_slots);
    free(s);
}

actor *job_feeder_spawn(const job_feeder_config *cfg, dp_err *err)
{
    feeder_state *s = calloc(1, sizeof *s);
    if (s == NULL ||
        (s->free_slots = calloc(cfg->slots ? cfg->slots : 1, sizeof(uint32_t))) == NULL) {
        free(s);
        dp_err_set(err, DP_ENOMEM, "job feeder: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->url, sizeof s->url, "%s", cfg->dispatch_url);
    actor_opts o = {
        .name = "job-feeder",
        .state = s,
        .handler = feeder_handle,
        .on_stop = feeder_stop,
        .on_tick = feeder_tick,
        .tick_ms = 1,
        .mailbox = cfg->slots * 2 + 16,
        .max_msg_bytes = DP_MSG_MAX_SIZE,
    };
    return actor_spawn_owned(&o, err);
}

int job_feeder_set_executors(actor *loop, actor *const *executors, uint32_t n, dp_err *err)
{
    return runner_link_send_peers(loop, executors, n, err);
}

#include "runner/job_feeder.h"

#include "common/clock.h"
#include "common/log.h"
#include "runner/job_feeder_held.h"
#include "runner/runner_link.h"
#include "runner/runner_link_impl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One complete_lease in flight. */
typedef struct {
    uint64_t id; /* the envelope id its answer carries; 0: unused entry */
    uint32_t max_jobs;
    bool parked;               /* no results: it may wait the whole long-poll */
    bool early;                /* answered before its results' outcomes (msg.h) */
    int64_t sent_ms;           /* for the probe of a quiet replica */
    int64_t give_up_ms;        /* no answer by then: it was lost (see feeder_tick) */
    char request_id[48];       /* with max_jobs > 0 */
    char runner_id[DP_ID_MAX]; /* the identity it was sent under */
    runner_link_target target;
    actor_client *via; /* the link it went out on (identity only) */
} feeder_call;

/* What the feeder knows of a job it handed out, for its log line; found
 * again by job and attempt (any executor of the group may run it). */
typedef struct {
    char job_id[DP_ID_MAX]; /* "": an unused entry */
    uint32_t attempt;
    char profile[DP_MSG_MAX_NAME + 1];
    int64_t since_ms; /* handed out at */
} feeder_running;

typedef struct {
    job_feeder_config cfg;
    actor *self;
    char url[RUNNER_LINK_LIST_MAX];
    actor_client *link;
    /* The link to the replica the process moved away from, kept open until
     * the calls still waiting there end: a long-poll held by a live replica
     * must run to its end, or it may lease jobs later under a request id
     * nobody waits on (docs/reliability.md, "Runner failover"). */
    actor_client *old_link;
    size_t n_executors;      /* from the `peers` message: 0 until they are in place */
    feeder_running *running; /* cfg.slots of them */
    uint32_t n_free;         /* executors between jobs */
    uint32_t n_asked;        /* free slots some call in flight asks work for */
    feeder_held held;
    feeder_call calls[FEEDER_MAX_CALLS];
    size_t n_calls;
    char runner_id[DP_ID_MAX];
    char *token;
    char retry_request_id[48]; /* a lease whose answer was lost: asked again under it */
    uint32_t failures;         /* calls failed in a row: the backoff */
    int64_t retry_at_ms;       /* no call before this (backoff) */
    int64_t next_probe_ms;
    int64_t next_slow_warn_ms; /* warn_slow_results: not before this */
    actor_req_id flush_req;    /* a `stopping` call waiting for the results' outcomes */
    int64_t flush_until_ms;
} feeder_state;

/* Results held beyond this stop new leases: a dispatcher that leases but
 * cannot record (PostgreSQL away) would otherwise let them pile up. */
static size_t held_cap(const feeder_state *s)
{
    return 4 * (size_t)s->cfg.slots + 64;
}

static void forget_session(feeder_state *s)
{
    if (s->token != NULL) {
        memset(s->token, 0, strlen(s->token));
        free(s->token);
    }
    s->token = NULL;
    s->runner_id[0] = '\0';
    s->retry_request_id[0] = '\0'; /* a new identity leases afresh */
}

/* The entry of the job (job_id, attempt); with job_id NULL, an unused
 * one. NULL when there is none. */
static feeder_running *find_running(feeder_state *s, const char *job_id, uint32_t attempt)
{
    for (uint32_t i = 0; i < s->cfg.slots; i++) {
        feeder_running *r = &s->running[i];
        if (job_id == NULL ? r->job_id[0] == '\0'
                           : r->attempt == attempt && strcmp(r->job_id, job_id) == 0)
            return r;
    }
    return NULL;
}

/* Gives one job to the executors (a `leased` message with that job, to
 * their group: whichever is between jobs takes it). */
static void hand_out(feeder_state *s, dp_leased_job *job)
{
    feeder_running *r = find_running(s, NULL, 0); /* one is free: n_free > 0 */
    if (r != NULL) {
        snprintf(r->job_id, sizeof r->job_id, "%s", job->job_id);
        r->attempt = job->attempt;
        snprintf(r->profile, sizeof r->profile, "%s",
                 job->spec.profile != NULL ? job->spec.profile : "");
        r->since_ms = dp_now_ms();
    }
    s->n_free--;
    dp_msg m = {.type = DP_MSG_LEASED};
    m.leased.jobs = job;
    m.leased.n_jobs = 1;
    dp_err err = {0};
    nng_msg *msg = NULL;
    if (dp_msg_encode_internal(&m, &msg, &err) != DP_OK ||
        actor_group_send(s->cfg.executors, msg, &err) != DP_OK) {
        /* Cannot happen while the executors live; the reaper recovers the job. */
        dp_log(DP_LOG_ERROR, "job_not_handed_out", "job_id", job->job_id, "error", err.msg,
               (char *)NULL);
        s->n_free++;
        if (r != NULL)
            r->job_id[0] = '\0';
    }
}

/* One log line per job at the deployed level, when its result reaches the
 * feeder (before it is sent), with everything an operator looks a job up
 * by; duration_ms runs from the hand-out. Written here, not by the
 * executor, so that the lines of a burst of results go out in one write(2)
 * (dp_log_hold: a no-op job cannot afford a syscall of its own for it). */
static void log_finished(feeder_state *s, const dp_job_result *r)
{
    char attempt[16], ms[24] = "-";
    snprintf(attempt, sizeof attempt, "%u", r->attempt);
    /* a job id "" never matches: its entry's job_id is "" only when unused */
    feeder_running *run =
        r->job_id != NULL && r->job_id[0] != '\0' ? find_running(s, r->job_id, r->attempt) : NULL;
    if (run != NULL)
        snprintf(ms, sizeof ms, "%lld", (long long)(dp_now_ms() - run->since_ms));
    const char *verdict = dp_verdict_name(r->verdict);
    dp_log(DP_LOG_INFO, "job_finished", "job_id", r->job_id, "runner_id", s->runner_id, "profile",
           run != NULL ? run->profile : "-", "attempt", attempt, "verdict", verdict ? verdict : "-",
           "duration_ms", ms, (char *)NULL);
    if (run != NULL)
        run->job_id[0] = '\0';
}

static void backoff(feeder_state *s, const char *what, const char *why)
{
    if (s->failures++ % 20 == 0)
        dp_log(DP_LOG_WARN, what, "error", why, (char *)NULL);
    s->retry_at_ms = dp_now_ms() + runner_link_backoff(s->failures, 100, 5000);
}

/* Starts one complete_lease with up to max_results of the waiting results
 * and a lease for want slots; without results it may park (long-poll). */
static int send_call(feeder_state *s, size_t max_results, uint32_t want)
{
    feeder_call *c = &s->calls[s->n_calls];
    memset(c, 0, sizeof *c);
    c->max_jobs = want;
    c->parked = max_results == 0;
    /* A stopping runner wants every outcome in the answers it waits for. */
    c->early = !atomic_load(s->cfg.stopping);
    if (want > 0 && s->retry_request_id[0] != '\0')
        snprintf(c->request_id, sizeof c->request_id, "%s", s->retry_request_id);
    else if (want > 0)
        dp_new_id("q-", c->request_id, sizeof c->request_id);
    size_t n = max_results < DP_MSG_MAX_RESULTS ? max_results : DP_MSG_MAX_RESULTS;
    dp_result_item *items = calloc(n ? n : 1, sizeof *items);
    if (items == NULL) {
        backoff(s, "complete_lease_failed", "out of memory");
        return DP_ENOMEM;
    }
    int timeout =
        c->parked ? (int)s->cfg.lease_wait_ms + RUNNER_CALL_SLACK_MS : RUNNER_COMPLETE_TIMEOUT_MS;
    if (runner_link_stale(s->link, s->url)) {
        /* moving to another replica: outcomes waiting in the old one's
         * leaser may never come; the results go again (a repeat is acked) */
        feeder_held_unawait(&s->held, INT64_MAX);
        if (s->n_calls > 0) {
            runner_link_close(&s->old_link); /* a second move: those calls end now */
            s->old_link = s->link;
            s->link = NULL;
        }
    }
    dp_err err = {0};
    int rc;
    for (;;) { /* a message over DP_MSG_MAX_SIZE (big logs) takes half as many */
        dp_msg req = {.type = DP_MSG_COMPLETE_LEASE};
        dp_msg_complete_lease *cl = &req.complete_lease;
        cl->runner_id = s->runner_id;
        snprintf(c->runner_id, sizeof c->runner_id, "%s", s->runner_id);
        cl->runner_token = s->token;
        cl->results = items;
        cl->n_results = feeder_held_peek(&s->held, items, n);
        cl->max_jobs = want;
        cl->wait_ms = c->parked ? s->cfg.lease_wait_ms : 0;
        cl->request_id = want > 0 ? c->request_id : NULL;
        cl->early = c->early;
        rc = runner_link_call_async(&s->link, s->url, &req, timeout, s->self, &c->target, &err);
        if (rc == DP_OK) {
            c->id = req.id;
            c->via = s->link;
            feeder_held_mark(&s->held, cl->n_results, c->id);
        }
        if (rc != DP_EINVAL || n <= 1)
            break;
        n /= 2;
    }
    free(items);
    if (rc != DP_OK) {
        backoff(s, "complete_lease_failed", err.msg);
        return rc;
    }
    if (want > 0)
        s->retry_request_id[0] = '\0';
    c->sent_ms = dp_now_ms();
    c->give_up_ms = c->sent_ms + timeout + 5000;
    s->n_asked += want;
    s->n_calls++;
    return DP_OK;
}

/* Sends what there is to send: the waiting results and work for the free
 * slots no call asks for yet. Called whenever the mailbox runs empty. */
static void feeder_pump(feeder_state *s)
{
    if (s->token == NULL || s->n_executors == 0 || s->n_calls == FEEDER_MAX_CALLS ||
        dp_now_ms() < s->retry_at_ms)
        return;
    size_t waiting = feeder_held_waiting(&s->held);
    uint32_t want = s->n_free - s->n_asked;
    /* Results awaiting an early message's outcome have their own, larger
     * bound: recorded or about to be, they are many only when the commits
     * lag (their outcomes then come in a burst), and a dispatcher that
     * cannot record at all still stops this runner's leases. */
    size_t awaiting = feeder_held_awaiting(&s->held);
    if (atomic_load(s->cfg.stopping) || s->held.n - awaiting >= held_cap(s) ||
        awaiting >= FEEDER_AWAIT_CAP_FACTOR * held_cap(s))
        want = 0;
    if (want > DP_MSG_MAX_LEASE)
        want = DP_MSG_MAX_LEASE;
    bool parked_in_flight = false, answer_coming = false; /* a call not a parked lease */
    for (size_t i = 0; i < s->n_calls; i++) {
        parked_in_flight |= s->calls[i].parked;
        answer_coming |= !s->calls[i].parked || s->calls[i].max_jobs == 0;
    }
    if (waiting == 0 && (want == 0 || parked_in_flight)) {
        /* Outcomes come only in answers: with results awaiting theirs for
         * FEEDER_POLL_AFTER_MS and no call in flight but a parked lease
         * (which is answered only with jobs: every slot busy, the held cap
         * reached, or idle slots), a long-poll that asks for nothing brings
         * them as they are decided, instead of the await bound sending the
         * results again. Not at once: the next message of a slot that
         * finishes soon brings them without a round trip of its own (one
         * per job at one slot was the cost of polling at once). No job
         * waits for this delay; the tick sends the poll. */
        int64_t since = feeder_held_await_since(&s->held);
        if (!answer_coming && !atomic_load(s->cfg.stopping) && awaiting > 0 &&
            dp_now_ms() - since >= FEEDER_POLL_AFTER_MS)
            send_call(s, 0, 0);
        return;
    }
    /* Sized by load: with k calls travelling (long-polls aside), another
     * goes only with a k/FEEDER_MAX_CALLS share of the slots to carry, else
     * what is ready waits for the next answer (a pump, never a timer). One
     * slot always sends at once, so its cycle still overlaps the commit;
     * many slots send a few large calls instead of many small ones. */
    size_t busy = 0;
    for (size_t i = 0; i < s->n_calls; i++)
        busy += !s->calls[i].parked;
    if (busy > 0 && (waiting + want) * FEEDER_MAX_CALLS < (size_t)s->cfg.slots * busy)
        return;
    /* The results and the lease go together: an early call is answered
     * before the results' commit, so the next job never waits for it (one
     * round trip per job at one slot, where a lease sent on its own beside
     * the results took two). */
    send_call(s, waiting, want);
}

/* The call answered (or given up on): out of the table, its slots unasked;
 * the old replica's link closes once no call waits on it. */
static feeder_call take_call(feeder_state *s, size_t i)
{
    feeder_call c = s->calls[i];
    s->calls[i] = s->calls[--s->n_calls];
    s->n_asked -= c.max_jobs;
    bool old_busy = false;
    for (size_t k = 0; k < s->n_calls; k++)
        old_busy |= s->old_link != NULL && s->calls[k].via == s->old_link;
    if (s->old_link != NULL && !old_busy)
        runner_link_close(&s->old_link);
    return c;
}

/* A call that brought no answer: its results go again, its lease is asked
 * again under the same request id (the dispatcher may have leased for it). */
static void call_failed(feeder_state *s, const feeder_call *c, const char *why)
{
    feeder_held_unsend(&s->held, c->id);
    if (c->max_jobs > 0)
        snprintf(s->retry_request_id, sizeof s->retry_request_id, "%s", c->request_id);
    backoff(s, "complete_lease_failed", why);
}

static void on_answer(feeder_state *s, dp_msg *m)
{
    size_t i = 0;
    while (i < s->n_calls && s->calls[i].id != m->id)
        i++;
    if (i == s->n_calls)
        return; /* given up on already: its results were sent again */
    if (runner_link_answer_open(m, &s->calls[i].target) != DP_OK)
        return; /* out of memory: given up on at its deadline, sent again */
    feeder_call c = take_call(s, i);
    if (m->type == DP_MSG_COMPLETED_LEASED) {
        dp_msg_completed_leased *a = &m->completed_leased;
        bool retry = false;
        /* by job and attempt: an early call's answer carries the outcomes
         * of earlier calls' results */
        for (size_t k = 0; k < a->n_outcomes; k++)
            retry |= feeder_held_decided(&s->held, &a->outcomes[k]) == 0;
        if (c.early) /* their outcomes come in a later answer */
            feeder_held_await(&s->held, c.id, dp_now_ms());
        else /* any result it did not answer goes again */
            feeder_held_unsend(&s->held, c.id);
        if (retry)
            backoff(s, "result_retry", "the dispatcher could not record a result yet");
        else
            s->failures = 0;
        /* Stopping: hand out nothing more; deregistering releases these jobs. */
        size_t k = 0;
        for (; k < a->n_jobs && s->n_free > 0 && !atomic_load(s->cfg.stopping); k++)
            hand_out(s, &a->jobs[k]);
        /* More jobs than free slots cannot happen (every call asks only for
         * slots no other call asked for); say so loudly if it does: those
         * jobs stay leased here until this runner deregisters or is reaped. */
        if (k < a->n_jobs && !atomic_load(s->cfg.stopping))
            dp_log(DP_LOG_ERROR, "jobs_not_handed_out", "job_id", a->jobs[k].job_id, "reason",
                   "more jobs than free slots", (char *)NULL);
        return;
    }
    if (m->type == DP_MSG_ERROR && m->error.code != NULL &&
        (strcmp(m->error.code, DP_MSG_ERR_UNKNOWN_RUNNER) == 0 ||
         strcmp(m->error.code, DP_MSG_ERR_UNAUTHORIZED) == 0)) {
        feeder_held_unsend(&s->held, c.id); /* sent again under the new identity */
        /* Sent under an identity the session has replaced since: the refusal
         * is of that one, not of the one registered meanwhile (forgetting
         * it left the feeder with no identity while the session, whose
         * heartbeats pass, never registered again: no call went out). */
        if (strcmp(c.runner_id, s->runner_id) != 0)
            return;
        dp_log(DP_LOG_WARN, "lease_refused", "code", m->error.code, (char *)NULL);
        forget_session(s);
        dp_msg wake = {.type = DP_MSG_WAKE};
        runner_link_tell(s->cfg.session, &wake, NULL);
        return;
    }
    if (m->type == DP_MSG_NONE) { /* a replica stopping ended the long-poll */
        feeder_held_unsend(&s->held, c.id);
        return;
    }
    call_failed(s, &c, m->type == DP_MSG_ERROR && m->error.message ? m->error.message : "refused");
}

static void check_flush(feeder_state *s)
{
    if (s->flush_req == 0 || (s->held.n > 0 && dp_now_ms() < s->flush_until_ms))
        return;
    if (s->held.n > 0)
        dp_log(DP_LOG_WARN, "results_undelivered", "runner_id", s->runner_id, (char *)NULL);
    actor_reply(s->self, s->flush_req, NULL, NULL);
    s->flush_req = 0;
}

/* A result normally has its outcome within milliseconds (one commit). One
 * held for FEEDER_SLOW_RESULT_MS says something is stuck, and where:
 * `unsent` > 0 means here (backoff, or no call allowed), 0 means in a call
 * the dispatcher has not answered. A failing call is logged by backoff;
 * this catches the silent case. Once per FEEDER_SLOW_WARN_EVERY_MS. */
static void warn_slow_results(feeder_state *s, int64_t now)
{
    int64_t oldest = feeder_held_oldest_ms(&s->held);
    if (oldest == 0 || now - oldest < FEEDER_SLOW_RESULT_MS || now < s->next_slow_warn_ms)
        return;
    s->next_slow_warn_ms = now + FEEDER_SLOW_WARN_EVERY_MS;
    size_t parked = 0;
    for (size_t i = 0; i < s->n_calls; i++)
        parked += s->calls[i].parked;
    char age[24], held[24], unsent[24], awaiting[24], calls[24], backoff_ms[24];
    snprintf(age, sizeof age, "%lld", (long long)(now - oldest));
    snprintf(held, sizeof held, "%zu", s->held.n);
    snprintf(unsent, sizeof unsent, "%zu", feeder_held_waiting(&s->held));
    snprintf(awaiting, sizeof awaiting, "%zu", feeder_held_awaiting(&s->held));
    snprintf(calls, sizeof calls, "%zu", s->n_calls - parked);
    snprintf(backoff_ms, sizeof backoff_ms, "%lld",
             (long long)(s->retry_at_ms > now ? s->retry_at_ms - now : 0));
    dp_log(DP_LOG_WARN, "results_unacknowledged", "runner_id", s->runner_id, "oldest_ms", age,
           "held", held, "unsent", unsent, "awaiting", awaiting, "calls_in_flight", calls,
           "backoff_ms", backoff_ms, (char *)NULL);
}

static void feeder_tick(void *state, actor_ctx *ctx)
{
    feeder_state *s = state;
    (void)ctx;
    dp_log_release();
    int64_t now = dp_now_ms();
    for (size_t i = 0; i < s->n_calls;) {
        if (now < s->calls[i].give_up_ms) {
            i++;
            continue;
        }
        feeder_call c = take_call(s, i); /* its answer was lost (cannot be: bounded mailbox) */
        call_failed(s, &c, "no answer");
    }
    /* A replica killed with our calls held: its listener is gone, which the
     * calls themselves would only find at their deadline. */
    if (s->n_calls > 0 && now >= s->next_probe_ms) {
        s->next_probe_ms = now + 1000;
        for (size_t i = 0; i < s->n_calls; i++)
            if (now - s->calls[i].sent_ms >= 1000 &&
                !runner_link_probe(s->calls[i].via == s->old_link ? &s->old_link : &s->link,
                                   &s->calls[i].target))
                break; /* the link closed: every call on it is answered as failed */
    }
    /* An outcome that never came (the replica restarted or the runner moved
     * to another): the result goes again, and a repeat is acked. Stopping:
     * every one goes again in a call that waits for its outcome. */
    feeder_held_unawait(&s->held, atomic_load(s->cfg.stopping) ? INT64_MAX : now - FEEDER_AWAIT_MS);
    feeder_pump(s);
    warn_slow_results(s, now);
    check_flush(s);
}

static int feeder_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    feeder_state *s = state;
    (void)reply;
    dp_msg m;
    int ret = 0;
    if (dp_msg_decode_internal(msg, &m, NULL) == DP_OK) {
        if (m.type == DP_MSG_PEERS && s->n_executors == 0 && m.peers.n_urls == s->cfg.slots) {
            s->n_executors = s->n_free = s->cfg.slots; /* in place, every one idle */
        } else if (m.type == DP_MSG_REGISTERED) {
            forget_session(s);
            snprintf(s->runner_id, sizeof s->runner_id, "%s", m.registered.runner_id);
            s->token = strdup(m.registered.runner_token);
            s->retry_at_ms = 0;
        } else if (m.type == DP_MSG_SLOT_FREE && m.slot_free.slot < s->n_executors &&
                   s->n_free < s->n_executors) {
            dp_err err = {0};
            dp_log_hold(); /* released when the queue runs empty, below */
            if (m.slot_free.n_results == 1) {
                log_finished(s, &m.slot_free.results[0].result);
                if (feeder_held_add(&s->held, &m.slot_free.results[0], &err) != DP_OK)
                    dp_log(DP_LOG_ERROR, "result_lost", "error", err.msg, (char *)NULL);
            }
            s->n_free++;
        } else if (m.type == DP_MSG_STOPPING && actor_ctx_request(ctx) != 0) {
            if (s->flush_req != 0)
                actor_reply(s->self, s->flush_req, NULL, NULL);
            s->flush_req = actor_ctx_request(ctx);
            s->flush_until_ms = dp_now_ms() + FEEDER_FLUSH_MS;
            feeder_held_unawait(&s->held, INT64_MAX); /* sent again, answered after commit */
            ret = ACTOR_DEFER;
        } else {
            on_answer(s, &m);
        }
        dp_msg_free(&m);
    }
    nng_msg_free(msg);
    /* Send when nothing waits behind this message: under load one message
     * then carries everything that queued up meanwhile. */
    actor_stats st;
    actor_get_stats(s->self, &st);
    if (st.queued == 0) {
        dp_log_release(); /* the results' lines go out before the results */
        feeder_pump(s);
    }
    if (ret != ACTOR_DEFER)
        check_flush(s);
    return ret;
}

static int feeder_start(void *state, actor_ctx *ctx, dp_err *err)
{
    feeder_state *s = state;
    (void)err;
    s->self = actor_ctx_actor(ctx);
    return DP_OK;
}

static void feeder_stop(void *state, actor_ctx *ctx)
{
    feeder_state *s = state;
    (void)ctx;
    dp_log_release();
    forget_session(s);
    runner_link_close(&s->link); /* ends the calls in flight: their answers are dropped */
    runner_link_close(&s->old_link);
    feeder_held_free(&s->held);
    free(s->running);
    free(s);
}

actor *job_feeder_spawn(const job_feeder_config *cfg, dp_err *err)
{
    feeder_state *s = calloc(1, sizeof *s);
    if (s == NULL ||
        (s->running = calloc(cfg->slots ? cfg->slots : 1, sizeof *s->running)) == NULL) {
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
        .on_start = feeder_start,
        .on_stop = feeder_stop,
        .on_tick = feeder_tick,
        .tick_ms = 100,
        /* every executor's slot_free, every call's answer, the session's
         * messages and the pool's stopping: nothing is ever refused */
        .mailbox = cfg->slots + FEEDER_MAX_CALLS + 16,
        .max_msg_bytes = DP_MSG_MAX_SIZE,
    };
    return actor_spawn_owned(&o, err);
}

int job_feeder_set_executors(actor *feeder, actor *const *executors, uint32_t n, dp_err *err)
{
    return runner_link_send_peers(feeder, executors, n, err);
}

int job_feeder_flush(actor *feeder, dp_err *err)
{
    dp_msg m = {.type = DP_MSG_STOPPING};
    return runner_link_command(feeder, &m, FEEDER_FLUSH_MS + 2000, err);
}

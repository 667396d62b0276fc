#include "dispatch/leaser.h"

#include "dispatch/auth_cache.h"
#include "actors/actor.h"
#include "dispatch/event_buffer.h"
#include "common/apikey.h"
#include "dispatch/dd_actor.h"
#include "common/addr_policy.h"
#include "dispatch/spec_blob.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "dispatch/outcome_box.h"
#include "dispatch/qset.h"
#include "dispatch/redis/rq.h"
#include "dispatch/redis/rq_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    fwd_origin origin;
    uint64_t id; /* the client's request id, echoed in the reply */
    char runner_id[DP_ID_MAX];
    char request_id[DP_ID_MAX];
    uint32_t max_jobs;
    int64_t deadline_ms;
    qset queues;         /* the queue ids its runner can take (from Redis when parked) */
    int queues_read;     /* 0: reading them failed: every wake tries it */
    uint64_t queues_gen; /* leaser_state.known_gen when they were read */
    int batch;           /* a complete_lease without results: jobs go out as completed_leased */
    /* Parked without a claim (its runner was dry, or others wait on its
     * queues): no claim has looked at it yet. A resent request's jobs wait
     * in its retry record, which only a claim returns, so it is claimed for
     * by claim_at_ms at the latest (leaser_tick), a wake-up or not. */
    int unclaimed;
    int64_t claim_at_ms;
} parked_lease;

/* A runner's queue ids as last read (read_queues), kept after its request
 * was answered: its next request, most often right after, needs them again. */
typedef struct {
    char runner_id[DP_ID_MAX];
    qset queues;
} known_queues;

typedef struct {
    leaser_config cfg;
    char prefix[RQ_PREFIX_MAX + 1];
    char redis_url[1024];
    rq_conn *rq;
    auth_cache *auth;
    parked_lease *parked; /* FIFO: oldest first */
    size_t n_parked, cap_parked;
    int64_t next_sweep_ms;
    int64_t next_poke_ms;
    char owner_id[48];      /* this replica, for the sweep guard */
    event_buffer events;    /* lease and dead-job events for the reporter, sent per tick */
    size_t queued;          /* messages waiting behind this one (set per message) */
    dp_metrics *metrics;    /* this actor's own; the status actor asks for snapshots */
    dp_hist *m_lease;       /* dispatch_lease_duration_seconds */
    int64_t last_seen_ms;   /* the leaser's last tick or message (stall detection) */
    int64_t fence_until_ms; /* after a stall: nothing claims before this */
    outcome_box outcomes;   /* early results' outcomes for their runners' next answers */
    struct held_cl *held;   /* complete_leases waiting for the mailbox to run empty */
    size_t n_held;
    struct held_cl *polls; /* complete_leases without results, held likewise (hold_poll) */
    size_t n_polls;
    /* Runners whose last claim found every queue they can take empty
     * (rq_lease_claim_streamed's dry), since the last wake-up: claiming for
     * them again finds nothing until a push, and a push to an empty queue
     * publishes a wake-up, which empties this set. Believed until
     * dry_until_ms at most. A request parked unclaimed because of it is
     * claimed for within LEASER_CLAIM_WITHIN_MS all the same (leaser_tick),
     * so a lost wake-up costs at most that much. */
    qset dry;
    int64_t dry_until_ms;
    /* Queue ids of runners whose requests were answered (read_queues takes
     * them back). A runner's set changes only when a new queue appears,
     * which wakes everyone ('*'): that empties this, as the poke does, and
     * moves known_gen on, so that a set read before (held by a parked
     * request) is not kept again when that request is answered. */
    known_queues *known;
    size_t n_known;
    uint64_t known_gen;
} leaser_state;

/* How long a dry runner is believed (see leaser_state.dry), and how many are
 * kept (the set is scanned per lease; past this many, runners claim as if
 * unknown). */
#define LEASER_DRY_MS 1000
#define LEASER_DRY_MAX 256
/* Runners whose queue ids are kept (leaser_state.known; scanned per read). */
#define LEASER_KNOWN_MAX 256

/* An outcome no answer took this long is dropped (its runner has sent the
 * result again long before: FEEDER_AWAIT_MS). */
#define LEASER_OUTCOME_TTL_MS 60000

/* A stall of this replica (SIGSTOP, a starved thread) longer than this... */
#define LEASER_STALL_MS 2000
/* ...fences claims for this long: see check_stall. */
#define LEASER_FENCE_MS 2000

/* A request parked without a claim is claimed for this long after, at the
 * latest (parked_lease.unclaimed); one that waits less than twice that
 * claims at once instead, so its claim never comes after its deadline. */
#define LEASER_CLAIM_WITHIN_MS LEASER_DRY_MS

static void dry_note(leaser_state *s, const char *runner_id)
{
    if (s->dry.n == 0)
        s->dry_until_ms = dp_now_ms() + LEASER_DRY_MS;
    if (s->dry.n < LEASER_DRY_MAX)
        qset_add(&s->dry, runner_id); /* out of memory: not noted, it claims */
}

/* Whether runner_id's queues are known empty (leaser_state.dry). */
static int dry_has(leaser_state *s, const char *runner_id)
{
    if (s->dry.n > 0 && dp_now_ms() >= s->dry_until_ms)
        qset_free(&s->dry);
    return qset_has(&s->dry, runner_id);
}

/* Sends the buffered events to the reporter as one message (it persists and
 * publishes them): one hop per tick instead of one per job. */
static void flush_events(leaser_state *s)
{
    event_buffer_send(&s->events, s->cfg.reporter, 5000, NULL);
}

/* Buffers a state change for the reporter. */
static void queue_event(leaser_state *s, const char *job_id, dp_job_state state, dp_verdict verdict,
                        const char *runner_id, uint32_t attempt, const char *message)
{
    event_buffer_add(&s->events, job_id, state, verdict, runner_id, attempt, message);
    if (s->events.n >= 1024)
        flush_events(s);
}

static void leased_answer(leaser_state *s, const char *runner_id, const rq_lease *leases, size_t n,
                          dp_msg *r);
static void flush_held(leaser_state *s, actor_ctx *ctx);
static void check_stall(leaser_state *s);

/* Claims up to max_jobs for runner_id into r (type leased, jobs owned by r)
 * and *leases (rq_leases_free + free, *n of them), and notes the lease
 * events. DP_OK with *n == 0: nothing pending. *dry (optional): the claim
 * found the runner's queues empty (noted in s->dry too). */
static int leaser_claim_rc(leaser_state *s, const char *runner_id, uint32_t max_jobs,
                           const char *request_id, dp_msg *r, rq_lease **leases, size_t *n,
                           int *dry, dp_err *err)
{
    int is_dry = 0;
    if (dry != NULL)
        *dry = 0;
    uint32_t k = max_jobs < RQ_LEASE_MAX ? max_jobs : RQ_LEASE_MAX;
    *n = 0;
    if ((*leases = calloc(k ? k : 1, sizeof **leases)) == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    /* The lease script puts the `leased` events on the shared stream (before
     * the runner can have the jobs: its complete, on any replica, comes
     * after: event_stream.h), in the same round trip. */
    char ts[40];
    dp_iso_now(ts, sizeof ts);
    int rc = rq_lease_claim_streamed(s->rq, runner_id, k, request_id, ts, DP_MSG_VERSION, *leases,
                                     n, &is_dry, err);
    if (rc == DP_OK)
        leased_answer(s, runner_id, *leases, *n, r);
    if (rc == DP_OK && is_dry)
        dry_note(s, runner_id);
    if (dry != NULL)
        *dry = rc == DP_OK && is_dry;
    return rc;
}

/* The n claimed leases as r's jobs (type leased, jobs owned by r; each
 * spec the lease's stored bytes, borrowed from leases, when they are of
 * this message version: dp_msg_spec_span; decoded otherwise), and their
 * lease events noted. */
static void leased_answer(leaser_state *s, const char *runner_id, const rq_lease *leases, size_t n,
                          dp_msg *r)
{
    if (n == 0)
        return;
    dp_err err = {0};
    r->leased.jobs = calloc(n, sizeof *r->leased.jobs);
    size_t got = 0;
    for (size_t i = 0; r->leased.jobs != NULL && i < n; i++) {
        dp_leased_job *j = &r->leased.jobs[got];
        const rq_lease *l = &leases[i];
        const uint8_t *packed = NULL;
        size_t packed_len = 0;
        if (dp_msg_spec_span(l->spec, l->spec_len, l->job_id, &packed, &packed_len, NULL) ==
                DP_OK &&
            (j->job_id = strdup(l->job_id)) != NULL) {
            j->attempt = l->attempt;
            j->spec_packed = (dp_packed){packed, packed_len};
            got++;
            continue;
        }
        if (spec_blob_unpack(l->spec, l->spec_len, &j->spec, &err) != DP_OK) {
            /* Cannot happen for specs we stored; the reaper or a requeue recovers it. */
            dp_log(DP_LOG_ERROR, "lease_bad_spec", "job_id", l->job_id, "error", err.msg,
                   (char *)NULL);
            continue;
        }
        j->job_id = strdup(l->job_id);
        j->attempt = l->attempt;
        free(j->spec.job_id);
        j->spec.job_id = strdup(l->job_id);
        got++;
    }
    r->leased.n_jobs = got;
    for (size_t i = 0; i < got; i++)
        event_buffer_add(&s->events, r->leased.jobs[i].job_id, DP_JOB_LEASED, DP_VERDICT_NONE,
                         runner_id, r->leased.jobs[i].attempt, NULL);
    if (s->events.n >= 1024)
        flush_events(s);
    /* The rest go when the mailbox runs empty (leaser_idle), after the
     * answer: a message to the reporter before it put the reporter's wake-up
     * on the runner's cycle (a plain lease's go before: try_lease). Under
     * load they wait for the next results (pass_results), the tick or 1024. */
}

/* leaser_claim_rc for the results of a complete_lease: a failed claim
 * leases nothing (logged); the results go on regardless. */
static size_t leaser_claim(leaser_state *s, const char *runner_id, uint32_t max_jobs,
                           const char *request_id, dp_msg *r, rq_lease **leases)
{
    size_t n = 0;
    dp_err err = {0};
    if (leaser_claim_rc(s, runner_id, max_jobs, request_id, r, leases, &n, NULL, &err) != DP_OK)
        dp_log(DP_LOG_WARN, "lease_failed", "runner_id", runner_id, "error", err.msg, (char *)NULL);
    return n;
}

/* A `completed_leased` answer: the jobs of r (borrowed; none when r is
 * NULL) and every outcome decided so far for runner_id's early results
 * (outcome_box.h), which leave the box with it. */
static void answer_batch(leaser_state *s, fwd_origin origin, uint64_t id, const dp_msg *r,
                         const char *runner_id)
{
    dp_msg c = {.type = DP_MSG_COMPLETED_LEASED, .id = id};
    if (r != NULL) {
        c.completed_leased.jobs = r->leased.jobs;
        c.completed_leased.n_jobs = r->leased.n_jobs;
    }
    dp_result_outcome *outs = NULL;
    size_t n = outcome_box_take(&s->outcomes, runner_id, DP_MSG_MAX_RESULTS, &outs);
    c.completed_leased.outcomes = outs;
    c.completed_leased.n_outcomes = n;
    fwd_reply(origin, &c);
    outcome_box_free_outcomes(outs, n);
}

/* The answer: `leased`, or for a complete_lease (batch) `completed_leased`
 * with the same jobs (borrowed from r). */
static void answer_jobs(leaser_state *s, fwd_origin origin, const dp_msg *r, int batch,
                        const char *runner_id)
{
    if (!batch)
        fwd_reply(origin, r);
    else
        answer_batch(s, origin, r->id, r, runner_id);
}

/* Claims for one request; returns the number of jobs answered (0: nothing
 * pending), or -1 when it answered with an error. *dry: as leaser_claim_rc's. */
static int try_lease(leaser_state *s, fwd_origin origin, uint64_t id, const char *runner_id,
                     uint32_t max_jobs, const char *request_id, int batch, int *dry)
{
    dp_msg r = {.type = DP_MSG_LEASED, .id = id};
    rq_lease *leases = NULL;
    size_t n = 0;
    dp_err err = {0};
    double t0 = dp_metrics_now();
    int rc = leaser_claim_rc(s, runner_id, max_jobs, request_id, &r, &leases, &n, dry, &err);
    if (rc != DP_OK) {
        fwd_reply_error(origin, id,
                        rc == DP_ENOTFOUND ? DP_MSG_ERR_UNKNOWN_RUNNER
                        : rc == DP_ENOMEM  ? DP_MSG_ERR_INTERNAL
                                           : DP_MSG_ERR_UNAVAILABLE,
                        err.msg);
        rq_leases_free(leases, n);
        free(leases);
        return -1;
    }
    if (n > 0) {
        /* A plain lease's result comes back as a lone complete (the HTTP
         * runners'), straight to the reporter: its lease events go first, so
         * the lease mark is there before any result. A complete_lease's
         * results come through here (pass_results flushes first). */
        if (!batch && s->queued == 0)
            flush_events(s);
        answer_jobs(s, origin, &r, batch, runner_id);
        dp_hist_observe(s->m_lease,
                        dp_metrics_now() - t0); /* claim to reply, for leases with jobs */
    }
    dp_msg_free(&r);
    rq_leases_free(leases, n);
    free(leases);
    return (int)n;
}

static void answer_none(parked_lease *p, const char *reason)
{
    dp_msg r = {.type = DP_MSG_NONE, .id = p->id};
    r.none.reason = (char *)reason;
    fwd_reply(p->origin, &r);
    qset_free(&p->queues);
}

/* Drops every kept set. known_clear also moves the generation on: sets read
 * before may be stale (a '*' wake-up, the poke); a full cache is not that. */
static void known_drop(leaser_state *s)
{
    for (size_t i = 0; i < s->n_known; i++)
        qset_free(&s->known[i].queues);
    s->n_known = 0;
}

static void known_clear(leaser_state *s)
{
    known_drop(s);
    s->known_gen++;
}

/* Keeps q (moved: q is left empty) as runner_id's queue ids. */
static void known_put(leaser_state *s, const char *runner_id, qset *q)
{
    if (s->known == NULL && (s->known = calloc(LEASER_KNOWN_MAX, sizeof *s->known)) == NULL) {
        qset_free(q);
        return;
    }
    known_queues *k = NULL;
    for (size_t i = 0; k == NULL && i < s->n_known; i++)
        if (strcmp(s->known[i].runner_id, runner_id) == 0) {
            k = &s->known[i]; /* a runner is kept once: the later set replaces */
            qset_free(&k->queues);
        }
    if (k == NULL && s->n_known == LEASER_KNOWN_MAX)
        known_drop(s);
    if (k == NULL)
        k = &s->known[s->n_known++];
    snprintf(k->runner_id, sizeof k->runner_id, "%s", runner_id);
    k->queues = *q;
    *q = (qset){0};
}

/* Moves runner_id's kept queue ids into *q; 0 when none are kept. */
static int known_take(leaser_state *s, const char *runner_id, qset *q)
{
    for (size_t i = 0; i < s->n_known; i++) {
        if (strcmp(s->known[i].runner_id, runner_id) != 0)
            continue;
        qset_free(q);
        *q = s->known[i].queues;
        s->known[i] = s->known[--s->n_known];
        return 1;
    }
    return 0;
}

/* An answered request's queue ids: kept when they were read since the
 * kept sets were last dropped. */
static void done_with_queues(leaser_state *s, parked_lease *p)
{
    if (p->queues_read && p->queues_gen == s->known_gen)
        known_put(s, p->runner_id, &p->queues);
    else
        qset_free(&p->queues);
}

/* The queue ids runner_id can take, into *q (a failed read leaves it empty
 * and returns 0: the caller then treats the runner as able to take anything);
 * *gen: the generation they belong to (leaser_state.known_gen). */
static int read_queues(leaser_state *s, const char *runner_id, qset *q, uint64_t *gen)
{
    *gen = s->known_gen;
    if (known_take(s, runner_id, q))
        return 1;
    char **v = NULL;
    size_t n = 0;
    dp_err err = {0};
    if (rq_runner_queues(s->rq, runner_id, &v, &n, &err) != DP_OK) {
        qset_free(q);
        return 0;
    }
    qset_take(q, v, n);
    return 1;
}

static void park(leaser_state *s, const parked_lease *p)
{
    if (s->n_parked == s->cap_parked) {
        size_t cap = s->cap_parked ? s->cap_parked * 2 : 64;
        parked_lease *np = realloc(s->parked, cap * sizeof *np);
        if (np == NULL) {
            answer_none((parked_lease *)p, "busy");
            return;
        }
        s->parked = np;
        s->cap_parked = cap;
    }
    s->parked[s->n_parked++] = *p;
}

/* Serves parked requests oldest first, only those a wake concerns: with
 * queue ids (wake->n > 0) the requests whose runner can take one of them,
 * without (all) every request. A request that gets nothing proves its
 * runner's queues empty: they are marked dry for this pass, later requests
 * whose queues are all dry are not tried, and a targeted pass stops when
 * every named queue is dry. So a wake costs one lease call per runner that
 * can take the work, not one per parked runner. A request that got jobs
 * but took all there was (dry) proves the same. A runner in s->dry is not
 * tried (its queues are empty until a wake-up). `refresh` re-reads each
 * runner's queues first (a new queue appeared). A request past its
 * deadline never claims (its runner may have given up on it and leased
 * elsewhere under the same request id): it gets `none`. Nothing claims
 * while a stall's fence holds (check_stall). `claim_due` (the tick's pass)
 * tries only the requests parked without a claim whose claim_at_ms has come,
 * whatever is known dry: one of them may be a resend whose jobs wait in its
 * retry record. */
static void serve_parked(leaser_state *s, const qset *wake, int refresh, int claim_due)
{
    int64_t now = dp_now_ms();
    if (now < s->fence_until_ms)
        return;
    qset dry = {0};
    size_t keep = 0;
    for (size_t i = 0; i < s->n_parked; i++) {
        parked_lease *p = &s->parked[i];
        if (p->deadline_ms <= now) {
            done_with_queues(s, p);
            answer_none(p, "timeout");
            continue;
        }
        if (p->max_jobs == 0) { /* an outcomes poll claims nothing */
            s->parked[keep++] = *p;
            continue;
        }
        if (refresh || !p->queues_read)
            p->queues_read = read_queues(s, p->runner_id, &p->queues, &p->queues_gen);
        int relevant;
        if (claim_due)
            relevant = p->unclaimed && now >= p->claim_at_ms;
        else if (!p->queues_read)
            relevant = 1;
        else if (wake != NULL && wake->n > 0)
            relevant = qset_overlaps(&p->queues, wake, &dry);
        else
            relevant = p->queues.n > 0 && !qset_within(&p->queues, &dry);
        if (!claim_due && wake != NULL && wake->n > 0 && qset_within(wake, &dry))
            relevant = 0; /* everything the wake named is taken */
        if (!claim_due && relevant && dry_has(s, p->runner_id))
            relevant = 0;
        int took_all = 0;
        int n = relevant ? try_lease(s, p->origin, p->id, p->runner_id, p->max_jobs, p->request_id,
                                     p->batch, &took_all)
                         : 0;
        if (relevant)
            p->unclaimed = 0;
        if (n > 0 && took_all && p->queues_read)
            for (size_t k = 0; k < p->queues.n; k++)
                qset_add(&dry, p->queues.v[k]);
        if (n != 0) { /* answered (jobs or an error) */
            done_with_queues(s, p);
            continue;
        }
        if (relevant)
            for (size_t k = 0; k < p->queues.n; k++)
                qset_add(&dry, p->queues.v[k]);
        s->parked[keep++] = *p;
    }
    s->n_parked = keep;
    qset_free(&dry);
}

static void release_parked(leaser_state *s, const char *runner_id)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->n_parked; i++) {
        if (strcmp(s->parked[i].runner_id, runner_id) == 0)
            answer_none(&s->parked[i], "draining");
        else
            s->parked[keep++] = s->parked[i];
    }
    s->n_parked = keep;
}

/* A request that waited through a stall may have been given up by its
 * runner (whose call deadline is the lease wait + a few seconds, or whose
 * heartbeats moved it to another replica) and leased again elsewhere under
 * the same request id; claiming for it now would lease jobs that nobody
 * receives and that stay leased by a runner alive elsewhere. So a gap of
 * more than LEASER_STALL_MS in the leaser's own activity (its tick is
 * 20 ms) answers every parked request `none` and, for LEASER_FENCE_MS, lets
 * nothing claim: requests that come in meanwhile (read from the sockets
 * after the stall, stale or not) are parked until the fence ends and then
 * answered `none`; a runner still waiting simply leases again. */
static void check_stall(leaser_state *s)
{
    int64_t now = dp_now_ms();
    if (s->last_seen_ms != 0 && now - s->last_seen_ms > LEASER_STALL_MS) {
        char gap[24];
        snprintf(gap, sizeof gap, "%lld", (long long)(now - s->last_seen_ms));
        dp_log(DP_LOG_WARN, "leaser_stalled", "ms", gap, (char *)NULL);
        for (size_t i = 0; i < s->n_parked; i++)
            answer_none(&s->parked[i], "stalled");
        s->n_parked = 0;
        s->fence_until_ms = now + LEASER_FENCE_MS;
    }
    s->last_seen_ms = now;
}

static void handle_lease(void *state, actor_ctx *ctx, fwd_origin origin, dp_msg *m, int batch)
{
    leaser_state *s = state;
    (void)ctx;
    const dp_msg_lease *l = &m->lease;
    dp_err err = {0};
    int rc = auth_cache_check(s->auth, s->rq, l->runner_id, l->runner_token, &err);
    if (rc != DP_OK) {
        fwd_reply_error(origin, m->id,
                        rc == DP_EAUTH       ? DP_MSG_ERR_UNAUTHORIZED
                        : rc == DP_ENOTFOUND ? DP_MSG_ERR_UNKNOWN_RUNNER
                                             : DP_MSG_ERR_UNAVAILABLE,
                        rc == DP_EAUTH ? "runner token rejected" : err.msg);
        return;
    }
    /* Someone parked earlier for the same queues goes first: join the line
     * instead of overtaking. A runner whose queues nobody waits on leases at once. */
    parked_lease p = {.origin = origin, .id = m->id, .max_jobs = l->max_jobs, .batch = batch};
    int64_t now = dp_now_ms();
    int fenced = now < s->fence_until_ms;
    int first = s->n_parked == 0;
    if (!first && l->max_jobs > 0) {
        p.queues_read = read_queues(s, l->runner_id, &p.queues, &p.queues_gen);
        first = p.queues_read;
        for (size_t i = 0; first && i < s->n_parked; i++)
            if (!s->parked[i].queues_read || qset_overlaps(&p.queues, &s->parked[i].queues, NULL))
                first = 0;
    }
    /* Its queues found empty since the last wake-up: it waits for the next
     * one, without a claim that would find nothing. Not a request that cannot
     * wait for the claim that comes by LEASER_CLAIM_WITHIN_MS (it may be a
     * resend whose jobs wait in its retry record: it must not be answered
     * `none` unclaimed): that one claims now, in line or not. */
    int dry = l->max_jobs > 0 && dry_has(s, l->runner_id);
    int short_wait = l->wait_ms < 2 * LEASER_CLAIM_WITHIN_MS;
    int claims = !fenced && l->max_jobs > 0 && ((first && !dry) || short_wait);
    int n = claims
                ? try_lease(s, origin, m->id, l->runner_id, l->max_jobs, l->request_id, batch, NULL)
                : 0;
    if (n != 0) {
        done_with_queues(s, &p);
        return;
    }
    /* An outcomes poll whose outcomes wait: answered now. A lease is never
     * answered with outcomes alone: it would leave the runner without a
     * long-poll until it asks again (measured: latency up by a third at
     * 100 jobs/s), and a retried request id must get the jobs it holds.
     * Its answer with jobs carries them; its runner polls meanwhile. */
    if (l->max_jobs == 0 && outcome_box_has(&s->outcomes, l->runner_id)) {
        answer_batch(s, origin, m->id, NULL, l->runner_id);
        qset_free(&p.queues);
        return;
    }
    if (l->wait_ms == 0) {
        answer_none(&p, "empty");
        return;
    }
    uint32_t wait = l->wait_ms < s->cfg.max_wait_ms ? l->wait_ms : s->cfg.max_wait_ms;
    p.deadline_ms = now + wait;
    if (fenced && p.deadline_ms > s->fence_until_ms)
        p.deadline_ms = s->fence_until_ms; /* maybe stale: never claims (check_stall) */
    snprintf(p.runner_id, sizeof p.runner_id, "%s", l->runner_id);
    snprintf(p.request_id, sizeof p.request_id, "%s", l->request_id ? l->request_id : "");
    if (l->max_jobs == 0) { /* an outcomes poll: answered by on_outcomes, or at its deadline */
        park(s, &p);
        return;
    }
    if (!p.queues_read)
        p.queues_read = read_queues(s, l->runner_id, &p.queues, &p.queues_gen);
    p.unclaimed = !claims && !fenced;
    p.claim_at_ms = now + LEASER_CLAIM_WITHIN_MS;
    qset mine = {0};
    for (size_t i = 0; i < p.queues.n; i++)
        qset_add(&mine, p.queues.v[i]);
    park(s, &p);
    /* A job may have arrived between the claim and now; the line for these
     * queues is served oldest first. Not when its queues were found empty
     * since the last wake-up: the wake-up serves the line. */
    if (mine.n > 0 && !dry)
        serve_parked(s, &mine, 0, 0);
    qset_free(&mine);
}

/* Whether other messages wait behind this one: a busy leaser lets the
 * events of several leases travel together. */
static void note_idle(leaser_state *s, actor_ctx *ctx)
{
    actor_stats st;
    actor_get_stats(actor_ctx_actor(ctx), &st);
    s->queued = st.queued;
}

static void on_lease(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    check_stall(state);
    note_idle(state, ctx);
    flush_held(state, ctx); /* in arrival order */
    handle_lease(state, ctx, o, m, 0);
}

/* A complete_lease with results, held while other messages wait. */
typedef struct held_cl {
    fwd_origin o;
    dp_msg m;         /* moved out of the handler's message: owned */
    int fenced;       /* came while claims were fenced (check_stall) */
    int auth;         /* auth_cache_check's result */
    int solo;         /* claimed on its own, after the batched claim */
    dp_msg r;         /* its claimed jobs (type leased) */
    rq_lease *leases; /* r's leases (rq_leases_free + free) */
    size_t n;
    /* In the batched claim, its results owner-checked there (one per
     * result, owned; checked: the call made them, at checked_ms): the
     * reporter then makes no call of its own for them. */
    rq_owner_item *own;
    int in_claim, checked;
    int64_t checked_ms;
} held_cl;

/* Claims held per batched claim (one script call) at most. */
#define LEASER_HOLD_MAX 16
/* A complete_lease is held only with this many messages behind it: one
 * waiting message is most often the reporter's outcomes, and holding for it
 * put its handling on the runner's cycle (one runner with one slot: 11 %
 * fewer jobs/s, 4 pairs, docs/bench.md). */
#define LEASER_HOLD_QUEUED 2

/* Moves *from into *to (owned there); the framework frees an empty one. */
static void take_msg(dp_msg *to, dp_msg *from)
{
    *to = *from;
    dp_msg_type t = from->type;
    memset(from, 0, sizeof *from); /* the body and the envelope's own (auth) */
    from->type = t;
}

static void hold_cl(leaser_state *s, fwd_origin o, dp_msg *m)
{
    held_cl *h = &s->held[s->n_held++];
    memset(h, 0, sizeof *h);
    h->o = o;
    h->fenced = dp_now_ms() < s->fence_until_ms;
    take_msg(&h->m, m);
}

/* Whether h is answered before its results' outcomes (the runner asked so
 * and is known here): its results then go to the reporter before its
 * claim, and the answer with the jobs after it. A runner unknown here waits
 * for its conflicts instead. */
static int early_cl(const held_cl *h)
{
    return h->m.complete_lease.early && h->auth == DP_OK;
}

/* The leaser's owner check of h's result i for the reporter (lease_for). */
static uint32_t owner_code(const held_cl *h, size_t i)
{
    if (!h->checked || h->m.complete_lease.results[i].retry)
        return DP_OWNER_UNCHECKED; /* a retry's check needs its max_attempts: the reporter's */
    switch (h->own[i].result) {
    case DP_OK:
        return DP_OWNER_PASSED;
    case DP_ECONFLICT:
        return DP_OWNER_CONFLICT;
    case DP_ENOTFOUND:
        return DP_OWNER_NOT_FOUND;
    default:
        return DP_OWNER_UNCHECKED;
    }
}

/* h's results to the reporter. Checked in its claim's call (in_claim): after
 * the claim, an early one's after its answer (the runner's next job goes
 * first); the owner check then made no round trip of its own. Early and not
 * in a claim: before any claim, so their owner check and commit overlap
 * the claim's round trip (one runner with one slot: 1,743 -> 2,191 jobs/s,
 * docs/bench.md, fourteenth session). Any other after the claim, with the
 * jobs the reporter answers together with the outcomes. */
static void pass_results(leaser_state *s, actor_ctx *ctx, held_cl *h)
{
    dp_msg_complete_lease *cl = &h->m.complete_lease;
    dp_err err = {0};
    int early = early_cl(h);
    cl->early = early;
    /* The lease events buffered so far go to the reporter ahead of these
     * results: a job leased by an earlier message (answered while events
     * were held for the tick) may be among them, and its lease mark must
     * reach PostgreSQL before its result, or the history loses its
     * `leased` row (the mark finds the job finished). */
    flush_events(s);
    dp_msg f = {.type = DP_MSG_LEASE_FOR};
    f.lease_for.gateway = h->o.gateway;
    f.lease_for.req = h->o.req;
    f.lease_for.reply_id = h->m.id;
    f.lease_for.lease = *cl; /* borrowed for the encoding */
    f.lease_for.back = early ? (char *)actor_url(actor_ctx_actor(ctx), 0) : NULL;
    dp_owner_check checks[DP_MSG_MAX_RESULTS];
    if (h->checked) {
        for (size_t i = 0; i < cl->n_results; i++)
            checks[i].code = owner_code(h, i);
        f.lease_for.checks = checks;
        f.lease_for.n_checks = cl->n_results;
        f.lease_for.checked_ms = (uint64_t)h->checked_ms;
    }
    if (!early) {
        f.lease_for.answer.jobs = h->r.leased.jobs;
        f.lease_for.answer.n_jobs = h->r.leased.n_jobs;
    }
    nng_msg *msg = fwd_internal(&f, &err);
    if (msg == NULL || actor_send(s->cfg.reporter, msg, 5000, &err) != DP_OK) {
        if (early) /* the runner sends them again after its await bound */
            dp_log(DP_LOG_WARN, "results_not_passed", "runner_id", cl->runner_id, "error", err.msg,
                   (char *)NULL);
        else /* the jobs stay leased to it: the runner resends, the request id
              * gives it the same jobs again */
            fwd_reply_error(h->o, h->m.id, DP_MSG_ERR_UNAVAILABLE, err.msg);
    }
}

/* The rest of one complete_lease once its jobs are claimed: an early one's
 * answer (the runner has its jobs and the outcomes decided so far now; the
 * reporter sends these results' outcomes here, on_outcomes, for a later
 * answer), any other's results and jobs to the reporter. Frees h's parts. */
static void finish_cl(leaser_state *s, actor_ctx *ctx, held_cl *h)
{
    if (early_cl(h))
        answer_batch(s, h->o, h->m.id, &h->r, h->m.complete_lease.runner_id);
    if (!early_cl(h) || h->in_claim)
        pass_results(s, ctx, h);
    free(h->own);
    dp_msg_free(&h->r);
    rq_leases_free(h->leases, h->n);
    free(h->leases);
    dp_msg_free(&h->m);
}

/* Claims the jobs of the n complete_leases in h, then finishes each in
 * arrival order. One script call (rq_lease_claim_many) claims for
 * those with a request id (up to RQ_LEASE_REQS_KEPT of one runner); the
 * others claim on their own after it, in arrival order. A runner unknown here (reaped)
 * still gets its results answered: the reporter says conflict for each; it
 * leases nothing. */
static void claim_and_finish(leaser_state *s, actor_ctx *ctx, held_cl *h, size_t n)
{
    rq_claim *claims = calloc(n, sizeof *claims);
    size_t *of = calloc(n, sizeof *of), nc = 0;
    int fenced_now = dp_now_ms() < s->fence_until_ms;
    for (size_t i = 0; i < n; i++) {
        dp_msg_complete_lease *cl = &h[i].m.complete_lease;
        dp_err err = {0};
        h[i].r = (dp_msg){.type = DP_MSG_LEASED, .id = h[i].m.id};
        h[i].auth = auth_cache_check(s->auth, s->rq, cl->runner_id, cl->runner_token, &err);
        if (h[i].auth == DP_EAUTH || h[i].auth == DP_EUNAVAIL) {
            fwd_reply_error(h[i].o, h[i].m.id,
                            h[i].auth == DP_EAUTH ? DP_MSG_ERR_UNAUTHORIZED
                                                  : DP_MSG_ERR_UNAVAILABLE,
                            h[i].auth == DP_EAUTH ? "runner token rejected" : err.msg);
            continue;
        }
        if (h[i].auth != DP_OK || cl->max_jobs == 0 || fenced_now || h[i].fenced)
            continue;
        size_t same = 0; /* its runner's claims in the batch already */
        for (size_t j = 0; j < nc; j++)
            same += strcmp(claims[j].runner_id, cl->runner_id) == 0;
        int again = same >= RQ_LEASE_REQS_KEPT;
        uint32_t k = cl->max_jobs < RQ_LEASE_MAX ? cl->max_jobs : RQ_LEASE_MAX;
        if (claims == NULL || of == NULL || again || cl->request_id == NULL ||
            *cl->request_id == '\0' || (h[i].leases = calloc(k, sizeof *h[i].leases)) == NULL) {
            h[i].solo = 1;
            continue;
        }
        claims[nc] = (rq_claim){
            .runner_id = cl->runner_id, .k = k, .request_id = cl->request_id, .out = h[i].leases};
        /* Its results' owner checks ride in the same call (rq_lease.lua). */
        size_t nr = cl->n_results;
        if (nr > 0 && nr <= RQ_BATCH_MAX && (h[i].own = calloc(nr, sizeof *h[i].own)) != NULL) {
            for (size_t r = 0; r < nr; r++)
                h[i].own[r] = (rq_owner_item){.job_id = cl->results[r].result.job_id,
                                              .runner_id = cl->runner_id,
                                              .attempt = cl->results[r].result.attempt,
                                              .mark = !cl->results[r].retry};
            claims[nc].checks = h[i].own;
            claims[nc].n_checks = nr;
        }
        h[i].in_claim = 1;
        of[nc++] = i;
    }
    for (size_t i = 0; i < n; i++) /* in arrival order, before any claim */
        if (early_cl(&h[i]) && !h[i].in_claim)
            pass_results(s, ctx, &h[i]);
    if (nc > 0) {
        /* The lease script puts the `leased` events on the shared stream
         * (before the runners can have the jobs), in the same round trip. */
        char ts[40];
        dp_iso_now(ts, sizeof ts);
        int64_t checked_ms = dp_now_ms(); /* before the marks: their hold counts from here */
        rq_lease_claim_many(s->rq, claims, nc, ts, DP_MSG_VERSION);
        for (size_t j = 0; j < nc; j++) {
            h[of[j]].checked = claims[j].checked; /* only with checks (own) */
            h[of[j]].checked_ms = checked_ms;
        }
    }
    for (size_t j = 0; j < nc; j++) {
        held_cl *c = &h[of[j]];
        if (claims[j].rc != DP_OK) {
            dp_log(DP_LOG_WARN, "lease_failed", "runner_id", claims[j].runner_id, "error",
                   claims[j].err.msg, (char *)NULL);
            continue;
        }
        c->n = claims[j].n_out;
        leased_answer(s, claims[j].runner_id, c->leases, c->n, &c->r);
        if (claims[j].dry)
            dry_note(s, claims[j].runner_id);
    }
    for (size_t i = 0; i < n; i++) {
        dp_msg_complete_lease *cl = &h[i].m.complete_lease;
        if (h[i].solo)
            h[i].n =
                leaser_claim(s, cl->runner_id, cl->max_jobs, cl->request_id, &h[i].r, &h[i].leases);
    }
    for (size_t i = 0; i < n; i++) {
        if (h[i].auth == DP_EAUTH || h[i].auth == DP_EUNAVAIL) {
            free(h[i].own);
            dp_msg_free(&h[i].r);
            dp_msg_free(&h[i].m);
        } else {
            finish_cl(s, ctx, &h[i]);
        }
    }
    free(claims);
    free(of);
}

/* A poll (a complete_lease without results) as a lease: claimed now,
 * else parked for its wait. Frees h's message. */
static void answer_poll(leaser_state *s, actor_ctx *ctx, held_cl *h)
{
    if (h->fenced && dp_now_ms() >= s->fence_until_ms) {
        /* it came while claims were fenced (check_stall) and the fence
         * ended while it was held: answered as a poll parked through the
         * fence is, never claimed for */
        parked_lease p = {.origin = h->o, .id = h->m.id};
        answer_none(&p, "stalled");
    } else {
        dp_msg_complete_lease *cl = &h->m.complete_lease;
        dp_msg l = {.type = DP_MSG_LEASE, .id = h->m.id};
        l.lease = (dp_msg_lease){cl->runner_id, cl->runner_token, cl->max_jobs, cl->wait_ms,
                                 cl->request_id};
        handle_lease(s, ctx, h->o, &l, 1);
    }
    dp_msg_free(&h->m);
}

/* The held complete_leases, claimed together and finished in order, then
 * the held polls in arrival order. */
static void flush_held(leaser_state *s, actor_ctx *ctx)
{
    if (s->n_held > 0 || s->n_polls > 0)
        check_stall(s); /* a stall ends in a fence before anything claims */
    size_t n = s->n_held;
    s->n_held = 0;
    if (n > 0)
        claim_and_finish(s, ctx, s->held, n);
    n = s->n_polls;
    s->n_polls = 0;
    for (size_t i = 0; i < n; i++)
        answer_poll(s, ctx, &s->polls[i]);
}

/* complete_lease: without results it is a lease (a poll) answered with
 * completed_leased, held while messages wait behind it (answer_poll when
 * flush_held runs); with results the jobs are claimed at once (never
 * parked: the runner waits for its outcomes) and travel with the results to
 * the reporter, which records them and answers the runner with both. With
 * more messages waiting it is held (hold_cl): the claims of every held one
 * go to Redis in one script call when the mailbox runs empty. */
static void on_complete_lease(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    leaser_state *s = state;
    check_stall(s);
    note_idle(s, ctx);
    if (m->complete_lease.n_results == 0) {
        /* A poll with messages behind it waits until they are read: most
         * often its runner's next result is among them (a runner polls for
         * its free slots as it takes a job, and the job's result follows),
         * and that result's owner check and commit waited for this poll's
         * claim, queue read and second claim (strace, one runner at 5
         * jobs/s: 0.6 ms of the result's path). */
        if (s->queued > 0 && s->n_polls < LEASER_HOLD_MAX) {
            held_cl *h = &s->polls[s->n_polls++];
            memset(h, 0, sizeof *h);
            h->o = o;
            h->fenced = dp_now_ms() < s->fence_until_ms;
            take_msg(&h->m, m);
            return;
        }
        flush_held(s, ctx); /* in arrival order */
        held_cl now = {.o = o};
        take_msg(&now.m, m);
        answer_poll(s, ctx, &now);
        return;
    }
    hold_cl(s, o, m); /* room: flushed at LEASER_HOLD_MAX */
    if (s->queued >= LEASER_HOLD_QUEUED && s->n_held < LEASER_HOLD_MAX)
        return;
    flush_held(s, ctx);
}

/* From the reporter: the outcomes of a runner's early results. They wait in
 * the box for its next answer; that runner's outcomes poll parked here is
 * answered with them now. */
static void on_outcomes(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    leaser_state *s = state;
    (void)o;
    note_idle(s, ctx);
    dp_msg_outcomes *oc = &m->outcomes;
    dp_err err = {0};
    if (outcome_box_add(&s->outcomes, oc->runner_id, oc->outcomes, oc->n_outcomes, dp_now_ms(),
                        &err) != DP_OK)
        dp_log(DP_LOG_WARN, "outcomes_dropped", "runner_id", oc->runner_id, "error", err.msg,
               (char *)NULL); /* the runner sends those results again */
    size_t keep = 0;
    for (size_t i = 0; i < s->n_parked; i++) {
        parked_lease *p = &s->parked[i];
        /* only its outcomes poll: a parked lease stays (see handle_lease) */
        if (p->max_jobs == 0 && strcmp(p->runner_id, oc->runner_id) == 0 &&
            outcome_box_has(&s->outcomes, p->runner_id)) {
            answer_batch(s, p->origin, p->id, NULL, p->runner_id);
            qset_free(&p->queues);
            continue;
        }
        s->parked[keep++] = *p;
    }
    s->n_parked = keep;
}

/* From the waker (queue ids that became non-empty, or none: a new queue,
 * look at everything) or the registrar (released jobs). */
static void on_wake(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    (void)o;
    check_stall(state);
    note_idle(state, ctx);
    leaser_state *s = state;
    qset_free(&s->dry); /* a queue became non-empty */
    qset w = {0};
    for (size_t i = 0; i < m->wake.n_queues; i++)
        if (qset_add(&w, m->wake.queues[i]) != 0)
            qset_free(&w); /* out of memory: wake everyone */
    if (w.n == 0)
        known_clear(s); /* a new queue: runners' sets may have grown */
    serve_parked(s, &w, w.n == 0, 0);
    qset_free(&w);
}

/* Internal, from the registrar: that runner takes nothing more. */
static void on_drain(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    (void)o;
    note_idle(state, ctx);
    release_parked(state, m->drain.runner_id);
}

/* Dead jobs are left in Redis until the reporter has recorded them (it acks). */
static void report_dead(leaser_state *s)
{
    rq_dead_job dead[64];
    size_t n = 0;
    dp_err err = {0};
    if (rq_dead_peek(s->rq, dead, 64, &n, &err) != DP_OK) {
        dp_log(DP_LOG_WARN, "dead_peek_failed", "error", err.msg, (char *)NULL);
        return;
    }
    for (size_t i = 0; i < n; i++)
        queue_event(s, dead[i].job_id, DP_JOB_FAILED, DP_VERDICT_SE, NULL, dead[i].attempts,
                    dead[i].reason);
}

/* A job a reclaim put back: the reporter records it (state and `requeued`
 * row in one statement) and publishes it. */
static void on_reclaimed(void *arg, const char *runner_id, const char *job_id, uint32_t attempt)
{
    char why[160];
    snprintf(why, sizeof why, "runner %.64s was lost during attempt %u; requeued", runner_id,
             attempt);
    queue_event(arg, job_id, DP_JOB_QUEUED, DP_VERDICT_NONE, runner_id, attempt, why);
}

static void sweep(leaser_state *s)
{
    rq_reap_report rep = {0};
    dp_err err = {0};
    if (rq_reap_sweep_notify(s->rq, s->owner_id, 2 * s->cfg.sweep_ms, 1000, &rep, on_reclaimed, s,
                             &err) != DP_OK) {
        dp_log(DP_LOG_WARN, "sweep_failed", "error", err.msg, (char *)NULL);
        return;
    }
    dp_metrics_inc(s->metrics, "dispatch_jobs_reclaimed_total", "", rep.jobs_requeued);
    dp_metrics_inc(s->metrics, "dispatch_jobs_dead_total", "", rep.jobs_dead);
    dp_metrics_inc(s->metrics, "dispatch_runners_lost_total", "", rep.runners_reaped);
    if (rep.runners_reaped > 0) {
        char buf[96];
        snprintf(buf, sizeof buf, "%u runners, %u jobs requeued, %u dead", rep.runners_reaped,
                 rep.jobs_requeued, rep.jobs_dead);
        dp_log(DP_LOG_WARN, "runners_reaped", "detail", buf, (char *)NULL);
    }
    if (rep.jobs_dead > 0 || rep.runners_reaped > 0)
        report_dead(s);
    if (rep.jobs_requeued > 0) {
        qset_free(&s->dry);
        serve_parked(s, NULL, 0, 0);
    }
}

static void leaser_tick(void *state, actor_ctx *ctx)
{
    leaser_state *s = state;
    check_stall(s);
    flush_held(s, ctx); /* none are left here while messages come; a safety net */
    int64_t now = dp_now_ms();
    flush_events(s);
    outcome_box_expire(&s->outcomes, now - LEASER_OUTCOME_TTL_MS);
    size_t keep = 0;
    int due = 0; /* a request parked without a claim has come to its claim_at_ms */
    for (size_t i = 0; i < s->n_parked; i++) {
        parked_lease *p = &s->parked[i];
        if (p->deadline_ms <= now) {
            done_with_queues(s, p);
            answer_none(p, "timeout");
            continue;
        }
        due |= p->unclaimed && now >= p->claim_at_ms;
        s->parked[keep++] = *p;
    }
    s->n_parked = keep;
    if (now >= s->next_sweep_ms) {
        s->next_sweep_ms = now + s->cfg.sweep_ms;
        sweep(s);
    }
    /* Requests parked without a claim that no wake-up's pass has tried by
     * their claim_at_ms are claimed for now, each once: a lost wake-up, or a
     * request resent after its answer was lost (its jobs wait in its retry
     * record), costs at most LEASER_CLAIM_WITHIN_MS then, not the poke's 5
     * s. Only those: a request parked after a claim needs no second one (an
     * idle runner's long-poll would claim every second). */
    if (due)
        serve_parked(s, NULL, 0, 1);
    /* A missed wake-up (a lost subscription) costs at most this delay. */
    if (s->n_parked > 0 && now >= s->next_poke_ms) {
        s->next_poke_ms = now + 5000;
        qset_free(&s->dry);
        known_clear(s); /* bounds what a lost '*' wake-up leaves stale */
        serve_parked(s, NULL, 0, 0);
    }
}

static int leaser_start(void *state, actor_ctx *ctx, dp_err *err)
{
    leaser_state *s = state;
    (void)ctx;
    /* It hands out specs accepted at submit, reading and encoding them
     * again: a callback policy narrowed since must not make them unleasable. */
    dp_callback_policy_trust(1);
    rq_options opt;
    rq_options_default(&opt);
    opt.alive_ttl_ms = s->cfg.alive_ttl_ms;
    opt.max_attempts = s->cfg.max_attempts;
    s->rq = rq_connect(s->redis_url, s->prefix, &opt, err);
    s->auth = auth_cache_new(4096);
    if (s->rq == NULL || s->auth == NULL)
        return DP_EUNAVAIL;
    if ((s->metrics = dp_metrics_new()) == NULL ||
        (s->held = calloc(LEASER_HOLD_MAX, sizeof *s->held)) == NULL ||
        (s->polls = calloc(LEASER_HOLD_MAX, sizeof *s->polls)) == NULL)
        return dp_err_set(err, DP_ENOMEM, "leaser: out of memory");
    s->m_lease = dp_metrics_hist(s->metrics, "dispatch_lease_duration_seconds", "");
    dp_metrics_inc(s->metrics, "dispatch_jobs_reclaimed_total", "", 0);
    dp_metrics_inc(s->metrics, "dispatch_jobs_dead_total", "", 0);
    dp_metrics_inc(s->metrics, "dispatch_runners_lost_total", "", 0);
    rq_set_metrics(s->rq, s->metrics);
    snprintf(s->owner_id, sizeof s->owner_id, "leaser-%ld-%lld", (long)getpid(),
             (long long)dp_now_ms());
    s->next_sweep_ms = dp_now_ms() + s->cfg.sweep_ms;
    return DP_OK;
}

static void leaser_stop(void *state, actor_ctx *ctx)
{
    leaser_state *s = state;
    (void)ctx;
    for (size_t i = 0; i < s->n_parked; i++)
        answer_none(&s->parked[i], DP_MSG_REASON_SHUTTING_DOWN);
    /* held complete_leases: their runners send them again elsewhere (the
     * request id gives back any jobs claimed for them) */
    for (size_t i = 0; i < s->n_held; i++) {
        fwd_reply_error(s->held[i].o, s->held[i].m.id, DP_MSG_ERR_UNAVAILABLE,
                        DP_MSG_REASON_SHUTTING_DOWN);
        dp_msg_free(&s->held[i].m);
    }
    free(s->held);
    for (size_t i = 0; i < s->n_polls; i++) {
        fwd_reply_error(s->polls[i].o, s->polls[i].m.id, DP_MSG_ERR_UNAVAILABLE,
                        DP_MSG_REASON_SHUTTING_DOWN);
        dp_msg_free(&s->polls[i].m);
    }
    free(s->polls);
    flush_events(s);
    event_buffer_free(&s->events);
    outcome_box_free(&s->outcomes);
    qset_free(&s->dry);
    known_clear(s);
    free(s->known);
    free(s->parked);
    rq_close(s->rq);
    auth_cache_free(s->auth);
    dp_metrics_free(s->metrics);
    free(s);
}

/* The mailbox ran empty (after any message: outcomes, a wake, a drain, a
 * metrics query, one refused): what is held goes now, not at the next tick,
 * and the lease events of the answers just sent go to the reporter (a
 * status read soon after a lease shows it). */
static void leaser_idle(void *state, actor_ctx *ctx)
{
    leaser_state *s = state;
    flush_held(s, ctx);
    if (s->events.n > 0)
        flush_events(s);
}

static dp_metrics *leaser_metrics(void *state)
{
    return ((leaser_state *)state)->metrics;
}

static const dd_route leaser_routes[] = {
    {DP_MSG_LEASE, DD_FROM_RUNNER, 0, on_lease},
    {DP_MSG_COMPLETE_LEASE, DD_FROM_RUNNER, 0, on_complete_lease},
    {DP_MSG_WAKE, DD_INTERNAL, 0, on_wake},
    {DP_MSG_DRAIN, DD_INTERNAL, 0, on_drain},
    {DP_MSG_OUTCOMES, DD_INTERNAL, 0, on_outcomes},
};

const dd_actor_def leaser_actor = {
    .name = "leaser",
    .routes = leaser_routes,
    .n_routes = sizeof leaser_routes / sizeof leaser_routes[0],
    .on_start = leaser_start,
    .on_stop = leaser_stop,
    .on_tick = leaser_tick,
    .on_idle = leaser_idle,
    .tick_ms = 20,
    .mailbox = 2048,
    .metrics = leaser_metrics,
};

actor *leaser_spawn(const leaser_config *cfg, dp_err *err)
{
    leaser_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "leaser: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->prefix, sizeof s->prefix, "%s", cfg->prefix);
    snprintf(s->redis_url, sizeof s->redis_url, "%s", cfg->redis_url);
    s->cfg.prefix = s->prefix;
    s->cfg.redis_url = s->redis_url;
    return dd_actor_spawn(&leaser_actor, s, err);
}

/* Redis dispatch core: runner registry, job queue, leases and reclaim.
 *
 * Every actor of dispatchd owns its own rq_conn (one thread at a time per
 * connection). All state lives in Redis under one prefix carrying a hash tag
 * (default "{dispatch}:"), so a whole deployment sits in one cluster slot and
 * several dispatchd replicas can share it. Each multi-key operation is one
 * Lua script (dispatch/redis/rq_*.lua), called with EVALSHA in one round trip.
 * Layout, failure semantics and bounds: docs/redis.md.
 *
 * Ownership: every const char * / const void * parameter is borrowed for the
 * duration of the call. Output buffers are caller-owned unless the comment
 * says "heap", in which case the named free function releases them.
 * Tokens (registration and runner) never appear in logs or error messages. */
#ifndef DP_RQ_H
#define DP_RQ_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/job.h"

#define RQ_DEFAULT_PREFIX "{dispatch}:"
#define RQ_DEFAULT_ALIVE_TTL_MS 15000u
#define RQ_DEFAULT_HEARTBEAT_MS 5000u /* what the dispatcher tells runners */
#define RQ_DEFAULT_SWEEP_MS 2000u     /* reaper interval (the caller's loop) */
#define RQ_DEFAULT_MAX_ATTEMPTS 3u
#define RQ_DEFAULT_TOMBSTONE_MS 3600000u /* completed/cancelled markers */
#define RQ_DEFAULT_LOST_KEEP_MS 3600000u /* a reaped runner stays listed */
#define RQ_TOKEN_HEX_LEN 64              /* 256-bit runner token, hex */
#define RQ_LEASE_MAX 1000u               /* jobs per lease call */
#define RQ_BATCH_MAX 1000u               /* jobs per script call; bigger batches are split */
#define RQ_RECLAIM_CHUNK 250u /* jobs per reclaim call: ~1-3 ms of Redis at 4-12 us a job */
/* A result whose owner check passed (rq_owner_check with a runner id marks
 * the job) is decided in PostgreSQL within this: the reporter sends its
 * group commit at most 5 s after the check and PostgreSQL cancels the
 * statement after 10 s (reporter_impl.h), plus 5 s for the commit's flush,
 * the network and the two clocks. Until then the reclaim, deregister and
 * requeue leave the job leased to its runner (docs/redis.md, "Results in
 * flight"). */
#define RQ_RESULT_HOLD_MS 20000u
#define RQ_PREFIX_MAX 64
#define RQ_LABELS_MAX 32

typedef struct rq_conn rq_conn;

typedef struct {
    uint32_t alive_ttl_ms;       /* a runner is lost this long after its last heartbeat */
    uint32_t max_attempts;       /* for jobs enqueued without their own */
    uint32_t tombstone_ms;       /* how long a repeated complete is recognised */
    uint32_t lost_keep_ms;       /* how long `runners` still shows a reaped runner */
    uint32_t connect_timeout_ms; /* per connect attempt */
    uint32_t io_timeout_ms;      /* per command */
    uint32_t reconnect_wait_ms;  /* how long one call may wait for Redis to come back;
                                    0 = fail at once with DP_EUNAVAIL */
    uint32_t reclaim_chunk;      /* jobs per reclaim script call (0: RQ_RECLAIM_CHUNK) */
    uint32_t result_hold_ms;     /* a job with a result in flight keeps its lease this long
                                    after its owner check (0: RQ_RESULT_HOLD_MS) */
} rq_options;

/* Parsed Redis URL: redis://[:password@]host[:port][/db] or unix:///path.
 * Error messages never contain the password. */
typedef struct {
    char host[256];      /* "" for unix sockets */
    int port;            /* default 6379 */
    char unix_path[108]; /* "" for TCP */
    char password[256];  /* "" for none */
    int db;              /* default 0 */
} rq_url;

int rq_url_parse(const char *url, rq_url *out, dp_err *err);

/* Fills *opt with the defaults above (reconnect_wait_ms 2000, connect and io
 * timeouts 2000 and 5000 ms). */
void rq_options_default(rq_options *opt);

/* Connects (prefix NULL means RQ_DEFAULT_PREFIX; it must contain a non-empty
 * {hash tag}; opt NULL means defaults). Returns a heap rq_conn for rq_close,
 * or NULL with *err set. Scripts are loaded lazily, on first use. */
rq_conn *rq_connect(const char *url, const char *prefix, const rq_options *opt, dp_err *err);
void rq_close(rq_conn *c); /* accepts NULL */

/* Round trips this connection has made (pipelines count once): for benches. */
uint64_t rq_round_trips(const rq_conn *c);

/* Records every round trip's duration and every failure (connection lost
 * or refused, error reply) into m, the owning actor's registry (borrowed:
 * must outlive c; NULL stops recording): dispatch_redis_request_duration_seconds,
 * dispatch_redis_errors_total. */
struct dp_metrics;
void rq_set_metrics(rq_conn *c, struct dp_metrics *m);

/* ---- registry ---- */

typedef struct {
    const char *name;          /* printable, no newline */
    const char *const *labels; /* n_labels strings without ',' */
    size_t n_labels;
    uint32_t capacity; /* concurrency slots, >= 1 */
    const char *version;
    const char *const *profiles; /* the profiles it offers; NULL (n 0): every profile (a
                                    runner that sends no list: protocol tests, benches) */
    size_t n_profiles;
} rq_runner_reg;

/* Compares the presented registration token with the configured one in
 * constant time (DP_EAUTH on mismatch), then creates a runner: runner_id gets
 * "r-" + 32 hex chars, runner_token the 64-hex-char plaintext token. Only its
 * SHA-256 is stored; the plaintext is never retrievable again. */
int rq_registry_register(rq_conn *c, const char *expected_registration_token,
                         const char *presented_registration_token, const rq_runner_reg *reg,
                         char runner_id[DP_ID_MAX], char runner_token[RQ_TOKEN_HEX_LEN + 1],
                         dp_err *err);

/* One GET, constant-time compare: DP_OK, DP_EAUTH for a wrong token, or
 * DP_ENOTFOUND when no token is stored for runner_id (never registered,
 * reaped or deregistered: it must register again). Runner ids are 128-bit
 * random and listed to read-scope keys anyway, so telling "unknown" from
 * "wrong token" gives nothing away; the HTTP runner API answers them 410
 * and 401. */
int rq_registry_verify_token(rq_conn *c, const char *runner_id, const char *runner_token,
                             dp_err *err);

/* One ZADD XX GT CH: renews the runner's alive deadline to now + alive_ttl
 * (client clock). DP_ENOTFOUND when the runner is unknown or was reaped: it
 * must re-register. */
int rq_heartbeat(rq_conn *c, const char *runner_id, dp_err *err);

/* Graceful stop: puts the runner's leased jobs back at the head of pending
 * at once (*released gets how many; may be NULL) and forgets the runner. */
int rq_deregister(rq_conn *c, const char *runner_id, uint32_t *released, dp_err *err);

/* draining = 1: the runner keeps what it holds and leases nothing new;
 * 0 resumes. DP_ENOTFOUND for an unknown or lost runner. */
int rq_drain(rq_conn *c, const char *runner_id, int draining, dp_err *err);

/* All registered runners (and reaped ones for lost_keep_ms). *out is a heap
 * array of *n_out entries (members heap too): rq_runner_list_free. */
int rq_runner_list(rq_conn *c, dp_runner_info **out, size_t *n_out, dp_err *err);
void rq_runner_list_free(dp_runner_info *list, size_t n);

/* ---- queue and leases ---- */

typedef struct {
    const char *job_id; /* [A-Za-z0-9_.-], 1..DP_ID_MAX-1 chars */
    const void *spec;   /* opaque bytes handed back by lease (e.g. msgpack) */
    size_t spec_len;
    uint32_t max_attempts; /* 0: the connection's default */
    uint32_t attempts;     /* 0 for new jobs; rebuild: attempts already made, or
                              the current attempt for rq_rebuild_leased */
    /* Routing (docs/redis.md, "Queues and routing"): the job's queue is
     * profile x sorted label set x priority. NULL profile: "". */
    const char *profile;
    const char *const *labels; /* labels a runner must carry, [A-Za-z0-9_.-] */
    size_t n_labels;
    uint32_t priority; /* a dp_priority */
} rq_job_in;

/* Appends jobs to the tail of pending (FIFO), in batches of RQ_BATCH_MAX per
 * round trip. A job id that already exists in Redis is skipped, so a retried
 * call adds nothing twice. *added (may be NULL) gets the count added. */
int rq_enqueue(rq_conn *c, const rq_job_in *jobs, size_t n, size_t *added, dp_err *err);

/* Opaque blobs, borrowed for a call. */
typedef struct {
    const void *const *v;
    const size_t *len;
    size_t n;
} rq_blobs;

/* rq_enqueue that first adds each blob of events (NULL: none) as an entry
 * of the shared event stream (rq_events.h), in the script call of the first
 * RQ_BATCH_MAX jobs: on the stream before any replica can lease one of the
 * jobs they announce, with no round trip of their own. Best effort like
 * every event: an XADD that fails enqueues all the same; a call retried
 * after a lost reply may add them twice. */
int rq_enqueue_streamed(rq_conn *c, const rq_job_in *jobs, size_t n, const rq_blobs *events,
                        size_t *added, dp_err *err);

typedef struct {
    char job_id[DP_ID_MAX];
    uint32_t attempt; /* 1 for the first lease; pass it back to complete */
    void *spec;       /* heap, spec_len bytes plus a NUL: rq_leases_free */
    size_t spec_len;
} rq_lease;

/* Claims up to k (<= RQ_LEASE_MAX) jobs for the runner in one atomic script
 * (FIFO). out must hold k entries; *n_out gets how many were filled (0 when
 * nothing is pending or the runner drains). request_id (NULL or "" for none,
 * else an id-safe string unique per request) makes the call retry-safe: the
 * same request_id again returns the jobs that request got and still holds.
 * Without it a lost reply is not retried (DP_EUNAVAIL): jobs could strand.
 * DP_ENOTFOUND when the runner is unknown or was reaped. */
int rq_lease_claim(rq_conn *c, const char *runner_id, uint32_t k, const char *request_id,
                   rq_lease *out, size_t *n_out, dp_err *err);
/* rq_lease_claim that also puts each newly leased job's `leased` event
 * onto the shared event stream (rq_events.h) in the same script: on the
 * stream before the caller can hand the job out, in one round trip. The
 * script writes `events` wire batches of event_version
 * (messages/msg.h: DP_MSG_VERSION; the shape of its body is written in
 * rq_lease.lua and checked against the decoder by test_rq_lease_events),
 * stamped event_ts (RFC 3339). event_ts NULL: no events. A retry answered
 * from its first try streams nothing again. Events are best effort: a
 * failed XADD leaves the lease as it is. *dry (optional) is set to 1 when
 * the claim found every queue the runner can take empty (it took all there
 * was), else 0: until a wake-up names one of them (a push to an empty queue
 * publishes one, rq_wake.c), claiming for that runner again finds nothing. */
int rq_lease_claim_streamed(rq_conn *c, const char *runner_id, uint32_t k, const char *request_id,
                            const char *event_ts, unsigned event_version, rq_lease *out,
                            size_t *n_out, int *dry, dp_err *err);
void rq_leases_free(rq_lease *leases, size_t n); /* frees specs, not the array */

/* One runner's claim among several (rq_lease_claim_many). */
struct rq_owner_item; /* dispatch/redis/rq_owner.h */
typedef struct {
    const char *runner_id;  /* in, borrowed */
    uint32_t k;             /* in: 1..RQ_LEASE_MAX */
    const char *request_id; /* in, borrowed: required (the call may be resent) */
    rq_lease *out;          /* in: k entries, the caller's; filled like rq_lease_claim's */
    size_t n_out;           /* out */
    int dry;                /* out: as rq_lease_claim_streamed's *dry */
    int rc;                 /* out: as rq_lease_claim_streamed returns */
    dp_err err;             /* out: its message when rc != DP_OK */
    /* in, the caller's: results of this runner to owner-check (and mark)
     * in the same call, as rq_owner_check does, before the claim; their
     * result and max_attempts are filled when *checked is set, whatever rc
     * says (the checks do not depend on the claim) */
    struct rq_owner_item *checks;
    size_t n_checks; /* at most RQ_BATCH_MAX */
    int checked;     /* out: 1 when checks were made (0: none, the call failed, more than
                        RQ_BATCH_MAX or a malformed id: check them yourself) */
} rq_claim;

/* Request ids whose jobs a runner's retry record keeps (rq_lease.lua): a
 * retry of any of its last this many requests that got jobs gets the same
 * jobs back. */
#define RQ_LEASE_REQS_KEPT 8

/* rq_lease_claim_streamed for n runners in one script call (the claims run
 * in order, as n calls would): a leaser with several requests waiting pays
 * one wait for Redis and one script start instead of n. A claim that
 * fails inside the call (an error from Redis) gets DP_EIO alone; a call
 * that fails as a whole (NOSCRIPT twice, a lost connection twice) is done
 * one claim per call, under the same request ids. At most RQ_LEASE_REQS_KEPT claims
 * of one runner per call (a later one gets DP_EINVAL): the script answers a
 * repeat of a runner's last that many request ids, so a resent call, or its
 * one-claim fallback, claims nothing twice. Each claim's result is in its
 * entry; returns the number that got DP_OK. */
size_t rq_lease_claim_many(rq_conn *c, rq_claim *claims, size_t n, const char *event_ts,
                           unsigned event_version);

typedef struct {
    const char *job_id;
    uint32_t attempt;
    const char *runner_id; /* NULL: the call's runner_id (so one call serves many runners) */
    int result;            /* out: DP_OK, DP_ECONFLICT or DP_ENOTFOUND */
    int repeated;          /* out: 1 when this was an identical repeat of an accepted complete */
} rq_complete_item;

/* Accepted only from the current owner of the current attempt. DP_ECONFLICT
 * for another owner or attempt, a cancelled job or one already terminal;
 * DP_ENOTFOUND for an unknown job (or a tombstone that expired). Repeating an
 * accepted complete is DP_OK (idempotent) while the tombstone lives. */
int rq_lease_complete(rq_conn *c, const char *runner_id, const char *job_id, uint32_t attempt,
                      dp_err *err);

/* Same for n jobs in one round trip per RQ_BATCH_MAX (items[i].runner_id,
 * when set, names that job's owner, else runner_id does); per-item results
 * in items[i].result; returns DP_OK unless the call itself failed. */
int rq_lease_complete_batch(rq_conn *c, const char *runner_id, rq_complete_item *items, size_t n,
                            dp_err *err);

/* rq_lease_complete_batch that also adds each blob of events (NULL: none)
 * as an entry of the shared event stream (rq_events.h) in the same script
 * call: the caller's events for results it recorded reach the stream with
 * no round trip of their own. Best effort like every event: an XADD that
 * fails leaves the completes as they are; a call retried after a lost
 * reply may add them twice. */
int rq_lease_complete_streamed(rq_conn *c, const char *runner_id, rq_complete_item *items, size_t n,
                               const rq_blobs *events, dp_err *err);

/* Removes the job from pending, leased or dead and marks it cancelled (a
 * later complete gets DP_ECONFLICT). DP_OK also when already cancelled;
 * DP_ECONFLICT when already completed; DP_ENOTFOUND when unknown, which
 * marks it cancelled all the same (an enqueue after it adds nothing). */
int rq_cancel(rq_conn *c, const char *job_id, dp_err *err);

/* A leased job goes back to the head of pending (attempt stays counted; its
 * old owner's complete becomes a conflict); a dead job goes back with
 * attempts reset; a pending job stays. DP_ECONFLICT for completed/cancelled,
 * DP_ENOTFOUND for unknown. A leased job whose result is on its way to
 * PostgreSQL (its owner check marked it less than result_hold_ms ago) is
 * left alone: DP_EUNAVAIL, "a result ... is being recorded: try again". */
int rq_requeue(rq_conn *c, const char *job_id, dp_err *err);

/* Moves every dead job back to pending with attempts reset; *moved (may be
 * NULL) gets the count. */
int rq_requeue_dead(rq_conn *c, uint64_t *moved, dp_err *err);

typedef struct {
    char job_id[DP_ID_MAX];
    uint32_t attempts;
    char reason[256];
} rq_dead_job;

/* The oldest (up to max) dead jobs, left in place until rq_dead_ack, so a
 * reporter that crashes before recording them loses nothing. */
int rq_dead_peek(rq_conn *c, rq_dead_job *out, size_t max, size_t *n_out, dp_err *err);

/* Forgets dead jobs the reporter has recorded (failed, verdict SE). */
int rq_dead_ack(rq_conn *c, const char *const *job_ids, size_t n, dp_err *err);

/* pending, leased, dead, runners alive, in one round trip; completed is
 * always 0 here (PostgreSQL counts it). */
int rq_stats(rq_conn *c, dp_queue_stats *out, dp_err *err);

/* After Redis lost its data: re-creates job->job_id as leased by runner_id
 * with attempt job->attempts. The runner must be registered and alive
 * (DP_ENOTFOUND otherwise: enqueue the job instead). DP_OK also when the job
 * already exists (nothing changed). Re-creating pending jobs is rq_enqueue
 * with attempts set. */
int rq_rebuild_leased(rq_conn *c, const char *runner_id, const rq_job_in *job, dp_err *err);

/* ---- routing (rq_route.c) ---- */

#define RQ_QID_MAX (DP_PROFILE_NAME_MAX + 2 + DP_JOB_LABELS_MAX * (DP_LABEL_MAX + 1))

/* The queue id of a profile and label set: "<profile>:<labels sorted,
 * comma-joined>". DP_EINVAL for a bad label or too many. */
int rq_queue_id(const char *profile, const char *const *labels, size_t n_labels,
                char out[RQ_QID_MAX], dp_err *err);

/* Pending jobs per queue (profile x labels x priority; only queues with jobs
 * unless with_empty; at most max rows) and how many live, not draining
 * runners can take each: fills out->pending, out->queues (heap:
 * dp_queue_stats_free) and, when max > 0, out->runners_draining (live,
 * draining). O(3 x queues + live runners x their eligible queues): admin
 * and metrics scrapes only, never on a timer (idle Redis load per runner). */
int rq_queue_depths(rq_conn *c, size_t max, int with_empty, dp_queue_stats *out, dp_err *err);

/* Whether some runner ever offered `profile` (*offered) and whether any
 * runner ever offered any profile (*any), in one round trip. */
int rq_profile_offered(rq_conn *c, const char *profile, int *offered, int *any, dp_err *err);

/* Every profile ever offered (heap array of heap strings: rq_strings_free),
 * and adding to that set (the rebuild restores it from PostgreSQL). */
int rq_profiles_list(rq_conn *c, char ***out, size_t *n_out, dp_err *err);
int rq_profiles_add(rq_conn *c, const char *const *profiles, size_t n, dp_err *err);

/* The queue ids a runner can take (heap: rq_strings_free); empty for an
 * unknown runner. */
int rq_runner_queues(rq_conn *c, const char *runner_id, char ***out, size_t *n_out, dp_err *err);
void rq_strings_free(char **list, size_t n);

/* Upgrade: moves the jobs an older dispatchd left in the single pending
 * list (P jobs:pending) into their own queues, RQ_BATCH_MAX per script
 * call; *left (may be NULL) gets what is still there (0 when done). */
int rq_migrate_pending(rq_conn *c, uint64_t *left, dp_err *err);

/* ---- reaper ---- */

/* Told each job a reclaim requeued: the lost runner, the job, the attempt it lost. */
typedef void (*rq_requeued_fn)(void *arg, const char *runner_id, const char *job_id,
                               uint32_t attempt);

typedef struct {
    uint32_t runners_expired; /* found past their deadline */
    uint32_t runners_reaped;  /* reclaimed by this sweep */
    uint32_t jobs_requeued;
    uint32_t jobs_dead;
    uint32_t jobs_held;         /* left leased: a result in flight (swept again later) */
    int locked_out;             /* 1: another replica holds the sweep guard */
    rq_requeued_fn on_requeued; /* NULL, or rq_reap_sweep_notify's; rq_reap_runner calls it */
    void *arg;
} rq_reap_report;

/* One sweep: ZRANGEBYSCORE finds up to max_runners runners past their
 * deadline (one command when none is); if any, a SET NX PX guard (owner_id,
 * lock_ms) keeps other replicas out, and one reclaim script per runner moves
 * its jobs back to pending or to dead. Safe to run concurrently anyway. */
int rq_reap_sweep(rq_conn *c, const char *owner_id, uint32_t lock_ms, uint32_t max_runners,
                  rq_reap_report *rep, dp_err *err);

/* The same, telling on_requeued (may be NULL) of each job it requeued. */
int rq_reap_sweep_notify(rq_conn *c, const char *owner_id, uint32_t lock_ms, uint32_t max_runners,
                         rq_reap_report *rep, rq_requeued_fn on_requeued, void *arg, dp_err *err);

/* One reclaim script for one runner, without the guard: does nothing when
 * the runner is alive again (deadline re-checked with Redis TIME) or already
 * gone. Adds what it did to *rep (not cleared). */
int rq_reap_runner(rq_conn *c, const char *runner_id, rq_reap_report *rep, dp_err *err);

/* ---- wake-ups for long-polling leasers ---- */

typedef struct rq_wake rq_wake;

/* A dedicated connection subscribed to <prefix>wake, published to whenever
 * pending goes from empty to non-empty. Heap: rq_wake_close. */
rq_wake *rq_wake_subscribe(const char *url, const char *prefix, dp_err *err);
int rq_wake_fd(const rq_wake *w); /* poll it for POLLIN */

/* Waits up to timeout_ms (0: just check) and consumes what arrived: returns
 * the number of wake messages (>= 0) or a negative dp_code (the connection
 * is gone: close and subscribe again). */
int rq_wake_read(rq_wake *w, int timeout_ms, dp_err *err);
void rq_wake_close(rq_wake *w); /* accepts NULL */

#define RQ_WAKE_QIDS_MAX 64
/* What the last rq_wake_read received: up to max queue ids that went from
 * empty to non-empty (out[i] point into w, valid until the next read), and
 * *all = 1 when every waiter should look (a queue appeared, or more ids than
 * fit). Returns the number of ids. */
size_t rq_wake_queues(const rq_wake *w, const char **out, size_t max, int *all);

#endif

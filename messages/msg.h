/* The wire format: every message the actors, runners and the admin CLI
 * exchange, as one tagged union, with its msgpack encoder, a bounded decoder
 * for untrusted bytes, and semantic validation. docs/messages.md lists the
 * keys of every message.
 *
 * Envelope: a msgpack map {"v": 1, "t": "<type>", "id": <uint64>, "b": {...}}.
 * "id" is optional (0 = none; replies echo the request's id); unknown keys at
 * every level are ignored; an unknown "t" or a "v" above DP_MSG_VERSION is a
 * DP_EPROTO decode error the caller turns into an `error` reply.
 *
 * Ownership: a dp_msg owns every string and array it points to (heap, NUL-
 * terminated strings, arrays from calloc). dp_msg_free releases them all. A
 * NULL string means "not given" and is left out of the encoding. The encoders
 * never take ownership of the message they are given. */
#ifndef DP_MSG_H
#define DP_MSG_H

#include "common/err.h"
#include "common/job.h"

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_MSG_VERSION 1

/* Bounds, enforced while decoding (before anything is allocated) and by
 * dp_msg_validate before encoding. */
#define DP_MSG_MAX_SIZE (32u * 1024 * 1024) /* whole encoded message */
#define DP_MSG_MAX_STR (1u * 1024 * 1024)   /* any string: stdin, stdout excerpts, messages */
#define DP_MSG_MAX_LOG (8u * 1024 * 1024)   /* the log bytes of a complete */
#define DP_MSG_MAX_NAME 256                 /* names, labels, versions, profiles, codes */
#define DP_MSG_MAX_TOKEN 256                /* registration and runner tokens, API keys */
#define DP_MSG_MAX_URL 4096                 /* archive and log URLs */
#define DP_MSG_MAX_TS 64                    /* RFC 3339 timestamps */
#define DP_MSG_MAX_SPECS 10000              /* specs in one submit, items in submitted */
#define DP_MSG_MAX_LEASE 1024               /* jobs in one lease / leased */
#define DP_MSG_MAX_RUNNERS 10000            /* runners in one `runners` reply */
#define DP_MSG_MAX_LABELS 256               /* labels or profiles of one runner */
#define DP_MSG_MAX_EVENTS 10000             /* events in one `events` batch */
#define DP_MSG_MAX_RESULTS 1024             /* results in one complete_lease / outcomes */
#define DP_MSG_MAX_DEPTH 8                  /* nesting of maps and arrays, envelope = 1 */
/* Decoded memory may not exceed this many times the wire size (plus 64 KiB):
 * stops a small message of empty maps from becoming a huge array of structs. */
#define DP_MSG_MAX_EXPANSION 8

typedef enum {
    DP_MSG_INVALID = 0,
    DP_MSG_REGISTER,     /* runner -> dispatcher */
    DP_MSG_REGISTERED,   /* reply to register */
    DP_MSG_HEARTBEAT,    /* runner -> dispatcher */
    DP_MSG_ACK,          /* generic success reply */
    DP_MSG_ERROR,        /* generic failure reply */
    DP_MSG_LEASE,        /* runner asks for jobs */
    DP_MSG_LEASED,       /* jobs handed out */
    DP_MSG_NONE,         /* no job within wait_ms (wire name "none") */
    DP_MSG_COMPLETE,     /* runner reports a result */
    DP_MSG_CONFLICT,     /* stale owner or attempt */
    DP_MSG_NOT_FOUND,    /* unknown job or runner */
    DP_MSG_DEREGISTER,   /* runner leaves */
    DP_MSG_SUBMIT,       /* producer submits one or many specs */
    DP_MSG_SUBMITTED,    /* reply to submit, one item per spec */
    DP_MSG_STATUS,       /* ask for one job */
    DP_MSG_JOB,          /* reply: one job view */
    DP_MSG_LIST_RUNNERS, /* ask for the runners */
    DP_MSG_RUNNERS,      /* reply: runner rows */
    DP_MSG_QUEUE,        /* ask for queue counts */
    DP_MSG_QUEUE_STATS,  /* reply: queue counts */
    DP_MSG_CANCEL,       /* admin: cancel a job */
    DP_MSG_REQUEUE,      /* admin: requeue a job, or every dead job */
    DP_MSG_DRAIN,        /* admin: drain a runner */
    DP_MSG_WAIT,         /* block until a job is terminal; answered with `job` */
    DP_MSG_EVENT,        /* job state change, published to watchers */
    DP_MSG_KEY_CREATE,   /* admin: create an API key */
    DP_MSG_KEY,          /* reply: one key (its plaintext only when just created) */
    DP_MSG_KEY_LIST,     /* admin: list the API keys */
    DP_MSG_KEYS,         /* reply: the keys, without secrets */
    DP_MSG_KEY_REVOKE,   /* admin: revoke a key by id or name */
    DP_MSG_JOB_LIST,     /* ask for jobs, newest first, one page (cursor paging) */
    DP_MSG_JOBS,         /* reply: one page of job rows and the next cursor */
    DP_MSG_PROFILE_LIST, /* ask for the profiles the live runners offer */
    DP_MSG_PROFILES,     /* reply: profile rows */
    /* runner: the results finished since its last message + a lease, in one */
    DP_MSG_COMPLETE_LEASE,
    /* reply: one outcome per result, then the new jobs */
    DP_MSG_COMPLETED_LEASED,
    /* a batch of events: what the publisher sends watchers (one message per
     * read of the event stream), and leaser -> reporter -> publisher inside */
    DP_MSG_EVENTS,
    DP_MSG_WIRE_COUNT, /* the versioned wire catalogue ends here */
    /* The in-process catalogue: same schema machinery, its own envelope
     * ("i" instead of "v"); the wire codec neither encodes nor accepts these. */
    DP_MSG_WAKE = DP_MSG_WIRE_COUNT, /* pending work appeared (waker -> leaser) */
    DP_MSG_SLOT_FREE,                /* (runner) an executor slot is ready for a job */
    DP_MSG_PEERS,                    /* (runner) the in-process URLs of the actors to tell */
    DP_MSG_STOPPING,                 /* (runner) the runner is stopping: say so to the dispatcher */
    DP_MSG_LEAVE,                    /* (runner) deregister now, releasing what is still leased */
    /* (dispatchd) reporter -> leaser: a complete_lease's results are answered,
     * now its lease; the leaser answers the runner with both */
    DP_MSG_LEASE_FOR,
    /* (dispatchd) reporter -> leaser: the outcomes of an early complete_lease's
     * results, for that runner's next answer */
    DP_MSG_OUTCOMES,
    /* (dispatchd) submitter -> reporter: jobs PostgreSQL recorded could not
     * be enqueued (Redis away); the reporter rebuilds Redis from PostgreSQL */
    DP_MSG_REBUILD,
    /* (runner) a dispatcher's reply as it arrived, not yet decoded: the
     * link's reader -> the actor that made the call, which decodes it once */
    DP_MSG_ANSWER,
    DP_MSG_TYPE_COUNT
} dp_msg_type;

/* Error reply codes (dp_msg_error.code) besides every dp_code_name(): a
 * failed decode answered with dp_msg_make_error_from gets "protocol" (bad
 * bytes, unknown type, newer version) or "invalid" (failed validation). */
#define DP_MSG_ERR_UNKNOWN_RUNNER "unknown_runner" /* re-register */
#define DP_MSG_ERR_UNAUTHORIZED "unauthorized"     /* bad token */
#define DP_MSG_ERR_DRAINING "draining"
#define DP_MSG_ERR_UNAVAILABLE "unavailable" /* retry later */
#define DP_MSG_ERR_INTERNAL "internal"
#define DP_MSG_ERR_INVALID "invalid"         /* failed validation */
#define DP_MSG_ERR_PROTOCOL "protocol"       /* bad bytes, unknown type, newer version */
#define DP_MSG_ERR_UNSUPPORTED "unsupported" /* a type this socket or actor does not take */
#define DP_MSG_ERR_CONFLICT "conflict"       /* stale owner or attempt */
#define DP_MSG_ERR_QUOTA "quota"             /* an API key's quota: retry after error.retry_s */
/* A replica stopping (SIGTERM) answers held leases `none` with this reason
 * and new requests `unavailable` with this message: a runner with several
 * replicas goes on on the next one at once (runner/runner_link.c). */
#define DP_MSG_REASON_SHUTTING_DOWN "shutting down"
#define DP_MSG_SHUTTING_DOWN "dispatcher shutting down"

typedef struct {
    char *registration_token;
    char *name;
    char **labels;
    size_t n_labels;
    uint32_t capacity; /* concurrency slots, >= 1 */
    char *version;     /* runner build, optional */
    char **profiles;   /* profiles installed on the runner */
    size_t n_profiles;
} dp_msg_register;

typedef struct {
    char *runner_id;
    char *runner_token; /* plaintext, sent once */
    uint32_t heartbeat_ms;
    uint32_t alive_ttl_ms;
} dp_msg_registered;

typedef struct {
    char *runner_id;
    char *runner_token;
    uint32_t free_slots;
    bool draining; /* the runner is stopping: lease it nothing more, answer its waits */
} dp_msg_heartbeat;

typedef struct {
    uint32_t count; /* e.g. jobs requeued by `requeue --dead`; 0 otherwise */
    bool draining;  /* heartbeat ack: the runner should take nothing new */
} dp_msg_ack;

typedef struct {
    char *code;    /* DP_MSG_ERR_* or a dp_code_name(); required */
    char *message; /* one line naming what is wrong */
    /* "quota": seconds until a retry can succeed; 0 otherwise */
    uint32_t retry_s;
} dp_msg_error;

typedef struct {
    char *runner_id;
    char *runner_token;
    uint32_t max_jobs; /* 1..DP_MSG_MAX_LEASE */
    uint32_t wait_ms;  /* long-poll bound; 0 = answer at once */
    char *request_id;  /* optional: lets a retried lease be recognised */
} dp_msg_lease;

/* A value already encoded: msgpack bytes an encoder writes as they are in
 * place of a field's struct. Borrowed: the message never frees them. */
typedef struct {
    const uint8_t *bytes; /* NULL: none (the struct is encoded) */
    size_t len;
} dp_packed;

typedef struct {
    char *job_id;
    uint32_t attempt; /* >= 1 */
    dp_job_spec spec;
    /* Encode only, optional: the spec as a stored message carries it
     * (dp_msg_spec_span), written in spec's place, which then stays empty.
     * Those bytes were checked when our encoder wrote them, under this
     * message version's rules, and are not checked again: a leaser hands
     * out stored specs without decoding and encoding each one. The decoder
     * never sets it. */
    dp_packed spec_packed;
} dp_leased_job;

typedef struct {
    dp_leased_job *jobs;
    size_t n_jobs;
} dp_msg_leased;

typedef struct {
    char *reason; /* "timeout", "draining", ...; optional */
} dp_msg_none;

typedef struct {
    char *runner_id;
    char *runner_token;
    dp_job_result result;
    bool retry; /* result.verdict SE was the runner's fault: run it again elsewhere */
} dp_msg_complete;

typedef struct {
    char *job_id;
    char *message;
} dp_msg_conflict;

typedef struct {
    char *what; /* "job", "runner"; required */
    char *message;
} dp_msg_not_found;

typedef struct {
    char *runner_id;
    char *runner_token;
    bool release; /* give leased jobs back at once */
} dp_msg_deregister;

/* Submit is validated for structure only: each spec is checked with
 * dp_msg_validate_spec by the receiver, so one bad spec fails only its item. */
typedef struct {
    dp_job_spec *specs;
    size_t n_specs; /* 1..DP_MSG_MAX_SPECS */
} dp_msg_submit;

typedef struct {
    uint32_t index; /* position in the submit */
    char *job_id;   /* set on success ... */
    char *error;    /* ... or this: why the spec was refused */
    char *code;     /* with error, optional: "quota" (retry_s: seconds to wait), else none */
    uint32_t retry_s;
    char *warning; /* accepted, but: e.g. no runner has registered yet */
} dp_submit_item;

typedef struct {
    dp_submit_item *items;
    size_t n_items;
} dp_msg_submitted;

typedef struct {
    char *job_id;
} dp_msg_job_ref; /* status, cancel */

typedef struct {
    dp_runner_info *runners;
    size_t n_runners;
} dp_msg_runners;

typedef struct {
    char *job_id; /* one job ... */
    bool dead;    /* ... or every dead job; exactly one of the two */
} dp_msg_requeue;

typedef struct {
    char *runner_id;
} dp_msg_drain;

typedef struct {
    char *job_id;
    uint32_t timeout_ms;
} dp_msg_wait;

typedef struct {
    char *job_id;
    dp_job_state state;
    dp_verdict verdict;
    char *runner_id;
    uint32_t attempt;
    char *ts; /* RFC 3339 UTC */
    char *message;
    char *eid; /* global event id (the shared stream's entry id "<ms>-<seq>"), or NULL */
} dp_msg_event;

/* wake (internal): the queue ids that became non-empty; none: every waiter
 * should look (a queue appeared, or the runner side's "we are unknown"). */
typedef struct {
    char **queues;
    size_t n_queues;
} dp_msg_wake;

/* An API key as operators see it (common/apikey.h). */
typedef struct {
    char *key_id;
    char *name;
    uint32_t scopes;                 /* DP_SCOPE_* bits */
    uint32_t max_queued, per_minute; /* quotas; 0: none */
    char *key;                       /* the plaintext: in the reply to key_create only */
    char *created_at;                /* RFC 3339 */
    bool revoked;
} dp_key_info;

typedef struct {
    char *name;
    uint32_t scopes;
    uint32_t max_queued, per_minute;
} dp_msg_key_create;

typedef struct {
    dp_key_info *keys;
    size_t n_keys;
} dp_msg_keys;

typedef struct {
    char *key; /* id or name */
} dp_msg_key_revoke;

/* `job_list`: one page of jobs, newest first (created_at, then id, both
 * descending). A key without read or admin scope sees only its own jobs. */
#define DP_JOB_LIST_MAX 500 /* rows of one page */
typedef struct {
    char *state;    /* a dp_job_state name, or NULL: every state */
    char *profile;  /* or NULL: every profile */
    uint32_t limit; /* 1..DP_JOB_LIST_MAX; 0 = 50 */
    char *after;    /* the `next` of the previous page (opaque), or NULL: the newest */
} dp_msg_job_list;

typedef struct {
    dp_job_view *jobs; /* without per-test results */
    size_t n_jobs;
    char *next; /* the cursor of the following page; NULL: this was the last */
} dp_msg_jobs;

/* One profile the live runners offer (`list_profiles`, from the registrar's
 * Redis data). */
typedef struct {
    char *name;
    uint32_t runners;  /* live runners offering it */
    uint32_t capacity; /* their slots, summed */
    char *last_seen;   /* RFC 3339: the newest heartbeat among them */
} dp_profile_info;

typedef struct {
    dp_profile_info *profiles;
    size_t n_profiles;
} dp_msg_profiles;

typedef struct {
    char **urls; /* inproc:// URLs, in slot order where that matters */
    size_t n_urls;
} dp_msg_peers;

typedef struct {
    dp_msg_event *events;
    size_t n_events; /* 1..DP_MSG_MAX_EVENTS */
} dp_msg_events;

/* answer (runner, in-process): the wire bytes of a dispatcher's reply to
 * the call whose id the envelope carries. Untrusted: the receiver decodes
 * them with dp_msg_decode (runner/runner_link_async.c,
 * runner_link_answer_open). Decoding them there, not on the link's reader
 * thread, spares a decode and an encode per answer (a reply carries every
 * job of a lease). */
typedef struct {
    uint8_t *bytes; /* 1..DP_MSG_MAX_SIZE */
    size_t len;
} dp_msg_answer;

/* complete_lease: what a runner's link sends whenever its queue runs empty
 * (runner/runner_link.c): every result finished since its last message and,
 * in the same message, a lease for its free slots. Either part may be empty,
 * not both. Each result is kept by the runner until its outcome says ack,
 * conflict or not_found, and resent as it was after a lost answer or a
 * failover: the dispatcher acks an identical repeat of a recorded result
 * without recording it again. The runner keeps the whole encoded message
 * under DP_MSG_MAX_SIZE (results with big logs go in later messages). */
typedef struct {
    dp_job_result result;
    bool retry; /* verdict SE was the runner's fault: run it again elsewhere */
} dp_result_item;

/* slot_free (runner, in-process): an executor is ready for its next job,
 * with the result of the job it just ran (none at start or after a job it
 * could not run). The executor hands the result to the job feeder, which
 * owns it from then on: it sends it in its next complete_lease and keeps it
 * until the dispatcher's outcome says to forget it. */
typedef struct {
    uint32_t slot;           /* index of the executor in its runner */
    dp_result_item *results; /* 0..1 */
    size_t n_results;
} dp_msg_slot_free;

typedef struct {
    char *runner_id;
    char *runner_token;
    dp_result_item *results; /* 0..DP_MSG_MAX_RESULTS, oldest first */
    size_t n_results;
    uint32_t max_jobs; /* 0..DP_MSG_MAX_LEASE; 0: results only, no new work */
    uint32_t wait_ms;  /* long-poll bound of the lease part; results never wait */
    char *request_id;  /* with max_jobs > 0: lets a retried lease be recognised */
    /* The runner takes the answer before its results' outcomes: the leaser
     * answers at once with the jobs (and the outcomes decided so far for
     * this runner, of earlier messages); these results' outcomes come in a
     * later answer to the same runner. The runner keeps each result until
     * an outcome for it (by job and attempt) arrives, and sends it again
     * after a bound, a failover or on stop; a repeat is acked without a
     * second record. Without it every outcome of the message is in its
     * answer, which waits for their commit. */
    bool early;
} dp_msg_complete_lease;

/* The outcome of one result, item by item in the order of the request. */
#define DP_OUTCOME_ACK "ack"             /* recorded (or already recorded): forget it */
#define DP_OUTCOME_CONFLICT "conflict"   /* not this runner's current attempt: forget it */
#define DP_OUTCOME_NOT_FOUND "not_found" /* no such job leased: forget it */
#define DP_OUTCOME_RETRY "retry"         /* not recorded now (store away): send it again */
typedef struct {
    char *job_id;
    uint32_t attempt;
    char *outcome; /* one of DP_OUTCOME_*; required */
    char *message; /* why, for conflict / not_found / retry; optional */
} dp_result_outcome;

typedef struct {
    /* one per result of the request; for an early request (and for a
     * lease), the outcomes decided so far of the runner's earlier early
     * requests instead, matched by job and attempt */
    dp_result_outcome *outcomes;
    size_t n_outcomes;
    dp_leased_job *jobs; /* the new work, 0..max_jobs of the request */
    size_t n_jobs;
} dp_msg_completed_leased;

/* The leaser's Redis owner check of one result of a lease_for, made in the
 * lease call that claimed for the same message (rq_lease.lua). */
enum {
    DP_OWNER_UNCHECKED = 0, /* the reporter checks it (rq_owner_check) */
    DP_OWNER_PASSED = 1,    /* current owner and attempt (or an identical repeat): marked */
    DP_OWNER_CONFLICT = 2,
    DP_OWNER_NOT_FOUND = 3,
};
typedef struct {
    uint32_t code; /* DP_OWNER_* (another value: unchecked) */
} dp_owner_check;

/* lease_for (in-process): the lease part of a complete_lease, passed on by
 * the reporter once every result in it has its outcome; the leaser answers
 * the runner's held request (gateway, req) with `completed_leased`. */
typedef struct {
    uint32_t gateway; /* the runner's fwd_origin */
    uint64_t req;
    uint64_t reply_id;              /* the runner's request id, echoed */
    dp_msg_complete_lease lease;    /* without results */
    dp_msg_completed_leased answer; /* the outcomes so far; no jobs */
    char *back;                     /* early: the leaser's inproc URL, where the outcomes go */
    /* one per result of lease (none: the reporter checks them all), and
     * the leaser's clock (dp_now_ms) before the call that checked them:
     * the hold of their marks counts from it */
    dp_owner_check *checks;
    size_t n_checks;
    uint64_t checked_ms;
} dp_msg_lease_for;

/* outcomes (in-process, reporter -> leaser): the outcomes of an early
 * complete_lease's results, kept by the leaser for the runner's next answer. */
typedef struct {
    char *runner_id;
    dp_result_outcome *outcomes; /* 1..DP_MSG_MAX_RESULTS */
    size_t n_outcomes;
} dp_msg_outcomes;

/* One message. Set `type` and the matching union member; list_runners and
 * queue have no body. */
typedef struct {
    dp_msg_type type;
    uint64_t id; /* request id; 0 = none */
    char *auth;  /* an API key (envelope "a"), where the socket requires one; NULL: none */
    union {
        dp_msg_register reg;
        dp_msg_registered registered;
        dp_msg_heartbeat heartbeat;
        dp_msg_ack ack;
        dp_msg_error error;
        dp_msg_lease lease;
        dp_msg_leased leased;
        dp_msg_none none;
        dp_msg_complete complete;
        dp_msg_conflict conflict;
        dp_msg_not_found not_found;
        dp_msg_deregister deregister;
        dp_msg_submit submit;
        dp_msg_submitted submitted;
        dp_msg_job_ref status;
        dp_job_view job;
        dp_msg_runners runners;
        dp_queue_stats queue_stats;
        dp_msg_job_ref cancel;
        dp_msg_requeue requeue;
        dp_msg_drain drain;
        dp_msg_wait wait;
        dp_msg_event event;
        dp_msg_events events;
        dp_msg_slot_free slot_free;
        dp_msg_wake wake;
        dp_msg_peers peers;
        dp_msg_answer answer;
        dp_msg_key_create key_create;
        dp_key_info key;
        dp_msg_keys keys;
        dp_msg_key_revoke key_revoke;
        dp_msg_job_list job_list;
        dp_msg_jobs jobs;
        dp_msg_profiles profiles;
        dp_msg_complete_lease complete_lease;
        dp_msg_completed_leased completed_leased;
        dp_msg_lease_for lease_for;
        dp_msg_outcomes outcomes;
    };
} dp_msg;

/* Encodes m (after dp_msg_validate) into a new nng_msg the caller owns
 * (nng_msg_free, or hand it to nng_sendmsg). On failure *out is NULL. An
 * in-process type (dp_msg_is_internal) is refused with DP_EINVAL. */
int dp_msg_encode(const dp_msg *m, nng_msg **out, dp_err *err);

/* The in-process codec: any type, in the envelope {"i": 1, ...} that the
 * wire decoders refuse, so an in-process message can never be injected
 * from a socket, nor one leave the process by mistake. Same ownership. */
#define DP_MSG_INTERNAL_VERSION 1
int dp_msg_encode_internal(const dp_msg *m, nng_msg **out, dp_err *err);
int dp_msg_decode_internal(nng_msg *msg, dp_msg *out, dp_err *err);

/* True for the types of the in-process catalogue. */
bool dp_msg_is_internal(dp_msg_type t);

/* Same into a malloc'd buffer the caller frees. */
int dp_msg_encode_buf(const dp_msg *m, void **buf, size_t *len, dp_err *err);

/* Decodes untrusted bytes into *out, which then owns copies of everything
 * (dp_msg_free). Calls dp_msg_validate. DP_EPROTO for malformed bytes, an
 * unknown type or a newer version; DP_EINVAL for a well-formed message that
 * fails validation. On failure *out holds no allocations, type is
 * DP_MSG_INVALID and out->id is the envelope's id when it could be read,
 * so the caller can address its error reply. buf is only read. */
int dp_msg_decode(const void *buf, size_t len, dp_msg *out, dp_err *err);

/* Where, in buf (an encoded `submit` message of this version holding one
 * spec, such as the leaser's stored specs), that spec's bytes are: *spec
 * points into buf, for a dp_leased_job.spec_packed. DP_EINVAL naming why
 * when buf is not that: not msgpack of this version (an older stored form),
 * another type or count, a spec whose "jid" is not job_id. The spec is
 * walked (bounded, as by the decoder) but its fields are not checked: the
 * caller vouches that our encoder wrote it. buf is only read. */
int dp_msg_spec_span(const void *buf, size_t len, const char *job_id, const uint8_t **spec,
                     size_t *spec_len, dp_err *err);

/* dp_msg_decode of an nng_msg's body; msg stays the caller's. */
int dp_msg_decode_nng(nng_msg *msg, dp_msg *out, dp_err *err);

/* The envelope alone, for a gateway that routes and authorises a message
 * whose body the receiving actor decodes: version, type, id and credential
 * as dp_msg_decode reads and checks them, the body stepped over (its bounds
 * checked, its contents neither decoded nor validated). On success *out has
 * type, id and auth (owned: dp_msg_free) and a zeroed body; on failure as
 * dp_msg_decode. msg stays the caller's. */
int dp_msg_decode_envelope_nng(nng_msg *msg, dp_msg *out, dp_err *err);

/* Frees everything m owns and zeroes it (type DP_MSG_INVALID). NULL is fine. */
void dp_msg_free(dp_msg *m);

/* Wire name of a type ("register", "none", ...); NULL when out of range. */
const char *dp_msg_type_name(dp_msg_type t);

/* Type for a wire name, DP_MSG_INVALID when unknown. */
dp_msg_type dp_msg_type_parse(const char *name);

/* Semantic checks: required fields, length and count bounds, ids <=
 * DP_ID_MAX, verdict/state ranges, scores in [0, 100], sha256 as 64 lower-case
 * hex, archive URL scheme file/http/https. DP_EINVAL naming the field. */
int dp_msg_validate(const dp_msg *m, dp_err *err);

/* The full check of one job spec (what submit leaves to the receiver). */
int dp_msg_validate_spec(const dp_job_spec *spec, dp_err *err);

/* True when a and b carry the same type, id and field values. */
bool dp_msg_equal(const dp_msg *a, const dp_msg *b);

/* Reply constructors: fill *out (which must not own anything yet) with heap
 * copies. Return 0 or DP_ENOMEM (then *out owns nothing). */
int dp_msg_make_error(dp_msg *out, uint64_t id, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error reply from a dp_err: code dp_code_name(err->code), its message. */
int dp_msg_make_error_from(dp_msg *out, uint64_t id, const dp_err *e);
int dp_msg_make_ack(dp_msg *out, uint64_t id, uint32_t count);
int dp_msg_make_conflict(dp_msg *out, uint64_t id, const char *job_id, const char *message);
int dp_msg_make_not_found(dp_msg *out, uint64_t id, const char *what, const char *message);

#endif

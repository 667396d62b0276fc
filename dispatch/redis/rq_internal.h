/* Internals shared by the rq_*.c files: the connection, argument vectors,
 * script calls and small helpers. Not for use outside dispatch/. */
#ifndef DP_RQ_INTERNAL_H
#define DP_RQ_INTERNAL_H

#include <hiredis/hiredis.h>

#include "dispatch/redis/rq.h"
#include "dispatch/redis/rq_owner.h"
#include "rq_lua.h"

#define RQ_NKEYS 6 /* prefix, pending, leased, dead, alive, runners */

struct rq_conn {
    redisContext *ctx; /* NULL while disconnected */
    rq_url url;
    rq_options opt;
    char prefix[RQ_PREFIX_MAX];
    char keys[RQ_NKEYS][RQ_PREFIX_MAX + 16]; /* fixed keys, in the scripts' KEYS order */
    char sha[RQ_LUA_COUNT][41];              /* "" until loaded */
    uint64_t round_trips;
    struct dp_hist *m_rtt; /* the owner's metrics (rq_set_metrics), or NULL */
    double *m_errors;
    uint32_t backoff_ms; /* next wait between reconnect attempts */
    int64_t next_connect_ms;
};

/* A growable argv for redisCommandArgv. Strings added with rq_args_add are
 * borrowed (must outlive the call); rq_args_u64/rq_args_dup copy into
 * storage the vector owns. Allocation failure is remembered and reported by
 * the call that uses the vector. */
typedef struct {
    const char **v;
    size_t *len;
    size_t n, cap;
    char **owned;
    size_t n_owned, cap_owned;
    int oom;
} rq_args;

void rq_args_add(rq_args *a, const void *p, size_t len);
void rq_args_str(rq_args *a, const char *s);
void rq_args_u64(rq_args *a, uint64_t v);
void rq_args_dup(rq_args *a, const char *s);
void rq_args_free(rq_args *a);

/* Retry policy for a call that lost its connection mid-way. */
enum { RQ_NO_RETRY = 0, RQ_RETRY = 1 };

/* Runs one command (argv as given) and returns its reply in *out (heap:
 * freeReplyObject), DP_EIO for a server error reply (message included),
 * DP_EUNAVAIL when Redis is unreachable. what names the operation. */
int rq_call(rq_conn *c, const char *what, rq_args *a, int retry, redisReply **out, dp_err *err);

/* EVALSHA of a script with the fixed KEYS and a's ARGV; loads the script on
 * first use and again on NOSCRIPT (once). */
int rq_eval(rq_conn *c, rq_lua_id script, rq_args *argv, int retry, redisReply **out, dp_err *err);
/* rq_eval with n_extra more keys after the fixed ones (KEYS[7]...): a
 * script's own keys, named in KEYS as cluster routing requires. */
int rq_eval_keys(rq_conn *c, rq_lua_id script, const char *const *extra, size_t n_extra,
                 rq_args *argv, int retry, redisReply **out, dp_err *err);

/* Loads `script` unless loaded: DP_OK when c->sha[script] holds its SHA
 * (for a caller that pipelines EVALSHA itself: rq_lease_claim_many). */
int rq_script_ready(rq_conn *c, rq_lua_id script, dp_err *err);

/* Runs `script` with the ids as ARGV, one call per RQ_BATCH_MAX ids: the
 * batched form of a per-job script whose reply is not needed. ids are
 * borrowed. */
int rq_eval_ids(rq_conn *c, int script, const char *const *ids, size_t n, dp_err *err);

/* Sends n commands in one round trip; out[i] get the replies (heap). */
int rq_pipeline(rq_conn *c, const char *what, rq_args *cmds, size_t n, redisReply **out,
                dp_err *err);

/* One owner check's answer e (owner_check_item in rq_prelude.lua; NULL:
 * none) into it->result and it->max_attempts (rq_owner_check, and the
 * checks of a lease call: rq_lease_claim_many). */
void rq_owner_parse(rq_owner_item *it, const redisReply *e);
/* The ARGV of n owner checks: (job id, runner id, attempt, mark "1" or "0"). */
void rq_owner_argv(rq_args *a, const rq_owner_item *items, size_t n);

/* DP_OK when id is 1..DP_ID_MAX-1 chars of [A-Za-z0-9_.-]; what names it. */
int rq_check_id(const char *id, const char *what, dp_err *err);

int64_t rq_now_ms(void); /* wall clock, ms since the epoch */
/* How long a job with a result in flight keeps its lease (the option or
 * RQ_RESULT_HOLD_MS): ARGV of the scripts that take leases away. */
uint32_t rq_result_hold_ms(const rq_conn *c);

/* "2026-11-23T11:30:00.123Z" for ms since the epoch; out holds 32 bytes. */
void rq_format_time(int64_t ms, char out[32]);

/* Integer value of a reply (integer or numeric string); 0 otherwise. */
long long rq_reply_int(const redisReply *r);

#endif

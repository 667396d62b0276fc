/* dispatch_client: the C client API for producers and operators. dispatchctl
 * is built on it; platforms embed it to submit jobs and read verdicts.
 *
 * One dpc handle is one nng req socket to the dispatcher's admin URL
 * (DISPATCH_ADMIN_URL: ipc://, tcp:// or tls+tcp://). A handle is used by one
 * thread at a time. Every call returns 0 or a negative dp_code and fills err:
 * DP_EUNAVAIL when the dispatcher cannot be reached, DP_EINVAL for a request
 * it refused as bad input, DP_ENOTFOUND for an unknown job or runner,
 * DP_ECONFLICT when the job is in a state that forbids the action.
 * Output structs are filled with heap copies the caller frees with the
 * matching dp_*_free from common/job.h. */
#ifndef DISPATCH_CLIENT_H
#define DISPATCH_CLIENT_H

#include "common/err.h"
#include "common/job.h"
#include "messages/msg.h"

#include <stddef.h>
#include <stdint.h>

typedef struct dpc dpc;

/* One item of a submit reply: job_id on success, else error (index = the
 * item's position in the batch). Both heap strings, freed by dpc_submit_free. */
typedef struct {
    char *job_id;
    char *error;
    int quota; /* refused by the API key's quota: retry after retry_s */
    uint32_t retry_s;
    char *warning; /* accepted with a warning (e.g. no runner has registered yet), or NULL */
} dpc_submitted;

/* timeout_ms bounds every request/reply (not dpc_wait's own wait). */
dpc *dpc_open(const char *url, uint32_t timeout_ms, dp_err *err);
void dpc_close(dpc *c);

/* Submits n specs in one round trip. *items gets n entries (caller frees with
 * dpc_submit_free). Returns 0 when the request was answered, even if some
 * items were refused. */
int dpc_submit(dpc *c, const dp_job_spec *specs, size_t n, dpc_submitted **items, dp_err *err);
void dpc_submit_free(dpc_submitted *items, size_t n);

int dpc_status(dpc *c, const char *job_id, dp_job_view *out, dp_err *err);

/* Blocks until the job is terminal or timeout_ms passes (DP_ETIMEOUT; out
 * then holds the last state seen). */
int dpc_wait(dpc *c, const char *job_id, uint32_t timeout_ms, dp_job_view *out, dp_err *err);

int dpc_runners(dpc *c, dp_runner_info **out, size_t *n, dp_err *err);
void dpc_runners_free(dp_runner_info *list, size_t n);
/* Counts, and the depth of each queue (out->queues: dp_queue_stats_free). */
int dpc_queue(dpc *c, dp_queue_stats *out, dp_err *err);
int dpc_cancel(dpc *c, const char *job_id, dp_err *err);
int dpc_requeue(dpc *c, const char *job_id, dp_err *err);
int dpc_requeue_dead(dpc *c, uint32_t *count, dp_err *err);
int dpc_drain(dpc *c, const char *runner_id, dp_err *err);

/* The API key every request carries from now on (copied; NULL: none). A
 * dispatcher's tcp admin socket refuses requests without a live key with
 * the scope they need ("unauthorized", "forbidden": DP_EAUTH,
 * DP_EFORBIDDEN); its ipc socket (0600) needs none. */
int dpc_set_key(dpc *c, const char *api_key, dp_err *err);

/* API keys (admin): create one (*out->key holds the plaintext, shown once),
 * list them (no secrets), revoke one by id or name. *out / *keys are the
 * caller's: dpc_keys_free. */
int dpc_key_create(dpc *c, const char *name, unsigned scopes, uint32_t max_queued,
                   uint32_t per_minute, dp_key_info *out, dp_err *err);
int dpc_key_list(dpc *c, dp_key_info **keys, size_t *n, dp_err *err);
int dpc_key_revoke(dpc *c, const char *id_or_name, dp_err *err);
void dpc_keys_free(dp_key_info *keys, size_t n);

/* One page of jobs, newest first (q: state, profile, limit 1..500 or 0 for
 * 50, after = a previous page's next). A key without read or admin scope
 * sees its own jobs only. *out is the caller's (dp_msg_free of a message
 * of type DP_MSG_JOBS with it, or dpc_jobs_free). A malformed cursor or
 * state: DP_EINVAL naming it. */
int dpc_jobs(dpc *c, const dp_msg_job_list *q, dp_msg_jobs *out, dp_err *err);
void dpc_jobs_free(dp_msg_jobs *jobs);

/* The profiles the live runners offer; dpc_profiles_free. */
int dpc_profiles(dpc *c, dp_msg_profiles *out, dp_err *err);
void dpc_profiles_free(dp_msg_profiles *p);

/* A job event as `watch` streams it; strings owned by the callee, valid
 * during the callback only. */
typedef struct {
    const char *job_id;
    const char *state;
    const char *verdict; /* NULL when none */
    const char *runner_id;
    uint32_t attempt;
    const char *ts;
    const char *message;
    const char *eid; /* its id in the dispatcher's event stream ("<ms>-<seq>", Redis's clock),
                        or NULL */
} dpc_event;

/* Streams events (all jobs, or only job_id when non-NULL) until cb returns
 * non-zero or, when until_terminal is set and job_id given, the job ends. */
int dpc_watch(dpc *c, const char *job_id, int (*cb)(const dpc_event *ev, void *arg), void *arg,
              dp_err *err);

#endif

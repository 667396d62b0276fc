#include "client/dispatch_client.h"

#include "actors/actor_stream.h"

#include "actors/actor.h"
#include "actors/actor_urls.h"
#include "messages/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct dpc {
    actor_client *c;
    char *key; /* the API key requests carry; NULL: none */
    char url[1024];
    uint32_t timeout_ms;
    uint64_t next_id;
};

dpc *dpc_open(const char *url, uint32_t timeout_ms, dp_err *err)
{
    dpc *c = calloc(1, sizeof *c);
    if (c == NULL) {
        dp_err_set(err, DP_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(c->url, sizeof c->url, "%s", url);
    c->timeout_ms = timeout_ms;
    c->next_id = 1;
    if ((c->c = actor_client_open(url, err)) == NULL) {
        if (err != NULL && err->code == DP_EUNAVAIL)
            dp_err_set(err, DP_EUNAVAIL, "dispatcher unreachable at %s", url);
        free(c);
        return NULL;
    }
    return c;
}

void dpc_close(dpc *c)
{
    if (c == NULL)
        return;
    actor_client_close(c->c);
    if (c->key != NULL) {
        explicit_bzero(c->key, strlen(c->key));
        free(c->key);
    }
    free(c);
}

int dpc_set_key(dpc *c, const char *api_key, dp_err *err)
{
    /* A key never travels in clear: tls+tcp, or plain tcp to loopback; an
     * ipc socket needs none (its permissions are the credential). */
    if (api_key != NULL && strncmp(c->url, "tcp://", 6) == 0 &&
        strncmp(c->url + 6, "127.", 4) != 0 && strncmp(c->url + 6, "localhost:", 10) != 0 &&
        strncmp(c->url + 6, "[::1]:", 6) != 0)
        return dp_err_set(err, DP_EINVAL,
                          "refusing to send an API key in clear to %s: use tls+tcp://", c->url);
    if (strncmp(c->url, "ipc://", 6) == 0 || strncmp(c->url, "inproc://", 9) == 0)
        api_key = NULL;
    if (c->key != NULL) {
        memset(c->key, 0, strlen(c->key));
        free(c->key);
        c->key = NULL;
    }
    if (api_key != NULL && (c->key = strdup(api_key)) == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    return DP_OK;
}

/* Maps an error-ish reply to a code and message. */
static int reply_code(const dp_msg *r, dp_err *err)
{
    switch (r->type) {
    case DP_MSG_ERROR: {
        const char *code = r->error.code;
        int rc = strcmp(code, DP_MSG_ERR_INVALID) == 0 || strcmp(code, DP_MSG_ERR_PROTOCOL) == 0 ||
                         strcmp(code, DP_MSG_ERR_UNSUPPORTED) == 0
                     ? DP_EINVAL
                 : strcmp(code, DP_MSG_ERR_UNAVAILABLE) == 0  ? DP_EUNAVAIL
                 : strcmp(code, "not_found") == 0             ? DP_ENOTFOUND
                 : strcmp(code, DP_MSG_ERR_CONFLICT) == 0     ? DP_ECONFLICT
                 : strcmp(code, DP_MSG_ERR_UNAUTHORIZED) == 0 ? DP_EAUTH
                 : strcmp(code, "forbidden") == 0             ? DP_EFORBIDDEN
                                                              : DP_EINTERNAL;
        return dp_err_set(err, rc, "%s: %s", code, r->error.message ? r->error.message : "");
    }
    case DP_MSG_NOT_FOUND:
        return dp_err_set(err, DP_ENOTFOUND, "%s not found%s%s", r->not_found.what,
                          r->not_found.message ? ": " : "",
                          r->not_found.message ? r->not_found.message : "");
    case DP_MSG_CONFLICT:
        return dp_err_set(err, DP_ECONFLICT, "conflict: %s",
                          r->conflict.message ? r->conflict.message : "");
    default:
        return dp_err_set(err, DP_EPROTO, "unexpected reply '%s'", dp_msg_type_name(r->type));
    }
}

/* One request/reply; *reply must be freed by the caller (dp_msg_free). */
static int call(dpc *c, dp_msg *req, dp_msg_type want, dp_msg *reply, dp_err *err)
{
    nng_msg *m = NULL, *rm = NULL;
    req->id = c->next_id++;
    req->auth = c->key; /* borrowed for the encode */
    memset(reply, 0, sizeof *reply);
    int rc = dp_msg_encode(req, &m, err);
    req->auth = NULL;
    if (rc != DP_OK)
        return rc;
    rc = actor_client_call(c->c, m, &rm, (int)c->timeout_ms, err);
    if (rc != DP_OK) {
        if (rc == DP_ETIMEOUT || rc == DP_EUNAVAIL || rc == DP_ECLOSED) {
            char why[DP_ERR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err != NULL ? err->msg : "");
            return dp_err_set(err, DP_EUNAVAIL, "dispatcher at %s did not answer: %s", c->url, why);
        }
        return rc;
    }
    rc = dp_msg_decode_nng(rm, reply, err);
    nng_msg_free(rm);
    if (rc != DP_OK)
        return rc;
    if (reply->type != want) {
        rc = reply_code(reply, err);
        dp_msg_free(reply);
        return rc;
    }
    return DP_OK;
}

int dpc_submit(dpc *c, const dp_job_spec *specs, size_t n, dpc_submitted **items, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_SUBMIT}, rep;
    req.submit.specs = (dp_job_spec *)specs;
    req.submit.n_specs = n;
    *items = NULL;
    int rc = call(c, &req, DP_MSG_SUBMITTED, &rep, err);
    if (rc != DP_OK)
        return rc;
    dpc_submitted *out = calloc(n ? n : 1, sizeof *out);
    if (out == NULL) {
        dp_msg_free(&rep);
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        out[i].error = strdup("no answer for this job");
    for (size_t i = 0; i < rep.submitted.n_items; i++) {
        dp_submit_item *it = &rep.submitted.items[i];
        if (it->index >= n)
            continue;
        free(out[it->index].error);
        out[it->index].error = NULL;
        if (it->job_id != NULL) {
            out[it->index].job_id = it->job_id;
            it->job_id = NULL;
            out[it->index].warning = it->warning;
            it->warning = NULL;
        } else {
            out[it->index].error = it->error != NULL ? it->error : strdup("refused");
            it->error = NULL;
            out[it->index].quota = it->code != NULL && strcmp(it->code, DP_MSG_ERR_QUOTA) == 0;
            out[it->index].retry_s = it->retry_s;
        }
    }
    dp_msg_free(&rep);
    *items = out;
    return DP_OK;
}

void dpc_submit_free(dpc_submitted *items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++) {
        free(items[i].job_id);
        free(items[i].error);
        free(items[i].warning);
    }
    free(items);
}

int dpc_status(dpc *c, const char *job_id, dp_job_view *out, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_STATUS}, rep;
    req.status.job_id = (char *)job_id;
    int rc = call(c, &req, DP_MSG_JOB, &rep, err);
    if (rc != DP_OK)
        return rc;
    *out = rep.job;
    memset(&rep.job, 0, sizeof rep.job);
    dp_msg_free(&rep);
    return DP_OK;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dpc_wait(dpc *c, const char *job_id, uint32_t timeout_ms, dp_job_view *out, dp_err *err)
{
    int64_t deadline = mono_ms() + timeout_ms;
    useconds_t pause = 5000;
    memset(out, 0, sizeof *out);
    for (;;) {
        dp_job_view v = {0};
        int rc = dpc_status(c, job_id, &v, err);
        if (rc != DP_OK)
            return rc;
        dp_job_view_free(out);
        *out = v;
        if (dp_job_state_terminal(v.state))
            return DP_OK;
        if (mono_ms() >= deadline)
            return dp_err_set(err, DP_ETIMEOUT, "job %s not finished in time", job_id);
        usleep(pause);
        if (pause < 200000)
            pause *= 2;
    }
}

int dpc_runners(dpc *c, dp_runner_info **out, size_t *n, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_LIST_RUNNERS}, rep;
    int rc = call(c, &req, DP_MSG_RUNNERS, &rep, err);
    if (rc != DP_OK)
        return rc;
    *out = rep.runners.runners;
    *n = rep.runners.n_runners;
    rep.runners.runners = NULL;
    rep.runners.n_runners = 0;
    dp_msg_free(&rep);
    return DP_OK;
}

void dpc_runners_free(dp_runner_info *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        dp_runner_info_free(&list[i]);
    free(list);
}

int dpc_queue(dpc *c, dp_queue_stats *out, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_QUEUE}, rep;
    int rc = call(c, &req, DP_MSG_QUEUE_STATS, &rep, err);
    if (rc == DP_OK) {
        *out = rep.queue_stats; /* the queue rows move to *out */
        rep.queue_stats.queues = NULL;
        rep.queue_stats.n_queues = 0;
        dp_msg_free(&rep);
    }
    return rc;
}

static int simple(dpc *c, dp_msg *req, uint32_t *count, dp_err *err)
{
    dp_msg rep;
    int rc = call(c, req, DP_MSG_ACK, &rep, err);
    if (rc == DP_OK) {
        if (count != NULL)
            *count = rep.ack.count;
        dp_msg_free(&rep);
    }
    return rc;
}

int dpc_cancel(dpc *c, const char *job_id, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_CANCEL};
    req.cancel.job_id = (char *)job_id;
    return simple(c, &req, NULL, err);
}

int dpc_requeue(dpc *c, const char *job_id, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_REQUEUE};
    req.requeue.job_id = (char *)job_id;
    return simple(c, &req, NULL, err);
}

int dpc_requeue_dead(dpc *c, uint32_t *count, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_REQUEUE};
    req.requeue.dead = true;
    return simple(c, &req, count, err);
}

int dpc_drain(dpc *c, const char *runner_id, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_DRAIN};
    req.drain.runner_id = (char *)runner_id;
    return simple(c, &req, NULL, err);
}

/* Hands one event to cb when it is about job_id (or any, with NULL);
 * nonzero when the watch should end. */
static int watch_one(const dp_msg_event *ev, const char *job_id,
                     int (*cb)(const dpc_event *ev, void *arg), void *arg)
{
    if (job_id != NULL && strcmp(job_id, ev->job_id) != 0)
        return 0;
    dpc_event e = {ev->job_id,
                   dp_job_state_name(ev->state),
                   dp_verdict_name(ev->verdict),
                   ev->runner_id,
                   ev->attempt,
                   ev->ts,
                   ev->message,
                   ev->eid};
    return cb(&e, arg) != 0 || (job_id != NULL && dp_job_state_terminal(ev->state));
}

/* One watch's place: what it looks for and whether it is over. */
typedef struct {
    const char *job_id;
    int (*cb)(const dpc_event *ev, void *arg);
    void *arg;
    int stop;
} watch_state;

/* One pushed frame: an `events` batch (or one `event`); a frame that does
 * not decode is skipped (events are best effort). */
static void watch_frame(void *arg, uint32_t id, const unsigned char *body, size_t len)
{
    watch_state *w = arg;
    (void)id;
    dp_msg ev;
    if (w->stop || dp_msg_decode(body, len, &ev, NULL) != DP_OK)
        return;
    const dp_msg_event *evs = ev.type == DP_MSG_EVENT    ? &ev.event
                              : ev.type == DP_MSG_EVENTS ? ev.events.events
                                                         : NULL;
    size_t n = ev.type == DP_MSG_EVENT ? 1 : ev.type == DP_MSG_EVENTS ? ev.events.n_events : 0;
    for (size_t i = 0; i < n && !w->stop; i++)
        w->stop = watch_one(&evs[i], w->job_id, w->cb, w->arg);
    dp_msg_free(&ev);
}

int dpc_watch(dpc *c, const char *job_id, int (*cb)(const dpc_event *ev, void *arg), void *arg,
              dp_err *err)
{
    char url[1100];
    if (strncmp(c->url, "ipc://", 6) != 0)
        return dp_err_set(err, DP_EINVAL,
                          "watch needs the dispatcher's ipc admin socket: job events carry no "
                          "credential, so they are not served over %.*s",
                          (int)strcspn(c->url, ":"), c->url);
    int rc = actor_urls_events_for(c->url, url, sizeof url, err);
    if (rc != DP_OK)
        return rc;
    /* subscribed once greeted: every event streamed after this returns comes */
    int fd = actor_stream_connect(url, 5000, err);
    if (fd < 0)
        return err != NULL ? err->code : DP_EUNAVAIL;
    watch_state w = {job_id, cb, arg, 0};
    actor_stream_input in = {0};
    while (!w.stop &&
           (rc = actor_stream_push_next(fd, &in, DP_MSG_MAX_SIZE, watch_frame, &w, err)) == DP_OK) {
    }
    actor_stream_input_free(&in);
    close(fd);
    return w.stop ? DP_OK : rc;
}

int dpc_key_create(dpc *c, const char *name, unsigned scopes, uint32_t max_queued,
                   uint32_t per_minute, dp_key_info *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    dp_msg req = {.type = DP_MSG_KEY_CREATE}, rep;
    req.key_create.name = (char *)name;
    req.key_create.scopes = scopes;
    req.key_create.max_queued = max_queued;
    req.key_create.per_minute = per_minute;
    int rc = call(c, &req, DP_MSG_KEY, &rep, err);
    if (rc != DP_OK)
        return rc;
    *out = rep.key; /* the reply's strings move to the caller */
    memset(&rep.key, 0, sizeof rep.key);
    dp_msg_free(&rep);
    return DP_OK;
}

int dpc_key_list(dpc *c, dp_key_info **keys, size_t *n, dp_err *err)
{
    *keys = NULL;
    *n = 0;
    dp_msg req = {.type = DP_MSG_KEY_LIST}, rep;
    int rc = call(c, &req, DP_MSG_KEYS, &rep, err);
    if (rc != DP_OK)
        return rc;
    *keys = rep.keys.keys;
    *n = rep.keys.n_keys;
    rep.keys.keys = NULL;
    rep.keys.n_keys = 0;
    dp_msg_free(&rep);
    return DP_OK;
}

int dpc_key_revoke(dpc *c, const char *id_or_name, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_KEY_REVOKE}, rep;
    req.key_revoke.key = (char *)id_or_name;
    int rc = call(c, &req, DP_MSG_ACK, &rep, err);
    if (rc == DP_OK)
        dp_msg_free(&rep);
    return rc;
}

void dpc_keys_free(dp_key_info *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dp_msg m = {.type = DP_MSG_KEY, .key = keys[i]};
        dp_msg_free(&m);
    }
    free(keys);
}

int dpc_jobs(dpc *c, const dp_msg_job_list *q, dp_msg_jobs *out, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_JOB_LIST}, rep;
    req.job_list = *q; /* borrowed for the encode */
    memset(out, 0, sizeof *out);
    int rc = call(c, &req, DP_MSG_JOBS, &rep, err);
    if (rc != DP_OK)
        return rc;
    *out = rep.jobs; /* moved: rep owns nothing more */
    return DP_OK;
}

void dpc_jobs_free(dp_msg_jobs *jobs)
{
    dp_msg m = {.type = DP_MSG_JOBS};
    m.jobs = *jobs;
    dp_msg_free(&m);
    memset(jobs, 0, sizeof *jobs);
}

int dpc_profiles(dpc *c, dp_msg_profiles *out, dp_err *err)
{
    dp_msg req = {.type = DP_MSG_PROFILE_LIST}, rep;
    memset(out, 0, sizeof *out);
    int rc = call(c, &req, DP_MSG_PROFILES, &rep, err);
    if (rc != DP_OK)
        return rc;
    *out = rep.profiles;
    return DP_OK;
}

void dpc_profiles_free(dp_msg_profiles *p)
{
    dp_msg m = {.type = DP_MSG_PROFILES};
    m.profiles = *p;
    dp_msg_free(&m);
    memset(p, 0, sizeof *p);
}

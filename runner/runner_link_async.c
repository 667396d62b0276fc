/* runner_link_call_async: a call to the dispatcher whose answer arrives as
 * a message in an actor's mailbox, so the job feeder keeps several
 * complete_lease calls in flight without a thread waiting on each. The
 * reply is handed over undecoded (an `answer`): the actor decodes it once,
 * where it used to be decoded here, encoded again for the mailbox and
 * decoded there a second time. */
#include "common/log.h"
#include "runner/runner_link.h"
#include "runner/runner_link_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    actor *notify;
    uint64_t id;
    runner_link_target target;
} async_call;

/* Tells the waiting actor; the message is dropped when it is stopping.
 * Its mailbox has room for every call it can have in flight, so a full one
 * is a bug: logged, and the call is given up on at its deadline. */
static void notify_answer(async_call *c, dp_msg *m)
{
    m->id = c->id;
    nng_msg *msg = NULL;
    dp_err err = {0};
    int rc = dp_msg_encode_internal(m, &msg, &err);
    if (rc == DP_OK)
        rc = actor_send(c->notify, msg, 0, &err);
    if (rc != DP_OK && rc != DP_ECLOSED)
        dp_log(DP_LOG_ERROR, "answer_dropped", "error", err.msg, (char *)NULL);
}

static void notify_failure(async_call *c, const char *why)
{
    dp_msg e = {.type = DP_MSG_ERROR};
    e.error.code = (char *)DP_MSG_ERR_UNAVAILABLE;
    e.error.message = (char *)why;
    notify_answer(c, &e);
}

/* On an nng worker thread, once per call: hand the reply's bytes over as
 * they came (the caller decodes them once: runner_link_answer_open), free. */
static void async_done(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    async_call *c = arg;
    if (code != DP_OK) {
        if (code == DP_ETIMEOUT || code == DP_EUNAVAIL || code == DP_ECLOSED)
            runner_link_failed(&c->target);
        char why[RUNNER_LINK_LIST_MAX + 320];
        snprintf(why, sizeof why, "dispatcher at %s: %s", c->target.url,
                 errmsg != NULL ? errmsg : dp_code_name(code));
        notify_failure(c, why);
        free(c);
        return;
    }
    dp_msg m = {.type = DP_MSG_ANSWER};
    m.answer.bytes = nng_msg_body(reply); /* borrowed: encoding copies */
    m.answer.len = nng_msg_len(reply);
    if (m.answer.len == 0)
        notify_failure(c, "empty reply");
    else
        notify_answer(c, &m);
    nng_msg_free(reply);
    free(c);
}

int runner_link_answer_open(dp_msg *m, const runner_link_target *t)
{
    if (m->type != DP_MSG_ANSWER)
        return DP_OK;
    uint64_t id = m->id;
    dp_msg r;
    dp_err err = {0};
    int rc = dp_msg_decode(m->answer.bytes, m->answer.len, &r, &err);
    dp_msg_free(m);
    if (rc != DP_OK) {
        /* the dispatcher's bytes are untrusted: what is wrong with them ends
         * the call as a transport failure would */
        char why[sizeof err.msg + RUNNER_LINK_LIST_MAX + 64];
        snprintf(why, sizeof why, "dispatcher at %s: undecodable reply: %s",
                 t != NULL ? t->url : "?", err.msg);
        memset(&r, 0, sizeof r);
        r.type = DP_MSG_ERROR;
        r.error.code = strdup(DP_MSG_ERR_UNAVAILABLE);
        r.error.message = strdup(why);
        if (r.error.code == NULL || r.error.message == NULL) {
            dp_msg_free(&r);
            rc = DP_ENOMEM;
        } else {
            rc = DP_OK;
        }
    } else if (t != NULL && runner_link_leaving(&r)) {
        runner_link_failed(t); /* it is stopping: go on on the next one */
    }
    *m = r;
    m->id = id;
    return rc;
}

int runner_link_call_async(actor_client **link, const char *url, dp_msg *req, int timeout_ms,
                           actor *notify, runner_link_target *target, dp_err *err)
{
    async_call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory starting a call");
    int rc = runner_link_prepare(link, url, &c->target, err);
    if (rc != DP_OK) {
        free(c);
        return rc;
    }
    nng_msg *m = NULL;
    req->id = runner_link_next_id();
    if ((rc = dp_msg_encode(req, &m, err)) != DP_OK) {
        free(c);
        return rc;
    }
    c->notify = notify;
    c->id = req->id;
    if (target != NULL)
        *target = c->target;
    if ((rc = actor_client_call_async(*link, m, timeout_ms, async_done, c, err)) != DP_OK) {
        runner_link_failed(&c->target);
        free(c);
    }
    return rc;
}

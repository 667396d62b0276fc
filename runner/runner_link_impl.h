/* The replica choice of runner_link.c and the asynchronous call built on
 * it (runner_link_async.c): which URL a call goes to, and what a failure or
 * a probe does to the process-wide choice. Internal to runner/. */
#ifndef DP_RUNNER_LINK_IMPL_H
#define DP_RUNNER_LINK_IMPL_H

#include "runner/runner_link.h"

typedef struct {
    size_t n;        /* URLs in the list */
    unsigned choice; /* the choice the call was made under */
    char url[RUNNER_LINK_LIST_MAX];
} runner_link_target;

/* Opens *link to the chosen replica (or reopens it after the choice moved);
 * DP_EUNAVAIL when nobody listens there (the choice moves on). */
int runner_link_prepare(actor_client **link, const char *url, runner_link_target *t, dp_err *err);

/* A call made under t failed in transport: the next goes to the next replica. */
void runner_link_failed(const runner_link_target *t);

/* With several replicas: 0 when nobody listens at t's replica any more (the
 * link is closed, which ends its calls, and the choice moves on); else 1. */
int runner_link_probe(actor_client **link, const runner_link_target *t);

/* 1 when link was opened for a replica the process has moved away from
 * (several URLs only): the next call on it would close it first. */
int runner_link_stale(actor_client *link, const char *url);

/* Closes *link (its calls end with DP_ECLOSED) and forgets it; NULL is fine. */
void runner_link_close(actor_client **link);

/* A process-wide request id for the envelope. */
uint64_t runner_link_next_id(void);

/* 1 when r says the replica is stopping (runner_link.c, replica_leaving). */
int runner_link_leaving(const dp_msg *r);

/* Starts req on *link without waiting (link and replica as for
 * runner_link_call); req->id is set here and names the answer, which
 * arrives in notify's mailbox as an in-process message with that id: an
 * `answer` holding the dispatcher's reply as it came (runner_link_answer_open
 * decodes it), or an `error` with code DP_MSG_ERR_UNAVAILABLE naming the
 * transport failure (nobody answered in timeout_ms, the link closed).
 * *target (may be NULL) gets the replica it went to, for runner_link_probe
 * and runner_link_answer_open. req is borrowed. DP_OK, or why it could not
 * start (DP_EUNAVAIL; DP_EINVAL for a message over DP_MSG_MAX_SIZE): then
 * nothing arrives. */
int runner_link_call_async(actor_client **link, const char *url, dp_msg *req, int timeout_ms,
                           actor *notify, runner_link_target *target, dp_err *err);

/* Turns *m, as it arrived from runner_link_call_async, into the call's
 * answer in place (same id; dp_msg_free it as before): an `answer` is
 * decoded and validated like any untrusted bytes (what fails becomes an
 * `error` DP_MSG_ERR_UNAVAILABLE naming it), and a reply saying the replica
 * is stopping moves the process on from t (the call's target; NULL: not
 * known). Any other message is left as it is. DP_ENOMEM only when even the
 * error could not be made (*m is then empty). */
int runner_link_answer_open(dp_msg *m, const runner_link_target *t);

#endif

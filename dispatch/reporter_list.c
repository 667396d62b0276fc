/* The reporter's job listing (job_list -> jobs): GET /api/v1/jobs and
 * `dispatchctl jobs`, one handler for both. A key that may not see every
 * job (fwd_may_see) lists only the jobs it submitted (jobs.owner_key). */
#include "dispatch/reporter_impl.h"

#include "dispatch/store/store_list.h"

#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT_LIMIT 50

void reporter_do_list(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)ctx;
    const dp_msg_job_list *q = &m->job_list;
    store_job_filter f = {
        .state = q->state,
        .profile = q->profile,
        .owner_key = fwd_may_see(o, NULL) ? NULL : o.key_id,
        .limit = q->limit != 0 ? q->limit : LIST_DEFAULT_LIMIT,
    };
    dp_err err = {0};
    if (q->after != NULL && store_job_cursor_parse(q->after, &f, &err) != DP_OK) {
        fwd_reply_code(o, m->id, DP_EINVAL, "job", &err);
        return;
    }
    if (s->events.n > 0) /* what we already know (a lease) is in PostgreSQL before we read */
        reporter_flush_events(s);
    dp_msg r = {.type = DP_MSG_JOBS, .id = m->id};
    char next[STORE_CURSOR_MAX];
    int rc = store_list_jobs(s->db, &f, &r.jobs.jobs, &r.jobs.n_jobs, next, &err);
    if (rc != DP_OK) {
        fwd_reply_code(o, m->id, rc, "job", &err);
        return;
    }
    if (next[0] != '\0' && (r.jobs.next = strdup(next)) == NULL) {
        dp_msg_free(&r);
        dp_err_set(&err, DP_ENOMEM, "list jobs: out of memory");
        fwd_reply_code(o, m->id, DP_ENOMEM, "job", &err);
        return;
    }
    fwd_reply_take(o, &r);
}

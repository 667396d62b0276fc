/* GET /api/v1/jobs (the reporter's job_list: newest first, cursor paging)
 * and GET /api/v1/profiles (the registrar's list_profiles): query
 * parameters -> the message dispatchctl sends, the reply -> JSON. */
#include "dispatch/http_impl.h"

#include "common/job_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A query parameter, NULL when absent or empty. */
static const char *arg(http_req *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static int on_jobs(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_JOBS) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < rep->jobs.n_jobs; i++)
        json_array_append_new(arr, dp_job_view_to_json(&rep->jobs.jobs[i]));
    http_answer_json(r, 200,
                     json_pack("{s:o,s:o}", "jobs", arr, "next",
                               rep->jobs.next != NULL ? json_string(rep->jobs.next) : json_null()));
    return 0;
}

void http_list_jobs(http_req *r)
{
    dp_msg m = {.type = DP_MSG_JOB_LIST};
    const char *limit = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
    if (limit != NULL) {
        char *end = NULL;
        long n = strtol(limit, &end, 10);
        if (limit[0] == '\0' || *end != '\0' || n < 1 || n > DP_JOB_LIST_MAX) {
            http_answer_error(r, 400, "invalid", "limit: want a whole number 1..%d, got '%.40s'",
                              DP_JOB_LIST_MAX, limit);
            return;
        }
        m.job_list.limit = (uint32_t)n;
    }
    /* state is checked by the message's validation ("state: ..."), the
     * cursor by the reporter ("after: ..."): both answer 400 naming it. */
    m.job_list.state = (char *)arg(r, "state");
    m.job_list.profile = (char *)arg(r, "profile");
    m.job_list.after = (char *)MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "after");
    if (m.job_list.after != NULL && m.job_list.after[0] == '\0') {
        http_answer_error(r, 400, "invalid", "after: empty; give the `next` of a previous page");
        return;
    }
    if (m.job_list.after != NULL && strlen(m.job_list.after) > DP_MSG_MAX_NAME) {
        http_answer_error(r, 400, "invalid", "after: not a cursor from a previous page's next");
        return;
    }
    http_forward(r, &m, on_jobs);
}

static int on_profiles(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_PROFILES) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < rep->profiles.n_profiles; i++) {
        const dp_profile_info *p = &rep->profiles.profiles[i];
        json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:s?}", "name", p->name, "runners",
                                             (json_int_t)p->runners, "capacity",
                                             (json_int_t)p->capacity, "last_seen", p->last_seen));
    }
    http_answer_json(r, 200, json_pack("{s:o}", "profiles", arr));
    return 0;
}

void http_list_profiles(http_req *r)
{
    dp_msg m = {.type = DP_MSG_PROFILE_LIST};
    http_forward(r, &m, on_profiles);
}

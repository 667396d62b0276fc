/* dispatchctl jobs (one page of jobs, newest first: the job_list message
 * GET /api/v1/jobs sends too) and dispatchctl profiles. */
#include "cmd/dispatchctl.h"

#include "common/job_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_jobs(dpc *c, const cli_args *a)
{
    dp_msg_job_list q = {0};
    if (a->limit != NULL) {
        char *end = NULL;
        long n = strtol(a->limit, &end, 10);
        if (end == a->limit || *end != '\0' || n < 1 || n > DP_JOB_LIST_MAX)
            return ctl_usage_error("--limit: '%s' is not a whole number 1..500", a->limit);
        q.limit = (uint32_t)n;
    }
    q.state = (char *)a->state;
    q.profile = (char *)a->profile;
    q.after = (char *)a->after;
    dp_msg_jobs page;
    dp_err err = {0};
    int rc = dpc_jobs(c, &q, &page, &err);
    if (rc != DP_OK)
        return ctl_fail(rc, &err);
    if (a->json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && i < page.n_jobs; i++)
            json_array_append_new(arr, dp_job_view_to_json(&page.jobs[i]));
        ctl_print_json(json_pack("{s:o,s:o}", "jobs", arr, "next",
                                 page.next != NULL ? json_string(page.next) : json_null()));
    } else {
        printf("%-36s  %-9s  %-7s  %-16s  %s\n", "JOB", "STATE", "VERDICT", "PROFILE", "CREATED");
        for (size_t i = 0; i < page.n_jobs; i++) {
            const dp_job_view *v = &page.jobs[i];
            const char *vd = dp_verdict_name(v->verdict);
            char id[160], prof[160];
            printf("%-36s  %-9s  %-7s  %-16s  %s\n", SAFE(v->job_id, id),
                   dp_job_state_name(v->state), vd != NULL ? vd : "-",
                   SAFE(v->profile != NULL ? v->profile : "", prof),
                   v->created_at != NULL ? v->created_at : "");
        }
        if (page.next != NULL)
            printf("next: %s\n", page.next);
    }
    dpc_jobs_free(&page);
    return EX_OK_;
}

int ctl_profiles(dpc *c, const cli_args *a)
{
    dp_msg_profiles p;
    dp_err err = {0};
    int rc = dpc_profiles(c, &p, &err);
    if (rc != DP_OK)
        return ctl_fail(rc, &err);
    json_t *arr = a->json ? json_array() : NULL;
    if (!a->json)
        printf("%-20s  %-7s  %-5s  %s\n", "PROFILE", "RUNNERS", "SLOTS", "LAST SEEN");
    for (size_t i = 0; i < p.n_profiles; i++) {
        const dp_profile_info *r = &p.profiles[i];
        char name[160];
        if (arr != NULL)
            json_array_append_new(arr,
                                  json_pack("{s:s,s:I,s:I,s:s?}", "name", r->name, "runners",
                                            (json_int_t)r->runners, "capacity",
                                            (json_int_t)r->capacity, "last_seen", r->last_seen));
        else
            printf("%-20s  %-7u  %-5u  %s\n", SAFE(r->name, name), r->runners, r->capacity,
                   r->last_seen != NULL ? r->last_seen : "");
    }
    if (arr != NULL)
        ctl_print_json(json_pack("{s:o}", "profiles", arr));
    dpc_profiles_free(&p);
    return EX_OK_;
}

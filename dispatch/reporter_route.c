/* The submitter's part of routing: a submit's profiles are checked against
 * every profile a runner of this deployment ever offered (Redis `P profiles`,
 * kept in PostgreSQL `offered_profiles` so it survives a flush), and the
 * rebuild puts that set back. The profiles ever offered only grow (nothing
 * removes one from either set; a flushed Redis gets PostgreSQL's back), so a
 * profile once seen in either stays offered: the submitter remembers those it
 * saw (s->offered, this replica's, from its start), and a submit whose
 * profiles are all known is checked without a round trip (one Redis round
 * trip on every submit's path before). While Redis is unreachable,
 * PostgreSQL's copy decides for the others. */
#include "dispatch/reporter_impl.h"

#include "common/clock.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int in_list(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* A bound on s->offered: registrations name the profiles, and a deployment
 * with more than this many keeps asking Redis for the rest. */
#define REPORTER_OFFERED_MAX 1024

/* Adds the names in list that s->offered does not hold yet (best effort: a
 * name not remembered is only asked for again). */
static void remember_offered(reporter_state *s, char **list, size_t n)
{
    for (size_t i = 0; i < n && s->n_offered < REPORTER_OFFERED_MAX; i++) {
        if (in_list(s->offered, s->n_offered, list[i]))
            continue;
        if (s->n_offered % 16 == 0) {
            char **grown = realloc(s->offered, (s->n_offered + 16) * sizeof *grown);
            if (grown == NULL)
                return;
            s->offered = grown;
        }
        if ((s->offered[s->n_offered] = strdup(list[i])) == NULL)
            return;
        s->n_offered++;
    }
}

void reporter_profiles_free(reporter_state *s)
{
    for (size_t i = 0; i < s->n_offered; i++)
        free(s->offered[i]);
    free(s->offered);
    s->offered = NULL;
    s->n_offered = 0;
}

/* Whether every spec's profile is known to be offered (or names none). */
static int all_known(const reporter_state *s, const dp_job_spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (specs[i].profile != NULL && !in_list(s->offered, s->n_offered, specs[i].profile))
            return 0;
    return 1;
}

int reporter_check_profiles(reporter_state *s, const dp_job_spec *specs, size_t n, char *warning,
                            size_t warning_len, dp_err *err)
{
    warning[0] = '\0';
    if (all_known(s, specs, n))
        return DP_OK;
    char **have = NULL, **stored = NULL;
    size_t n_have = 0, n_stored = 0;
    dp_err redis_err = {0};
    int redis_rc = rq_profiles_list(s->rq, &have, &n_have, &redis_err);
    if (redis_rc == DP_OK)
        remember_offered(s, have, n_have);
    int rc = DP_OK;
    const char *missing = NULL;
    for (size_t i = 0; i < n && missing == NULL; i++) {
        const char *p = specs[i].profile;
        if (p == NULL || in_list(have, n_have, p) || in_list(s->offered, s->n_offered, p))
            continue;
        /* Redis may have lost the set (flushed) before the runners registered
         * again, or be unreachable: PostgreSQL keeps it. */
        if (stored == NULL) {
            if ((rc = store_profiles_list(s->db, &stored, &n_stored, err)) != DP_OK)
                break;
            remember_offered(s, stored, n_stored);
        }
        if (!in_list(stored, n_stored, p))
            missing = p;
    }
    if (rc == DP_OK && missing != NULL && redis_rc != DP_OK) {
        /* Not in PostgreSQL's copy, and Redis's may hold it (a registration
         * copied within the second): unknown until Redis answers. */
        rc = redis_rc;
        *err = redis_err;
    }
    if (rc == DP_OK && missing != NULL) {
        if (n_have == 0 && n_stored == 0) {
            /* No runner ever offered a profile: a fleet scaled to zero. */
            snprintf(warning, warning_len,
                     "no runner has registered yet: profile '%s' is not known to be offered "
                     "(accepted; the job waits for a runner that offers it)",
                     missing);
            dp_log(DP_LOG_WARN, "submit_profile_unverified", "profile", missing, (char *)NULL);
        } else {
            rc = dp_err_set(err, DP_EINVAL,
                            "profile '%s' is not offered by any runner of this deployment "
                            "(dispatchctl runners; profiles offered so far: %zu)",
                            missing, n_have > n_stored ? n_have : n_stored);
        }
    }
    rq_strings_free(have, n_have);
    store_profiles_free(stored, n_stored);
    return rc;
}

void reporter_profiles_sync(reporter_state *s)
{
    char **have = NULL;
    size_t n = 0;
    dp_err err = {0};
    if (rq_profiles_list(s->rq, &have, &n, &err) != DP_OK)
        return;
    /* A changed count is the common case; every 10th check (10 s) copies
     * anyway, for a set that changed members but not size (Redis flushed). */
    if (n != s->profiles_synced || ++s->profile_checks % 10 == 0) {
        remember_offered(s, have, n);
        if (store_profiles_add(s->db, (const char *const *)have, n, &err) == DP_OK)
            s->profiles_synced = n;
        else
            dp_log(DP_LOG_WARN, "profiles_sync_failed", "error", err.msg, (char *)NULL);
    }
    rq_strings_free(have, n);
}

int reporter_profiles_restore(reporter_state *s, dp_err *err)
{
    char **stored = NULL;
    size_t n = 0;
    int rc = store_profiles_list(s->db, &stored, &n, err);
    if (rc == DP_OK)
        rc = rq_profiles_add(s->rq, (const char *const *)stored, n, err);
    store_profiles_free(stored, n);
    return rc;
}

/* The reporter's part of routing: a submit's profiles are checked against
 * every profile a runner of this deployment ever offered (Redis `P profiles`,
 * kept in PostgreSQL `offered_profiles` so it survives a flush), and the
 * rebuild puts that set back. */
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

int reporter_check_profiles(reporter_state *s, const dp_job_spec *specs, size_t n, char *warning,
                            size_t warning_len, dp_err *err)
{
    warning[0] = '\0';
    char **have = NULL, **stored = NULL;
    size_t n_have = 0, n_stored = 0;
    int rc = rq_profiles_list(s->rq, &have, &n_have, err);
    if (rc != DP_OK)
        return rc;
    const char *missing = NULL;
    for (size_t i = 0; i < n && missing == NULL; i++) {
        const char *p = specs[i].profile;
        if (p == NULL || in_list(have, n_have, p))
            continue;
        /* Redis may have lost the set (flushed) before the runners registered
         * again: PostgreSQL keeps it. */
        if (stored == NULL && (rc = store_profiles_list(s->db, &stored, &n_stored, err)) != DP_OK)
            break;
        if (!in_list(stored, n_stored, p))
            missing = p;
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

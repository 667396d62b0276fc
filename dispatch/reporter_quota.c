/* API-key quotas on submit (docs/security.md, "Quotas"): every submit path
 * (HTTP, /execute, nng with a key) reaches the submitter, so they are
 * enforced here once. Submits per minute: a counter in Redis per key and
 * minute window (rq_quota.lua). Max queued: the key's queued and leased
 * jobs counted in PostgreSQL inside the inserting transaction, under a
 * per-key advisory lock (store_insert_jobs_quota): exact however many
 * replicas submit for the key at once. A batch takes what fits, in order;
 * the rest is refused item by item with code "quota". */
#include "dispatch/reporter_impl.h"

#include "common/log.h"
#include "dispatch/redis/rq_quota.h"
#include "dispatch/store/store_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Queued jobs leave as runners finish them: no exact time to give, so a
 * client is told to try again after this. */
#define QUOTA_QUEUED_RETRY_S 5

/* code: DP_MSG_ERR_QUOTA with a retry, or NULL (the quota could not be
 * checked: nothing to wait for but the retry the message asks for). */
static void refuse(dp_submit_item *it, const char *code, uint32_t retry_s, const char *msg)
{
    free(it->job_id);
    it->job_id = NULL;
    it->error = strdup(msg);
    it->code = code != NULL ? strdup(code) : NULL;
    it->retry_s = retry_s;
}

/* Items [from, n) of the batch, those not refused already, become refusals. */
static void refuse_from(dp_submit_item *const *items, size_t n, size_t from, const char *code,
                        uint32_t retry_s, const char *msg)
{
    for (size_t k = from; k < n; k++)
        if (items[k]->job_id != NULL && items[k]->code == NULL)
            refuse(items[k], code, retry_s, msg);
}

/* The keyless or unlimited submit. */
static int record_all(reporter_state *s, const char *owner, const char *const *ok,
                      const rq_job_in *in, size_t n, unsigned char *recorded, dp_err *err)
{
    size_t done = reporter_record_enqueue(s, owner, ok, in, n, recorded, err);
    return done == n ? DP_OK : err->code != DP_OK ? err->code : DP_EUNAVAIL;
}

int reporter_quota_submit(reporter_state *s, fwd_origin o, const char *const *ok,
                          const rq_job_in *in, size_t n, unsigned char *recorded,
                          dp_submit_item *const *items, dp_err *err)
{
    memset(recorded, 0, n);
    if (o.key_id[0] == '\0')
        return record_all(s, NULL, ok, in, n, recorded, err);
    store_apikey k;
    int rc = store_apikey_get(s->db, o.key_id, &k, err);
    if (rc == DP_ENOTFOUND)
        k.max_queued = k.submits_per_minute = 0; /* checked by the gateway a moment ago */
    else if (rc != DP_OK)
        return rc;
    if (k.max_queued == 0 && k.submits_per_minute == 0)
        return record_all(s, o.key_id, ok, in, n, recorded, err);
    uint32_t want = (uint32_t)n, granted = want, retry_ms = 0;
    if (k.submits_per_minute > 0) {
        rc = rq_quota_take(s->rq, o.key_id, k.submits_per_minute, want, &granted, &retry_ms, err);
        if (rc != DP_OK) { /* the quota cannot be checked: refuse rather than exceed it */
            char msg[sizeof err->msg + 96];
            snprintf(msg, sizeof msg,
                     "job not accepted: this key's per-minute quota cannot be checked (%s): retry",
                     err->msg);
            refuse_from(items, n, 0, NULL, 0, msg);
            return rc;
        }
    }
    size_t taken = granted;
    uint64_t queued = 0;
    if (granted > 0 && k.max_queued > 0)
        rc = store_insert_jobs_quota(s->db, ok, granted, o.key_id, k.max_queued, &taken, &queued,
                                     err);
    else if (granted > 0)
        rc = store_insert_job_texts(s->db, ok, granted, o.key_id, NULL, err);
    if (rc != DP_OK) {
        rq_quota_give_back(s->rq, o.key_id, granted, NULL);
        return rc;
    }
    if (taken < granted)
        rq_quota_give_back(s->rq, o.key_id, (uint32_t)(granted - taken), NULL);
    char msg[200];
    if (granted < want) {
        uint32_t retry_s = (retry_ms + 999) / 1000;
        snprintf(msg, sizeof msg, "quota: this key may submit %u jobs per minute; retry in %u s",
                 k.submits_per_minute, retry_s);
        refuse_from(items, n, granted, DP_MSG_ERR_QUOTA, retry_s, msg);
    }
    if (taken < granted) {
        snprintf(msg, sizeof msg, "quota: this key may have %u jobs queued or running and has %llu",
                 k.max_queued, (unsigned long long)queued);
        refuse_from(items, n, taken, DP_MSG_ERR_QUOTA, QUOTA_QUEUED_RETRY_S, msg);
    }
    if (taken < want)
        dp_log(DP_LOG_INFO, "submit_over_quota", "key_id", o.key_id, (char *)NULL);
    memset(recorded, 1, taken); /* a prefix: what fits under the quotas */
    reporter_enqueue_recorded(s, in, taken);
    return DP_OK;
}

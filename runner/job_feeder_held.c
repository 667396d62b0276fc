#include "runner/job_feeder_held.h"

#include "common/clock.h"
#include "common/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int feeder_held_add(feeder_held *h, dp_result_item *item, dp_err *err)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        feeder_held_result *v = realloc(h->v, cap * sizeof *v);
        if (v == NULL)
            return dp_err_set(err, DP_ENOMEM, "job feeder: out of memory holding a result");
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n].item = *item;
    h->v[h->n].call = 0;
    h->v[h->n].since_ms = dp_now_ms();
    h->n++;
    memset(item, 0, sizeof *item);
    return DP_OK;
}

int64_t feeder_held_oldest_ms(const feeder_held *h)
{
    return h->n > 0 ? h->v[0].since_ms : 0; /* added at the end, forgotten in place */
}

size_t feeder_held_waiting(const feeder_held *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        k += h->v[i].call == 0;
    return k;
}

size_t feeder_held_awaiting(const feeder_held *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        k += h->v[i].call == FEEDER_HELD_AWAITING;
    return k;
}

int64_t feeder_held_await_since(const feeder_held *h)
{
    int64_t since = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].call == FEEDER_HELD_AWAITING && (since == 0 || h->v[i].await_ms < since))
            since = h->v[i].await_ms;
    return since;
}

size_t feeder_held_peek(const feeder_held *h, dp_result_item *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n && k < max; i++)
        if (h->v[i].call == 0)
            out[k++] = h->v[i].item;
    return k;
}

void feeder_held_mark(feeder_held *h, size_t n, uint64_t call)
{
    for (size_t i = 0; i < h->n && n > 0; i++)
        if (h->v[i].call == 0) {
            h->v[i].call = call;
            n--;
        }
}

void feeder_held_unsend(feeder_held *h, uint64_t call)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].call == call)
            h->v[i].call = 0;
}

static void forget(feeder_held *h, size_t i)
{
    dp_job_result_free(&h->v[i].item.result);
    memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof *h->v);
    h->n--;
}

/* ack / conflict / not_found forget result i (1); retry puts it back to
 * waiting (0). */
static int apply(feeder_held *h, size_t i, const dp_result_outcome *o)
{
    dp_job_result *r = &h->v[i].item.result;
    if (strcmp(o->outcome, DP_OUTCOME_RETRY) == 0) {
        h->v[i].call = 0;
        return 0;
    }
    if (strcmp(o->outcome, DP_OUTCOME_ACK) != 0)
        dp_log(DP_LOG_WARN, "result_dropped", "job_id", r->job_id, "reason", o->outcome, "error",
               o->message ? o->message : "", (char *)NULL);
    forget(h, i);
    return 1;
}

static int same_result(const dp_job_result *r, const dp_result_outcome *o)
{
    return r->attempt == o->attempt && r->job_id != NULL && o->job_id != NULL &&
           strcmp(r->job_id, o->job_id) == 0;
}

int feeder_held_outcome(feeder_held *h, uint64_t call, const dp_result_outcome *o)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].call == call && same_result(&h->v[i].item.result, o))
            return apply(h, i, o);
    return -1;
}

int feeder_held_decided(feeder_held *h, const dp_result_outcome *o)
{
    for (size_t i = 0; i < h->n; i++)
        if (same_result(&h->v[i].item.result, o))
            return apply(h, i, o);
    return -1;
}

void feeder_held_await(feeder_held *h, uint64_t call, int64_t now_ms)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].call == call) {
            h->v[i].call = FEEDER_HELD_AWAITING;
            h->v[i].await_ms = now_ms;
        }
}

size_t feeder_held_unawait(feeder_held *h, int64_t cutoff_ms)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].call == FEEDER_HELD_AWAITING &&
            (cutoff_ms == INT64_MAX || h->v[i].await_ms < cutoff_ms)) {
            h->v[i].call = 0;
            k++;
        }
    return k;
}

void feeder_held_free(feeder_held *h)
{
    for (size_t i = 0; i < h->n; i++)
        dp_job_result_free(&h->v[i].item.result);
    free(h->v);
    memset(h, 0, sizeof *h);
}

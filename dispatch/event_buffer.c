#include "dispatch/event_buffer.h"

#include "common/clock.h"
#include "common/log.h"
#include "dispatch/event_stream.h"
#include "dispatch/fwd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static int grow(event_buffer *b)
{
    if (b->n < b->cap)
        return DP_OK;
    size_t cap = b->cap ? b->cap * 2 : 64;
    event_entry *ne = realloc(b->items, cap * sizeof *ne);
    if (ne == NULL)
        return DP_ENOMEM;
    b->items = ne;
    b->cap = cap;
    return DP_OK;
}

int event_buffer_add(event_buffer *b, const char *job_id, dp_job_state state, dp_verdict verdict,
                     const char *runner_id, uint32_t attempt, const char *message)
{
    if (grow(b) != DP_OK) {
        dp_log(DP_LOG_ERROR, "event_lost", "job_id", job_id, (char *)NULL);
        return DP_ENOMEM;
    }
    char ts[40];
    dp_iso_now(ts, sizeof ts);
    event_entry *e = &b->items[b->n];
    memset(e, 0, sizeof *e);
    e->ev.job_id = strdup(job_id);
    e->ev.ts = strdup(ts);
    e->ev.runner_id = dup_or_null(runner_id);
    e->ev.message = dup_or_null(message);
    if (e->ev.job_id == NULL || e->ev.ts == NULL || (runner_id != NULL && !e->ev.runner_id) ||
        (message != NULL && !e->ev.message)) {
        dp_msg m = {.type = DP_MSG_EVENT, .event = e->ev};
        dp_msg_free(&m);
        dp_log(DP_LOG_ERROR, "event_lost", "job_id", job_id, (char *)NULL);
        return DP_ENOMEM;
    }
    e->ev.state = state;
    e->ev.verdict = verdict;
    e->ev.attempt = attempt;
    int64_t now = dp_wall_us();
    e->at_us = b->last_us = now > b->last_us ? now : b->last_us + 1;
    b->n++;
    return DP_OK;
}

int event_buffer_copy(event_buffer *b, const event_entry *e)
{
    const dp_msg_event *v = &e->ev;
    int rc =
        event_buffer_add(b, v->job_id, v->state, v->verdict, v->runner_id, v->attempt, v->message);
    if (rc != DP_OK)
        return rc;
    event_entry *c = &b->items[b->n - 1];
    c->at_us = e->at_us;
    c->persisted = e->persisted;
    c->streamed = e->streamed;
    if (e->at_us > b->last_us)
        b->last_us = e->at_us;
    return DP_OK;
}

int event_buffer_move(event_buffer *b, event_entry *e)
{
    if (grow(b) != DP_OK)
        return DP_ENOMEM;
    b->items[b->n++] = *e;
    if (e->at_us > b->last_us)
        b->last_us = e->at_us;
    memset(e, 0, sizeof *e);
    return DP_OK;
}

void event_buffer_add_all(event_buffer *b, const dp_msg_events *evs)
{
    for (size_t i = 0; i < evs->n_events; i++) {
        const dp_msg_event *e = &evs->events[i];
        event_buffer_add(b, e->job_id, e->state, e->verdict, e->runner_id, e->attempt, e->message);
    }
}

void event_buffer_mark_last_persisted(event_buffer *b)
{
    if (b->n > 0)
        b->items[b->n - 1].persisted = true;
}

int event_buffer_send(event_buffer *b, actor *to, int timeout_ms, dp_err *err)
{
    if (b->n == 0)
        return DP_OK;
    int rc = DP_ENOMEM;
    dp_msg_event *evs = calloc(b->n, sizeof *evs); /* borrows the strings */
    if (evs != NULL) {
        for (size_t i = 0; i < b->n; i++)
            evs[i] = b->items[i].ev;
        dp_msg m = {.type = DP_MSG_EVENTS};
        m.events.events = evs;
        m.events.n_events = b->n;
        nng_msg *msg = fwd_internal(&m, err);
        rc = msg != NULL ? actor_send(to, msg, timeout_ms, err) : DP_ENOMEM;
        free(evs);
    }
    if (rc != DP_OK) {
        char count[24];
        snprintf(count, sizeof count, "%zu", b->n);
        dp_log(DP_LOG_ERROR, "events_lost", "count", count, "error",
               err != NULL ? err->msg : "out of memory", (char *)NULL);
    }
    event_buffer_clear(b);
    return rc;
}

int event_buffer_stream(event_buffer *b, rq_conn *rq)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += !b->items[i].streamed && b->items[i].ev.state != DP_JOB_LEASED;
    if (n == 0)
        return DP_OK;
    dp_msg_event *evs = calloc(n, sizeof *evs); /* borrows the strings */
    if (evs == NULL)
        return DP_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!b->items[i].streamed && b->items[i].ev.state != DP_JOB_LEASED)
            evs[k++] = b->items[i].ev;
    dp_err err = {0};
    int rc = event_stream_add(rq, evs, n, &err);
    free(evs);
    for (size_t i = 0; i < b->n; i++)
        b->items[i].streamed = true; /* best effort: never twice */
    return rc;
}

int event_buffer_blobs(const event_buffer *b, size_t first, event_blobs *out, rq_blobs *view,
                       dp_err *err)
{
    *out = (event_blobs){0};
    *view = (rq_blobs){0};
    size_t n = first < b->n ? b->n - first : 0;
    dp_msg_event *evs = calloc(n ? n : 1, sizeof *evs); /* borrows the strings */
    if (evs == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory encoding %zu events", n);
    for (size_t i = 0; i < n; i++)
        evs[i] = b->items[first + i].ev;
    int rc = event_stream_encode(evs, n, out, err);
    free(evs);
    if (rc == DP_OK)
        *view = (rq_blobs){(const void *const *)out->v, out->len, out->n};
    return rc;
}

void event_buffer_mark_streamed(event_buffer *b, size_t first)
{
    for (size_t i = first; i < b->n; i++)
        b->items[i].streamed = true;
}

void event_buffer_clear_entry(event_entry *e)
{
    dp_msg m = {.type = DP_MSG_EVENT, .event = e->ev};
    dp_msg_free(&m);
    memset(e, 0, sizeof *e);
}

void event_buffer_clear(event_buffer *b)
{
    for (size_t i = 0; i < b->n; i++)
        event_buffer_clear_entry(&b->items[i]);
    b->n = 0;
}

void event_buffer_free(event_buffer *b)
{
    event_buffer_clear(b);
    free(b->items);
    b->items = NULL;
    b->cap = 0;
}

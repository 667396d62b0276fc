#include "dispatch/http_events.h"

#include "common/clock.h"
#include "common/job_json.h"
#include "common/log.h"
#include "dispatch/event_sinks.h"
#include "dispatch/redis/rq_events.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An event as received; its SSE frame is rendered the first time a stream
 * sends it (render_frame), so a replica nobody streams from spends no JSON
 * on its events (it was a tenth of dispatchd's CPU per job under load). */
typedef struct {
    uint64_t id; /* the global event id (rq_event_id_parse of the stream id) */
    char job[DP_ID_MAX + 1];
    int terminal;
    dp_job_state state;
    dp_verdict verdict;
    uint32_t attempt;
    char *text;  /* one block: eid, runner_id, ts, message, each NUL-ended */
    int has[3];  /* runner_id, ts, message were present (not NULL) */
    char *frame; /* "id: <ms>-<seq>\ndata: {...}\n\n", NULL until first sent */
    size_t len;
} hub_event;

typedef struct http_stream {
    http_hub *hub;
    struct MHD_Connection *conn;
    char job[DP_ID_MAX + 1]; /* "" = every job */
    uint64_t last_id;
    int parked, ended, ping;
    int resumed; /* started from Last-Event-ID */
    int sent;    /* has sent an event */
    /* a new stream on every job opened while the publisher slept: it
     * starts after what the publisher reads back on waking (from before
     * the stream), so it sends nothing until then */
    int skip_back;
    uint64_t req_id; /* its request's wall clock as an event id (skip_to) */
    char *out;       /* the frame being written */
    size_t out_len, out_off;
    struct http_stream *next, *prev;
} http_stream;

struct http_hub {
    pthread_mutex_t mu;            /* everything below */
    hub_event ring[HTTP_SSE_RING]; /* ids increasing: the shared stream's order */
    uint64_t last_id;              /* the newest event's id, or floor when none came yet */
    uint64_t floor; /* nothing is known before this id (hub start, or dropped from the ring) */
    size_t head, count;
    http_stream *streams;
    int stopping;
    nng_aio *ping;
    http_server *srv;  /* its long-polls are woken by events */
    int asleep;        /* the publisher does not follow the stream (event_sinks_note) */
    uint64_t wake_gen; /* the publisher's wake-ups (CAUGHT_UP notes) so far */
};

/* Now as an event id (rq_event_id_parse's number, seq 0): stream ids are
 * Redis's wall-clock ms. */
static uint64_t now_as_event_id(void)
{
    return (uint64_t)dp_wall_ms() << 20;
}

/* Resumes every parked stream (hub locked). */
static void wake_all(http_hub *h)
{
    for (http_stream *s = h->streams; s != NULL; s = s->next)
        if (s->parked) {
            s->parked = 0;
            MHD_resume_connection(s->conn);
        }
}

/* The event's fields, copied into e->text (e->has says which were NULL). */
static int keep_fields(hub_event *e, const dp_msg_event *ev)
{
    const char *f[4] = {ev->eid, ev->runner_id, ev->ts, ev->message};
    size_t len[4], total = 0;
    for (int i = 0; i < 4; i++)
        total += (len[i] = f[i] != NULL ? strlen(f[i]) : 0) + 1;
    char *t = malloc(total);
    if (t == NULL)
        return -1;
    free(e->text);
    free(e->frame);
    e->text = t;
    e->frame = NULL;
    e->len = 0;
    for (int i = 0; i < 4; i++) {
        if (i > 0)
            e->has[i - 1] = f[i] != NULL;
        memcpy(t, f[i] != NULL ? f[i] : "", len[i] + 1);
        t += len[i] + 1;
    }
    return 0;
}

/* e's SSE frame (hub locked): rendered once, kept until the ring drops it. */
static int render_frame(hub_event *e)
{
    if (e->frame != NULL)
        return 0;
    const char *eid = e->text, *runner = eid + strlen(eid) + 1, *ts = runner + strlen(runner) + 1,
               *message = ts + strlen(ts) + 1;
    json_t *o = json_pack("{s:s,s:s,s:s?,s:s?,s:I,s:s?,s:s?}", "job_id", e->job, "state",
                          dp_job_state_name(e->state), "verdict", dp_verdict_name(e->verdict),
                          "runner_id", e->has[0] ? runner : NULL, "attempt", (json_int_t)e->attempt,
                          "ts", e->has[1] ? ts : NULL, "message", e->has[2] ? message : NULL);
    char *data = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    size_t cap = data != NULL ? strlen(data) + strlen(eid) + 32 : 0;
    e->frame = data != NULL ? malloc(cap) : NULL;
    if (e->frame != NULL)
        e->len = (size_t)snprintf(e->frame, cap, "id: %s\ndata: %s\n\n", eid, data);
    free(data);
    return e->frame != NULL ? 0 : -1;
}

/* Keeps ev in the ring (hub locked); 1 when it was new. */
static int add_event_locked(http_hub *h, const dp_msg_event *ev)
{
    uint64_t id = 0;
    /* events without a global id (Redis could not take them) reach the
     * watchers but cannot be resumed: not kept here */
    if (ev->eid == NULL || rq_event_id_parse(ev->eid, &id) != 0)
        return 0;
    if (id <= h->last_id) /* seen already (a repeated XADD): never twice, never back */
        return 0;
    hub_event *e = &h->ring[(h->head + h->count) % HTTP_SSE_RING];
    if (h->count == HTTP_SSE_RING) /* the oldest goes */
        e = &h->ring[h->head];
    if (keep_fields(e, ev) != 0)
        return 0;
    if (h->count == HTTP_SSE_RING) {
        h->floor = e->id;
        h->head = (h->head + 1) % HTTP_SSE_RING;
        h->count--;
    }
    e->id = h->last_id = id;
    snprintf(e->job, sizeof e->job, "%s", ev->job_id);
    e->terminal = dp_job_state_terminal(ev->state);
    e->state = ev->state;
    e->verdict = ev->verdict;
    e->attempt = ev->attempt;
    h->count++;
    return 1;
}

/* The publisher's events, on its thread (event_sinks.h): kept for the
 * streams, which are woken once per batch, and the long-polls waiting on
 * their jobs woken. */
static void on_events(void *arg, const dp_msg_event *evs, size_t n)
{
    http_hub *h = arg;
    int added = 0;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < n; i++)
        added |= add_event_locked(h, &evs[i]);
    if (added)
        wake_all(h);
    pthread_mutex_unlock(&h->mu);
    http_wake_parked(h->srv, evs, n);
}

/* A new stream on every job, opened while the publisher slept, starts
 * after what was read back on waking, but not after its request (those
 * later are its events): the request's wall clock in the stream's id space
 * (Redis's ms; clocks apart by d move this by d). Hub locked. */
static void skip_to(http_hub *h, http_stream *s)
{
    uint64_t to = h->last_id < s->req_id ? h->last_id : s->req_id;
    if (to > s->last_id)
        s->last_id = to;
}

/* The publisher's sleep (event_sinks_note). GAP: it will not deliver
 * the events up to id (more were written while it slept than it reads
 * back): the ring's events are all older, so a stream resuming from any of
 * them is told it missed events. CAUGHT_UP: what it read back is in the
 * ring; new streams that waited for it start after it. */
static void on_note(void *arg, event_note note, uint64_t id)
{
    http_hub *h = arg;
    pthread_mutex_lock(&h->mu);
    if (note == EVENT_SINKS_ASLEEP) {
        h->asleep = 1;
    } else if (note == EVENT_SINKS_GAP && id > h->floor) {
        h->floor = id;
        h->head = h->count = 0; /* their memory is freed as slots are reused */
        if (id > h->last_id)
            h->last_id = id;
    } else if (note == EVENT_SINKS_CAUGHT_UP) {
        h->asleep = 0;
        h->wake_gen++;
        for (http_stream *s = h->streams; s != NULL; s = s->next)
            if (s->skip_back) {
                s->skip_back = 0;
                skip_to(h, s);
            }
        wake_all(h);
    }
    pthread_mutex_unlock(&h->mu);
}

static void on_ping(void *arg)
{
    http_hub *h = arg;
    if (nng_aio_result(h->ping) != 0)
        return;
    pthread_mutex_lock(&h->mu);
    for (http_stream *s = h->streams; s != NULL; s = s->next)
        s->ping = 1;
    wake_all(h);
    pthread_mutex_unlock(&h->mu);
    nng_sleep_aio(HTTP_SSE_PING_MS, h->ping);
}

http_hub *http_hub_start(const char *events_url, http_server *srv, dp_err *err)
{
    http_hub *h = calloc(1, sizeof *h);
    if (h == NULL) {
        dp_err_set(err, DP_ENOMEM, "events: out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    h->srv = srv;
    /* Events before now were not seen here: a resume from before says so. */
    h->floor = h->last_id = now_as_event_id();
    int rv = event_sinks_add(events_url, on_events, on_note, h, err);
    if (rv == DP_OK) {
        if ((rv = nng_aio_alloc(&h->ping, on_ping, h)) == 0)
            nng_sleep_aio(HTTP_SSE_PING_MS, h->ping);
        else
            rv = dp_err_set(err, DP_ENOMEM, "events: out of memory");
    }
    if (rv != DP_OK) {
        http_hub_quiesce(h);
        http_hub_free(h);
        return NULL;
    }
    return h;
}

void http_hub_quiesce(http_hub *h)
{
    if (h == NULL)
        return;
    event_sinks_remove(on_events, h); /* no call in progress after this */
    if (h->ping != NULL)
        nng_aio_stop(h->ping);
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    wake_all(h); /* each reader then ends its stream */
    pthread_mutex_unlock(&h->mu);
}

size_t http_hub_open_streams(http_hub *h)
{
    size_t n = 0;
    if (h == NULL)
        return 0;
    pthread_mutex_lock(&h->mu);
    for (http_stream *s = h->streams; s != NULL; s = s->next)
        n++;
    pthread_mutex_unlock(&h->mu);
    return n;
}

void http_hub_free(http_hub *h)
{
    if (h == NULL)
        return;
    nng_aio_free(h->ping);
    for (size_t i = 0; i < HTTP_SSE_RING; i++) {
        free(h->ring[i].frame);
        free(h->ring[i].text);
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ---- one stream, on the polling thread ---- */

static void set_out(http_stream *s, const char *text, size_t len)
{
    free(s->out);
    s->out = malloc(len);
    s->out_len = s->out != NULL ? len : 0;
    s->out_off = 0;
    if (s->out != NULL)
        memcpy(s->out, text, len);
}

/* The next frame for s (hub locked): 1 when there is one. */
static int next_frame(http_hub *h, http_stream *s)
{
    if (s->skip_back) { /* no event yet, but it stays alive */
        if (!s->ping)
            return 0;
        s->ping = 0;
        set_out(s, ": ping\n\n", 8);
        return 1;
    }
    /* Events after the stream's last left the ring before it sent them (it
     * fell behind, or the publisher slept: on_note), or it resumes from
     * before the ring: it is told, once per gap. A new stream that sent
     * nothing yet only moves on (it started at the hub's newest, which a
     * publisher's sleep may have left behind). */
    if (s->last_id < h->floor) {
        int tell = s->resumed || s->sent;
        s->last_id = h->floor;
        if (tell) {
            static const char gap[] = ": events were missed before this point\n\n";
            set_out(s, gap, sizeof gap - 1);
            return 1;
        }
    }
    /* ids increase along the ring: binary search for the first one after
     * the last one sent, not a scan from the head (1,000 streams x 4,096
     * events per wake-up otherwise) */
    size_t lo = 0, hi = h->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->ring[(h->head + mid) % HTTP_SSE_RING].id <= s->last_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < h->count; i++) {
        hub_event *e = &h->ring[(h->head + i) % HTTP_SSE_RING];
        if (e->id <= s->last_id)
            continue;
        s->last_id = e->id; /* seen, sent or not: a job's stream passes other jobs' */
        if (s->job[0] != '\0' && strcmp(s->job, e->job) != 0)
            continue;
        if (render_frame(e) != 0)
            continue; /* out of memory: this event is skipped, not resent forever */
        set_out(s, e->frame, e->len);
        s->sent = 1;
        if (s->job[0] != '\0' && e->terminal)
            s->ended = 1; /* a job's stream ends after its terminal state */
        return 1;
    }
    if (s->ping) {
        s->ping = 0;
        set_out(s, ": ping\n\n", 8);
        return 1;
    }
    return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_stream *s = cls;
    http_hub *h = s->hub;
    (void)pos;
    pthread_mutex_lock(&h->mu);
    if (s->out_off >= s->out_len && (s->ended || h->stopping || !next_frame(h, s))) {
        ssize_t rc = 0;
        if (s->ended || h->stopping) {
            rc = MHD_CONTENT_READER_END_OF_STREAM;
        } else { /* nothing new: sleep until the hub wakes us */
            s->parked = 1;
            MHD_suspend_connection(s->conn);
        }
        pthread_mutex_unlock(&h->mu);
        return rc;
    }
    size_t n = s->out_len - s->out_off < max ? s->out_len - s->out_off : max;
    memcpy(buf, s->out + s->out_off, n);
    s->out_off += n;
    pthread_mutex_unlock(&h->mu);
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    http_stream *s = cls;
    http_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&h->mu);
    free(s->out);
    free(s);
}

struct MHD_Response *http_stream_response(http_req *r)
{
    http_hub *h = r->srv->hub;
    http_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->hub = h;
    s->conn = r->conn;
    s->last_id = r->sse_from;
    s->resumed = r->sse_resumed;
    if (r->route->fn == http_events_job)
        snprintf(s->job, sizeof s->job, "%s", r->id);
    if (r->answer != NULL) { /* the job as it is now */
        s->out = r->answer;
        s->out_len = r->answer_len;
        r->answer = NULL;
        s->ended = r->sse_ended; /* the job is terminal already */
    }
    struct MHD_Response *res =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (res == NULL) {
        free(s->out);
        free(s);
        return NULL;
    }
    MHD_add_response_header(res, "Content-Type", "text/event-stream");
    MHD_add_response_header(res, "Cache-Control", "no-store");
    MHD_add_response_header(res, "X-Accel-Buffering", "no");
    pthread_mutex_lock(&h->mu);
    /* A new stream on every job whose request came while the publisher
     * slept starts after what it reads back on waking (events from before
     * the request), at most a wake-up later than "now". A job's stream
     * keeps them: its job's events after the request are among them. */
    if (!r->sse_resumed && r->sse_asleep && s->job[0] == '\0') {
        s->req_id = r->sse_req_id;
        if (h->wake_gen != r->sse_gen) /* read back already */
            skip_to(h, s);
        else
            s->skip_back = 1;
    }
    s->next = h->streams;
    if (h->streams != NULL)
        h->streams->prev = s;
    h->streams = s;
    pthread_mutex_unlock(&h->mu);
    return res;
}

/* ---- the routes: the key is checked by a message the stream's scope
 * needs (list_runners: read; status: the job's reader), then the stream starts
 * after the event that was last when the request came (or Last-Event-ID). */

static uint64_t start_id(http_req *r)
{
    http_hub *h = r->srv->hub;
    pthread_mutex_lock(&h->mu);
    uint64_t now = h->last_id;
    r->sse_asleep = h->asleep;
    r->sse_gen = h->wake_gen;
    pthread_mutex_unlock(&h->mu);
    r->sse_req_id = now_as_event_id();
    /* Ids are global (the shared stream's): one given by any replica
     * resumes here, even one this replica has not seen yet. */
    const char *last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    uint64_t v;
    if (last != NULL && rq_event_id_parse(last, &v) == 0) {
        r->sse_resumed = 1;
        return v;
    }
    return now; /* none, or not an id of ours: from now on */
}

static int on_probe(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_RUNNERS && rep->type != DP_MSG_JOB) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    r->streaming = 1;
    r->status = 200;
    const char *last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (rep->type == DP_MSG_JOB && last == NULL) { /* a job's stream starts with the job */
        json_t *j = dp_job_view_to_json(&rep->job);
        char *data = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        size_t cap = data != NULL ? strlen(data) + 64 : 0;
        char *frame = data != NULL ? malloc(cap) : NULL;
        if (frame != NULL) {
            free(r->answer);
            r->answer_len = (size_t)snprintf(frame, cap, "event: job\ndata: %s\n\n", data);
            r->answer = frame;
            r->sse_ended = dp_job_state_terminal(rep->job.state);
        }
        free(data);
    }
    return 0;
}

void http_events_all(http_req *r)
{
    r->sse_from = start_id(r);
    dp_msg m = {.type = DP_MSG_LIST_RUNNERS}; /* needs read, like the stream; Redis only */
    http_forward(r, &m, on_probe);
}

void http_events_job(http_req *r)
{
    r->sse_from = start_id(r);
    dp_msg m = {.type = DP_MSG_STATUS};
    m.status.job_id = r->id;
    http_forward(r, &m, on_probe);
}

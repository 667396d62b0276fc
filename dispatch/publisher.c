#include "dispatch/publisher.h"

#include "common/apikey.h"
#include "common/clock.h"
#include "dispatch/dd_actor.h"
#include "dispatch/event_sinks.h"
#include "actors/actor_stream.h"
#include "common/log.h"
#include "dispatch/redis/rq_events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Entries taken from the stream per read, and the events they may hold:
 * one `events` message. */
#define PUBLISHER_READ_ENTRIES 16
#define PUBLISHER_READ_MAX (PUBLISHER_READ_ENTRIES * RQ_EVENTS_PER_ENTRY)

typedef struct {
    char url[1024];
    char also_url[128];      /* the in-process sinks' name (the HTTP API's events), or "" */
    actor_stream_push *push; /* `watch` subscribers (NULL: no ipc admin URL) */
    char redis_url[1024];
    char prefix[RQ_PREFIX_MAX + 1];
    pthread_t reader;
    int reader_started;
    atomic_int stop;
    pthread_mutex_t mu; /* woken, with cv: the paused reader's sleep */
    pthread_cond_t cv;
    int woken;
    dp_msg_event read[PUBLISHER_READ_MAX]; /* the reader's current batch (reader thread only) */
    size_t n_read;
    struct resume_entry *resume; /* resuming: the entries read back, newest first */
    size_t n_resume, cap_resume, resume_events;
    char resume_newest[RQ_EVENT_ID_MAX];
} publisher_state;

/* The reader's blocking read: an event reaches watchers as soon as Redis
 * has it (XREAD BLOCK returns at once); stopping waits at most this long,
 * and an idle replica reads once per this long (200 ms was a seventh of
 * the idle Redis load of 32 runners). */
#define PUBLISHER_BLOCK_MS 1000
/* Redis unreachable: the next try after this long (short: a stop, e.g. a
 * start that gives up, waits for it). */
#define PUBLISHER_RETRY_MS 200
/* The reader follows the stream only while someone listens (a `watch` on
 * the socket, or an in-process listener: event_sinks_want), and for this
 * long after the last one left, so an SSE client that reconnects finds its
 * place in the HTTP API's ring. Reading for nobody cost dispatchd and Redis
 * about a sixth of their CPU per no-op job (issue 10, docs/bench.md). */
#define PUBLISHER_LINGER_MS 30000
/* On resuming, the entries written while it slept are read back, newest
 * first, PUBLISHER_RESUME_CHUNK a call, until they hold this many events
 * (the HTTP API's ring) or none is left. */
#define PUBLISHER_RESUME_EVENTS 4096
#define PUBLISHER_RESUME_CHUNK 64 /* x 64 events at most: the overshoot */
/* Reading back failed this many times in a row (Redis refuses XREVRANGE,
 * say): the reader goes on from the stream's end, the sinks told of the gap,
 * rather than leave every listener without events. */
#define PUBLISHER_RESUME_TRIES 5
/* A `watch` that woke the reader gets the read-back entries from this long
 * before the wake (Redis's clock against ours), not only what comes after. */
#define PUBLISHER_WATCH_SLACK_MS 1000
/* A watcher's unsent events past this are dropped, whole batches (a submit
 * of 10,000 jobs streams 10,000 `queued` at once: ~1 MB). */
#define PUBLISHER_WATCHER_BACKLOG (16u << 20)

/* Events go out in `events` batches: one frame per batch the reporter or
 * the leaser sent, or per read of the shared stream, written to each
 * watcher by this thread (actor_stream_push.c). One message per event cost
 * every watcher a send per event, three events per job (issue 10). A
 * watcher that does not keep up misses batches (best effort). The HTTP
 * API's hub, in this process, is called directly (event_sinks.h); with no
 * watcher nothing is encoded. */
static void publish(publisher_state *s, const dp_msg_event *evs, size_t n)
{
    event_sinks_deliver(s->also_url, evs, n);
    if (actor_stream_push_count(s->push) == 0)
        return;
    while (n > 0) {
        size_t k = n < DP_MSG_MAX_EVENTS ? n : DP_MSG_MAX_EVENTS;
        dp_msg batch = {.type = DP_MSG_EVENTS};
        batch.events.events = (dp_msg_event *)evs; /* borrowed for the encoding */
        batch.events.n_events = k;
        void *buf = NULL;
        size_t len = 0;
        if (dp_msg_encode_buf(&batch, &buf, &len, NULL) == DP_OK)
            actor_stream_push_send(s->push, buf, len);
        free(buf);
        evs += k;
        n -= k;
    }
}

/* A listener came (or stop): the reader, if it sleeps, looks again. Called
 * by event_sinks with its lock held, or from the push thread (on_watchers). */
static void wake_reader(void *arg)
{
    publisher_state *s = arg;
    pthread_mutex_lock(&s->mu);
    s->woken = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The push thread: the number of watchers changed; a sleeping reader looks
 * again (listened() reads the count itself). */
static void on_watchers(void *arg, size_t n)
{
    if (n > 0)
        wake_reader(arg);
}

static void on_event(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    (void)ctx;
    (void)o;
    publish(state, &m->event, 1);
}

static void on_events(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    (void)ctx;
    (void)o;
    publish(state, m->events.events, m->events.n_events);
}

/* Moves ev into the batch published after the read, with global id i of
 * the entry (rq_event_id_of); the batch owns it from here. */
static void take_event(publisher_state *s, dp_msg_event *ev, const char *entry_id, size_t i)
{
    char eid[RQ_EVENT_ID_MAX];
    if (s->n_read == PUBLISHER_READ_MAX || rq_event_id_of(entry_id, i, eid) != 0)
        return;
    free(ev->eid);
    if ((ev->eid = strdup(eid)) == NULL)
        return;
    s->read[s->n_read++] = *ev;
    memset(ev, 0, sizeof *ev);
}

/* One entry of the shared stream, an `events` batch (or one `event`): each
 * event gets its global id and joins the batch published after the read
 * (reader thread only). */
static void on_stream_entry(void *arg, const char *id, const char *data, size_t len)
{
    publisher_state *s = arg;
    dp_msg m;
    if (dp_msg_decode(data, len, &m, NULL) != DP_OK)
        return;
    if (m.type == DP_MSG_EVENT)
        take_event(s, &m.event, id, 0);
    for (size_t i = 0; m.type == DP_MSG_EVENTS && i < m.events.n_events; i++)
        take_event(s, &m.events.events[i], id, i);
    dp_msg_free(&m);
}

static void free_read(publisher_state *s)
{
    for (size_t i = 0; i < s->n_read; i++) {
        dp_msg m = {.type = DP_MSG_EVENT, .event = s->read[i]};
        dp_msg_free(&m);
    }
    s->n_read = 0;
}

static void publish_read(publisher_state *s)
{
    publish(s, s->read, s->n_read);
    free_read(s);
}

static int listened(publisher_state *s)
{
    return actor_stream_push_count(s->push) > 0 || event_sinks_wanted(s->also_url) > 0;
}

/* Sleeps until someone listens, or stop (reader thread). A listener that
 * came between the check and the sleep set `woken`: not missed. */
static void wait_for_listener(publisher_state *s)
{
    while (!atomic_load(&s->stop) && !listened(s)) {
        pthread_mutex_lock(&s->mu);
        while (!s->woken && !atomic_load(&s->stop))
            pthread_cond_wait(&s->cv, &s->mu);
        s->woken = 0;
        pthread_mutex_unlock(&s->mu);
    }
}

/* An entry read back on resuming, kept until the walk ends. */
typedef struct resume_entry {
    char id[RQ_EVENT_ID_MAX];
    dp_msg m; /* an `event` or `events` */
} resume_entry;

static void on_resume_entry(void *arg, const char *id, const char *data, size_t len)
{
    publisher_state *s = arg;
    if (s->resume_newest[0] == '\0')
        snprintf(s->resume_newest, sizeof s->resume_newest, "%s", id);
    if (s->n_resume == s->cap_resume) {
        size_t cap = s->cap_resume ? s->cap_resume * 2 : 64;
        resume_entry *r = realloc(s->resume, cap * sizeof *r);
        if (r == NULL)
            return; /* best effort: this entry's events are not delivered */
        s->resume = r;
        s->cap_resume = cap;
    }
    resume_entry *e = &s->resume[s->n_resume];
    if (dp_msg_decode(data, len, &e->m, NULL) != DP_OK)
        return;
    if (e->m.type != DP_MSG_EVENT && e->m.type != DP_MSG_EVENTS) {
        dp_msg_free(&e->m);
        return;
    }
    snprintf(e->id, sizeof e->id, "%s", id);
    s->resume_events += e->m.type == DP_MSG_EVENTS ? e->m.events.n_events : 1;
    s->n_resume++;
}

static void count_only(void *arg, const char *id, const char *data, size_t len)
{
    (void)arg;
    (void)id;
    (void)data;
    (void)len;
}

/* The entry id's ms (Redis's wall clock), or 0. */
static uint64_t entry_ms(const char *id)
{
    return strtoull(id, NULL, 10);
}

/* After a sleep: the events written since `after` (where it stopped), the
 * newest PUBLISHER_RESUME_EVENTS of them, to the in-process sinks, so a
 * waiter that came meanwhile misses nothing it waits for; to a `watch` only
 * those from about when the reader woke (woke_wall_ms; it wants events from
 * its connect on). When older ones were left, the sinks learn it first. 0,
 * or a dp error code (negative; `after` is unchanged, the caller tries
 * again). */
static int resume(publisher_state *s, rq_conn *c, char after[RQ_EVENT_ID_MAX],
                  uint64_t woke_wall_ms, dp_err *err)
{
    char before[RQ_EVENT_ID_MAX] = "";
    int n = 0, complete = 0;
    s->n_resume = s->resume_events = 0;
    s->resume_newest[0] = '\0';
    event_sinks_note(s->also_url, EVENT_SINKS_READING_BACK, 0);
    while (s->resume_events < PUBLISHER_RESUME_EVENTS) {
        n = rq_events_back(c, after, before, PUBLISHER_RESUME_CHUNK, on_resume_entry, s, err);
        if (n < 0 || n < PUBLISHER_RESUME_CHUNK) {
            complete = n >= 0;
            break;
        }
    }
    if (!complete && n >= 0) { /* the cap reached: is anything older left? */
        char probe[RQ_EVENT_ID_MAX];
        snprintf(probe, sizeof probe, "%s", before);
        if ((n = rq_events_back(c, after, probe, 1, count_only, NULL, err)) == 0)
            complete = 1;
    }
    /* read back to `after`, but the stream's cap may have dropped entries
     * next to it (it holds RQ_EVENTS_MAXLEN) */
    if (complete && s->n_resume > 0 && strcmp(after, "0-0") != 0)
        n = rq_events_has(c, after, &complete, err);
    for (size_t i = s->n_resume; n >= 0 && i-- > 0;) {
        resume_entry *e = &s->resume[i];
        char eid[RQ_EVENT_ID_MAX];
        uint64_t first;
        if (i + 1 == s->n_resume && !complete && rq_event_id_of(e->id, 0, eid) == 0 &&
            rq_event_id_parse(eid, &first) == 0 && first > 0)
            event_sinks_note(s->also_url, EVENT_SINKS_GAP, first - 1);
        if (e->m.type == DP_MSG_EVENT)
            take_event(s, &e->m.event, e->id, 0);
        for (size_t k = 0; e->m.type == DP_MSG_EVENTS && k < e->m.events.n_events; k++)
            take_event(s, &e->m.events.events[k], e->id, k);
        if (entry_ms(e->id) + PUBLISHER_WATCH_SLACK_MS >= woke_wall_ms)
            publish(s, s->read, s->n_read); /* the sinks and a `watch` */
        else
            event_sinks_deliver(s->also_url, s->read, s->n_read);
        free_read(s);
    }
    if (n >= 0 && s->resume_newest[0] != '\0')
        snprintf(after, RQ_EVENT_ID_MAX, "%s", s->resume_newest);
    if (n >= 0)
        event_sinks_note(s->also_url, EVENT_SINKS_CAUGHT_UP, 0);
    for (size_t i = 0; i < s->n_resume; i++)
        dp_msg_free(&s->resume[i].m);
    s->n_resume = 0;
    return n < 0 ? n : 0;
}

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reading back failed PUBLISHER_RESUME_TRIES times: on from the stream's
 * end; what came before is a gap to the sinks. */
static int skip_read_back(publisher_state *s, rq_conn *c, char after[RQ_EVENT_ID_MAX], dp_err *err)
{
    char last[RQ_EVENT_ID_MAX], eid[RQ_EVENT_ID_MAX];
    uint64_t floor;
    int rc = rq_events_last_id(c, last, err);
    if (rc != DP_OK)
        return rc;
    char tries[16];
    snprintf(tries, sizeof tries, "%d", PUBLISHER_RESUME_TRIES);
    dp_log(DP_LOG_WARN, "events_read_back_skipped", "failed_tries", tries, (char *)NULL);
    if (rq_event_id_of(last, RQ_EVENTS_PER_ENTRY - 1, eid) == 0 &&
        rq_event_id_parse(eid, &floor) == 0)
        event_sinks_note(s->also_url, EVENT_SINKS_GAP, floor);
    event_sinks_note(s->also_url, EVENT_SINKS_CAUGHT_UP, 0);
    snprintf(after, RQ_EVENT_ID_MAX, "%s", last);
    return DP_OK;
}

/* Follows the shared stream from the moment it starts (every replica's
 * events, this one's included) with its own Redis connection, while someone
 * listens (PUBLISHER_LINGER_MS); between listeners it sleeps, and resumes
 * with the newest entries written meanwhile (resume). */
static void *reader_main(void *arg)
{
    publisher_state *s = arg;
    rq_options opt;
    rq_options_default(&opt);
    opt.reconnect_wait_ms = 0; /* our loop waits, so stop is never held up */
    rq_conn *c = NULL;
    char after[RQ_EVENT_ID_MAX] = "";
    int failures = 0, resuming = 0, resume_failures = 0;
    uint64_t woke_wall_ms = 0;
    int64_t listened_ms = dp_now_ms() - PUBLISHER_LINGER_MS; /* nobody yet */
    while (!atomic_load(&s->stop)) {
        dp_err err = {0};
        if (c == NULL && (c = rq_connect(s->redis_url, s->prefix, &opt, &err)) == NULL) {
            if (failures++ == 0)
                dp_log(DP_LOG_WARN, "events_reader_down", "error", err.msg, (char *)NULL);
            nap_ms(PUBLISHER_RETRY_MS);
            continue;
        }
        if (after[0] == '\0' && rq_events_last_id(c, after, &err) != DP_OK) {
            after[0] = '\0';
            nap_ms(PUBLISHER_RETRY_MS);
            continue;
        }
        if (listened(s)) {
            listened_ms = dp_now_ms();
        } else if (!resuming && dp_now_ms() - listened_ms >= PUBLISHER_LINGER_MS) {
            event_sinks_note(s->also_url, EVENT_SINKS_ASLEEP, 0);
            wait_for_listener(s);
            listened_ms = dp_now_ms();
            woke_wall_ms = (uint64_t)dp_wall_ms();
            resuming = 1;
            resume_failures = 0;
            continue; /* stop, or Redis checked again */
        }
        int n;
        if (resuming && ++resume_failures > PUBLISHER_RESUME_TRIES) {
            if ((n = skip_read_back(s, c, after, &err)) >= 0)
                resuming = 0;
        } else if (resuming) {
            if ((n = resume(s, c, after, woke_wall_ms, &err)) >= 0)
                resuming = 0;
        } else {
            n = rq_events_read(c, after, PUBLISHER_READ_ENTRIES, PUBLISHER_BLOCK_MS,
                               on_stream_entry, s, &err);
            publish_read(s);
        }
        if (n < 0) {
            if (failures++ == 0)
                dp_log(DP_LOG_WARN, "events_reader_down", "error", err.msg, (char *)NULL);
            nap_ms(100); /* the connection reconnects on the next call, with backoff */
        } else if (failures > 0) {
            dp_log(DP_LOG_INFO, "events_reader_up", (char *)NULL);
            failures = 0;
        }
    }
    rq_close(c);
    return NULL;
}

static int publisher_start(void *state, actor_ctx *ctx, dp_err *err)
{
    publisher_state *s = state;
    (void)ctx;
    /* no ipc admin URL: events are not served (dd_stack.h), only to the HTTP API */
    if (s->url[0] != '\0' &&
        (s->push = actor_stream_push_listen(s->url, PUBLISHER_WATCHER_BACKLOG, on_watchers, s, NULL,
                                            err)) == NULL)
        return err->code != 0 ? err->code : DP_EUNAVAIL;
    if (s->also_url[0] != '\0' && event_sinks_on_want(s->also_url, wake_reader, s, err) != DP_OK)
        return err->code;
    /* last: nothing after it can fail, so on_stop always joins it */
    if (s->redis_url[0] != '\0') {
        if (pthread_create(&s->reader, NULL, reader_main, s) != 0)
            return dp_err_set(err, DP_ENOMEM, "events: cannot start the stream reader");
        s->reader_started = 1;
    }
    return DP_OK;
}

static void publisher_stop(void *state, actor_ctx *ctx)
{
    publisher_state *s = state;
    (void)ctx;
    atomic_store(&s->stop, 1);
    wake_reader(s);
    if (s->reader_started)
        pthread_join(s->reader, NULL);
    if (s->also_url[0] != '\0')
        event_sinks_on_want(s->also_url, NULL, NULL, NULL);
    actor_stream_push_close(s->push);
    free(s->resume);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const dd_route publisher_routes[] = {
    {DP_MSG_EVENT, DD_INTERNAL, 0, on_event},
    {DP_MSG_EVENTS, DD_INTERNAL, 0, on_events},
};

const dd_actor_def publisher_actor = {
    .name = "publisher",
    .routes = publisher_routes,
    .n_routes = sizeof publisher_routes / sizeof publisher_routes[0],
    .on_start = publisher_start,
    .on_stop = publisher_stop,
    .mailbox = 1024,
};

actor *publisher_spawn(const char *listen_url, const char *also_url, const char *redis_url,
                       const char *prefix, dp_err *err)
{
    publisher_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "publisher: out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    snprintf(s->url, sizeof s->url, "%s", listen_url);
    snprintf(s->also_url, sizeof s->also_url, "%s", also_url != NULL ? also_url : "");
    snprintf(s->redis_url, sizeof s->redis_url, "%s", redis_url != NULL ? redis_url : "");
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix != NULL ? prefix : "");
    return dd_actor_spawn(&publisher_actor, s, err);
}

#include "dispatch/publisher.h"

#include "common/apikey.h"
#include "dispatch/dd_actor.h"
#include "dispatch/event_sinks.h"
#include "actors/actor_ipcwatch.h"
#include "actors/actor_urls.h"
#include "common/log.h"
#include "dispatch/redis/rq_events.h"

#include <nng/protocol/pubsub0/pub.h>
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
    char also_url[128]; /* the in-process sinks' name (the HTTP API's events), or "" */
    nng_socket pub;
    atomic_int pipes; /* subscribers connected to pub (nng's pipe callbacks) */
    char redis_url[1024];
    char prefix[RQ_PREFIX_MAX + 1];
    pthread_t reader;
    int reader_started;
    atomic_int stop;
    dp_msg_event read[PUBLISHER_READ_MAX]; /* the reader's current batch (reader thread only) */
    size_t n_read;
} publisher_state;

/* The reader's blocking read: an event reaches watchers as soon as Redis
 * has it (XREAD BLOCK returns at once); stopping waits at most this long,
 * and an idle replica reads once per this long (200 ms was a seventh of
 * the idle Redis load of 32 runners). */
#define PUBLISHER_BLOCK_MS 1000
/* Redis unreachable: the next try after this long (short: a stop, e.g. a
 * start that gives up, waits for it). */
#define PUBLISHER_RETRY_MS 200

/* Events go out in `events` batches: one message per batch the reporter or
 * the leaser sent, or per read of the shared stream. One nng message per
 * event cost each subscriber (every watcher) a send through nng's task
 * threads per event, three events per job (issue 10). A subscriber that
 * does not keep up drops a batch (best effort). The HTTP API's hub, in this
 * process, is called directly (event_sinks.h); with no subscriber on the
 * socket nothing is encoded. */
static void publish(publisher_state *s, const dp_msg_event *evs, size_t n)
{
    event_sinks_deliver(s->also_url, evs, n);
    if (atomic_load(&s->pipes) == 0)
        return;
    while (n > 0) {
        size_t k = n < DP_MSG_MAX_EVENTS ? n : DP_MSG_MAX_EVENTS;
        dp_msg batch = {.type = DP_MSG_EVENTS};
        batch.events.events = (dp_msg_event *)evs; /* borrowed for the encoding */
        batch.events.n_events = k;
        nng_msg *out = NULL;
        if (dp_msg_encode(&batch, &out, NULL) == DP_OK &&
            nng_sendmsg(s->pub, out, NNG_FLAG_NONBLOCK) != 0)
            nng_msg_free(out);
        evs += k;
        n -= k;
    }
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    publisher_state *s = arg;
    (void)p;
    atomic_fetch_add(&s->pipes, ev == NNG_PIPE_EV_ADD_PRE ? 1 : -1);
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

static void publish_read(publisher_state *s)
{
    publish(s, s->read, s->n_read);
    for (size_t i = 0; i < s->n_read; i++) {
        dp_msg m = {.type = DP_MSG_EVENT, .event = s->read[i]};
        dp_msg_free(&m);
    }
    s->n_read = 0;
}

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Follows the shared stream from the moment it starts (every replica's
 * events, this one's included) with its own Redis connection. */
static void *reader_main(void *arg)
{
    publisher_state *s = arg;
    rq_options opt;
    rq_options_default(&opt);
    opt.reconnect_wait_ms = 0; /* our loop waits, so stop is never held up */
    rq_conn *c = NULL;
    char after[RQ_EVENT_ID_MAX] = "";
    int failures = 0;
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
        int n = rq_events_read(c, after, PUBLISHER_READ_ENTRIES, PUBLISHER_BLOCK_MS,
                               on_stream_entry, s, &err);
        publish_read(s);
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
    nng_listener l;
    int rv = nng_pub0_open(&s->pub);
    /* A burst (a submit of 10,000 jobs streams 10,000 `queued` at once)
     * must not overflow a subscriber's queue: nng's default is 16 */
    if (rv == 0)
        rv = nng_socket_set_int(s->pub, NNG_OPT_SENDBUF, 8192);
    /* nng reports REM_POST exactly for the pipes it reported ADD_PRE for */
    if (rv == 0 && (rv = nng_pipe_notify(s->pub, NNG_PIPE_EV_ADD_PRE, on_pipe, s)) == 0)
        rv = nng_pipe_notify(s->pub, NNG_PIPE_EV_REM_POST, on_pipe, s);
    /* no ipc admin URL: events are not served (dd_stack.h), only to the HTTP API */
    if (rv == 0 && s->url[0] != '\0')
        rv = nng_listener_create(&l, s->pub, s->url);
    if (rv == 0 && s->url[0] != '\0' && actor_urls_tls_listener(l, s->url, err) != 0)
        return DP_EINVAL;
    if (rv == 0 && s->url[0] != '\0')
        rv = actor_ipc_private(l, s->url);
    if (rv == 0 && s->url[0] != '\0')
        rv = nng_listener_start(l, 0);
    if (rv != 0)
        return dp_err_set(err, DP_EUNAVAIL, "events: cannot listen on %s: %s", s->url,
                          nng_strerror(rv));
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
    if (s->reader_started)
        pthread_join(s->reader, NULL);
    nng_close(s->pub);
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
    snprintf(s->url, sizeof s->url, "%s", listen_url);
    snprintf(s->also_url, sizeof s->also_url, "%s", also_url != NULL ? also_url : "");
    snprintf(s->redis_url, sizeof s->redis_url, "%s", redis_url != NULL ? redis_url : "");
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix != NULL ? prefix : "");
    return dd_actor_spawn(&publisher_actor, s, err);
}

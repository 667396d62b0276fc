#include "dispatch/publisher.h"

#include "common/apikey.h"
#include "dispatch/dd_actor.h"
#include "actors/actor_ipcwatch.h"
#include "actors/actor_urls.h"
#include "common/log.h"

#include <nng/protocol/pubsub0/pub.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char url[1024];
    char also_url[128]; /* an in-process URL (the HTTP API's events), or "" */
    nng_socket pub;
} publisher_state;

/* Each event goes out as its own `event` message; nobody listening fast
 * enough drops it (best effort). */
static void publish(publisher_state *s, const dp_msg_event *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dp_msg one = {.type = DP_MSG_EVENT, .event = evs[i]};
        nng_msg *out = NULL;
        if (dp_msg_encode(&one, &out, NULL) == DP_OK &&
            nng_sendmsg(s->pub, out, NNG_FLAG_NONBLOCK) != 0)
            nng_msg_free(out);
    }
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

static int publisher_start(void *state, actor_ctx *ctx, dp_err *err)
{
    publisher_state *s = state;
    (void)ctx;
    nng_listener l;
    int rv = nng_pub0_open(&s->pub);
    /* the HTTP API's SSE subscribes in-process: served whatever the admin URLs */
    if (rv == 0 && s->also_url[0] != '\0' && (rv = nng_listen(s->pub, s->also_url, NULL, 0)) != 0)
        return dp_err_set(err, DP_EUNAVAIL, "events: cannot listen on %s: %s", s->also_url,
                          nng_strerror(rv));
    if (rv == 0 && s->url[0] == '\0')
        return DP_OK; /* no ipc admin URL: events are not served (dd_stack.h) */
    if (rv == 0)
        rv = nng_listener_create(&l, s->pub, s->url);
    if (rv == 0 && actor_urls_tls_listener(l, s->url, err) != 0)
        return DP_EINVAL;
    if (rv == 0)
        rv = actor_ipc_private(l, s->url);
    if (rv == 0)
        rv = nng_listener_start(l, 0);
    if (rv != 0)
        return dp_err_set(err, DP_EUNAVAIL, "events: cannot listen on %s: %s", s->url,
                          nng_strerror(rv));
    return DP_OK;
}

static void publisher_stop(void *state, actor_ctx *ctx)
{
    publisher_state *s = state;
    (void)ctx;
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

actor *publisher_spawn(const char *listen_url, const char *also_url, dp_err *err)
{
    publisher_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "publisher: out of memory");
        return NULL;
    }
    snprintf(s->url, sizeof s->url, "%s", listen_url);
    snprintf(s->also_url, sizeof s->also_url, "%s", also_url != NULL ? also_url : "");
    return dd_actor_spawn(&publisher_actor, s, err);
}

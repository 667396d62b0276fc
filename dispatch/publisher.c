#include "dispatch/publisher.h"

#include "dispatch/fwd.h"
#include "actors/actor_urls.h"
#include "common/log.h"

#include <nng/protocol/pubsub0/pub.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char url[1024];
    nng_socket pub;
} publisher_state;

/* Body: the fwd header, then an encoded `events` batch (or one `event`);
 * each event goes out as its own `event` message. */
static int publisher_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    publisher_state *s = state;
    (void)ctx;
    (void)reply;
    fwd_origin origin;
    dp_msg m;
    if (fwd_open(msg, &origin, &m, NULL) == DP_OK) {
        dp_msg_event *evs = m.type == DP_MSG_EVENTS ? m.events.events : &m.event;
        size_t n = m.type == DP_MSG_EVENTS ? m.events.n_events : m.type == DP_MSG_EVENT;
        for (size_t i = 0; i < n; i++) {
            dp_msg one = {.type = DP_MSG_EVENT, .event = evs[i]};
            nng_msg *out = NULL;
            if (dp_msg_encode(&one, &out, NULL) == DP_OK &&
                nng_sendmsg(s->pub, out, NNG_FLAG_NONBLOCK) != 0)
                nng_msg_free(out); /* nobody listening fast enough: best effort */
        }
        dp_msg_free(&m);
    }
    nng_msg_free(msg);
    return 0;
}

static int publisher_start(void *state, actor_ctx *ctx, dp_err *err)
{
    publisher_state *s = state;
    (void)ctx;
    nng_listener l;
    int rv = nng_pub0_open(&s->pub);
    if (rv == 0)
        rv = nng_listener_create(&l, s->pub, s->url);
    if (rv == 0 && actor_urls_tls_listener(l, s->url, err) != 0)
        return DP_EINVAL;
    if (rv == 0)
        rv = nng_listener_start(l, 0);
    if (rv != 0)
        return dp_err_set(err, DP_EUNAVAIL, "events: cannot listen on %s: %s", s->url,
                          nng_strerror(rv));
    if (strncmp(s->url, "ipc://", 6) == 0)
        chmod(s->url + 6, 0600);
    return DP_OK;
}

static void publisher_stop(void *state, actor_ctx *ctx)
{
    publisher_state *s = state;
    (void)ctx;
    nng_close(s->pub);
    free(s);
}

actor *publisher_spawn(const char *listen_url, dp_err *err)
{
    publisher_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "publisher: out of memory");
        return NULL;
    }
    snprintf(s->url, sizeof s->url, "%s", listen_url);
    actor_opts o = {
        .name = "publisher",
        .state = s,
        .handler = publisher_handle,
        .on_start = publisher_start,
        .on_stop = publisher_stop,
        .mailbox = 1024,
    };
    actor *a = actor_spawn(&o, err);
    if (a == NULL)
        publisher_stop(s, NULL); /* on_stop never ran: release what on_start took */
    return a;
}

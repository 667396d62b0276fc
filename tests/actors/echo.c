/* Test actor: see echo.h. */
#include "echo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t echo_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t echo_now_ms(void)
{
    return echo_now_ns() / 1000000u;
}

nng_msg *echo_msg(const char *text)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, text, strlen(text)) != 0) {
        fprintf(stderr, "echo_msg: out of memory\n");
        abort();
    }
    return m;
}

int echo_msg_is(const nng_msg *m, const char *text)
{
    size_t n = strlen(text);
    return nng_msg_len((nng_msg *)m) == n && memcmp(nng_msg_body((nng_msg *)m), text, n) == 0;
}

static int body_starts(nng_msg *m, const char *prefix)
{
    size_t n = strlen(prefix);
    return nng_msg_len(m) >= n && memcmp(nng_msg_body(m), prefix, n) == 0;
}

static void release_all(echo_state *st, actor_ctx *ctx)
{
    for (size_t i = 0; i < st->n_held; i++) {
        char text[32];
        snprintf(text, sizeof text, "released:%zu", i);
        dp_err err;
        if (actor_reply(actor_ctx_actor(ctx), st->held[i], echo_msg(text), &err) != 0) {
            fprintf(stderr, "release %zu: %s\n", i, err.msg);
        }
    }
    st->n_held = 0;
    atomic_store(&st->n_held_pub, 0);
}

int echo_handler(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    echo_state *st = state;
    if (st->sleep_ms > 0) {
        usleep((useconds_t)st->sleep_ms * 1000u);
    }
    atomic_fetch_add(&st->handled, 1);
    if (reply == NULL) {
        char buf[16] = {0};
        size_t n = nng_msg_len(msg) < sizeof buf - 1 ? nng_msg_len(msg) : sizeof buf - 1;
        memcpy(buf, nng_msg_body(msg), n);
        size_t i = atomic_load(&st->n_oneway);
        if (i < ECHO_MAX_ONEWAY) {
            st->oneway[i] = atoi(buf);
            atomic_store(&st->n_oneway, i + 1);
        }
        nng_msg_free(msg);
        return 0;
    }
    if (body_starts(msg, "ping")) {
        *reply = msg;
        return 0;
    }
    int rc = 0;
    if (body_starts(msg, "fail")) {
        rc = actor_ctx_error(ctx, DP_ECONFLICT, "fail requested");
    } else if (body_starts(msg, "hold")) {
        if (st->n_held >= ECHO_MAX_HELD) {
            rc = actor_ctx_error(ctx, DP_EFULL, "echo holds too many");
        } else {
            st->held[st->n_held++] = actor_ctx_request(ctx);
            atomic_store(&st->n_held_pub, st->n_held);
            rc = ACTOR_DEFER;
        }
    } else if (body_starts(msg, "release")) {
        char text[32];
        snprintf(text, sizeof text, "ok:%zu", st->n_held);
        release_all(st, ctx);
        *reply = echo_msg(text);
    } else if (body_starts(msg, "stop")) {
        actor_ctx_stop(ctx);
    } else {
        rc = actor_ctx_error(ctx, DP_EINVAL, "unknown request");
    }
    nng_msg_free(msg);
    return rc;
}

int echo_start(void *state, actor_ctx *ctx, dp_err *err)
{
    echo_state *st = state;
    atomic_fetch_add(&st->started, 1);
    if (st->fail_start != 0) {
        return dp_err_set(err, st->fail_start, "echo told to fail its start");
    }
    return 0;
}

void echo_stop(void *state, actor_ctx *ctx)
{
    echo_state *st = state;
    atomic_fetch_add(&st->stopped, 1);
    if (st->release_in_stop) {
        release_all(st, ctx);
    }
}

void echo_tick(void *state, actor_ctx *ctx)
{
    echo_state *st = state;
    size_t i = atomic_load(&st->n_ticks);
    if (i < ECHO_MAX_TICKS) {
        st->tick_ms[i] = echo_now_ms();
        atomic_store(&st->n_ticks, i + 1);
    }
}

actor_opts echo_opts(const char *name, echo_state *st, size_t mailbox)
{
    actor_opts o = {0};
    o.name = name;
    o.state = st;
    o.handler = echo_handler;
    o.on_start = echo_start;
    o.on_stop = echo_stop;
    o.mailbox = mailbox;
    return o;
}

/* Test actor used by the actor runtime tests: its behaviour is chosen by
 * the request text. The state is owned by the test; the actor only borrows
 * it, and only the actor thread writes it while the actor runs. */
#ifndef DP_TEST_ECHO_H
#define DP_TEST_ECHO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/actor.h"

#define ECHO_MAX_HELD 4096
#define ECHO_MAX_TICKS 256
#define ECHO_MAX_ONEWAY 4096

typedef struct echo_state {
    int sleep_ms;                     /* every message sleeps this long first */
    atomic_int handled;               /* readable from other threads */
    atomic_int started, stopped;      /* on_start / on_stop ran */
    int fail_start;                   /* on_start returns this */
    actor_req_id held[ECHO_MAX_HELD]; /* deferred requests ("hold") */
    size_t n_held;
    atomic_size_t n_held_pub;         /* n_held, readable from other threads */
    uint64_t tick_ms[ECHO_MAX_TICKS]; /* monotonic ms of each tick */
    atomic_size_t n_ticks;
    int oneway[ECHO_MAX_ONEWAY]; /* one-way payloads, in arrival order */
    atomic_size_t n_oneway;
    int release_in_stop; /* on_stop answers held requests */
} echo_state;

/* Requests: "ping..." echoes; "fail" -> DP_ECONFLICT "fail requested";
 * "hold" -> deferred; "release" answers every held request with
 * "released:<i>" then replies "ok:<n>"; "stop" stops the actor.
 * One-way messages carry a decimal int appended to oneway[]. */
int echo_handler(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply);
int echo_start(void *state, actor_ctx *ctx, dp_err *err);
void echo_stop(void *state, actor_ctx *ctx);
void echo_tick(void *state, actor_ctx *ctx);

/* An actor_opts for echo with the given state and mailbox. */
actor_opts echo_opts(const char *name, echo_state *st, size_t mailbox);

/* A message holding text (no NUL); aborts the test on OOM. */
nng_msg *echo_msg(const char *text);

/* Whether m's body is exactly text. */
int echo_msg_is(const nng_msg *m, const char *text);

uint64_t echo_now_ms(void);
uint64_t echo_now_ns(void);

#endif

/* Helpers for the dispatch/ tests: the shared Redis from ./dev test, a fresh
 * key prefix per test (tests run in parallel against one server), and a raw
 * hiredis connection to look at what the library wrote. */
#ifndef DP_RQ_TEST_UTIL_H
#define DP_RQ_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "dispatch/redis/rq.h"

/* DISPATCH_REDIS_URL, or fails the test with a message saying so. */
const char *t_redis_url(void);

/* "{t-<32 hex>}:" into out (64 bytes). */
void t_unique_prefix(char *out);

/* rq_connect to url with prefix and opt (NULL: defaults); fails the test on error. */
rq_conn *t_connect(const char *url, const char *prefix, const rq_options *opt);

/* A raw connection to url; fails the test on error. Heap: redisFree. */
redisContext *t_raw(const char *url);

/* Runs a command (printf-style, hiredis format) and returns its integer, or
 * the integer value of a string reply, or -1 for nil. */
long long t_int(redisContext *c, const char *fmt, ...);

/* Registers a runner with capacity and returns its id in id (DP_ID_MAX). */
void t_register(rq_conn *c, const char *name, uint32_t capacity, char *id, char *token);

/* Enqueues n jobs named <stem>-<i> with spec "spec-<i>". */
void t_enqueue(rq_conn *c, const char *stem, size_t n, uint32_t max_attempts);

/* A fresh prefix, a library connection and a raw one (cmocka setup/
 * teardown): *state becomes a heap t_fx; teardown closes both and frees. */
typedef struct {
    char prefix[64];
    rq_options opt; /* what the library connection was opened with */
    rq_conn *c;
    redisContext *raw;
} t_fx;
int t_fx_setup(void **state);
int t_fx_teardown(void **state);
/* t_fx_setup with these options (copied). */
int t_fx_open(void **state, const rq_options *opt);

/* Claims up to k jobs for runner (no request id); fails the test on error.
 * Returns how many it got (the leases themselves are freed). */
size_t t_lease_n(rq_conn *c, const char *runner, uint32_t k);

void t_sleep_ms(long ms);

#endif

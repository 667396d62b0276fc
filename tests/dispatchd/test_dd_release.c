/* A result recorded in PostgreSQL whose Redis release failed (Redis killed
 * between the two) is released again as soon as Redis answers: within a
 * second of a private Redis (AOF, appendfsync always) coming back on the
 * same port, not when the runner is reaped (the alive TTL here is 1 h).
 * PostgreSQL is made slow at exactly that moment (a trigger sleeps 1.5 s on
 * the job row's update to `completed`, inside the result's statement), so the kill
 * lands after the owner check and before the release by construction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/dispatchd/dd_harness.h"
#include "tests/support/redis_server.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static rs_server redis;

static void *kill_redis_soon(void *arg)
{
    (void)arg;
    dd_sleep_ms(600); /* the result's statement sleeps 1.5 s: Redis dies inside it */
    kill(redis.pid, SIGKILL);
    return NULL;
}

static long is_leased(const char *prefix, const char *job)
{
    redisContext *c = redisConnect("127.0.0.1", redis.port);
    if (c == NULL || c->err) {
        redisFree(c);
        return -1;
    }
    redisReply *r = redisCommand(c, "SISMEMBER %sjobs:leased %s", prefix, job);
    long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void test_release_retried_after_redis_returns(void **state)
{
    (void)state;
    dp_err err = {0};
    if (rs_start(&redis, 1, &err) != DP_OK)
        fail_msg("redis: %s", err.msg);
    dd_daemon d;
    dd_init(&d, redis.url, NULL);
    dd_env(&d, "DISPATCH_ALIVE_TTL_MS=3600000"); /* the reaper never releases it here */
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *ac = dd_client(d.admin_url);
    char id[DP_ID_MAX], tok[65], job[1][DP_ID_MAX], ids[1][DP_ID_MAX];
    uint32_t att[1];
    size_t n = 0;
    dd_register(rc, "release-retry", id, tok);
    dd_submit(ac, 1, job);
    assert_int_equal(dd_lease(rc, id, tok, 1, 1000, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1);
    assert_int_equal(is_leased(d.prefix, job[0]), 1);
    char *ok = pgfix_query1(d.db.dsn,
                            "CREATE FUNCTION slow_completed() RETURNS trigger LANGUAGE plpgsql AS"
                            " $$ BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END $$;"
                            " CREATE TRIGGER slow BEFORE UPDATE ON jobs FOR EACH ROW"
                            " WHEN (NEW.state = 'completed') EXECUTE FUNCTION slow_completed()");
    assert_non_null(ok);
    free(ok);
    pthread_t killer;
    assert_int_equal(pthread_create(&killer, NULL, kill_redis_soon, NULL), 0);
    /* recorded, so acknowledged even though the release failed */
    assert_int_equal(dd_complete(rc, id, tok, job[0], att[0], 0), DP_MSG_ACK);
    pthread_join(killer, NULL);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM jobs WHERE id = '%s' AND state = 'completed'",
             job[0]);
    assert_int_equal(dd_sql_long(&d, sql), 1);
    dd_sleep_ms(300);
    assert_int_equal(rs_restart(&redis, &err), DP_OK); /* same port, the AOF */
    int64_t up = dd_now_us();
    long leased = is_leased(d.prefix, job[0]);
    while (leased != 0 && dd_now_us() - up < 10000000) {
        dd_sleep_ms(10);
        leased = is_leased(d.prefix, job[0]);
    }
    double ms = (double)(dd_now_us() - up) / 1000;
    printf("released %.0f ms after Redis answered again\n", ms);
    assert_int_equal(leased, 0);
    /* Expected within 0.6 s (reconnect backoff at most 0.5 s, reporter tick
     * 100 ms); 1.5 s allows 0.9 s for a loaded 2-core machine under ASan. */
    assert_true(ms < 1500);
    actor_client_close(rc);
    actor_client_close(ac);
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
    rs_stop(&redis);
}

static int teardown(void **state)
{
    (void)state;
    rs_stop(&redis);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_release_retried_after_redis_returns, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

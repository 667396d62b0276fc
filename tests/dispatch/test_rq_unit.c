/* Unit tests for dispatch/ that need no server: URL parsing, prefix and id
 * checks, the cluster slot helper, the error for an unreachable Redis, and
 * how an owner check's answer is read. */
#include "tests/dispatch/rq_test_util.h"

#include <string.h>

#include "dispatch/redis/rq_internal.h"
#include "tests/support/redis_server.h"

static void test_url_parse(void **state)
{
    (void)state;
    rq_url u;
    dp_err err = {0};
    assert_int_equal(rq_url_parse("redis://127.0.0.1:6380", &u, &err), DP_OK);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");
    assert_int_equal(rq_url_parse("redis://:s3cret@redis.local/2", &u, &err), DP_OK);
    assert_string_equal(u.host, "redis.local");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 2);
    assert_string_equal(u.password, "s3cret");
    assert_int_equal(rq_url_parse("redis://user:pw@h:1/", &u, &err), DP_OK);
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.port, 1);
    assert_int_equal(rq_url_parse("unix:///run/redis.sock", &u, &err), DP_OK);
    assert_string_equal(u.unix_path, "/run/redis.sock");
    const char *bad[] = {"",
                         "http://h",
                         "redis://",
                         "redis://h:0",
                         "redis://h:70000",
                         "redis://h:x",
                         "redis://h/db",
                         "unix://relative"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(rq_url_parse(bad[i], &u, &err), DP_EINVAL);
    /* the password never shows in a message */
    assert_int_equal(rq_url_parse("redis://:topsecret@h:99999", &u, &err), DP_EINVAL);
    assert_null(strstr(err.msg, "topsecret"));
}

static void test_prefix_and_connect_errors(void **state)
{
    (void)state;
    dp_err err = {0};
    assert_null(rq_connect("redis://127.0.0.1:1", "dispatch:", NULL, &err));
    assert_int_equal(err.code, DP_EINVAL);
    assert_non_null(strstr(err.msg, "hash tag"));
    assert_null(rq_connect("redis://127.0.0.1:1", "{}:", NULL, &err));
    assert_int_equal(err.code, DP_EINVAL);
    assert_null(rq_connect("nope://x", NULL, NULL, &err));
    assert_int_equal(err.code, DP_EINVAL);
    rq_options o;
    rq_options_default(&o);
    o.max_attempts = 0;
    assert_null(rq_connect("redis://127.0.0.1:1", NULL, &o, &err));
    assert_int_equal(err.code, DP_EINVAL);
    /* nothing listens on port 1: unavailable, naming where */
    assert_null(rq_connect("redis://:pw-xyz@127.0.0.1:1", NULL, NULL, &err));
    assert_int_equal(err.code, DP_EUNAVAIL);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    assert_null(strstr(err.msg, "pw-xyz"));
}

static void test_key_slot(void **state)
{
    (void)state;
    /* reference values from the Redis Cluster specification */
    assert_int_equal(rs_key_slot("foo", 3), 12182);
    assert_int_equal(rs_key_slot("123456789", 9), 0x31C3 & 16383);
    const char *a = "{user1000}.following", *b = "{user1000}.followers";
    assert_int_equal(rs_key_slot(a, strlen(a)), rs_key_slot(b, strlen(b)));
    assert_int_equal(rs_key_slot(a, strlen(a)), rs_key_slot("user1000", 8));
    /* an empty tag hashes the whole key */
    assert_int_equal(rs_key_slot("{}foo", 5), rs_key_slot("{}foo", 5));
    assert_int_not_equal(rs_key_slot("{}foo", 5), rs_key_slot("", 0));
}

/* An owner check's answer per result, as rq_owner_parse reads it: the
 * script's integer (max_attempts * 4 + code), which the script decided;
 * anything else (an error or nothing in its place) is "not found". */
static void test_owner_parse(void **state)
{
    (void)state;
    rq_owner_item it = {.job_id = "j-1", .runner_id = "r-1", .attempt = 2, .mark = 1};
    redisReply n = {.type = REDIS_REPLY_INTEGER, .integer = 3 * 4 + 0};
    rq_owner_parse(&it, &n);
    assert_int_equal(it.result, DP_OK);
    assert_int_equal(it.max_attempts, 3);
    n.integer = 5 * 4 + 1;
    rq_owner_parse(&it, &n);
    assert_int_equal(it.result, DP_ECONFLICT);
    assert_int_equal(it.max_attempts, 5);
    n.integer = 2;
    rq_owner_parse(&it, &n);
    assert_int_equal(it.result, DP_ENOTFOUND);
    assert_int_equal(it.max_attempts, 0);
    n.integer = -7; /* no script answers this: read as nothing found */
    rq_owner_parse(&it, &n);
    assert_int_equal(it.result, DP_ENOTFOUND);
    assert_int_equal(it.max_attempts, 0);
    /* the shapes an older script answered, and an error: not found */
    n.integer = 3 * 4 + 0;
    rq_owner_parse(&it, &n); /* it.max_attempts is 3 now: each parse resets it */
    char tomb[] = "completed r-1 2";
    redisReply t = {.type = REDIS_REPLY_STRING, .str = tomb, .len = strlen(tomb)};
    rq_owner_parse(&it, &t);
    assert_int_equal(it.result, DP_ENOTFOUND);
    assert_int_equal(it.max_attempts, 0);
    t.type = REDIS_REPLY_ERROR;
    rq_owner_parse(&it, &t);
    assert_int_equal(it.result, DP_ENOTFOUND);
    char st[] = "leased", rid[] = "r-1", att[] = "2", max[] = "4";
    redisReply e0 = {.type = REDIS_REPLY_STRING, .str = st, .len = 6};
    redisReply e1 = {.type = REDIS_REPLY_STRING, .str = rid, .len = 3};
    redisReply e2 = {.type = REDIS_REPLY_STRING, .str = att, .len = 1};
    redisReply e3 = {.type = REDIS_REPLY_STRING, .str = max, .len = 1};
    redisReply *el[] = {&e0, &e1, &e2, &e3};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 4, .element = el};
    rq_owner_parse(&it, &arr);
    assert_int_equal(it.result, DP_ENOTFOUND);
    assert_int_equal(it.max_attempts, 0);
    redisReply nil = {.type = REDIS_REPLY_NIL};
    rq_owner_parse(&it, &nil);
    assert_int_equal(it.result, DP_ENOTFOUND);
    rq_owner_parse(&it, NULL);
    assert_int_equal(it.result, DP_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_prefix_and_connect_errors),
        cmocka_unit_test(test_key_slot),
        cmocka_unit_test(test_owner_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

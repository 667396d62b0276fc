/* API-key quotas over nng (docs/api.md, "Quotas"), against real dispatchd
 * replicas sharing one Redis prefix and one database:
 * - a keyed submit over tcp: a batch over the per-minute quota gets what
 *   fits, the rest refused item by item with code "quota" and a retry;
 * - max-queued is exact under concurrency: 8 threads submitting through two
 *   replicas at once never get more than the quota in, and PostgreSQL
 *   agrees (the count is taken under a per-key advisory lock). */
#include "tests/dispatchd/dd_harness.h"

#include "common/apikey.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

static dd_daemon dd, dd2;
static char tcp_admin[64], tcp_admin2[64];
static char list_env[320], list_env2[320];

static void wait_listening(const char *url)
{
    /* milliseconds after the ipc socket; 15 s of slack for a sanitized build */
    int64_t t0 = dd_now_us();
    for (;;) {
        dp_err err = {0};
        actor_client *c = actor_client_open(url, &err);
        if (c != NULL) {
            actor_client_close(c);
            return;
        }
        if (dd_now_us() - t0 > 15000000)
            fail_msg("the tcp admin socket %s never listened: %s", url, err.msg);
        dd_sleep_ms(50);
    }
}

static int setup(void **state)
{
    (void)state;
    dd_init(&dd, NULL, NULL);
    snprintf(tcp_admin, sizeof tcp_admin, "tcp://127.0.0.1:%d", dd_free_port());
    snprintf(list_env, sizeof list_env, "DISPATCH_ADMIN_LISTEN=%s,%s", dd.admin_url, tcp_admin);
    dd_env(&dd, list_env);
    dd_start(&dd);
    wait_listening(tcp_admin);
    /* A second replica: same database and Redis prefix, its own sockets. */
    dd_init(&dd2, NULL, NULL);
    snprintf(dd2.pg_url, sizeof dd2.pg_url, "%s", dd.pg_url);
    snprintf(dd2.prefix, sizeof dd2.prefix, "%s", dd.prefix);
    snprintf(tcp_admin2, sizeof tcp_admin2, "tcp://127.0.0.1:%d", dd_free_port());
    snprintf(list_env2, sizeof list_env2, "DISPATCH_ADMIN_LISTEN=%s,%s", dd2.admin_url, tcp_admin2);
    dd_env(&dd2, list_env2);
    dd_start(&dd2);
    wait_listening(tcp_admin2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(dd_stop(&dd2), 0);
    assert_int_equal(dd_stop(&dd), 0);
    dd_fini(&dd2);
    dd_fini(&dd);
    return 0;
}

static void make_key(const char *name, uint32_t max_queued, uint32_t per_minute, char *key,
                     char *id)
{
    dp_msg req = {.type = DP_MSG_KEY_CREATE}, rep;
    req.key_create.name = (char *)name;
    req.key_create.scopes = DP_SCOPE_SUBMIT;
    req.key_create.max_queued = max_queued;
    req.key_create.per_minute = per_minute;
    actor_client *c = dd_client(dd.admin_url); /* ipc: the local operator needs no key */
    assert_int_equal(dd_rpc(c, &req, &rep, 10000), DP_OK);
    actor_client_close(c);
    if (rep.type != DP_MSG_KEY)
        fail_msg("key_create: %s %s", dp_msg_type_name(rep.type),
                 rep.type == DP_MSG_ERROR ? rep.error.message : "");
    assert_int_equal(rep.key.max_queued, max_queued);
    assert_int_equal(rep.key.per_minute, per_minute);
    strcpy(key, rep.key.key);
    strcpy(id, rep.key.key_id);
    dp_msg_free(&rep);
}

/* Submits n specs with key over url; returns how many were accepted and
 * checks that every refusal is a quota refusal. */
static size_t submit_n(const char *url, const char *key, size_t n, uint32_t *retry_s)
{
    dp_job_spec specs[16] = {0};
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        specs[i].profile = "c";
        specs[i].archive = "https://example.com/a.zip";
    }
    dp_msg req = {.type = DP_MSG_SUBMIT, .auth = (char *)key}, rep;
    req.submit.specs = specs;
    req.submit.n_specs = n;
    actor_client *c = dd_client(url);
    assert_int_equal(dd_rpc(c, &req, &rep, 10000), DP_OK);
    actor_client_close(c);
    assert_int_equal(rep.type, DP_MSG_SUBMITTED);
    size_t ok = 0;
    for (size_t i = 0; i < rep.submitted.n_items; i++) {
        const dp_submit_item *it = &rep.submitted.items[i];
        if (it->job_id != NULL) {
            ok++;
            continue;
        }
        if (it->code == NULL || strcmp(it->code, DP_MSG_ERR_QUOTA) != 0)
            fail_msg("item %zu refused without code quota: %s", i, it->error);
        if (retry_s != NULL)
            *retry_s = it->retry_s;
    }
    dp_msg_free(&rep);
    return ok;
}

static void test_per_minute_batch_over_nng(void **state)
{
    (void)state;
    char key[DP_APIKEY_LEN + 1], id[DP_APIKEY_ID_LEN + 1];
    make_key("per-minute", 0, 4, key, id);
    /* A fixed minute window could turn between the two calls: then the
     * second batch would be granted again. Start early in a minute. */
    while (time(NULL) % 60 > 40)
        dd_sleep_ms(500);
    uint32_t retry = 0;
    assert_int_equal(submit_n(tcp_admin, key, 3, NULL), 3);
    assert_int_equal(submit_n(tcp_admin2, key, 3, &retry), 1); /* the other replica counts too */
    assert_true(retry >= 1 && retry <= 60);
    assert_int_equal(submit_n(tcp_admin, key, 1, NULL), 0);
}

typedef struct {
    const char *url, *key;
    pthread_barrier_t *go;
    size_t accepted;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    actor_client *c = dd_client(r->url); /* connected before the start line */
    dp_job_spec spec = {.profile = "c", .archive = "https://example.com/a.zip"};
    dp_msg req = {.type = DP_MSG_SUBMIT, .auth = (char *)r->key}, rep;
    req.submit.specs = &spec;
    req.submit.n_specs = 1;
    pthread_barrier_wait(r->go);
    if (dd_rpc(c, &req, &rep, 10000) == DP_OK) {
        r->accepted += rep.type == DP_MSG_SUBMITTED && rep.submitted.items[0].job_id != NULL;
        dp_msg_free(&rep);
    }
    actor_client_close(c);
    return NULL;
}

/* Rounds of 4 submits (2 per replica) released at once against a fresh key
 * that may have 1 job queued: a count read outside the lock would let two
 * in now and then (the check fails in a few rounds without the advisory
 * lock: seen 2 accepted in round 7 and round 4 of two runs). */
static void test_max_queued_exact_across_replicas(void **state)
{
    (void)state;
    enum { ROUNDS = 30, RACERS = 4 };
    char ids[ROUNDS][DP_APIKEY_ID_LEN + 1];
    for (int round = 0; round < ROUNDS; round++) {
        char key[DP_APIKEY_LEN + 1], name[32];
        snprintf(name, sizeof name, "max-queued-%d", round);
        make_key(name, 1, 0, key, ids[round]);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, RACERS);
        racer r[RACERS];
        pthread_t t[RACERS];
        for (int i = 0; i < RACERS; i++) {
            r[i] = (racer){i % 2 ? tcp_admin2 : tcp_admin, key, &go, 0};
            assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
        }
        size_t total = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(t[i], NULL);
            total += r[i].accepted;
        }
        pthread_barrier_destroy(&go);
        if (total != 1)
            fail_msg("round %d: %zu jobs accepted for a key that may have 1 queued", round, total);
    }
    PGconn *pg = PQconnectdb(dd.db.dsn);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexec(pg, "SELECT count(*), count(DISTINCT owner_key) FROM jobs"
                               " WHERE owner_key IN (SELECT id FROM api_keys"
                               "  WHERE name LIKE 'max-queued-%')");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "30"); /* one per key, as PostgreSQL sees it */
    assert_string_equal(PQgetvalue(res, 0, 1), "30");
    PQclear(res);
    PQfinish(pg);
}

/* A submit waiting for the reporter (busy with the `hold` job's insert,
 * which a trigger keeps waiting on an advisory lock this test holds). */
typedef struct {
    const char *url, *key; /* key NULL: the ipc operator */
    const char *submission_id;
    size_t accepted, quota_refused;
} waiter;

static void *submit_one(void *arg)
{
    waiter *w = arg;
    actor_client *c = dd_client(w->url);
    dp_job_spec spec = {.profile = "c",
                        .archive = "https://example.com/a.zip",
                        .submission_id = (char *)w->submission_id};
    dp_msg req = {.type = DP_MSG_SUBMIT, .auth = (char *)w->key}, rep;
    req.submit.specs = &spec;
    req.submit.n_specs = 1;
    if (dd_rpc(c, &req, &rep, 30000) == DP_OK) {
        const dp_submit_item *it = rep.type == DP_MSG_SUBMITTED ? &rep.submitted.items[0] : NULL;
        w->accepted += it != NULL && it->job_id != NULL;
        w->quota_refused +=
            it != NULL && it->code != NULL && strcmp(it->code, DP_MSG_ERR_QUOTA) == 0;
        dp_msg_free(&rep);
    }
    actor_client_close(c);
    return NULL;
}

/* Submits that queue up behind a busy reporter are recorded together, one
 * insert per requester (reporter_submit.c), and each is answered exactly as
 * it would be alone: a limited key's max-queued quota holds across the
 * group (the first 3 in arrival order fit, the others are refused with
 * code quota), an unlimited key's and the operator's are all accepted, and
 * every accepted job is once in PostgreSQL and once in Redis. */
static uint64_t pending_jobs(void)
{
    actor_client *c = dd_client(dd.admin_url);
    dp_msg q = {.type = DP_MSG_QUEUE, .id = 7}, r;
    assert_int_equal(dd_rpc(c, &q, &r, 10000), DP_OK);
    actor_client_close(c);
    assert_int_equal(r.type, DP_MSG_QUEUE_STATS);
    uint64_t n = r.queue_stats.pending;
    dp_msg_free(&r);
    return n;
}

static void test_submits_grouped_per_requester(void **state)
{
    (void)state;
    enum { PER = 5 };
    uint64_t pending0 = pending_jobs();
    char key_a[DP_APIKEY_LEN + 1], id_a[DP_APIKEY_ID_LEN + 1];
    char key_b[DP_APIKEY_LEN + 1], id_b[DP_APIKEY_ID_LEN + 1];
    make_key("group-limited", 3, 0, key_a, id_a);
    make_key("group-free", 0, 0, key_b, id_b);
    dd_sql_long(&dd, "CREATE TABLE insert_stmts (at timestamptz DEFAULT clock_timestamp())");
    dd_sql_long(&dd, "CREATE FUNCTION count_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
                     " BEGIN INSERT INTO insert_stmts DEFAULT VALUES; RETURN NULL; END $$");
    dd_sql_long(&dd, "CREATE TRIGGER count_insert AFTER INSERT ON jobs FOR EACH STATEMENT"
                     "  EXECUTE FUNCTION count_insert()");
    dd_sql_long(&dd, "CREATE FUNCTION hold_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
                     " BEGIN IF NEW.submission_id = 'hold' THEN"
                     "  PERFORM pg_advisory_xact_lock(4242); END IF; RETURN NEW; END $$");
    dd_sql_long(&dd, "CREATE TRIGGER hold_insert BEFORE INSERT ON jobs FOR EACH ROW"
                     "  EXECUTE FUNCTION hold_insert()");
    PGconn *lock = PQconnectdb(dd.db.dsn);
    assert_int_equal(PQstatus(lock), CONNECTION_OK);
    PQclear(PQexec(lock, "SELECT pg_advisory_lock(4242)"));
    waiter hold = {dd.admin_url, NULL, "hold", 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, submit_one, &hold), 0);
    /* the reporter is inside the hold job's insert, waiting for our lock */
    int64_t t0 = dd_now_us();
    while (dd_sql_long(&dd, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
                            " AND query LIKE '%INSERT INTO jobs%'") == 0) {
        if (dd_now_us() - t0 > 15000000)
            fail_msg("the hold job's insert never waited for the lock");
        dd_sleep_ms(20);
    }
    waiter w[3 * PER];
    pthread_t t[3 * PER];
    for (int i = 0; i < 3 * PER; i++) {
        w[i] = (waiter){i < 2 * PER ? tcp_admin : dd.admin_url,
                        i < PER       ? key_a
                        : i < 2 * PER ? key_b
                                      : NULL,
                        NULL, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, submit_one, &w[i]), 0);
    }
    /* Delivery to the reporter's mailbox takes well under a millisecond;
     * 1 s is slack for a sanitized build beside a busy loop. Late arrivals
     * would only make more groups, which the count below allows. */
    dd_sleep_ms(1000);
    long before = dd_sql_long(&dd, "SELECT count(*) FROM insert_stmts");
    PQclear(PQexec(lock, "SELECT pg_advisory_unlock(4242)"));
    pthread_join(th, NULL);
    size_t got[3] = {0}, quota[3] = {0};
    for (int i = 0; i < 3 * PER; i++) {
        pthread_join(t[i], NULL);
        got[i / PER] += w[i].accepted;
        quota[i / PER] += w[i].quota_refused;
    }
    PQfinish(lock);
    assert_int_equal(hold.accepted, 1);
    assert_int_equal(got[0], 3); /* the limited key: max-queued 3, exact within a group */
    assert_int_equal(quota[0], PER - 3);
    assert_int_equal(got[1], PER);
    assert_int_equal(got[2], PER);
    long stmts = dd_sql_long(&dd, "SELECT count(*) FROM insert_stmts") - before;
    /* One each, had they been recorded alone: the hold job's, the limited
     * key's 3 (its refused ones insert nothing), 5 and 5; grouped: 4. */
    fprintf(stderr, "# grouped: %ld insert statements for %d submits\n", stmts, 3 * PER + 1);
    if (stmts >= 1 + 3 + 2 * PER)
        fail_msg("%ld insert statements: no two of the %d waiting submits shared one", stmts,
                 3 * PER);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM jobs WHERE owner_key = '%s'", id_a);
    assert_int_equal(dd_sql_long(&dd, sql), 3);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM jobs WHERE owner_key = '%s'", id_b);
    assert_int_equal(dd_sql_long(&dd, sql), PER);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) - count(DISTINCT id) FROM jobs"), 0);
    assert_int_equal(pending_jobs() - pending0, 1 + 3 + 2 * PER); /* each once in Redis */
    dd_sql_long(&dd, "DROP TRIGGER hold_insert ON jobs");
    dd_sql_long(&dd, "DROP TRIGGER count_insert ON jobs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_minute_batch_over_nng),
        cmocka_unit_test(test_max_queued_exact_across_replicas),
        cmocka_unit_test(test_submits_grouped_per_requester),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

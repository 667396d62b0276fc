/* Races against the real Redis: 16 threads, each with its own connection
 * and runner, lease from one queue of 100,000 jobs; every job must be leased
 * exactly once. */
#include "tests/dispatch/rq_test_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 16
#define JOBS 100000

typedef struct {
    const char *url, *prefix;
    char runner[DP_ID_MAX];
    uint32_t k;
    pthread_barrier_t *go;
    int *leased; /* per job index: how many times leased (atomic adds) */
    size_t got;
    int rc;
    char msg[DP_ERR_MSG_MAX];
} worker;

static void *lease_worker(void *p)
{
    worker *w = p;
    dp_err err = {0};
    rq_conn *c = rq_connect(w->url, w->prefix, NULL, &err);
    rq_lease *l = calloc(w->k, sizeof *l);
    if (c == NULL || l == NULL) {
        w->rc = DP_EUNAVAIL;
        snprintf(w->msg, sizeof w->msg, "%s", err.msg);
        free(l);
        return NULL;
    }
    pthread_barrier_wait(w->go);
    for (;;) {
        size_t n = 0;
        if ((w->rc = rq_lease_claim(c, w->runner, w->k, NULL, l, &n, &err)) != DP_OK) {
            snprintf(w->msg, sizeof w->msg, "%s", err.msg);
            break;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            int idx = atoi(l[i].job_id + 2);
            if (idx >= 0 && idx < JOBS)
                __atomic_add_fetch(&w->leased[idx], 1, __ATOMIC_RELAXED);
            if (l[i].attempt != 1)
                w->rc = DP_EINTERNAL;
        }
        w->got += n;
        rq_leases_free(l, n);
    }
    free(l);
    rq_close(c);
    return NULL;
}

static void test_sixteen_leasers_100k_jobs(void **state)
{
    (void)state;
    char prefix[64];
    t_unique_prefix(prefix);
    rq_conn *c = t_connect(t_redis_url(), prefix, NULL);
    redisContext *raw = t_raw(t_redis_url());
    t_enqueue(c, "p", JOBS, 0);
    int *leased = calloc(JOBS, sizeof *leased);
    worker w[THREADS];
    pthread_t th[THREADS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.url = t_redis_url(),
                        .prefix = prefix,
                        .go = &go,
                        .leased = leased,
                        .k = 1 + (uint32_t)(i % 8) * 15};
        t_register(c, "racer", 1000, w[i].runner, NULL);
        assert_int_equal(pthread_create(&th[i], NULL, lease_worker, &w[i]), 0);
    }
    size_t total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].rc != DP_OK)
            fail_msg("worker %d: %s (%d)", i, w[i].msg, w[i].rc);
        total += w[i].got;
        assert_int_equal((size_t)t_int(raw, "SCARD %srunner:%s:jobs", prefix, w[i].runner),
                         w[i].got);
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(total, JOBS);
    for (int i = 0; i < JOBS; i++)
        if (leased[i] != 1)
            fail_msg("job p-%d leased %d times", i, leased[i]);
    assert_int_equal(t_int(raw, "SCARD %sjobs:leased", prefix), JOBS);
    assert_int_equal(t_int(raw, "LLEN %sq:n::", prefix), 0);
    free(leased);
    redisFree(raw);
    rq_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sixteen_leasers_100k_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

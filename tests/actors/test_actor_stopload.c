/* Stopping an actor under continuous load: callers keep sending while the
 * actor stops, so requests are on the wire as its socket closes. Proves no
 * crash, no use-after-free (ASan), and that every caller ends with a clean
 * error: DP_ECLOSED (told), DP_EUNAVAIL (connection gone) or DP_ETIMEOUT.
 *
 * Runs with tests/actors/nng-1.5.2.supp: nng 1.5.2's req0 can leak the one
 * request it is dispatching onto a pipe that is closing at that instant
 * (reproduced with plain nng, no actor code; see docs/actors.md). Every
 * other actor test runs with full leak checking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/actor.h"
#include "echo.h"

typedef struct load_arg {
    const char *url;
    int ok, full, closed, timeout, unavail, other;
} load_arg;

static void *load_thread(void *p)
{
    load_arg *f = p;
    dp_err err;
    actor_client *c = actor_client_open(f->url, &err);
    if (c == NULL) {
        f->other++;
        return NULL;
    }
    for (int i = 0; i < 100000; i++) {
        nng_msg *reply = NULL;
        int rc = actor_client_call(c, echo_msg("ping"), &reply, 500, &err);
        nng_msg_free(reply);
        if (rc == 0) {
            f->ok++;
            continue;
        }
        if (rc == DP_EFULL) { /* more callers than mailbox: back off, retry */
            f->full++;
            usleep(1000);
            continue;
        }
        if (rc == DP_ECLOSED) {
            f->closed++;
        } else if (rc == DP_ETIMEOUT) {
            f->timeout++;
        } else if (rc == DP_EUNAVAIL) {
            f->unavail++;
        } else {
            f->other++;
            fprintf(stderr, "stop under load: unexpected %s\n", err.msg);
        }
        break;
    }
    actor_client_close(c);
    return NULL;
}

static void test_stop_under_load(void **unused)
{
    for (int round = 0; round < 5; round++) {
        echo_state *st = calloc(1, sizeof *st);
        assert_non_null(st);
        st->sleep_ms = 1;
        enum { THREADS = 8 };
        actor_opts o = echo_opts("loaded", st, 4);
        dp_err err;
        actor *a = actor_spawn(&o, &err);
        assert_non_null(a);
        pthread_t th[THREADS];
        load_arg fa[THREADS];
        for (int i = 0; i < THREADS; i++) {
            fa[i] = (load_arg){.url = actor_url(a, 0)};
            assert_int_equal(pthread_create(&th[i], NULL, load_thread, &fa[i]), 0);
        }
        usleep(100000);
        uint64_t t0 = echo_now_ms();
        actor_destroy(a);
        uint64_t stop_ms = echo_now_ms() - t0;
        int ok = 0, ended = 0, other = 0;
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            ok += fa[i].ok;
            ended += fa[i].closed + fa[i].timeout + fa[i].unavail;
            other += fa[i].other;
        }
        printf("# actors: stop under load (round %d) took %llu ms; %d calls ok before it\n", round,
               (unsigned long long)stop_ms, ok);
        assert_int_equal(other, 0);
        assert_int_equal(ended, THREADS);
        assert_true(ok > 0);
        /* Prompt: ~20 ms here (a 1 ms call in progress plus the close).
         * 3 s is slack for a loaded 2-core machine (8 callers, ASan); a stop
         * that waited out the callers' 500 ms timeouts one by one would
         * take 4 s and fail it. */
        assert_true(stop_ms < 3000);
        free(st);
    }
}

static int group_teardown(void **unused)
{
    nng_fini();
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_under_load),
    };
    return cmocka_run_group_tests_name("actors-stopload", tests, NULL, group_teardown);
}

/* Actor groups (actors/actor_group.h): a work queue shared by several
 * actors. Every message runs once; a send wakes nobody while a member is
 * awake; long messages still spread over every member; a member that left
 * takes nothing; a full queue and a group without members refuse at once;
 * messages left queued at the end are freed (ASan). No assertion depends
 * on timing: waits poll a condition with a 10 s bound (a loaded machine
 * needs far less). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/actor.h"
#include "actors/actor_group.h"

enum { MEMBERS = 4, MSGS = 100, WAIT_MS = 10000 };

typedef struct {
    atomic_int handled[MSGS]; /* times message i ran */
    atomic_int by_member[MEMBERS];
    atomic_int running; /* 'b' messages inside their handler now */
    atomic_int max_running;
    atomic_int gate_open; /* 'g' messages and own 'G' ones wait for it */
    atomic_int in_gate;   /* handlers waiting at the gate */
    atomic_int left;      /* members that left ('l') */
} shared;

typedef struct {
    int id;
    shared *sh;
} member;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls until *v >= want or WAIT_MS pass: 1 when reached. */
static int wait_at_least(atomic_int *v, int want)
{
    int64_t end = now_ms() + WAIT_MS;
    while (atomic_load(v) < want && now_ms() < end)
        usleep(200);
    return atomic_load(v) >= want;
}

static void wait_gate(shared *sh)
{
    atomic_fetch_add(&sh->in_gate, 1);
    int64_t end = now_ms() + WAIT_MS;
    while (!atomic_load(&sh->gate_open) && now_ms() < end)
        usleep(200);
    atomic_fetch_sub(&sh->in_gate, 1);
}

/* Message body: a kind byte, then the message index (4 bytes). */
static int member_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    member *m = state;
    shared *sh = m->sh;
    (void)reply;
    const unsigned char *b = nng_msg_body(msg);
    char kind = nng_msg_len(msg) > 0 ? (char)b[0] : '?';
    uint32_t idx = 0;
    if (nng_msg_len(msg) >= 5)
        memcpy(&idx, b + 1, sizeof idx);
    if (kind == 'l') { /* own mailbox: leave the group */
        actor_group_leave(actor_ctx_actor(ctx));
        atomic_fetch_add(&sh->left, 1);
    } else if (kind == 'G') { /* own mailbox: stay awake at the gate */
        wait_gate(sh);
    } else {
        if (kind == 'g')
            wait_gate(sh);
        if (kind == 'b') { /* wait for MEMBERS of these to run at once */
            int r = atomic_fetch_add(&sh->running, 1) + 1;
            int mx = atomic_load(&sh->max_running);
            while (r > mx && !atomic_compare_exchange_weak(&sh->max_running, &mx, r))
                ;
            wait_at_least(&sh->max_running, MEMBERS);
            atomic_fetch_sub(&sh->running, 1);
        }
        if (idx < MSGS)
            atomic_fetch_add(&sh->handled[idx], 1);
        atomic_fetch_add(&sh->by_member[m->id], 1);
    }
    nng_msg_free(msg);
    return 0;
}

static nng_msg *new_msg(char kind, uint32_t idx)
{
    nng_msg *m = NULL;
    assert_int_equal(nng_msg_alloc(&m, 0), 0);
    assert_int_equal(nng_msg_append(m, &kind, 1), 0);
    assert_int_equal(nng_msg_append(m, &idx, sizeof idx), 0);
    return m;
}

typedef struct {
    shared sh;
    member mem[MEMBERS];
    actor *a[MEMBERS];
    actor_group *g;
} fixture;

static fixture *start(size_t capacity, int n)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    dp_err err = {0};
    f->g = actor_group_new(capacity, MEMBERS, &err);
    assert_non_null(f->g);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "member-%d", i);
        f->mem[i] = (member){i, &f->sh};
        actor_opts o = {.name = name, .state = &f->mem[i], .handler = member_handle, .group = f->g};
        f->a[i] = actor_spawn(&o, &err);
        if (f->a[i] == NULL)
            fail_msg("spawn %s: %s", name, err.msg);
    }
    return f;
}

static void stop(fixture *f)
{
    for (int i = 0; i < MEMBERS; i++)
        actor_destroy(f->a[i]);
    actor_group_free(f->g);
    free(f);
}

static void group_send(fixture *f, char kind, uint32_t idx)
{
    dp_err err = {0};
    if (actor_group_send(f->g, new_msg(kind, idx), &err) != DP_OK)
        fail_msg("send %c %u: %s", kind, idx, err.msg);
}

static actor_group_stats stats(fixture *f)
{
    actor_group_stats st;
    actor_group_get_stats(f->g, &st);
    return st;
}

/* Polls until `sleeping` members are asleep: 1 when reached. */
static int wait_sleeping(fixture *f, size_t sleeping)
{
    int64_t end = now_ms() + WAIT_MS;
    while (stats(f).sleeping < sleeping && now_ms() < end)
        usleep(200);
    return stats(f).sleeping >= sleeping;
}

static int all_once(shared *sh, int n)
{
    for (int i = 0; i < n; i++)
        if (atomic_load(&sh->handled[i]) != 1)
            return 0;
    return 1;
}

/* With one member awake (held in a message of its own mailbox), a burst
 * sent to the group wakes no sleeping member: the awake one takes the
 * first message. A group that woke a sleeper per message (the cost this
 * saves) fails here with 3 wakes. Then the burst drains, every message
 * once, and each sleeper is woken at most once for it. */
static void test_awake_member_means_no_wake(void **unused)
{
    (void)unused;
    fixture *f = start(MSGS, MEMBERS);
    assert_true(wait_sleeping(f, MEMBERS));
    dp_err err = {0};
    assert_int_equal(actor_send(f->a[0], new_msg('G', MSGS), 0, &err), DP_OK);
    assert_true(wait_at_least(&f->sh.in_gate, 1));
    assert_true(wait_sleeping(f, MEMBERS - 1));
    uint64_t before = stats(f).wakes;
    for (uint32_t i = 0; i < MSGS; i++)
        group_send(f, 'q', i);
    assert_int_equal(stats(f).wakes - before, 0);
    atomic_store(&f->sh.gate_open, 1);
    int total = 0;
    int64_t end = now_ms() + WAIT_MS;
    while (stats(f).taken < MSGS && now_ms() < end)
        usleep(200);
    assert_true(wait_sleeping(f, MEMBERS)); /* every handler returned */
    for (int i = 0; i < MEMBERS; i++)
        total += atomic_load(&f->sh.by_member[i]);
    assert_int_equal(total, MSGS);
    assert_true(all_once(&f->sh, MSGS));
    assert_true(stats(f).wakes - before <= MEMBERS - 1);
    stop(f);
}

/* Long messages spread: MEMBERS of them, each waiting until MEMBERS run at
 * once, sent while every member sleeps. One woken member takes one and
 * wakes the next while others wait, so all run together; a group that
 * woke only when nobody was awake and never chained would run them one by
 * one and never reach MEMBERS at once. */
static void test_long_messages_spread(void **unused)
{
    (void)unused;
    fixture *f = start(MSGS, MEMBERS);
    assert_true(wait_sleeping(f, MEMBERS));
    for (uint32_t i = 0; i < MEMBERS; i++)
        group_send(f, 'b', i);
    assert_true(wait_at_least(&f->sh.max_running, MEMBERS));
    assert_true(wait_sleeping(f, MEMBERS));
    assert_true(all_once(&f->sh, MEMBERS));
    stop(f);
}

/* A member that left takes nothing more; the others take it all. Once
 * every member left, a send is refused at once (DP_ECLOSED), and so is a
 * send to a group nobody joined. */
static void test_leave(void **unused)
{
    (void)unused;
    fixture *f = start(MSGS, MEMBERS);
    dp_err err = {0};
    assert_int_equal(actor_send(f->a[0], new_msg('l', MSGS), 0, &err), DP_OK);
    assert_true(wait_at_least(&f->sh.left, 1));
    assert_int_equal(stats(f).members, MEMBERS - 1);
    for (uint32_t i = 0; i < MSGS; i++)
        group_send(f, 'q', i);
    int64_t end = now_ms() + WAIT_MS;
    while (stats(f).taken < MSGS && now_ms() < end)
        usleep(200);
    assert_true(wait_sleeping(f, MEMBERS - 1));
    assert_int_equal(atomic_load(&f->sh.by_member[0]), 0);
    assert_true(all_once(&f->sh, MSGS));
    for (int i = 1; i < MEMBERS; i++)
        assert_int_equal(actor_send(f->a[i], new_msg('l', MSGS), 0, &err), DP_OK);
    assert_true(wait_at_least(&f->sh.left, MEMBERS));
    assert_int_equal(actor_group_send(f->g, new_msg('q', 0), &err), DP_ECLOSED);
    assert_non_null(strstr(err.msg, "no member"));
    stop(f);

    actor_group *empty = actor_group_new(4, 4, &err);
    assert_non_null(empty);
    assert_int_equal(actor_group_send(empty, new_msg('q', 0), &err), DP_ECLOSED);
    actor_group_free(empty);
}

/* A full queue refuses at once (DP_EFULL), the message freed; the ones
 * queued still run. Messages still queued when the members are destroyed
 * are freed with the group (ASan's leak check), and a member beyond
 * max_members fails its spawn. */
static void test_full_and_left_over(void **unused)
{
    (void)unused;
    fixture *f = start(2, 1);
    group_send(f, 'g', 0); /* the only member waits at the gate */
    assert_true(wait_at_least(&f->sh.in_gate, 1));
    group_send(f, 'q', 1);
    group_send(f, 'q', 2);
    dp_err err = {0};
    assert_int_equal(actor_group_send(f->g, new_msg('q', 3), &err), DP_EFULL);
    assert_non_null(strstr(err.msg, "queue full"));
    atomic_store(&f->sh.gate_open, 1);
    int64_t end = now_ms() + WAIT_MS;
    while (stats(f).taken < 3 && now_ms() < end)
        usleep(200);
    assert_true(wait_sleeping(f, 1));
    assert_true(all_once(&f->sh, 3));
    assert_int_equal(atomic_load(&f->sh.handled[3]), 0);

    /* Left over: the member waits at a closed gate while two are queued. */
    atomic_store(&f->sh.gate_open, 0);
    group_send(f, 'g', 4);
    assert_true(wait_at_least(&f->sh.in_gate, 1));
    group_send(f, 'q', 5);
    group_send(f, 'q', 6);
    atomic_store(&f->sh.gate_open, 1); /* its stop comes first or after: both fine */
    actor_destroy(f->a[0]);
    f->a[0] = NULL;

    /* One member too many. */
    actor_group *g = actor_group_new(4, 1, &err);
    assert_non_null(g);
    member m0 = {0, &f->sh}, m1 = {1, &f->sh};
    actor_opts o = {.name = "only", .state = &m0, .handler = member_handle, .group = g};
    actor *a0 = actor_spawn(&o, &err);
    assert_non_null(a0);
    o.name = "extra";
    o.state = &m1;
    assert_null(actor_spawn(&o, &err));
    assert_non_null(strstr(err.msg, "group is full"));
    actor_destroy(a0);
    actor_group_free(g);
    stop(f);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_awake_member_means_no_wake),
        cmocka_unit_test(test_long_messages_spread),
        cmocka_unit_test(test_leave),
        cmocka_unit_test(test_full_and_left_over),
    };
    int rc = cmocka_run_group_tests_name("actor_group", tests, NULL, NULL);
    nng_fini();
    return rc;
}

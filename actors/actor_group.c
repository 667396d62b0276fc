/* Actor groups: see actor_group.h for the contract, docs/actors.md for the
 * figures.
 *
 * Each member is in one of four states, under g->mu:
 * - AWAKE: its thread runs and will look at the queue before it sleeps
 *   (between messages, or handling one of its own mailbox);
 * - BUSY: it handles a group message, which may take long (a job);
 * - ASLEEP: listed in g->sleepers, its thread waits on its bell;
 * - LEFT: it takes nothing more.
 * The rule that keeps wakes rare and no message stranded: while the queue
 * is not empty, at least one member is AWAKE, unless every member that
 * has not left is BUSY. A send wakes a sleeper only when no member is
 * AWAKE; a member that takes a message (AWAKE -> BUSY) and leaves others
 * queued wakes one more when it was the last AWAKE one. A woken member is
 * counted AWAKE by its waker at once, so two sends never wake two members
 * for one message. The ring happens after g->mu is let go (a member woken
 * while its waker held the lock went straight to sleep on it: two more
 * futex calls per job at one slot); a member that quits waits for the
 * rings in progress (g->ringing) before its thread may end, so a sleeper
 * taken off the list is never freed under its ring. */
#include "actors/actor_group.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "actors/actor_impl.h"

enum { GROUP_AWAKE = 1, GROUP_BUSY, GROUP_ASLEEP, GROUP_LEFT };

struct actor_group {
    pthread_mutex_t mu;
    nng_msg **queue; /* ring of capacity */
    size_t capacity, head, len;
    actor **sleepers; /* ASLEEP members, the latest last (woken first: its cache is warm) */
    size_t n_sleepers, max_members;
    size_t members; /* joined and not left */
    size_t awake;   /* members AWAKE */
    actor_group_stats stats;
    _Atomic size_t ringing; /* wakes taken under mu, rung after it (wake_one_locked) */
};

actor_group *actor_group_new(size_t capacity, size_t max_members, dp_err *err)
{
    if (capacity == 0 || capacity > ACTOR_MAX_MAILBOX || max_members == 0 ||
        max_members > ACTOR_MAX_MAILBOX) {
        dp_err_set(err, DP_EINVAL, "actor group: capacity %zu and members %zu must be 1..%d",
                   capacity, max_members, ACTOR_MAX_MAILBOX);
        return NULL;
    }
    actor_group *g = calloc(1, sizeof *g);
    if (g == NULL || (g->queue = calloc(capacity, sizeof *g->queue)) == NULL ||
        (g->sleepers = calloc(max_members, sizeof *g->sleepers)) == NULL) {
        if (g != NULL)
            free(g->queue);
        free(g);
        dp_err_set(err, DP_ENOMEM, "actor group: out of memory");
        return NULL;
    }
    g->capacity = capacity;
    g->max_members = max_members;
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void actor_group_free(actor_group *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->len; i++)
        nng_msg_free(g->queue[(g->head + i) % g->capacity]);
    pthread_mutex_destroy(&g->mu);
    free(g->sleepers);
    free(g->queue);
    free(g);
}

/* Under g->mu: a's state becomes st, the AWAKE count follows. */
static void set_state(actor_group *g, actor *a, int st)
{
    g->awake -= a->group_state == GROUP_AWAKE;
    g->awake += st == GROUP_AWAKE;
    a->group_state = st;
}

/* Under g->mu: a message waits and no member will look at it: the latest
 * sleeper is counted AWAKE at once and returned, for ring_unlocked to wake
 * once the caller has let go of g->mu; NULL when nobody needs waking. */
static actor *wake_one_locked(actor_group *g)
{
    if (g->len == 0 || g->awake > 0 || g->n_sleepers == 0)
        return NULL;
    actor *s = g->sleepers[--g->n_sleepers];
    set_state(g, s, GROUP_AWAKE);
    g->stats.wakes++;
    atomic_fetch_add(&g->ringing, 1);
    return s;
}

/* Without g->mu: rings s (from wake_one_locked; NULL: nothing). */
static void ring_unlocked(actor_group *g, actor *s)
{
    if (s == NULL)
        return;
    actor_wake(s);
    atomic_fetch_sub(&g->ringing, 1);
}

int actor_group_send(actor_group *g, nng_msg *msg, dp_err *err)
{
    pthread_mutex_lock(&g->mu);
    int rc = DP_OK;
    if (g->members == 0)
        rc = dp_err_set(err, DP_ECLOSED, "actor group: no member is left to take the message");
    else if (g->len == g->capacity)
        rc = dp_err_set(err, DP_EFULL, "actor group: queue full (%zu messages)", g->capacity);
    if (rc != DP_OK) {
        pthread_mutex_unlock(&g->mu);
        nng_msg_free(msg);
        return rc;
    }
    g->queue[(g->head + g->len) % g->capacity] = msg;
    g->len++;
    g->stats.sent++;
    actor *w = wake_one_locked(g);
    pthread_mutex_unlock(&g->mu);
    ring_unlocked(g, w);
    return DP_OK;
}

int actor_group_join(actor *a, dp_err *err)
{
    actor_group *g = a->group;
    pthread_mutex_lock(&g->mu);
    int rc = DP_OK;
    if (g->members >= g->max_members)
        rc = dp_err_set(err, DP_EINVAL, "actor %s: its group is full (%zu members)", a->name,
                        g->max_members);
    else {
        g->members++;
        set_state(g, a, GROUP_AWAKE);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

nng_msg *actor_group_take(actor *a)
{
    actor_group *g = a->group;
    pthread_mutex_lock(&g->mu);
    nng_msg *m = NULL;
    actor *w = NULL;
    if (a->group_state != GROUP_LEFT) {
        set_state(g, a, GROUP_AWAKE); /* back from its last message */
        if (g->len > 0) {
            m = g->queue[g->head];
            g->head = (g->head + 1) % g->capacity;
            g->len--;
            g->stats.taken++;
            set_state(g, a, GROUP_BUSY);
            w = wake_one_locked(g);
        }
    }
    pthread_mutex_unlock(&g->mu);
    ring_unlocked(g, w);
    return m;
}

bool actor_group_sleep(actor *a)
{
    actor_group *g = a->group;
    pthread_mutex_lock(&g->mu);
    bool sleep = true;
    if (a->group_state != GROUP_LEFT) {
        if (g->len > 0) {
            set_state(g, a, GROUP_AWAKE);
            sleep = false;
        } else {
            set_state(g, a, GROUP_ASLEEP);
            g->sleepers[g->n_sleepers++] = a;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return sleep;
}

/* Under g->mu: a off the sleepers' list, if it is there. */
static void unlist_locked(actor_group *g, actor *a)
{
    for (size_t i = 0; i < g->n_sleepers; i++)
        if (g->sleepers[i] == a) {
            for (size_t k = i + 1; k < g->n_sleepers; k++)
                g->sleepers[k - 1] = g->sleepers[k];
            g->n_sleepers--;
            return;
        }
}

void actor_group_awake(actor *a)
{
    actor_group *g = a->group;
    /* Woken by a send, which counted it AWAKE already: no lock needed. */
    if (atomic_load(&a->group_state) != GROUP_ASLEEP)
        return;
    pthread_mutex_lock(&g->mu);
    if (a->group_state == GROUP_ASLEEP) { /* its own mailbox rang, or a spurious return */
        unlist_locked(g, a);
        set_state(g, a, GROUP_AWAKE);
    }
    pthread_mutex_unlock(&g->mu);
}

void actor_group_leave(actor *a)
{
    actor_group *g = a->group;
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    actor *w = NULL;
    if (a->group_state != GROUP_LEFT && a->group_state != 0) {
        unlist_locked(g, a);
        set_state(g, a, GROUP_LEFT);
        g->members--;
        w = wake_one_locked(g); /* it may have been woken for a message it now leaves */
    }
    pthread_mutex_unlock(&g->mu);
    ring_unlocked(g, w);
    /* A ring taken under the lock before this may still be on its way to
     * a (or another member): a's thread ends, and a is freed, only after. */
    while (atomic_load(&g->ringing) > 0)
        sched_yield();
}

void actor_group_get_stats(actor_group *g, actor_group_stats *out)
{
    pthread_mutex_lock(&g->mu);
    *out = g->stats;
    out->queued = g->len;
    out->members = g->members;
    out->sleeping = g->n_sleepers;
    pthread_mutex_unlock(&g->mu);
}

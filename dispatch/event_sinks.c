/* The process's event sinks (event_sinks.h): small fixed tables under one
 * lock; delivery holds it, so removal waits for a delivery in progress. */
#include "dispatch/event_sinks.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char name[128];
    event_sink_fn fn;
    event_note_fn note;
    void *arg;
} event_sink;

/* One name's listeners and the waker of the publisher reading for them. */
typedef struct {
    char name[128];
    int listeners;
    int asleep; /* its publisher's last note was ASLEEP: told to sinks added later */
    void (*wake)(void *arg);
    void *wake_arg;
} event_interest;

static pthread_mutex_t sinks_mu = PTHREAD_MUTEX_INITIALIZER;
static event_sink sinks[EVENT_SINKS_MAX];         /* fn == NULL: free; guarded by sinks_mu */
static event_interest interests[EVENT_SINKS_MAX]; /* name "": free; guarded by sinks_mu */

static int name_ok(const char *name)
{
    return name != NULL && name[0] != '\0' && strlen(name) < sizeof sinks[0].name;
}

/* name's entry, made when create and there is room (sinks_mu held). */
static event_interest *interest_locked(const char *name, int create)
{
    event_interest *free_slot = NULL;
    for (size_t i = 0; i < EVENT_SINKS_MAX; i++) {
        if (strcmp(interests[i].name, name) == 0 && interests[i].name[0] != '\0')
            return &interests[i];
        if (interests[i].name[0] == '\0' && free_slot == NULL)
            free_slot = &interests[i];
    }
    if (!create || free_slot == NULL)
        return NULL;
    snprintf(free_slot->name, sizeof free_slot->name, "%s", name);
    return free_slot;
}

int event_sinks_add(const char *name, event_sink_fn fn, event_note_fn note, void *arg, dp_err *err)
{
    if (!name_ok(name) || fn == NULL)
        return dp_err_set(err, DP_EINVAL, "event sink: a name of 1 to %zu bytes and a function",
                          sizeof sinks[0].name - 1);
    pthread_mutex_lock(&sinks_mu);
    for (size_t i = 0; i < EVENT_SINKS_MAX; i++)
        if (sinks[i].fn == NULL) {
            snprintf(sinks[i].name, sizeof sinks[i].name, "%s", name);
            sinks[i].fn = fn;
            sinks[i].note = note;
            sinks[i].arg = arg;
            event_interest *e = interest_locked(name, 0);
            if (note != NULL && e != NULL && e->asleep)
                note(arg, EVENT_SINKS_ASLEEP, 0);
            pthread_mutex_unlock(&sinks_mu);
            return DP_OK;
        }
    pthread_mutex_unlock(&sinks_mu);
    return dp_err_set(err, DP_EFULL, "event sink: more than %d in this process", EVENT_SINKS_MAX);
}

void event_sinks_remove(event_sink_fn fn, void *arg)
{
    pthread_mutex_lock(&sinks_mu);
    for (size_t i = 0; i < EVENT_SINKS_MAX; i++)
        if (sinks[i].fn == fn && sinks[i].arg == arg)
            sinks[i].fn = NULL;
    pthread_mutex_unlock(&sinks_mu);
}

void event_sinks_deliver(const char *name, const dp_msg_event *evs, size_t n)
{
    if (name == NULL || name[0] == '\0' || n == 0)
        return;
    pthread_mutex_lock(&sinks_mu);
    for (size_t i = 0; i < EVENT_SINKS_MAX; i++)
        if (sinks[i].fn != NULL && strcmp(sinks[i].name, name) == 0)
            sinks[i].fn(sinks[i].arg, evs, n);
    pthread_mutex_unlock(&sinks_mu);
}

void event_sinks_note(const char *name, event_note note, uint64_t id)
{
    if (name == NULL || name[0] == '\0')
        return;
    pthread_mutex_lock(&sinks_mu);
    event_interest *e = interest_locked(name, 0);
    if (e != NULL && (note == EVENT_SINKS_ASLEEP || note == EVENT_SINKS_CAUGHT_UP))
        e->asleep = note == EVENT_SINKS_ASLEEP;
    for (size_t i = 0; i < EVENT_SINKS_MAX; i++)
        if (sinks[i].fn != NULL && sinks[i].note != NULL && strcmp(sinks[i].name, name) == 0)
            sinks[i].note(sinks[i].arg, note, id);
    pthread_mutex_unlock(&sinks_mu);
}

void event_sinks_want(const char *name, int delta)
{
    if (!name_ok(name) || delta == 0)
        return;
    pthread_mutex_lock(&sinks_mu);
    event_interest *e = interest_locked(name, 1);
    if (e != NULL) {
        int before = e->listeners;
        e->listeners = before + delta > 0 ? before + delta : 0;
        if (before == 0 && e->listeners > 0 && e->wake != NULL)
            e->wake(e->wake_arg);
        if (e->listeners == 0 && e->wake == NULL)
            e->name[0] = '\0'; /* nobody left: the entry is free again */
    }
    pthread_mutex_unlock(&sinks_mu);
}

int event_sinks_wanted(const char *name)
{
    if (!name_ok(name))
        return 0;
    pthread_mutex_lock(&sinks_mu);
    event_interest *e = interest_locked(name, 0);
    int n = e != NULL ? e->listeners : 0;
    pthread_mutex_unlock(&sinks_mu);
    return n;
}

int event_sinks_on_want(const char *name, void (*wake)(void *arg), void *arg, dp_err *err)
{
    if (!name_ok(name))
        return dp_err_set(err, DP_EINVAL, "event sink: a name of 1 to %zu bytes",
                          sizeof sinks[0].name - 1);
    pthread_mutex_lock(&sinks_mu);
    event_interest *e = interest_locked(name, wake != NULL);
    if (e != NULL) {
        e->wake = wake;
        e->wake_arg = arg;
        if (wake == NULL && e->listeners == 0)
            e->name[0] = '\0';
    }
    pthread_mutex_unlock(&sinks_mu);
    if (e == NULL && wake != NULL)
        return dp_err_set(err, DP_EFULL, "event sink: more than %d names in this process",
                          EVENT_SINKS_MAX);
    return DP_OK;
}

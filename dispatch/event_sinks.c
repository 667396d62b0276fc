/* The process's event sinks (event_sinks.h): a small fixed table under one
 * lock; delivery holds it, so removal waits for a delivery in progress. */
#include "dispatch/event_sinks.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char name[128];
    event_sink_fn fn;
    void *arg;
} event_sink;

static pthread_mutex_t sinks_mu = PTHREAD_MUTEX_INITIALIZER;
static event_sink sinks[EVENT_SINKS_MAX]; /* fn == NULL: free; guarded by sinks_mu */

int event_sinks_add(const char *name, event_sink_fn fn, void *arg, dp_err *err)
{
    if (name == NULL || fn == NULL || strlen(name) >= sizeof sinks[0].name)
        return dp_err_set(err, DP_EINVAL, "event sink: a name of at most %zu bytes and a function",
                          sizeof sinks[0].name - 1);
    pthread_mutex_lock(&sinks_mu);
    for (size_t i = 0; i < EVENT_SINKS_MAX; i++)
        if (sinks[i].fn == NULL) {
            snprintf(sinks[i].name, sizeof sinks[i].name, "%s", name);
            sinks[i].fn = fn;
            sinks[i].arg = arg;
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

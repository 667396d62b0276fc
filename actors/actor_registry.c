/* The process's live actors, keyed by their private inproc URL: a client
 * opened on that URL (a runner's job feeder addresses its executors by URL,
 * never by pointer) sends one-way messages straight into the mailbox
 * instead of through nng's inproc req/rep, and calls on a local slot
 * (actor_local.c; docs/actors.md, "Hops"). An
 * actor is added once spawned and removed before it is stopped and freed;
 * the lock is held while pushing, so a send never reaches a freed actor.
 * Lock order: the registry lock, then the actor's mu. It calls back rather
 * than pushing itself, so it depends on no other file of the runtime.
 * A read-write lock: sends only read the list (a runner's executors and
 * its job feeder send to each other all the time, and with a mutex they
 * slept on it in turn); only spawning and stopping write. */
#include "actors/actor_impl.h"

#include <pthread.h>
#include <string.h>

static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
static actor *registry_head; /* guarded by registry_lock */

void actor_registry_add(actor *a)
{
    pthread_rwlock_wrlock(&registry_lock);
    a->registry_next = registry_head;
    registry_head = a;
    pthread_rwlock_unlock(&registry_lock);
}

void actor_registry_remove(actor *a)
{
    pthread_rwlock_wrlock(&registry_lock);
    for (actor **p = &registry_head; *p != NULL; p = &(*p)->registry_next) {
        if (*p == a) {
            *p = a->registry_next;
            break;
        }
    }
    a->registry_next = NULL;
    pthread_rwlock_unlock(&registry_lock);
}

int actor_registry_with(const char *url, int (*fn)(actor *a, void *arg), void *arg)
{
    int rc = ACTOR_NOT_LOCAL;
    pthread_rwlock_rdlock(&registry_lock);
    for (actor *a = registry_head; a != NULL; a = a->registry_next) {
        const char *own = actor_urls_get(&a->urls, 0);
        if (own != NULL && strcmp(own, url) == 0) {
            rc = fn(a, arg);
            break;
        }
    }
    pthread_rwlock_unlock(&registry_lock);
    return rc;
}

/* An actor group: several actors of one kind that share a work queue, the
 * way pullers share a push/pull socket. A message sent to the group goes to
 * whichever member takes it first; each member still has its own state,
 * thread and mailbox (for its own messages, which it handles as before).
 *
 * Why: a runner's executors are one actor per slot, and handing each job to
 * the executor of a chosen slot woke a sleeping thread per job (on a 2-vCPU
 * VM a wake across CPUs is most of a no-op job's cost; docs/actors.md,
 * "A work queue shared by a group"). With the queue shared, a member that
 * is awake takes the next message itself, and a sleeping one is woken only
 * when no awake member is about to look: a burst of short jobs runs on the
 * threads already running, and long jobs still spread over every member
 * (each member that takes a message wakes one more while messages wait and
 * nobody else is looking, so the wakes run in parallel with the work).
 *
 * A member looks at the group's queue before its own mailbox, and after
 * each group message handles one of its own, so neither starves; a message
 * from the group reaches its handler as a one-way message (reply NULL).
 *
 * Ownership: the group owns the messages queued in it until a member's
 * handler gets one (then the handler owns it, as for actor_send). The
 * group outlives its members: actor_group_free only after every member
 * was destroyed. */
#ifndef DP_ACTOR_GROUP_H
#define DP_ACTOR_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "common/err.h"

typedef struct actor_group actor_group;
typedef struct actor actor;

/* A group whose queue holds at most capacity messages (1..65536), for at
 * most max_members members. NULL + err when out of memory or out of range. */
actor_group *actor_group_new(size_t capacity, size_t max_members, dp_err *err);

/* Frees g and the messages still queued. Every member must have been
 * destroyed (actor_destroy) first. NULL is a no-op. */
void actor_group_free(actor_group *g);

/* Queues msg (consumed) for one member; wakes a sleeping member only when
 * no member is awake and about to look at the queue. DP_EFULL when the
 * queue is full, DP_ECLOSED when no member is left to take it (none has
 * joined yet, or every one left or stopped). Safe from any thread,
 * members' handlers included. */
int actor_group_send(actor_group *g, nng_msg *msg, dp_err *err);

/* From a member's handler (a is the member, actor_ctx_actor of its
 * context): it takes no more messages from the group, so whatever it does
 * after this, no group message starts on it. A member leaves on its own
 * stop too (and the runtime calls it for a failed spawn). Idempotent; a
 * no-op for an actor of no group. Messages still queued go to the members
 * left. */
void actor_group_leave(actor *a);

typedef struct actor_group_stats {
    uint64_t sent;   /* messages queued */
    uint64_t taken;  /* messages members took */
    uint64_t wakes;  /* sleeping members woken for a message (the cost saved when low) */
    size_t queued;   /* waiting now */
    size_t members;  /* members that have not left */
    size_t sleeping; /* of those, asleep until a message or their own mailbox wakes them */
} actor_group_stats;

/* A snapshot; safe from any thread. */
void actor_group_get_stats(actor_group *g, actor_group_stats *out);

#endif

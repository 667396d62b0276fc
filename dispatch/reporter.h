/* The reporter and the submitter: dispatchd's writers to PostgreSQL, the
 * system of record. Two actors, each with its own connections, so a
 * submit's round trips never wait behind a result batch's, nor the other
 * way round.
 *
 * submitter (submit): validates each spec, persists the jobs (one
 *           statement per batch), then enqueues them in Redis (one script
 *           call); a job is acknowledged only once PostgreSQL has it. A
 *           failed enqueue asks the reporter for a rebuild (`rebuild`).
 * reporter (complete): checks the runner still owns that attempt, stores
 *           the log, and records the results in PostgreSQL in one
 *           transaction per batch (batched by load: the mailbox running
 *           empty) BEFORE the jobs leave Redis; a repeated complete changes
 *           nothing and is acknowledged.
 * reporter (status, wait, queue, cancel, requeue): answered from
 *           PostgreSQL (+ Redis).
 * reporter (event): lease and dead-job events from the leaser are persisted
 *           (state, history) and published to watchers.
 * reporter, Redis rebuild: at start, when asked, and whenever the epoch
 * marker is missing (Redis flushed or replaced), queued and
 * leased-but-unfinished jobs are put back into Redis from PostgreSQL. */
#ifndef DP_REPORTER_H
#define DP_REPORTER_H

#include "dispatch/dd_actor.h"

#include <stdint.h>

typedef struct {
    const char *redis_url;
    const char *prefix;
    const char *pg_dsn;
    const char *log_store; /* URL template */
    uint32_t max_attempts;
    uint32_t alive_ttl_ms;
    actor *publisher; /* may be NULL */
    actor *rebuilder; /* the submitter's: the reporter it asks for a rebuild */
} reporter_config;

/* Its messages and where they may come from. */
extern const dd_actor_def reporter_actor;

actor *reporter_spawn(const reporter_config *cfg, dp_err *err);

/* The submitter's messages (dispatch/submitter.c); cfg->rebuilder is the
 * reporter spawned before it. */
extern const dd_actor_def submitter_actor;
actor *submitter_spawn(const reporter_config *cfg, dp_err *err);

#endif

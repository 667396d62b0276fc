/* The reporter actor: dispatchd's writer to PostgreSQL, the system of record.
 *
 * submit:   validates each spec, persists the jobs (one statement), then
 *           enqueues them in Redis (one script call); a job is acknowledged
 *           only once PostgreSQL has it.
 * complete: checks the runner still owns that attempt, stores the log, and
 *           records the results in PostgreSQL in one transaction per batch
 *           (group commit on a 2 ms tick) BEFORE the jobs leave Redis; a
 *           repeated complete changes nothing and is acknowledged.
 * status, wait, queue, cancel, requeue: answered from PostgreSQL (+ Redis).
 * event:    lease and dead-job events from the leaser are persisted
 *           (state, history) and published to watchers.
 * Redis rebuild: at start and whenever the epoch marker is missing (Redis
 * flushed or replaced), queued and leased-but-unfinished jobs are put back
 * into Redis from PostgreSQL. */
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
} reporter_config;

/* Its messages and where they may come from. */
extern const dd_actor_def reporter_actor;

actor *reporter_spawn(const reporter_config *cfg, dp_err *err);

#endif

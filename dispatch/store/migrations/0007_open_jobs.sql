-- dispatch schema v7: a job's lease mark and its requeue are HOT updates.
-- The partial indexes of open jobs said "state IN ('queued', 'leased')"
-- (or "= 'queued'"). A column an index's predicate reads counts as indexed,
-- so every lease mark (queued -> leased) and every requeue wrote a new entry
-- into every index of jobs (primary key, list, submission, owner, ...): the
-- lease mark was the costliest statement per job (issue 10). They now say
-- "finished_at IS NULL", which only a transition to or from a terminal state
-- changes, and a CHECK keeps finished_at and state in step, so a statement
-- that forgot one of them fails instead of hiding a job from the indexes.

UPDATE jobs SET finished_at = coalesce(started_at, created_at)
    WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at IS NULL;
UPDATE jobs SET finished_at = NULL
    WHERE state IN ('queued', 'leased') AND finished_at IS NOT NULL;
ALTER TABLE jobs ADD CONSTRAINT jobs_open_unfinished
    CHECK ((finished_at IS NULL) = (state IN ('queued', 'leased')));

DROP INDEX jobs_unfinished_idx;
CREATE INDEX jobs_unfinished_idx ON jobs (created_at, id) WHERE finished_at IS NULL;
DROP INDEX jobs_owner_open_idx;   -- max-queued quotas count these
CREATE INDEX jobs_owner_open_idx ON jobs (owner_key)
    WHERE owner_key IS NOT NULL AND finished_at IS NULL;
DROP INDEX jobs_queued_priority;
CREATE INDEX jobs_open_priority ON jobs (priority, created_at) WHERE finished_at IS NULL;

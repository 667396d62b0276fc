-- dispatch schema v8: cheaper writes of jobs on the hot path (issue 10).
--
-- Room on every page for a job's next version. A lease mark is a HOT update
-- (migration 7) only when the new version fits on the row's page. With
-- fillfactor 80 an insert batch fills pages to 80 %, and the lease versions
-- fit only once the queued versions are pruned, which PostgreSQL skips while
-- another session's snapshot still sees them or another backend pins the
-- page: under load (2 runners x 16 slots, no-op jobs) about half the lease
-- marks were not HOT, each writing an entry into every index of jobs. At 50
-- nearly all are (docs/store.md); the price is a jobs table up to 1.6 times
-- larger. Pages written before this keep their layout until the table is
-- rewritten (VACUUM FULL).
ALTER TABLE jobs SET (fillfactor = 50);

-- jobs_open_priority (0006, 0007) served no statement: priority decides the
-- order in Redis, and an operator's look at the backlog by priority reads
-- jobs_unfinished_idx (the backlog only) and filters. Every insert paid for
-- it (6-14 % of the insert statement's time, measured interleaved).
DROP INDEX IF EXISTS jobs_open_priority;

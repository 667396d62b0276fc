-- dispatch schema v10: history rows that repeat the job row are no longer
-- written (issue 10).
--
-- A job's `queued` row (written by its insert, ts = created_at) and its
-- `completed` row (written by the result's update, ts = finished_at, with
-- the result's attempt, runner and message) said nothing the jobs row does
-- not: both came from the same statement's RETURNING, and a completed job
-- never changes again. They were a fifth of the insert's time and of the
-- result's. The view job_history is the whole history: the rows job_events
-- holds (leases, requeues, failures, cancels) and these two, made from the
-- jobs row. Ordered by seq (ascending, NULLS LAST, the default) a job's
-- history reads in order: its `queued` row has seq 0, its `completed` row
-- seq NULL.
--
-- The rows written before this are deleted once (the view makes them again).
DELETE FROM job_events WHERE state IN ('queued', 'completed');

CREATE VIEW job_history AS
    SELECT 0::bigint AS seq, id AS job_id, created_at AS ts, 'queued'::text AS state,
           0 AS attempt, NULL::text AS runner_id, NULL::text AS message
    FROM jobs
    UNION ALL
    SELECT seq, job_id, ts, state, attempt, runner_id, message FROM job_events
    UNION ALL
    SELECT NULL::bigint, id, finished_at, 'completed'::text, result_attempt, runner_id, message
    FROM jobs WHERE state = 'completed';

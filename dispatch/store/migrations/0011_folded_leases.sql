-- dispatch schema v11: a lease told with its own result writes no row
-- (issue 10).
--
-- The reporter writes a lease mark (state leased, started_at, and a
-- `leased` row in job_events) when it hears of a lease. When the attempt's
-- result reaches it before the mark was written (a no-op or short job, or
-- any job under load, where both ride in one batch), the result's update
-- overwrites everything the mark would have set except started_at, which it
-- now sets itself (store_result_in.leased_us), and the `leased` history
-- row. That row is made here from the job row instead, as the `queued` and
-- `completed` rows are (migration 10): for a completed job whose recorded
-- attempt has no `leased` row, one at started_at (finished_at if unknown)
-- with the recorded attempt and runner. seq NULL, like the `completed` row:
-- order a job's history by seq, then ts.
CREATE OR REPLACE VIEW job_history AS
    SELECT 0::bigint AS seq, id AS job_id, created_at AS ts, 'queued'::text AS state,
           0 AS attempt, NULL::text AS runner_id, NULL::text AS message
    FROM jobs
    UNION ALL
    SELECT seq, job_id, ts, state, attempt, runner_id, message FROM job_events
    UNION ALL
    SELECT NULL::bigint, j.id, coalesce(j.started_at, j.finished_at), 'leased'::text,
           j.result_attempt, j.runner_id, NULL::text
    FROM jobs j
    WHERE j.state = 'completed'
      AND NOT EXISTS (SELECT 1 FROM job_events e
                      WHERE e.job_id = j.id AND e.state = 'leased'
                        AND e.attempt = j.result_attempt)
    UNION ALL
    SELECT NULL::bigint, id, finished_at, 'completed'::text, result_attempt, runner_id, message
    FROM jobs WHERE state = 'completed';

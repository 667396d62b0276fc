-- dispatch schema v9: one index fewer on the hot path (issue 10).
--
-- jobs_submission_idx (0001) serves no statement: no route, list filter or
-- lookup asks for jobs by submission_id (it is shown, never searched). Every
-- insert wrote an entry into it, and so did every completion (finished_at is
-- in jobs_unfinished_idx's predicate, so a completion is not a HOT update and
-- writes a new entry into every index of jobs). A lookup by submission id,
-- if one is ever added, wants a partial index (WHERE submission_id IS NOT
-- NULL) made with it.
DROP INDEX IF EXISTS jobs_submission_idx;

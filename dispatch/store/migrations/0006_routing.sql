-- dispatch schema v6: routing. A job's required runner labels and its
-- priority, as columns beside the spec they come from (the rebuild reads the
-- spec; these are for queries and operators), and every profile a runner of
-- this deployment has ever offered, so that a submit naming a profile nobody
-- offers is refused even after Redis was flushed.

ALTER TABLE jobs
    ADD COLUMN labels jsonb GENERATED ALWAYS AS (coalesce(spec -> 'labels', '[]'::jsonb)) STORED,
    ADD COLUMN priority text GENERATED ALWAYS AS (coalesce(spec ->> 'priority', 'normal')) STORED;

CREATE INDEX jobs_queued_priority ON jobs (priority, created_at) WHERE state = 'queued';

CREATE TABLE offered_profiles (
    profile          text PRIMARY KEY,
    first_offered_at timestamptz NOT NULL DEFAULT now()
);

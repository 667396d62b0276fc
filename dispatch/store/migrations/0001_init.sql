-- dispatch schema v1: jobs, per-test results, runners, job state history.
-- Applied by store_open inside one transaction under an advisory lock.

CREATE TABLE jobs (
    id             text PRIMARY KEY,
    submission_id  text,
    profile        text NOT NULL,
    spec           jsonb NOT NULL,
    state          text NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'leased', 'completed', 'failed', 'cancelled')),
    verdict        text CHECK (verdict IN ('AC', 'WA', 'TLE', 'MLE', 'RE', 'OLE', 'CE', 'SE')),
    score          double precision,
    attempts       integer NOT NULL DEFAULT 0,
    max_attempts   integer,                -- NULL: the dispatcher's default
    result_attempt integer,                -- the attempt whose result was recorded
    runner_id      text,
    message        text,
    log_url        text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
) WITH (fillfactor = 80);                  -- room for the lease and result updates

-- Rebuilding Redis reads unfinished jobs oldest first; the partial index stays
-- as small as the backlog, whatever the history.
CREATE INDEX jobs_unfinished_idx ON jobs (created_at, id)
    WHERE state IN ('queued', 'leased');
CREATE INDEX jobs_submission_idx ON jobs (submission_id)
    WHERE submission_id IS NOT NULL;

-- Keyed by (job, attempt, test): a repeated complete inserts nothing. No
-- foreign key: the recording statement only inserts for jobs it just updated.
CREATE TABLE test_results (
    job_id    text NOT NULL,
    attempt   integer NOT NULL,
    idx       integer NOT NULL,
    name      text NOT NULL,
    verdict   text,
    exit_code integer,
    signal    integer,
    time_ms   bigint,
    wall_ms   bigint,
    memory_kb bigint,
    stdout    text,
    stderr    text,
    PRIMARY KEY (job_id, attempt, idx)
);

CREATE TABLE runners (
    id            text PRIMARY KEY,
    name          text,
    labels        jsonb NOT NULL DEFAULT '[]',
    capacity      integer NOT NULL DEFAULT 0,
    version       text,
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    state         text NOT NULL DEFAULT 'active'
                  CHECK (state IN ('active', 'draining', 'gone'))
);

CREATE TABLE job_events (
    seq       bigint GENERATED ALWAYS AS IDENTITY,
    job_id    text NOT NULL,
    ts        timestamptz NOT NULL DEFAULT now(),
    state     text NOT NULL,
    attempt   integer NOT NULL DEFAULT 0,
    runner_id text,
    message   text
);
CREATE INDEX job_events_job_idx ON job_events (job_id, seq);

-- dispatch schema v4: callback deliveries (the outbox of callback_url).
-- A row is written by a trigger in the very statement that makes a job with a
-- callback_url terminal (completed, failed, cancelled): the due delivery is
-- committed with the state or not at all, so a crash never loses one. The
-- callbacker (dispatch/callbacker.c) claims due rows with FOR UPDATE SKIP
-- LOCKED and leases them (next_at), so replicas never deliver one at once.

CREATE TABLE callbacks (
    delivery_id  text PRIMARY KEY,            -- X-Dispatch-Delivery: receivers de-duplicate on it
    job_id       text NOT NULL,
    url          text NOT NULL,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,  -- attempts started (raised when claimed)
    next_at      timestamptz NOT NULL DEFAULT now(), -- due then; a claim moves it past the
                                              -- attempt's timeout: the lease
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at timestamptz
);
CREATE INDEX callbacks_due_idx ON callbacks (next_at) WHERE state = 'pending';
CREATE INDEX callbacks_job_idx ON callbacks (job_id, created_at DESC);

CREATE FUNCTION dispatch_callback_due() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callbacks (delivery_id, job_id, url)
    VALUES ('d-' || replace(gen_random_uuid()::text, '-', ''), NEW.id, NEW.spec->>'callback_url');
    RETURN NULL;
END
$$;

-- Each transition into a terminal state is one delivery (a requeued job that
-- ends again is told again, under a new delivery id).
CREATE TRIGGER jobs_callback_due AFTER UPDATE OF state ON jobs FOR EACH ROW
    WHEN (NEW.state IN ('completed', 'failed', 'cancelled')
          AND OLD.state NOT IN ('completed', 'failed', 'cancelled')
          AND NEW.spec ? 'callback_url')
    EXECUTE FUNCTION dispatch_callback_due();

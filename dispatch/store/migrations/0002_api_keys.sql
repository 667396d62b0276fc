-- dispatch schema v2: API keys, the one credential of the product (HTTP,
-- dispatchctl over tcp, events), and which key submitted each job.

CREATE TABLE api_keys (
    id                 text PRIMARY KEY,            -- 16 hex: the public part of the key
    name               text NOT NULL UNIQUE,
    secret_sha256      text NOT NULL,               -- hex SHA-256 of the secret part
    scopes             integer NOT NULL CHECK (scopes BETWEEN 1 AND 7), -- 1 submit, 2 read, 4 admin
    max_queued         integer NOT NULL DEFAULT 0,  -- 0: no quota
    submits_per_minute integer NOT NULL DEFAULT 0,  -- 0: no quota
    created_at         timestamptz NOT NULL DEFAULT now(),
    revoked_at         timestamptz
);

ALTER TABLE jobs ADD COLUMN owner_key text;      -- NULL: submitted over ipc (the machine's operator)
CREATE INDEX jobs_owner_idx ON jobs (owner_key, created_at DESC) WHERE owner_key IS NOT NULL;

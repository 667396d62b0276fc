-- dispatch schema v5: GET /api/v1/jobs (everyone's jobs, newest first,
-- keyset-paged on (created_at, id)). An owner's list uses jobs_owner_idx
-- (0002); quotas use the api_keys columns of 0002.
CREATE INDEX jobs_list_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_owner_open_idx ON jobs (owner_key) WHERE owner_key IS NOT NULL AND state IN ('queued', 'leased');   -- max-queued quotas count these

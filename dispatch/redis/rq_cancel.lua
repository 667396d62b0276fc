-- cancel: ARGV = job_id, tombstone_ms. Removes the job from wherever it is
-- and leaves the tombstone "cancelled" (a later complete is a conflict).
-- Returns 0 cancelled, 1 already cancelled, 4 already completed, 5 not found.
-- A job not found gets the tombstone too: PostgreSQL cancelled it, and its
-- enqueue may still be on its way (the submitter commits, then enqueues;
-- the job list shows it in between), which the tombstone then turns away.
local id, ttl = ARGV[1], ARGV[2]
local jk = job_key(id)
local j = redis.pcall('HMGET', jk, 'state', 'leased_by', 'queue', 'prio')
if j.err then
    if redis.call('GET', jk) == 'cancelled' then return 1 end
    return 4
end
if not j[1] then
    redis.call('SET', jk, 'cancelled', 'PX', ttl)
    return 5
end
if j[1] == 'queued' then
    -- O(that queue's length): an admin action. An emptied queue stays in
    -- its ready set until a lease finds it empty.
    redis.call('LREM', queue_key(j[3] or ':', j[4] or 'n'), 1, id)
elseif j[1] == 'leased' then
    redis.call('SREM', K_LEASED, id)
    redis.call('SREM', runner_key(j[2]) .. ':jobs', id)
elseif j[1] == 'dead' then
    redis.call('LREM', K_DEAD, 1, id)
end
redis.call('SET', jk, 'cancelled', 'PX', ttl)
return 0

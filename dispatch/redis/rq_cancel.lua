-- cancel: ARGV = job_id, tombstone_ms. Removes the job from wherever it is
-- and leaves the tombstone "cancelled" (a later complete is a conflict).
-- Returns 0 cancelled, 1 already cancelled, 4 already completed, 5 not found.
local id, ttl = ARGV[1], ARGV[2]
local jk = job_key(id)
local j = redis.pcall('HMGET', jk, 'state', 'leased_by')
if j.err then
    if redis.call('GET', jk) == 'cancelled' then return 1 end
    return 4
end
if not j[1] then return 5 end
if j[1] == 'queued' then
    redis.call('LREM', K_PENDING, 1, id) -- O(pending): an admin action
elseif j[1] == 'leased' then
    redis.call('SREM', K_LEASED, id)
    redis.call('SREM', runner_key(j[2]) .. ':jobs', id)
elseif j[1] == 'dead' then
    redis.call('LREM', K_DEAD, 1, id)
end
redis.call('SET', jk, 'cancelled', 'PX', ttl)
return 0

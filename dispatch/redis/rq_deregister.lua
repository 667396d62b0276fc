-- deregister: ARGV = runner_id. A graceful stop: the runner's leased jobs go
-- back to the head of their own queues at once (no attempt is failed for
-- it), and the runner is forgotten. Returns the number released, or -1 for
-- unknown.
local id = ARGV[1]
local rk = runner_key(id)
if redis.call('EXISTS', rk) == 0 then return -1 end
local jobs = redis.call('SMEMBERS', rk .. ':jobs')
local back, groups = {}, {}
for _, jid in ipairs(jobs) do
    local jk = job_key(jid)
    local j = redis.pcall('HMGET', jk, 'state', 'leased_by', 'queue', 'prio')
    if not j.err and j[1] == 'leased' and j[2] == id then
        redis.call('HSET', jk, 'state', 'queued')
        back[#back + 1] = jid
        group_add(groups, j[3], j[4], jid)
    end
end
if #back > 0 then
    push_all('SREM', K_LEASED, back)
    push_groups('LPUSH', groups)
end
redis.call('DEL', rk, rk .. ':jobs', rk .. ':token', rk .. ':queues')
redis.call('SREM', K_RUNNERS, id)
redis.call('ZREM', K_ALIVE, id)
return #back

-- deregister: ARGV = runner_id. A graceful stop: the runner's leased jobs go
-- back to the head of pending at once (no attempt is failed for it), and the
-- runner is forgotten. Returns the number released, or -1 for unknown.
local id = ARGV[1]
local rk = runner_key(id)
if redis.call('EXISTS', rk) == 0 then return -1 end
local jobs = redis.call('SMEMBERS', rk .. ':jobs')
local back = {}
for _, jid in ipairs(jobs) do
    local jk = job_key(jid)
    local j = redis.pcall('HMGET', jk, 'state', 'leased_by')
    if not j.err and j[1] == 'leased' and j[2] == id then
        redis.call('HSET', jk, 'state', 'queued')
        back[#back + 1] = jid
    end
end
if #back > 0 then
    push_all('SREM', K_LEASED, back)
    wake_if_was_empty(push_all('LPUSH', K_PENDING, back), #back)
end
redis.call('DEL', rk, rk .. ':jobs', rk .. ':token')
redis.call('SREM', K_RUNNERS, id)
redis.call('ZREM', K_ALIVE, id)
return #back

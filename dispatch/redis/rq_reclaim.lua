-- reclaim one expired runner: ARGV = runner_id, alive_ttl_ms, keep_ms.
-- Re-checks the deadline with the server's clock (a heartbeat may have
-- raced the sweep), then moves each job the runner still holds back to the
-- head of pending, or to dead with a reason when its attempts are used up.
-- The runner keeps its hash (marked lost, for `runners`) for keep_ms; its
-- token goes, so it must re-register. Returns {code, requeued, dead}: code 1
-- reaped, 0 already gone, -1 alive again.
local id = ARGV[1]
local now = now_ms()
local dl = redis.call('ZSCORE', K_ALIVE, id)
if not dl then return {0, 0, 0} end
dl = tonumber(dl)
if dl > now then return {-1, 0, 0} end
local rk = runner_key(id)
local jobs = redis.call('SMEMBERS', rk .. ':jobs')
local back, dead, held = {}, {}, {}
for _, jid in ipairs(jobs) do
    local jk = job_key(jid)
    local j = redis.pcall('HMGET', jk, 'state', 'leased_by', 'attempts', 'max_attempts')
    if not j.err and j[1] == 'leased' and j[2] == id then
        held[#held + 1] = jid
        local a, m = tonumber(j[3]), tonumber(j[4])
        if a >= m then
            redis.call('HSET', jk, 'state', 'dead', 'reason', 'runner ' .. id ..
                ' was lost during attempt ' .. a .. ' of ' .. m)
            dead[#dead + 1] = jid
        else
            redis.call('HSET', jk, 'state', 'queued')
            back[#back + 1] = jid
        end
    end
end
if #held > 0 then push_all('SREM', K_LEASED, held) end
if #back > 0 then wake_if_was_empty(push_all('LPUSH', K_PENDING, back), #back) end
if #dead > 0 then push_all('RPUSH', K_DEAD, dead) end
redis.call('DEL', rk .. ':jobs', rk .. ':token')
redis.call('ZREM', K_ALIVE, id)
if redis.call('EXISTS', rk) == 1 then
    redis.call('HSET', rk, 'lost', 1, 'last_seen', dl - tonumber(ARGV[2]))
    redis.call('PEXPIRE', rk, ARGV[3])
end
return {1, #back, #dead}

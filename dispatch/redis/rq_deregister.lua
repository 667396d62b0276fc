-- deregister: ARGV = runner_id, hold_ms. A graceful stop: the runner's leased jobs go
-- back to the head of their own queues at once (no attempt is failed for
-- it), and the runner is forgotten. Returns the number released, or -1 for
-- unknown.
-- A job whose result is on its way to PostgreSQL (result_in_flight) is not
-- released: it stays leased to the runner, in its job set, and the runner
-- is handed to the reaper (the marker member '~<id>' in the alive set, as a
-- reclaim left unfinished), which takes the job once the mark is hold_ms
-- old unless the complete script removed it first.
local id = ARGV[1]
local hold = tonumber(ARGV[2] or '0')
local rk = runner_key(id)
if redis.call('EXISTS', rk) == 0 then return -1 end
local jobs = redis.call('SMEMBERS', rk .. ':jobs')
local back, groups, kept = {}, {}, {}
local now = nil
for _, jid in ipairs(jobs) do
    local jk = job_key(jid)
    local j = redis.pcall('HMGET', jk, 'state', 'leased_by', 'queue', 'prio', 'attempts',
        'completing')
    if not j.err and j[1] == 'leased' and j[2] == id then
        if j[6] then now = now or now_ms() end
        if j[6] and result_in_flight(j[6], j[5], now, hold) then
            kept[#kept + 1] = jid
        else
            redis.call('HSET', jk, 'state', 'queued')
            back[#back + 1] = jid
            group_add(groups, j[3], j[4], jid)
        end
    end
end
if #back > 0 then
    push_all('SREM', K_LEASED, back)
    push_groups('LPUSH', groups)
end
redis.call('DEL', rk, rk .. ':jobs', rk .. ':token', rk .. ':queues')
redis.call('SREM', K_RUNNERS, id)
redis.call('ZREM', K_ALIVE, id)
if #kept > 0 then
    push_all('SADD', rk .. ':jobs', kept)
    redis.call('ZADD', K_ALIVE, 0, '~' .. id)
end
return #back

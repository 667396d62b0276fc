-- reclaim an expired runner, in chunks: ARGV = runner_id, alive_ttl_ms,
-- keep_ms, chunk (jobs per call; 0 = all in this call), hold_ms.
-- The first call re-checks the deadline with the server's clock (a heartbeat
-- may have raced the sweep) and, in that same call, takes the runner out of
-- the living for good: out of the alive set (a marker member '~<id>' with
-- score 0 stands in, so the sweep finds an unfinished reclaim again even if
-- this reaper dies), token deleted, hash marked lost. From then on its
-- heartbeat, lease and complete are refused, so nobody ever sees a
-- half-reclaimed runner as alive. Each call then moves up to `chunk` of the
-- jobs it still holds back to the head of its own queue (qid x priority), or to dead with a reason
-- when their attempts are used up; the call that empties the set removes
-- the marker and lets the hash expire after keep_ms.
-- A job whose result is on its way to PostgreSQL (result_in_flight: marked
-- by the owner check less than hold_ms ago) is left leased to the lost
-- runner and stays in its job set: the complete script removes it once the
-- result is recorded, and a later sweep takes it once the mark is older
-- (the marker member stays until then). Such jobs do not count against the
-- chunk, so a call never spins on them.
-- Returns {code, requeued, dead, held, id, attempt, id, attempt...}: code 1
-- reaped (done), 2 more jobs left (call again), 3 only jobs with a result in
-- flight left (sweep again later), 0 already gone, -1 alive again; then each
-- job this call requeued with the attempt it lost (for its `requeued`
-- history).
local id = ARGV[1]
local chunk = tonumber(ARGV[4] or '0')
local marker = '~' .. id
local rk = runner_key(id)
local now = now_ms()
local dl = redis.call('ZSCORE', K_ALIVE, id)
if dl then
    dl = tonumber(dl)
    if dl > now then return {-1, 0, 0, 0} end
    redis.call('ZREM', K_ALIVE, id)
    redis.call('ZADD', K_ALIVE, 0, marker)
    redis.call('DEL', rk .. ':token')
    if redis.call('EXISTS', rk) == 1 then
        redis.call('HSET', rk, 'lost', 1, 'last_seen', dl - tonumber(ARGV[2]))
    end
elseif not redis.call('ZSCORE', K_ALIVE, marker) then
    return {0, 0, 0, 0}
end
local hold = tonumber(ARGV[5] or '0')
local back, dead, moved, lost, kept = {}, {}, {}, {}, {}
local groups = {}
local function take(jid)
    local jk = job_key(jid)
    local j = redis.pcall('HMGET', jk, 'state', 'leased_by', 'attempts', 'max_attempts', 'queue',
        'prio', 'completing')
    if j.err or j[1] ~= 'leased' or j[2] ~= id then return true end
    if result_in_flight(j[7], j[3], now, hold) then
        kept[#kept + 1] = jid
        return false
    end
    moved[#moved + 1] = jid
    local a, m = tonumber(j[3]), tonumber(j[4])
    if a >= m then
        redis.call('HSET', jk, 'state', 'dead', 'reason', 'runner ' .. id ..
            ' was lost during attempt ' .. a .. ' of ' .. m)
        dead[#dead + 1] = jid
    else
        redis.call('HSET', jk, 'state', 'queued')
        back[#back + 1] = jid
        group_add(groups, j[5], j[6], jid)
        lost[#lost + 1] = jid
        lost[#lost + 1] = a
    end
    return true
end
if chunk > 0 then
    -- pop until a chunk was taken or the set is empty; kept jobs go back below
    local left = chunk
    while left > 0 do
        local got = redis.call('SPOP', rk .. ':jobs', left)
        if #got == 0 then break end
        for _, jid in ipairs(got) do
            if take(jid) then left = left - 1 end
        end
    end
else
    for _, jid in ipairs(redis.call('SMEMBERS', rk .. ':jobs')) do take(jid) end
    redis.call('DEL', rk .. ':jobs')
end
if #kept > 0 then push_all('SADD', rk .. ':jobs', kept) end
if #moved > 0 then push_all('SREM', K_LEASED, moved) end
-- Back to the head of each job's own queue, at its own priority.
push_groups('LPUSH', groups)
if #dead > 0 then push_all('RPUSH', K_DEAD, dead) end
local function answer(code)
    local out = {code, #back, #dead, #kept}
    for i = 1, #lost do out[#out + 1] = lost[i] end
    return out
end
if chunk > 0 and redis.call('SCARD', rk .. ':jobs') > #kept then return answer(2) end
if #kept > 0 then return answer(3) end
redis.call('DEL', rk .. ':jobs', rk .. ':queues')
redis.call('ZREM', K_ALIVE, marker)
if redis.call('EXISTS', rk) == 1 then redis.call('PEXPIRE', rk, ARGV[3]) end
return answer(1)

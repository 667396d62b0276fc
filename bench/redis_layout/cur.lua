-- bench/redis_layout/cur.lua: today's layout, per-job part only (a hash per
-- job, a string tombstone with a TTL per job). ARGV[1] = phase, then:
-- enqueue: spec, ids...; lease: runner, k; check/complete: runner, then
-- (id, attempt) pairs. KEYS[1] = prefix. Not deployed: bench/redis_layout.py.
local P, phase = KEYS[1], ARGV[1]
local function jk(id) return P .. 'job:' .. id end
if phase == 'enqueue' then
    local spec, keys, ids = ARGV[2], {}, {}
    for i = 3, #ARGV do keys[#keys + 1] = jk(ARGV[i]); ids[#ids + 1] = ARGV[i] end
    local any = redis.call('EXISTS', unpack(keys)) > 0
    for i = 1, #ids do
        if not any or redis.call('EXISTS', keys[i]) == 0 then
            redis.call('HSET', keys[i], 'spec', spec, 'max_attempts', '3', 'attempts', '0',
                'state', 'queued', 'queue', 'shell:', 'prio', 'n')
        end
    end
    return redis.call('RPUSH', P .. 'q', unpack(ids))
elseif phase == 'lease' then
    local rid, k = ARGV[2], tonumber(ARGV[3])
    local ids = redis.call('LPOP', P .. 'q', k) or {}
    local out, got = {}, {}
    local t = redis.call('TIME')
    local now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
    for _, id in ipairs(ids) do
        local j = redis.pcall('HMGET', jk(id), 'spec', 'attempts', 'state')
        if not j.err and j[3] == 'queued' then
            local att = tostring(tonumber(j[2]) + 1)
            redis.call('HSET', jk(id), 'state', 'leased', 'leased_by', rid, 'leased_at', now,
                'attempts', att)
            got[#got + 1] = id
            out[#out + 1] = id; out[#out + 1] = att; out[#out + 1] = j[1]
        end
    end
    if #got > 0 then
        redis.call('SADD', P .. 'leased', unpack(got))
        redis.call('SADD', P .. 'runner:' .. rid .. ':jobs', unpack(got))
    end
    return out
elseif phase == 'check' then
    local rid, out = ARGV[2], {}
    local t = redis.call('TIME')
    local now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
    for i = 3, #ARGV, 2 do
        local j = redis.pcall('HMGET', jk(ARGV[i]), 'state', 'leased_by', 'attempts', 'max_attempts')
        local ok = not j.err and j[1] == 'leased' and j[2] == rid and j[3] == ARGV[i + 1]
        if ok then redis.call('HSET', jk(ARGV[i]), 'completing', ARGV[i + 1] .. ':' .. now) end
        out[#out + 1] = ok and 0 or 2
    end
    return out
elseif phase == 'complete' then
    local rid, out, done = ARGV[2], {}, {}
    for i = 3, #ARGV, 2 do
        local id, att = ARGV[i], ARGV[i + 1]
        local j = redis.pcall('HMGET', jk(id), 'state', 'leased_by', 'attempts')
        if not j.err and j[1] == 'leased' and j[2] == rid and j[3] == att then
            redis.call('SET', jk(id), 'completed ' .. rid .. ' ' .. att, 'PX', 3600000)
            done[#done + 1] = id
            out[#out + 1] = 0
        else
            out[#out + 1] = 2
        end
    end
    if #done > 0 then
        redis.call('SREM', P .. 'leased', unpack(done))
        redis.call('SREM', P .. 'runner:' .. rid .. ':jobs', unpack(done))
    end
    return out
end
return redis.error_reply('unknown phase ' .. tostring(phase))

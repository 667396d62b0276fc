-- bench/redis_layout/batch.lua: the per-batch layout under study (issue 10:
-- Redis <= 15 us per job). Every job's state is one field of P st, its spec
-- one field of P spec, so a batch touches each structure with one command,
-- whatever its size: st values "q|<attempts>", "l|<attempt>|<runner>|<ms>"
-- (a result in flight appends "|m<ms>"), tombstones "c|<runner>|<attempt>".
-- Tombstones leave P st in batches: complete pushes the batch's ids on the
-- current bucket list P tb:<minute>, and the sweep phase drops a bucket's ids
-- (HDEL) and the list, the work a TTL does today. Same ARGV as cur.lua, plus
-- phase sweep: bucket. Not deployed: bench/redis_layout.py.
local P, phase = KEYS[1], ARGV[1]
local ST, SPEC = P .. 'st', P .. 'spec'
local function now_ms()
    local t = redis.call('TIME')
    return t[1] * 1000 + math.floor(t[2] / 1000)
end
if phase == 'enqueue' then
    local spec, ids = ARGV[2], {}
    for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
    local have = redis.call('HMGET', ST, unpack(ids))
    local st, sp, add = {}, {}, {}
    for i, id in ipairs(ids) do
        if not have[i] then
            st[#st + 1] = id; st[#st + 1] = 'q|0'
            sp[#sp + 1] = id; sp[#sp + 1] = spec
            add[#add + 1] = id
        end
    end
    if #add == 0 then return 0 end
    redis.call('HSET', SPEC, unpack(sp))
    redis.call('HSET', ST, unpack(st))
    return redis.call('RPUSH', P .. 'q', unpack(add))
elseif phase == 'lease' then
    local rid, k = ARGV[2], tonumber(ARGV[3])
    local ids = redis.call('LPOP', P .. 'q', k)
    if not ids then return {} end
    local st = redis.call('HMGET', ST, unpack(ids))
    local sp = redis.call('HMGET', SPEC, unpack(ids))
    local now = tostring(now_ms())
    local out, got, set = {}, {}, {}
    for i, id in ipairs(ids) do
        local s = st[i]
        if s and string.byte(s, 1) == 113 then -- 'q'
            local att = tostring(tonumber(string.sub(s, 3)) + 1)
            set[#set + 1] = id; set[#set + 1] = 'l|' .. att .. '|' .. rid .. '|' .. now
            got[#got + 1] = id
            out[#out + 1] = id; out[#out + 1] = att; out[#out + 1] = sp[i]
        end
    end
    if #got > 0 then
        redis.call('HSET', ST, unpack(set))
        redis.call('SADD', P .. 'leased', unpack(got))
        redis.call('SADD', P .. 'runner:' .. rid .. ':jobs', unpack(got))
    end
    return out
elseif phase == 'check' then
    local rid, ids, out, set = ARGV[2], {}, {}, {}
    for i = 3, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
    local st = redis.call('HMGET', ST, unpack(ids))
    local now = tostring(now_ms())
    for i, id in ipairs(ids) do
        local want = 'l|' .. ARGV[2 * i + 2] .. '|' .. rid .. '|'
        local s = st[i]
        if s and string.sub(s, 1, #want) == want then
            set[#set + 1] = id; set[#set + 1] = s .. '|m' .. now
            out[#out + 1] = 0
        else
            out[#out + 1] = 2
        end
    end
    if #set > 0 then redis.call('HSET', ST, unpack(set)) end
    return out
elseif phase == 'complete' then
    local rid, ids, out, set, done = ARGV[2], {}, {}, {}, {}
    for i = 3, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
    local st = redis.call('HMGET', ST, unpack(ids))
    for i, id in ipairs(ids) do
        local att = ARGV[2 * i + 2]
        local want = 'l|' .. att .. '|' .. rid .. '|'
        local s = st[i]
        if s and string.sub(s, 1, #want) == want then
            set[#set + 1] = id; set[#set + 1] = 'c|' .. rid .. '|' .. att
            done[#done + 1] = id
            out[#out + 1] = 0
        else
            out[#out + 1] = 2
        end
    end
    if #done > 0 then
        redis.call('HSET', ST, unpack(set))
        redis.call('HDEL', SPEC, unpack(done))
        redis.call('RPUSH', P .. 'tb:' .. math.floor(now_ms() / 60000), unpack(done))
        redis.call('SREM', P .. 'leased', unpack(done))
        redis.call('SREM', P .. 'runner:' .. rid .. ':jobs', unpack(done))
    end
    return out
elseif phase == 'sweep' then
    local key, n = P .. 'tb:' .. ARGV[2], 0
    while true do
        local ids = redis.call('LPOP', key, 1000)
        if not ids then break end
        n = n + redis.call('HDEL', ST, unpack(ids))
    end
    return n
end
return redis.error_reply('unknown phase ' .. tostring(phase))

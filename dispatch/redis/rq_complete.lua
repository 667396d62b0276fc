-- complete: ARGV = default runner_id, tombstone_ms, n, then n x (job_id,
-- attempt, runner_id or "" for the default), then the events stream MAXLEN,
-- m, m event blobs: one call completes a batch of several runners' jobs and
-- adds the caller's events to the shared stream P events (rq_events.h;
-- opaque here, best effort: pcall).
-- Per job: 0 accepted, 1 repeated identical complete, 2 conflict (another
-- owner or attempt), 3 conflict (cancelled), 4 conflict (already terminal:
-- dead or completed by another attempt), 5 not found.
-- The job hash is replaced by a short-lived string tombstone
-- "completed <runner> <attempt>" (one SET ... PX frees the spec at once).
local def, ttl, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local res, done, by_runner = {}, {}, {}
for i = 0, n - 1 do
    local id, att, rid = ARGV[4 + 3 * i], ARGV[5 + 3 * i], ARGV[6 + 3 * i]
    if rid == '' then rid = def end
    local jk = job_key(id)
    local j = redis.pcall('HMGET', jk, 'state', 'leased_by', 'attempts')
    local code
    if j.err then
        local s = redis.call('GET', jk)
        if s == 'completed ' .. rid .. ' ' .. att then
            code = 1
        elseif s == 'cancelled' then
            code = 3
        else
            code = 4
        end
    elseif not j[1] then
        code = 5
    elseif j[1] == 'leased' and j[2] == rid and j[3] == att then
        redis.call('SET', jk, 'completed ' .. rid .. ' ' .. att, 'PX', ttl)
        done[#done + 1] = id
        local mine = by_runner[rid]
        if not mine then
            mine = {}
            by_runner[rid] = mine
        end
        mine[#mine + 1] = id
        code = 0
    elseif j[1] == 'dead' then
        code = 4
    else
        code = 2
    end
    res[#res + 1] = code
end
if #done > 0 then
    push_all('SREM', K_LEASED, done)
    for rid, ids in pairs(by_runner) do
        push_all('SREM', runner_key(rid) .. ':jobs', ids)
    end
end
local e = 4 + 3 * n
local maxlen, m = ARGV[e], tonumber(ARGV[e + 1] or '0') or 0
for i = 1, m do
    redis.pcall('XADD', P .. 'events', 'MAXLEN', '~', maxlen, '*', 'e', ARGV[e + 1 + i])
end
return res

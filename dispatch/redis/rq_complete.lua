-- complete: ARGV = runner_id, tombstone_ms, n, then n x (job_id, attempt).
-- Per job: 0 accepted, 1 repeated identical complete, 2 conflict (another
-- owner or attempt), 3 conflict (cancelled), 4 conflict (already terminal:
-- dead or completed by another attempt), 5 not found.
-- The job hash is replaced by a short-lived string tombstone
-- "completed <runner> <attempt>" (one SET ... PX frees the spec at once).
local rid, ttl, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local res, done = {}, {}
for i = 0, n - 1 do
    local id, att = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
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
    push_all('SREM', runner_key(rid) .. ':jobs', done)
end
return res

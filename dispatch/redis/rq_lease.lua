-- lease: ARGV = runner_id, k, request_id ('' for none).
-- Returns {code, ...}: code 0 then (job_id, attempt, spec) triples; code 5 when
-- the runner is unknown or was reaped (it must re-register).
local rid, k, req = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local rk = runner_key(rid)
local r = redis.call('HMGET', rk, 'draining', 'lost', 'last_req', 'last_resp')
if not r[1] or r[2] == '1' then return {5} end
local out = {0}
if req ~= '' and r[3] == req and (r[4] or '') ~= '' then
    -- A retry whose answer was lost: hand back what that request got and
    -- still holds, never a second set of jobs. (A request that got nothing
    -- may claim afresh: a parked long-poll is retried this way.)
    for ent in string.gmatch(r[4] or '', '[^ ]+') do
        local id, att = string.match(ent, '^(.*):(%d+)$')
        local j = redis.pcall('HMGET', job_key(id), 'spec', 'attempts', 'leased_by', 'state')
        if not j.err and j[4] == 'leased' and j[3] == rid and j[2] == att then
            out[#out + 1] = id
            out[#out + 1] = tonumber(att)
            out[#out + 1] = j[1]
        end
    end
    return out
end
if r[1] == '1' then return out end
local now = now_ms()
local got, resp = {}, {}
local rounds = 0
-- Stale ids (cancelled or already moved) are skipped; pop again, boundedly.
while #got < k and rounds < 4 do
    rounds = rounds + 1
    local ids = redis.call('LPOP', K_PENDING, k - #got)
    if not ids then break end
    for _, id in ipairs(ids) do
        local jk = job_key(id)
        local j = redis.pcall('HMGET', jk, 'spec', 'attempts', 'state')
        if not j.err and j[3] == 'queued' then
            local att = tonumber(j[2]) + 1
            redis.call('HSET', jk, 'state', 'leased', 'leased_by', rid, 'leased_at', now,
                'attempts', att)
            got[#got + 1] = id
            resp[#resp + 1] = id .. ':' .. att
            out[#out + 1] = id
            out[#out + 1] = att
            out[#out + 1] = j[1]
        end
    end
end
if #got > 0 then
    push_all('SADD', K_LEASED, got)
    push_all('SADD', rk .. ':jobs', got)
end
if req ~= '' then
    redis.call('HSET', rk, 'last_req', req, 'last_resp', table.concat(resp, ' '))
end
return out

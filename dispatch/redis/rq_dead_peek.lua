-- dead peek: ARGV = max. Returns (job_id, attempts, reason) triples for the
-- oldest dead jobs without removing them (see dead_ack).
local ids = redis.call('LRANGE', K_DEAD, 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
    local j = redis.pcall('HMGET', job_key(id), 'attempts', 'reason', 'state')
    if not j.err and j[3] == 'dead' then
        out[#out + 1] = id
        out[#out + 1] = tonumber(j[1])
        out[#out + 1] = j[2]
    end
end
return out

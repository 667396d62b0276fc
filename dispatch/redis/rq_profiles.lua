-- profiles: what the live runners offer, from their registrations (the
-- `profiles` field of each runner hash, comma-joined). ARGV = alive_ttl_ms.
-- Returns a flat array, sorted by name: name, live runners, their summed
-- capacity, newest heartbeat (ms since the epoch), per profile. Draining
-- runners are left out: they take no new jobs.
local now, ttl = now_ms(), tonumber(ARGV[1])
local agg, names = {}, {}
for _, id in ipairs(redis.call('SMEMBERS', K_RUNNERS)) do
    local deadline = tonumber(redis.call('ZSCORE', K_ALIVE, id) or '0')
    if deadline > now then
        local h = redis.call('HMGET', runner_key(id), 'profiles', 'capacity', 'draining')
        if h[1] and h[1] ~= '' and h[3] ~= '1' then
            for name in string.gmatch(h[1], '[^,]+') do
                -- '*': a runner that sent no list takes every profile but
                -- offers none by name (rq_register.lua)
                if name == '*' then break end
                local a = agg[name]
                if not a then
                    a = {0, 0, 0}
                    agg[name] = a
                    names[#names + 1] = name
                end
                a[1] = a[1] + 1
                a[2] = a[2] + (tonumber(h[2]) or 0)
                a[3] = math.max(a[3], deadline - ttl)
            end
        end
    end
end
table.sort(names)
local out = {}
for _, name in ipairs(names) do
    local a = agg[name]
    out[#out + 1] = name
    out[#out + 1] = a[1]
    out[#out + 1] = a[2]
    out[#out + 1] = a[3]
end
return out

-- requeue --dead: ARGV = max. Moves up to max dead jobs to the tail of
-- pending with attempts reset. Returns {moved, dead_left}.
local ids = redis.call('LPOP', K_DEAD, tonumber(ARGV[1]))
local moved = {}
if ids then
    for _, id in ipairs(ids) do
        local jk = job_key(id)
        local j = redis.pcall('HGET', jk, 'state')
        if j == 'dead' then
            redis.call('HSET', jk, 'state', 'queued', 'attempts', 0, 'reason', '')
            moved[#moved + 1] = id
        end
    end
end
if #moved > 0 then
    wake_if_was_empty(push_all('RPUSH', K_PENDING, moved), #moved)
end
return {#moved, redis.call('LLEN', K_DEAD)}

-- requeue --dead: ARGV = max. Moves up to max dead jobs to the tail of their
-- own queues with attempts reset. Returns {moved, dead_left}.
local ids = redis.call('LPOP', K_DEAD, tonumber(ARGV[1]))
local moved, groups = 0, {}
if ids then
    for _, id in ipairs(ids) do
        local jk = job_key(id)
        local j = redis.pcall('HMGET', jk, 'state', 'queue', 'prio')
        if not j.err and j[1] == 'dead' then
            redis.call('HSET', jk, 'state', 'queued', 'attempts', 0, 'reason', '')
            group_add(groups, j[2], j[3], id)
            moved = moved + 1
        end
    end
end
push_groups('RPUSH', groups)
return {moved, redis.call('LLEN', K_DEAD)}

-- requeue one job: ARGV = job_id, hold_ms. A leased job goes back to the head of its
-- own queue (its attempt stays counted); a dead job goes back with attempts
-- reset. Returns 0 moved, 1 already pending, 4 terminal (completed or
-- cancelled), 5 not found, 6 leased with a result on its way to PostgreSQL
-- (result_in_flight: left alone, so no newer attempt exists before that
-- result is decided; asked again later, it moves).
local id = ARGV[1]
local hold = tonumber(ARGV[2] or '0')
local jk = job_key(id)
local j = redis.pcall('HMGET', jk, 'state', 'leased_by', 'queue', 'prio', 'attempts', 'completing')
if j.err then return 4 end
if not j[1] then return 5 end
if j[1] == 'queued' then return 1 end
if j[1] == 'leased' then
    if j[6] and result_in_flight(j[6], j[5], now_ms(), hold) then return 6 end
    redis.call('SREM', K_LEASED, id)
    redis.call('SREM', runner_key(j[2]) .. ':jobs', id)
    redis.call('HSET', jk, 'state', 'queued')
elseif j[1] == 'dead' then
    redis.call('LREM', K_DEAD, 1, id)
    redis.call('HSET', jk, 'state', 'queued', 'attempts', 0, 'reason', '')
else
    return 4
end
local groups = {}
group_add(groups, j[3], j[4], id)
push_groups('LPUSH', groups)
return 0

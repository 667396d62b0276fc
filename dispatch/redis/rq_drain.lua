-- drain: ARGV = runner_id, flag (1 drain, 0 resume). Returns 0, or 5 for an
-- unknown or lost runner.
local rk = runner_key(ARGV[1])
local r = redis.call('HMGET', rk, 'name', 'lost')
if not r[1] or r[2] == '1' then return 5 end
redis.call('HSET', rk, 'draining', ARGV[2])
return 0

-- register: ARGV = runner_id, token_sha256_hex, name, labels (comma-joined),
-- capacity, version, alive_ttl_ms. Returns 0.
local id = ARGV[1]
local rk = runner_key(id)
local now = now_ms()
redis.call('HSET', rk, 'name', ARGV[3], 'labels', ARGV[4], 'capacity', ARGV[5],
    'version', ARGV[6], 'registered_at', now, 'last_seen', now, 'draining', 0)
redis.call('SET', rk .. ':token', ARGV[2])
redis.call('SADD', K_RUNNERS, id)
redis.call('ZADD', K_ALIVE, now + tonumber(ARGV[7]), id)
return 0

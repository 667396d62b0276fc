-- register: ARGV = runner_id, token_sha256_hex, name, labels (comma-joined),
-- capacity, version, alive_ttl_ms, profiles (comma-joined; '*' = every
-- profile). The runner's queue set is computed here, once: every known queue
-- whose profile it offers and whose labels it carries (O(queues)); new
-- queues are added by the enqueue that creates them. Its profiles join
-- P profiles (every profile any runner ever offered). Returns 0.
local id = ARGV[1]
local rk = runner_key(id)
local now = now_ms()
redis.call('HSET', rk, 'name', ARGV[3], 'labels', ARGV[4], 'capacity', ARGV[5],
    'version', ARGV[6], 'registered_at', now, 'last_seen', now, 'draining', 0,
    'profiles', ARGV[8])
redis.call('SET', rk .. ':token', ARGV[2])
redis.call('SADD', K_RUNNERS, id)
redis.call('ZADD', K_ALIVE, now + tonumber(ARGV[7]), id)
local profiles, labels = csv_set(ARGV[8]), csv_set(ARGV[4]) or {}
local mine = {}
for _, qid in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
    if covers(profiles, labels, qid) then mine[#mine + 1] = qid end
end
redis.call('DEL', rk .. ':queues')
if #mine > 0 then push_all('SADD', rk .. ':queues', mine) end
if profiles then
    local list = {}
    for p in pairs(profiles) do list[#list + 1] = p end
    if #list > 0 then push_all('SADD', P .. 'profiles', list) end
end
return 0

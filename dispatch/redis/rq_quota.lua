-- quota: an API key's submits-per-minute counter. KEYS[7] = the counter of
-- this key and this minute window (built from the prefix: same hash tag);
-- ARGV = limit, n (submits wanted; negative: give back -n unused ones),
-- window_ms (the counter outlives its window by one window, then expires).
-- Returns how many of the n were granted (0..n), all or some: a batch
-- takes what fits.
local k = KEYS[7]
local limit, n, win = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if n < 0 then
    if tonumber(redis.call('GET', k) or '0') >= -n then
        redis.call('DECRBY', k, -n)
    end
    return 0
end
local used = tonumber(redis.call('GET', k) or '0')
local grant = math.max(0, math.min(n, limit - used))
if grant > 0 then
    redis.call('INCRBY', k, grant)
    redis.call('PEXPIRE', k, 2 * win)
end
return grant

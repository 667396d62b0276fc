-- enqueue: ARGV = n, then n x (job_id, spec, max_attempts, attempts).
-- A job id that already exists is left alone, so a retried batch after a lost
-- reply adds nothing twice. Returns the number of jobs added.
local n = tonumber(ARGV[1])
local now = now_ms()
local ids = {}
for i = 0, n - 1 do
    local b = 2 + i * 4
    local jk = job_key(ARGV[b])
    if redis.call('EXISTS', jk) == 0 then
        redis.call('HSET', jk, 'spec', ARGV[b + 1], 'max_attempts', ARGV[b + 2],
            'attempts', ARGV[b + 3], 'state', 'queued', 'created_at', now)
        ids[#ids + 1] = ARGV[b]
    end
end
if #ids > 0 then
    wake_if_was_empty(push_all('RPUSH', K_PENDING, ids), #ids)
end
return #ids

-- owner check (read-only): ARGV = job ids. Per job: {state, leased_by,
-- attempts, max_attempts} for a live hash, the tombstone string a complete
-- or cancel left, or false when the key is gone. The reporter checks this
-- before it records a result, so a stale owner's result never lands.
local out = {}
for i, id in ipairs(ARGV) do
    local jk = job_key(id)
    local t = redis.call('TYPE', jk).ok
    if t == 'hash' then
        out[i] = redis.call('HMGET', jk, 'state', 'leased_by', 'attempts', 'max_attempts')
    elseif t == 'string' then
        out[i] = redis.call('GET', jk)
    else
        out[i] = false
    end
end
return out

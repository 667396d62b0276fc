-- dead ack: ARGV = job ids the reporter has recorded as failed. Removes them
-- from the dead list and deletes their job hashes. Returns the count removed.
local n = 0
for _, id in ipairs(ARGV) do
    local jk = job_key(id)
    if redis.call('LREM', K_DEAD, 1, id) > 0 then
        n = n + 1
        local j = redis.pcall('HGET', jk, 'state')
        if j == 'dead' then redis.call('DEL', jk) end
    end
end
return n

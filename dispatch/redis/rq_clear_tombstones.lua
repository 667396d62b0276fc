-- clear tombstones: ARGV = job ids PostgreSQL holds as unfinished again (an
-- operator requeued them). Deletes their string tombstones so an enqueue adds
-- them instead of skipping an existing key; live job hashes stay. Returns the
-- count deleted.
local n = 0
for _, id in ipairs(ARGV) do
    local jk = job_key(id)
    if redis.call('TYPE', jk).ok == 'string' then
        n = n + redis.call('DEL', jk)
    end
end
return n

-- migrate_pending: ARGV = max. Moves up to max job ids from the single
-- pending list of an older dispatchd (P jobs:pending) into their own queues
-- (profile x labels x priority, read from the stored spec, which is JSON),
-- so an upgrade strands nothing. A queue seen for the first time wakes
-- every waiting leaser ('*'), as the enqueue's does: runners' queue sets
-- grew (a leaser keeps them between requests). Returns the number still
-- left there.
local ids = redis.call('LRANGE', K_PENDING, 0, tonumber(ARGV[1]) - 1)
local groups, new_queue = {}, false
for _, id in ipairs(ids) do
    local jk = job_key(id)
    local j = redis.pcall('HMGET', jk, 'state', 'spec', 'queue', 'prio')
    if not j.err and j[1] == 'queued' then
        local qid, prio = j[3], j[4]
        if not qid then
            local ok, spec = pcall(cjson.decode, j[2] or '')
            local prof, labs, p = '', {}, 'n'
            if ok and type(spec) == 'table' then
                if type(spec.profile) == 'string' then prof = spec.profile end
                if type(spec.labels) == 'table' then
                    for _, l in ipairs(spec.labels) do
                        if type(l) == 'string' then labs[#labs + 1] = l end
                    end
                end
                if spec.priority == 'high' then p = 'h' elseif spec.priority == 'low' then p = 'l' end
            end
            table.sort(labs)
            qid, prio = prof .. ':' .. table.concat(labs, ','), p
            redis.call('HSET', jk, 'queue', qid, 'prio', prio)
        end
        if note_queue(qid) then new_queue = true end
        group_add(groups, qid, prio, id)
    end
end
if #ids > 0 then redis.call('LTRIM', K_PENDING, #ids, -1) end
push_groups('RPUSH', groups)
if new_queue then redis.call('PUBLISH', P .. 'wake', '*') end
return redis.call('LLEN', K_PENDING)

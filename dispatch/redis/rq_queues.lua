-- queues (read-only): the depth of every known queue (qid x priority) and
-- how many live, not draining runners can take it. ARGV = max rows, empty
-- ('1': rows for empty queues too, for gauges that must fall to 0).
-- Returns {pending, n_rows_total, then rows of (qid, prio, depth, runners)}:
-- at most max rows. O(queues x (3 + live
-- runners)): an admin and metrics read, not on the job path.
local max, empty = tonumber(ARGV[1]), ARGV[2] == '1'
local now = now_ms()
local live = {}
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', K_ALIVE, now, '+inf')) do
    if redis.call('HGET', runner_key(rid), 'draining') ~= '1' then live[#live + 1] = rid end
end
local out, pending, rows = {0, 0}, 0, 0
local qids = redis.call('SMEMBERS', P .. 'queues')
table.sort(qids)
for _, qid in ipairs(qids) do
    local takers = nil
    for _, p in ipairs(PRIOS) do
        local d = redis.call('LLEN', queue_key(qid, p))
        pending = pending + d
        if d > 0 or empty then
            rows = rows + 1
            if rows <= max then
                if not takers then
                    takers = 0
                    for _, rid in ipairs(live) do
                        if redis.call('SISMEMBER', runner_key(rid) .. ':queues', qid) == 1 then
                            takers = takers + 1
                        end
                    end
                end
                out[#out + 1] = qid
                out[#out + 1] = p
                out[#out + 1] = d
                out[#out + 1] = takers
            end
        end
    end
end
out[1], out[2] = pending, rows
return out

-- queues (read-only): the depth of every known queue (qid x priority) and
-- how many live, not draining runners can take it. ARGV = max rows, empty
-- ('1': rows for empty queues too, for gauges that must fall to 0).
-- Returns {pending, n_rows_total, live draining runners (counted only when
-- max > 0), then rows of (qid, prio, depth, runners)}: at most max rows. O(3 x queues + live runners x their eligible queues):
-- an admin and metrics read, not on the job path.
local max, empty = tonumber(ARGV[1]), ARGV[2] == '1'
local now = now_ms()
-- Who can take what: each live, not draining runner's queue set, counted
-- once (O(live runners x their eligible queues)), not a lookup per queue.
local takers, draining = {}, 0
for _, rid in ipairs(max > 0 and redis.call('ZRANGEBYSCORE', K_ALIVE, now, '+inf') or {}) do
    local rk = runner_key(rid)
    if redis.call('HGET', rk, 'draining') ~= '1' then
        for _, q in ipairs(redis.call('SMEMBERS', rk .. ':queues')) do
            takers[q] = (takers[q] or 0) + 1
        end
    else
        draining = draining + 1
    end
end
local out, pending, rows = {0, 0, draining}, 0, 0
local qids = redis.call('SMEMBERS', P .. 'queues')
table.sort(qids)
for _, qid in ipairs(qids) do
    for _, p in ipairs(PRIOS) do
        local d = redis.call('LLEN', queue_key(qid, p))
        pending = pending + d
        if d > 0 or empty then
            rows = rows + 1
            if rows <= max then
                out[#out + 1] = qid
                out[#out + 1] = p
                out[#out + 1] = d
                out[#out + 1] = takers[qid] or 0
            end
        end
    end
end
out[1], out[2] = pending, rows
return out

-- enqueue: ARGV = n, then n x (job_id, spec, max_attempts, attempts, qid,
-- prio), then the events stream MAXLEN, m, m event blobs: the caller's
-- `queued` events go onto the shared stream P events first (rq_events.h;
-- opaque here, best effort: pcall), before any of these jobs can be leased.
-- Each job goes to the tail of its own queue (qid x prio). A job id
-- that already exists is left alone, so a retried batch after a lost reply
-- adds nothing twice. A qid seen for the first time joins P queues and the
-- queue sets of the registered runners that cover it (O(runners), once per
-- new queue, never per job), and wakes every waiting leaser ('*'): their
-- eligible queues grew. Returns the number of jobs added.
local n = tonumber(ARGV[1])
local e = 2 + 6 * n
local maxlen, m = ARGV[e], tonumber(ARGV[e + 1] or '0') or 0
for i = 1, m do
    redis.pcall('XADD', P .. 'events', 'MAXLEN', '~', maxlen, '*', 'e', ARGV[e + 1 + i])
end
local now = now_ms()
local groups = {}
local added, new_queue = 0, false
for i = 0, n - 1 do
    local b = 2 + i * 6
    local id, qid, prio = ARGV[b], ARGV[b + 4], ARGV[b + 5]
    local jk = job_key(id)
    if redis.call('EXISTS', jk) == 0 then
        redis.call('HSET', jk, 'spec', ARGV[b + 1], 'max_attempts', ARGV[b + 2],
            'attempts', ARGV[b + 3], 'state', 'queued', 'created_at', now, 'queue', qid,
            'prio', prio)
        if note_queue(qid) then new_queue = true end
        group_add(groups, qid, prio, id)
        added = added + 1
    end
end
push_groups('RPUSH', groups)
if new_queue then redis.call('PUBLISH', P .. 'wake', '*') end
return added

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
-- No created_at: PostgreSQL keeps it and nothing read it here (33 bytes a
-- pending job, and a TIME per call).
-- Redis calls per job: one HSET, plus per call one EXISTS of every id (per
-- job only when some exist: a retried batch), one SADD P queues per distinct
-- qid and the pushes per queue.
local n = tonumber(ARGV[1])
local e = 2 + 6 * n
local maxlen, m = ARGV[e], tonumber(ARGV[e + 1] or '0') or 0
for i = 1, m do
    redis.pcall('XADD', P .. 'events', 'MAXLEN', '~', maxlen, '*', 'e', ARGV[e + 1 + i])
end
local groups = {}
local added, new_queue = 0, false
-- Each job's key, built once (for the EXISTS and the HSET).
local keys = {}
for i = 0, n - 1 do keys[i + 1] = job_key(ARGV[2 + i * 6]) end
-- One EXISTS for the whole batch; only a batch where some id exists (a retry
-- after a lost reply, a rebuild) asks again per job.
local any_exist = false
for i = 1, n, 1000 do
    if redis.call('EXISTS', unpack(keys, i, math.min(i + 999, n))) > 0 then
        any_exist = true
        break
    end
end
local seen, noted = {}, {}
-- The queue of the job before: a submit's jobs mostly share one, and its
-- group is then found without building its key again.
local last_qid, last_prio, last_group
for i = 0, n - 1 do
    local b = 2 + i * 6
    local id, qid, prio = ARGV[b], ARGV[b + 4], ARGV[b + 5]
    local jk = keys[i + 1]
    -- seen: an id twice in one batch is added once, as when asked per job
    if not seen[id] and (not any_exist or redis.call('EXISTS', jk) == 0) then
        seen[id] = true
        redis.call('HSET', jk, 'spec', ARGV[b + 1], 'max_attempts', ARGV[b + 2],
            'attempts', ARGV[b + 3], 'state', 'queued', 'queue', qid, 'prio', prio)
        if not noted[qid] then
            noted[qid] = true
            if note_queue(qid) then new_queue = true end
        end
        if qid ~= last_qid or prio ~= last_prio then
            last_qid, last_prio, last_group = qid, prio, group_of(groups, qid, prio)
        end
        last_group.ids[#last_group.ids + 1] = id
        added = added + 1
    end
end
push_groups('RPUSH', groups)
if new_queue then redis.call('PUBLISH', P .. 'wake', '*') end
return added

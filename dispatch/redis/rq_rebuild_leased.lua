-- rebuild a leased entry after Redis lost its data: ARGV = runner_id, job_id,
-- spec, max_attempts, attempt, qid, prio (the job's own queue, for a later
-- reclaim). The runner must be registered and alive (else
-- the reaper could never reclaim the job): 5 otherwise. 1 when the job exists.
-- A queue seen for the first time wakes everyone ('*'), as the enqueue's
-- does: the leasers keep runners' queue sets until such a wake-up.
local rid, id = ARGV[1], ARGV[2]
local rk = runner_key(rid)
if not redis.call('ZSCORE', K_ALIVE, rid) then return 5 end
local jk = job_key(id)
if redis.call('EXISTS', jk) == 1 then return 1 end
local now = now_ms()
redis.call('HSET', jk, 'spec', ARGV[3], 'max_attempts', ARGV[4], 'attempts', ARGV[5],
    'state', 'leased', 'leased_by', rid, 'leased_at', now,
    'queue', ARGV[6], 'prio', ARGV[7])
if note_queue(ARGV[6]) then redis.call('PUBLISH', P .. 'wake', '*') end
redis.call('SADD', K_LEASED, id)
redis.call('SADD', rk .. ':jobs', id)
return 0

-- owner check: ARGV = n x (job_id, runner_id, attempt); runner_id "" checks
-- the job only. Per job: {state, leased_by, attempts, max_attempts} for a
-- live hash, the tombstone string a complete or cancel left, or false when
-- the key is gone (or, which no script writes, is a hash without a state). The reporter checks this before it records a result, so
-- a stale owner's result never lands.
-- An item with a runner id whose check passes (leased by that runner at
-- that attempt) is marked `completing` = '<attempt>:<server ms>' in the
-- same call: its result goes to PostgreSQL now, and the reclaim, deregister
-- and requeue leave the lease alone until the mark is RQ_RESULT_HOLD_MS old
-- (result_in_flight in rq_prelude.lua), so no newer attempt can exist before
-- the group commit is decided. The complete script removes the mark with the
-- hash; a failed commit leaves it to age.
-- Redis calls per item: one HMGET (a WRONGTYPE error means the string
-- tombstone: one GET more), one HSET per mark; one TIME per call.
local out, n, now = {}, 0, nil
for i = 1, #ARGV, 3 do
    local id, rid, att = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local jk = job_key(id)
    n = n + 1
    local k = n
    local j = redis.pcall('HMGET', jk, 'state', 'leased_by', 'attempts', 'max_attempts')
    if j.err then
        -- not a hash: job keys are hashes or tombstone strings
        out[k] = redis.call('GET', jk)
    elseif not j[1] then
        out[k] = false -- gone (a live hash always has state)
    else
        out[k] = j
        if rid ~= '' and j[1] == 'leased' and j[2] == rid and j[3] == att then
            now = now or now_ms()
            redis.call('HSET', jk, 'completing', att .. ':' .. now)
        end
    end
end
return out

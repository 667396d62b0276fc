-- owner check: ARGV = n x (job_id, runner_id, attempt, mark '1' or '0').
-- Per job what owner_check_item (rq_prelude.lua) returns. The reporter checks this before it records a result, so a stale
-- owner's result never lands; the mark a passing check with a runner id
-- makes holds the lease until the group commit is decided (the reclaim,
-- deregister and requeue leave it alone until the mark is
-- RQ_RESULT_HOLD_MS old); the complete script removes it with the hash, a
-- failed commit leaves it to age. A lease call checks the results that
-- ride with its claims the same way (rq_lease.lua).
local out, clock = {}, {}
for i = 1, #ARGV, 4 do
    out[#out + 1] = owner_check_item(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], clock)
end
return out

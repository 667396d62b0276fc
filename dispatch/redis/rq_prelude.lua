-- Prepended to every script at build time (dispatch/rq_lua_embed.py).
-- KEYS[1] is the prefix itself ("{dispatch}:"): it routes the call to the hash
-- tag's cluster slot, and keys named by ids the script discovers at run time
-- (popped jobs, a runner's job set) are built from it, so they share the slot.
-- KEYS[2..6] are the fixed keys every script may touch.
local P = KEYS[1]
local K_PENDING, K_LEASED, K_DEAD, K_ALIVE, K_RUNNERS = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function job_key(id) return P .. 'job:' .. id end
local function runner_key(id) return P .. 'runner:' .. id end
-- unpack() is bounded by Lua's C stack: push in slices.
local function push_all(cmd, key, list)
    local r = 0
    for i = 1, #list, 1000 do
        r = redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
    end
    return r
end
-- Wake long-polling leasers only on the empty -> non-empty transition: a
-- waiter saw an empty list, so any later push either makes that transition
-- (and publishes) or follows one that did.
local function wake_if_was_empty(len_after, pushed)
    if pushed > 0 and len_after == pushed then
        redis.call('PUBLISH', P .. 'wake', pushed)
    end
end
-- Queues (docs/redis.md, "Queues and routing"). A queue id (qid) is
-- '<profile>:<labels>' (labels sorted, comma-joined, '' for none); its jobs
-- sit in one list per priority, P q:<h|n|l>:<qid>. P queues is the index of
-- qids; P ready:<h|n|l> holds every qid whose list at that priority may be
-- non-empty (added on every push, removed by the lease that finds it empty);
-- P runner:<id>:queues holds the qids a runner can take.
local PRIOS = {'h', 'n', 'l'}
local function queue_key(qid, prio) return P .. 'q:' .. prio .. ':' .. qid end
local function ready_key(prio) return P .. 'ready:' .. prio end
-- Comma-joined list -> set (a table); '*' -> nil (a runner that offers no
-- profile list takes every profile: rq-level callers and benches).
local function csv_set(s)
    if s == '*' then return nil end
    local t = {}
    for x in string.gmatch(s or '', '[^,]+') do t[x] = true end
    return t
end
-- Whether a runner with these profile and label sets can take queue qid.
local function covers(profiles, labels, qid)
    local prof, labs = string.match(qid, '^([^:]*):(.*)$')
    if not prof then return false end
    if profiles and not profiles[prof] then return false end
    for l in string.gmatch(labs, '[^,]+') do
        if not labels[l] then return false end
    end
    return true
end
-- Pushes job ids to their own queues: groups is qkey -> {qid=, prio=, ids=}.
-- A queue that goes from empty to non-empty publishes its qid on P wake (a
-- waiter saw it empty, so any later push either makes that transition or
-- follows one that did). Returns the number pushed.
local function push_groups(cmd, groups)
    local total = 0
    for qk, g in pairs(groups) do
        local len = push_all(cmd, qk, g.ids)
        redis.call('SADD', ready_key(g.prio), g.qid)
        if len == #g.ids then redis.call('PUBLISH', P .. 'wake', g.qid) end
        total = total + #g.ids
    end
    return total
end
-- The group of queue (qid, prio) in groups, made when new.
local function group_of(groups, qid, prio)
    if not qid then qid, prio = ':', 'n' end
    local qk = queue_key(qid, prio)
    local g = groups[qk]
    if not g then
        g = {qid = qid, prio = prio, ids = {}}
        groups[qk] = g
    end
    return g
end
local function group_add(groups, qid, prio, id)
    local g = group_of(groups, qid, prio)
    g.ids[#g.ids + 1] = id
end
-- Records qid in the index; a new queue joins the queue sets of the
-- registered runners that cover it (O(runners), once per new queue, never
-- per job). Returns true when the queue is new.
local function note_queue(qid)
    if redis.call('SADD', P .. 'queues', qid) == 0 then return false end
    for _, rid in ipairs(redis.call('SMEMBERS', K_RUNNERS)) do
        local rk = runner_key(rid)
        local r = redis.call('HMGET', rk, 'profiles', 'labels', 'lost')
        if r[1] and r[3] ~= '1' and covers(csv_set(r[1]), csv_set(r[2]) or {}, qid) then
            redis.call('SADD', rk .. ':queues', qid)
        end
    end
    return true
end
-- Whether a result of the job's current attempt is on its way to PostgreSQL
-- (docs/redis.md, "Results in flight"): rq_owner_check.lua marked the job
-- hash `completing` = '<attempt>:<server ms>' when the check passed, and
-- until that mark is hold ms old no path takes the lease from its runner
-- (the group commit is decided by then; rq.h RQ_RESULT_HOLD_MS). mark and
-- attempts are the hash's strings (nil when absent); a mark of an older
-- attempt means nothing.
local function result_in_flight(mark, attempts, now, hold)
    if not mark or hold <= 0 then return false end
    local a, t = string.match(mark, '^(%d+):(%d+)$')
    return a ~= nil and a == attempts and now - tonumber(t) < hold
end
-- The owner check of one result (rq_owner_check.lua, and the results a
-- lease call carries: rq_lease.lua): one integer, max_attempts * 4 + code,
-- code 0 passed (leased by runner rid at attempt att, or the tombstone of
-- that very complete), 1 conflict (another owner or attempt, a cancel's
-- tombstone, a hash without a state), 2 not found; max_attempts is the live
-- hash's (0 without one). With mark '1', a check that passes on a leased
-- job marks it `completing` = '<attempt>:<server ms>' (result_in_flight
-- above): its result goes to PostgreSQL now; a retry's check ('0') marks
-- nothing. The decision is made here only: the integer spares a reply of
-- four strings per result and its parse (docs/bench.md, thirtieth
-- session). clock: the call's {now = ms}, read once (one TIME a call).
-- Redis calls: one HMGET (a WRONGTYPE error means the string tombstone:
-- one GET more), one HSET per mark.
local function owner_check_item(id, rid, att, mark, clock)
    local jk = job_key(id)
    local j = redis.pcall('HMGET', jk, 'state', 'leased_by', 'attempts', 'max_attempts')
    if j.err then -- not a hash: a tombstone
        return redis.call('GET', jk) == 'completed ' .. rid .. ' ' .. att and 0 or 1
    end
    if not j[1] then return 2 end
    local m = (tonumber(j[4]) or 0) * 4
    if j[1] == 'leased' and j[2] == rid and j[3] == att then
        if mark == '1' then
            clock.now = clock.now or now_ms()
            redis.call('HSET', jk, 'completing', att .. ':' .. clock.now)
        end
        return m
    end
    return m + 1
end

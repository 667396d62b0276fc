-- lease: ARGV = event ts ('' for no events), events stream MAXLEN, message
-- version, events per entry, request records kept per runner, n, then n
-- claims x (runner_id, k, request_id ('' for none), m, then m results to
-- check x (job_id, runner_id, attempt, mark '1' or '0').
-- Returns one reply per claim, in order: {code, ...}, code 0 then (job_id,
-- attempt, spec) triples; code 6 the same, and every queue the runner can
-- take was found empty (the claim took all there was: the leaser may let
-- the runner's next poll wait for a wake instead of claiming, since a push
-- to an empty queue publishes one); code 5 when the runner is unknown or
-- was reaped (it must re-register); then one more element: the answers of every
-- check, claims in order (owner_check_item, rq_prelude.lua). A runner's
-- message carries its finished results with its request for work: their
-- owner checks (and marks) ride in the call that claims for it, so the
-- reporter does not make a call of its own for them (issue 10). Every
-- check runs before any claim, outside the claims' pcall: a check that
-- fails fails the call before it leased anything (so no lease loses its
-- event), and the caller then makes one claim at a time, unchecked. The
-- claims run one after another as n calls of one claim each would (a
-- later claim of the same runner sees what an earlier one took); in one
-- call they share the script's start, which is most of a claim's cost in
-- Redis (docs/bench.md, nineteenth session), and their events share
-- stream entries.
-- With an event ts, each newly leased job's `leased` event goes onto the
-- shared stream P events in this call (rq_events.h): on the stream before
-- the runner can have the job, with no second round trip. A retry answered
-- from its first try streams nothing again.
-- Which job: the runner's eligible queues are P runner:<id>:queues (made at
-- registration); per priority the candidates are that set intersected with
-- P ready:<p> (SINTER: O(min(eligible, ready)) per priority, at most three
-- per call, never O(pending)). Priorities are served by a weighted round
-- robin per runner, 8 high : 3 normal : 1 low (SEQ; the counter `wrr` lives
-- in the runner hash): a slot whose priority has no eligible job goes to the
-- highest that has one, so no slot is wasted, and while low work is
-- eligible, at least one job in every 12 the runner takes is low (3 in 12
-- normal). Within a priority the candidate queues (sorted) are served
-- round-robin (`rr`), so no queue starves another.
local ev_ts = ARGV[1] or ''
local REQS = tonumber(ARGV[5]) or 1
local evs_all = {}
local SEQ = {'h', 'n', 'h', 'h', 'n', 'h', 'l', 'h', 'h', 'n', 'h', 'h'}
-- as strings once: a Lua number passed to redis.call or joined is printed
-- with sprintf each time (a profile of this script showed ~7 % in it); read
-- with the first job taken: an empty poll (idle runners) asks no TIME
local now = nil
local clock = {} -- the call's server ms, shared with the owner checks
local function claim(rid, k, req)
    local rk = runner_key(rid)
    -- The retry record: per request id that got jobs, `req:<id>` holds what it
    -- got, for the runner's last REQS such requests (their ids in `reqs`): a
    -- runner has several calls in flight, and a pipeline of them resent after a
    -- lost connection must find each one's own (the leaser pipelines them).
    local r = redis.call('HMGET', rk, 'draining', 'lost', 'reqs', 'req:' .. req, 'wrr', 'rr',
        'profiles')
    -- No profiles field: registered with an older dispatchd, so it has no queue
    -- set: unknown, it registers again.
    if not r[1] or r[2] == '1' or not r[7] then return {5} end
    local out = {0}
    if req ~= '' and (r[4] or '') ~= '' then
        -- A retry whose answer was lost: hand back what that request got and
        -- still holds, never a second set of jobs. (A request that got nothing
        -- may claim afresh: a parked long-poll is retried this way.)
        for ent in string.gmatch(r[4] or '', '[^ ]+') do
            local id, att = string.match(ent, '^(.*):(%d+)$')
            local j = redis.pcall('HMGET', job_key(id), 'spec', 'attempts', 'leased_by', 'state')
            if not j.err and j[4] == 'leased' and j[3] == rid and j[2] == att then
                out[#out + 1] = id
                out[#out + 1] = tonumber(att)
                out[#out + 1] = j[1]
            end
        end
        return out
    end
    if r[1] == '1' then return out end
    local wrr, rr = tonumber(r[5] or '0') or 0, tonumber(r[6] or '0') or 0
    local elig = rk .. ':queues'
    local cands = {}
    local function candidates(p)
        local c = cands[p]
        if not c then
            c = redis.call('SINTER', elig, ready_key(p))
            if #c > 1 then table.sort(c) end
            cands[p] = c
        end
        return c
    end
    -- The (priority, candidates, index) the round robin picks at counters w, q:
    -- the preferred priority, else the highest with an eligible queue (no table
    -- made per call: it runs once per job taken). known:
    -- only from candidate sets already read (nil when another SINTER would be
    -- needed: the caller then reads it when, and only if, that turn comes).
    local function pick(w, q, known)
        local first = SEQ[w % 12 + 1]
        for i = 0, 3 do
            local p = i == 0 and first or PRIOS[i]
            local c = cands[p]
            if not c then
                if known then return nil end
                c = candidates(p)
            end
            if #c > 0 then return p, c, q % #c + 1 end
        end
    end
    local got, resp, atts = {}, {}, {}
    -- Each popped id either is taken or is a stale id skipped; each queue found
    -- empty is dropped: each counts one turn, and stale ids stay bounded as
    -- before (4 per job asked for). The ids are exactly those one LPOP per turn
    -- would take: a run of turns the round robin gives to one queue (each job
    -- taken moves wrr and rr; a stale id moves neither, so the next turn is the
    -- same queue again) is one LPOP with a count, and a list that answers fewer
    -- than asked is empty, as the next single LPOP would have found.
    local turns, max_turns = 0, 4 * k + 64
    -- dry: every eligible queue is empty (none left in the ready sets, or
    -- each one found empty here). Not when the claim stopped at k or at
    -- max_turns: a queue may hold more.
    local dry = false
    -- No ready set at all (the last SREM deletes one): nothing is pending
    -- anywhere, and an idle runner's poll asks one EXISTS instead of a SINTER
    -- per priority.
    if redis.call('EXISTS', ready_key('h'), ready_key('n'), ready_key('l')) == 0 then
        max_turns, dry = 0, true
    end
    while #got < k and turns < max_turns do
        local p, c, i = pick(wrr, rr, false)
        if not p then
            dry = true
            break
        end
        local qid = c[i]
        -- how many of the next turns go to this same queue if each takes a job
        local m, limit = 1, math.min(k - #got, max_turns - turns)
        while m < limit do
            local p2, c2, i2 = pick(wrr + m, rr + m, true)
            if p2 ~= p or c2[i2] ~= qid then break end
            m = m + 1
        end
        local ids = redis.call('LPOP', queue_key(qid, p), m)
        if not ids then ids = {} end
        turns = turns + #ids
        for _, id in ipairs(ids) do
            local jk = job_key(id)
            local j = redis.pcall('HMGET', jk, 'spec', 'attempts', 'state')
            if not j.err and j[3] == 'queued' then
                local att = tostring(tonumber(j[2]) + 1)
                if not now then
                    clock.now = clock.now or now_ms()
                    now = tostring(clock.now)
                end
                redis.call('HSET', jk, 'state', 'leased', 'leased_by', rid, 'leased_at', now,
                    'attempts', att)
                got[#got + 1] = id
                resp[#resp + 1] = id .. ':' .. att
                atts[#atts + 1] = tonumber(att)
                out[#out + 1] = id
                out[#out + 1] = atts[#atts]
                out[#out + 1] = j[1]
                wrr = wrr + 1
                rr = rr + 1
            end
        end
        if #ids < m and turns < max_turns then
            -- Empty: out of the ready set (a push adds it back) and of our candidates.
            turns = turns + 1
            redis.call('SREM', ready_key(p), qid)
            table.remove(c, i)
        end
    end
    if #got > 0 then
        push_all('SADD', K_LEASED, got)
        push_all('SADD', rk .. ':jobs', got)
    end
    -- This claim's events join the call's (flushed once, below).
    if ev_ts ~= '' then
        for i = 1, #got do
            evs_all[#evs_all + 1] = {jid = got[i], st = 'leased', rid = rid, att = atts[i], ts = ev_ts}
        end
    end
    -- One HSET for the round-robin counters and the request record. A request
    -- that got nothing records nothing: its retry may claim afresh anyway, and
    -- the counters did not move (an empty poll of an idle runner writes nothing).
    if #got > 0 and req ~= '' then
        -- this request's record; past 2 x REQS the oldest ones go, REQS at once
        -- (one HDEL per REQS leases, not one per lease), so REQS always stay
        local reqs = (r[3] or '') == '' and req or (r[3] .. ' ' .. req)
        local n = select(2, string.gsub(reqs, ' ', '')) + 1
        if n > 2 * REQS then
            local ids, old = {}, {}
            for id in string.gmatch(reqs, '[^ ]+') do ids[#ids + 1] = id end
            for i = 1, n - REQS do old[#old + 1] = 'req:' .. ids[i] end
            redis.call('HDEL', rk, unpack(old))
            reqs = table.concat(ids, ' ', n - REQS + 1, n)
        end
        redis.call('HSET', rk, 'wrr', wrr % 12, 'rr', rr % 1000000, 'reqs', reqs,
            'req:' .. req, table.concat(resp, ' '))
    elseif #got > 0 then
        redis.call('HSET', rk, 'wrr', wrr % 12, 'rr', rr % 1000000)
    end
    if dry then out[1] = 6 end
    return out
end

-- Each claim on its own: one that fails (an error reply) is that claim's
-- answer alone, as when each was a call of its own, and the events of the
-- others still go out below (Redis keeps what a failed script wrote, so
-- their jobs stay leased: a retry gets them from the records, without
-- their events).
local n = tonumber(ARGV[6]) or 0
local replies, checks, claims, a = {}, {}, {}, 7
for i = 1, n do
    local m = tonumber(ARGV[a + 3]) or 0
    claims[i] = {ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]}
    a = a + 4
    for c = 0, m - 1 do
        local b = a + 4 * c
        checks[#checks + 1] = owner_check_item(ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3],
            clock)
    end
    a = a + 4 * m
end
for i = 1, n do
    local ok, res = pcall(claim, claims[i][1], claims[i][2], claims[i][3])
    if ok then
        replies[i] = res
    else
        replies[i] = {err = type(res) == 'table' and res.err or tostring(res)}
    end
end
replies[n + 1] = checks
-- The events: `events` wire batches (messages/msg_schema.c, events_fields
-- and event_fields; its decoder takes keys in any order), one stream entry
-- per `per` events, the claims' together. Best effort, like every event: a
-- failed XADD never undoes the lease.
if #evs_all > 0 then
    local maxlen, version, per = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
    for i = 1, #evs_all, per do
        local evs = {}
        for j = i, math.min(i + per - 1, #evs_all) do evs[#evs + 1] = evs_all[j] end
        redis.pcall('XADD', P .. 'events', 'MAXLEN', '~', maxlen, '*', 'e',
            cmsgpack.pack({v = version, t = 'events', b = {evs = evs}}))
    end
end
return replies

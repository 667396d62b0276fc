-- lease: ARGV = runner_id, k, request_id ('' for none), event ts ('' for no
-- events), events stream MAXLEN, message version, events per entry.
-- Returns {code, ...}: code 0 then (job_id, attempt, spec) triples; code 5 when
-- the runner is unknown or was reaped (it must re-register).
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
local rid, k, req = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local rk = runner_key(rid)
local r = redis.call('HMGET', rk, 'draining', 'lost', 'last_req', 'last_resp', 'wrr', 'rr',
    'profiles')
-- No profiles field: registered with an older dispatchd, so it has no queue
-- set: unknown, it registers again.
if not r[1] or r[2] == '1' or not r[7] then return {5} end
local out = {0}
if req ~= '' and r[3] == req and (r[4] or '') ~= '' then
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
local SEQ = {'h', 'n', 'h', 'h', 'n', 'h', 'l', 'h', 'h', 'n', 'h', 'h'}
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
local now = now_ms()
local got, resp = {}, {}
-- Each turn takes a job, drops an empty queue, or skips a stale id; stale
-- ids are bounded like before (4 per job asked for).
local turns, max_turns = 0, 4 * k + 64
while #got < k and turns < max_turns do
    turns = turns + 1
    local pref = SEQ[wrr % 12 + 1]
    local p, c = nil, nil
    for _, q in ipairs({pref, 'h', 'n', 'l'}) do
        local cq = candidates(q)
        if #cq > 0 then
            p, c = q, cq
            break
        end
    end
    if not p then break end
    local i = rr % #c + 1
    local qid = c[i]
    local id = redis.call('LPOP', queue_key(qid, p))
    if not id then
        -- Empty: out of the ready set (a push adds it back) and of our candidates.
        redis.call('SREM', ready_key(p), qid)
        table.remove(c, i)
    else
        local jk = job_key(id)
        local j = redis.pcall('HMGET', jk, 'spec', 'attempts', 'state')
        if not j.err and j[3] == 'queued' then
            local att = tonumber(j[2]) + 1
            redis.call('HSET', jk, 'state', 'leased', 'leased_by', rid, 'leased_at', now,
                'attempts', att)
            got[#got + 1] = id
            resp[#resp + 1] = id .. ':' .. att
            out[#out + 1] = id
            out[#out + 1] = att
            out[#out + 1] = j[1]
            wrr = wrr + 1
            rr = rr + 1
        end
    end
end
if #got > 0 then
    push_all('SADD', K_LEASED, got)
    push_all('SADD', rk .. ':jobs', got)
end
-- The events: `events` wire batches (messages/msg_schema.c, events_fields
-- and event_fields; its decoder takes keys in any order), one stream entry
-- per `per` events. Best effort, like every event: a failed XADD never
-- undoes the lease.
local ev_ts = ARGV[4] or ''
if ev_ts ~= '' and #got > 0 then
    local maxlen, version, per = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
    local evs = {}
    for i = 1, #got do
        local att = tonumber(string.match(resp[i], ':(%d+)$'))
        evs[#evs + 1] = {jid = got[i], st = 'leased', rid = rid, att = att, ts = ev_ts}
        if #evs == per or i == #got then
            redis.pcall('XADD', P .. 'events', 'MAXLEN', '~', maxlen, '*', 'e',
                cmsgpack.pack({v = version, t = 'events', b = {evs = evs}}))
            evs = {}
        end
    end
end
-- One HSET for the round-robin counters and the request record.
if req ~= '' then
    redis.call('HSET', rk, 'wrr', wrr % 12, 'rr', rr % 1000000, 'last_req', req, 'last_resp',
        table.concat(resp, ' '))
elseif #got > 0 then
    redis.call('HSET', rk, 'wrr', wrr % 12, 'rr', rr % 1000000)
end
return out

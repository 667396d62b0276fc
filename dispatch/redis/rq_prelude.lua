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

#!/usr/bin/env bash
# Routing and priority end to end, with real runners: a submit before any
# runner registered is accepted with a warning; an unknown profile is then
# refused; a job whose labels no runner carries waits (and `queue` says so)
# until a runner with them registers; two runners with different profiles
# each take only their own; a labelled runner SIGKILLed mid-job: its job goes
# back to its own queue and another labelled runner takes it; a priority mix
# under one runner keeps the 8:3:1 bound; Redis losing its keys: queues,
# priorities and the offered profiles come back from PostgreSQL.
. "$(dirname "$0")/e2e_lib.sh"
e2e_start_dispatchd DISPATCH_HEARTBEAT_MS=200 DISPATCH_ALIVE_TTL_MS=1000 DISPATCH_SWEEP_MS=100

# profiles_dir NAME PROFILE...: a profiles directory holding only these.
profiles_dir() {
  local d="$E2E_DIR/pits-$1"
  shift
  mkdir -p "$d"
  for p in "$@"; do cp "$SRC/pits/$p.json" "$d/"; done
  echo "$d"
}
# runner_id NAME: the id of the live runner called NAME (waits up to 60 s:
# a sanitized runner starts in well under 5 s on a loaded machine).
runner_id() {
  local id
  for _ in $(seq 1 600); do
    id=$(dispatchctl runners --json | python3 -c 'import json,sys
for r in json.load(sys.stdin):
    if r["name"] == sys.argv[1] and r["alive"]: print(r["runner_id"]); break' "$1")
    [ -n "$id" ] && { echo "$id"; return 0; }
    sleep 0.1
  done
  fail "runner $1 did not register"
}
ok_job() { e2e_zip "$1" test.sh='exit 0\n'; }

# --- no runner ever registered: accepted, with a warning (reply and log) ---
rc=0
out=$(dispatchctl submit --profile shell --archive "$(ok_job early)" 2>"$E2E_DIR/warn.txt") || rc=$?
[ "$rc" = 0 ] || fail "submit with no runner registered: exit $rc"
early=$out
grep -q "warning" "$E2E_DIR/warn.txt" || fail "no warning on stderr: $(cat "$E2E_DIR/warn.txt")"
grep -q '"submit_profile_unverified"' "$E2E_DIR/dispatchd.log" || fail "no warning in the log"
ok "no runner yet: accepted with a warning"

# --- a runner with every profile and no labels ---
e2e_start_runner plain 400
plain_pid=$E2E_RUNNER
plain=$(runner_id plain)
dispatchctl wait "$early" --timeout 60 >/dev/null || fail "the early job did not run"
rc=0
out=$(dispatchctl submit --profile no-such-profile --archive "$(ok_job unk)" 2>&1) || rc=$?
[ "$rc" = 65 ] && echo "$out" | grep -q no-such-profile || fail "unknown profile: exit $rc: $out"
ok "unknown profile refused (65, named)"

# --- a label no runner has: the job waits and `queue` says so ---
g=$(dispatchctl submit --profile shell --archive "$(ok_job gpu)" --labels gpu,x86_64)
# 2 s with a free runner polling: it would have taken the job at once
sleep 2
[ "$(dispatchctl status "$g" --json | json state)" = queued ] || fail "labelled job left the queue"
# the job's view (status --json is GET /api/v1/jobs/{id}'s JSON) and the
# listing show what the job requires and its priority
dispatchctl status "$g" --json | python3 -c 'import json,sys
v = json.load(sys.stdin)
assert v.get("labels") == ["gpu", "x86_64"] and v.get("priority") == "normal", v' ||
  fail "status --json lacks labels/priority: $(dispatchctl status "$g" --json)"
dispatchctl jobs --json | python3 -c 'import json,sys
v = [j for j in json.load(sys.stdin)["jobs"] if j["job_id"] == sys.argv[1]][0]
assert v.get("labels") == ["gpu", "x86_64"] and v.get("priority") == "normal", v' "$g" ||
  fail "jobs --json lacks labels/priority"
dispatchctl queue >"$E2E_DIR/queue.txt"
grep -E "shell +gpu,x86_64 +normal +1 +0 .*no live runner" "$E2E_DIR/queue.txt" ||
  fail "queue does not say the gpu job waits: $(cat "$E2E_DIR/queue.txt")"
dispatchctl queue --json | python3 -c 'import json,sys
q = json.load(sys.stdin)["queues"]
assert q == [{"profile": "shell", "labels": "gpu,x86_64", "priority": "normal", "depth": 1,
              "runners": 0}], q' || fail "queue --json rows"
e2e_start_runner gpu1 410 RUNNER_LABELS=x86_64,gpu,big
gpu1_pid=$E2E_RUNNER
gpu1=$(runner_id gpu1)
out=$(dispatchctl wait "$g" --timeout 60 --json) || fail "labelled job not run: $out"
[ "$(echo "$out" | json runner_id)" = "$gpu1" ] || fail "labelled job ran on $(echo "$out" | json runner_id)"
ok "label no runner had: waited, queue said so, then the labelled runner took it"

# --- profile routing across two runners with different profiles ---
kill -TERM "$plain_pid"
e2e_start_runner onlypy 420 RUNNER_PROFILES_DIR="$(profiles_dir py python3)"
py_pid=$E2E_RUNNER
py=$(runner_id onlypy)
e2e_start_runner onlysh 430 RUNNER_PROFILES_DIR="$(profiles_dir sh shell)"
sh=$(runner_id onlysh)
for _ in $(seq 1 100); do kill -0 "$plain_pid" 2>/dev/null || break; sleep 0.1; done
declare -A want
for i in 1 2 3; do
  j=$(dispatchctl submit --profile python3 --archive "$(e2e_zip "py$i" main.py='print(1)\n')"); want[$j]=$py
  j=$(dispatchctl submit --profile shell --archive "$(ok_job "sh$i")"); want[$j]=$sh
done
for j in "${!want[@]}"; do
  out=$(dispatchctl wait "$j" --timeout 90 --json) || fail "job $j: $out"
  got=$(echo "$out" | json runner_id)
  # gpu1 offers every profile too: a job may go there, never to the wrong single-profile runner
  [ "$got" = "${want[$j]}" ] || [ "$got" = "$gpu1" ] || fail "job $j ran on $got, not ${want[$j]}"
  [ "$(echo "$out" | json verdict)" = AC ] || fail "job $j: $out"
done
ok "profile routing: python3 never on the shell runner, shell never on the python3 runner"

# --- a labelled runner SIGKILLed mid-job: back to its own queue, another labelled runner ---
redis() { redis-cli -u "$DISPATCH_REDIS_URL" "$@"; }
j=$(dispatchctl submit --profile shell --archive "$(e2e_zip blk test.sh="$E2E_BLOCKING_JOB")" --labels gpu --priority high)
e2e_wait_started gpu1 60
kill -KILL "$gpu1_pid"
# reclaimed once gpu1 misses DISPATCH_ALIVE_TTL_MS (1 s); 30 s of slack for load
for _ in $(seq 1 300); do
  [ "$(redis LLEN "{$E2E_DB}:q:h:shell:gpu")" = 1 ] && break
  sleep 0.1
done
[ "$(redis LLEN "{$E2E_DB}:q:h:shell:gpu")" = 1 ] || fail "the job is not back in its own queue (high, gpu)"
# onlysh (shell, no labels) polls all the while: 2 s, and it must not take it
# (PostgreSQL still says leased until the next lease: the queue is the truth)
sleep 2
[ "$(redis LLEN "{$E2E_DB}:q:h:shell:gpu")" = 1 ] || fail "a runner without the label took it"
e2e_start_runner gpu2 440 RUNNER_LABELS=gpu
gpu2_pid=$E2E_RUNNER
gpu2=$(runner_id gpu2)
e2e_wait_started gpu2 60
e2e_release "$E2E_BOX"
out=$(dispatchctl wait "$j" --timeout 60 --json) || fail "job not finished after the kill: $out"
[ "$(echo "$out" | json runner_id)" = "$gpu2" ] && [ "$(echo "$out" | json attempts)" = 2 ] &&
  [ "$(echo "$out" | json verdict)" = AC ] || fail "after the kill: $out"
ok "labelled runner SIGKILLed: back to q:h:shell:gpu, not taken by a runner without the label, done by gpu2 (attempt 2)"

# --- a priority mix under one runner (concurrency 1): high first, and low
# progresses at least 1 in 12 (normal 3 in 12) while high keeps waiting ---
python3 - "$E2E_DIR" "$(ok_job prio)" >"$E2E_DIR/mix.json" <<'PY'
import json, sys
z = "file://" + sys.argv[2]
jobs = []
for i in range(36):
    p = "low" if i % 9 == 4 else "normal" if i % 3 == 1 else "high"
    jobs.append({"profile": "shell", "archive": z, "labels": ["prio"], "priority": p,
                 "submission_id": "mix-%02d-%s" % (i, p)})
print(json.dumps(jobs))
PY
dispatchctl submit --spec "$E2E_DIR/mix.json" >/dev/null
e2e_start_runner prio 450 RUNNER_LABELS=prio RUNNER_NOOP=1
prio_pid=$E2E_RUNNER
for _ in $(seq 1 600); do
  [ "$(sql "select count(*) from jobs where labels ? 'prio' and state = 'completed'")" = 36 ] && break
  sleep 0.1
done
order=$(sql "select string_agg(left(j.priority, 1), '' order by e.ts, e.seq) from job_history e
             join jobs j on j.id = e.job_id where e.state = 'leased' and j.labels ? 'prio'")
[ "${#order}" = 36 ] || fail "priority mix: leases seen: '$order'"
python3 - "$order" <<'PY' || fail "priority mix: lease order $order breaks the 8:3:1 bound"
import sys
o = sys.argv[1]
assert o[0] == "h", o
for i in range(len(o) - 11):
    w, rest = o[i:i + 12], o[i:]
    if "l" in rest: assert "l" in w, (i, w)
    if rest.count("n") >= 3: assert w.count("n") >= 3, (i, w)
PY
kill -TERM "$prio_pid"
ok "priority mix: lease order $order (high first; every 12 hold a low and 3 normal while they wait)"

# --- Redis loses our keys: queues, priorities and offered profiles come back ---
# Only onlysh (shell) stays: python3 is then vouched for by PostgreSQL alone.
kill -TERM "$gpu2_pid" "$py_pid"
for _ in $(seq 1 300); do
  kill -0 "$gpu2_pid" 2>/dev/null || kill -0 "$py_pid" 2>/dev/null || break
  sleep 0.1
done
hi=$(dispatchctl submit --profile shell --archive "$(ok_job nb1)" --labels nobody --priority high)
lo=$(dispatchctl submit --profile shell --archive "$(ok_job nb2)" --labels nobody --priority low)
redis --scan --pattern "{$E2E_DB}:*" | xargs -r redis-cli -u "$DISPATCH_REDIS_URL" del >/dev/null
# the reporter sees the epoch gone within 1 s and rebuilds; 30 s of slack
for _ in $(seq 1 300); do
  [ "$(redis LLEN "{$E2E_DB}:q:h:shell:nobody")" = 1 ] &&
    [ "$(redis LLEN "{$E2E_DB}:q:l:shell:nobody")" = 1 ] && break
  sleep 0.1
done
[ "$(redis LRANGE "{$E2E_DB}:q:h:shell:nobody" 0 -1)" = "$hi" ] || fail "high job not rebuilt into its queue"
[ "$(redis LRANGE "{$E2E_DB}:q:l:shell:nobody" 0 -1)" = "$lo" ] || fail "low job not rebuilt into its queue"
dispatchctl queue --json | python3 -c 'import json,sys
q = {(r["labels"], r["priority"]): r["depth"] for r in json.load(sys.stdin)["queues"]}
assert q.get(("nobody", "high")) == 1 and q.get(("nobody", "low")) == 1, q' ||
  fail "queue after the rebuild: $(dispatchctl queue)"
[ "$(redis SISMEMBER "{$E2E_DB}:profiles" python3)" = 1 ] || fail "offered profiles not restored"
rc=0
j=$(dispatchctl submit --profile python3 --archive "$(e2e_zip pyafter main.py='print(1)\n')" 2>"$E2E_DIR/warn2.txt") || rc=$?
[ "$rc" = 0 ] && ! grep -q warning "$E2E_DIR/warn2.txt" || fail "python3 after the flush: exit $rc $(cat "$E2E_DIR/warn2.txt")"
dispatchctl cancel "$j" >/dev/null
ok "Redis lost its keys: jobs back in q:h/q:l:shell:nobody, queue shows them, python3 still offered (from PostgreSQL)"

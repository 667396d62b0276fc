#!/usr/bin/env bash
# The event reader follows the shared stream only while someone listens
# (issue 10, dispatch/publisher.c): with no watcher, SSE stream, long-poll
# or /execute, 3,000 jobs run and dispatchd's reader sends Redis no XREAD.
# An SSE stream that then resumes from before those jobs gets the newest
# events written meanwhile, in order, ending with the last job's, and is told
# that older ones were missed (9,000 were written; it reads back ~4,096); a
# new stream gets neither those events nor the notice. A long-poll on a job that completes later is answered
# by its event. Runs alone (is_parallel false): it reads Redis's global
# command counts.
. "$(dirname "$0")/e2e_lib.sh"
hp=$(free_port)
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="http://127.0.0.1:$hp"
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$hp/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
reader=$(dispatchctl apikey create reader --scope read 2>/dev/null)
submitter=$(dispatchctl apikey create sub --scope submit 2>/dev/null)
rcli() { redis-cli -u "$DISPATCH_REDIS_URL" "$@"; }
xreads() { rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_xread:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0; }

# An id from before the jobs (stream ids are Redis's wall-clock ms; same host)
sleep 1.2 # the reader found nobody listening and sleeps (it checks within ms; 1 s is slack)
before_id="$(date +%s%3N)-0"
x0=$(xreads)

e2e_start_runner r1 800 RUNNER_NOOP=1 RUNNER_CONCURRENCY=8
z=$(e2e_zip quick test.sh='exit 0\n')
python3 -c 'import json,sys; print(json.dumps([{"profile":"shell","archive":"file://"+sys.argv[1]} for _ in range(3000)]))' \
  "$z" >"$E2E_DIR/batch.json"
dispatchctl submit --spec "$E2E_DIR/batch.json" >"$E2E_DIR/jobs.txt"
for _ in $(seq 1 1200); do # a no-op runner: ~4 s; 120 s of slack for a sanitized build
  [ "$(sql "SELECT count(*) FROM jobs WHERE state = 'completed'")" = 3000 ] && break
  sleep 0.1
done
[ "$(sql "SELECT count(*) FROM jobs WHERE state = 'completed'")" = 3000 ] || fail "jobs did not complete"
x1=$(xreads)
[ "$x1" = "$x0" ] || fail "the reader read the stream with nobody listening ($x0 -> $x1 XREAD calls)"
ok "3,000 jobs with nobody listening: no XREAD sent ($x0 -> $x1)"

# Resumed from before the jobs: 9,000 events were written, ~4,096 are read back.
last_job=$(tail -n 1 "$E2E_DIR/jobs.txt")
curl -sSN -m 20 -H "Authorization: Bearer $reader" -H "Last-Event-ID: $before_id" \
  "http://127.0.0.1:$hp/api/v1/events" >"$E2E_DIR/sse-old.txt" 2>/dev/null &
SSE1=$!
E2E_PIDS+=($SSE1)
curl -sSN -m 20 -D "$E2E_DIR/sse-new.h" -H "Authorization: Bearer $reader" \
  "http://127.0.0.1:$hp/api/v1/events" >"$E2E_DIR/sse-new.txt" 2>/dev/null &
SSE2=$!
E2E_PIDS+=($SSE2)
for _ in $(seq 1 200); do # events within ms; 20 s of slack
  grep -q "\"job_id\":\"$last_job\",\"state\":\"completed\"" "$E2E_DIR/sse-old.txt" 2>/dev/null && break
  sleep 0.1
done
python3 - "$E2E_DIR/sse-old.txt" "$last_job" <<'PY' || fail "the resumed stream"
import json, sys
text = open(sys.argv[1]).read()
assert ": events were missed" in text, "no gap reported: " + text[:80]
ids, events = [], []
for block in text.split("\n\n")[:-1]:  # the last may be still arriving
    lines = dict(l.split(": ", 1) for l in block.splitlines() if l.startswith(("id: ", "data: ")))
    if "id" in lines:
        ids.append(tuple(int(x) for x in lines["id"].split("-")))
        events.append(json.loads(lines["data"]))
assert ids == sorted(set(ids)), "ids not strictly increasing"
assert 1000 <= len(events) <= 9000, len(events)
# jobs finish out of order (8 slots), but FIFO leasing puts the last one
# submitted among the last few to complete
assert {"job_id": sys.argv[2], "state": "completed"}.items() <= next(
    (e for e in events if e["job_id"] == sys.argv[2] and e["state"] == "completed"), {}).items(), \
    "the last job's completion is missing"
assert events[-1]["state"] == "completed", events[-1]
print(f"{len(events)} events after the gap, in order, with the last job's completion")
PY
ok "a stream resumed from before them gets the newest events in order, and ': events were missed'"
(kill "$SSE1" "$SSE2") 2>/dev/null || true
sleep 0.2
head -n 1 "$E2E_DIR/sse-new.h" | grep -q ' 200' || fail "the new stream: $(head -n 1 "$E2E_DIR/sse-new.h")"
if grep -q "missed" "$E2E_DIR/sse-new.txt"; then fail "a new stream was told it missed events: $(head -c 300 "$E2E_DIR/sse-new.txt")"; fi
# nothing happened after it opened: the events read back are older than it
if grep -q '^id: ' "$E2E_DIR/sse-new.txt"; then fail "a new stream got events from before it"; fi
[ "$(xreads)" -gt "$x1" ] || fail "no XREAD while streams listened"
ok "a new stream gets neither the gap nor the older events; the reader follows the stream while they listen"

# A long-poll (a listener) on a job that completes later, once a runner
# comes: answered with the completed job.
kill "$E2E_RUNNER"
wait "$E2E_RUNNER" 2>/dev/null || true
id=$(curl -fsS -H "Authorization: Bearer $submitter" -H 'Content-Type: application/json' \
  -d "{\"profile\":\"shell\",\"archive\":\"file://$z\"}" "http://127.0.0.1:$hp/api/v1/jobs" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
curl -fsS -m 60 -H "Authorization: Bearer $reader" \
  "http://127.0.0.1:$hp/api/v1/jobs/$id/wait?timeout=50" >"$E2E_DIR/wait.json" &
W=$!
E2E_PIDS+=($W)
sleep 0.5
e2e_start_runner r2 900 RUNNER_NOOP=1
wait "$W" || fail "the long-poll failed"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="completed", j' \
  "$E2E_DIR/wait.json" || fail "the long-poll did not see the job complete"
ok "a long-poll is answered when its job completes"

# A job's stream passes other jobs' events: 4,500 of them (more than the
# ring) go by a stream resumed on a job nobody can run (a label no runner
# has) without a false "missed" notice; cancelled, the job's event ends it.
held=$(curl -fsS -H "Authorization: Bearer $submitter" -H 'Content-Type: application/json' \
  -d "{\"profile\":\"shell\",\"archive\":\"file://$z\",\"labels\":[\"nobody-has-this\"]}" \
  "http://127.0.0.1:$hp/api/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
curl -sSN -m 120 -H "Authorization: Bearer $reader" -H "Last-Event-ID: $(date +%s%3N)-0" \
  "http://127.0.0.1:$hp/api/v1/jobs/$held/events" >"$E2E_DIR/sse-job.txt" 2>/dev/null &
SSE3=$!
E2E_PIDS+=($SSE3)
python3 -c 'import json,sys; print(json.dumps([{"profile":"shell","archive":"file://"+sys.argv[1]} for _ in range(1500)]))' \
  "$z" >"$E2E_DIR/batch2.json"
dispatchctl submit --spec "$E2E_DIR/batch2.json" >/dev/null
for _ in $(seq 1 1200); do # one no-op slot: ~3 s; 120 s of slack for a sanitized build
  [ "$(sql "SELECT count(*) FROM jobs WHERE state = 'completed'")" = 4501 ] && break
  sleep 0.1
done
[ "$(sql "SELECT count(*) FROM jobs WHERE state = 'completed'")" = 4501 ] || fail "the second batch did not complete"
curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $submitter" "http://127.0.0.1:$hp/api/v1/jobs/$held/cancel" ||
  fail "cancel"
wait "$SSE3" 2>/dev/null || true # the stream ends after the job's terminal event
grep -q "\"job_id\":\"$held\",\"state\":\"cancelled\"" "$E2E_DIR/sse-job.txt" ||
  fail "the job's stream did not get its cancel: $(head -c 300 "$E2E_DIR/sse-job.txt")"
if grep -q 'missed' "$E2E_DIR/sse-job.txt"; then
  fail "the job's stream was told it missed events ($(grep -c missed "$E2E_DIR/sse-job.txt") times)"
fi
ok "a job's stream passes 4,500 other events without a false gap and ends with its cancel"

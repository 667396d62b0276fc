#!/usr/bin/env bash
# Two dispatchd replicas on one Redis prefix and one database (issue 13,
# "events and long-poll across replicas"): 100 jobs submitted to replica B
# and run by a runner that knows only B; a `dispatchctl watch` and an SSE
# stream on replica A see every event of every job, in order (queued,
# leased, completed), once. The SSE stream is cut half way and resumed with
# Last-Event-ID on replica B (event ids are global), without a gap or a
# repeat. Then SIGTERM on B with runners holding long-polls there: they are
# answered at once and the runners go on on A (graceful stop).
. "$(dirname "$0")/e2e_lib.sh"
ha=$(free_port)
hb=$(free_port)
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="http://127.0.0.1:$ha"
A_URL=$DISPATCH_URL A_ADMIN=$DISPATCH_ADMIN_URL
B_URL="tcp://127.0.0.1:$(free_port)" B_ADMIN="ipc://$E2E_DIR/admin-b.sock"
env DISPATCH_PG_DSN="$E2E_PG_DSN" DISPATCH_RUNNER_LISTEN="$B_URL" DISPATCH_ADMIN_LISTEN="$B_ADMIN" \
  DISPATCH_REDIS_PREFIX="{$E2E_DB}:" DISPATCH_HTTP_LISTEN="http://127.0.0.1:$hb" \
  DISPATCH_LOG_STORE="file://$E2E_DIR/logs/{job_id}.log" dispatchd >"$E2E_DIR/dispatchd-b.log" 2>&1 &
B_PID=$!
E2E_PIDS+=($B_PID)
for _ in $(seq 1 300); do # up in ~1 s; 30 s is slack for a sanitized build on a loaded machine
  dispatchctl queue --url "$B_ADMIN" >/dev/null 2>&1 && break
  sleep 0.1
done
dispatchctl queue --url "$B_ADMIN" >/dev/null || fail "replica B did not start"
reader=$(dispatchctl apikey create reader --scope read 2>/dev/null)
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$hb/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

dispatchctl watch --json --url "$A_ADMIN" >"$E2E_DIR/watch.jsonl" 2>"$E2E_DIR/watch.log" &
E2E_PIDS+=($!)
curl -sSN -H "Authorization: Bearer $reader" "http://127.0.0.1:$ha/api/v1/events" >"$E2E_DIR/sse1.txt" 2>/dev/null &
SSE1=$!
E2E_PIDS+=($SSE1)
sleep 1 # both subscribed (they connect in milliseconds; 1 s is slack)

z=$(e2e_zip quick test.sh='exit 0\n')
submit_b() { # N jobs to replica B, ids appended to jobs.txt
  python3 -c 'import json,sys; print(json.dumps([{"profile":"shell","archive":"file://"+sys.argv[1]} for _ in range(int(sys.argv[2]))]))' \
    "$z" "$1" >"$E2E_DIR/batch.json"
  dispatchctl submit --spec "$E2E_DIR/batch.json" --url "$B_ADMIN" >>"$E2E_DIR/jobs.txt"
}
wait_done() { # all of jobs.txt completed (no-op runner: ~1 s; 60 s of slack)
  local want
  want=$(wc -l <"$E2E_DIR/jobs.txt")
  for _ in $(seq 1 600); do
    [ "$(sql "SELECT count(*) FROM jobs WHERE state = 'completed'")" = "$want" ] && return 0
    sleep 0.1
  done
  fail "only $(sql "SELECT count(*) FROM jobs WHERE state = 'completed'") of $want jobs completed"
}
# sse_count FILE N: waits until FILE holds N events (10 s: they come within ms)
sse_count() {
  for _ in $(seq 1 100); do
    [ "$(grep -c '^id: ' "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "$1: $(grep -c '^id: ' "$1") events, want $2"
}

e2e_start_runner b1 700 DISPATCH_URL="$B_URL" RUNNER_NOOP=1 RUNNER_CONCURRENCY=4
submit_b 50
wait_done
sse_count "$E2E_DIR/sse1.txt" 150
kill "$SSE1" # the client goes away; it resumes on the other replica
last=$(grep '^id: ' "$E2E_DIR/sse1.txt" | tail -n 1 | cut -d' ' -f2)
submit_b 50
wait_done
curl -sSN -H "Authorization: Bearer $reader" -H "Last-Event-ID: $last" \
  "http://127.0.0.1:$hb/api/v1/events" >"$E2E_DIR/sse2.txt" 2>/dev/null &
SSE2=$!
E2E_PIDS+=($SSE2)
sse_count "$E2E_DIR/sse2.txt" 150
for _ in $(seq 1 100); do # the watcher too (events within ms; 10 s of slack)
  [ "$(wc -l <"$E2E_DIR/watch.jsonl")" -ge 300 ] && break
  sleep 0.1
done

python3 - "$E2E_DIR" <<'PY' || fail "events across replicas"
import json, os, sys
d = sys.argv[1]
jobs = open(os.path.join(d, "jobs.txt")).read().split()
assert len(jobs) == 100, len(jobs)
want = ["queued", "leased", "completed"]

def check(name, events):
    per = {}
    for e in events:
        per.setdefault(e["job_id"], []).append(e["state"])
    bad = [(j, per.get(j)) for j in jobs if per.get(j) != want]
    assert not bad, f"{name}: {len(bad)} jobs with other events, e.g. {bad[:3]}"
    extra = set(per) - set(jobs)
    assert not extra, f"{name}: events of unknown jobs {sorted(extra)[:3]}"
    print(f"{name}: {len(events)} events, every job queued, leased, completed in order")

check("watch on A", [json.loads(l) for l in open(os.path.join(d, "watch.jsonl")) if l.strip()])
ids, events = [], []
for f in ("sse1.txt", "sse2.txt"):
    for block in open(os.path.join(d, f)).read().split("\n\n"):
        lines = dict(l.split(": ", 1) for l in block.splitlines() if l.startswith(("id: ", "data: ")))
        if "data" in lines and "id" in lines:
            ids.append(tuple(int(x) for x in lines["id"].split("-")))
            events.append(json.loads(lines["data"]))
assert "events were missed" not in open(os.path.join(d, "sse2.txt")).read(), "gap reported"
assert ids == sorted(set(ids)), "SSE ids not strictly increasing across the resume"
check("SSE on A, resumed on B", events)
PY
ok "a watcher and an SSE stream on A saw all 300 events of 100 jobs handled by B, in order; SSE resumed on B with Last-Event-ID, no gap, no repeat"

# Graceful stop: two runners that prefer B (DISPATCH_URL "B,A"), lease wait
# 5 s, hold long-polls on B when it gets SIGTERM; jobs submitted to A right
# after must be run by them within one lease wait: B answers its held leases
# at once ("shutting down") and the runners go on on A.
kill -TERM "$E2E_RUNNER"
wait "$E2E_RUNNER" 2>/dev/null || true
e2e_start_runner ba1 720 DISPATCH_URL="$B_URL,$A_URL" RUNNER_NOOP=1 RUNNER_LEASE_WAIT_MS=5000
e2e_start_runner ba2 740 DISPATCH_URL="$B_URL,$A_URL" RUNNER_NOOP=1 RUNNER_LEASE_WAIT_MS=5000
for _ in $(seq 1 300); do # both registered and idle (a long-poll held on B)
  [ "$(dispatchctl runners --json --url "$B_ADMIN" 2>/dev/null | grep -o '"ba[12]"' | sort -u | wc -l)" = 2 ] && break
  sleep 0.1
done
sleep 1
t0=$(date +%s.%N)
kill -TERM "$B_PID"
python3 -c 'import json,sys; print(json.dumps([{"profile":"shell","archive":"file://"+sys.argv[1]} for _ in range(20)]))' \
  "$z" >"$E2E_DIR/batch.json"
dispatchctl submit --spec "$E2E_DIR/batch.json" --url "$A_ADMIN" >>"$E2E_DIR/jobs.txt"
wait_done
t1=$(date +%s.%N)
wait "$B_PID"
b_rc=$?
[ "$b_rc" = 0 ] || fail "replica B exited $b_rc on SIGTERM"
took=$(python3 -c "print(round($t1 - $t0, 2))")
echo "graceful stop: 20 jobs submitted to A after SIGTERM on B ran on the runners that preferred B within $took s"
# one lease wait (5 s) is the bound; without the move on "shutting down" a
# runner waits a backoff and a refused connection first
python3 -c "import sys; sys.exit(0 if $took < 5 else 1)" || fail "jobs waited $took s (more than one lease wait)"
ok "graceful stop of B: its held long-polls answered, runners on A at once ($took s for 20 jobs), B exited 0"

#!/usr/bin/env bash
# callback_url (docs/api.md, "Callbacks") through real HTTP against a real
# stack: a receiver on loopback (allowed by DISPATCH_CALLBACK_ALLOW_CIDRS)
# that fails twice (500, then a timeout) then succeeds gets the job once
# marked delivered after 3 attempts, each signed (verified by the receiver in
# Python); a delivery cut off by SIGKILL of dispatchd is delivered by the
# restarted one; attempts run out into `failed` with the last error; a bad
# callback_url is refused at submit naming the field; two replicas deliver 20
# callbacks, each exactly once.
. "$(dirname "$0")/e2e_lib.sh"
http_port=$(free_port)
H="http://127.0.0.1:$http_port"
SECRET=e2e-callback-secret-0123456789
# 1 s per attempt, retries after 0.2, 0.4, 0.8 ... s, 4 attempts at most
CB_ENV=(DISPATCH_HTTP_LISTEN="$H" DISPATCH_CALLBACK_SECRET="$SECRET"
  DISPATCH_CALLBACK_ALLOW_CIDRS=127.0.0.1 DISPATCH_CALLBACK_TIMEOUT_MS=1000
  DISPATCH_CALLBACK_BACKOFF_MS=200 DISPATCH_CALLBACK_MAX_ATTEMPTS=4)
e2e_start_dispatchd "${CB_ENV[@]}"
e2e_start_runner r1 700
key=$(dispatchctl apikey create producer --scope submit 2>/dev/null)

# receiver PORT SCRIPT NAME: a receiver in the background, its log $E2E_DIR/NAME.jsonl
receiver() {
  python3 "$SRC/tests/e2e/callback_receiver.py" "$1" "$SECRET" "$2" "$E2E_DIR/$3.jsonl" \
    >"$E2E_DIR/$3.log" 2>&1 &
  E2E_PIDS+=($!)
  for _ in $(seq 1 50); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" \
      2>/dev/null && return 0
    sleep 0.1
  done
  fail "receiver $3 did not start"
}
post() { # post BODY: sets code and out
  code=$(curl -sS -o "$E2E_DIR/out" -w '%{http_code}' -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' --data-binary "$1" "$H/api/v1/jobs")
  out=$(cat "$E2E_DIR/out")
}
jget() { python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v.get(k) if isinstance(v,dict) else None
print("" if v is None else v)' "$1"; }
# (while dispatchd restarts: {})
job_json() { curl -fsS -H "Authorization: Bearer $key" "$H/api/v1/jobs/$1" 2>/dev/null || echo '{}'; }
# wait_callback JOB STATE SECONDS
wait_callback() {
  for _ in $(seq 1 $(($3 * 10))); do
    [ "$(job_json "$1" | jget callback.state)" = "$2" ] && return 0
    sleep 0.1
  done
  fail "job $1: callback not $2 in $3 s: $(job_json "$1")"
}
for _ in $(seq 1 50); do curl -fsS "$H/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

z=$(e2e_zip ok test.sh='exit 0\n')
spec() { echo "{\"profile\":\"shell\",\"archive\":\"file://$z\",\"callback_url\":\"$1\"}"; }

# refused at submit, naming the field
post "$(spec ftp://127.0.0.1/x)"; [ "$code" = 400 ] || fail "ftp callback: $code $out"
echo "$out" | grep -q 'callback_url: scheme' || fail "ftp callback: $out"
post "$(spec http://10.0.0.1/hook)"; [ "$code" = 400 ] || fail "private callback: $code $out"
echo "$out" | grep -q 'callback_url: 10.0.0.1 is private' || fail "private callback: $out"
post "$(spec http://169.254.169.254/latest)"; [ "$code" = 400 ] || fail "metadata: $code $out"
[ "$(sql 'SELECT count(*) FROM jobs')" = 0 ] || fail "a refused spec left a job"
ok "bad callback_url refused at submit (400 naming callback_url), nothing stored"

# fails twice (500, then no answer within the 1 s timeout), then 200
p1=$(free_port)
receiver "$p1" 500,hang,200 r1
post "$(spec "http://127.0.0.1:$p1/hook?x=1")"; [ "$code" = 201 ] || fail "submit: $code $out"
j1=$(echo "$out" | jget job_id)
wait_state "$j1" completed 60
# 3 attempts need about 0.2 + 1 + 0.4 s plus claims (each within 0.25 s); 30 s is slack
wait_callback "$j1" delivered 30
python3 - "$E2E_DIR/r1.jsonl" "$j1" <<'PY' || fail "receiver r1 saw the wrong thing: $(cat "$E2E_DIR/r1.jsonl")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["action"] for r in rows] == ["500", "hang", "200"], rows
assert all(r["sig_ok"] for r in rows), "signature"
assert all(r["job"] == sys.argv[2] == r["body_job_id"] for r in rows), "job"
assert len({r["delivery"] for r in rows}) == 1, "one delivery id across attempts"
assert rows[-1]["state"] == "completed" and rows[-1]["type"] == "application/json", rows[-1]
PY
[ "$(sql "SELECT count(*) FROM callbacks WHERE job_id = '$j1' AND state = 'delivered'")" = 1 ] ||
  fail "not exactly one delivered row"
[ "$(sql "SELECT attempts FROM callbacks WHERE job_id = '$j1'")" = 3 ] || fail "attempts"
[ "$(job_json "$j1" | jget callback.attempts)" = 3 ] || fail "job JSON: $(job_json "$j1")"
sleep 1 # nothing more arrives once delivered (the hung attempt's late 200 changes nothing)
[ "$(wc -l <"$E2E_DIR/r1.jsonl")" = 3 ] || fail "more deliveries after delivered"
ok "500, timeout, 200: one delivered row, 3 attempts, every signature verified by the receiver"

# attempts run out: failed, with the last error in the job JSON
p2=$(free_port) # nothing listens there
post "$(spec "http://127.0.0.1:$p2/hook")"; j2=$(echo "$out" | jget job_id)
wait_state "$j2" completed 60
wait_callback "$j2" failed 30
[ "$(job_json "$j2" | jget callback.attempts)" = 4 ] || fail "attempts: $(job_json "$j2")"
job_json "$j2" | jget callback.last_error | grep -qi 'connect' || fail "last_error: $(job_json "$j2")"
# the listing shows the same callback fields as the job's own JSON
curl -fsS -H "Authorization: Bearer $key" "$H/api/v1/jobs?limit=50" | python3 -c 'import json,sys
v = [j for j in json.load(sys.stdin)["jobs"] if j["job_id"] == sys.argv[1]][0]
assert v.get("callback", {}).get("state") == "failed" and v["callback"].get("attempts") == 4, v' "$j2" ||
  fail "GET /api/v1/jobs lacks the callback of $j2"
ok "4 failed attempts: callback failed, last_error in the job JSON"

# SIGKILL during a delivery: the restarted dispatchd delivers it after the lease
p3=$(free_port)
receiver "$p3" hang,200 r3
post "$(spec "http://127.0.0.1:$p3/hook")"; j3=$(echo "$out" | jget job_id)
for _ in $(seq 1 600); do [ -s "$E2E_DIR/r3.jsonl" ] && break; sleep 0.1; done
[ -s "$E2E_DIR/r3.jsonl" ] || fail "first attempt never arrived"
kill -KILL "$E2E_DISPATCHD"; wait "$E2E_DISPATCHD" 2>/dev/null || true
[ "$(sql "SELECT state FROM callbacks WHERE job_id = '$j3'")" = pending ] || fail "not pending"
env DISPATCH_PG_DSN="$E2E_PG_DSN" DISPATCH_RUNNER_LISTEN="$DISPATCH_URL" \
  DISPATCH_ADMIN_LISTEN="$DISPATCH_ADMIN_URL" DISPATCH_REDIS_PREFIX="{$E2E_DB}:" \
  DISPATCH_LOG_STORE="file://$E2E_DIR/logs/{job_id}.log" "${CB_ENV[@]}" \
  dispatchd >"$E2E_DIR/dispatchd-2.log" 2>&1 &
E2E_PIDS+=($!)
echo $! >"$E2E_DIR/d2.pid"
# the lease is the 1 s timeout + 5 s; 40 s is slack for a loaded machine
wait_callback "$j3" delivered 40
python3 - "$E2E_DIR/r3.jsonl" <<'PY' || fail "receiver r3: $(cat "$E2E_DIR/r3.jsonl")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2 and rows[0]["delivery"] == rows[1]["delivery"], rows
assert all(r["sig_ok"] for r in rows)
PY
[ "$(sql "SELECT count(*) || ' ' || max(attempts) FROM callbacks WHERE job_id = '$j3' AND state = 'delivered'")" = "1 2" ] ||
  fail "after restart: $(sql "SELECT * FROM callbacks WHERE job_id = '$j3'")"
ok "dispatchd SIGKILLed during a delivery: delivered once by the restarted one (same delivery id)"

# two replicas on one PostgreSQL: 20 deliveries, each delivered exactly once
p4=$(free_port)
receiver "$p4" 200 r4
second_admin="ipc://$E2E_DIR/admin2/admin.sock"
H3="http://127.0.0.1:$(free_port)"
env DISPATCH_PG_DSN="$E2E_PG_DSN" DISPATCH_RUNNER_LISTEN="tcp://127.0.0.1:$(free_port)" \
  DISPATCH_ADMIN_LISTEN="$second_admin" DISPATCH_REDIS_PREFIX="{$E2E_DB}:" \
  DISPATCH_LOG_STORE="file://$E2E_DIR/logs/{job_id}.log" "${CB_ENV[@]}" \
  DISPATCH_HTTP_LISTEN="$H3" \
  dispatchd >"$E2E_DIR/dispatchd-3.log" 2>&1 &
E2E_PIDS+=($!)
for _ in $(seq 1 300); do
  dispatchctl --url "$second_admin" queue >/dev/null 2>&1 && break
  sleep 0.1
done
jobs=()
for i in $(seq 1 20); do
  post "$(spec "http://127.0.0.1:$p4/hook/$i")"; [ "$code" = 201 ] || fail "submit $i: $code $out"
  jobs+=("$(echo "$out" | jget job_id)")
done
for j in "${jobs[@]}"; do wait_state "$j" completed 120; done
for j in "${jobs[@]}"; do wait_callback "$j" delivered 30; done
sleep 1 # a second delivery would arrive now
lat=$(python3 - "$E2E_DIR/r4.jsonl" <<'PY'
import collections, datetime, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
per = collections.Counter(r["delivery"] for r in rows)
assert len(per) == 20 and set(per.values()) == {1}, per
assert all(r["sig_ok"] for r in rows)
# a figure, not an assertion: job finished (PostgreSQL's clock) to received
ms = sorted((r["t"] - datetime.datetime.fromisoformat(r["finished_at"].replace("Z", "+00:00")).timestamp()) * 1000 for r in rows)
print(f"finished to received: p50 {ms[len(ms) // 2]:.0f} ms, max {ms[-1]:.0f} ms")
PY
) || fail "receiver r4: $(cat "$E2E_DIR/r4.jsonl")"
[ "$(sql "SELECT count(*) FROM callbacks WHERE url LIKE '%:$p4/%' AND state = 'delivered' AND attempts = 1")" = 20 ] ||
  fail "replicas: $(sql "SELECT state, attempts, count(*) FROM callbacks WHERE url LIKE '%:$p4/%' GROUP BY 1, 2")"
a=$(grep -c '"callback_delivered"' "$E2E_DIR/dispatchd-2.log" || true)
b=$(grep -c '"callback_delivered"' "$E2E_DIR/dispatchd-3.log" || true)
ok "two replicas: 20 callbacks, each delivered exactly once (by replica 1: $a in all, replica 2: $b; $lat)"

# the policy is checked at submit: a replica without the secret (it refuses
# new callback_urls) still leases and runs a job accepted by one with it
d2=$(cat "$E2E_DIR/d2.pid")
kill -KILL "$d2"; wait "$d2" 2>/dev/null || true # gone before its sockets are taken over
env DISPATCH_PG_DSN="$E2E_PG_DSN" DISPATCH_RUNNER_LISTEN="$DISPATCH_URL" \
  DISPATCH_ADMIN_LISTEN="$DISPATCH_ADMIN_URL" DISPATCH_REDIS_PREFIX="{$E2E_DB}:" \
  DISPATCH_LOG_STORE="file://$E2E_DIR/logs/{job_id}.log" DISPATCH_HTTP_LISTEN="$H" \
  dispatchd >"$E2E_DIR/dispatchd-4.log" 2>&1 &
E2E_PIDS+=($!)
for _ in $(seq 1 300); do dispatchctl queue >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 1 50); do curl -fsS "$H/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
post "$(spec "http://127.0.0.1:$p4/late")"
[ "$code" = 400 ] && echo "$out" | grep -q DISPATCH_CALLBACK_SECRET || fail "no secret: $code $out"
H=$H3 # a replica with the secret
post "$(spec "http://127.0.0.1:$p4/late")"; [ "$code" = 201 ] || fail "submit via replica 3: $code $out"
j5=$(echo "$out" | jget job_id)
wait_state "$j5" completed 60 # leased from the secret-less replica (the runner's)
wait_callback "$j5" delivered 30
ok "a replica without the secret refuses new callback_urls (400) yet runs an accepted one"

#!/usr/bin/env bash
# Runners over HTTP (docs/api.md, "Runners over HTTP"): a mock runner in
# Python (tests/e2e/mock_runner.py, stdlib only) registers, heartbeats,
# long-polls next-job, fetches the archive URL, answers AC or WA and
# completes, against a real dispatchd, Redis and PostgreSQL. Then a runner
# that stops heart-beating while it holds a lease: the job is reclaimed and
# leased by a second mock within the alive TTL + slack, and the first one's
# late complete is 409. Also 400/401/404/410 and an empty next-job's 204.
. "$(dirname "$0")/e2e_lib.sh"
http_port=$(free_port)
H="http://127.0.0.1:$http_port"
TTL_MS=3000
# Short TTL and sweep so the reclaim is quick; the heartbeat interval told
# to runners is a quarter of the TTL (the mock beats every 0.5 s).
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="$H" DISPATCH_HEARTBEAT_MS=750 \
  DISPATCH_ALIVE_TTL_MS=$TTL_MS DISPATCH_SWEEP_MS=200
admin=$(dispatchctl apikey create ops --scope admin 2>/dev/null)
MOCK="$SRC/tests/e2e/mock_runner.py"
mock() { python3 "$MOCK" "$H" "$@"; }

# req TOKEN METHOD PATH [BODY]: sets code and out
req() {
  local tok=$1 method=$2 path=$3 body=${4:-}
  local args=(-sS -o "$E2E_DIR/out" -w '%{http_code}' -X "$method")
  [ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  code=$(curl "${args[@]}" "$H$path")
  out=$(cat "$E2E_DIR/out")
}
expect() { [ "$code" = "$1" ] || fail "$2: status $code, want $1: $out"; }
field() { echo "$out" | python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v[int(k)] if isinstance(v,list) else v.get(k)
print("" if v is None else v)' "$1"; }
now_ms() { date +%s%3N; }

for _ in $(seq 1 50); do curl -fsS "$H/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

# register: 400 naming the field, 401 on a wrong registration token, 201
reg='"registration_token":"'$DISPATCH_REGISTRATION_TOKEN'"'
req "" POST /api/v1/runners/register "{$reg,\"slots\":1}"; expect 400 "no name"
echo "$out" | grep -q '"name: required' || fail "400 does not name 'name': $out"
req "" POST /api/v1/runners/register "{$reg,\"name\":\"m\",\"slots\":0}"; expect 400 "0 slots"
echo "$out" | grep -q slots || fail "400 does not name 'slots': $out"
req "" POST /api/v1/runners/register "{$reg,\"name\":\"m\",\"slots\":1,\"lables\":[]}"; expect 400 "typo"
echo "$out" | grep -q lables || fail "400 does not name 'lables': $out"
req "" POST /api/v1/runners/register "{$reg,\"name\":\"m\",\"slots\":1,\"labels\":[\"a,b\"]}"; expect 400 "comma label"
echo "$out" | grep -q 'labels\[0\]' || fail "400 does not name 'labels[0]': $out"
req "" POST /api/v1/runners/register '{"registration_token":"not-the-token-at-all","name":"m","slots":1}'
expect 401 "wrong registration token"
req "" POST /api/v1/runners/register "{$reg,\"name\":\"curl\",\"slots\":2,\"labels\":[\"x\"],\"profiles\":[\"shell\",\"python3\"],\"version\":\"1\"}"
expect 201 "register"
rid=$(field runner_id); tok=$(field runner_token)
# this runner stays alive while the test uses it (heartbeats every 0.4 s)
(while :; do curl -s -o /dev/null -X POST -H "Authorization: Bearer $tok" "$H/api/v1/runners/$rid/heartbeat" || true; sleep 0.4; done) &
E2E_PIDS+=($!)
[ -n "$rid" ] && [ ${#tok} = 64 ] && [ "$(field heartbeat_ms)" = 750 ] && [ "$(field alive_ttl_ms)" = $TTL_MS ] ||
  fail "registration: $out"
[ "$(dispatchctl runners --json | grep -c "$rid")" -ge 1 ] || fail "dispatchctl does not list $rid"
ok "register: 400 naming name/slots/lables/labels[0], 401 wrong registration token, 201 with id, token, heartbeat and TTL"

# heartbeat: 204; no or wrong token 401; unknown runner 410 telling it to register
req "$tok" POST "/api/v1/runners/$rid/heartbeat"; expect 204 "heartbeat"
req "" POST "/api/v1/runners/$rid/heartbeat"; expect 401 "heartbeat without a token"
bad=$(printf '0%.0s' $(seq 64))
req "$bad" POST "/api/v1/runners/$rid/heartbeat"; expect 401 "heartbeat with a wrong token"
req "$bad" POST "/api/v1/runners/r-00000000000000000000000000000000/heartbeat"; expect 410 "unknown runner"
[ "$(field error.code)" = unknown_runner ] && echo "$out" | grep -q /api/v1/runners/register ||
  fail "410 does not tell it to register: $out"
req "$admin" POST "/api/v1/runners/$rid/heartbeat"; expect 401 "an API key is not a runner token"
ok "heartbeat: 204; 401 without or with a wrong token (an API key too); 410 for an unknown runner"

# an empty queue: 204 after the wait (slack: +3 s for a loaded 2-core machine;
# -0.1 s because the leaser's 20 ms tick decides the deadline)
t0=$(now_ms)
req "$tok" GET "/api/v1/runners/$rid/next-job?wait=1"; expect 204 "next-job on an empty queue"
ms=$(($(now_ms) - t0))
[ "$ms" -ge 900 ] && [ "$ms" -le 4000 ] || fail "empty next-job answered after $ms ms, want 1000 (+3000)"
req "$tok" GET "/api/v1/runners/$rid/next-job?wait=0"; expect 204 "next-job wait=0"
req "$tok" GET "/api/v1/runners/$rid/next-job?wait=x"; expect 400 "bad wait"
echo "$out" | grep -q wait || fail "400 does not name wait: $out"
req "$bad" GET "/api/v1/runners/$rid/next-job?wait=0"; expect 401 "next-job with a wrong token"
ok "next-job on an empty queue: 204 after $ms ms (wait=1); 400 bad wait; 401 wrong token"

# a held next-job costs no thread: 200 long-polls of one runner at once
python3 - "$http_port" "$rid" "$tok" "$E2E_DISPATCHD" <<'PY' || fail "200 held next-jobs"
import os, socket, sys, time
port, rid, tok, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
threads = lambda: len(os.listdir(f"/proc/{pid}/task"))
before = threads()
socks = []
for i in range(200):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"GET /api/v1/runners/{rid}/next-job?wait=3 HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {tok}\r\n\r\n").encode())
    socks.append(s)
time.sleep(1)  # all 200 parked (the wait is 3 s)
held = threads()
for s in socks:
    s.settimeout(30)
    head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 204"), head[:200]
print(f"threads: {before} idle, {held} with 200 next-jobs held")
# slack: 2 threads for nng's own pools
assert held <= before + 2, (before, held)
PY
ok "200 next-job long-polls held at once, no thread each"

# jobs: an inline-file job (answered right) and a zip by file:// URL (wrong)
tests='"tests":[{"name":"double","stdin":"5\n","expected_stdout":"10\n"},{"stdin":"1\n","expected_stdout":"2\n"}]'
req "$admin" POST /api/v1/jobs "{\"profile\":\"python3\",\"files\":{\"main.py\":\"print(int(input())*2)\\n\",\"answer\":\"right\"},$tests}"
expect 201 "inline job"; ja=$(field job_id)
z=$(e2e_zip wrong main.py='print(0)\n' answer='wrong\n')
req "$admin" POST /api/v1/jobs "{\"profile\":\"python3\",\"archive\":\"file://$z\",$tests}"
expect 201 "archive job"; jw=$(field job_id)
mock serve "$rid" "$tok" 2 5 >"$E2E_DIR/serve.out" || fail "mock serve: $(cat "$E2E_DIR/serve.out")"
grep -q "^$ja 1 AC " "$E2E_DIR/serve.out" && grep -q "^$jw 1 WA " "$E2E_DIR/serve.out" ||
  fail "mock served: $(cat "$E2E_DIR/serve.out")"
req "$admin" GET "/api/v1/jobs/$ja"; expect 200 "job a"
[ "$(field state)" = completed ] && [ "$(field verdict)" = AC ] && [ "$(field score)" = 100 ] &&
  [ "$(field runner_id)" = "$rid" ] && [ "$(field tests.0.name)" = double ] &&
  [ "$(field tests.0.stdout)" = 10 ] && [ "$(field tests.1.verdict)" = AC ] || fail "job a: $out"
req "$admin" GET "/api/v1/jobs/$jw"; expect 200 "job w"
[ "$(field verdict)" = WA ] && [ "$(field score)" = 0 ] && [ "$(field tests.0.stdout)" = "not 10" ] &&
  [ "$(field message)" = "wrong answer" ] || fail "job w: $out"
[ "$(dispatchctl status "$ja" --json | json verdict)" = AC ] || fail "dispatchctl disagrees on $ja"
req "$admin" GET "/api/v1/jobs/$ja/log"; expect 200 "log"
echo "$out" | grep -q "mock runner: 2 tests from 2 files, AC" || fail "log: $out"
ok "mock runner: inline-file job AC (archive URL from the log store), zip job WA; tests, log, dispatchctl agree"

# complete: 404 unknown job, 400 naming a bad field, 409 a finished job
req "$tok" PUT "/api/v1/runners/$rid/jobs/j-nosuchjob/complete" '{"attempt":1,"verdict":"AC"}'
expect 404 "complete an unknown job"
req "$tok" PUT "/api/v1/runners/$rid/jobs/$ja/complete" '{"attempt":1,"verdict":"OK"}'; expect 400 "bad verdict"
echo "$out" | grep -q verdict || fail "400 does not name verdict: $out"
req "$tok" PUT "/api/v1/runners/$rid/jobs/$ja/complete" '{"attempt":1,"verdict":"AC","tests":[{"verdict":"AC","exit_code":"0"}]}'
expect 400 "bad exit_code"
echo "$out" | grep -q 'tests\[0\].exit_code' || fail "400 does not name tests[0].exit_code: $out"
req "$tok" PUT "/api/v1/runners/$rid/jobs/$ja/complete" '{"verdict":"AC"}'; expect 400 "no attempt"
req "$tok" PUT "/api/v1/runners/$rid/jobs/$jw/complete" '{"attempt":2,"verdict":"AC"}'; expect 409 "complete another attempt"
req "$tok" PUT "/api/v1/runners/$rid/jobs/$jw/complete" '{"attempt":1,"verdict":"AC"}'; expect 204 "a repeated complete (idempotent)"
req "$admin" GET "/api/v1/jobs/$jw"; [ "$(field verdict)" = WA ] || fail "a repeated complete changed the job: $out"
ok "complete: 404 unknown job, 400 naming verdict / tests[0].exit_code / attempt, 409 another attempt, a repeat 204 changing nothing"

# reclaim: runner A leases a job and stops heart-beating; B (long-polling)
# gets it once A's alive deadline passes and the reaper runs
req "$admin" POST /api/v1/jobs "{\"profile\":\"python3\",\"files\":{\"main.py\":\"print(1)\\n\"},$tests}"
expect 201 "job for the reclaim"; jr=$(field job_id)
mock lease new mock-a 1 >"$E2E_DIR/a.out" || fail "mock lease A: $(cat "$E2E_DIR/a.out")"
{ read -r _ aid atok; read -r got att last_hb; } <"$E2E_DIR/a.out"
[ "$got" = "$jr" ] && [ "$att" = 1 ] || fail "A leased $got attempt $att, want $jr 1"
mock serve new mock-b 1 10 >"$E2E_DIR/b.out" || fail "mock B: $(cat "$E2E_DIR/b.out")"
{ read -r _ bid _; read -r bjob batt bverdict leased_again; } <"$E2E_DIR/b.out"
[ "$bjob $batt $bverdict" = "$jr 2 AC" ] || fail "B served: $(cat "$E2E_DIR/b.out")"
gap=$((leased_again - last_hb))
# A is lost TTL (3 s) after its last heartbeat; the reaper runs every 0.2 s
# and B's parked next-job is answered by the reclaim's wake. Slack 3 s for
# a loaded 2-core machine (typically ~TTL + 0.3 s).
[ "$gap" -ge $((TTL_MS - 100)) ] && [ "$gap" -le $((TTL_MS + 3000)) ] ||
  fail "leased again $gap ms after A's last heartbeat, want $TTL_MS..$((TTL_MS + 3000))"
mock complete "$aid" "$atok" "$jr" 1 AC >"$E2E_DIR/late.out"
grep -q '^409 ' "$E2E_DIR/late.out" || fail "A's late complete: $(cat "$E2E_DIR/late.out")"
req "$atok" POST "/api/v1/runners/$aid/heartbeat"; expect 410 "A's heartbeat after the reclaim"
req "$admin" GET "/api/v1/jobs/$jr"; [ "$(field verdict)" = AC ] && [ "$(field attempts)" = 2 ] || fail "job r: $out"
ok "reclaim: leased again by B $gap ms after A's last heartbeat (TTL $TTL_MS ms + 3000 slack); A's late complete 409, its heartbeat 410; B's AC recorded (attempt 2)"

# a live runner whose job was cancelled under it: its complete is 409 too
req "$admin" POST /api/v1/jobs "{\"profile\":\"python3\",\"files\":{\"main.py\":\"print(1)\\n\"},$tests}"
jc=$(field job_id)
mock lease "$rid" "$tok" 1 >"$E2E_DIR/l.out" || fail "mock lease: $(cat "$E2E_DIR/l.out")"
read -r got att _ <"$E2E_DIR/l.out"
[ "$got" = "$jc" ] || fail "leased $got, want $jc"
req "$admin" POST "/api/v1/jobs/$jc/cancel"; expect 200 "cancel a leased job"
req "$tok" PUT "/api/v1/runners/$rid/jobs/$jc/complete" '{"attempt":1,"verdict":"AC"}'; expect 409 "complete a cancelled job"
ok "a leased job cancelled under its runner: complete 409"

# deregister releases the lease at once; again is 410
req "$admin" POST /api/v1/jobs "{\"profile\":\"python3\",\"files\":{\"main.py\":\"print(1)\\n\"},$tests}"
jd=$(field job_id)
mock lease new mock-c 1 >"$E2E_DIR/c.out" || fail "mock lease C: $(cat "$E2E_DIR/c.out")"
{ read -r _ cid ctok; read -r got att _; } <"$E2E_DIR/c.out"
[ "$got" = "$jd" ] || fail "C leased $got, want $jd"
req "$ctok" POST "/api/v1/runners/$cid/deregister"; expect 200 "deregister"
[ "$(field released)" = 1 ] || fail "deregister: $out"
req "$admin" GET /api/v1/queue; [ "$(field pending)" = 1 ] || fail "not pending again: $out"
req "$ctok" POST "/api/v1/runners/$cid/deregister"; expect 410 "deregister twice"
mock serve "$rid" "$tok" 1 5 >"$E2E_DIR/d.out" || fail "mock serve: $(cat "$E2E_DIR/d.out")"
grep -q "^$jd 2 AC " "$E2E_DIR/d.out" || fail "after deregister: $(cat "$E2E_DIR/d.out")"
ok "deregister: 200 released 1, the job pending again and served (attempt 2); again 410"

# SIGTERM while a next-job waits: the runner gets 503 at once, dispatchd exits 0
curl -sS -o "$E2E_DIR/nj.out" -w '%{http_code}' -H "Authorization: Bearer $tok" \
  "$H/api/v1/runners/$rid/next-job?wait=20" >"$E2E_DIR/nj.code" &
njpid=$!
sleep 1
kill -TERM "$E2E_DISPATCHD"
wait "$E2E_DISPATCHD" || fail "dispatchd exited $? on SIGTERM with a next-job waiting"
wait "$njpid" || true
[ "$(cat "$E2E_DIR/nj.code")" = 503 ] || fail "waiting runner: $(cat "$E2E_DIR/nj.code") $(cat "$E2E_DIR/nj.out")"
ok "SIGTERM: the waiting next-job got 503, dispatchd exited 0"
grep -q ERROR: "$E2E_DIR/dispatchd.log" && fail "sanitizer report in dispatchd.log"
ok "runners over HTTP"

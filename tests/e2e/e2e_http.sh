#!/usr/bin/env bash
# The HTTP API (docs/api.md) through curl against a real dispatchd, Redis,
# PostgreSQL and runner: every route of the jobs API, the error statuses,
# API key scopes, body bounds and idle connections.
. "$(dirname "$0")/e2e_lib.sh"
ulimit -n 4096 # 1,000 SSE streams below
http_port=$(free_port)
H="http://127.0.0.1:$http_port"
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="$H" DISPATCH_HTTP_IDLE_MS=2000 DISPATCH_HTTP_MAX_BODY=65536 DISPATCH_HTTP_MAX_INLINE=4096
admin=$(dispatchctl apikey create ops --scope admin 2>/dev/null)
sub=$(dispatchctl apikey create producer --scope submit 2>/dev/null)
reader=$(dispatchctl apikey create reader --scope read 2>/dev/null)
other=$(dispatchctl apikey create other-producer --scope submit 2>/dev/null)

# req KEY METHOD PATH [BODY]: prints the body, then the status on its own line
req() {
  local key=$1 method=$2 path=$3 body=${4:-}
  local args=(-sS -o "$E2E_DIR/out" -w '%{http_code}' -X "$method")
  [ -n "$key" ] && args+=(-H "Authorization: Bearer $key")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  code=$(curl "${args[@]}" "$H$path")
  out=$(cat "$E2E_DIR/out")
}
expect() { # expect STATUS WHAT
  [ "$code" = "$1" ] || fail "$2: status $code, want $1: $out"
}
field() { echo "$out" | python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v[int(k)] if isinstance(v,list) else v.get(k)
print("" if v is None else v)' "$1"; }

for _ in $(seq 1 50); do curl -fsS "$H/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
[ "$(curl -fsS "$H/healthz")" = ok ] || fail "/healthz is not ok"
# Read the whole page first: grep -q stops reading at the first match, and
# curl then fails writing the rest (exit 23 under pipefail).
metrics_page=$(curl -fsS "$H/metrics") || fail "/metrics"
grep -q '^dispatch_up 1$' <<<"$metrics_page" || fail "/metrics: dispatch_up"
ok "/healthz and /metrics on the API server"

# docs/openapi.yaml documents exactly the routes the live server serves
curl -fsS "$H/api/v1" | python3 -c 'import json, sys, yaml
live = {(r["method"].lower(), r["path"]) for r in json.load(sys.stdin)["routes"]}
doc = yaml.safe_load(open(sys.argv[1]))
documented = {(m, p) for p, ops in doc["paths"].items() for m in ops if m in ("get", "post", "put", "delete", "patch")}
missing, extra = live - documented, documented - live
assert not missing and not extra, f"not in openapi.yaml: {sorted(missing)}; not served: {sorted(extra)}"
print(f"{len(live)} routes")' "$SRC/docs/openapi.yaml" || fail "docs/openapi.yaml and the server disagree"
ok "docs/openapi.yaml matches the live routes"

z=$(e2e_zip ok test.sh='exit 0\n')
spec="{\"profile\":\"shell\",\"archive\":\"file://$z\"}"

# credentials and scopes
req "" POST /api/v1/jobs "$spec"; expect 401 "no key"
[ "$(field error.code)" = unauthorized ] || fail "no key: $out"
req "dpk_0123456789abcdef_$(printf '0%.0s' $(seq 64))" GET /api/v1/queue; expect 401 "unknown key"
req "$reader" POST /api/v1/jobs "$spec"; expect 403 "read key submitting"
[ "$(field error.code)" = forbidden ] || fail "403 code: $out"
req "$sub" GET /api/v1/queue; expect 403 "submit key reading the queue"
ok "401 without or with a wrong key, 403 without the scope"

# submit one (before any runner: it stays queued)
req "$sub" POST /api/v1/jobs "$spec"; expect 201 "submit"
j1=$(field job_id); [ "$(field state)" = queued ] || fail "submit: $out"
req "$sub" GET "/api/v1/jobs/$j1"; expect 200 "get"
[ "$(field job_id)" = "$j1" ] || fail "get: $out"
[ "$(dispatchctl status "$j1" --json | json state)" = queued ] || fail "dispatchctl disagrees"
req "$reader" GET "/api/v1/jobs/nosuchjob"; expect 404 "unknown job"
ok "POST /api/v1/jobs 201 with the job, GET 200, 404 for an unknown job"

# long-poll that times out: answers with the job as it is, after ~1 s
t0=$(date +%s%N)
req "$sub" GET "/api/v1/jobs/$j1/wait?timeout=1"; expect 200 "wait timeout"
t1=$(date +%s%N)
[ "$(field state)" = queued ] || fail "wait timeout: $out"
# slack: at least the 1 s asked (minus one poll step), at most 5 s on a loaded machine
ms=$(((t1 - t0) / 1000000)); [ "$ms" -ge 800 ] && [ "$ms" -le 5000 ] || fail "wait took $ms ms"
req "$sub" GET "/api/v1/jobs/$j1/wait?timeout=abc"; expect 400 "bad timeout"
echo "$out" | grep -q timeout || fail "400 does not name timeout: $out"
ok "wait?timeout=1 answered after $ms ms; a bad timeout is 400 naming it"

# cancel a queued job, then again: 409
req "$sub" POST "/api/v1/jobs/$j1/cancel"; expect 200 "cancel"
[ "$(field state)" = cancelled ] || fail "cancel: $out"
req "$sub" POST "/api/v1/jobs/$j1/cancel"; expect 409 "cancel twice"
ok "cancel 200, again 409"

# a submit key sees only its own jobs (the reporter decides, as for dispatchctl)
req "$other" GET "/api/v1/jobs/$j1"; expect 404 "another key's job"
req "$other" POST "/api/v1/jobs/$j1/cancel"; expect 404 "cancel another key's job"
req "$other" GET "/api/v1/jobs/$j1/events"; expect 404 "another key's job's events"
req "$reader" GET "/api/v1/jobs/$j1"; expect 200 "a read key sees every job"
ok "another submit key gets 404 for the job (get, cancel, events); a read key sees it"

# bad input: 400 naming the field, 415, 413 before the body is read, 404/405
req "$sub" POST /api/v1/jobs '{"profile":"shell","archive":"file:///x.zip","max_attemps":2}'; expect 400 "typo"
echo "$out" | grep -q max_attemps || fail "400 does not name the field: $out"
req "$sub" POST /api/v1/jobs '{"profile":"shell",'; expect 400 "not JSON"
code=$(curl -sS -o "$E2E_DIR/out" -w '%{http_code}' -H "Authorization: Bearer $sub" \
  -H 'Content-Type: text/plain' --data-binary "$spec" "$H/api/v1/jobs"); out=$(cat "$E2E_DIR/out")
expect 415 "text/plain body"
# 413: a 100 MB Content-Length with no body sent: answered at once, nothing read
python3 - "$http_port" "$sub" <<'PY' || fail "413 before the body"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n" % sys.argv[2]).encode())
s.settimeout(5)
head = s.recv(4096).decode()
assert head.startswith("HTTP/1.1 413"), head
PY
req "$sub" GET /api/v1/nothing; expect 404 "no route"
req "$sub" DELETE /api/v1/queue; expect 405 "wrong method"
ok "400 naming the field, 415, 413 before the body, 404, 405"

# a batch with a bad item: per-item id or error
req "$sub" POST /api/v1/jobs "[$spec,{\"profile\":\"shell\"},$spec]"; expect 201 "batch"
[ -n "$(field items.0.id)" ] && [ -n "$(field items.2.id)" ] || fail "batch ids: $out"
echo "$(field items.1.error.message)" | grep -q archive || fail "batch error: $out"
j2=$(field items.0.id)
ok "batch: items 0 and 2 accepted, item 1 refused naming 'archive'"
# no runner has registered yet: accepted, each item warns
echo "$(field items.0.warning)" | grep -q "no runner has registered" || fail "no warning: $out"
ok "no runner registered yet: accepted with a warning per item"

# a runner: the job completes; wait answers as soon as it is terminal
e2e_start_runner a 310
req "$sub" GET "/api/v1/jobs/$j2/wait?timeout=60"; expect 200 "wait"
[ "$(field state)" = completed ] && [ "$(field verdict)" = AC ] || fail "wait: $out"
req "$reader" GET /api/v1/queue; expect 200 "queue"
[ -n "$(field pending)" ] || fail "queue: $out"
req "$reader" GET /api/v1/runners; expect 200 "runners"
[ "$(field runners.0.name)" = a ] || fail "runners: $out"
ok "wait until AC, GET /api/v1/queue, GET /api/v1/runners"
# a runner offered its profiles: one nobody offers is 400 naming it
req "$sub" POST /api/v1/jobs '{"profile":"no-such-profile","archive":"file:///x.zip"}'
expect 400 "unknown profile"
echo "$out" | grep -q no-such-profile || fail "400 does not name the profile: $out"
ok "a profile no runner offers: 400 naming it"
req "$sub" GET "/api/v1/jobs/$j2/log"; expect 200 "log"
[ -n "$out" ] && [ "$out" = "$(cat "$E2E_DIR/logs/$j2.log")" ] || fail "log differs from the store's file"
req "$other" GET "/api/v1/jobs/$j2/log"; expect 404 "another key's log"
req "$sub" GET "/api/v1/jobs/nosuchjob/log"; expect 404 "log of an unknown job"
ok "GET /api/v1/jobs/{id}/log: the stored log; 404 for another key or an unknown job"

# requeue (admin; as dispatchctl requeue: failed jobs only), drain
req "$sub" POST "/api/v1/jobs/$j2/requeue"; expect 403 "submit key requeueing"
req "$admin" POST "/api/v1/jobs/$j2/requeue"; expect 409 "requeue a completed job"
req "$admin" POST "/api/v1/jobs/$j1/requeue"; expect 409 "requeue a cancelled job"
req "$admin" POST "/api/v1/jobs/nosuchjob/requeue"; expect 404 "requeue an unknown job"
req "$admin" POST "/api/v1/runners/nosuchrunner/drain"; expect 404 "drain an unknown runner"
ok "requeue: 403 without admin, 409 completed or cancelled, 404 unknown; drain of an unknown runner 404"

# an idle connection is closed (DISPATCH_HTTP_IDLE_MS=2000; slack to 8 s for load)
python3 - "$http_port" <<'PY' || fail "idle connection kept open"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
s.settimeout(8)
t0 = time.time()
assert s.recv(100) == b"", "got data"
assert time.time() - t0 < 8
PY
ok "a trickling connection is closed"

# POST /execute: passing, failing, timing out, crashing; 504 past the wait
srcs() { ls "$E2E_DIR/logs" 2>/dev/null | grep -c '^src-' || true; }
exe() { req "$sub" POST "/execute${2:-}" "$1"; }
exe '{"language":"python","source":"print(int(input())*2)\n","tests":[{"stdin":"5\n","expectedStdout":"10\n","timeoutMs":5000},{"stdin":"1\n","expectedStdout":"3\n"}]}'
expect 200 "execute"
[ "$(field ok)" = False ] && [ "$(field results.0.passed)" = True ] && [ "$(field results.0.stdout)" = 10 ] &&
  [ "$(field results.0.exitCode)" = 0 ] && [ "$(field results.1.passed)" = False ] || fail "execute pass/fail: $out"
jx=$(field jobId)
[ "$(dispatchctl status "$jx" --json | json verdict)" = WA ] || fail "dispatchctl disagrees on $jx"
exe '{"language":"python3","source":"print(int(input())*2)\n","tests":[{"stdin":"5\n","expectedStdout":"10\n"}]}'
expect 200 "execute ok"; [ "$(field ok)" = True ] || fail "execute ok: $out"
exe '{"language":"python","source":"while True: pass\n","tests":[{"stdin":"","timeoutMs":500}]}'
expect 200 "execute loop"; [ "$(field results.0.timedOut)" = True ] && [ "$(field ok)" = False ] || fail "timeout: $out"
exe '{"language":"python","source":"import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n","tests":[{"stdin":""}]}'
expect 200 "execute crash"; [ "$(field results.0.signal)" = SIGSEGV ] || fail "crash: $out"
exe '{"language":"python","source":"import time\ntime.sleep(20)\n","tests":[{"stdin":"","timeoutMs":30000}]}' '?wait=1'
expect 504 "execute past the wait"; [ -n "$(field jobId)" ] || fail "504 without jobId: $out"
req "$admin" POST "/api/v1/jobs/$(field jobId)/cancel"; expect 200 "cancel the sleeper"
exe '{"language":"cobol","source":"x","tests":[{}]}'; expect 400 "unknown language"
echo "$out" | grep -q language || fail "400 does not name language: $out"
ok "/execute: pass, fail, timeout, SIGSEGV, 504 with the job id, 400 for an unknown language"

# inline files: text and base64 stored by SHA-256, bad names and oversize refused, nothing stored
b64=$(printf 'test -f data/x.bin && exit 0; exit 1\n' | base64 -w0)
req "$sub" POST /api/v1/jobs "{\"profile\":\"shell\",\"files\":{\"data/x.bin\":\"\\u0001\"},\"files_base64\":{\"test.sh\":\"$b64\"}}"
expect 201 "inline files"; ji=$(field job_id)
req "$sub" GET "/api/v1/jobs/$ji/wait?timeout=60"; [ "$(field verdict)" = AC ] || fail "inline job: $out"
n=$(srcs)
req "$sub" POST /api/v1/jobs '{"profile":"shell","files":{"../evil.sh":"exit 0"}}'; expect 400 "../ name"
echo "$out" | grep -q '\.\./evil.sh' || fail "400 does not name the file: $out"
req "$sub" POST /api/v1/jobs '{"profile":"shell","files":{"/abs.sh":"exit 0"}}'; expect 400 "absolute name"
big=$(head -c 5000 /dev/zero | tr '\0' a)
req "$sub" POST /api/v1/jobs "{\"profile\":\"shell\",\"files\":{\"test.sh\":\"$big\"}}"; expect 400 "over DISPATCH_HTTP_MAX_INLINE"
echo "$out" | grep -q "more than 4096" || fail "oversize message: $out"
req "$sub" POST /api/v1/jobs '{"profile":"shell","files":{"t.sh":"x"},"max_attemps":1}'; expect 400 "bad spec with files"
req "$sub" POST /api/v1/jobs '{"profile":"shell","files_base64":{"t.sh":"!!!!"}}'; expect 400 "bad base64"
[ "$(srcs)" = "$n" ] || fail "a refused request stored something ($n -> $(srcs))"
ok "inline files (text + base64) run; ../, absolute, oversize, bad spec, bad base64 refused, nothing stored"

# SSE: the global stream sees a job's states with id: lines; a job's stream
# starts with the job and ends after its terminal state; Last-Event-ID resumes
curl -sSN -H "Authorization: Bearer $reader" "$H/api/v1/events" >"$E2E_DIR/all.sse" 2>&1 &
allpid=$!
sleep 0.5
req "$sub" POST /api/v1/jobs "{\"profile\":\"shell\",\"files\":{\"test.sh\":\"sleep 1; exit 0\\n\"}}"
expect 201 "job for SSE"; js=$(field job_id)
timeout 60 curl -sSN -H "Authorization: Bearer $sub" "$H/api/v1/jobs/$js/events" >"$E2E_DIR/job.sse" ||
  fail "the job's stream did not end by itself: $(cat "$E2E_DIR/job.sse")"
head -2 "$E2E_DIR/job.sse" | grep -q '^event: job' || fail "job stream starts with: $(head -2 "$E2E_DIR/job.sse")"
grep -q "\"state\":\"completed\"" "$E2E_DIR/job.sse" || fail "job stream: $(cat "$E2E_DIR/job.sse")"
for _ in $(seq 1 50); do grep -q "$js.*completed" "$E2E_DIR/all.sse" && break; sleep 0.1; done
kill "$allpid"; wait "$allpid" 2>/dev/null || true
grep -q "^data: .*\"job_id\":\"$js\".*\"state\":\"completed\"" "$E2E_DIR/all.sse" || fail "global stream: $(cat "$E2E_DIR/all.sse")"
# every field of the event (the hub renders a frame when it is first sent)
grep -q "^data: {\"job_id\":\"$js\",\"state\":\"completed\",\"verdict\":\"AC\",\"runner_id\":\"[^\"]*\",\"attempt\":1,\"ts\":\"20" \
  "$E2E_DIR/all.sse" || fail "global stream's completed event: $(grep "$js" "$E2E_DIR/all.sse")"
ids=$(grep -c '^id: ' "$E2E_DIR/all.sse")
[ "$ids" -ge 2 ] || fail "want >= 2 events with ids: $(cat "$E2E_DIR/all.sse")"
first=$(grep -m1 '^id: ' "$E2E_DIR/all.sse" | cut -d' ' -f2)
# resume after the first event: everything after it comes again, the first does not
curl -sSN --max-time 2 -H "Authorization: Bearer $reader" -H "Last-Event-ID: $first" \
  "$H/api/v1/events" >"$E2E_DIR/resume.sse" 2>/dev/null || true
grep -q "^id: $first\$" "$E2E_DIR/resume.sse" && fail "resume repeated event $first"
[ "$(grep -c '^id: ' "$E2E_DIR/resume.sse")" -ge $((ids - 1)) ] || fail "resume after $first: $(cat "$E2E_DIR/resume.sse")"
req "$sub" GET /api/v1/events; expect 403 "submit key on the global stream"
ok "SSE: $ids events with ids, the job's stream ends after completed, Last-Event-ID resumes"

# 1,000 open streams cost no thread (slack: 2 threads for nng's own pools)
python3 - "$http_port" "$reader" "$E2E_DISPATCHD" <<'PY' || fail "1,000 streams"
import os, socket, sys, time
port, key, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
threads = lambda: len(os.listdir(f"/proc/{pid}/task"))
before = threads()
socks = []
for i in range(1000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % key).encode())
    socks.append(s)
for s in socks:
    s.settimeout(30)
    head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
after = threads()
print(f"threads with 0 streams: {before}, with 1000: {after}")
assert after <= before + 2, (before, after)
PY
ok "1,000 SSE streams open, no thread each"

# drain (admin): the runner takes nothing more
rid=$(dispatchctl runners --json | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("runners", d) if isinstance(d, dict) else d; print(d[0]["runner_id"])')
req "$sub" POST "/api/v1/runners/$rid/drain"; expect 403 "submit key draining"
req "$admin" POST "/api/v1/runners/$rid/drain"; expect 200 "drain"
req "$reader" GET /api/v1/runners; [ "$(field runners.0.draining)" = True ] || fail "not draining: $out"
ok "POST /api/v1/runners/{id}/drain: 200, the runner is draining (403 without admin)"

# SIGTERM while a long-poll waits: the client gets 503 at once, dispatchd exits 0
req "$sub" POST /api/v1/jobs "{\"profile\":\"shell\",\"archive\":\"file://$(e2e_zip slow test.sh='sleep 30\n')\"}"
expect 201 "slow job"
j3=$(field job_id)
curl -sS -o "$E2E_DIR/wait.out" -w '%{http_code}' -H "Authorization: Bearer $sub" \
  "$H/api/v1/jobs/$j3/wait?timeout=60" >"$E2E_DIR/wait.code" &
wpid=$!
curl -sSN -H "Authorization: Bearer $reader" "$H/api/v1/events" >"$E2E_DIR/term.sse" 2>&1 &
spid=$!
sleep 1
kill -TERM "$E2E_DISPATCHD"
wait "$E2E_DISPATCHD" || fail "dispatchd exited $? on SIGTERM with a long-poll waiting"
wait "$wpid" || true
wait "$spid" || fail "the open SSE stream did not end cleanly: $(cat "$E2E_DIR/term.sse")"
[ "$(cat "$E2E_DIR/wait.code")" = 503 ] || fail "waiting client: $(cat "$E2E_DIR/wait.code") $(cat "$E2E_DIR/wait.out")"
grep -q ERROR: "$E2E_DIR/dispatchd.log" && fail "sanitizer report in dispatchd.log"
ok "SIGTERM: the waiting client got 503, the SSE stream ended, dispatchd exited 0"

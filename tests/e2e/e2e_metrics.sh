#!/usr/bin/env bash
# /metrics, /healthz and /readyz of dispatchd and of a runner, against
# private Redis and PostgreSQL this test starts and stops: after jobs with
# each verdict the counters and histogram counts are exactly what was run;
# /readyz turns 503 naming PostgreSQL while it is stopped and 200 again once
# it is back (/healthz, liveness, stays 200); the runner's /readyz turns 503
# when its dispatcher is gone; every metric the Grafana dashboard and the
# alert rules use has samples in these scrapes.
. "$(dirname "$0")/e2e_lib.sh"
. "$SRC/scripts/services.sh"
SVC_DIR="$E2E_DIR/svc"
SVC_PG_DATA= SVC_REDIS_PID= # inherited from ./dev test: never ours to stop (svc_stop)
mkdir -p "$SVC_DIR"
trap 'rc=$?; [ "$rc" = 0 ] || tail -n 20 "$SVC_PG_DATA/server.log" >&2; svc_stop >/dev/null 2>&1; set +e; (exit $rc); e2e_cleanup' EXIT
svc_start_redis
svc_start_pg
prom() { python3 "$SRC/tests/e2e/prom.py" "$@"; }
H="http://127.0.0.1:$(free_port)"
R="http://127.0.0.1:$(free_port)"
# heartbeats every 300 ms: the runner notices a gone dispatcher quickly
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="$H" DISPATCH_HEARTBEAT_MS=300 DISPATCH_ALIVE_TTL_MS=3000
e2e_start_runner m 320 RUNNER_CONCURRENCY=2 RUNNER_HTTP_LISTEN="$R"
for _ in $(seq 1 150); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$R/readyz")" = 200 ] && break; sleep 0.2; done
[ "$(curl -s "$R/readyz")" = ready ] || fail "runner /readyz: $(curl -s "$R/readyz")"
[ "$(curl -s "$R/healthz")" = ok ] || fail "runner /healthz"
[ "$(curl -s "$H/readyz")" = ready ] || fail "dispatchd /readyz: $(curl -s "$H/readyz")"
[ "$(curl -s "$H/healthz")" = ok ] || fail "dispatchd /healthz"
ok "both programs live and ready"

io='[{"name":"t1","stdin":"2 3\n","expected_stdout":"5\n"}]'
echo "$io" >"$E2E_DIR/tests.json"
sum='#include <stdio.h>\nint main(void){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 3;printf("%ld\\n",a+b);return 0;}\n'
declare -A want
bytes=0
submit() { # submit PROFILE ZIP VERDICT [args]
  local p=$1 z=$2 v=$3 j
  shift 3
  j=$(dispatchctl submit --profile "$p" --archive "$z" "$@")
  want[$j]=$v
  bytes=$((bytes + $(stat -c %s "$z")))
}
submit shell "$(e2e_zip ac1 test.sh='exit 0\n')" AC
submit shell "$(e2e_zip ac2 test.sh='exit 0\n')" AC
submit shell "$(e2e_zip wa test.sh='exit 1\n')" WA
submit c "$(e2e_zip cac main.c="$sum")" AC --tests "$E2E_DIR/tests.json"
submit c "$(e2e_zip tle main.c='int main(void){for(;;);}\n')" TLE --tests "$E2E_DIR/tests.json" --time-ms 300
submit c "$(e2e_zip mle main.c='#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char*p=malloc(1<<20);if(!p)return 1;memset(p,1,1<<20);}}\n')" MLE --tests "$E2E_DIR/tests.json" --memory-kb 65536
submit c "$(e2e_zip re main.c='int main(void){volatile int*p=0;*p=1;return 0;}\n')" RE --tests "$E2E_DIR/tests.json"
submit c "$(e2e_zip ce main.c='int main(void){return x}\n')" CE --tests "$E2E_DIR/tests.json"
for j in "${!want[@]}"; do
  v=$(dispatchctl wait "$j" --timeout 120 --json | json verdict) || true
  [ "$v" = "${want[$j]}" ] || fail "job $j: verdict '$v', want ${want[$j]}"
done
ok "8 jobs judged: AC x3, WA, TLE, MLE, RE, CE"

# A job's Redis lease is released right after its result is recorded in
# PostgreSQL (the order that loses nothing), and `wait` answers from the
# record: the leased gauge (read from Redis) may still count it for that
# moment. Scrape until it is 0; 10 s of slack for a loaded machine (it is
# milliseconds).
for _ in $(seq 1 100); do
  curl -fsS "$H/metrics" >"$E2E_DIR/dispatchd.prom" || fail "GET /metrics"
  [ "$(prom "$E2E_DIR/dispatchd.prom" 'dispatch_jobs{state="leased"}')" = 0 ] && break
  sleep 0.1
done
curl -fsS "$R/metrics" >"$E2E_DIR/runner.prom" || fail "runner GET /metrics"
prom "$E2E_DIR/dispatchd.prom" --check || fail "dispatchd /metrics format"
prom "$E2E_DIR/runner.prom" --check || fail "runner /metrics format"
expect() { # expect FILE 'EXPR=VALUE' ...
  local f=$1 e got
  shift
  for e in "$@"; do
    got=$(prom "$f" "${e%=*}")
    [ "$got" = "${e##*=}" ] || fail "$(basename "$f"): ${e%=*} is $got, want ${e##*=}"
  done
}
expect "$E2E_DIR/dispatchd.prom" \
  'dispatch_jobs_submitted_total{profile="shell"}=3' 'dispatch_jobs_submitted_total{profile="c"}=5' \
  'dispatch_jobs_completed_total{profile="shell",verdict="AC"}=2' \
  'dispatch_jobs_completed_total{profile="shell",verdict="WA"}=1' \
  'dispatch_jobs_completed_total{profile="c",verdict="AC"}=1' \
  'dispatch_jobs_completed_total{profile="c",verdict="TLE"}=1' \
  'dispatch_jobs_completed_total{profile="c",verdict="MLE"}=1' \
  'dispatch_jobs_completed_total{profile="c",verdict="RE"}=1' \
  'dispatch_jobs_completed_total{profile="c",verdict="CE"}=1' \
  'dispatch_jobs_failed_total=0' 'dispatch_jobs_reclaimed_total=0' 'dispatch_jobs_dead_total=0' \
  'dispatch_job_duration_seconds_count=8' 'dispatch_complete_duration_seconds_count=8' \
  'dispatch_job_duration_seconds_bucket{le="+Inf"}=8' \
  'dispatch_jobs{state="pending"}=0' 'dispatch_jobs{state="leased"}=0' \
  'dispatch_runners_alive=1' 'dispatch_runners_draining=0' 'dispatch_up=1' \
  'dispatch_redis_errors_total=0' 'dispatch_pg_errors_total=0' 'dispatch_metrics_missed=0' \
  "dispatch_build_info{version=\"$(dispatchd --version | cut -d' ' -f2)\"}=1"
# each lease round carries one or more jobs: between 1 and 8 leases with jobs
n=$(prom "$E2E_DIR/dispatchd.prom" dispatch_lease_duration_seconds_count)
[ "$n" -ge 1 ] && [ "$n" -le 8 ] || fail "dispatch_lease_duration_seconds_count $n, want 1..8"
for h in dispatch_redis_request_duration_seconds dispatch_pg_request_duration_seconds; do
  [ "$(prom "$E2E_DIR/dispatchd.prom" ${h}_count)" -gt 8 ] || fail "$h: no round trips counted"
done
ok "dispatchd counters and histograms match the 8 jobs"
expect "$E2E_DIR/runner.prom" \
  'dispatch_runner_jobs_total{verdict="AC"}=3' 'dispatch_runner_jobs_total{verdict="WA"}=1' \
  'dispatch_runner_jobs_total{verdict="TLE"}=1' 'dispatch_runner_jobs_total{verdict="MLE"}=1' \
  'dispatch_runner_jobs_total{verdict="RE"}=1' 'dispatch_runner_jobs_total{verdict="CE"}=1' \
  'dispatch_runner_sandbox_duration_seconds_count=8' 'dispatch_runner_fetch_duration_seconds_count=8' \
  "dispatch_runner_fetch_bytes_total=$bytes" 'dispatch_runner_slots=2' 'dispatch_runner_slots_busy=0' \
  'dispatch_runner_registered=1' "dispatch_runner_link_info{url=\"$DISPATCH_URL\"}=1"
# the TLE job alone ran 0.3 s of CPU in the sandbox
s=$(prom "$E2E_DIR/runner.prom" dispatch_runner_sandbox_duration_seconds_sum)
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 0.3 else 1)" "$s" || fail "sandbox time sum $s < 0.3 s"
ok "runner counters and histograms match the 8 jobs ($bytes archive bytes)"

python3 "$SRC/scripts/check_dashboards.py" "$SRC" --scrape "$E2E_DIR/dispatchd.prom" "$E2E_DIR/runner.prom" ||
  fail "the dashboard or the alerts use a metric the programs do not emit"
ok "every metric of deploy/grafana and deploy/prometheus has samples in these scrapes"

# PostgreSQL stopped: not ready (the reason names it), still live
psql "$E2E_PG_DSN" -qAt -c CHECKPOINT >/dev/null
svc_as_pg "$PG_BIN/pg_ctl" -D "$SVC_PG_DATA" -m immediate -w stop >/dev/null
code=
# the status actor reads PostgreSQL every second; 20 s is slack for a loaded machine
for _ in $(seq 1 100); do code=$(curl -s -o "$E2E_DIR/ready" -w '%{http_code}' "$H/readyz"); [ "$code" = 503 ] && break; sleep 0.2; done
[ "$code" = 503 ] || fail "/readyz with PostgreSQL stopped: $code"
grep -qi postgresql "$E2E_DIR/ready" || fail "/readyz reason does not name PostgreSQL: $(cat "$E2E_DIR/ready")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$H/healthz")" = 200 ] || fail "/healthz with PostgreSQL stopped"
prom <(curl -fsS "$H/metrics") dispatch_up | grep -qx 0 || fail "dispatch_up with PostgreSQL stopped"
ok "PostgreSQL stopped: /readyz 503 ($(head -c 80 "$E2E_DIR/ready")), /healthz 200, dispatch_up 0"
svc_as_pg "$PG_BIN/pg_ctl" -D "$SVC_PG_DATA" -l "$SVC_PG_DATA/server.log" -w -t 60 \
  -o "-p $SVC_PG_PORT -k $SVC_PG_DATA -h 127.0.0.1 -c fsync=off" start >/dev/null
# the store reconnects with backoff (at most 5 s); 30 s of slack
for _ in $(seq 1 150); do code=$(curl -s -o /dev/null -w '%{http_code}' "$H/readyz"); [ "$code" = 200 ] && break; sleep 0.2; done
[ "$code" = 200 ] || fail "/readyz after PostgreSQL came back: $code $(curl -s "$H/readyz")"
n=$(prom <(curl -fsS "$H/metrics") dispatch_pg_errors_total)
[ "$n" -ge 1 ] || fail "dispatch_pg_errors_total $n after the outage"
ok "PostgreSQL back: /readyz 200; dispatch_pg_errors_total $n"

# a draining runner: counted by the scrape itself (the queue series and the
# draining count are read when scraped, not on a timer), and no longer a
# runner that can take the shell queue
rid=$(dispatchctl runners --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["runner_id"])')
dispatchctl drain "$rid" >/dev/null || fail "dispatchctl drain $rid"
curl -fsS "$H/metrics" >"$E2E_DIR/drained.prom" || fail "GET /metrics after the drain"
expect "$E2E_DIR/drained.prom" 'dispatch_runners_draining=1' \
  'dispatch_queue_runners{profile="shell",labels="",priority="normal"}=0'
ok "a drain shows at the next scrape: dispatch_runners_draining 1, no runner for the shell queue"

# the dispatcher gone: the runner is live but not ready
kill -TERM "$E2E_DISPATCHD"
# heartbeats every 300 ms, a call times out in 5 s: 20 s of slack
for _ in $(seq 1 100); do code=$(curl -s -o /dev/null -w '%{http_code}' "$R/readyz"); [ "$code" = 503 ] && break; sleep 0.2; done
[ "$code" = 503 ] || fail "runner /readyz without its dispatcher: $code"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$R/healthz")" = 200 ] || fail "runner /healthz without its dispatcher"
ok "dispatcher gone: runner /readyz 503, /healthz 200"

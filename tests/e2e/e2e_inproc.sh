#!/usr/bin/env bash
# `dispatchd --with-runners N`: one process hosts the dispatcher and N
# executor slots over inproc; jobs run and it stops cleanly on SIGTERM.
. "$(dirname "$0")/e2e_lib.sh"
mkdir -p "$E2E_DIR/work"
http_port=$(free_port)
E2E_DISPATCHD_ARGS="--with-runners 2" e2e_start_dispatchd RUNNER_FETCH_ALLOW_FILE=1 RUNNER_PROFILES_DIR="$SRC/pits" \
  RUNNER_WORKDIR="$E2E_DIR/work" RUNNER_SLOT_BASE=360 \
  DISPATCH_HTTP_LISTEN="http://127.0.0.1:$http_port"
# watch streams the job's events as they happen (queued, leased, completed)
dispatchctl watch --json >"$E2E_DIR/watch.jsonl" 2>&1 &
watcher=$!
E2E_PIDS+=($watcher)
sleep 0.3
ids=()
for i in 1 2 3; do
  ids+=("$(dispatchctl submit --profile shell --archive "$(e2e_zip "s$i" test.sh="exit 0\n")")")
done
for j in "${ids[@]}"; do
  dispatchctl wait "$j" --timeout 60 >/dev/null || fail "job $j not AC in-process"
done
sleep 0.3
kill "$watcher" 2>/dev/null || true
for st in queued leased completed; do
  grep -q "\"job_id\":\"${ids[0]}\".*\"state\":\"$st\"" "$E2E_DIR/watch.jsonl" \
    || fail "watch did not show ${ids[0]} $st: $(head -c 600 "$E2E_DIR/watch.jsonl")"
done
ok "watch streamed queued, leased, completed"
[ "$(dispatchctl runners --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["capacity"])')" = 2 ] \
  || fail "the in-process runner should have 2 slots"
# /healthz and /metrics over HTTP
[ "$(curl -fsS "http://127.0.0.1:$http_port/healthz")" = ok ] || fail "/healthz is not ok"
sleep 1.2 # the status actor refreshes every second
metrics=$(curl -fsS "http://127.0.0.1:$http_port/metrics")
echo "$metrics" | grep -q '^dispatch_up 1$' || fail "/metrics: dispatch_up: $metrics"
echo "$metrics" | grep -q '^dispatch_runners_alive 1$' || fail "/metrics: runners: $metrics"
echo "$metrics" | grep -q '^dispatch_jobs{state="pending"} 0$' || fail "/metrics: pending: $metrics"
ok "/healthz and /metrics"
kill -TERM "$E2E_DISPATCHD"
set +e; wait "$E2E_DISPATCHD"; rc=$?; set -e
[ "$rc" = 0 ] || fail "dispatchd --with-runners exited $rc on SIGTERM"
ok "dispatchd --with-runners: 3 jobs AC, clean stop"

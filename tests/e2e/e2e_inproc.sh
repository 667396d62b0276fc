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
# Nothing tells this script when the watcher's subscription is in place (a
# watch gets what is streamed after it connected): run probe jobs until it
# shows one's events.
probe=$(e2e_zip probe test.sh="exit 0\n")
for try in $(seq 1 20); do
  p=$(dispatchctl submit --profile shell --archive "$probe")
  dispatchctl wait "$p" --timeout 60 >/dev/null || fail "probe job $p not AC in-process"
  for _ in $(seq 1 10); do
    grep -q "\"job_id\":\"$p\"" "$E2E_DIR/watch.jsonl" && break 2
    sleep 0.1
  done
  kill -0 "$watcher" 2>/dev/null || fail "watch exited: $(head -c 600 "$E2E_DIR/watch.jsonl")"
  [ "$try" -lt 20 ] || fail "watch showed none of 20 probe jobs: $(head -c 600 "$E2E_DIR/watch.jsonl")"
done
ids=()
for i in 1 2 3; do
  ids+=("$(dispatchctl submit --profile shell --archive "$(e2e_zip "s$i" test.sh="exit 0\n")")")
done
for j in "${ids[@]}"; do
  dispatchctl wait "$j" --timeout 60 >/dev/null || fail "job $j not AC in-process"
done
# the events may reach the watcher after `wait` saw the results: 20 s of slack
for j in "${ids[@]}"; do
  for _ in $(seq 1 200); do
    grep -q "\"job_id\":\"$j\".*\"state\":\"completed\"" "$E2E_DIR/watch.jsonl" && break
    sleep 0.1
  done
done
kill "$watcher" 2>/dev/null || true
for j in "${ids[@]}"; do
  for st in queued leased completed; do
    grep -q "\"job_id\":\"$j\".*\"state\":\"$st\"" "$E2E_DIR/watch.jsonl" \
      || fail "watch did not show $j $st: $(head -c 600 "$E2E_DIR/watch.jsonl")"
  done
done
ok "watch streamed queued, leased, completed"
[ "$(dispatchctl runners --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["capacity"])')" = 2 ] \
  || fail "the in-process runner should have 2 slots"
# /healthz and /metrics over HTTP
[ "$(curl -fsS "http://127.0.0.1:$http_port/healthz")" = ok ] || fail "/healthz is not ok"
# the status actor refreshes every second: poll, with 20 s of slack for load
for _ in $(seq 1 100); do
  metrics=$(curl -fsS "http://127.0.0.1:$http_port/metrics")
  grep -q '^dispatch_up 1$' <<<"$metrics" &&
    grep -q '^dispatch_runners_alive 1$' <<<"$metrics" &&
    grep -q '^dispatch_jobs{state="pending"} 0$' <<<"$metrics" && break
  sleep 0.2
done
grep -q '^dispatch_up 1$' <<<"$metrics" || fail "/metrics: dispatch_up: $metrics"
grep -q '^dispatch_runners_alive 1$' <<<"$metrics" || fail "/metrics: runners: $metrics"
grep -q '^dispatch_jobs{state="pending"} 0$' <<<"$metrics" || fail "/metrics: pending: $metrics"
ok "/healthz and /metrics"
kill -TERM "$E2E_DISPATCHD"
set +e; wait "$E2E_DISPATCHD"; rc=$?; set -e
[ "$rc" = 0 ] || fail "dispatchd --with-runners exited $rc on SIGTERM"
ok "dispatchd --with-runners: probe and 3 jobs AC, clean stop"

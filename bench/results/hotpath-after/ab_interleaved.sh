#!/usr/bin/env bash
# A/B: before (bcd3f3a, /tmp/hp_before/build) and after (this branch, build/)
# interleaved under the same load: e2e no-op 2x16 (4000 jobs) and 1x1 (500 jobs).
set -euo pipefail
root=/work/wt-hotpath
cd "$root"
. scripts/services.sh
. scripts/stack.sh
STACK_PIDS=()
trap 'stack_stop || true; svc_stop' EXIT
svc_start >/dev/null
spec=$SVC_DIR/noop.json
echo '{"profile":"shell","archive":"file:///nonexistent/noop.zip"}' >"$spec"
for r in 1 2 3; do
  for v in before after; do
    if [ $v = before ]; then B=/tmp/hp_before/build; else B=$root/build; fi
    for cfg in 2x16 1x1 lat100; do
      m=${cfg%x*} c=${cfg#*x}; jobs=4000; [ $cfg = 1x1 ] && jobs=500
      [ $cfg = lat100 ] && m=2 c=16
      redis-cli -p "$SVC_REDIS_PORT" flushall >/dev/null
      psql -X -q -t -A "$DISPATCH_PG_DSN" -c "TRUNCATE jobs, test_results, job_events, runners" >/dev/null 2>&1 || true
      PATH="$B/cmd:$PATH" RUNNER_NOOP=1 stack_start "$m" "$c"
      sleep 1
      if [ $cfg = lat100 ]; then out=$("$B/bench/bench_load" latency "$spec" 100 5)
      else out=$("$B/bench/bench_load" e2e "$spec" "$jobs" 1000 90); fi
      echo "{\"variant\": \"$v\", \"cfg\": \"$cfg\", \"run\": $r, \"load1\": \"$(cut -d' ' -f1 /proc/loadavg)\", \"result\": $out}"
      stack_stop
    done
  done
done

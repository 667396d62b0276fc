#!/usr/bin/env bash
# mem.sh ROOT JOBS: Redis used_memory per pending job after a batched enqueue (no runners)
set -euo pipefail
root=$1 jobs=$2
( . "$root/scripts/services.sh"; . "$root/scripts/stack.sh"
  STACK_PIDS=()
  trap 'set +u; stack_stop >/dev/null 2>&1 || true; svc_stop' EXIT
  svc_start >/dev/null
  export PATH="$root/build/cmd:$PATH"
  spec=$SVC_DIR/noop.json
  echo '{"profile":"shell","archive":"file:///nonexistent/noop.zip"}' >"$spec"
  stack_start 0 1 >/dev/null; sleep 1
  m0=$(redis-cli -p "$SVC_REDIS_PORT" info memory | tr -d '\r' | sed -n 's/^used_memory:\(.*\)/\1/p')
  "$root/build/bench/bench_load" enqueue "$spec" "$jobs" 1000 >/dev/null
  m1=$(redis-cli -p "$SVC_REDIS_PORT" info memory | tr -d '\r' | sed -n 's/^used_memory:\(.*\)/\1/p')
  echo "{\"jobs\": $jobs, \"redis_bytes_per_pending_job\": $(( (m1 - m0) / jobs ))}" )

#!/usr/bin/env bash
# mixed.sh ROOT: 100 jobs/s latency (2x16) while another client submits
# 60,000 jobs no runner can take (label "nobody") in batches of 10,000
set -euo pipefail
root=$1
( . "$root/scripts/services.sh"; . "$root/scripts/stack.sh"
  STACK_PIDS=()
  trap 'set +u; stack_stop >/dev/null 2>&1 || true; svc_stop' EXIT
  svc_start >/dev/null
  export PATH="$root/build/cmd:$PATH"
  spec=$SVC_DIR/noop.json big=$SVC_DIR/big.json
  echo '{"profile":"shell","archive":"file:///nonexistent/noop.zip"}' >"$spec"
  echo '{"profile":"shell","labels":["nobody"],"archive":"file:///nonexistent/noop.zip"}' >"$big"
  RUNNER_NOOP=1 stack_start 2 16 >/dev/null; sleep 2
  ( sleep 2; "$root/build/bench/bench_load" enqueue "$big" 60000 10000 >"$SVC_DIR/enq.json" ) &
  ep=$!
  "$root/build/bench/bench_load" latency "$spec" 100 10
  wait $ep; cat "$SVC_DIR/enq.json" >&2 )

#!/usr/bin/env bash
# lat.sh BEFORE AFTER ROUNDS RATE...: paired latency runs (2x16 no-op, 5 s each), interleaved
set -euo pipefail
one() {
  local root=$1 rate=$2
  ( . "$root/scripts/services.sh"; . "$root/scripts/stack.sh"
    STACK_PIDS=()
    trap 'set +u; stack_stop >/dev/null 2>&1 || true; svc_stop' EXIT
    svc_start >/dev/null
    export PATH="$root/build/cmd:$PATH"
    spec=$SVC_DIR/noop.json
    echo '{"profile":"shell","archive":"file:///nonexistent/noop.zip"}' >"$spec"
    RUNNER_NOOP=1 stack_start 2 16 >/dev/null; sleep 2
    "$root/build/bench/bench_load" latency "$spec" "$rate" 5 )
}
before=$1 after=$2 rounds=$3; shift 3
for round in $(seq 1 "$rounds"); do
  for side in before after; do
    root=$before; [ "$side" = after ] && root=$after
    for rate in "$@"; do
      echo "{\"side\": \"$side\", \"round\": $round, \"rate\": $rate, \"result\": $(one "$root" "$rate")}"
    done
  done
done

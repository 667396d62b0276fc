#!/usr/bin/env bash
# The sixth session's before/after (docs/bench.md): two release builds
# side by side (ab-AFTERCOMMIT.jsonl names the pair), runs interleaved,
# each on fresh throwaway Redis + PostgreSQL (scripts/services.sh) with
# no-op runners (2 x 16 unless named). Usage: ab.sh BEFORE_ROOT AFTER_ROOT
# (each a checkout with build/ and scripts/); prints one JSON line per run.
set -euo pipefail
one() { # ROOT KIND ARGS...: one run on fresh services
  local root=$1 kind=$2; shift 2
  ( . "$root/scripts/services.sh"; . "$root/scripts/stack.sh"
    STACK_PIDS=()
    trap 'set +u; stack_stop >/dev/null 2>&1 || true; svc_stop' EXIT
    svc_start >/dev/null
    export PATH="$root/build/cmd:$PATH"
    spec=$SVC_DIR/noop.json
    echo '{"profile":"shell","archive":"file:///nonexistent/noop.zip"}' >"$spec"
    if [ "$kind" = latency ]; then
      RUNNER_NOOP=1 stack_start 2 16; sleep 2
      "$root/build/bench/bench_load" latency "$spec" "$1" "$2"
    else
      RUNNER_NOOP=1 stack_start "$1" "$2"; sleep 2
      "$root/build/bench/bench_load" e2e "$spec" "$3" 1000 120
    fi )
}
for round in 1 2 3 4 5; do
  for side in before after; do
    root=$1; [ "$side" = after ] && root=$2
    echo "{\"side\": \"$side\", \"round\": $round, \"kind\": \"latency\", \"rate\": 1000, \"result\": $(one "$root" latency 1000 10)}"
    [ "$round" -le 3 ] && echo "{\"side\": \"$side\", \"round\": $round, \"kind\": \"latency\", \"rate\": 100, \"result\": $(one "$root" latency 100 10)}"
    echo "{\"side\": \"$side\", \"round\": $round, \"kind\": \"e2e\", \"config\": \"2x16\", \"result\": $(one "$root" e2e 2 16 15000)}"
    [ "$round" -le 3 ] && echo "{\"side\": \"$side\", \"round\": $round, \"kind\": \"e2e\", \"config\": \"1x1\", \"result\": $(one "$root" e2e 1 1 2000)}"
  done
done

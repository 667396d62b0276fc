#!/usr/bin/env bash
# The seventh session's before/after (docs/bench.md): two release builds
# side by side, runs interleaved, each on fresh throwaway Redis + PostgreSQL
# (scripts/services.sh), no-op runners. Each e2e/enqueue line carries the CPU
# each process spent per job (from /proc: dispatchd, runners, Redis,
# PostgreSQL's backends). Usage: ab.sh BEFORE_ROOT AFTER_ROOT [ROUNDS]
# (each a checkout with build/ and scripts/); one JSON line per run.
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
    if [ "$kind" = store ]; then
      RUNNER_NOOP=1 stack_start 0 1 >/dev/null; sleep 1; stack_stop >/dev/null 2>&1 # the schema
      "$root/build/dispatch/store/bench_store" "$DISPATCH_PG_DSN" 10000 2>/dev/null |
        python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in sys.stdin]))'
      return
    fi
    local r=$1 s=$2 jobs=$3 batch=${4:-1000}
    RUNNER_NOOP=1 stack_start "$r" "$s" >/dev/null; sleep 2
    cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
    local pgp out
    pgp=$(pgrep -P "$(head -n 1 "$SVC_PG_DATA/postmaster.pid")" | tr '\n' ' ')
    local d0 r0=0 x0 p0 d1 r1=0 x1 p1
    d0=$(cpu "${STACK_PIDS[0]}"); [ "$r" -gt 0 ] && r0=$(cpu "${STACK_PIDS[@]:1}")
    x0=$(cpu "$SVC_REDIS_PID"); p0=$(cpu $pgp)
    if [ "$kind" = enqueue ]; then
      out=$("$root/build/bench/bench_load" enqueue "$spec" "$jobs" "$batch")
    else
      out=$("$root/build/bench/bench_load" e2e "$spec" "$jobs" "$batch" 120)
    fi
    d1=$(cpu "${STACK_PIDS[0]}"); [ "$r" -gt 0 ] && r1=$(cpu "${STACK_PIDS[@]:1}")
    x1=$(cpu "$SVC_REDIS_PID"); p1=$(cpu $pgp)
    us() { echo $(( ($2 - $1) * 10000 / jobs )); } # clock ticks of 10 ms -> us per job
    echo "{\"run\": $out, \"cpu_us_per_job\": {\"dispatchd\": $(us "$d0" "$d1"), \"runners\": $(us "$r0" "$r1"), \"redis\": $(us "$x0" "$x1"), \"postgres\": $(us "$p0" "$p1")}}" )
}
# KINDS (default "store enqueue e2e") picks what each round runs.
for round in $(seq 1 "${3:-3}"); do
  for side in before after; do
    root=$1; [ "$side" = after ] && root=$2
    for kind in ${KINDS:-store enqueue e2e}; do
      case $kind in
      store) echo "{\"side\": \"$side\", \"round\": $round, \"kind\": \"store\", \"result\": $(one "$root" store)}" ;;
      enqueue) echo "{\"side\": \"$side\", \"round\": $round, \"kind\": \"enqueue\", \"batch\": 10000, \"result\": $(one "$root" enqueue 0 1 50000 10000)}" ;;
      e2e) echo "{\"side\": \"$side\", \"round\": $round, \"kind\": \"e2e\", \"config\": \"2x16\", \"result\": $(one "$root" e2e 2 16 15000)}" ;;
      esac
    done
  done
done

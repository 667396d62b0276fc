#!/usr/bin/env bash
# Before/after of two release builds, runs interleaved, each on fresh
# throwaway Redis + PostgreSQL (scripts/services.sh) with no-op runners, the
# stack as ./dev bench runs it (HTTP API on). Each line carries the CPU each
# process spent per job (from /proc: dispatchd, runners, Redis, PostgreSQL's
# backends). Never a test; figures go to docs/bench.md with their raw lines.
#   bench/ab.sh BEFORE_ROOT AFTER_ROOT ROUNDS RUN...
# each ROOT a checkout with a release build/ (meson setup build
# -Dbuildtype=release -Db_ndebug=if-release); RUN is e2e:RUNNERSxSLOTS:JOBS
# (submitted in batches of 1,000), enqueue:JOBS:BATCH (no runners) or
# latency:RUNNERSxSLOTS:RATE (open loop, RATE jobs/s for 5 s, times to the
# watcher's events).
# AB_SPEC=FILE submits that spec instead of the no-op one (bench/specs/:
# specs with test data), AB_BATCH=N (default 1000) e2e's submit batches.
# One JSON line per run on stdout.
set -euo pipefail
one() { # ROOT KIND RUNNERS SLOTS JOBS BATCH: one run on fresh services
  local root=$1 kind=$2 r=$3 s=$4 jobs=$5 batch=$6
  ( . "$root/scripts/services.sh"; . "$root/scripts/stack.sh"
    STACK_PIDS=()
    trap 'set +u; stack_stop >/dev/null 2>&1 || true; svc_stop' EXIT
    svc_start >/dev/null
    export PATH="$root/build/cmd:$PATH"
    spec=$SVC_DIR/noop.json
    if [ -n "${AB_SPEC:-}" ]; then cp "$AB_SPEC" "$spec"; else
      echo '{"profile":"shell","archive":"file:///nonexistent/noop.zip"}' >"$spec"; fi
    RUNNER_NOOP=1 stack_start "$r" "$s" >/dev/null; sleep 2
    cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
    local pgp out d0 r0=0 x0 p0 d1 r1=0 x1 p1
    pgp=$(pgrep -P "$(head -n 1 "$SVC_PG_DATA/postmaster.pid")" | tr '\n' ' ')
    d0=$(cpu "${STACK_PIDS[0]}"); [ "$r" -gt 0 ] && r0=$(cpu "${STACK_PIDS[@]:1}")
    x0=$(cpu "$SVC_REDIS_PID"); p0=$(cpu $pgp)
    if [ "$kind" = enqueue ]; then
      out=$("$root/build/bench/bench_load" enqueue "$spec" "$jobs" "$batch")
    elif [ "$kind" = latency ]; then # jobs: RATE, for 5 s
      out=$("$root/build/bench/bench_load" latency "$spec" "$jobs" 5)
      jobs=$((jobs * 5))
    else
      out=$("$root/build/bench/bench_load" e2e "$spec" "$jobs" "$batch" 120)
    fi
    d1=$(cpu "${STACK_PIDS[0]}"); [ "$r" -gt 0 ] && r1=$(cpu "${STACK_PIDS[@]:1}")
    x1=$(cpu "$SVC_REDIS_PID"); p1=$(cpu $pgp)
    tck=$(getconf CLK_TCK)
    us() { echo $(( ($2 - $1) * 1000000 / tck / jobs )); }
    echo "{\"run\": $out, \"cpu_us_per_job\": {\"dispatchd\": $(us "$d0" "$d1"), \"runners\": $(us "$r0" "$r1"), \"redis\": $(us "$x0" "$x1"), \"postgres\": $(us "$p0" "$p1")}}" )
}
[ $# -ge 4 ] || { sed -n '2,13p' "$0" >&2; exit 64; }
before=$1 after=$2 rounds=$3; shift 3
for round in $(seq 1 "$rounds"); do
  # which side goes first alternates, so a drift within a round (the host
  # slowing down, caches warming) favours neither
  sides="before after"; [ $((round % 2)) = 0 ] && sides="after before"
  for side in $sides; do
    root=$before; [ "$side" = after ] && root=$after
    for run in "$@"; do
      IFS=: read -r kind a b <<<"$run"
      case $kind in
      e2e) res=$(one "$root" e2e "${a%x*}" "${a#*x}" "$b" "${AB_BATCH:-1000}") ;;
      latency) res=$(one "$root" latency "${a%x*}" "${a#*x}" "$b" 0) ;;
      enqueue) res=$(one "$root" enqueue 0 1 "$a" "$b") ;;
      *) echo "ab.sh: unknown run '$run'" >&2; exit 64 ;;
      esac
      echo "{\"side\": \"$side\", \"round\": $round, \"config\": \"$run\", \"result\": $res}"
    done
  done
done

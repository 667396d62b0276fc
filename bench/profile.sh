#!/usr/bin/env bash
# bench/profile.sh [RUNNERS SLOTS JOBS]: where the no-op dispatch path spends
# its CPU. Run through ./dev bench's environment, e.g.
#   ./dev bench profile            (run.sh passes NAME=profile here)
# Starts dispatchd + runners (RUNNER_NOOP=1), runs bench_load e2e JOBS, and
# reports CPU seconds per process group (dispatchd, runners, redis, postgres
# backends, the load generator) from /proc/PID/stat, then perf profiles of
# dispatchd and one runner (top symbols, children folded) when perf works.
# Output: bench/results/profile.txt. Stops what it started by pid.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
B=$root/build
R=$root/bench/results
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"
# shellcheck source=scripts/stack.sh
. "$root/scripts/stack.sh"
runners=${1:-2} slots=${2:-16} jobs=${3:-20000}
PERF_PIDS=()
cleanup() {
  local p
  for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  stack_stop || true
}
trap cleanup EXIT
out=$R/profile.txt
spec=$SVC_DIR/noop.json
echo '{"profile":"shell","archive":"file:///nonexistent/noop.zip"}' >"$spec"
redis-cli -p "$SVC_REDIS_PORT" flushall >/dev/null
psql -X -q "$DISPATCH_PG_DSN" -c "TRUNCATE jobs, test_results, job_events, runners" >/dev/null 2>&1 || true
RUNNER_NOOP=1 stack_start "$runners" "$slots"
sleep 2

# cpu_ticks PID...: utime+stime of each pid summed (clock ticks).
cpu_ticks() {
  local p s=0 t
  for p in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    s=$((s + t))
  done
  echo "$s"
}
pg_pids() { pgrep -P "$(head -n 1 "$SVC_PG_DATA/postmaster.pid")" | tr '\n' ' '; }
runner_pids=("${STACK_PIDS[@]:1}")
d0=$(cpu_ticks "${STACK_PIDS[0]}") r0=$(cpu_ticks "${runner_pids[@]}") x0=$(cpu_ticks "$SVC_REDIS_PID")
# shellcheck disable=SC2046
p0=$(cpu_ticks $(pg_pids))
perf_ok=
if command -v perf >/dev/null && perf record -o /dev/null -q -- true >/dev/null 2>&1; then
  perf_ok=1
  perf record -q -g -o "$SVC_DIR/perf-d.data" -p "${STACK_PIDS[0]}" >/dev/null 2>&1 &
  PERF_PIDS+=($!)
  perf record -q -g -o "$SVC_DIR/perf-r.data" -p "${runner_pids[0]}" >/dev/null 2>&1 &
  PERF_PIDS+=($!)
  sleep 0.5
fi
t0=$(date +%s.%N)
res=$(/usr/bin/time -f '%U %S' -o "$SVC_DIR/load.time" "$B/bench/bench_load" e2e "$spec" "$jobs" 1000 120)
t1=$(date +%s.%N)
d1=$(cpu_ticks "${STACK_PIDS[0]}") r1=$(cpu_ticks "${runner_pids[@]}") x1=$(cpu_ticks "$SVC_REDIS_PID")
# shellcheck disable=SC2046
p1=$(cpu_ticks $(pg_pids))
for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
PERF_PIDS=()
hz=$(getconf CLK_TCK)
{
  echo "# profile: $runners runners x $slots slots, $jobs no-op jobs, $(nproc) CPUs"
  echo "result: $res"
  python3 - "$t0" "$t1" "$hz" "$jobs" "$d0" "$d1" "$r0" "$r1" "$x0" "$x1" "$p0" "$p1" "$(cat "$SVC_DIR/load.time")" <<'PY'
import sys
t0, t1, hz, jobs = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
v = [int(x) for x in sys.argv[5:13]]
u, s = sys.argv[13].split()
wall = t1 - t0
rows = [("dispatchd", (v[1] - v[0]) / hz), ("runners", (v[3] - v[2]) / hz),
        ("redis", (v[5] - v[4]) / hz), ("postgres backends", (v[7] - v[6]) / hz),
        ("bench_load", float(u) + float(s))]
print(f"wall {wall:.2f} s; CPU seconds by process (share of 1 core over the run, us per job):")
for name, cpu in rows:
    print(f"  {name:18} {cpu:7.2f} s  {100 * cpu / wall:5.1f}%  {cpu * 1e6 / jobs:8.1f} us/job")
PY
  if [ -n "$perf_ok" ]; then
    for w in d r; do
      echo
      echo "## perf top symbols, $([ $w = d ] && echo dispatchd || echo 'runner 1') (self %, then children)"
      perf report -i "$SVC_DIR/perf-$w.data" --no-children --sort sym --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -n 25
      perf report -i "$SVC_DIR/perf-$w.data" --children --sort sym --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -n 25
    done
  fi
} >"$out"
cat "$out"

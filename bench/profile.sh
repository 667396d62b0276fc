#!/usr/bin/env bash
# bench/profile.sh [RUNNERS SLOTS JOBS]: where the no-op dispatch path spends
# its CPU. Run through ./dev bench's environment, e.g.
#   ./dev bench profile            (run.sh passes NAME=profile here)
# Starts dispatchd + runners (RUNNER_NOOP=1), runs bench_load e2e JOBS, and
# reports CPU seconds per process group (dispatchd, runners, redis, postgres
# backends, the load generator) from /proc/PID/stat, then perf profiles of
# dispatchd and one runner (top symbols, children folded) when perf works.
# The load runs PROFILE_RUNS times (3) on the same stack: the CPU per job
# per process is the median of the runs. Output:
# bench/results/profile-MODE.txt (PROFILE_MODE e2e|enqueue).
# PROFILE_PERF=0 skips perf. Stops what it started by pid.
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
out=$R/profile-${PROFILE_MODE:-e2e}.txt
rm -f "$SVC_DIR"/perf-*.data
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
    [ -n "$p" ] || continue # /proc//stat would be /proc/stat
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    s=$((s + t))
  done
  echo "$s"
}
# threads_snap PID FILE: per-thread CPU ticks and context switches, by name.
threads_snap() {
  python3 - "$1" >"$2" <<'PY'
import json, os, sys
pid = sys.argv[1]
out = {}
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        st = open(f"/proc/{pid}/task/{tid}/stat").read()
        comm = st[st.index("(") + 1:st.rindex(")")]
        f = st[st.rindex(")") + 2:].split()
        cs = 0
        for l in open(f"/proc/{pid}/task/{tid}/status"):
            if "ctxt_switches" in l:
                cs += int(l.split()[1])
    except OSError:
        continue
    o = out.setdefault(comm, [0, 0, 0])
    o[0] += int(f[11]) + int(f[12]); o[1] += cs; o[2] += 1
print(json.dumps(out))
PY
}
threads_diff() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, os, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
hz, jobs = os.sysconf("SC_CLK_TCK"), int(sys.argv[4])
print(f"## threads of {sys.argv[3]}: CPU s, context switches per job (threads)")
rows = sorted(b.items(), key=lambda kv: -(kv[1][0] - a.get(kv[0], [0, 0])[0]))
for name, v in rows[:12]:
    p = a.get(name, [0, 0, 0])
    print(f"  {name:16} {(v[0] - p[0]) / hz:7.2f} s  {(v[1] - p[1]) / jobs:7.2f} cs/job  ({v[2]})")
PY
}
# calls_snap FILE: Redis commands (calls, usec) and PostgreSQL commits so far:
# per job they show how large the batches at each boundary are. A backend
# reports its counters when idle, at most once a second: hence the nap.
calls_snap() {
  sleep 1.1
  {
    redis-cli -p "$SVC_REDIS_PORT" info commandstats | tr -d '\r' |
      sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=\([0-9]*\),.*/\1 \2 \3/p'
    psql -X -qtA "$DISPATCH_PG_DSN" -c "SELECT 'pg_commits', xact_commit, 0 FROM pg_stat_database WHERE datname = current_database()" | tr '|' ' '
    curl -sS "$DISPATCH_HTTP_URL/metrics" |
      sed -n 's/^dispatch_\(lease\|redis_request\|pg_request\)_duration_seconds_count \([0-9]*\)$/dispatchd_\1s \2 0/p'
  } >"$1"
}
calls_diff() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
def load(p):
    return {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in open(p) if l.strip()}
a, b, jobs = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
print("## calls per job: Redis commandstats; PostgreSQL commits (the load generator's too);")
print("## dispatchd_*: its leases that got jobs and its Redis and PostgreSQL round trips")
for name, (c, us) in sorted(b.items(), key=lambda kv: -(kv[1][1] - a.get(kv[0], (0, 0))[1])):
    dc, du = c - a.get(name, (0, 0))[0], us - a.get(name, (0, 0))[1]
    if dc * 1000 < jobs:
        continue
    cost = f"{du / dc:7.1f} us/call {du / jobs:6.1f} us/job" if dc and not name.startswith(("pg_", "dispatchd_")) else ""
    print(f"  {name:16} {dc / jobs:7.3f} calls/job {cost}")
PY
}
pg_pids() { pgrep -P "$(head -n 1 "$SVC_PG_DATA/postmaster.pid")" | tr '\n' ' '; }
runner_pids=("${STACK_PIDS[@]:1}")
has_runner=0
[ ${#runner_pids[@]} -eq 0 ] || has_runner=1
perf_ok=
if [ "${PROFILE_PERF:-1}" = 1 ] && command -v perf >/dev/null && perf record -o /dev/null -q -- true >/dev/null 2>&1; then
  perf_ok=1
fi
runs=${PROFILE_RUNS:-3}
# measure RUN: one load run on the running stack; its CPU per process goes
# to $SVC_DIR/cpu-RUN.txt, its threads and calls to td/tr/calls-RUN files.
measure() {
  local run=$1 d0 r0 x0 p0 d1 r1 x1 p1 t0 t1 res
  d0=$(cpu_ticks "${STACK_PIDS[0]}") r0=$(cpu_ticks "${runner_pids[@]:-}") x0=$(cpu_ticks "$SVC_REDIS_PID")
  # shellcheck disable=SC2046
  p0=$(cpu_ticks $(pg_pids))
  threads_snap "${STACK_PIDS[0]}" "$SVC_DIR/td0-$run.json"
  [ $has_runner = 0 ] || threads_snap "${runner_pids[0]}" "$SVC_DIR/tr0-$run.json"
  calls_snap "$SVC_DIR/calls0-$run.txt"
  # perf samples 3 s from 1 s into the first run only: attached for a whole
  # run it slows this context-switch-heavy load threefold and skews the CPU
  # figures (the first run's are reported, and the median is over all runs).
  if [ -n "$perf_ok" ] && [ "$run" = 1 ]; then
    (sleep 1; exec perf record -q -g -o "$SVC_DIR/perf-d.data" -p "${STACK_PIDS[0]}" -- sleep 3) >/dev/null 2>&1 &
    PERF_PIDS+=($!)
    if [ $has_runner = 1 ]; then
      (sleep 1; exec perf record -q -g -o "$SVC_DIR/perf-r.data" -p "${runner_pids[0]}" -- sleep 3) >/dev/null 2>&1 &
      PERF_PIDS+=($!)
    fi
  fi
  t0=$(date +%s.%N)
  # PROFILE_MODE=enqueue: batched submit only (use RUNNERS 0).
  if [ "${PROFILE_MODE:-e2e}" = enqueue ]; then
    res=$(/usr/bin/time -f '%U %S' -o "$SVC_DIR/load.time" "$B/bench/bench_load" enqueue "$spec" "$jobs" 10000)
  else
    res=$(/usr/bin/time -f '%U %S' -o "$SVC_DIR/load.time" "$B/bench/bench_load" e2e "$spec" "$jobs" 1000 120)
  fi
  t1=$(date +%s.%N)
  d1=$(cpu_ticks "${STACK_PIDS[0]}") r1=$(cpu_ticks "${runner_pids[@]:-}") x1=$(cpu_ticks "$SVC_REDIS_PID")
  # shellcheck disable=SC2046
  p1=$(cpu_ticks $(pg_pids))
  threads_snap "${STACK_PIDS[0]}" "$SVC_DIR/td1-$run.json"
  [ $has_runner = 0 ] || threads_snap "${runner_pids[0]}" "$SVC_DIR/tr1-$run.json"
  calls_snap "$SVC_DIR/calls1-$run.txt"
  for p in "${PERF_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PERF_PIDS=()
  echo "$res" >"$SVC_DIR/result-$run.txt"
  echo "$t0 $t1 $d0 $d1 $r0 $r1 $x0 $x1 $p0 $p1 $(cat "$SVC_DIR/load.time")" >"$SVC_DIR/cpu-$run.txt"
}
for run in $(seq 1 "$runs"); do measure "$run"; done
hz=$(getconf CLK_TCK)
{
  echo "# profile: $runners runners x $slots slots, $jobs no-op jobs, $(nproc) CPUs, $runs runs"
  for run in $(seq 1 "$runs"); do echo "result $run: $(cat "$SVC_DIR/result-$run.txt")"; done
  python3 - "$hz" "$jobs" "$SVC_DIR" "$runs" <<'PY'
import statistics, sys
hz, jobs, d, runs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
names = ["dispatchd", "runners", "redis", "postgres backends", "bench_load"]
per = {n: [] for n in names}
walls = []
for r in range(1, runs + 1):
    f = open(f"{d}/cpu-{r}.txt").read().split()
    t0, t1 = float(f[0]), float(f[1])
    v = [int(x) for x in f[2:10]]
    cpu = [(v[1] - v[0]) / hz, (v[3] - v[2]) / hz, (v[5] - v[4]) / hz, (v[7] - v[6]) / hz,
           float(f[10]) + float(f[11])]
    walls.append(t1 - t0)
    for n, c in zip(names, cpu):
        per[n].append(c * 1e6 / jobs)
print(f"CPU us per job by process, median of {runs} runs (each run's in brackets); wall "
      f"{statistics.median(walls):.2f} s:")
for n in names:
    runs_s = " ".join(f"{x:.1f}" for x in per[n])
    print(f"  {n:18} {statistics.median(per[n]):8.1f} us/job  [{runs_s}]")
PY
  echo "(threads, calls and perf below: the first run)"
  threads_diff "$SVC_DIR/td0-1.json" "$SVC_DIR/td1-1.json" dispatchd "$jobs"
  [ $has_runner = 0 ] || threads_diff "$SVC_DIR/tr0-1.json" "$SVC_DIR/tr1-1.json" "runner 1" "$jobs"
  calls_diff "$SVC_DIR/calls0-1.txt" "$SVC_DIR/calls1-1.txt" "$jobs"
  if [ -n "$perf_ok" ]; then
    for w in d r; do
      [ -f "$SVC_DIR/perf-$w.data" ] || continue
      echo
      echo "## perf, 3 s sample: $([ $w = d ] && echo dispatchd || echo 'runner 1') by thread and symbol (self %)"
      perf report -i "$SVC_DIR/perf-$w.data" --no-children --sort comm,dso,sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 30 || true
    done
  fi
} >"$out"
cat "$out"

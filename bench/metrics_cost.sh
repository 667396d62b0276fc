#!/usr/bin/env bash
# bench/metrics_cost.sh BASE_BUILD NEW_BUILD [RUNS]: what the metrics cost
# the job's path. The no-op figure of docs/bench.md (2 runners x 16 slots,
# RUNNER_NOOP=1, bench_load e2e, 4000 jobs) for two builds, paired and
# alternated (base, new, base, new, ...) against one throwaway Redis and
# PostgreSQL, the order swapped every other run; prints one JSON line per
# run (jobs/s and dispatchd's CPU time per 1000 jobs, user + system, which
# a shared machine disturbs less than the rate) and the medians. Every
# process it starts is stopped by pid.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=$(cd "$1" && pwd) new=$(cd "$2" && pwd) runs=${3:-3}
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"
# shellcheck source=scripts/stack.sh
. "$root/scripts/stack.sh"
STACK_PIDS=()
trap 'stack_stop || true; svc_stop' EXIT
svc_start
spec=$SVC_DIR/noop.json
echo '{"profile":"shell","archive":"file:///nonexistent/noop.zip"}' >"$spec"
rcli() { redis-cli -p "$SVC_REDIS_PORT" "$@"; }
cpu_ms() { # cpu_ms PID: user + system CPU time in ms
  awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"
}
one() { # one BUILD: "jobs/s cpu_ms_per_1000_jobs" of one run
  local b=$1
  rcli flushall >/dev/null
  psql -X -q -t -A "$DISPATCH_PG_DSN" -c "TRUNCATE jobs, test_results, job_events, runners" >/dev/null 2>&1 || true
  PATH="$b/cmd:$PATH" RUNNER_NOOP=1 stack_start 2 16 >/dev/null
  for _ in $(seq 1 100); do
    [ "$(PATH="$b/cmd:$PATH" dispatchctl queue --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["runners_alive"])')" -ge 2 ] && break
    sleep 0.1
  done
  sleep 0.3
  local c0 c1 rate
  c0=$(cpu_ms "${STACK_PIDS[0]}")
  rate=$("$b/bench/bench_load" e2e "$spec" 4000 1000 90 | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs_per_s"])')
  c1=$(cpu_ms "${STACK_PIDS[0]}")
  stack_stop
  echo "$rate $(((c1 - c0) / 4))"
}
b_all=() n_all=() bc_all=() nc_all=()
for r in $(seq 1 "$runs"); do
  if [ $((r % 2)) = 1 ]; then b=$(one "$base"); n=$(one "$new"); else n=$(one "$new"); b=$(one "$base"); fi
  b_all+=("${b% *}") n_all+=("${n% *}") bc_all+=("${b#* }") nc_all+=("${n#* }")
  echo "{\"run\": $r, \"base_jobs_per_s\": ${b% *}, \"new_jobs_per_s\": ${n% *}, \"base_dispatchd_cpu_ms_per_1000_jobs\": ${b#* }, \"new_dispatchd_cpu_ms_per_1000_jobs\": ${n#* }}"
done
python3 - "${b_all[*]}" "${n_all[*]}" "${bc_all[*]}" "${nc_all[*]}" <<'PY'
import json, statistics, sys
b, n, bc, nc = ([float(x) for x in a.split()] for a in sys.argv[1:5])
m = statistics.median
print(json.dumps({"base_median_jobs_per_s": m(b), "new_median_jobs_per_s": m(n),
                  "new_vs_base": round(m(n) / m(b), 3),
                  "base_median_dispatchd_cpu_ms_per_1000_jobs": m(bc),
                  "new_median_dispatchd_cpu_ms_per_1000_jobs": m(nc),
                  "cpu_new_vs_base": round(m(nc) / m(bc), 3)}))
PY

#!/usr/bin/env bash
# bench/metrics_cost.sh BASE_BUILD NEW_BUILD [RUNS]: what the metrics cost
# the job's path. The no-op figure of docs/bench.md (2 runners x 16 slots,
# RUNNER_NOOP=1, bench_load e2e, 4000 jobs) for two builds, paired and
# alternated (base, new, base, new, ...) against one throwaway Redis and
# PostgreSQL; prints one JSON line per run and the medians. Every process
# it starts is stopped by pid.
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
one() { # one BUILD: jobs/s of one run
  local b=$1
  rcli flushall >/dev/null
  psql -X -q -t -A "$DISPATCH_PG_DSN" -c "TRUNCATE jobs, test_results, job_events, runners" >/dev/null 2>&1 || true
  PATH="$b/cmd:$PATH" RUNNER_NOOP=1 stack_start 2 16 >/dev/null
  for _ in $(seq 1 100); do
    [ "$(PATH="$b/cmd:$PATH" dispatchctl queue --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["runners_alive"])')" -ge 2 ] && break
    sleep 0.1
  done
  sleep 0.3
  "$b/bench/bench_load" e2e "$spec" 4000 1000 90 | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs_per_s"])'
  stack_stop
}
b_all=() n_all=()
for r in $(seq 1 "$runs"); do
  b=$(one "$base"); n=$(one "$new")
  b_all+=("$b") n_all+=("$n")
  echo "{\"run\": $r, \"base_jobs_per_s\": $b, \"new_jobs_per_s\": $n}"
done
python3 - "${b_all[*]}" "${n_all[*]}" <<'PY'
import json, statistics, sys
b = [float(x) for x in sys.argv[1].split()]
n = [float(x) for x in sys.argv[2].split()]
print(json.dumps({"base_median_jobs_per_s": statistics.median(b),
                  "new_median_jobs_per_s": statistics.median(n),
                  "new_vs_base": round(statistics.median(n) / statistics.median(b), 3)}))
PY

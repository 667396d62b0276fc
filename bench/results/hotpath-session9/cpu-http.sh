#!/usr/bin/env bash
# The ninth session's HTTP figures (docs/bench.md): cpu-http.sh ROOT TOTAL CONC.
# One run on fresh throwaway services, one no-op runner x 4 slots as
# ./dev bench http runs it: TOTAL single-spec POST /api/v1/jobs from CONC
# client threads (http_single.py); prints jobs/s and dispatchd's CPU per
# job, whole and per thread name (from /proc, after a 400-job warm-up).
set -euo pipefail
root=$1
here=$(cd "$(dirname "$0")" && pwd)
( . "$root/scripts/services.sh"; . "$root/scripts/stack.sh"
  STACK_PIDS=()
  trap 'set +u; stack_stop >/dev/null 2>&1 || true; svc_stop' EXIT
  svc_start >/dev/null
  export PATH="$root/build/cmd:$PATH"
  RUNNER_NOOP=1 stack_start 1 4 >/dev/null; sleep 2
  tmp=$(mktemp -d)
  dpid=$(pgrep -n -f "$root/build/cmd/dispatchd" || pgrep -n dispatchd)
  snap() { for t in /proc/$dpid/task/*; do echo "$(cat $t/comm) $(awk '{print $14+$15}' $t/stat)"; done | awk '{a[$1]+=$2} END {for (k in a) print k, a[k]}' | sort; }
  python3 "$here/http_single.py" "$DISPATCH_HTTP_URL" "$DISPATCH_API_KEY" 400 4 >/dev/null
  snap > "$tmp/before"
  rate=$(python3 "$here/http_single.py" "$DISPATCH_HTTP_URL" "$DISPATCH_API_KEY" "$2" "$3")
  snap > "$tmp/after"
  tck=$(getconf CLK_TCK)
  join "$tmp/before" "$tmp/after" | awk -v n="$2" -v t="$tck" -v r="$rate" '{d=($3-$2)*1e6/t/n; tot+=d; if (d>0) s=s sprintf("%s=%.0f ", $1, d)} END {printf "{\"rate\": %s, \"dispatchd_us_per_job\": %.0f, \"threads\": \"%s\"}\n", r, tot, s}'
  rm -rf "$tmp"
)

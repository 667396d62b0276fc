# shellcheck shell=bash
# bench_peers: BullMQ and graphile-worker measured beside dispatch, sourced by
# bench/run.sh (uses its log, emit, RAW, RUNS). The npm packages pinned in
# bench/peers/package.json + package-lock.json are installed with `npm ci`
# into a temporary folder; node and npm are Debian's (apt-get) unless a
# working node >= 18 and npm are already on PATH. The peers get their own
# throwaway Redis and PostgreSQL (scripts/services.sh, the same settings as
# ours: no persistence, fsync off), started and stopped in a subshell.
# One JSON line per run goes to raw/peers.jsonl.
: "${root:?bench/peers/peers.sh is sourced by bench/run.sh, which sets root}"

peers_have_node() {
  node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' 2>/dev/null &&
    npm --version >/dev/null 2>&1
}

peers_ensure_node() {
  peers_have_node && return 0
  log "peers: installing nodejs npm (apt-get)"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq </dev/null >/dev/null || true
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends nodejs npm \
    </dev/null >/dev/null || { echo "peers: apt-get install nodejs npm failed" >&2; return 1; }
  peers_have_node || { echo "peers: node >= 18 and npm are still not usable after apt-get" >&2; return 1; }
}

# Jobs per e2e run, the rule bench_dispatch uses: 500 per slot, at most BENCH_E2E_JOBS.
peers_e2e_jobs() {
  local j=$((500 * $1)) cap=${BENCH_E2E_JOBS:-4000}
  [ "$j" -le "$cap" ] || j=$cap
  echo "$j"
}

# The machine's state when a run starts: 1-minute load average, UTC time.
peers_state() {
  printf '"utc": "%s", "loadavg_1m": %s' "$(date -u +%FT%TZ)" "$(cut -d' ' -f1 /proc/loadavg)"
}

bench_peers() {
  : >"$RAW/peers.jsonl"
  peers_ensure_node
  (
    set -euo pipefail
    # ./dev's services are exported; forget them so svc_stop here never stops them.
    unset SVC_PG_DATA SVC_REDIS_PID SVC_DIR
    dir=$(mktemp -d /tmp/dispatch-peers.XXXXXX)
    trap 'svc_stop; rm -rf "$dir"' EXIT
    trap 'exit 130' INT TERM
    cp "$root"/bench/peers/package.json "$root"/bench/peers/package-lock.json "$root"/bench/peers/*.js "$dir"/
    log "peers: npm ci (node $(node --version), npm $(npm --version))"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$dir/npm.log" 2>&1 ||
      { tail -n 20 "$dir/npm.log" >&2; echo "peers: npm ci failed" >&2; exit 1; }
    svc_start
    local_redis() { redis-cli -p "$SVC_REDIS_PORT" "$@" >/dev/null; }
    fresh_db() { # a new database per graphile-worker run: no state carried over
      psql -X -q "$DISPATCH_PG_DSN" -c "CREATE DATABASE $1" >/dev/null
      echo "${DISPATCH_PG_DSN%/postgres}/$1"
    }
    export REDIS_URL=$DISPATCH_REDIS_URL
    for r in $(seq 1 "$RUNS"); do
      for c in 1 50; do
        n=$(peers_e2e_jobs "$c")
        log "peers: bullmq e2e $n no-op jobs, concurrency $c, run $r"
        local_redis flushall
        out=$(node "$dir/bullmq.js" e2e "$c" "$n" 1000 90)
        emit peers "{\"peer\": \"bullmq\", \"kind\": \"e2e\", \"concurrency\": $c, \"run\": $r, $(peers_state), \"result\": $out}"
      done
      c=24 n=$(peers_e2e_jobs 24)
      log "peers: graphile-worker e2e $n no-op jobs, concurrency $c, run $r"
      out=$(PG_DSN=$(fresh_db "gw_e2e_$r") node "$dir/graphile.js" e2e "$c" "$n" 1000 90)
      emit peers "{\"peer\": \"graphile-worker\", \"kind\": \"e2e\", \"concurrency\": $c, \"run\": $r, $(peers_state), \"result\": $out}"
      for batch in 1000 10000; do
        log "peers: bullmq addBulk / graphile-worker addJobs, 20000 jobs in batches of $batch, run $r"
        local_redis flushall
        out=$(node "$dir/bullmq.js" enqueue 20000 "$batch")
        emit peers "{\"peer\": \"bullmq\", \"kind\": \"enqueue\", \"run\": $r, $(peers_state), \"result\": $out}"
        out=$(PG_DSN=$(fresh_db "gw_enq_${batch}_$r") node "$dir/graphile.js" enqueue 20000 "$batch")
        emit peers "{\"peer\": \"graphile-worker\", \"kind\": \"enqueue\", \"run\": $r, $(peers_state), \"result\": $out}"
      done
    done
  )
}

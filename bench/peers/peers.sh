# shellcheck shell=bash
# bench_peers: BullMQ and graphile-worker measured beside dispatch, sourced by
# bench/run.sh (uses its log, emit, stack, reset_state, e2e_jobs, ENQUEUE_JOBS,
# RAW, RUNS, B). The npm packages pinned in bench/peers/package.json +
# package-lock.json are installed with `npm ci` into a temporary folder
# under SVC_DIR; node and npm are Debian's (apt-get) unless a working
# node >= 18 and npm are on PATH.
#
# The peers use the throwaway Redis and PostgreSQL that ./dev bench started
# for us (same instances, same settings): Redis is FLUSHALLed before every
# BullMQ run, and every graphile-worker run gets a new database. Each round
# also runs our own no-op e2e at 1x1 and 2x16 and our batched submit
# (bench_load, as bench_dispatch does) right before the peers, so that on a shared machine both sides are
# measured under the same load, and counts every side's CPU seconds per job
# (system under test: workers/runners, dispatchd, Redis, PostgreSQL). One JSON line per run goes to raw/peers.jsonl.
: "${root:?bench/peers/peers.sh is sourced by bench/run.sh, which sets root}" "${noop_spec:?and noop_spec}" \
  "${ENQUEUE_JOBS:?and ENQUEUE_JOBS}"

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

# The machine's state when a run starts: UTC time, 1-minute load average.
peers_state() {
  printf '"utc": "%s", "loadavg_1m": %s' "$(date -u +%FT%TZ)" "$(cut -d' ' -f1 /proc/loadavg)"
}

# A new database per graphile-worker run (no state carried over); prints its DSN.
peers_fresh_db() {
  PGOPTIONS="-c client_min_messages=warning" psql -X -q "$DISPATCH_PG_DSN" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  echo "${DISPATCH_PG_DSN%/postgres}/$1"
}

# CPU seconds used so far by the processes named (bench/peers/cpu.js: "tree:PID"
# adds the children, live and reaped).
peers_cpu_s() {
  PEER_CPU_PIDS="$*" node -e 'console.log(require(process.argv[1]).brokerCpuS())' "$SVC_DIR/peers/cpu.js"
}

bench_peers() {
  : >"$RAW/peers.jsonl"
  peers_ensure_node
  local dir=$SVC_DIR/peers r cfg m c n batch out pid
  mkdir -p "$dir"
  cp "$root"/bench/peers/package.json "$root"/bench/peers/package-lock.json "$root"/bench/peers/*.js "$dir"/
  log "peers: npm ci (node $(node --version), npm $(npm --version))"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$dir/npm.log" 2>&1 ||
    { tail -n 20 "$dir/npm.log" >&2; echo "peers: npm ci failed" >&2; return 1; }
  local pm c0 c1 p
  pm=$(head -n 1 "$SVC_PG_DATA/postmaster.pid")
  export PEER_CPU_PIDS="tree:$pm $SVC_REDIS_PID" # the brokers, for the drivers' broker_cpu_s
  for r in $(seq 1 "$RUNS"); do
    for cfg in 1x1 2x16; do
      m=${cfg%x*} c=${cfg#*x}
      n=$(e2e_jobs $((m * c)))
      log "peers: dispatch e2e $n no-op jobs, $m runners x $c slots (paired), run $r"
      stack "$m" "$c"
      # CPU of the system under test, as the peers count theirs: dispatchd,
      # runners, Redis, PostgreSQL and its backends (not the load generator).
      p="tree:$pm $SVC_REDIS_PID"
      for pid in "${STACK_PIDS[@]}"; do p+=" tree:$pid"; done
      c0=$(peers_cpu_s "$p")
      out=$("$B/bench/bench_load" e2e "$noop_spec" "$n" 1000 90) || log "peers: bench_load e2e $cfg failed"
      c1=$(peers_cpu_s "$p")
      stack_stop
      [ -n "$out" ] && emit peers "{\"peer\": \"dispatch\", \"kind\": \"e2e\", \"concurrency\": $((m * c)), \"config\": \"$cfg\", \"run\": $r, $(peers_state), \"system_cpu_s\": $(python3 -c "print(round($c1 - $c0, 2))"), \"result\": $out}"
    done
    reset_state
    for c in 1 50; do
      n=$(e2e_jobs "$c")
      log "peers: bullmq e2e $n no-op jobs, concurrency $c, run $r"
      rcli flushall >/dev/null
      out=$(REDIS_URL=$DISPATCH_REDIS_URL node "$dir/bullmq.js" e2e "$c" "$n" 1000 90) || log "peers: bullmq e2e failed"
      [ -n "$out" ] && emit peers "{\"peer\": \"bullmq\", \"kind\": \"e2e\", \"concurrency\": $c, \"run\": $r, $(peers_state), \"result\": $out}"
    done
    c=24 n=$(e2e_jobs 24)
    log "peers: graphile-worker e2e $n no-op jobs, concurrency $c, run $r"
    out=$(PG_DSN=$(peers_fresh_db "peer_gw_e2e_$r") node "$dir/graphile.js" e2e "$c" "$n" 1000 90) ||
      log "peers: graphile-worker e2e failed"
    [ -n "$out" ] && emit peers "{\"peer\": \"graphile-worker\", \"kind\": \"e2e\", \"concurrency\": $c, \"run\": $r, $(peers_state), \"result\": $out}"
    n=$ENQUEUE_JOBS
    for batch in 1000 10000; do
      log "peers: dispatch submit (paired), bullmq addBulk, graphile-worker addJobs: $n jobs in batches of $batch, run $r"
      stack 0 1
      out=$("$B/bench/bench_load" enqueue "$noop_spec" "$n" "$batch") || log "peers: bench_load enqueue failed"
      stack_stop
      [ -n "$out" ] && emit peers "{\"peer\": \"dispatch\", \"kind\": \"enqueue\", \"run\": $r, $(peers_state), \"result\": $out}"
      rcli flushall >/dev/null
      out=$(REDIS_URL=$DISPATCH_REDIS_URL node "$dir/bullmq.js" enqueue "$n" "$batch") || log "peers: bullmq enqueue failed"
      [ -n "$out" ] && emit peers "{\"peer\": \"bullmq\", \"kind\": \"enqueue\", \"run\": $r, $(peers_state), \"result\": $out}"
      out=$(PG_DSN=$(peers_fresh_db "peer_gw_enq_${batch}_$r") node "$dir/graphile.js" enqueue "$n" "$batch") ||
        log "peers: graphile-worker enqueue failed"
      [ -n "$out" ] && emit peers "{\"peer\": \"graphile-worker\", \"kind\": \"enqueue\", \"run\": $r, $(peers_state), \"result\": $out}"
    done
  done
  rcli flushall >/dev/null
  local db
  for db in $(psql -X -q -t -A "$DISPATCH_PG_DSN" -c "SELECT datname FROM pg_database WHERE datname LIKE 'peer_gw_%'"); do
    psql -X -q "$DISPATCH_PG_DSN" -c "DROP DATABASE $db" >/dev/null
  done
}

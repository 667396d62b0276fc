# shellcheck shell=bash
# The chaos stack: its own Redis (AOF on) and PostgreSQL (it restarts and
# flushes them, so never the shared ones), two dispatchd replicas, four
# runners; runner 4 lives in a network namespace joined to the host by a veth
# pair, so the test can cut its link. Everything listens on the veth's host
# address (reachable only from this host and that namespace) or on loopback.
# All of it is stopped by pid, and the namespace and link removed, on exit.
# Needs: SRC, BUILD (the programs in $BUILD/cmd), root (ip netns, sandbox).

CH_DIR=$(mktemp -d /tmp/dispatch-chaos.XXXXXX)
chmod 755 "$CH_DIR"
SVC_DIR=$CH_DIR
SVC_PG_DATA= SVC_REDIS_PID= # inherited from ./dev test: never ours to stop (svc_stop)
CH_NS="chaos$$"
CH_VH="chh$$"
CH_VN="chn$$"
CH_NET=""
declare -a CH_REP_PID=() CH_RUN_PID=() CH_REP_PORT=() CH_GEN=()
CH_REDIS_PID=""

# shellcheck source=../../scripts/services.sh
. "$SRC/scripts/services.sh"

ch_log() { echo "chaos: $*" >&2; }
ch_now() { date +%s.%N; }

ch_cleanup() {
  local rc=$? pid
  set +e
  for pid in "${CH_RUN_PID[@]}" "${CH_REP_PID[@]}"; do
    [ -n "$pid" ] || continue
    kill -CONT "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${CH_RUN_PID[@]}" "${CH_REP_PID[@]}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null; done
  rm -f "$CH_DIR"/ids.* "$CH_DIR"/batch.*
  [ -n "${CHAOS_KEEP:-}" ] && cp -r "$CH_DIR" "$CHAOS_KEEP"
  if [ "$rc" != 0 ]; then
    for f in "$CH_DIR"/*.log; do echo "--- $f" >&2; tail -n 15 "$f" >&2 || true; done
  fi
  SVC_REDIS_PID=$CH_REDIS_PID
  svc_stop >/dev/null 2>&1 || true # pg_ctl on our data dir, our redis pid; removes CH_DIR
  ip link del "$CH_VH" 2>/dev/null || true
  ip netns del "$CH_NS" 2>/dev/null || true
  awk -v d="$CH_DIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$CH_DIR" || true
  exit "$rc"
}
trap ch_cleanup EXIT
trap 'exit 130' INT TERM

# A /30 in 10.213.0.0/16 that no interface here uses.
ch_net_setup() {
  local i
  for _ in $(seq 1 50); do
    i=$((RANDOM % 16000))
    CH_NET="10.213.$((i / 64)).$(((i % 64) * 4))"
    ip -4 addr | grep -q "10.213.$((i / 64)).$(((i % 64) * 4 + 1))/" || break
  done
  CH_HOST_IP="10.213.$((i / 64)).$(((i % 64) * 4 + 1))"
  CH_NS_IP="10.213.$((i / 64)).$(((i % 64) * 4 + 2))"
  ip netns add "$CH_NS"
  ip link add "$CH_VH" type veth peer name "$CH_VN"
  ip link set "$CH_VN" netns "$CH_NS"
  ip addr add "$CH_HOST_IP/30" dev "$CH_VH"
  ip link set "$CH_VH" up
  ip -n "$CH_NS" addr add "$CH_NS_IP/30" dev "$CH_VN"
  ip -n "$CH_NS" link set "$CH_VN" up
  ip -n "$CH_NS" link set lo up
}
# Cutting the namespace's end leaves the host's address up (its local route
# stays), so the other runners keep talking to the replicas.
ch_net_cut() { ip -n "$CH_NS" link set "$CH_VN" down; }
ch_net_heal() { ip -n "$CH_NS" link set "$CH_VN" up; }

ch_redis_start() {
  mkdir -p "$CH_DIR/redis"
  redis-server --port "$SVC_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync everysec --dir "$CH_DIR/redis" --daemonize no \
    --logfile "$CH_DIR/redis/redis.log" </dev/null >/dev/null 2>&1 &
  CH_REDIS_PID=$!
  for _ in $(seq 1 200); do
    redis-cli -p "$SVC_REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  ch_log "redis did not start"
  return 1
}

ch_redis_stop() {
  kill -TERM "$CH_REDIS_PID" 2>/dev/null || true
  wait "$CH_REDIS_PID" 2>/dev/null || true
  CH_REDIS_PID=""
}

ch_pg() { svc_as_pg "$PG_BIN/pg_ctl" -D "$SVC_PG_DATA" "$@" >>"$CH_DIR/pg_ctl.log" 2>&1; }
ch_pg_start() {
  ch_pg -l "$SVC_PG_DATA/server.log" -w -t 60 -o "-p $SVC_PG_PORT -k $SVC_PG_DATA -h 127.0.0.1 \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start
}
ch_pg_stop() { ch_pg -m fast -w stop; }

ch_services() {
  SVC_REDIS_PORT=$(svc_free_port)
  ch_redis_start
  export DISPATCH_REDIS_URL="redis://127.0.0.1:$SVC_REDIS_PORT"
  svc_start_pg
}

# ch_replica I: starts (or restarts) replica I on its port.
ch_replica() {
  local i=$1
  [ -n "${CH_REP_PORT[$i]:-}" ] || CH_REP_PORT[$i]=$(svc_free_port)
  env DISPATCH_RUNNER_LISTEN="tcp://$CH_HOST_IP:${CH_REP_PORT[$i]}" \
    DISPATCH_ADMIN_LISTEN="ipc://$CH_DIR/run/admin$i.sock" dispatchd \
    </dev/null >>"$CH_DIR/dispatchd$i.log" 2>&1 &
  CH_REP_PID[$i]=$!
  for _ in $(seq 1 300); do
    dispatchctl queue --url "ipc://$CH_DIR/run/admin$i.sock" >/dev/null 2>&1 && return 0
    kill -0 "${CH_REP_PID[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  ch_log "replica $i did not start"
  return 1
}

ch_replica_urls() { # runner I's list: odd runners prefer replica 1, even ones replica 2
  local a="tcp://$CH_HOST_IP:${CH_REP_PORT[1]}" b="tcp://$CH_HOST_IP:${CH_REP_PORT[2]}"
  if [ $(($1 % 2)) = 1 ]; then echo "$a,$b"; else echo "$b,$a"; fi
}

# ch_runner I: runners 1-3 complete jobs without running them (RUNNER_NOOP=1,
# throughput); runner 4 runs them for real in the sandbox, in the namespace.
ch_runner() {
  local i=$1 pre=()
  # a restarted runner takes fresh sandbox slots (the killed one's may linger)
  CH_GEN[$i]=$((${CH_GEN[$i]:-0} + 1))
  mkdir -p "$CH_DIR/work-$i"
  [ "$i" = 4 ] && pre=(nsenter "--net=/var/run/netns/$CH_NS")
  env DISPATCH_URL="$(ch_replica_urls "$i")" RUNNER_NAME="chaos-$i" RUNNER_NOOP=$((i < 4)) \
    RUNNER_CONCURRENCY="$([ "$i" = 4 ] && echo 2 || echo 4)" RUNNER_WORKDIR="$CH_DIR/work-$i" \
    RUNNER_SLOT_BASE=$((600 + 10 * i + 50 * CH_GEN[i])) RUNNER_FETCH_ALLOW_FILE=1 RUNNER_PROFILES_DIR="$SRC/pits" \
    "${pre[@]}" dispatch-runner </dev/null >>"$CH_DIR/runner-$i.log" 2>&1 &
  CH_RUN_PID[$i]=$!
}

ch_sql() { psql "$DISPATCH_PG_DSN" -qAt -c "$1" 2>/dev/null; }

#!/usr/bin/env bash
# Chaos under load: two dispatchd replicas on one Redis (AOF) and one
# PostgreSQL, four runners with both replicas' URLs, jobs submitted in batches
# while one fault at a time is injected. After each fault every accepted job
# must be terminal within a bound, none lost, none recorded twice (checked in
# PostgreSQL). Prints a table; --out FILE writes it as JSON.
#   chaos.sh [--jobs N] [--small] [--out FILE]
# --small (the meson `fault` suite): short TTLs and stalls, fewer jobs.
# Needs SRC and BUILD (./dev chaos and meson set them) and root.
set -euo pipefail
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
export PATH="$BUILD/cmd:$PATH"
JOBS=5000 SMALL=0 OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --jobs) JOBS=$2; shift 2 ;;
    --small) SMALL=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: chaos.sh [--jobs N] [--small] [--out FILE]" >&2; exit 64 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "chaos: needs root (network namespaces, the sandbox)" >&2; exit 77; }
. "$(dirname "$0")/chaos_lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1}:detect_leaks=0

if [ "$SMALL" = 1 ]; then
  TTL=1500 HB=300 SWEEP=200 STALL=7 BATCH=10 DOWN=1
  # Every accepted job terminal within BOUND s of the fault's end: the work
  # takes ~2 s; the rest is slack for a sanitized build on a loaded 2-core box.
  BOUND=60
else
  TTL=5000 HB=1000 SWEEP=500 STALL=20 BATCH=50 DOWN=3
  BOUND=180 # ~10 s of work per fault at most; slack for a loaded machine
fi
FAULTS=(replica_kill runner_kill partition replica_stop redis_restart redis_flush pg_restart)
PER=$((JOBS / ${#FAULTS[@]}))

export DISPATCH_REGISTRATION_TOKEN
DISPATCH_REGISTRATION_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export DISPATCH_LOG_STORE="file://$CH_DIR/logs/{job_id}.log" DISPATCH_ALIVE_TTL_MS=$TTL
export DISPATCH_HEARTBEAT_MS=$HB DISPATCH_SWEEP_MS=$SWEEP DISPATCH_LOG_LEVEL=info
# A runner's call deadline on a stalled replica is its lease wait + 3 s
# (runner/runner_link.h): a 5 s long-poll keeps that bound (8 s) well under
# the 20 s stall, so the table shows the failover, not the SIGCONT.
export RUNNER_LEASE_WAIT_MS=5000
ch_net_setup
ch_services
ch_replica 1
ch_replica 2
for i in 1 2 3 4; do ch_runner "$i"; done

# Archives: a quick job, and a slow one that marks its start (runner 4 runs
# them for real; the no-op runners complete them at once).
mkdir -p "$CH_DIR/quick" "$CH_DIR/slow"
printf 'exit 0\n' >"$CH_DIR/quick/test.sh"
printf 'touch started\nsleep 2\n' >"$CH_DIR/slow/test.sh"
(cd "$CH_DIR/quick" && zip -qX ../quick.zip test.sh)
(cd "$CH_DIR/slow" && zip -qX ../slow.zip test.sh)

# ch_submit TAG N: N jobs in batches, to either replica (the other if one
# fails); refused batches counted. Accepted ids go to accepted-TAG.
ch_submit() {
  local tag=$1 n=$2 k=0 b r try me=$BASHPID # this submitter's files
  while [ "$k" -lt "$n" ]; do
    b=$((n - k < BATCH ? n - k : BATCH))
    python3 - "$CH_DIR" "$tag" "$b" "$k" "${SLOW:-0}" >"$CH_DIR/batch.$me.json" <<'PY'
import json, sys
d, tag, n, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
slow_all = sys.argv[5] == "1"
jobs = []
for i in range(n):
    slow = slow_all or (k + i) % 10 == 0  # one in ten runs for two seconds
    jobs.append({"profile": "shell", "archive": f"file://{d}/{'slow' if slow else 'quick'}.zip",
                 "submission_id": f"chaos-{tag}", "max_attempts": 20})
print(json.dumps(jobs))
PY
    local done=
    for try in $(seq 0 39); do
      r=$(((k / BATCH + try) % 2 + 1))
      # 10 s: a stopped replica never answers; the other one is tried next
      if timeout 10 dispatchctl submit --spec "$CH_DIR/batch.$me.json" --url "ipc://$CH_DIR/run/admin$r.sock" \
        >"$CH_DIR/ids.$me" 2>>"$CH_DIR/submit-errors.log"; then
        cat "$CH_DIR/ids.$me" >>"$CH_DIR/accepted-$tag"
        done=1
        break
      fi
      echo "$tag" >>"$CH_DIR/refused"
      sleep 0.5
    done
    [ -n "$done" ] || ch_log "$tag: a batch of $b was refused 40 times"
    k=$((k + b))
  done
}

# ch_watch IDS OUT: writes the time at which none of the jobs in IDS is
# queued or leased any more (tolerates PostgreSQL being away).
ch_watch() {
  local ids=$1 out=$2 list left
  list=$(sed "s/.*/'&'/" "$ids" | paste -sd, -)
  while :; do
    if [ -z "$list" ]; then ch_now >"$out"; return 0; fi
    left=$(ch_sql "SELECT count(*) FROM jobs WHERE id IN ($list) AND state IN ('queued','leased')" || true)
    [ "$left" = 0 ] && { ch_now >"$out"; return 0; }
    sleep 0.2
  done
}

ch_count() { local n; n=$(grep -c "\"$2\"" "$CH_DIR/$1" 2>/dev/null) || true; echo "${n:-0}"; }

# The faults: inject, then heal (after the fault's own duration).
inject_replica_kill() { kill -KILL "${CH_REP_PID[1]}"; wait "${CH_REP_PID[1]}" 2>/dev/null || true; }
heal_replica_kill() { sleep "$DOWN"; ch_replica 1; }
# ch_busy_4: until runner 4 (the real one) runs a slow job: extra slow jobs
# are submitted until one starts there (the no-op runners take the others).
ch_busy_4() {
  touch "$CH_DIR/mark"
  for _ in $(seq 1 10); do
    SLOW=1 ch_submit "$f" 16
    for _ in $(seq 1 50); do
      [ -n "$(find "$CH_DIR/work-4" -name started -newer "$CH_DIR/mark" 2>/dev/null | head -n 1)" ] &&
        return 0
      sleep 0.1
    done
  done
  ch_log "$f: no slow job started on runner 4"
}
# a runner holding a lease on a running job
inject_runner_kill() { kill -KILL "${CH_RUN_PID[4]}"; wait "${CH_RUN_PID[4]}" 2>/dev/null || true; }
heal_runner_kill() { ch_runner 4; }
inject_partition() {
  P_REG=$(ch_count runner-4.log registered)
  ch_net_cut
}
heal_partition() {
  sleep "$(python3 -c "print($TTL / 1000 * 2 + 1)")" # longer than the alive TTL
  local dropped
  dropped=$(ch_count runner-4.log result_dropped)
  ch_net_heal
  for _ in $(seq 1 $((BOUND * 10))); do
    [ "$(ch_count runner-4.log registered)" -gt "$P_REG" ] && break
    sleep 0.1
  done
  # its late complete (the job it ran during the cut) is refused once the
  # link is back: the complete's retry backoff is at most 7.5 s; 20 s of slack
  for _ in $(seq 1 200); do
    [ "$(ch_count runner-4.log result_dropped)" -gt "$dropped" ] && break
    sleep 0.1
  done
  EXTRA=", \"registered_again\": $([ "$(ch_count runner-4.log registered)" -gt "$P_REG" ] && echo true || echo false), \"dropped_before_heal\": $dropped"
}
inject_replica_stop() { kill -STOP "${CH_REP_PID[2]}"; }
heal_replica_stop() { sleep "$STALL"; kill -CONT "${CH_REP_PID[2]}"; }
inject_redis_restart() { ch_redis_stop; }
heal_redis_restart() { sleep "$DOWN"; ch_redis_start; }
inject_redis_flush() { redis-cli -p "$SVC_REDIS_PORT" FLUSHALL >/dev/null; }
heal_redis_flush() { :; }
inject_pg_restart() { ch_pg_stop; }
heal_pg_restart() { sleep "$DOWN"; ch_pg_start; }

ROWS=()
FAILED=0
for f in "${FAULTS[@]}"; do
  EXTRA=""
  : >"$CH_DIR/accepted-$f"
  ch_log "$f: submitting $PER jobs"
  ch_submit "$f" $((PER / 2))
  # the stack is busy (runner 4 runs a two-second job): the jobs leased
  # when the fault hits are the ones whose recovery is timed
  ch_busy_4
  redis-cli -p "$SVC_REDIS_PORT" SMEMBERS "{dispatch}:jobs:leased" >"$CH_DIR/leased-$f" || true
  t_inj=$(ch_now)
  "inject_$f"
  ch_log "$f: injected ($(wc -l <"$CH_DIR/leased-$f") jobs leased)"
  ch_watch "$CH_DIR/leased-$f" "$CH_DIR/recovered-$f" &
  watcher=$!
  ch_submit "$f" $((PER - PER / 2)) &
  submitter=$!
  "heal_$f"
  t_heal=$(ch_now)
  wait "$submitter"
  # every accepted job terminal within BOUND s of the heal
  ch_watch "$CH_DIR/accepted-$f" "$CH_DIR/drained-$f" &
  drainer=$!
  for _ in $(seq 1 $((BOUND * 5))); do
    kill -0 "$drainer" 2>/dev/null || break
    sleep 0.2
  done
  kill "$watcher" "$drainer" 2>/dev/null || true
  wait "$watcher" "$drainer" 2>/dev/null || true
  ROWS+=("$(python3 "$SRC/tests/chaos/chaos_check.py" "$DISPATCH_PG_DSN" "$f" "$CH_DIR" \
    "$t_inj" "$t_heal" "$(grep -cx "$f" "$CH_DIR/refused" 2>/dev/null || true)" "$EXTRA")") || FAILED=1
  ch_log "$f: ${ROWS[-1]}"
done

python3 - "$OUT" "$SMALL" "$TTL" "${ROWS[@]}" <<'PY'
import json, sys
out, small, ttl, rows = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), [json.loads(r) for r in sys.argv[4:]]
cols = ["fault", "jobs", "lost", "duplicated", "duplicated_leased", "failed", "refused_batches",
        "leased_at_fault", "recovery_s", "drain_s"]
print(" ".join(f"{c:>15}" for c in cols))
for r in rows:
    print(" ".join(f"{str(r.get(c, '')):>15}" for c in cols))
if out:
    with open(out, "w") as f:
        json.dump({"alive_ttl_ms": ttl, "small": small, "faults": rows}, f, indent=1)
        f.write("\n")
bad = [r["fault"] for r in rows if r["lost"] or r["duplicated"] or r.get("duplicated_leased")]
sys.exit(1 if bad else 0)
PY
[ "$FAILED" = 0 ]

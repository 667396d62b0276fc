#!/usr/bin/env bash
# bench/run.sh [NAME...]: the benchmarks of issue 7 against the throwaway
# Redis + PostgreSQL that ./dev bench started (DISPATCH_REDIS_URL,
# DISPATCH_PG_DSN, SVC_DIR, SVC_REDIS_PORT exported; build/cmd on PATH).
# NAMEs: dispatch latency scale reclaim idle sandbox execute memory (memory
# is measured by dispatch; profile runs bench/profile.sh for e2e and
# enqueue; peers runs BullMQ and graphile-worker, bench/peers/peers.sh;
# layout, run only when named, compares Redis data layouts).
# Raw lines go to bench/results/raw/NAME.jsonl; bench/report.py turns
# them into NAME.json, summary.json, summary.md and the plots. Every
# process started here is stopped by pid.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
B=$root/build
R=$root/bench/results
RAW=$R/raw
mkdir -p "$RAW"
[ -n "${SVC_DIR:-}" ] && [ -n "${SVC_REDIS_PORT:-}" ] || { echo "run.sh: start it through ./dev bench" >&2; exit 64; }
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"
# shellcheck source=scripts/stack.sh
. "$root/scripts/stack.sh"

RUNS=${BENCH_RUNS:-3}
EXTRA_PIDS=()
STACK_PIDS=()
cleanup() {
  stack_stop || true
  local p
  for p in "${EXTRA_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  EXTRA_PIDS=()
}
trap cleanup EXIT

if ! command -v gnuplot >/dev/null; then
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends gnuplot-nox </dev/null >/dev/null ||
    echo "run.sh: gnuplot-nox not installed: no plots" >&2
fi

log() { echo "bench: $*" >&2; }
rcli() { redis-cli -p "$SVC_REDIS_PORT" "$@"; }
psql_q() { psql -X -q -t -A "$DISPATCH_PG_DSN" -c "$1"; }
# Fresh state between benchmarks: nothing left over in Redis or the tables.
reset_state() {
  rcli flushall >/dev/null
  psql_q "TRUNCATE jobs, test_results, job_events, runners" >/dev/null 2>&1 || true
}
emit() { echo "$2" >>"$RAW/$1.jsonl"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
redis_cpu_us() { rcli info cpu | awk -F: '/used_cpu_(sys|user):/ {s += $2} END {printf "%.0f", s * 1e6}'; }
redis_cmds() { rcli info stats | awk -F: '/total_commands_processed/ {gsub("\r", ""); print $2}'; }

# stack: RUNNERS CONC [noop 0/1]: dispatchd + runners, every slot registered.
stack() {
  local runners=$1 conc=$2 noop=${3:-1}
  reset_state
  RUNNER_NOOP=$noop stack_start "$runners" "$conc"
  local want=$runners
  for _ in $(seq 1 100); do
    [ "$(dispatchctl queue --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["runners_alive"])')" -ge "$want" ] && break
    sleep 0.1
  done
  sleep 0.3 # the slots' first long polls
}

noop_spec=$SVC_DIR/noop.json
echo '{"profile":"shell","archive":"file:///nonexistent/noop.zip"}' >"$noop_spec"

# Jobs per e2e run: 500 per slot, at least BENCH_E2E_MIN_JOBS (a run of
# 500 jobs at one slot lasted a quarter of a second and swung 2x between
# runs), at most BENCH_E2E_JOBS. bench/peers/peers.sh uses it too.
e2e_jobs() {
  local j=$((500 * $1)) lo=${BENCH_E2E_MIN_JOBS:-3000} hi=${BENCH_E2E_JOBS:-16000}
  [ "$j" -ge "$lo" ] || j=$lo
  [ "$j" -le "$hi" ] || j=$hi
  echo "$j"
}

# Jobs per batched-submit run (ours and the peers', bench/peers/peers.sh):
# runs of 20,000 lasted a third of a second and swung between 41,000 and
# 70,000 jobs/s on one build (docs/bench.md, fifteenth session).
ENQUEUE_JOBS=${BENCH_ENQUEUE_JOBS:-100000}

bench_dispatch() {
  : >"$RAW/dispatch.jsonl"
  : >"$RAW/memory.jsonl"
  log "dispatch: batched submit (no runners)"
  local r batch
  for batch in 1000 10000; do
    for r in $(seq 1 "$RUNS"); do
      stack 0 1
      emit dispatch "{\"kind\": \"enqueue\", \"run\": $r, \"result\": $("$B/bench/bench_load" enqueue "$noop_spec" "$ENQUEUE_JOBS" "$batch")}"
      stack_stop
    done
  done
  log "dispatch: redis core per-job commands (bench_redis_core)"
  reset_state
  emit dispatch "{\"kind\": \"redis_core\", \"result\": $("$B/bench/bench_redis_core" 2000 100 | tr -d '\n')}"
  log "dispatch: PostgreSQL store rows/s (bench_store)"
  "$B/dispatch/store/bench_store" "$DISPATCH_PG_DSN" 10000 2>/dev/null | while read -r line; do
    emit dispatch "{\"kind\": \"store\", \"result\": $line}"
  done
  local cfg m c jobs
  for cfg in 1x1 1x4 2x2 2x4 2x16 4x8; do
    m=${cfg%x*} c=${cfg#*x}
    jobs=$(e2e_jobs $((m * c)))
    for r in $(seq 1 "$RUNS"); do
      log "dispatch: e2e $jobs no-op jobs, $m runners x $c slots, run $r"
      stack "$m" "$c"
      local cpu0 cmd0 cpu1 cmd1 out
      cpu0=$(redis_cpu_us) cmd0=$(redis_cmds)
      out=$("$B/bench/bench_load" e2e "$noop_spec" "$jobs" 1000 90)
      cpu1=$(redis_cpu_us) cmd1=$(redis_cmds)
      emit dispatch "{\"kind\": \"e2e\", \"runners\": $m, \"slots\": $c, \"run\": $r, \"redis_cpu_us\": $((cpu1 - cpu0)), \"redis_cmds\": $((cmd1 - cmd0)), \"result\": $out}"
      if [ "$cfg" = 2x4 ]; then
        emit memory "{\"runners\": $m, \"slots\": $c, \"run\": $r, \"dispatchd_hwm_kb\": $(hwm_kb "${STACK_PIDS[0]}"), \"runner_hwm_kb\": $(hwm_kb "${STACK_PIDS[1]}")}"
      fi
      stack_stop
    done
  done
  # Round trips: MONITOR marks script-internal commands "[0 lua]"; every
  # other line is a command a client sent (a pipeline counts per command).
  log "dispatch: round trips per job (MONITOR, 2x4, 2000 jobs)"
  stack 2 4
  redis-cli -p "$SVC_REDIS_PORT" monitor >"$SVC_DIR/monitor.txt" &
  local mon=$!
  EXTRA_PIDS+=("$mon")
  sleep 0.3
  local cpu0 cpu1
  cpu0=$(redis_cpu_us)
  "$B/bench/bench_load" e2e "$noop_spec" 2000 1000 90 >/dev/null
  cpu1=$(redis_cpu_us)
  kill "$mon" 2>/dev/null || true
  wait "$mon" 2>/dev/null || true
  EXTRA_PIDS=()
  stack_stop
  python3 - "$SVC_DIR/monitor.txt" 2000 >>"$RAW/dispatch.jsonl" <<'PY'
import collections, json, re, sys
top, lua = collections.Counter(), collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r'^[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"', line)
    if not m:
        continue
    cmd = m.group(2).lower()
    if cmd in ("info", "monitor", "config"):
        continue
    (lua if m.group(1) == "lua" else top)[cmd] += 1
n = int(sys.argv[2])
print(json.dumps({"kind": "monitor", "jobs": n,
                  "roundtrips_per_job": sum(top.values()) / n,
                  "cmds_per_job": (sum(top.values()) + sum(lua.values())) / n,
                  "top_level": dict(top.most_common()), "in_scripts": dict(lua.most_common())}))
PY
}

bench_latency() {
  : >"$RAW/latency.jsonl"
  local rate secs r runs
  for rate in 100 1000 10000; do
    secs=5; runs=$RUNS
    [ "$rate" = 10000 ] && secs=2
    for r in $(seq 1 "$runs"); do
      log "latency: $rate jobs/s for $secs s, run $r (2 runners x 16 slots)"
      stack 2 16
      emit latency "{\"rate\": $rate, \"run\": $r, \"result\": $("$B/bench/bench_load" latency "$noop_spec" "$rate" "$secs")}"
      stack_stop
    done
  done
}

bench_scale() {
  : >"$RAW/scale.jsonl"
  local n r
  for n in 1 2 4 8 16 32; do
    for r in $(seq 1 "$RUNS"); do
      log "scale: $n runner processes x 2 slots, run $r"
      stack "$n" 2
      emit scale "{\"kind\": \"runners\", \"runners\": $n, \"slots\": 2, \"run\": $r, \"result\": $("$B/bench/bench_load" e2e "$noop_spec" 3000 1000 90)}"
      stack_stop
    done
  done
  local d
  for d in 10000 100000 1000000; do
    for r in $(seq 1 "$RUNS"); do
      log "scale: lease cost with $d pending, run $r"
      rcli flushall >/dev/null
      emit scale "{\"kind\": \"depth\", \"run\": $r, \"result\": $("$B/bench/bench_rq" depth "$d" 10000)}"
    done
  done
  rcli flushall >/dev/null
}

# A job that holds its slot: test.sh sleeps.
sleep_spec() {
  local dir=$SVC_DIR/sleepjob
  mkdir -p "$dir"
  chmod 755 "$dir"
  printf 'sleep 60\n' >"$dir/test.sh"
  (cd "$dir" && rm -f ../sleep.zip && zip -qX ../sleep.zip test.sh)
  chmod 644 "$SVC_DIR/sleep.zip"
  echo "{\"profile\":\"shell\",\"archive\":\"file://$SVC_DIR/sleep.zip\",\"submission_id\":\"$1\",\"limits\":{\"wall_ms\":20000}}"
}

bench_reclaim() {
  : >"$RAW/reclaim.jsonl"
  local ttl=3000 hb=1000 sweep=500 r
  for r in $(seq 1 "$RUNS"); do
    log "reclaim: SIGKILL a runner holding 2 jobs (alive TTL $ttl ms), run $r"
    reset_state
    DISPATCH_ALIVE_TTL_MS=$ttl DISPATCH_HEARTBEAT_MS=$hb DISPATCH_SWEEP_MS=$sweep RUNNER_NOOP=0 stack_start 1 2
    local tag=reclaim-$r victim=${STACK_PIDS[1]}
    sleep_spec "$tag" >"$SVC_DIR/sleep.json"
    dispatchctl submit --spec "$SVC_DIR/sleep.json" >/dev/null
    dispatchctl submit --spec "$SVC_DIR/sleep.json" >/dev/null
    for _ in $(seq 1 100); do
      [ "$(psql_q "SELECT count(*) FROM jobs WHERE submission_id = '$tag' AND state = 'leased'")" = 2 ] && break
      sleep 0.1
    done
    # A second, no-op runner is idle and long-polling when the first dies.
    mkdir -p "$SVC_DIR/work-b"
    RUNNER_NAME=runner-b RUNNER_CONCURRENCY=2 RUNNER_WORKDIR=$SVC_DIR/work-b RUNNER_SLOT_BASE=300 RUNNER_NOOP=1 RUNNER_FETCH_ALLOW_FILE=1 \
      dispatch-runner >"$SVC_DIR/runner-b.log" 2>&1 &
    STACK_PIDS+=($!)
    sleep 1.5
    local t0 t1 done=0
    t0=$(date +%s.%N)
    kill -KILL "$victim"
    for _ in $(seq 1 600); do
      done=$(psql_q "SELECT count(*) FROM jobs WHERE submission_id = '$tag' AND state = 'completed'")
      [ "$done" = 2 ] && break
      sleep 0.05
    done
    t1=$(date +%s.%N)
    emit reclaim "{\"kind\": \"reclaim\", \"run\": $r, \"alive_ttl_ms\": $ttl, \"heartbeat_ms\": $hb, \"sweep_ms\": $sweep, \"jobs\": 2, \"completed_elsewhere\": $done, \"reclaim_s\": $(python3 -c "print(round($t1 - $t0, 3))")}"
    wait "$victim" 2>/dev/null || true
    STACK_PIDS=("${STACK_PIDS[0]}" "${STACK_PIDS[2]}")
    stack_stop
  done
  local n
  for n in 100 1000 10000 50000; do
    for r in $(seq 1 "$RUNS"); do
      log "reclaim: sweep cost with $n leased, run $r"
      rcli flushall >/dev/null
      emit reclaim "{\"kind\": \"sweep\", \"run\": $r, \"result\": $("$B/bench/bench_rq" sweep "$n")}"
    done
  done
}

bench_idle() {
  : >"$RAW/idle.jsonl"
  local secs=${BENCH_IDLE_S:-60}
  log "idle: 32 runners x 1 slot, no jobs, $secs s"
  stack 32 1
  sleep 2
  local c0 c1 stats
  rcli config resetstat >/dev/null
  c0=$(redis_cmds)
  sleep "$secs"
  c1=$(redis_cmds)
  stats=$(rcli info commandstats | python3 -c 'import sys, json
d = {}
for l in sys.stdin:
    if l.startswith("cmdstat_"):
        k, v = l.strip()[8:].split(":", 1)
        d[k] = int(v.split(",")[0].split("=")[1])
print(json.dumps(d))')
  emit idle "{\"runners\": 32, \"seconds\": $secs, \"redis_cmds\": $((c1 - c0)), \"cmds_per_s_per_runner\": $(python3 -c "print(round(($c1 - $c0) / $secs / 32, 4))"), \"commandstats\": $stats}"
  stack_stop
}

# langs: per-language overhead (bench_langs does its own 20 interleaved runs).
bench_langs() {
  : >"$RAW/langs.jsonl"
  log "langs: bench_langs (compile once, 20 runs bare and sandboxed per language)"
  emit langs "{\"run\": 1, \"result\": $("$B/runner/exec/bench_langs" "$root/pits" 20 | tr -d '\n')}"
}

bench_sandbox() {
  : >"$RAW/sandbox.jsonl"
  local r
  for r in $(seq 1 "$RUNS"); do
    log "sandbox: bench_sandbox run $r"
    emit sandbox "{\"run\": $r, \"result\": $("$B/runner/sandbox/bench_sandbox" | tr -d '\n')}"
  done
}

bench_execute() {
  : >"$RAW/execute.jsonl"
  local dir=$SVC_DIR/execjob n=${BENCH_EXEC_JOBS:-40} r
  mkdir -p "$dir/src"
  chmod 755 "$dir" "$dir/src"
  cat >"$dir/src/main.c" <<'C'
#include <stdio.h>
int main(void)
{
    long a, b;
    if (scanf("%ld %ld", &a, &b) != 2)
        return 1;
    printf("%ld\n", a + b);
    return 0;
}
C
  (cd "$dir/src" && rm -f ../sum.zip && zip -qX ../sum.zip main.c)
  chmod 644 "$dir/sum.zip"
  python3 - "$dir/sum.zip" "$n" >"$dir/batch.json" <<'PY'
import json, sys
tests = [{"name": f"t{i}", "stdin": f"{i} {i * 7}\n", "expected_stdout": f"{i * 8}\n"} for i in range(10)]
spec = {"profile": "c", "archive": "file://" + sys.argv[1], "tests": tests, "submission_id": "exec"}
print(json.dumps([spec] * int(sys.argv[2])))
PY
  for r in $(seq 1 "$RUNS"); do
    log "execute: $n C jobs x 10 tests, 2 runners x 2 slots, run $r"
    stack 2 2 0
    local t0 t1 left=1 ac
    t0=$(date +%s.%N)
    dispatchctl submit --spec "$dir/batch.json" >/dev/null
    for _ in $(seq 1 1200); do
      left=$(psql_q "SELECT count(*) FROM jobs WHERE state IN ('queued', 'leased')")
      [ "$left" = 0 ] && break
      sleep 0.1
    done
    t1=$(date +%s.%N)
    ac=$(psql_q "SELECT count(*) FROM jobs WHERE verdict = 'AC'")
    emit execute "{\"run\": $r, \"jobs\": $n, \"tests_per_job\": 10, \"ac\": $ac, \"unfinished\": $left, \"seconds\": $(python3 -c "print(round($t1 - $t0, 3))")}"
    stack_stop
  done
}

machine() {
  python3 - >"$R/machine.json" <<'PY'
import json, os, platform, subprocess
model = ""
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"):
        model = l.split(":", 1)[1].strip(); break
mem = 0
for l in open("/proc/meminfo"):
    if l.startswith("MemTotal"):
        mem = int(l.split()[1]) // 1024
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
print(json.dumps({"nproc": os.cpu_count(), "cpu_model": model, "ram_mb": mem,
                  "kernel": platform.release(), "redis": redis, "commit": rev}))
PY
}

bench_profile() {
  PROFILE_MODE=e2e "$root/bench/profile.sh" 2 16 20000 >/dev/null
  PROFILE_MODE=enqueue "$root/bench/profile.sh" 0 1 50000 >/dev/null
}

# The HTTP API (docs/api.md): submit throughput and /execute latency, one
# no-op runner with 4 slots. Not in ALL: ./dev bench http.
bench_http() {
  : >"$RAW/http.jsonl"
  local r
  for r in $(seq 1 "$RUNS"); do
    stack 1 4
    emit http "{\"run\": $r, \"result\": $(python3 "$root/bench/http_api.py" "$DISPATCH_HTTP_URL" "$DISPATCH_API_KEY")}"
    stack_stop
  done
  tail -n "$RUNS" "$RAW/http.jsonl" >&2
}

# Issue 10's study of Redis data layouts (not in ALL): Redis CPU per job of the
# per-job part of enqueue, lease, owner check and complete, today's layout
# against the per-batch one; bench/redis_layout.py starts its own server.
bench_layout() {
  : >"$RAW/layout.jsonl"
  log "layout: Redis CPU per job by data layout (bench/redis_layout.py)"
  emit layout "$(python3 "$root/bench/redis_layout.py" 32000 "$RUNS")"
  tail -n 1 "$RAW/layout.jsonl" >&2
}

# shellcheck source=bench/peers/peers.sh
. "$root/bench/peers/peers.sh"

ALL=(dispatch latency scale reclaim idle sandbox langs execute profile peers)
[ $# -gt 0 ] || set -- "${ALL[@]}"
machine
for name in "$@"; do
  case "$name" in
    memory) name=dispatch ;;
  esac
  t0=$SECONDS
  "bench_$name"
  log "$name done in $((SECONDS - t0)) s"
done
python3 "$root/bench/report.py" "$R"

#!/usr/bin/env bash
# dispatchd started before Redis and PostgreSQL (as a container platform
# does) waits for them, logging each retry, instead of exiting; it gives up
# after DISPATCH_START_TIMEOUT_MS naming what failed, and SIGTERM ends the
# wait at once. Its own Redis and PostgreSQL (scripts/services.sh) on ports
# chosen first and started only later; everything is stopped by pid on exit.
set -euo pipefail
: "${BUILD:?}" "${SRC:?}"
export PATH="$BUILD/cmd:$PATH"
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1}:detect_leaks=0
# shellcheck source=scripts/services.sh
. "$SRC/scripts/services.sh"
SVC_DIR=$(mktemp -d /tmp/dispatch-startwait.XXXXXX)
SVC_PG_DATA= SVC_REDIS_PID= # inherited from ./dev test: never ours to stop (svc_stop)
chmod 755 "$SVC_DIR"
mkdir -m 0700 "$SVC_DIR/run" # the admin socket (svc_start_pg gives SVC_DIR to postgres)
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$rc" = 0 ] || for f in "$SVC_DIR"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2 || true; done
  svc_stop
  exit "$rc"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

redis_port=$(svc_free_port)
pg_port=$(svc_free_port)
export DISPATCH_REDIS_URL="redis://127.0.0.1:$redis_port"
export DISPATCH_PG_DSN="postgresql://postgres@127.0.0.1:$pg_port/postgres"
export DISPATCH_REGISTRATION_TOKEN=startwait-registration-token-0123
export DISPATCH_RUNNER_LISTEN="tcp://127.0.0.1:$(svc_free_port)"
export DISPATCH_ADMIN_LISTEN="ipc://$SVC_DIR/run/admin.sock" DISPATCH_ADMIN_URL="ipc://$SVC_DIR/run/admin.sock"
export DISPATCH_LOG_STORE="file://$SVC_DIR/logs/{job_id}.log"

# 1. A bounded wait: nothing comes up; it gives up after the deadline (1.5 s
#    here; the process must be gone within 20 s: slack for a sanitized build
#    on a loaded machine), exit 69, the last error named.
t0=$(date +%s)
set +e
DISPATCH_START_TIMEOUT_MS=1500 dispatchd >"$SVC_DIR/deadline.log" 2>&1
rc=$?
set -e
[ "$rc" = 69 ] || fail "dispatchd with nothing up: exit $rc, want 69: $(tail -n 3 "$SVC_DIR/deadline.log")"
[ $(($(date +%s) - t0)) -le 20 ] || fail "the 1.5 s start deadline took $(($(date +%s) - t0)) s"
n=$(grep -c '"event":"dispatchd_waiting"' "$SVC_DIR/deadline.log" || true)
[ "$n" -ge 2 ] || fail "$n dispatchd_waiting lines before giving up, want 2+ (250 ms, 500 ms backoff)"
ok "gave up after the deadline with exit 69 and $n logged retries"

# 2. 0 = no waiting: exits at the first failure, as before.
set +e
DISPATCH_START_TIMEOUT_MS=0 dispatchd >"$SVC_DIR/nowait.log" 2>&1
rc=$?
set -e
[ "$rc" = 69 ] && ! grep -q dispatchd_waiting "$SVC_DIR/nowait.log" || fail "DISPATCH_START_TIMEOUT_MS=0: exit $rc: $(cat "$SVC_DIR/nowait.log")"
ok "DISPATCH_START_TIMEOUT_MS=0 does not wait"

# 3. SIGTERM while waiting: exits 0 promptly (within 10 s: the backoff caps at 5 s
#    but sigtimedwait returns on the signal).
DISPATCH_START_TIMEOUT_MS=600000 dispatchd >"$SVC_DIR/term.log" 2>&1 &
pid=$!
PIDS+=("$pid")
for _ in $(seq 1 200); do grep -q dispatchd_waiting "$SVC_DIR/term.log" && break; sleep 0.1; done
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "dispatchd still waiting 10 s after SIGTERM"
set +e
wait "$pid"
rc=$?
set -e
[ "$rc" = 0 ] || fail "SIGTERM while waiting: exit $rc, want 0"
ok "SIGTERM ends the wait (exit 0)"

# 4. Started before both: it waits, then serves once Redis and PostgreSQL are up.
DISPATCH_START_TIMEOUT_MS=120000 dispatchd >"$SVC_DIR/dispatchd.log" 2>&1 &
pid=$!
PIDS+=("$pid")
for _ in $(seq 1 200); do [ "$(grep -c dispatchd_waiting "$SVC_DIR/dispatchd.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c dispatchd_waiting "$SVC_DIR/dispatchd.log")" -ge 2 ] || fail "no retries logged: $(tail -n 3 "$SVC_DIR/dispatchd.log")"
kill -0 "$pid" || fail "dispatchd exited while Redis and PostgreSQL were down"
svc_free_port() { echo "$want_port"; } # the ports dispatchd was given
want_port=$redis_port svc_start_redis
sleep 1 # Redis up, PostgreSQL still down: it keeps waiting
kill -0 "$pid" || fail "dispatchd exited while PostgreSQL was down"
want_port=$pg_port svc_start_pg
# up within the 5 s backoff cap + start; 60 s of slack for a loaded machine
for _ in $(seq 1 600); do dispatchctl queue >/dev/null 2>&1 && break; kill -0 "$pid" || break; sleep 0.1; done
dispatchctl queue >/dev/null || fail "dispatchd did not serve after Redis and PostgreSQL came up"
grep -q '"event":"dispatchd_ready"' "$SVC_DIR/dispatchd.log" || fail "no dispatchd_ready"
ok "waited $(grep -c dispatchd_waiting "$SVC_DIR/dispatchd.log") retries, then served"
kill -TERM "$pid"
wait "$pid" || fail "dispatchd did not stop cleanly"

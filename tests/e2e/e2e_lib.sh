# shellcheck shell=bash
# Helpers for the end-to-end tests: a private dispatchd (own Redis key prefix,
# own PostgreSQL database) and runners, all stopped by pid on exit.
# Needs: BUILD (the build dir), SRC (the source root), DISPATCH_REDIS_URL,
# DISPATCH_PG_DSN (from ./dev test).
set -euo pipefail
: "${DISPATCH_REDIS_URL:?run under ./dev test (DISPATCH_REDIS_URL not set)}"
: "${DISPATCH_PG_DSN:?run under ./dev test (DISPATCH_PG_DSN not set)}"
export PATH="$BUILD/cmd:$PATH"
E2E_DIR=$(mktemp -d /tmp/dispatch-e2e.XXXXXX)
chmod 755 "$E2E_DIR"
E2E_PIDS=()
E2E_DB="e2e_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1}:detect_leaks=0

e2e_cleanup() {
  local rc=$?
  for pid in "${E2E_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${E2E_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" != 0 ]; then
    for f in "$E2E_DIR"/*.log; do echo "--- $f" >&2; tail -n 25 "$f" >&2 || true; done
  fi
  psql "$DISPATCH_PG_DSN" -qAt -c "DROP DATABASE IF EXISTS $E2E_DB" >/dev/null 2>&1 || true
  # a SIGKILLed runner leaves its job's workspace tmpfs mounted
  awk -v d="$E2E_DIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$E2E_DIR" || true
  exit "$rc"
}
trap e2e_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# dispatchd with a private prefix and database; extra env as arguments.
e2e_start_dispatchd() {
  psql "$DISPATCH_PG_DSN" -qAt -c "CREATE DATABASE $E2E_DB" >/dev/null
  export E2E_PG_DSN="${DISPATCH_PG_DSN%/*}/$E2E_DB"
  local port
  port=$(free_port)
  export DISPATCH_URL="${E2E_RUNNER_SCHEME:-tcp}://127.0.0.1:$port"
  export DISPATCH_ADMIN_URL="ipc://$E2E_DIR/admin.sock"
  export DISPATCH_REGISTRATION_TOKEN=e2e-registration-token-0123456789
  E2E_DISPATCHD_ENV=("$@")
  e2e_restart_dispatchd
}

# e2e_restart_dispatchd: starts dispatchd again (after the test killed it)
# with the URLs, database and environment of e2e_start_dispatchd.
e2e_restart_dispatchd() {
  env DISPATCH_PG_DSN="$E2E_PG_DSN" DISPATCH_RUNNER_LISTEN="$DISPATCH_URL" \
    DISPATCH_ADMIN_LISTEN="$DISPATCH_ADMIN_URL" DISPATCH_REDIS_PREFIX="{$E2E_DB}:" \
    DISPATCH_LOG_STORE="file://$E2E_DIR/logs/{job_id}.log" "${E2E_DISPATCHD_ENV[@]}" \
    dispatchd ${E2E_DISPATCHD_ARGS:-} >>"$E2E_DIR/dispatchd.log" 2>&1 &
  E2E_PIDS+=($!)
  E2E_DISPATCHD=$!
  # up in ~1 s; 30 s is slack for a sanitized build on a loaded machine
  for _ in $(seq 1 300); do
    dispatchctl queue >/dev/null 2>&1 && return 0
    kill -0 "$E2E_DISPATCHD" 2>/dev/null || break
    sleep 0.1
  done
  fail "dispatchd did not start"
}

# e2e_start_runner NAME SLOT_BASE [ENV=VALUE ...]: sets E2E_RUNNER (its pid).
e2e_start_runner() {
  local name=$1 base=$2
  shift 2
  mkdir -p "$E2E_DIR/work-$name"
  env RUNNER_FETCH_ALLOW_FILE=1 RUNNER_NAME="$name" RUNNER_CONCURRENCY=1 RUNNER_WORKDIR="$E2E_DIR/work-$name" \
    RUNNER_PROFILES_DIR="$SRC/pits" RUNNER_SLOT_BASE="$base" "$@" \
    dispatch-runner >"$E2E_DIR/runner-$name.log" 2>&1 &
  E2E_RUNNER=$!
  E2E_PIDS+=($!)
}

# e2e_zip NAME FILE=CONTENT...: an archive in E2E_DIR, prints its path.
e2e_zip() {
  local name=$1
  shift
  local d="$E2E_DIR/src-$name"
  mkdir -p "$d"
  for kv in "$@"; do printf '%b' "${kv#*=}" >"$d/${kv%%=*}"; done
  (cd "$d" && zip -qrX "$E2E_DIR/$name.zip" .)
  echo "$E2E_DIR/$name.zip"
}

# A shell job that runs until the test lets it go: it creates `started` in its
# workspace (/box, the runner's RUNNER_WORKDIR/job-*/box on the host), then
# waits for a file `go` there that only the test creates (e2e_release). So a
# job outlives a kill or a stop by construction, however slow the machine: no
# race between the job's own run time and the test's setup. It polls every
# 0.1 s; the shell profile's wall limit (20 s) is the only bound on the wait.
E2E_BLOCKING_JOB='touch started\nwhile [ ! -e go ]; do sleep 0.1; done\necho released\n'

# e2e_wait_started RUNNER SECONDS: waits until a blocking job runs on runner
# RUNNER (its `started` file exists, `go` does not: a released job's workspace
# may still be there); sets E2E_BOX to its workspace.
e2e_wait_started() {
  local d
  for _ in $(seq 1 $(($2 * 10))); do
    for d in "$E2E_DIR/work-$1"/job-*/box; do
      [ -e "$d/started" ] && [ ! -e "$d/go" ] && { E2E_BOX=$d; return 0; }
    done
    sleep 0.1
  done
  fail "no job started on runner $1 in $2 s"
}

# e2e_release BOX: lets the blocking job in workspace BOX finish.
e2e_release() { touch "$1/go"; }

# e2e_wait_box_gone BOX SECONDS: waits until no sandboxed process (uid 60000+)
# runs in workspace BOX (its /box is BOX: same device and inode), else fails
# naming them. Used when a runner died: its jobs must die with it.
e2e_wait_box_gone() {
  local want pid left
  want=$(stat -c %d:%i "$1")
  for _ in $(seq 1 $(($2 * 10))); do
    left=""
    for pid in $(ps -eo pid=,uid= | awk '$2 >= 60000 {print $1}'); do
      [ "$(stat -L -c %d:%i "/proc/$pid/root/box" 2>/dev/null)" = "$want" ] && left="$left $pid"
    done
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  fail "processes still run in $1 $2 s after their runner ended:$left"
}

# json FIELD < job JSON
json() { python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"; }

sql() { psql "$E2E_PG_DSN" -qAt -c "$1"; }

# wait_state JOB STATE SECONDS
wait_state() {
  for _ in $(seq 1 $(($3 * 10))); do
    [ "$(dispatchctl status "$1" --json | json state)" = "$2" ] && return 0
    sleep 0.1
  done
  fail "job $1 did not reach $2 in $3 s (state $(dispatchctl status "$1" --json | json state))"
}

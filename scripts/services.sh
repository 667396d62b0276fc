# shellcheck shell=bash
# Throwaway Redis and PostgreSQL on loopback, random free ports, temporary data
# directories. Source this file, call svc_start, and make sure svc_stop runs
# (the callers trap EXIT INT TERM). Only the pids we started are ever stopped.
#
# Exports: DISPATCH_REDIS_URL, DISPATCH_PG_DSN, SVC_DIR, SVC_REDIS_PORT,
# SVC_PG_PORT, SVC_REDIS_PID, SVC_PG_DATA.

# (nothing there before ./dev installs postgresql: ls fails, which must not
# stop a `set -e -o pipefail` caller such as ./dev on a fresh machine)
PG_BIN=${PG_BIN:-$({ ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true; } | sort -V | tail -n 1)}

svc_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

svc_as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

svc_start_redis() {
  SVC_REDIS_PORT=$(svc_free_port)
  mkdir -p "$SVC_DIR/redis"
  redis-server --port "$SVC_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$SVC_DIR/redis" --daemonize no --logfile "$SVC_DIR/redis/redis.log" \
    </dev/null >/dev/null 2>&1 &
  SVC_REDIS_PID=$!
  for _ in $(seq 1 200); do
    redis-cli -p "$SVC_REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  redis-cli -p "$SVC_REDIS_PORT" ping >/dev/null 2>&1 || { echo "services: redis did not start (see $SVC_DIR/redis/redis.log)" >&2; return 1; }
  export DISPATCH_REDIS_URL="redis://127.0.0.1:$SVC_REDIS_PORT"
  export SVC_REDIS_PORT SVC_REDIS_PID
}

svc_start_pg() {
  # sourced before ./dev installed postgresql on a fresh machine: look again
  [ -n "$PG_BIN" ] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  SVC_PG_PORT=$(svc_free_port)
  SVC_PG_DATA="$SVC_DIR/pg"
  mkdir -p "$SVC_PG_DATA"
  [ "$(id -u)" = 0 ] && chown postgres: "$SVC_DIR" "$SVC_PG_DATA"
  svc_as_pg "$PG_BIN/initdb" -D "$SVC_PG_DATA" -U postgres --auth=trust -E UTF8 --no-sync \
    >"$SVC_DIR/initdb.log" 2>&1 || { echo "services: initdb failed (see $SVC_DIR/initdb.log)" >&2; return 1; }
  svc_as_pg "$PG_BIN/pg_ctl" -D "$SVC_PG_DATA" -l "$SVC_PG_DATA/server.log" -w -t 60 \
    -o "-p $SVC_PG_PORT -k $SVC_PG_DATA -h 127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { echo "services: postgres did not start (see $SVC_PG_DATA/server.log)" >&2; return 1; }
  export DISPATCH_PG_DSN="postgresql://postgres@127.0.0.1:$SVC_PG_PORT/postgres"
  export SVC_PG_PORT SVC_PG_DATA PG_BIN
}

svc_start() {
  SVC_DIR=$(mktemp -d /tmp/dispatch-svc.XXXXXX)
  chmod 755 "$SVC_DIR"
  export SVC_DIR
  svc_start_redis && svc_start_pg
}

svc_stop() {
  if [ -n "${SVC_PG_DATA:-}" ] && [ -f "$SVC_PG_DATA/postmaster.pid" ]; then
    svc_as_pg "$PG_BIN/pg_ctl" -D "$SVC_PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${SVC_REDIS_PID:-}" ] && kill -0 "$SVC_REDIS_PID" 2>/dev/null; then
    kill "$SVC_REDIS_PID" 2>/dev/null || true
    wait "$SVC_REDIS_PID" 2>/dev/null || true
  fi
  [ -n "${SVC_DIR:-}" ] && rm -rf "$SVC_DIR"
  SVC_PG_DATA= SVC_REDIS_PID= SVC_DIR=
}

# svc_sanitizers ROOT: the sanitizer settings every test run uses (./dev
# test, scripts/with-services.sh): an ASan or UBSan report halts the
# process, so a test cannot pass beside one (a UBSan report that only
# printed once let a subset run pass that ./dev test then failed).
svc_sanitizers() {
  export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  export LSAN_OPTIONS=suppressions=$1/tests/lsan.supp
}

#!/usr/bin/env bash
# The HTTP API while PostgreSQL, then Redis, are down (private servers this
# test starts and stops): 503 with code "unavailable" (never 401 for a key
# that cannot be looked up, never a half-accepted job), and back to normal
# once they return.
. "$(dirname "$0")/e2e_lib.sh"
. "$SRC/scripts/services.sh"
SVC_DIR="$E2E_DIR/svc"
SVC_PG_DATA= SVC_REDIS_PID= # inherited from ./dev test: never ours to stop (svc_stop)
mkdir -p "$SVC_DIR"
trap 'rc=$?; [ "$rc" = 0 ] || tail -n 20 "$SVC_PG_DATA/server.log" >&2; svc_stop >/dev/null 2>&1; set +e; (exit $rc); e2e_cleanup' EXIT
svc_start_redis
svc_start_pg
http_port=$(free_port)
H="http://127.0.0.1:$http_port"
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="$H"
sub=$(dispatchctl apikey create producer --scope submit 2>/dev/null)
reader=$(dispatchctl apikey create reader --scope read 2>/dev/null)
spec="{\"profile\":\"shell\",\"files\":{\"test.sh\":\"exit 0\\n\"}}"
post() { curl -sS -o "$E2E_DIR/out" -w '%{http_code}' -H "Authorization: Bearer $1" \
  -H 'Content-Type: application/json' --data-binary "$spec" "$H/api/v1/jobs"; }
get() { curl -sS -o "$E2E_DIR/out" -w '%{http_code}' -H "Authorization: Bearer $1" "$H$2"; }
code() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"]["code"])' "$E2E_DIR/out"; }
# dispatchd starts its HTTP server after the ipc admin socket that
# e2e_start_dispatchd waits on: wait for /healthz too (a loaded full run
# found the port not yet listening)
for _ in $(seq 1 150); do curl -fsS "$H/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

[ "$(post "$sub")" = 201 ] || fail "submit with everything up: $(cat "$E2E_DIR/out")"
before=$(psql "$E2E_PG_DSN" -qAt -c 'SELECT count(*) FROM jobs')

# services.sh runs PostgreSQL with synchronous_commit=off: make what came
# before durable, or the immediate stop loses it (the keys, the migrations)
psql "$E2E_PG_DSN" -qAt -c CHECKPOINT >/dev/null
svc_as_pg "$PG_BIN/pg_ctl" -D "$SVC_PG_DATA" -m immediate -w stop >/dev/null
s=$(post "$sub"); [ "$s" = 503 ] && [ "$(code)" = unavailable ] || fail "submit with PostgreSQL down: $s $(cat "$E2E_DIR/out")"
# a key not in the cache cannot be checked: 503, not 401
s=$(get "$reader" /api/v1/runners); [ "$s" = 503 ] || fail "uncached key with PostgreSQL down: $s $(cat "$E2E_DIR/out")"
ok "PostgreSQL down: submit 503 unavailable, an uncached key 503 (not 401)"

svc_as_pg "$PG_BIN/pg_ctl" -D "$SVC_PG_DATA" -l "$SVC_PG_DATA/server.log" -w -t 60 \
  -o "-p $SVC_PG_PORT -k $SVC_PG_DATA -h 127.0.0.1 -c fsync=off" start >/dev/null
s=
for _ in $(seq 1 150); do s=$(post "$sub"); [ "$s" = 201 ] && break; sleep 0.2; done
[ "$s" = 201 ] || fail "submit after PostgreSQL came back: $s $(cat "$E2E_DIR/out")"
after=$(psql "$E2E_PG_DSN" -qAt -c 'SELECT count(*) FROM jobs')
[ "$after" = $((before + 1)) ] || fail "jobs: $before before the outage, $after after one more accepted"
ok "PostgreSQL back: submit 201; the refused submit left nothing ($before -> $after jobs)"

kill "$SVC_REDIS_PID"; wait "$SVC_REDIS_PID" 2>/dev/null || true
s=
for _ in $(seq 1 50); do s=$(get "$reader" /api/v1/queue); [ "$s" = 503 ] && break; sleep 0.2; done
[ "$s" = 503 ] && [ "$(code)" = unavailable ] || fail "queue with Redis down: $s $(cat "$E2E_DIR/out")"
ok "Redis down: GET /api/v1/queue 503 unavailable"

#!/usr/bin/env bash
# deploy/docker-compose.yml brought up for real: Debian's docker-compose
# against podman's API socket (podman-compose 1.0 cannot do host
# networking), the shipped file (less its port publishing) beside certificates from
# deploy/make-certs.sh, plus a test override: host networking (no traffic
# leaves loopback), loopback listen addresses on free ports, the test's
# throwaway Redis and PostgreSQL (no image registry is reachable here, so
# the redis and postgres services are stand-ins that only report healthy).
# Through it: a job submitted with inline files over the HTTP API (stored in
# the logs volume, read by the runner from it), /metrics, `dispatchctl
# watch`, both health checks, the restart policy (dispatchd killed comes back).
# Podman has no health-check scheduler without systemd: the test runs the
# checks every 2 s (what the engine would do) so depends_on's
# `condition: service_healthy` can be met.
. "$(dirname "$0")/ct_lib.sh"
ct_build
command -v docker-compose >/dev/null || fail "docker-compose is not installed (./dev test installs it as root)"

# podman's Docker-compatible API, for docker-compose; stopped by pid on exit
sock="$E2E_DIR/podman.sock"
podman system service --time=0 "unix://$sock" >"$E2E_DIR/podman-service.log" 2>&1 &
E2E_PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "podman system service did not start"
export DOCKER_HOST="unix://$sock"

proj=$CT
dir="$E2E_DIR/compose"
mkdir -p "$dir"
# The shipped file, less its published ports: with host networking the
# listeners are on the host already, and docker-compose refuses both
# ("host" network_mode is incompatible with port_bindings); that they match
# the listeners is checked by the deploy-files unit test.
python3 - "$SRC/deploy/docker-compose.yml" "$dir/docker-compose.yml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for svc in doc["services"].values():
    svc.pop("ports", None)
yaml.safe_dump(doc, open(sys.argv[2], "w"), sort_keys=False)
PY
"$SRC/deploy/make-certs.sh" "$dir/certs" >/dev/null
chmod 644 "$dir/certs/"*.pem # read by dispatchd's non-root user
psql "$DISPATCH_PG_DSN" -qAt -c "CREATE DATABASE $E2E_DB" >/dev/null
export E2E_PG_DSN="${DISPATCH_PG_DSN%/*}/$E2E_DB"
rport=$(free_port) aport=$(free_port) hport=$(free_port)
export DISPATCH_REGISTRATION_TOKEN=$(openssl rand -hex 24)
export REDIS_PASSWORD=unused-here PG_PASSWORD=unused-here
cat >"$dir/compose.test.yml" <<YML
services:
  redis:
    image: docker.io/library/debian:12
    command: ["sleep", "infinity"]
    network_mode: host
    healthcheck: {test: ["CMD", "true"], interval: 2s}
  postgres:
    image: docker.io/library/debian:12
    command: ["sleep", "infinity"]
    network_mode: host
    healthcheck: {test: ["CMD", "true"], interval: 2s}
  dispatchd:
    image: $CT_IMAGE
    network_mode: host
    environment:
      DISPATCH_REDIS_URL: $DISPATCH_REDIS_URL
      DISPATCH_PG_DSN: $E2E_PG_DSN
      DISPATCH_RUNNER_LISTEN: tls+tcp://127.0.0.1:$rport
      DISPATCH_ADMIN_LISTEN: ipc:///run/dispatch/admin.sock,tls+tcp://127.0.0.1:$aport
      DISPATCH_HTTP_LISTEN: http://127.0.0.1:$hport
      DISPATCH_REDIS_PREFIX: "{$E2E_DB}:"
  runner:
    image: $CT_IMAGE
    network_mode: host
    environment:
      DISPATCH_URL: tls+tcp://127.0.0.1:$rport
      RUNNER_SLOT_BASE: "$((CT_SLOT_BASE + 40))"
YML
dc() { docker-compose -p "$proj" --project-directory "$dir" -f "$dir/docker-compose.yml" -f "$dir/compose.test.yml" "$@"; }
# On exit: the logs when failing, `down -v`, then whatever a restart raced
# back (by the project's label) and the API service (found by its socket
# path, which only this test uses).
ct_compose_cleanup() {
  [ "$1" = 0 ] || dc logs --no-color --tail 12 >&2 2>&1 || true
  dc down -v -t 1 >/dev/null 2>&1 || true
  local ids
  ids=$(podman ps -aq --filter "label=com.docker.compose.project=$proj")
  [ -z "$ids" ] || podman rm -f -t 0 $ids >/dev/null 2>&1 || true
  ids=$(podman volume ls -q --filter "label=com.docker.compose.project=$proj")
  [ -z "$ids" ] || podman volume rm -f $ids >/dev/null 2>&1 || true
  for p in $(pgrep -f -- "system service --time=0 unix://$sock" || true); do kill "$p" 2>/dev/null || true; done
}
CT_CLEANUP_EXTRA='ct_compose_cleanup "$rc"'
dc config >/dev/null || fail "docker-compose refuses the files"

# the health-check scheduler podman lacks without systemd
(while :; do
  for c in $(podman ps -q --filter "label=com.docker.compose.project=$proj"); do
    podman healthcheck run "$c" >/dev/null 2>&1 || true
  done
  sleep 2
done) &
E2E_PIDS+=($!)

t0=$SECONDS
# up waits for each depends_on condition (healthy); 600 s of slack for a loaded machine
timeout 600 docker-compose -p "$proj" --project-directory "$dir" -f "$dir/docker-compose.yml" \
  -f "$dir/compose.test.yml" up -d --no-build >"$E2E_DIR/compose-up.log" 2>&1 \
  || { cat "$E2E_DIR/compose-up.log" >&2; fail "docker-compose up failed"; }
d=$(dc ps -q dispatchd)
r=$(dc ps -q runner)
[ -n "$d" ] && [ -n "$r" ] || fail "dispatchd or runner not created: $(dc ps)"
ok "compose up in $((SECONDS - t0)) s (health-gated start)"
ctl() { podman exec "$d" dispatchctl "$@"; }

# both health checks pass (the runner's once it registered)
for c in "$d" "$r"; do
  for _ in $(seq 1 60); do podman healthcheck run "$c" >/dev/null 2>&1 && break; sleep 1; done
  podman healthcheck run "$c" >/dev/null 2>&1 || fail "health check of $(podman inspect -f '{{.Name}}' "$c") fails"
done
for _ in $(seq 1 450); do
  [ "$(ctl runners --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] && break
  sleep 0.2
done
[ "$(ctl runners --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] \
  || fail "the runner did not register over tls+tcp"
ok "dispatchd and the runner are healthy; the runner registered over tls+tcp"
for c in "$d" "$r"; do
  [ "$(podman inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$c")" = unless-stopped ] || fail "restart policy"
done

# watch (ipc, in the dispatchd container), then a job with inline files over HTTP
ctl watch --json >"$E2E_DIR/watch.out" 2>&1 &
watch_pid=$!
E2E_PIDS+=($watch_pid)
key=$(ctl apikey create compose --scope admin 2>/dev/null)
H="http://127.0.0.1:$hport"
sleep 1 # the watch subscribed
job=$(curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  --data '{"profile":"shell","files":{"test.sh":"echo hello from compose\nexit 0\n"}}' \
  "$H/api/v1/jobs" | json job_id)
[ -n "$job" ] || fail "POST /api/v1/jobs gave no job id"
# the sandboxed job on a loaded machine: 120 s of slack
ctl wait "$job" --timeout 120 >/dev/null || fail "job $job through compose: $(ctl status "$job")"
ok "job $job (inline files over HTTP, archive read from the logs volume) judged AC"
podman exec "$d" sh -c 'ls /var/lib/dispatch/logs/' | grep -q "$job" || fail "no job log in the logs volume"
# the completed count is PostgreSQL's, refreshed at most every few seconds
# (dispatch/status.c): polled for 60 s (slack for a loaded machine)
for _ in $(seq 1 120); do
  m=$(curl -fsS "$H/metrics")
  grep -q '^dispatch_jobs{state="completed"} [1-9]' <<<"$m" && break
  sleep 0.5
done
grep -q '^dispatch_jobs{state="completed"} [1-9]' <<<"$m" || fail "/metrics: no completed job: $(echo "$m" | grep dispatch_jobs)"
grep -q '^dispatch_runners_alive 1' <<<"$m" || fail "/metrics: runners alive: $(echo "$m" | grep runners)"
ok "/metrics: completed jobs and the runner counted"
for _ in $(seq 1 50); do grep -q "$job" "$E2E_DIR/watch.out" && break; sleep 0.2; done
grep -q "$job" "$E2E_DIR/watch.out" || fail "dispatchctl watch saw nothing of $job: $(head -c 400 "$E2E_DIR/watch.out")"
ok "dispatchctl watch streamed the job's events ($(grep -c "$job" "$E2E_DIR/watch.out") lines)"
kill "$watch_pid" 2>/dev/null || true

# restart policy: dispatchd crashing (SIGKILL inside its container; `podman
# kill` would count as stopped by the user) comes back by itself (60 s of slack)
restarts=$(podman inspect -f '{{.RestartCount}}' "$d")
# Its status is not the kill's: the container can die under the exec session
# (dispatchd is what keeps it running), and podman then reports an error for
# a kill that worked. The restart count below is the proof.
podman exec "$d" sh -c 'kill -KILL $(pgrep -x dispatchd)' >/dev/null 2>&1 || true
for _ in $(seq 1 300); do
  [ "$(podman inspect -f '{{.RestartCount}}' "$d")" -gt "$restarts" ] &&
    [ "$(podman inspect -f '{{.State.Running}}' "$d")" = true ] && ctl queue >/dev/null 2>&1 && break
  sleep 0.2
done
[ "$(podman inspect -f '{{.RestartCount}}' "$d")" -gt "$restarts" ] ||
  fail "dispatchd was not killed and restarted (restart count still $restarts)"
ctl queue >/dev/null 2>&1 || fail "dispatchd did not come back after a kill (restart: unless-stopped)"
ok "dispatchd killed: restarted by its policy ($(podman inspect -f '{{.RestartCount}}' "$d") restart) and serving"

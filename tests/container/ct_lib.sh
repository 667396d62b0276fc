# shellcheck shell=bash
# Helpers for the container suite: the image built from the Dockerfile
# (scripts/image.sh: podman, runc, a debootstrapped debian:12 base, cached),
# dispatchd and runners run from it with host networking against the test's
# throwaway Redis and PostgreSQL on loopback (e2e_lib.sh: private database and
# key prefix). Every container started is removed on exit, by name.
# Needs root (rootful podman; the runner container needs CAP_SYS_ADMIN).
if [ "$(id -u)" != 0 ]; then
  echo "container suite: skipped (needs root for rootful podman)"
  exit 77
fi
command -v podman >/dev/null || { echo "FAIL: podman is not installed (./dev test installs it as root)" >&2; exit 1; }
. "$SRC/tests/e2e/e2e_lib.sh"
root=$SRC
# shellcheck source=scripts/podman_env.sh
. "$SRC/scripts/podman_env.sh"
# One tag per source tree: worktrees testing at once do not rebuild each other's.
CT_IMAGE=localhost/dispatch:test-$(echo "$SRC" | sha256sum | cut -c1-8)
CT=dispatch-ct-$$
CT_NAMES=()
CT_TOKEN=container-registration-token-0123456789

ct_cleanup() {
  local rc=$?
  set +e # `(exit 1)` below must not end the handler before e2e_cleanup
  for n in "${CT_NAMES[@]}"; do
    [ "$rc" = 0 ] || { echo "--- podman logs $n" >&2; podman logs --tail 15 "$n" >&2 2>&1 || true; }
    podman rm -f -t 0 "$n" >/dev/null 2>&1 || true
  done
  [ -n "${CT_CLEANUP_EXTRA:-}" ] && eval "$CT_CLEANUP_EXTRA"
  (exit "$rc")
  e2e_cleanup
}
trap ct_cleanup EXIT

# ct_build: the image (cached: rebuilt only when the build context changed).
ct_build() {
  local t0=$SECONDS out
  local rc=0
  out=$(IMAGE_TAG=$CT_IMAGE "$SRC/scripts/image.sh") || rc=$?
  if [ "$rc" = 77 ]; then # the host, not the image (scripts/image.sh says which)
    echo "SKIPPED: the container suite: this host cannot start any container (see above)" >&2
    exit 77
  fi
  [ "$rc" = 0 ] || fail "scripts/image.sh failed"
  ok "$out (ready in $((SECONDS - t0)) s)"
}

# ct_dispatchd [ENV=VALUE...]: dispatchd from the image; sets CT_RUNNER_URL,
# CT_HTTP (its HTTP base URL), DISPATCH_ADMIN_URL (its ipc socket, shared
# with this host through a directory) and waits until it answers.
ct_dispatchd() {
  psql "$DISPATCH_PG_DSN" -qAt -c "CREATE DATABASE $E2E_DB" >/dev/null
  export E2E_PG_DSN="${DISPATCH_PG_DSN%/*}/$E2E_DB"
  mkdir -m 0700 "$E2E_DIR/run" && mkdir -p "$E2E_DIR/logs"
  chown 10001:10001 "$E2E_DIR/run" "$E2E_DIR/logs" # the image's dispatch user
  CT_RUNNER_URL="tcp://127.0.0.1:$(free_port)"
  CT_HTTP="http://127.0.0.1:$(free_port)"
  local envs=() kv
  for kv in "$@"; do envs+=(-e "$kv"); done
  podman run -d --name "$CT-dispatchd" --network host "${PODMAN_ULIMITS[@]}" \
    -e DISPATCH_REDIS_URL="$DISPATCH_REDIS_URL" -e DISPATCH_PG_DSN="$E2E_PG_DSN" \
    -e DISPATCH_REGISTRATION_TOKEN="$CT_TOKEN" -e DISPATCH_RUNNER_LISTEN="$CT_RUNNER_URL" \
    -e DISPATCH_HTTP_LISTEN="$CT_HTTP" -e DISPATCH_REDIS_PREFIX="{$E2E_DB}:" "${envs[@]}" \
    -v "$E2E_DIR/run:/run/dispatch" -v "$E2E_DIR/logs:/var/lib/dispatch/logs" \
    "$CT_IMAGE" dispatchd >/dev/null || fail "podman run dispatchd failed"
  CT_NAMES+=("$CT-dispatchd")
  export DISPATCH_ADMIN_URL="ipc://$E2E_DIR/run/admin.sock"
  # up in ~1 s; 60 s of slack for a loaded machine
  for _ in $(seq 1 600); do
    dispatchctl queue >/dev/null 2>&1 && return 0
    [ "$(podman inspect -f '{{.State.Running}}' "$CT-dispatchd")" = true ] || break
    sleep 0.1
  done
  fail "dispatchd in its container did not answer on $DISPATCH_ADMIN_URL"
}

# ct_healthy NAME SECONDS: the image's HEALTHCHECK passes in container NAME.
ct_healthy() {
  for _ in $(seq 1 "$2"); do
    podman healthcheck run "$1" >/dev/null 2>&1 && return 0
    sleep 1
  done
  podman healthcheck run "$1" >&2 || true
  fail "the health check of $1 did not pass in $2 s"
}

# Distinct from other suites' slots (e2e: 300-450). At most 892: ct_image adds
# up to 16 and ct_compose 40, each with 2 slots, and a runner refuses a range
# past slot 998 (a pid of 59 mod 60 gave 972 + 40, and CI failed on it).
CT_SLOT_BASE=$((500 + ($$ % 50) * 8))

# ct_runner NAME [podman args...]: a runner container (root, /proc unmasked: a user namespace may mount a new proc only where
# no path of /proc is hidden by the engine; the sandbox's default protections
# + cgroup required), with the given capability options. The test's directory is mounted read-only at the
# same path: archives are file:// URLs into it.
ct_runner() {
  local name=$1
  shift
  CT_SLOT_BASE=$((CT_SLOT_BASE + 2))
  podman run -d --name "$CT-runner-$name" --network host "${PODMAN_ULIMITS[@]}" --user root \
    --security-opt apparmor=unconfined --security-opt unmask=/proc/* "$@" \
    -e DISPATCH_URL="$CT_RUNNER_URL" -e DISPATCH_REGISTRATION_TOKEN="$CT_TOKEN" \
    -e RUNNER_NAME="$name" -e RUNNER_CONCURRENCY=2 -e RUNNER_SLOT_BASE="$CT_SLOT_BASE" \
    -e DISPATCH_SANDBOX_REQUIRE=default,cgroup -e RUNNER_FETCH_ALLOW_FILE=1 \
    -v "$E2E_DIR:$E2E_DIR:ro" "$CT_IMAGE" dispatch-runner-entry >/dev/null \
    || fail "podman run runner $name failed"
  CT_NAMES+=("$CT-runner-$name")
}

# ct_registered NAME SECONDS: 0 when runner NAME registered; 1 when its
# container exited or the time passed.
ct_registered() {
  for _ in $(seq 1 $(($2 * 5))); do
    dispatchctl runners --json 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if any(r.get("name") == sys.argv[1] for r in json.load(sys.stdin)) else 1)' "$1" && return 0
    [ "$(podman inspect -f '{{.State.Running}}' "$CT-runner-$1" 2>/dev/null)" = true ] || return 1
    sleep 0.2
  done
  return 1
}

# ct_stop NAME: removes container NAME at once.
ct_stop() { podman rm -f -t 0 "$1" >/dev/null 2>&1 || true; }

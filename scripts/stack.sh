# shellcheck shell=bash
# Starts dispatchd and runners against the services from services.sh.
# Source it; needs the programs on PATH and SVC_DIR set. Exports the
# DISPATCH_* variables of README.md and STACK_PIDS (dispatchd first).

stack_start() {
  local runners=${1:-2} concurrency=${2:-2}
  local port
  port=$(svc_free_port)
  mkdir -p "$SVC_DIR/logs" "$SVC_DIR/run"
  export DISPATCH_RUNNER_LISTEN="tcp://127.0.0.1:$port"
  export DISPATCH_URL="$DISPATCH_RUNNER_LISTEN"
  export DISPATCH_ADMIN_LISTEN="ipc://$SVC_DIR/run/admin.sock"
  export DISPATCH_ADMIN_URL="$DISPATCH_ADMIN_LISTEN"
  export DISPATCH_REGISTRATION_TOKEN
  DISPATCH_REGISTRATION_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  export DISPATCH_LOG_STORE="file://$SVC_DIR/logs/{job_id}.log"
  # The HTTP API (docs/api.md); its inline files land in the log store above.
  export DISPATCH_HTTP_LISTEN="http://127.0.0.1:$(svc_free_port)"
  export DISPATCH_HTTP_URL="$DISPATCH_HTTP_LISTEN"
  export RUNNER_PROFILES_DIR=${RUNNER_PROFILES_DIR:-$root/pits}
  STACK_PIDS=()
  dispatchd </dev/null >"$SVC_DIR/dispatchd.log" 2>&1 &
  STACK_PIDS+=($!)
  local ok=
  for _ in $(seq 1 100); do
    if dispatchctl queue >/dev/null 2>&1; then ok=1; break; fi
    kill -0 "${STACK_PIDS[0]}" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "stack: dispatchd did not come up:" >&2; tail -n 20 "$SVC_DIR/dispatchd.log" >&2; return 1; }
  # An admin key for the HTTP API (over ipc, which needs none, it is shown once).
  export DISPATCH_API_KEY
  DISPATCH_API_KEY=$(dispatchctl apikey create "local-admin-$(date +%s%N)-$RANDOM" --scope admin 2>/dev/null) ||
    { echo "stack: cannot create an API key" >&2; return 1; }
  for i in $(seq 1 "$runners"); do
    mkdir -p "$SVC_DIR/work-$i"
    # Slots of runners on one host need distinct sandbox uids and cgroups.
    # The demo's archives are local files: file:// is off unless enabled.
    RUNNER_FETCH_ALLOW_FILE=${RUNNER_FETCH_ALLOW_FILE:-1} RUNNER_NAME="runner-$i" RUNNER_CONCURRENCY="$concurrency" RUNNER_WORKDIR="$SVC_DIR/work-$i" \
      RUNNER_SLOT_BASE=$(( (i - 1) * concurrency + 100 )) \
      dispatch-runner </dev/null >"$SVC_DIR/runner-$i.log" 2>&1 &
    STACK_PIDS+=($!)
  done
  export STACK_PIDS
}

# Stops runners first (SIGTERM: they finish or release their jobs), then dispatchd.
stack_stop() {
  local pid
  [ ${#STACK_PIDS[@]} -gt 0 ] || return 0
  # Runners first (they deregister through dispatchd), then dispatchd.
  for pid in "${STACK_PIDS[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${STACK_PIDS[@]:1}" "${STACK_PIDS[0]}"; do
    [ "$pid" = "${STACK_PIDS[0]}" ] && kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
}

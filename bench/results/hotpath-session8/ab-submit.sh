#!/usr/bin/env bash
# The eighth session's before/after (docs/bench.md): bench/http_api.py
# (single-spec POST /api/v1/jobs from 1 and 16 client threads, batches of
# 100, /execute round trips) against two release builds, runs interleaved,
# each on fresh throwaway Redis + PostgreSQL, one no-op runner x 4 slots as
# ./dev bench http runs it. Usage: ab-submit.sh BEFORE_ROOT AFTER_ROOT
# [ROUNDS] (each a checkout with build/ and scripts/); one JSON line per run.
set -euo pipefail
one() { # ROOT: one run on fresh services
  local root=$1
  ( . "$root/scripts/services.sh"; . "$root/scripts/stack.sh"
    STACK_PIDS=()
    trap 'set +u; stack_stop >/dev/null 2>&1 || true; svc_stop' EXIT
    svc_start >/dev/null
    export PATH="$root/build/cmd:$PATH"
    RUNNER_NOOP=1 stack_start 1 4 >/dev/null; sleep 2
    python3 "$root/bench/http_api.py" "$DISPATCH_HTTP_URL" "$DISPATCH_API_KEY" )
}
for round in $(seq 1 "${3:-3}"); do
  for side in before after; do
    root=$1; [ "$side" = after ] && root=$2
    echo "{\"side\": \"$side\", \"round\": $round, \"result\": $(one "$root")}"
  done
done

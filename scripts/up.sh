#!/usr/bin/env bash
# ./dev up [--runners N]: the local stack in the background; writes .dev/env and .dev/state.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/services.sh"
. "$root/scripts/stack.sh"
runners=2
while [ $# -gt 0 ]; do
  case "$1" in
    --runners) runners=${2:?--runners needs a number}; shift 2 ;;
    *) echo "up: unknown option $1" >&2; exit 64 ;;
  esac
done
[[ "$runners" =~ ^[0-9]+$ ]] || { echo "up: --runners: '$runners' is not a number" >&2; exit 64; }
stack_start "$runners" 2
mkdir -p "$root/.dev"
{
  echo "export DISPATCH_ADMIN_URL='$DISPATCH_ADMIN_URL'"
  echo "export DISPATCH_URL='$DISPATCH_URL'"
  echo "export DISPATCH_REDIS_URL='$DISPATCH_REDIS_URL'"
  echo "export DISPATCH_PG_DSN='$DISPATCH_PG_DSN'"
  echo "export DISPATCH_REGISTRATION_TOKEN='$DISPATCH_REGISTRATION_TOKEN'"
  echo "export DISPATCH_HTTP_URL='$DISPATCH_HTTP_URL'"
  echo "export DISPATCH_API_KEY='$DISPATCH_API_KEY'"
  echo "export PATH='$root/build/cmd':\"\$PATH\""
} >"$root/.dev/env"
{
  echo "SVC_DIR='$SVC_DIR'"
  echo "SVC_REDIS_PID='$SVC_REDIS_PID'"
  echo "SVC_PG_DATA='$SVC_PG_DATA'"
  echo "PG_BIN='$PG_BIN'"
  echo "STACK_PIDS=(${STACK_PIDS[*]})"
} >"$root/.dev/state"
echo "up: dispatchd and $runners runner(s) running; logs in $SVC_DIR" >&2
echo "up: . .dev/env   # then: dispatchctl queue" >&2
echo "up: HTTP API on $DISPATCH_HTTP_URL (docs/api.md), admin key in DISPATCH_API_KEY" >&2
echo "up: dashboard on $DISPATCH_HTTP_URL/ (key: echo \$DISPATCH_API_KEY after . .dev/env)" >&2

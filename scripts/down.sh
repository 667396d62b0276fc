#!/usr/bin/env bash
# ./dev down: stops what ./dev up started, by pid, and removes its data.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/services.sh"
. "$root/scripts/stack.sh"
# shellcheck disable=SC1091
. "$root/.dev/state"
stack_stop
svc_stop
rm -f "$root/.dev/env" "$root/.dev/state"
echo "down: stopped" >&2

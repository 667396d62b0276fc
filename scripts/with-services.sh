#!/usr/bin/env bash
# Runs a command with throwaway Redis and PostgreSQL (see services.sh), then
# stops them whatever happened: scripts/with-services.sh meson test -C build-test
# Sanitizer reports halt, as in ./dev test (svc_sanitizers).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=services.sh
. "$here/services.sh"
trap svc_stop EXIT
trap 'exit 130' INT TERM
svc_start
svc_sanitizers "$(cd "$here/.." && pwd)"
"$@"

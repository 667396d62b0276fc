#!/usr/bin/env bash
# Runs a command with throwaway Redis and PostgreSQL (see services.sh), then
# stops them whatever happened: scripts/with-services.sh meson test -C build-test
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=services.sh
. "$here/services.sh"
trap svc_stop EXIT
trap 'exit 130' INT TERM
svc_start
"$@"

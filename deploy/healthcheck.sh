#!/bin/sh
# The image's HEALTHCHECK (/usr/local/bin/dispatch-healthcheck), for
# whichever program the container runs:
# - dispatchd: its admin socket answers (`dispatchctl queue` on
#   DISPATCH_ADMIN_URL, which the image points at its ipc listener) and, when
#   DISPATCH_HTTP_LISTEN is set, GET /healthz is 200 (Redis and PostgreSQL
#   answer);
# - dispatch-runner: GET /healthz on RUNNER_HTTP_LISTEN when set, else its
#   process runs.
# Exit 0 healthy, 1 not (what failed on stderr).
set -u
local_url() { # http://0.0.0.0:P or http://[::]:P -> the loopback address
  echo "$1" | sed -e 's#//0\.0\.0\.0:#//127.0.0.1:#' -e 's#//\[::\]:#//[::1]:#'
}
if pgrep -x dispatchd >/dev/null; then
  dispatchctl queue >/dev/null || { echo "healthcheck: dispatchctl queue failed ($DISPATCH_ADMIN_URL)" >&2; exit 1; }
  if [ -n "${DISPATCH_HTTP_LISTEN:-}" ]; then
    curl -fsS -m 4 -o /dev/null "$(local_url "$DISPATCH_HTTP_LISTEN")/healthz" || exit 1
  fi
  exit 0
fi
if pgrep -x dispatch-runner >/dev/null; then
  if [ -n "${RUNNER_HTTP_LISTEN:-}" ]; then
    curl -fsS -m 4 -o /dev/null "$(local_url "$RUNNER_HTTP_LISTEN")/healthz" || exit 1
  fi
  exit 0
fi
echo "healthcheck: neither dispatchd nor dispatch-runner runs" >&2
exit 1

#!/usr/bin/env bash
# The command-line conventions of the three programs (README, "Exit codes"):
# one version from meson on all three; configuration errors exit 78 with one
# line naming the variable (DISPATCH_LOG_LEVEL and the log store's
# credentials too); dispatchctl's errors in --json mode are JSON on stderr
# (usage, configuration, an unreachable dispatcher); SIGHUP stops neither
# daemon. VERSION comes from meson (tests/e2e/meson.build).
. "$(dirname "$0")/e2e_lib.sh"
: "${VERSION:?meson passes the project version}"

for p in dispatchd dispatch-runner dispatchctl; do
  [ "$($p --version)" = "$p $VERSION" ] || fail "$p --version: '$($p --version)', want '$p $VERSION'"
  $p --help | grep -qi "exit codes" || fail "$p --help does not give its exit codes"
done
ok "--version: $VERSION on all three; --help gives exit codes"

# run_rc VAR=VALUE... -- PROGRAM ARGS: exit code in rc, stderr in out (fresh environment)
run_rc() {
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  set +e
  out=$(env -i PATH="$PATH" ASAN_OPTIONS="$ASAN_OPTIONS" "${envs[@]}" "$@" 2>&1 >/dev/null)
  rc=$?
  set -e
}
D=(DISPATCH_REDIS_URL=redis://127.0.0.1:1 DISPATCH_PG_DSN=postgresql://x@127.0.0.1:1/x
  DISPATCH_REGISTRATION_TOKEN=0123456789abcdef0123 DISPATCH_ADMIN_LISTEN="ipc://$E2E_DIR/cfg/admin.sock")
mkdir -p "$E2E_DIR/work"
Rn=(DISPATCH_URL=tcp://127.0.0.1:1 DISPATCH_REGISTRATION_TOKEN=0123456789abcdef0123
  RUNNER_WORKDIR="$E2E_DIR/work" RUNNER_PROFILES_DIR="$SRC/pits" RUNNER_NOOP=1)
check78() { # check78 WHAT VARIABLE: rc 78, one line naming VARIABLE
  [ "$rc" = 78 ] || fail "$1: exit $rc, want 78 ($out)"
  echo "$out" | grep -q "$2" || fail "$1: the message does not name $2: $out"
  [ "$(echo "$out" | wc -l)" = 1 ] || fail "$1: want one line, got: $out"
}
run_rc "${D[@]}" DISPATCH_LOG_LEVEL=loud -- dispatchd; check78 "dispatchd, bad log level" DISPATCH_LOG_LEVEL
run_rc "${D[@]}" DISPATCH_LOG_STORE=https://s3.example/b/{job_id}.log DISPATCH_LOG_STORE_KEY=AKIA -- dispatchd
check78 "dispatchd, a log store key without its secret" DISPATCH_LOG_STORE_SECRET
run_rc "${D[@]}" DISPATCH_LOG_STORE=https://s3.example/b/{job_id}.log DISPATCH_LOG_STORE_SESSION_TOKEN=t -- dispatchd
check78 "dispatchd, a session token without key and secret" DISPATCH_LOG_STORE_KEY
run_rc "${D[@]}" DISPATCH_LOG_STORE=file:///tmp/{job_id}.log DISPATCH_LOG_STORE_KEY=AKIA DISPATCH_LOG_STORE_SECRET=s -- dispatchd
check78 "dispatchd, credentials for a file:// store" DISPATCH_LOG_STORE
run_rc "${D[@]}" DISPATCH_HEARTBEAT_MS=abc -- dispatchd; check78 "dispatchd, bad number" DISPATCH_HEARTBEAT_MS
run_rc "${Rn[@]}" DISPATCH_LOG_LEVEL=loud -- dispatch-runner; check78 "runner, bad log level" DISPATCH_LOG_LEVEL
run_rc "${Rn[@]}" RUNNER_HTTP_LISTEN=ftp://x:1 -- dispatch-runner; check78 "runner, bad RUNNER_HTTP_LISTEN" RUNNER_HTTP_LISTEN
run_rc -- dispatchctl queue; check78 "dispatchctl without DISPATCH_ADMIN_URL" DISPATCH_ADMIN_URL
run_rc DISPATCH_ADMIN_URL=http://x:1 -- dispatchctl queue; check78 "dispatchctl, bad DISPATCH_ADMIN_URL" DISPATCH_ADMIN_URL
run_rc DISPATCH_ADMIN_URL=ipc:///x/y DISPATCH_LOG_LEVEL=loud -- dispatchctl queue; check78 "dispatchctl, bad log level" DISPATCH_LOG_LEVEL
run_rc DISPATCH_ADMIN_URL=ipc:///x/y DISPATCH_API_KEY_FILE=/nonexistent -- dispatchctl queue; check78 "dispatchctl, unreadable key file" DISPATCH_API_KEY_FILE
ok "configuration errors exit 78 with one line naming the variable, in all three"

# dispatchctl --json: every error is one JSON object on stderr
jerr() { # jerr WANT_RC WANT_CODE VAR=VALUE... -- ARGS
  local want_rc=$1 want_code=$2
  shift 2
  run_rc "$@"
  [ "$rc" = "$want_rc" ] || fail "dispatchctl ${*}: exit $rc, want $want_rc ($out)"
  python3 -c 'import json,sys; e=json.loads(sys.argv[1])["error"]; assert e["code"]==sys.argv[2] and e["message"], e' \
    "$out" "$want_code" || fail "dispatchctl ${*}: stderr is not the JSON error '$want_code': $out"
}
jerr 64 usage DISPATCH_ADMIN_URL=ipc:///x/y -- dispatchctl queue --json --bogus
jerr 64 usage DISPATCH_ADMIN_URL=ipc:///x/y -- dispatchctl status a b --json
jerr 64 usage DISPATCH_ADMIN_URL=ipc:///x/y -- dispatchctl --json bogus
jerr 64 usage DISPATCH_ADMIN_URL=ipc:///x/y -- dispatchctl wait j --timeout=x --json
jerr 78 config -- dispatchctl queue --json
jerr 69 unavailable DISPATCH_ADMIN_URL="ipc://$E2E_DIR/nobody.sock" -- dispatchctl queue --json
ok "dispatchctl --json: usage, configuration and unreachable errors are JSON on stderr"

# SIGHUP (a closed terminal, a reload habit) stops neither daemon
H="http://127.0.0.1:$(free_port)"
R="http://127.0.0.1:$(free_port)"
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="$H"
e2e_start_runner hup 340 RUNNER_HTTP_LISTEN="$R" RUNNER_NOOP=1
for _ in $(seq 1 150); do [ "$(curl -s "$R/readyz")" = ready ] && break; sleep 0.2; done
[ "$(curl -s "$R/readyz")" = ready ] || fail "runner not ready"
kill -HUP "$E2E_DISPATCHD" "$E2E_RUNNER"
sleep 1 # a default SIGHUP kills at once; 1 s is ample for the kernel to deliver it
kill -0 "$E2E_DISPATCHD" 2>/dev/null || fail "dispatchd died of SIGHUP"
kill -0 "$E2E_RUNNER" 2>/dev/null || fail "the runner died of SIGHUP"
j=$(dispatchctl submit --profile shell --archive "$(e2e_zip hup test.sh='exit 0\n')")
dispatchctl wait "$j" --timeout 60 >/dev/null || fail "no AC after SIGHUP"
[ "$(curl -s "$R/readyz")" = ready ] || fail "runner not ready after SIGHUP"
ok "SIGHUP: both daemons keep serving (a job judged AC after it)"

# the man pages render without a warning (groff, when installed)
if command -v groff >/dev/null; then
  for m in "$SRC"/docs/man/*.[18]; do
    w=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$m" 2>&1)
    [ -z "$w" ] || fail "$m: $w"
  done
  ok "docs/man: dispatchd.8, dispatch-runner.8, dispatchctl.1 render cleanly"
fi

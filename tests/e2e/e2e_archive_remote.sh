#!/usr/bin/env bash
# `dispatchctl submit --archive PATH` with a local path: over the local ipc
# socket it becomes a file:// URL (runners on this machine with
# RUNNER_FETCH_ALLOW_FILE=1 read it: the job is judged); over tcp, where
# dispatchd and its runners (containers, other hosts) cannot read this
# machine's files, it is refused before anything is sent, with a message
# naming what works instead, and no job is created. URLs pass over tcp.
. "$(dirname "$0")/e2e_lib.sh"
admin_tcp="tcp://127.0.0.1:$(free_port)"
e2e_start_dispatchd DISPATCH_ADMIN_LISTEN="ipc://$E2E_DIR/admin.sock,$admin_tcp"
e2e_start_runner local 420
zip=$(e2e_zip ok test.sh='exit 0\n')

# over ipc: a local path is judged
j=$(dispatchctl submit --profile shell --archive "$zip")
dispatchctl wait "$j" --timeout 60 >/dev/null || fail "local path over ipc not AC: $(dispatchctl status "$j")"
ok "local path over ipc: $j AC"

# over tcp (the tcp admin socket listens just after the ipc one: 30 s of slack)
key=$(dispatchctl apikey create producer --scope submit 2>/dev/null)
tcpctl() { DISPATCH_API_KEY=$key DISPATCH_ADMIN_URL=$admin_tcp dispatchctl "$@"; }
for _ in $(seq 1 300); do tcpctl queue >/dev/null 2>&1 && break; sleep 0.1; done
before=$(sql "SELECT count(*) FROM jobs")
set +e
out=$(tcpctl submit --profile shell --archive "$zip" 2>&1)
rc=$?
set -e
[ "$rc" = 65 ] || [ "$rc" = 64 ] || fail "local path over tcp: exit $rc, want a usage/data error: $out"
echo "$out" | grep -q "is a local file, but dispatchd at $admin_tcp is remote" || fail "unclear refusal: $out"
echo "$out" | grep -q "http(s)://" || fail "the refusal does not say what works: $out"
[ "$(sql "SELECT count(*) FROM jobs")" = "$before" ] || fail "a refused submit created a job"
ok "local path over tcp refused (exit $rc): $out"

# a URL passes over tcp (the job is accepted: the runner refuses nothing here,
# since it may read file:// on this machine)
j2=$(tcpctl submit --profile shell --archive "file://$zip")
[ -n "$j2" ] || fail "a URL over tcp was not submitted"
ok "URL over tcp accepted: $j2"

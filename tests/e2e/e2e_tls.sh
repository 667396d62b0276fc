#!/usr/bin/env bash
# Runners reach dispatchd over tls+tcp:// (certificates from the shipped
# deploy/make-certs.sh: a CA and dispatchd's certificate): the runner verifies
# the server against DISPATCH_TLS_CA_FILE; a runner that trusts another CA
# cannot register; missing TLS settings are named at start. The admin API
# over tls+tcp takes only an API key (made over ipc), presented by
# dispatchctl from the environment; `watch` is refused over tcp.
. "$(dirname "$0")/e2e_lib.sh"
mkcert() { # mkcert NAME: NAME.pem (certificate) and NAME-key.pem (certificate + key)
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$E2E_DIR/$1.key" -out "$E2E_DIR/$1.pem" 2>/dev/null
  cat "$E2E_DIR/$1.pem" "$E2E_DIR/$1.key" >"$E2E_DIR/$1-key.pem"
}
"$SRC/deploy/make-certs.sh" "$E2E_DIR/pki" >/dev/null
mkcert other

# dispatchd refuses tls+tcp without a certificate, naming the variable
set +e
out=$(DISPATCH_REDIS_URL=$DISPATCH_REDIS_URL DISPATCH_PG_DSN=$DISPATCH_PG_DSN \
  DISPATCH_REGISTRATION_TOKEN=e2e-registration-token-0123456789 \
  DISPATCH_RUNNER_LISTEN=tls+tcp://127.0.0.1:1 dispatchd 2>&1)
rc=$?
set -e
[ "$rc" != 0 ] && echo "$out" | grep -q DISPATCH_TLS_CERT_KEY_FILE || fail "dispatchd without a certificate: rc $rc: $out"

admin_tls="tls+tcp://127.0.0.1:$(free_port)"
E2E_RUNNER_SCHEME=tls+tcp e2e_start_dispatchd DISPATCH_TLS_CERT_KEY_FILE="$E2E_DIR/pki/dispatchd.pem" \
  DISPATCH_ADMIN_LISTEN="ipc://$E2E_DIR/admin.sock,$admin_tls"
case "$DISPATCH_URL" in tls+tcp://*) ;; *) fail "not a tls URL: $DISPATCH_URL" ;; esac

# a runner without a CA file is refused at start, naming the variable
set +e
out=$(RUNNER_PROFILES_DIR="$SRC/pits" RUNNER_WORKDIR="$E2E_DIR" dispatch-runner 2>&1)
rc=$?
set -e
[ "$rc" = 78 ] && echo "$out" | grep -q DISPATCH_TLS_CA_FILE || fail "runner without CA: rc $rc: $out"

# a runner trusting another CA never registers
e2e_start_runner wrongca 380 DISPATCH_TLS_CA_FILE="$E2E_DIR/other.pem" DISPATCH_TLS_SERVER_NAME=localhost
# the right one does, and runs a job
e2e_start_runner tls 390 DISPATCH_TLS_CA_FILE="$E2E_DIR/pki/ca.pem" DISPATCH_TLS_SERVER_NAME=dispatchd
j=$(dispatchctl submit --profile shell --archive "$(e2e_zip ok test.sh='exit 0\n')")
dispatchctl wait "$j" --timeout 60 >/dev/null || fail "job over tls not AC: $(dispatchctl status "$j")"
n=$(dispatchctl runners --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 1 ] || fail "$n runners registered; only the one trusting the server's CA should be"
# its first attempt fails within ~1 s of its start; 30 s of slack for load
for _ in $(seq 1 300); do grep -q register_failed "$E2E_DIR/runner-wrongca.log" && break; sleep 0.1; done
grep -q register_failed "$E2E_DIR/runner-wrongca.log" || fail "the runner with the wrong CA did not report a failed registration"
# the admin API over tls+tcp: refused without a key (exit 77), served with one
tlsctl() { DISPATCH_TLS_CA_FILE="$E2E_DIR/pki/ca.pem" DISPATCH_TLS_SERVER_NAME=dispatchd \
  DISPATCH_ADMIN_URL="$admin_tls" dispatchctl "$@"; }
# the tls admin socket starts just after the ipc one e2e_start_dispatchd waited
# for: until it listens, dispatchctl says unreachable (69); 30 s of slack for load
set +e
for _ in $(seq 1 300); do
  out=$(tlsctl queue 2>&1)
  rc=$?
  [ "$rc" != 69 ] && break
  sleep 0.1
done
set -e
[ "$rc" = 77 ] && echo "$out" | grep -q "API key" || fail "admin over tls without a key: rc $rc: $out"
key=$(dispatchctl apikey create e2e-ops --scope admin 2>/dev/null)
printf '%s\n' "$key" >"$E2E_DIR/key"
DISPATCH_API_KEY_FILE="$E2E_DIR/key" tlsctl queue >/dev/null || fail "admin over tls with a key refused"
rkey=$(dispatchctl apikey create e2e-reader --scope read 2>/dev/null)
set +e
out=$(DISPATCH_API_KEY=$rkey tlsctl cancel "$j" 2>&1)
rc=$?
set -e
[ "$rc" = 77 ] && echo "$out" | grep -q forbidden || fail "a read key cancelled: rc $rc: $out"
# no process shows a key in its arguments (the key reaches the checker by environment)
KEY=$key python3 -c 'import glob, os, sys
def args(p):
    try:
        return open(p, "rb").read()
    except OSError:  # the process ended meanwhile
        return b""
k = os.environ["KEY"].encode()
sys.exit(any(k in args(p) for p in glob.glob("/proc/[0-9]*/cmdline")))' ||
  fail "an API key is visible in the process list"
set +e
out=$(DISPATCH_API_KEY=$key tlsctl watch 2>&1)
rc=$?
set -e
[ "$rc" != 0 ] && echo "$out" | grep -q "ipc admin socket" || fail "watch over tls: rc $rc: $out"
ok "tls+tcp: verified runner ran a job; wrong CA and missing settings refused; admin needs a key"

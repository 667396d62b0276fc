#!/usr/bin/env bash
# GET /api/v1/jobs/{id}/log on an S3 log store (docs/api.md): a 302 to a
# presigned GET (SigV4 query signing) that curl follows to the log. No
# S3-compatible server is installed here, so tests/e2e/s3_server.py plays
# one: HTTPS on loopback, and it checks every signature itself (Python's
# hmac/hashlib from AWS's documentation, independent of dispatchd's C): the
# log store's signed PUTs (libcurl's CURLOPT_AWS_SIGV4) and the presigned
# GETs, refusing tampered and expired ones. Inline files on that store are
# written by the stasher actor: a slow PUT (3 s) does not hold the HTTP
# thread, and a refused spec stores nothing.
. "$(dirname "$0")/e2e_lib.sh"
http_port=$(free_port)
s3_port=$(free_port)
H="http://127.0.0.1:$http_port"
S3="https://127.0.0.1:$s3_port"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$E2E_DIR/s3.key" -out "$E2E_DIR/s3.crt" 2>/dev/null
cat "$E2E_DIR/s3.crt" "$E2E_DIR/s3.key" >"$E2E_DIR/s3.pem"
S3_KEY=AKIDE2ETEST0000001
S3_SECRET=e2e-s3-secret/0123456789+abcdefghij
PUT_DELAY_SRC=3 python3 "$SRC/tests/e2e/s3_server.py" "$s3_port" "$E2E_DIR/s3.pem" "$S3_KEY" "$S3_SECRET" \
  eu-test-1 "$E2E_DIR/s3.jsonl" >"$E2E_DIR/s3.log" 2>&1 &
E2E_PIDS+=($!)
for _ in $(seq 1 50); do curl -s --cacert "$E2E_DIR/s3.crt" -o /dev/null "$S3/" && break; sleep 0.1; done

# presigned URLs live 3 s here: one curl -L follows at once (well inside
# them on a loaded machine), and a wait of 4 s outlives them
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="$H" DISPATCH_LOG_STORE="$S3/logs/{job_id}-{attempt}.log" \
  DISPATCH_LOG_STORE_KEY="$S3_KEY" DISPATCH_LOG_STORE_SECRET="$S3_SECRET" \
  DISPATCH_LOG_STORE_REGION=eu-test-1 DISPATCH_LOG_STORE_CA_FILE="$E2E_DIR/s3.crt" \
  DISPATCH_LOG_URL_EXPIRY_S=3
e2e_start_runner r1 710
key=$(dispatchctl apikey create reader --scope submit 2>/dev/null)
for _ in $(seq 1 50); do curl -fsS "$H/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

z=$(e2e_zip hello test.sh='echo hello-from-the-log\n')
j=$(curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  --data "{\"profile\":\"shell\",\"archive\":\"file://$z\"}" "$H/api/v1/jobs" | json job_id)
wait_state "$j" completed 60
grep -q '"method": "PUT", "path": "/logs/'"$j"'-1.log", "ok": true' "$E2E_DIR/s3.jsonl" ||
  fail "the log's PUT was not accepted by the S3 server: $(cat "$E2E_DIR/s3.jsonl")"
ok "the log store's PUT passed the server's SigV4 check"

code=$(curl -sS -o "$E2E_DIR/out" -D "$E2E_DIR/hdr" -w '%{http_code}' \
  -H "Authorization: Bearer $key" "$H/api/v1/jobs/$j/log")
[ "$code" = 302 ] || fail "log: status $code: $(cat "$E2E_DIR/out")"
loc=$(awk 'tolower($1) == "location:" { print $2 }' "$E2E_DIR/hdr" | tr -d '\r')
case "$loc" in "$S3/logs/$j-1.log?X-Amz-Algorithm=AWS4-HMAC-SHA256&"*X-Amz-Expires=3*X-Amz-Signature=*) ;;
  *) fail "Location: $loc" ;; esac
echo "$loc" | grep -q "$S3_SECRET" && fail "the secret is in the URL"
curl -fsSL --cacert "$E2E_DIR/s3.crt" -H "Authorization: Bearer $key" "$H/api/v1/jobs/$j/log" \
  >"$E2E_DIR/log.txt" || fail "following the redirect failed: $(tail -3 "$E2E_DIR/s3.jsonl")"
grep -q hello-from-the-log "$E2E_DIR/log.txt" || fail "log text: $(cat "$E2E_DIR/log.txt")"
ok "GET /log: 302 to a presigned URL, which curl follows to the log"

tampered="${loc%?}0"; [ "$tampered" != "$loc" ] || tampered="${loc%?}1"
code=$(curl -sS --cacert "$E2E_DIR/s3.crt" -o /dev/null -w '%{http_code}' "$tampered")
[ "$code" = 403 ] || fail "tampered signature: $code"
code=$(curl -sS --cacert "$E2E_DIR/s3.crt" -o /dev/null -w '%{http_code}' "$S3/logs/$j-1.log")
[ "$code" = 403 ] || fail "unsigned GET: $code"
sleep 4
code=$(curl -sS --cacert "$E2E_DIR/s3.crt" -o /dev/null -w '%{http_code}' "$loc")
[ "$code" = 403 ] || fail "expired URL: $code"
tail -1 "$E2E_DIR/s3.jsonl" | grep -q '"why": "expired"' || fail "not refused as expired"
ok "tampered, unsigned and expired (3 s) URLs refused by the server"

# inline files: a refused spec stores nothing
puts() { grep -c '"method": "PUT"' "$E2E_DIR/s3.jsonl" || true; }
before=$(puts)
for body in '{"profile":"shell","files":{"../x.sh":"exit 0\n"}}' \
  '{"profile":"no such!","files":{"test.sh":"exit 0\n"}}'; do
  code=$(curl -sS -o "$E2E_DIR/out" -w '%{http_code}' -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' --data "$body" "$H/api/v1/jobs")
  [ "$code" = 400 ] || fail "refused inline spec: $code $(cat "$E2E_DIR/out")"
done
[ "$(puts)" = "$before" ] || fail "a refused inline spec was stored: $(tail -2 "$E2E_DIR/s3.jsonl")"
ok "refused inline specs (400) stored nothing"

# a slow store (each src-* PUT held 3 s): the submit waits for it, the HTTP
# thread does not: /healthz answers meanwhile
t0=$(date +%s%N)
curl -sS -o "$E2E_DIR/inline.out" -w '%{http_code}' -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' --data '{"profile":"shell","files":{"test.sh":"exit 0\n"}}' \
  "$H/api/v1/jobs" >"$E2E_DIR/inline.code" &
sub=$!
for _ in $(seq 1 100); do grep -q PUT-HELD "$E2E_DIR/s3.jsonl" && break; sleep 0.05; done
grep -q PUT-HELD "$E2E_DIR/s3.jsonl" || fail "the inline PUT never reached the store"
h0=$(date +%s%N)
[ "$(curl -fsS --max-time 10 "$H/healthz")" = ok ] || fail "/healthz during the PUT"
h1=$(date +%s%N)
wait "$sub"
t1=$(date +%s%N)
hms=$(((h1 - h0) / 1000000)); sms=$(((t1 - t0) / 1000000))
# slack: /healthz takes ~10 ms; 1.5 s still tells it apart from the 3 s PUT
# it would wait for on a blocked HTTP thread
[ "$hms" -lt 1500 ] || fail "/healthz took $hms ms while an inline PUT was held (HTTP thread blocked)"
[ "$(cat "$E2E_DIR/inline.code")" = 201 ] || fail "inline submit: $(cat "$E2E_DIR/inline.code") $(cat "$E2E_DIR/inline.out")"
[ "$sms" -ge 2500 ] || fail "the inline submit took $sms ms: it did not wait for the store"
ji=$(json job_id <"$E2E_DIR/inline.out")
arch=$(sql "SELECT spec->>'archive' FROM jobs WHERE id = '$ji'")
case "$arch" in "$S3/logs/src-"*-0.log) ;; *) fail "inline archive URL: $arch" ;; esac
grep -q '"method": "PUT", "path": "'"${arch#"$S3"}"'", "ok": true' "$E2E_DIR/s3.jsonl" ||
  fail "the inline archive was not stored: $(cat "$E2E_DIR/s3.jsonl")"
dispatchctl cancel "$ji" >/dev/null 2>&1 || true
ok "inline files stored by the stasher (signed PUT, $sms ms); /healthz answered in $hms ms meanwhile"

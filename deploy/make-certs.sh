#!/usr/bin/env bash
# deploy/make-certs.sh DIR: a private CA and dispatchd's certificate for
# tls+tcp (runners verify it against ca.pem; DNS names dispatchd, localhost).
# DIR/ca.pem goes to runners and dispatchctl, DIR/dispatchd.pem (certificate +
# key) to dispatchd only. Keep DIR/ca.key offline.
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR}
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=dispatch CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=dispatchd" \
  -keyout "$dir/dispatchd.key" -out "$dir/dispatchd.csr" 2>/dev/null
printf 'subjectAltName=DNS:dispatchd,DNS:localhost,IP:127.0.0.1\n' >"$dir/san.ext"
openssl x509 -req -in "$dir/dispatchd.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -days 825 -extfile "$dir/san.ext" -out "$dir/dispatchd.crt" 2>/dev/null
cat "$dir/dispatchd.crt" "$dir/dispatchd.key" >"$dir/dispatchd.pem"
rm -f "$dir/dispatchd.csr" "$dir/san.ext" "$dir/dispatchd.crt" "$dir/dispatchd.key"
chmod 644 "$dir/ca.pem"
echo "made $dir/ca.pem (for runners) and $dir/dispatchd.pem (for dispatchd)"

#!/usr/bin/env bash
# Which HTTP server for the API (docs/api.md "Why libmicrohttpd"): the same
# probe against nng 1.5.2's HTTP server and libmicrohttpd, each with a
# long-poll handler that never answers. Prints one JSON line per server:
# how long a connection with unfinished headers stays open, what a 100 MB
# Content-Length gets, threads and memory with 1,000 held requests.
set -euo pipefail
d=$(mktemp -d); trap 'kill ${pids[*]} 2>/dev/null || true; rm -rf "$d"' EXIT
pids=()
here=$(cd "$(dirname "$0")" && pwd)
gcc -O1 -o "$d/nngsrv" "$here/nngsrv.c" -lnng
gcc -O1 -o "$d/mhdsrv" "$here/mhdsrv.c" -lmicrohttpd
ulimit -n 8192
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
p=$(port); "$d/nngsrv" "http://127.0.0.1:$p" >/dev/null & pids+=($!); sleep 0.5
echo "{\"server\":\"nng 1.5.2\",\"probe\":$(python3 "$here/probe.py" "$p" "${pids[0]}")}"
p=$(port); "$d/mhdsrv" "$p" >/dev/null & pids+=($!); sleep 0.5
echo "{\"server\":\"libmicrohttpd 0.9.75 (idle timeout 10 s)\",\"probe\":$(python3 "$here/probe.py" "$p" "${pids[1]}")}"

#!/usr/bin/env bash
# check_systemd.sh SRC: the unit files in deploy/systemd/ parse
# (systemd-analyze verify, with stand-in binaries), and dispatchd's
# hardening keeps its exposure score at or below 2.0 ("OK") in
# `systemd-analyze security --offline`. The runner's unit cannot take those
# restrictions (its sandbox needs namespaces, mounts, cgroups): verified only.
# Skipped (exit 77) without systemd-analyze.
set -euo pipefail
command -v systemd-analyze >/dev/null || { echo "no systemd-analyze: skipped"; exit 77; }
src=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/bin"
for u in dispatchd dispatch-runner; do
  printf '#!/bin/sh\n' >"$d/bin/$u"
  chmod +x "$d/bin/$u"
  sed -e "s#/usr/local/bin/#$d/bin/#" -e 's#^EnvironmentFile=#EnvironmentFile=-#' \
    "$src/deploy/systemd/$u.service" >"$d/$u.service"
done
out=$(systemd-analyze verify --man=no "$d/dispatchd.service" "$d/dispatch-runner.service" 2>&1) ||
  { echo "$out"; exit 1; }
[ -z "$out" ] || { echo "systemd-analyze verify: $out"; exit 1; }
score=$(systemd-analyze security --offline=yes "$d/dispatchd.service" 2>&1 |
  awk '/Overall exposure level/ {print $(NF-2)}')
echo "dispatchd.service exposure: $score"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2.0 else 1)' "$score" ||
  { echo "dispatchd.service: exposure $score above 2.0: a hardening option was lost"; exit 1; }

#!/usr/bin/env bash
# ./dev fuzz [SECONDS]: runs every libFuzzer harness in build-fuzz/fuzz for SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
for h in build-fuzz/fuzz/fuzz_*; do
  [ -f "$h" ] && [ -x "$h" ] || continue
  name=$(basename "$h")
  mkdir -p "fuzz/corpus-run/$name"
  seeds=()
  [ -d "fuzz/seeds/$name" ] && seeds=("fuzz/seeds/$name")
  echo "fuzz: $name for ${secs}s" >&2
  "$h" -max_total_time="$secs" -print_final_stats=1 "fuzz/corpus-run/$name" "${seeds[@]}"
done

#!/usr/bin/env bash
# ./dev fuzz list | TARGET [SECONDS] | [SECONDS]
#   list            the targets (build-fuzz/fuzz/fuzz_<target>)
#   TARGET SECONDS  runs that target for SECONDS (default 60)
#   SECONDS         runs every target, one after another, SECONDS each
# Extra arguments after SECONDS go to libFuzzer (e.g. -jobs=2, -max_len=8192).
# The growing corpus is fuzz/corpus-run/fuzz_<target> (git-ignored), seeded
# from the committed fuzz/seeds/fuzz_<target>; a finding is written to
# fuzz/findings/fuzz_<target>-crash-<sha1> (or leak-, timeout-, oom-) and
# the run stops with libFuzzer's report. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

targets() {
  for h in build-fuzz/fuzz/fuzz_*; do
    [ -f "$h" ] && [ -x "$h" ] && basename "$h" | sed 's/^fuzz_//'
  done
}

run_one() {
  local t=$1 secs=$2
  shift 2
  local h=build-fuzz/fuzz/fuzz_$t
  [ -x "$h" ] || { echo "fuzz: no target '$t' (./dev fuzz list)" >&2; return 64; }
  mkdir -p "fuzz/corpus-run/fuzz_$t" fuzz/findings
  local seeds=()
  [ -d "fuzz/seeds/fuzz_$t" ] && seeds=("fuzz/seeds/fuzz_$t")
  echo "fuzz: $t for ${secs}s" >&2
  local rc=0
  "$h" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="fuzz/findings/fuzz_$t-" "$@" "fuzz/corpus-run/fuzz_$t" "${seeds[@]}" || rc=$?
  sweep_extract_dirs
  return "$rc"
}

# The extractor harnesses work in $TMPDIR/dispatch-fuzz-extract.PID.*; a run
# that crashed or timed out cannot remove its own, so remove those whose
# process is gone.
sweep_extract_dirs() {
  local d pid
  for d in "${TMPDIR:-/tmp}"/dispatch-fuzz-extract.*; do
    [ -d "$d" ] || continue
    pid=${d##*/dispatch-fuzz-extract.}
    pid=${pid%%.*}
    [ -d "/proc/$pid" ] || rm -rf -- "$d"
  done
}

case "${1:-60}" in
  list) targets ;;
  *[!0-9]*)
    t=$1
    shift
    secs=${1:-60}
    [ $# -gt 0 ] && shift
    run_one "$t" "$secs" "$@"
    ;;
  *)
    secs=${1:-60}
    [ $# -gt 0 ] && shift
    for t in $(targets); do run_one "$t" "$secs" "$@"; done
    ;;
esac

#!/bin/sh
# Packs every example into OUTDIR: OUTDIR/NAME.zip (the files/ folder's
# contents at the archive root) and OUTDIR/NAME.json (job.json with
# ARCHIVE_URL replaced by the zip's file:// URL and archive_sha256 added).
# Usage: examples/pack.sh OUTDIR [NAME...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [NAME...]" >&2; exit 64; }
out=$(mkdir -p "$1" && cd "$1" && pwd)
shift
[ $# -gt 0 ] || set -- $(cd "$here" && ls -d */ | tr -d /)
for name in "$@"; do
  dir=$here/$name
  [ -f "$dir/job.json" ] || { echo "pack: no example $name" >&2; exit 65; }
  rm -f "$out/$name.zip"
  (cd "$dir/files" && zip -qrX "$out/$name.zip" .)
  sha=$(sha256sum "$out/$name.zip" | cut -d' ' -f1)
  python3 - "$dir/job.json" "$out/$name.json" "file://$out/$name.zip" "$sha" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["archive"] = sys.argv[3]
spec["archive_sha256"] = sys.argv[4]
json.dump(spec, open(sys.argv[2], "w"), indent=2)
PY
  echo "$out/$name.json"
done

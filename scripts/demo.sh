#!/usr/bin/env bash
# ./dev demo: dispatchd and two runners on the throwaway services, the sample
# jobs of examples/ submitted through dispatchctl, a table of verdicts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/services.sh"
. "$root/scripts/stack.sh"
show_logs() {
  local f
  for f in "$SVC_DIR"/dispatchd.log "$SVC_DIR"/runner-*.log; do
    echo "--- $(basename "$f")" >&2
    { grep -v '"level":"info"' "$f" || true; } | tail -n 15 >&2 || true
  done
}
# Stop first: nothing in the trap may keep the stack from being stopped.
trap 'rc=$?; set +e; stack_stop; [ $rc = 0 ] || show_logs' EXIT
stack_start 2 2
jobs_dir="$SVC_DIR/jobs"
mkdir -p "$jobs_dir"
chmod 755 "$jobs_dir"
"$root/examples/pack.sh" "$jobs_dir" >/dev/null
names=()
ids=()
for spec in "$jobs_dir"/*.json; do
  name=$(basename "$spec" .json)
  id=$(dispatchctl submit --spec "$spec")
  names+=("$name")
  ids+=("$id")
done
printf '%-18s %-18s %-8s %-7s %8s  %s\n' JOB PROFILE VERDICT SCORE TIME_MS MESSAGE
failed=0
for i in "${!ids[@]}"; do
  out=$(dispatchctl wait "${ids[$i]}" --timeout 120 --json) || true
  python3 - "${names[$i]}" "$out" <<'PY' || failed=1
import json, sys
name, text = sys.argv[1], sys.argv[2]
try:
    j = json.loads(text)
except ValueError:
    print(f"{name:18} (no answer)")
    sys.exit(1)
ms = sum((t.get("wall_ms") or 0) for t in j.get("tests", []))
score = j.get("score")
msg = (j.get("message") or "").splitlines()[0][:60] if j.get("message") else ""
print(f"{name:18} {j['profile']:18} {j.get('verdict') or j['state']:8} "
      f"{'-' if score is None else round(score, 1):<7} {ms:8}  {msg}")
sys.exit(0 if j["state"] in ("completed", "failed") else 1)
PY
done
echo
dispatchctl queue
echo
echo "HTTP API: $DISPATCH_HTTP_URL   (docs/api.md)"
echo "API key (admin, this demo's stack only): $DISPATCH_API_KEY"
# the dashboard is served (GET / with its CSP); this stack stops with the demo
dash_headers=$(curl -fsS -D - -o /dev/null "$DISPATCH_HTTP_URL/") || failed=1
grep -qi '^content-security-policy:' <<<"$dash_headers" || failed=1
echo "Dashboard: $DISPATCH_HTTP_URL/   (open it, paste the key above; this stack stops when the demo ends: ./dev up keeps one)"
echo "POST /execute:"
curl -sS -H "Authorization: Bearer $DISPATCH_API_KEY" -H 'Content-Type: application/json' \
  --data '{"language":"python","source":"print(int(input())*2)\n","tests":[{"stdin":"5\n","expectedStdout":"10\n","timeoutMs":1500}]}' \
  "$DISPATCH_HTTP_URL/execute" || failed=1
[ "$failed" = 0 ]

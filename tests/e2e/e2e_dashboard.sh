#!/usr/bin/env bash
# The web dashboard at / (docs/api.md, "Web dashboard"): its files and
# headers through curl, then the page in headless Chromium against a real
# dispatchd, Redis, PostgreSQL and a sandboxed runner
# (tests/e2e/dashboard_browser.py): key, submit, the verdict arriving live,
# the job's page, untrusted output shown as text, runners and queue.
# Screenshots: $BUILD/dashboard-screenshots/.
. "$(dirname "$0")/e2e_lib.sh"
http_port=$(free_port)
H="http://127.0.0.1:$http_port"
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="$H"
admin=$(dispatchctl apikey create dash-admin --scope admin 2>/dev/null)
sub=$(dispatchctl apikey create dash-submit --scope submit 2>/dev/null)
for _ in $(seq 1 50); do curl -fsS "$H/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

# hdr PATH: the headers of GET PATH (lower-case names) in $E2E_DIR/h, the body in $E2E_DIR/b
hdr() { curl -sS -D "$E2E_DIR/h" -o "$E2E_DIR/b" "$@"; tr -d '\r' <"$E2E_DIR/h" | sed 's/^[^:]*:/\L&/' >"$E2E_DIR/h2"; }
has() { grep -qiF -- "$1" "$E2E_DIR/h2" || fail "$2: no '$1' in: $(cat "$E2E_DIR/h2")"; }
csp="content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'"
for f in / /ui/dash.css /ui/api.js /ui/views.js /ui/dash.js; do
  hdr "$H$f"
  head -1 "$E2E_DIR/h2" | grep -q ' 200' || fail "GET $f: $(head -1 "$E2E_DIR/h2")"
  has "$csp" "GET $f"
  has "x-content-type-options: nosniff" "GET $f"
  has "cache-control: no-cache" "GET $f"
  grep -qi "unsafe-inline\|unsafe-eval" "$E2E_DIR/h2" && fail "GET $f: the CSP allows inline code"
  case "$f" in
    /) has "content-type: text/html; charset=utf-8" "GET /" ;;
    *.css) has "content-type: text/css" "GET $f" ;;
    *.js) has "content-type: text/javascript" "GET $f" ;;
  esac
  # nothing from the internet, no inline script, style or handler
  grep -Eq 'https?://' "$E2E_DIR/b" && fail "GET $f names a URL: $(grep -Eo 'https?://[^ ]*' "$E2E_DIR/b" | head -3)"
  if [ "$f" = / ]; then
    grep -Eq '<script>|<script [^>]*>[^<]' "$E2E_DIR/b" && fail "index.html has an inline script"
    grep -Eiq ' (style|on[a-z]+)=' "$E2E_DIR/b" && fail "index.html has an inline style or handler"
  fi
done
etag=$(sed -n 's/^etag: //p' "$E2E_DIR/h2")
[ -n "$etag" ] || fail "no ETag"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$H/ui/dash.js")
[ "$code" = 304 ] || fail "If-None-Match: $code, want 304"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$H/ui/nothing.js")
[ "$code" = 404 ] || fail "GET /ui/nothing.js: $code"
ok "/ and /ui/*: 200 with the CSP (no inline code), nosniff, no-cache + ETag (304), types; nothing from the internet"

# A job whose output and test name are HTML: the page must show them as text.
body=$(python3 -c 'import json
print(json.dumps({"profile": "bash",
  "files": {"main.sh": "echo \"<script>window.__xss=1</script><img src=x onerror=window.__xss=2>\"\n"},
  "tests": [{"name": "<img src=x onerror=window.__xss=3>", "stdin": "", "expected_stdout": "no\n"}]}))')
xss=$(curl -fsS -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' --data-binary "$body" \
  "$H/api/v1/jobs" | json job_id)
[ -n "$xss" ] || fail "submitting the HTML-printing job"

# The browser submits; the runner starts only once the page shows the job
# queued (SIGNAL_DIR/submitted), so its verdict can reach the page only live.
shots="$BUILD/dashboard-screenshots"
rm -rf "$shots"
mkdir -p "$E2E_DIR/signal"
/usr/bin/python3 "$SRC/tests/e2e/dashboard_browser.py" "$H" "$admin" "$xss" "$E2E_DIR/signal" "$shots" "$sub" \
  >"$E2E_DIR/browser.log" 2>&1 &
browser=$!
E2E_PIDS+=("$browser")
for _ in $(seq 1 1200); do # 120 s: a cold Chromium on a loaded machine
  [ -e "$E2E_DIR/signal/submitted" ] && break
  kill -0 "$browser" 2>/dev/null || break
  sleep 0.1
done
[ -e "$E2E_DIR/signal/submitted" ] || { cat "$E2E_DIR/browser.log" >&2; fail "the page did not submit the job"; }
job=$(cat "$E2E_DIR/signal/submitted")
[ "$(dispatchctl status "$job" --json | json profile)" = c ] || fail "$job is not the page's C job"
[ "$(dispatchctl status "$job" --json | json priority)" = high ] || fail "$job: the form's priority was not sent"
e2e_start_runner dash 330 RUNNER_LABELS=web,x86_64
rc=0
wait "$browser" || rc=$?
cat "$E2E_DIR/browser.log"
[ "$rc" = 0 ] || fail "the browser test failed (exit $rc)"
[ "$(dispatchctl status "$job" --json | json verdict)" = AC ] || fail "dispatchctl: $job is not AC"
for s in 1-key 2-submit 3-jobs 4-job 5-job-untrusted-output 6-fleet 7-jobs-submit-key; do
  [ -s "$shots/$s.png" ] || fail "no screenshot $s"
done
ok "dashboard in Chromium: key, submit (2 files, 2 tests), verdict live without reload, job page, HTML output as text, fleet, a submit-scope key on its own job streams; screenshots in $shots"

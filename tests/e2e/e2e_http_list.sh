#!/usr/bin/env bash
# GET /api/v1/jobs (cursor paging, owner filtering, 400s), GET
# /api/v1/profiles and API-key quotas (429 + Retry-After) through curl
# against a real dispatchd, Redis, PostgreSQL and runners (docs/api.md).
. "$(dirname "$0")/e2e_lib.sh"
http_port=$(free_port)
H="http://127.0.0.1:$http_port"
e2e_start_dispatchd DISPATCH_HTTP_LISTEN="$H"
sub=$(dispatchctl apikey create producer --scope submit 2>/dev/null)
other=$(dispatchctl apikey create other-producer --scope submit 2>/dev/null)
reader=$(dispatchctl apikey create reader --scope read 2>/dev/null)

# req KEY METHOD PATH [BODY]: sets code, out and hdr (the response headers)
req() {
  local key=$1 method=$2 path=$3 body=${4:-}
  local args=(-sS -o "$E2E_DIR/out" -D "$E2E_DIR/hdr" -w '%{http_code}' -X "$method")
  [ -n "$key" ] && args+=(-H "Authorization: Bearer $key")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  code=$(curl "${args[@]}" "$H$path")
  out=$(cat "$E2E_DIR/out")
  hdr=$(cat "$E2E_DIR/hdr")
}
expect() { [ "$code" = "$1" ] || fail "$2: status $code, want $1: $out"; }
field() { echo "$out" | python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v[int(k)] if isinstance(v,list) else v.get(k)
print("" if v is None else v)' "$1"; }
ids() { echo "$out" | python3 -c 'import json,sys; print(" ".join(j["job_id"] for j in json.load(sys.stdin)["jobs"]))'; }
retry_after() { echo "$hdr" | tr -d '\r' | awk -F': ' 'tolower($1)=="retry-after" {print $2}'; }

for _ in $(seq 1 50); do curl -fsS "$H/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

z=$(e2e_zip ok test.sh='exit 0\n')
spec="{\"profile\":\"shell\",\"archive\":\"file://$z\"}"
pyspec="{\"profile\":\"python3\",\"archive\":\"file://$z\"}"
submit() { # submit KEY SPEC: prints the new job's id
  req "$1" POST /api/v1/jobs "$2"; expect 201 "submit"
  field job_id
}

# ---- paging: 7 jobs of one key, three pages of 3, submits in between ----
mine=()
for i in 1 2 3 4 5 6 7; do mine+=("$(submit "$sub" "$spec")"); done
theirs=("$(submit "$other" "$spec")" "$(submit "$other" "$pyspec")")
newest_first=$(printf '%s\n' "${mine[@]}" | tac | tr '\n' ' ')
req "$sub" GET "/api/v1/jobs?limit=3"; expect 200 "page 1"
p1=$(ids); next=$(field next)
[ -n "$next" ] || fail "page 1 has no next: $out"
extra1=$(submit "$sub" "$spec") # newer than every page: never in the pages that follow
req "$sub" GET "/api/v1/jobs?limit=3&after=$next"; expect 200 "page 2"
p2=$(ids); next=$(field next)
extra2=$(submit "$sub" "$spec")
req "$sub" GET "/api/v1/jobs?limit=3&after=$next"; expect 200 "page 3"
p3=$(ids)
[ -z "$(field next)" ] || fail "page 3 is the last but has a next: $out"
[ "$p1 $p2 $p3 " = "$newest_first" ] || fail "pages '$p1 | $p2 | $p3', want '$newest_first'"
case " $p2 $p3 " in *" $extra1 "* | *" $extra2 "*) fail "a job submitted while paging showed up later" ;; esac
ok "3 pages of 3/3/1, newest first, no job twice or skipped with submits in between"

# ---- owner filtering: a submit key sees its own; read key and ipc see all ----
req "$sub" GET "/api/v1/jobs?limit=500"; expect 200 "own list"
for t in "${theirs[@]}"; do case " $(ids) " in *" $t "*) fail "submit key sees another key's job $t" ;; esac; done
[ "$(ids | wc -w)" = 9 ] || fail "submit key sees $(ids | wc -w) jobs, want 9"
req "$reader" GET "/api/v1/jobs?limit=500"; expect 200 "read key list"
[ "$(ids | wc -w)" = 11 ] || fail "read key sees $(ids | wc -w) jobs, want 11"
req "$other" GET "/api/v1/jobs?profile=python3"; expect 200 "profile filter"
[ "$(ids)" = "${theirs[1]}" ] || fail "profile=python3: $(ids), want ${theirs[1]}"
req "$sub" POST "/api/v1/jobs/${mine[2]}/cancel"; expect 200 "cancel"
req "$sub" GET "/api/v1/jobs?state=cancelled"; expect 200 "state filter"
[ "$(ids)" = "${mine[2]}" ] || fail "state=cancelled: $(ids)"
# dispatchctl jobs: the same message over nng (ipc: the operator sees all)
all=$(dispatchctl jobs --limit 500 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
[ "$all" = 11 ] || fail "dispatchctl jobs: $all jobs, want 11"
c1=$(dispatchctl jobs --limit 2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["next"])')
pg=$(dispatchctl jobs --limit 2 --after "$c1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
[ "$pg" = 2 ] || fail "dispatchctl jobs --after: $pg jobs"
dispatchctl jobs --state cancelled | grep -q "${mine[2]}" || fail "dispatchctl jobs --state cancelled"
ok "a submit key lists its own jobs, a read key and dispatchctl all; profile and state filters"

# ---- bad parameters: 400 naming the parameter ----
for q in "state=bogus:state" "limit=0:limit" "limit=501:limit" "limit=ten:limit" \
  "after=garbage:after" "after=c1.12.bad%20id:after"; do
  req "$sub" GET "/api/v1/jobs?${q%%:*}"; expect 400 "?${q%%:*}"
  [ "$(field error.code)" = invalid ] || fail "?${q%%:*}: $out"
  field error.message | grep -q "^${q##*:}" || fail "?${q%%:*}: message does not name ${q##*:}: $out"
done
set +e; dispatchctl jobs --state bogus >/dev/null 2>&1; rc=$?; set -e
[ "$rc" = 65 ] || fail "dispatchctl jobs --state bogus: exit $rc, want 65"
ok "400 naming state, limit, after; dispatchctl exits 65"

# ---- quotas: per minute ----
# The counter's windows are wall-clock minutes: start both per-minute checks
# early in one, so none crosses into the next (they take a few seconds).
sec=$(date +%S); sec=${sec#0}
[ "$sec" -lt 35 ] || sleep $((61 - sec))
pm=$(dispatchctl apikey create per-minute --scope submit --per-minute 3 2>/dev/null)
dispatchctl apikey list | grep per-minute | grep -q ' 3 ' || fail "apikey list does not show the quota"
for _ in 1 2 3; do submit "$pm" "$spec" >/dev/null; done
req "$pm" POST /api/v1/jobs "$spec"; expect 429 "4th submit in a minute"
[ "$(field error.code)" = quota ] || fail "429 code: $out"
ra=$(retry_after)
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 60 ] || fail "Retry-After '$ra'"
req "$pm" POST /execute '{"language":"python","source":"print(1)","tests":[{"expectedStdout":"1\n"}]}'
expect 429 "/execute over the quota"
[ -n "$(retry_after)" ] || fail "/execute 429 without Retry-After"
ok "per-minute: 3 accepted, the 4th 429 quota with Retry-After $ra (also /execute)"

# a batch partly over the quota: what fits is accepted, the rest refused item by item
bq=$(dispatchctl apikey create batch-quota --scope submit --per-minute 5 2>/dev/null)
req "$bq" POST /api/v1/jobs "[$spec,$spec,$spec,$spec,$spec,$spec,$spec]"; expect 201 "batch over quota"
[ "$(field accepted)" = 5 ] && [ "$(field refused)" = 2 ] || fail "batch: $out"
[ "$(field items.5.error.code)" = quota ] && [ "$(field items.6.error.code)" = quota ] || fail "batch items: $out"
[ -n "$(field items.4.id)" ] || fail "batch item 4: $out"
req "$bq" POST /api/v1/jobs "[$spec,$spec]"; expect 429 "batch wholly over quota"
[ -n "$(retry_after)" ] || fail "batch 429 without Retry-After"
ok "batch of 7 with 5 per minute: 5 accepted, 2 refused with quota; then 429"

# ---- quotas: max queued (no runner yet: jobs stay queued) ----
mq=$(dispatchctl apikey create max-queued --scope submit --max-queued 2 2>/dev/null)
q1=$(submit "$mq" "$spec"); submit "$mq" "$spec" >/dev/null
req "$mq" POST /api/v1/jobs "$spec"; expect 429 "3rd queued job"
[ "$(field error.code)" = quota ] && [ "$(retry_after)" = 5 ] || fail "max-queued 429: $out $(retry_after)"
req "$mq" POST "/api/v1/jobs/$q1/cancel"; expect 200 "cancel one"
submit "$mq" "$spec" >/dev/null
req "$mq" POST /api/v1/jobs "[$spec,$spec]"; expect 429 "batch over max-queued"
ok "max-queued 2: the 3rd is 429 (Retry-After 5), room again after a cancel"

# ---- profiles: two runners with different profile sets ----
req "$reader" GET /api/v1/profiles; expect 200 "profiles, no runner"
[ "$(echo "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["profiles"]))')" = 0 ] || fail "profiles without runners: $out"
mkdir -p "$E2E_DIR/pits-a" "$E2E_DIR/pits-b"
cp "$SRC/pits/shell.json" "$SRC/pits/c.json" "$E2E_DIR/pits-a/"
cp "$SRC/pits/shell.json" "$SRC/pits/python3.json" "$E2E_DIR/pits-b/"
e2e_start_runner a 330 RUNNER_PROFILES_DIR="$E2E_DIR/pits-a"
e2e_start_runner b 340 RUNNER_PROFILES_DIR="$E2E_DIR/pits-b"
want='c:1 python3:1 shell:2'
got=""
for _ in $(seq 1 150); do # runners register within ~1 s; 30 s of slack for a loaded machine
  req "$sub" GET /api/v1/profiles; expect 200 "profiles"
  got=$(echo "$out" | python3 -c 'import json,sys; print(" ".join("%s:%d" % (p["name"], p["runners"]) for p in json.load(sys.stdin)["profiles"]))')
  [ "$got" = "$want" ] && break
  sleep 0.2
done
[ "$got" = "$want" ] || fail "profiles '$got', want '$want'"
[ -n "$(field profiles.0.last_seen)" ] && [ "$(field profiles.2.capacity)" = 2 ] || fail "profile rows: $out"
dispatchctl profiles | grep -q '^python3 ' || fail "dispatchctl profiles"
ok "GET /api/v1/profiles: $got (two runners, different sets)"

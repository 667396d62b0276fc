#!/usr/bin/env bash
# A runner SIGKILLed mid-job: another runner completes the job with attempt 2,
# recorded exactly once. A runner SIGTERMed mid-job: the job finishes, the
# runner deregisters and exits 0, nothing is lost.
. "$(dirname "$0")/e2e_lib.sh"
e2e_start_dispatchd DISPATCH_HEARTBEAT_MS=200 DISPATCH_ALIVE_TTL_MS=1000 DISPATCH_SWEEP_MS=100
# Every job here blocks until the test releases it (E2E_BLOCKING_JOB), so it is
# still running when its runner is killed or stopped, however loaded the machine.

# wait_log FILE EVENT SECONDS: waits until the runner logged "EVENT".
wait_log() {
  for _ in $(seq 1 $(($3 * 10))); do
    grep -q "\"$2\"" "$1" && return 0
    sleep 0.1
  done
  fail "no \"$2\" in $1 after $3 s"
}

# --- SIGKILL ---
e2e_start_runner k1 310
victim=$E2E_RUNNER
j=$(dispatchctl submit --profile shell --archive "$(e2e_zip killed test.sh="$E2E_BLOCKING_JOB")")
e2e_wait_started k1 30
k1box=$E2E_BOX
out=$(dispatchctl status "$j" --json)
[ "$(echo "$out" | json state)" = leased ] || fail "blocked job not leased: $out"
first=$(echo "$out" | json runner_id)
kill -KILL "$victim"
e2e_start_runner k2 320
# reclaimed once k1 misses DISPATCH_ALIVE_TTL_MS (1 s); 60 s is slack for a
# loaded machine (the sanitized runner starts in well under 5 s there)
e2e_wait_started k2 60
e2e_release "$E2E_BOX"
out=$(dispatchctl wait "$j" --timeout 60 --json) || fail "job not finished after the kill: $out"
[ "$(echo "$out" | json verdict)" = AC ] || fail "verdict after reclaim: $out"
[ "$(echo "$out" | json attempts)" = 2 ] || fail "attempts after reclaim: $out"
[ "$(echo "$out" | json runner_id)" != "$first" ] || fail "completed by the killed runner?"
[ "$(sql "select count(*) from jobs where id='$j' and state='completed' and result_attempt=2")" = 1 ] \
  || fail "PostgreSQL does not hold exactly one result for attempt 2"
[ "$(sql "select count(*) from job_history where job_id='$j' and state='completed'")" = 1 ] \
  || fail "completed more than once"
# the killed runner's sandbox died with it (the kernel tears it down at once;
# 10 s of slack for load): the blocked job is not left running forever
e2e_wait_box_gone "$k1box" 10
ok "SIGKILL: reclaimed and completed once, attempt 2; the killed runner's job is gone"

# --- SIGTERM: the job is released only once the runner is stopping, and it
# finishes within the grace (default 30 s) ---
j=$(dispatchctl submit --profile shell --archive "$(e2e_zip drained test.sh="$E2E_BLOCKING_JOB")")
e2e_wait_started k2 30
kill -TERM "$E2E_RUNNER"
wait_log "$E2E_DIR/runner-k2.log" runner_stopping 20
e2e_release "$E2E_BOX"
set +e
for _ in $(seq 1 200); do kill -0 "$E2E_RUNNER" 2>/dev/null || break; sleep 0.1; done
wait "$E2E_RUNNER"
rc=$?
set -e
[ "$rc" = 0 ] || fail "runner exited $rc after SIGTERM"
out=$(dispatchctl status "$j" --json)
[ "$(echo "$out" | json state)" = completed ] || fail "job not finished by the stopping runner: $out"
[ "$(echo "$out" | json verdict)" = AC ] || fail "verdict of the drained job: $out"
[ "$(echo "$out" | json attempts)" = 1 ] || fail "attempts after SIGTERM: $out"
grep -q '"deregistered"' "$E2E_DIR/runner-k2.log" || fail "runner did not deregister"
ok "SIGTERM: job finished, runner deregistered, exit 0"

# --- SIGTERM with a grace too short: the job is released and runs elsewhere ---
e2e_start_runner k3 330 RUNNER_GRACE_MS=300
j=$(dispatchctl submit --profile shell --archive "$(e2e_zip released test.sh="$E2E_BLOCKING_JOB")")
e2e_wait_started k3 30
k3box=$E2E_BOX
first=$(dispatchctl status "$j" --json | json runner_id)
kill -TERM "$E2E_RUNNER"
wait_log "$E2E_DIR/runner-k3.log" runner_grace_expired 20
e2e_start_runner k4 340
e2e_wait_started k4 60
e2e_release "$E2E_BOX"
out=$(dispatchctl wait "$j" --timeout 60 --json) || fail "released job not finished: $out"
[ "$(echo "$out" | json verdict)" = AC ] || fail "released job: $out"
[ "$(echo "$out" | json runner_id)" != "$first" ] || fail "released job completed by the stopped runner: $out"
e2e_wait_box_gone "$k3box" 10 # the stopped runner's sandbox went with it
ok "SIGTERM past the grace: released and completed elsewhere ($(echo "$out" | json attempts) attempts); its first run is gone"

# --- Redis loses our keys (flushed or replaced): the runner is told it is
# unknown at its next heartbeat, registers again, and work goes on ---
before=$(grep -c '"registered"' "$E2E_DIR/runner-k4.log")
redis-cli -u "$DISPATCH_REDIS_URL" --scan --pattern "{$E2E_DB}:*" |
  xargs -r redis-cli -u "$DISPATCH_REDIS_URL" del >/dev/null
j=$(dispatchctl submit --profile shell --archive "$(e2e_zip again test.sh='exit 0\n')")
dispatchctl wait "$j" --timeout 60 >/dev/null || fail "no job ran after Redis lost its keys"
[ "$(grep -c '"registered"' "$E2E_DIR/runner-k4.log")" -gt "$before" ] ||
  fail "the runner did not register again"
[ "$(stat -c %a "$E2E_DIR/admin.sock")" = 600 ] || fail "admin socket is not 0600"
ok "Redis lost its keys: runner registered again, job AC; admin socket 0600"

#!/usr/bin/env bash
# Issue 10: an executor hands its result to the runner's job feeder, which
# sends it in its next complete_lease and keeps it until the dispatcher
# answers. (1) A result finished while the dispatcher is down is held and
# delivered once it is back: recorded once, attempt 1, no second run.
# (2) A runner SIGKILLed while it holds a finished result it could not send
# loses nothing: its job is reclaimed, runs again elsewhere, and is recorded
# exactly once, with attempt 2.
. "$(dirname "$0")/e2e_lib.sh"
# A 10 s alive TTL: longer than the dispatcher is down in (1) on a loaded
# machine (about 2 s), so the waiting runner is not reaped meanwhile.
e2e_start_dispatchd DISPATCH_HEARTBEAT_MS=200 DISPATCH_ALIVE_TTL_MS=10000 DISPATCH_SWEEP_MS=100

# wait_finished RUNNER: the runner logged a finished job (it logs it before
# handing the result over); 20 s of slack for a sanitized runner under load.
wait_finished() {
  for _ in $(seq 1 200); do
    grep -q '"job_finished"' "$E2E_DIR/runner-$1.log" && return 0
    sleep 0.1
  done
  fail "the released job did not finish on $1"
}

# --- (1) held while the dispatcher is down, delivered when it is back ---
e2e_start_runner d1 400
j=$(dispatchctl submit --profile shell --archive "$(e2e_zip down test.sh="$E2E_BLOCKING_JOB")")
e2e_wait_started d1 30
kill -KILL "$E2E_DISPATCHD"
wait "$E2E_DISPATCHD" 2>/dev/null || true
e2e_release "$E2E_BOX"
wait_finished d1
e2e_restart_dispatchd
out=$(dispatchctl wait "$j" --timeout 60 --json) || fail "held result not delivered: $out"
[ "$(echo "$out" | json verdict)" = AC ] || fail "verdict of the held result: $out"
[ "$(echo "$out" | json attempts)" = 1 ] || fail "the held result's job ran again: $out"
[ "$(sql "select count(*) from job_history where job_id='$j' and state='completed'")" = 1 ] ||
  fail "completed more than once"
ok "a result finished while the dispatcher was down: held, delivered once it was back, attempt 1"
kill -TERM "$E2E_RUNNER"
wait "$E2E_RUNNER" 2>/dev/null || true

# --- (2) SIGKILLed while holding it ---
e2e_start_runner h1 410
victim=$E2E_RUNNER
j=$(dispatchctl submit --profile shell --archive "$(e2e_zip held test.sh="$E2E_BLOCKING_JOB")")
e2e_wait_started h1 30
first=$(dispatchctl status "$j" --json | json runner_id)
[ -n "$first" ] || fail "no runner holds the blocked job"

# The dispatcher goes away; then the job finishes: its result has nowhere to go.
kill -KILL "$E2E_DISPATCHD"
wait "$E2E_DISPATCHD" 2>/dev/null || true
e2e_release "$E2E_BOX"
wait_finished h1
sleep 0.5 # the feeder has tried (and failed) to send it: it holds the result
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true

e2e_restart_dispatchd
[ "$(sql "select state from jobs where id='$j'")" != completed ] ||
  fail "the held result reached PostgreSQL although the dispatcher was down: $(sql "select state, result_attempt from jobs where id='$j'")"
e2e_start_runner h2 420
# reclaimed once h1 misses DISPATCH_ALIVE_TTL_MS (10 s) on the restarted
# dispatcher; 60 s is slack for a loaded machine
e2e_wait_started h2 60
e2e_release "$E2E_BOX"
out=$(dispatchctl wait "$j" --timeout 60 --json) || fail "job not finished after the kill: $out"
[ "$(echo "$out" | json verdict)" = AC ] || fail "verdict after the reclaim: $out"
[ "$(echo "$out" | json attempts)" = 2 ] || fail "attempts after the reclaim: $out"
[ "$(echo "$out" | json runner_id)" != "$first" ] || fail "recorded for the killed runner: $out"
[ "$(sql "select count(*) from job_history where job_id='$j' and state='completed'")" = 1 ] ||
  fail "completed more than once"
[ "$(sql "select result_attempt from jobs where id='$j'")" = 2 ] || fail "result of attempt 1 recorded"
ok "SIGKILL with a result held unsent: reclaimed, run again, recorded once with attempt 2"

#!/usr/bin/env bash
# dispatchd and a runner from the image (Dockerfile, built by podman on a
# debootstrapped debian:12), host networking, against the test's Redis and
# PostgreSQL on loopback: real jobs judged AC, WA, TLE and MLE in the runner
# container with the sandbox's default protections and cgroups required; the
# health checks of both pass inside the image; and the runner container's
# capabilities are the fewest that work: with exactly CT_CAPS it judges,
# without any one of them it does not.
# What was measured is written in docs/deploy.md and the deploy files.
. "$(dirname "$0")/ct_lib.sh"
# The measured set (docs/deploy.md, deploy/docker-compose.yml, deploy/k8s/).
CT_CAPS=(SYS_ADMIN DAC_OVERRIDE CHOWN SETUID SETGID)
[ -n "${CT_CAPS_TRY:-}" ] && read -r -a CT_CAPS <<<"$CT_CAPS_TRY" # to measure another set
caps_args() { local a=(--cap-drop ALL) c; for c in "$@"; do a+=(--cap-add "$c"); done; echo "${a[@]}"; }

ct_build
ct_dispatchd
ct_healthy "$CT-dispatchd" 60
ok "dispatchd runs from the image; its health check passes (admin socket, /healthz)"
curl -fsS "$CT_HTTP/healthz" >/dev/null || fail "/healthz from the host"

# shellcheck disable=SC2046
ct_runner judge $(caps_args "${CT_CAPS[@]}")
ct_registered judge 90 || fail "the runner with --cap-drop ALL --cap-add ${CT_CAPS[*]} did not register"
ct_healthy "$CT-runner-judge" 30
ok "runner registered with capabilities ${CT_CAPS[*]} only; its health check passes"

sum='#include <stdio.h>\nint main(void){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 3;printf("%ld\\n",a+b);return 0;}\n'
echo '[{"name":"t1","stdin":"2 3\n","expected_stdout":"5\n"}]' >"$E2E_DIR/tests.json"
declare -A want
submit() { dispatchctl submit --profile c --archive "$1" --tests "$E2E_DIR/tests.json" "${@:2}"; }
j=$(submit "$(e2e_zip ac main.c="$sum")"); want[$j]=AC
j=$(submit "$(e2e_zip wa main.c='#include <stdio.h>\nint main(void){puts("6");return 0;}\n')"); want[$j]=WA
j=$(submit "$(e2e_zip tle main.c='int main(void){for(;;);}\n')" --time-ms 300); want[$j]=TLE
j=$(submit "$(e2e_zip mle main.c='#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char*p=malloc(1<<20);if(!p)return 1;memset(p,1,1<<20);}}\n')" --memory-kb 65536); want[$j]=MLE
for j in "${!want[@]}"; do
  # gcc in the container on a loaded 2-core machine: 180 s of slack
  dispatchctl wait "$j" --timeout 180 >/dev/null || true
  got=$(dispatchctl status "$j" --json | json verdict)
  [ "$got" = "${want[$j]}" ] || fail "job $j: verdict '$got', want ${want[$j]}: $(dispatchctl status "$j")"
done
ok "AC, WA, TLE and MLE judged in the runner container (sandbox: default,cgroup required)"
# the runner used cgroups (required: it would have refused to start without)
podman logs "$CT-runner-judge" 2>&1 | grep -q sandbox_cgroup_unavailable && fail "the runner ran without cgroups"
# the job log reached the host through dispatchd's logs volume
ls "$E2E_DIR/logs"/*.log >/dev/null 2>&1 || fail "no job log in dispatchd's logs volume"
ct_stop "$CT-runner-judge"

# Fewest capabilities: without any one of CT_CAPS the runner does not judge
# (it refuses at start: the sandbox's self-test fails, or it never registers;
# or its job is not judged AC). 90 s per attempt: slack for a loaded machine.
ct_not_judging() { # NAME: 0 when runner NAME cannot judge a shell AC job
  local name=$1 j
  ct_registered "$name" 60 || return 0
  j=$(dispatchctl submit --profile shell --archive "$(e2e_zip "ok-$name" test.sh='exit 0\n')")
  dispatchctl wait "$j" --timeout 90 >/dev/null 2>&1 && return 1
  dispatchctl cancel "$j" >/dev/null 2>&1 || true
  return 0
}
for c in "${CT_CAPS[@]}"; do
  rest=()
  for k in "${CT_CAPS[@]}"; do [ "$k" = "$c" ] || rest+=("$k"); done
  n=$(echo "no-$c" | tr 'A-Z_' 'a-z-')
  # shellcheck disable=SC2046
  ct_runner "$n" $(caps_args "${rest[@]}")
  ct_not_judging "$n" || fail "the runner judges without CAP_$c: the set ${CT_CAPS[*]} is not the fewest"
  why=$(podman logs "$CT-runner-$n" 2>&1 | grep -o '"error":"[^"]*"\|dispatch-runner: .*' | head -n 1 | cut -c1-160)
  ok "without CAP_$c: refused (${why:-no AC})"
  ct_stop "$CT-runner-$n"
done
# with the host's cgroup namespace (the engines' default on cgroup v1) the
# entry script makes one of its own: the runner still starts with cgroups
# required (60 s of slack for a loaded machine)
podman run -d --name "$CT-runner-hostns" --network host "${PODMAN_ULIMITS[@]}" --user root \
  --cgroupns=host --security-opt apparmor=unconfined --security-opt unmask=/proc/* $(caps_args "${CT_CAPS[@]}") \
  -e DISPATCH_URL="$CT_RUNNER_URL" -e DISPATCH_REGISTRATION_TOKEN="$CT_TOKEN" -e RUNNER_NAME=hostns \
  -e DISPATCH_SANDBOX_REQUIRE=default,cgroup -e RUNNER_SLOT_BASE=$((CT_SLOT_BASE + 2)) \
  "$CT_IMAGE" dispatch-runner-entry >/dev/null
CT_NAMES+=("$CT-runner-hostns")
ct_registered hostns 60 || fail "the runner in the host's cgroup namespace did not start with cgroups required"
ok "with the host's cgroup namespace: started with cgroups (its own namespace made by the entry script)"

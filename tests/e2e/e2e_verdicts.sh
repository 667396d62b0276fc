#!/usr/bin/env bash
# Every verdict end to end through dispatchctl, and bad inputs judged with a
# message naming the problem while the runner keeps serving.
. "$(dirname "$0")/e2e_lib.sh"
e2e_start_dispatchd
e2e_start_runner a 300 RUNNER_CONCURRENCY=2

sum='#include <stdio.h>\nint main(void){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 3;printf("%ld\\n",a+b);return 0;}\n'
io='[{"name":"t1","stdin":"2 3\n","expected_stdout":"5\n"}]'
echo "$io" >"$E2E_DIR/tests.json"

submit() { # submit PROFILE ZIP [extra args] -> job id
  local p=$1 z=$2
  shift 2
  dispatchctl submit --profile "$p" --archive "$z" "$@"
}

declare -A want msg
j=$(submit c "$(e2e_zip ac main.c="$sum")" --tests "$E2E_DIR/tests.json"); want[$j]=AC
j=$(submit c "$(e2e_zip wa main.c='#include <stdio.h>\nint main(void){puts("6");return 0;}\n')" --tests "$E2E_DIR/tests.json"); want[$j]=WA
j=$(submit c "$(e2e_zip tle main.c='int main(void){for(;;);}\n')" --tests "$E2E_DIR/tests.json" --time-ms 300); want[$j]=TLE
j=$(submit c "$(e2e_zip mle main.c='#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char*p=malloc(1<<20);if(!p)return 1;memset(p,1,1<<20);}}\n')" --tests "$E2E_DIR/tests.json" --memory-kb 65536); want[$j]=MLE
j=$(submit c "$(e2e_zip re main.c='int main(void){volatile int*p=0;*p=1;return 0;}\n')" --tests "$E2E_DIR/tests.json"); want[$j]=RE
j=$(submit c "$(e2e_zip ole main.c='#include <stdio.h>\nint main(void){for(;;)puts("flood flood flood flood flood flood");}\n')" --tests "$E2E_DIR/tests.json"); want[$j]=OLE
j=$(submit c "$(e2e_zip ce main.c='int main(void){return x}\n')" --tests "$E2E_DIR/tests.json"); want[$j]=CE; msg[$j]=gcc
j=$(submit python3 "$(e2e_zip py main.py='a,b=map(int,input().split());print(a+b)\n')" --tests "$E2E_DIR/tests.json"); want[$j]=AC
j=$(submit shell "$(e2e_zip sh test.sh='exit 0\n')"); want[$j]=AC
j=$(submit shell "$(e2e_zip shfail test.sh='echo nope; exit 1\n')"); want[$j]=WA
# bad inputs: deterministic, judged at once with a message naming the problem
printf 'not a zip' >"$E2E_DIR/garbage.zip"
j=$(submit c "$E2E_DIR/garbage.zip"); want[$j]=CE; msg[$j]=zip
j=$(submit c "$(e2e_zip nomain other.c='int x;\n')" --tests "$E2E_DIR/tests.json"); want[$j]=CE; msg[$j]=main.c
# a profile no runner offers is refused at submit (routing: never leased, so
# never a CE for a runner that lacks it), once a runner has offered its own
for _ in $(seq 1 300); do dispatchctl runners --json | grep -q '"r-' && break; sleep 0.1; done
rc=0
out=$(submit no-such-profile "$(e2e_zip unk main.c="$sum")" 2>&1) || rc=$?
[ "$rc" = 65 ] || fail "unknown profile: exit $rc, want 65 ($out)"
echo "$out" | grep -q "no-such-profile" || fail "unknown profile: the error does not name it: $out"
z=$(e2e_zip sha main.c="$sum")
spec="{\"profile\":\"c\",\"archive\":\"file://$z\",\"archive_sha256\":\"$(printf '0%.0s' $(seq 64))\"}"
j=$(echo "$spec" | dispatchctl submit --spec -); want[$j]=CE; msg[$j]=SHA
(cd "$E2E_DIR" && ln -s /etc/passwd passwd-link && zip -qy slip.zip passwd-link)
j=$(submit shell "$E2E_DIR/slip.zip"); want[$j]=CE; msg[$j]=symlink
# ... and the runner keeps serving after all of that
j=$(submit shell "$(e2e_zip after test.sh='exit 0\n')"); want[$j]=AC

for j in "${!want[@]}"; do
  out=$(dispatchctl wait "$j" --timeout 90 --json) || true
  v=$(echo "$out" | json verdict)
  m=$(echo "$out" | json message)
  [ "$v" = "${want[$j]}" ] || fail "job $j: verdict '$v', want ${want[$j]} ($m)"
  if [ -n "${msg[$j]:-}" ]; then
    echo "$m" | grep -qi -- "${msg[$j]}" || fail "job $j: message '$m' does not name '${msg[$j]}'"
  fi
  ok "$j ${want[$j]} ${m:0:70}"
done
# wait's exit codes: 0 for AC, 1 for another verdict
ac=$(submit shell "$(e2e_zip ac2 test.sh='exit 0\n')")
dispatchctl wait "$ac" --timeout 60 >/dev/null || fail "wait on AC should exit 0"
wa=$(submit shell "$(e2e_zip wa2 test.sh='exit 2\n')")
set +e; dispatchctl wait "$wa" --timeout 60 >/dev/null; rc=$?; set -e
[ "$rc" = 1 ] || fail "wait on WA should exit 1, got $rc"
# a log was stored and its URL recorded
url=$(dispatchctl status "$ac" --json | json log_url)
[ -s "${url#file://}" ] || fail "log $url missing"
ok "all verdicts"

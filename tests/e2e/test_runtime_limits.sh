#!/usr/bin/env bash
# cgroup limits of cloudlet runtime containers (v1 or v2, detected): a memory hog is OOM-killed at its limit, a fork
# bomb stops at the pids limit, both in bounded time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/runtime_lib.sh"
rt_setup "${1:-}"

B="$E2E_TMP/bundle"
rt_bundle "$B" sh -c 'x=$(head -c 200000000 /dev/zero | tr "\0" a); echo survived ${#x}'
rt_config "$B" "c['linux'].setdefault('resources', {})['memory'] = {'limit': 33554432}"
code=0
out=$(timeout 60 "$RUNTIME" --root "$RT_ROOT" run --bundle "$B" "mem$E2E_ID" 2>&1) || code=$?
grep -q survived <<<"$out" && fail "the memory hog survived a 32 MiB limit"
assert_eq 137 "$code" "exit code of the OOM-killed hog (128+SIGKILL)"

rt_config "$B" "c['linux']['resources'].pop('memory'); c['linux']['resources']['pids'] = {'limit': 20}; c['process']['args'] = ['sh', '-c', 'for i in \$(seq 200); do sleep 30 & done; echo all-forked']"
out=$(timeout 60 "$RUNTIME" --root "$RT_ROOT" run --bundle "$B" "pids$E2E_ID" 2>&1) || true
grep -q all-forked <<<"$out" && fail "200 processes forked under a pids limit of 20"
grep -qi "can't fork\|resource temporarily unavailable" <<<"$out" || fail "fork bomb output: $out"
pass "runtime limits: memory hog killed, fork bomb bounded"

#!/usr/bin/env bash
# cloudlet's OCI runtime, runc's lifecycle: spec, create (status created, the process waits), start (running), exec
# into it, kill (stopped), delete; run returns the process's exit code; errors go to --log as runc's JSON lines.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/runtime_lib.sh"
rt_setup "${1:-}"

B="$E2E_TMP/bundle"
rt_bundle "$B" sleep 1000
id="life$E2E_ID"

rt create --bundle "$B" --pid-file "$E2E_TMP/pid" "$id" || fail "create failed"
assert_eq created "$(rt_status "$id")" "status after create"
pid=$(cat "$E2E_TMP/pid")
[[ "$(rt state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')" == "$pid" ]] ||
  fail "state pid differs from --pid-file"
# The init is blocked before exec: its command line is still the runtime's, not sleep.
if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "sleep 1000"; then fail "process ran before start"; fi
# The init joined its cgroup itself (v1: every hierarchy the group uses; v2: cloned into it) before it was ready.
if grep -q '^0::' "/proc/$pid/cgroup" && ! grep -q ' - cgroup ' /proc/self/mountinfo; then
  grep -qx "0::/cloudlet/$id" "/proc/$pid/cgroup" || fail "init not in its v2 group: $(cat "/proc/$pid/cgroup")"
else
  for ctrl in memory pids cpu cpuacct cpuset devices freezer; do
    grep -Eq "^[0-9]+:([^:]*,)?$ctrl(,[^:]*)?:/cloudlet/$id\$" "/proc/$pid/cgroup" ||
      fail "init not in its $ctrl group: $(cat "/proc/$pid/cgroup")"
  done
fi
rt create --bundle "$B" "$id" 2>/dev/null && fail "a second create with the same id succeeded"

rt start "$id" || fail "start failed"
assert_eq running "$(rt_status "$id")" "status after start"
wait_for "tr '\0' ' ' </proc/$pid/cmdline | grep -q 'sleep 1000'" 5 || fail "sleep is not running after start"
rt start "$id" 2>/dev/null && fail "a second start succeeded"

out=$(rt exec "$id" sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "')
grep -q exec-ok <<<"$out" || fail "exec output: $out"
grep -q "sleep 1000" <<<"$out" || fail "exec does not see the container's pid 1: $out"
code=0
rt exec "$id" sh -c 'exit 7' || code=$?
assert_eq 7 "$code" "exec exit code"
rt exec --env FOO=bar --cwd /tmp "$id" sh -c 'test "$FOO" = bar && test "$(pwd)" = /tmp' || fail "exec --env/--cwd"
# An exec'd process joins the container's cgroups as the init did (the spec has no cgroup namespace: full paths).
cg=$(rt exec "$id" cat /proc/self/cgroup)
if grep -q ' - cgroup ' /proc/self/mountinfo; then
  for ctrl in memory pids devices freezer; do
    grep -Eq "^[0-9]+:([^:]*,)?$ctrl(,[^:]*)?:/cloudlet/$id\$" <<<"$cg" || fail "exec'd process not in its $ctrl group: $cg"
  done
else
  grep -qx "0::/cloudlet/$id" <<<"$cg" || fail "exec'd process not in its v2 group: $cg"
fi

rt list | grep -q "^$id .*running" || fail "list: $(rt list)"
rt list --format json | python3 -c "import json,sys; l=json.load(sys.stdin); assert any(c['id']=='$id' and c['status']=='running' for c in l)" ||
  fail "list --format json"

rt delete "$id" 2>/dev/null && fail "delete of a running container succeeded without --force"
rt kill "$id" KILL || fail "kill failed"
wait_for "[[ \$(rt_status $id) == stopped ]]" 5 || fail "status after kill: $(rt_status "$id")"
rt kill "$id" KILL 2>/dev/null && fail "kill of a stopped container succeeded"
rt delete "$id" || fail "delete failed"
rt state "$id" 2>/dev/null && fail "state after delete succeeded"
# The emptied state directory is parked for reuse, never listed; the id is free again at once.
rt list -q | grep -q . && fail "list after delete: $(rt list -q)"
rt create --bundle "$B" "$id" || fail "create again after delete"
assert_eq created "$(rt_status "$id")" "status of the re-created container"
rt delete --force "$id" || fail "delete --force of a created container"
[[ -z "$(rt list -q)" ]] || fail "list after delete --force: $(rt list -q)"

# run: foreground, the process's exit code, the container removed afterwards.
rt_config "$B" "c['process']['args'] = ['sh', '-c', 'exit 3']"
code=0
rt run --bundle "$B" "run$E2E_ID" || code=$?
assert_eq 3 "$code" "run exit code"
rt state "run$E2E_ID" 2>/dev/null && fail "run left its container behind"

# Errors: stderr, exit 1, and a JSON line in --log as podman reads them.
code=0
rt --log "$E2E_TMP/log.json" --log-format json start "nosuch$E2E_ID" 2>/dev/null || code=$?
assert_eq 1 "$code" "exit code of a failing command"
python3 -c "import json,sys; l=json.loads(open(sys.argv[1]).readline()); assert l['level']=='error' and 'does not exist' in l['msg'] and l['time']" \
  "$E2E_TMP/log.json" || fail "log line: $(cat "$E2E_TMP/log.json")"

# `cloudlet runtime` is the same runtime.
"$CLOUDLET" runtime --root "$RT_ROOT" list >/dev/null || fail "cloudlet runtime list"
pass "runtime lifecycle: create/start/state/exec/kill/delete/run/list"

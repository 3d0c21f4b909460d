#!/usr/bin/env bash
# A cloudlet runtime container in its own user namespace: root inside is uid 100000 outside; files of the host's root
# show as nobody; the usual mounts and devices still work (devices bound from the host).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/runtime_lib.sh"
rt_setup "${1:-}"

# Root inside is uid 100000 outside: it must be able to reach the bundle (mktemp made the directory 0700).
chmod 755 "$E2E_TMP"
B="$E2E_TMP/bundle"
rt_bundle "$B" sh -c 'id; cat /proc/self/uid_map; stat -c %u /bin/busybox; echo x > /dev/null && echo devnull-ok; ls /proc | grep -c "^[0-9]"; sleep 2'
rt_config "$B" "c['linux']['namespaces'].append({'type': 'user'}); c['linux']['uidMappings'] = [{'containerID': 0, 'hostID': 100000, 'size': 65536}]; c['linux']['gidMappings'] = [{'containerID': 0, 'hostID': 100000, 'size': 65536}]"
id="userns$E2E_ID"
rt run --detach --bundle "$B" --pid-file "$E2E_TMP/pid" "$id" >"$E2E_TMP/out" 2>&1 || fail "run failed: $(cat "$E2E_TMP/out")"
pid=$(cat "$E2E_TMP/pid")
host_uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
assert_eq 100000 "$host_uid" "host uid of the container's root"
wait_for "[[ \$(rt_status $id) == stopped ]]" 10 || fail "container did not finish"
out=$(cat "$E2E_TMP/out")
grep -q "^uid=0(root)" <<<"$out" || fail "id inside: $out"
grep -Eq "^ +0 +100000 +65536" <<<"$out" || fail "uid_map: $out"
grep -qx 65534 <<<"$out" || fail "host root's files should show as 65534: $out"
grep -q devnull-ok <<<"$out" || fail "/dev/null unusable: $out"
rt delete "$id" || fail "delete failed"
pass "runtime user namespace: uid mapped, devices and mounts work"

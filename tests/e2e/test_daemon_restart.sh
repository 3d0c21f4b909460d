#!/usr/bin/env bash
# The daemon's state survives a crash. up; kill -9 the daemon; start a new one on the same state dir (and socket).
# Proves: without running `up` again, status shows the switches, ports and endpoints again and same-VLAN endpoints
# ping across the restored switches; the namespaces and veths were neither lost nor duplicated; a later `up` says
# nothing changed; `down` then removes everything.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3 ping

s1=$(e2e_name s1) s2=$(e2e_name s2) lk=$(e2e_name lk)
a1=$(e2e_name a1) a2=$(e2e_name a2) b1=$(e2e_name b1) b2=$(e2e_name b2)
net="10.92.$((E2E_ID % 250))"

cfg=$E2E_TMP/restart.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - id: 10
  - id: 20
switches:
  - name: $s1
  - name: $s2
links:
  - name: $lk
    between: [$s1, $s2]
    vlans: [10, 20]
endpoints:
  - name: $a1
    switch: $s1
    vlan: 10
    addresses: [$net.1/24]
  - name: $b1
    switch: $s1
    vlan: 20
    addresses: [$net.3/24]
  - name: $a2
    switch: $s2
    vlan: 10
    addresses: [$net.2/24]
  - name: $b2
    switch: $s2
    vlan: 20
    addresses: [$net.4/24]
EOF

cloudlet_own "$cfg" "endpoint:$a1:$a1" "endpoint:$a2:$a2" "endpoint:$b1:$b1" "endpoint:$b2:$b2" "link:$lk"
cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon1.log"
first_pid=$CLOUDLET_PID
cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }
wait_for "ns_ping '$a1' '$net.2'" 15 || fail "VLAN 10: $a1 cannot ping $a2 before the restart"
wait_for "ns_ping '$b1' '$net.4'" 15 || fail "VLAN 20: $b1 cannot ping $b2 before the restart"

summary() {  # switches with their port names, and endpoints with their host interfaces, from status JSON
  json_eval "sorted('%s:%s' % (x['name'], ','.join(sorted(p['name'] for p in x['ports']))) for x in s['switches']) +
    sorted('%s:%s:%s' % (e['name'], e['switch'], e['host_interface']) for e in s['endpoints'])"
}
status_json >"$E2E_TMP/status1.json" || fail "status before the restart failed"
before=$(summary <"$E2E_TMP/status1.json") || fail "status JSON lacks switches[].ports[].name or endpoints[].host_interface"
echo "before: $before"
re="$E2E_ID|$(json_eval "'|'.join(p['interface'] for x in s['switches'] for p in x['ports'])" <"$E2E_TMP/status1.json")"
snap_before=$(host_snapshot "$re")

# Crash: no chance to clean up or save anything.
cloudlet_daemon_stop KILL
kill -0 "$first_pid" 2>/dev/null && fail "daemon $first_pid survived kill -9"
[[ "$(host_snapshot "$re")" == "$snap_before" ]] || fail "the host changed when the daemon was killed"

cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon2.log"
cloudlet_down_at_exit "$cfg"
[[ "$CLOUDLET_PID" != "$first_pid" ]] || fail "no new daemon"

# Restore may finish just after the socket answers: wait (bounded) for the switches to be back.
wait_for "[[ \"\$(status_json | summary)\" == '$before' ]]" 15 ||
  fail "status after restart differs: before $before, after $(status_json | summary)"

wait_for "ns_ping '$a1' '$net.2'" 15 || fail "VLAN 10: $a1 cannot ping $a2 after the restart (no up re-run)"
wait_for "ns_ping '$b2' '$net.3'" 15 || fail "VLAN 20: $b2 cannot ping $b1 after the restart"
if ns_ping "$a1" "$net.4"; then fail "VLAN isolation lost after the restart: $a1 reached $b2"; fi

snap_after=$(host_snapshot "$re")
[[ "$snap_after" == "$snap_before" ]] || fail "restart changed the host's interfaces/namespaces/addresses:
$(diff <(echo "$snap_before") <(echo "$snap_after"))"

cl up "$cfg" >"$E2E_TMP/up2.out" 2>&1 || { cat "$E2E_TMP/up2.out" >&2; fail "up after the restart failed"; }
grep -qi "nothing changed" "$E2E_TMP/up2.out" || fail "up after the restart changed things: $(cat "$E2E_TMP/up2.out")"

cl down "$cfg" >"$E2E_TMP/down.out" 2>&1 || { cat "$E2E_TMP/down.out" >&2; fail "down after the restart failed"; }
status_json >"$E2E_TMP/status3.json" || fail "status after down failed"
assert_eq "[0, 0]" "$(json_eval "[len(s['switches']), len(s['endpoints'])]" <"$E2E_TMP/status3.json")" \
  "switches and endpoints after down"
for ifn in $(json_eval "' '.join(p['interface'] for x in s['switches'] for p in x['ports'])" <"$E2E_TMP/status1.json"); do
  if ip link show "$ifn" >/dev/null 2>&1; then fail "interface $ifn still exists after down"; fi
done
for ns in "$a1" "$a2" "$b1" "$b2"; do
  if ip netns list | awk '{print $1}' | grep -qxF "$ns"; then fail "namespace $ns still exists after down"; fi
done

pass "kill -9 + restart on the same state dir: switches and endpoints restored, pings work without up, nothing duplicated; down cleans up"

#!/usr/bin/env bash
# A switch with a `tap:` port (access VLAN 10) and an endpoint on VLAN 10. Proves: after `up` the TAP device exists
# and cloudlet holds its file descriptor; the TAP netdev can be moved into a namespace of the test's own (standing in
# for a VM) without cloudlet losing it, and that namespace and the endpoint ping each other through the switch; a
# VLAN 20 endpoint in the same subnet is not reachable from the TAP; `down` removes the TAP and everything else.
#
#   TAP t<pid>tp (in netns t<pid>vm, .9, VLAN 10) -- switch s -- endpoint e10 (.1, VLAN 10)
#                                                            \-- endpoint e20 (.2, VLAN 20)
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3 ping

sw=$(e2e_name s) tap=$(e2e_name tp) vm=$(e2e_name vm)
e10=$(e2e_name e10) e20=$(e2e_name e20)
net="10.95.$((E2E_ID % 250))"

cfg=$E2E_TMP/tap.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - {id: 10, name: tenant-a}
  - {id: 20, name: tenant-b}
switches:
  - name: $sw
    ports:
      - {name: vm, tap: $tap, mode: access, vlan: 10}
endpoints:
  - {name: $e10, switch: $sw, vlan: 10, addresses: [$net.1/24]}
  - {name: $e20, switch: $sw, vlan: 20, addresses: [$net.2/24]}
EOF

cloudlet_own "$cfg" "endpoint:$e10:$e10" "endpoint:$e20:$e20"
link_register "$tap"  # gone by itself once cloudlet closes its fd; this catches a TAP left persistent by mistake
cloudlet_daemon_start
cloudlet_down_at_exit "$cfg"
before=$(host_snapshot "$E2E_ID|$tap")

cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }

# The TAP exists on the host, is a tun device in tap mode, and the daemon holds it (tun fdinfo names the device).
ip -d link show "$tap" >"$E2E_TMP/tap.link" 2>&1 || fail "TAP $tap does not exist on the host after up"
grep -q "tun type tap" "$E2E_TMP/tap.link" || fail "$tap is not a TAP device: $(cat "$E2E_TMP/tap.link")"
tap_fds() { grep -l "^iff:[[:space:]]*$tap\$" /proc/"$CLOUDLET_PID"/fdinfo/* 2>/dev/null | wc -l; }
assert_eq 1 "$(tap_fds)" "file descriptors of the daemon (pid $CLOUDLET_PID) attached to $tap"
status_json >"$E2E_TMP/status.json" || fail "cloudlet status --format json failed"
tap_if=$(json_eval "port('$sw', 'vm')['interface']" <"$E2E_TMP/status.json") ||
  fail "status JSON has no port 'vm' on $sw: $(cat "$E2E_TMP/status.json")"
assert_eq "$tap" "$tap_if" "status: interface of port vm"

# Move the TAP netdev into a namespace of ours (the host keeps no address); cloudlet's fd survives the move.
netns_add "$vm"
ip link set "$tap" netns "$vm" || fail "could not move $tap into netns $vm"
ip -n "$vm" addr add "$net.9/24" dev "$tap"
ip -n "$vm" link set "$tap" up
ip link show "$tap" >/dev/null 2>&1 && fail "$tap still on the host after moving it to $vm"
assert_eq 1 "$(tap_fds)" "daemon fds attached to $tap after the netns move"

wait_for "ns_ping '$vm' '$net.1'" 15 || fail "TAP namespace $vm cannot ping endpoint $e10 ($net.1) on VLAN 10"
ns_ping "$e10" "$net.9" || fail "endpoint $e10 cannot ping the TAP namespace ($net.9)"
if ns_ping "$vm" "$net.2"; then fail "VLAN isolation: the TAP (VLAN 10) reached $e20 in VLAN 20"; fi
if ns_ping "$e20" "$net.9"; then fail "VLAN isolation: $e20 (VLAN 20) reached the TAP in VLAN 10"; fi

status_json >"$E2E_TMP/status2.json" || fail "cloudlet status --format json failed"
counters=$(json_eval "[port('$sw', 'vm')['counters']['rx_packets'], port('$sw', 'vm')['counters']['tx_packets']]" \
  <"$E2E_TMP/status2.json") || fail "status JSON lacks counters of port vm"
python3 -c 'import json,sys; sys.exit(0 if all(x > 0 for x in json.loads(sys.argv[1])) else 1)' "$counters" ||
  fail "TAP port counters [rx, tx] are zero after traffic: $counters"

# down: the TAP disappears (cloudlet closed its fd) from the namespace it was moved to, and from the host.
cl down "$cfg" >"$E2E_TMP/down.out" 2>&1 || { cat "$E2E_TMP/down.out" >&2; fail "cloudlet down failed"; }
wait_for "! ip -n '$vm' link show '$tap' >/dev/null 2>&1 && ! ip link show '$tap' >/dev/null 2>&1" 5 ||
  fail "TAP $tap still exists after down: $(ip -n "$vm" -br link show "$tap" 2>&1; ip -br link show "$tap" 2>&1)"
assert_eq 0 "$(tap_fds)" "daemon fds attached to $tap after down"
ip netns del "$vm"
after=$(host_snapshot "$E2E_ID|$tap")
if [[ "$before" != "$after" ]]; then
  diff <(echo "$before") <(echo "$after") >&2 || true
  fail "host differs from before up after down (see diff above)"
fi

pass "TAP port: exists after up, held by cloudlet, survives a netns move, pings VLAN 10 only, gone after down"

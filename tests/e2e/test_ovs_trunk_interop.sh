#!/usr/bin/env bash
# cloudlet interoperates with Open vSwitch over an 802.1Q trunk. A cloudlet switch has a declared trunk port on a
# veth the test made; the veth's other end is a trunk port (trunks=10,20) of an OVS userspace bridge. OVS has
# namespaces on access ports 10 and 20, cloudlet has endpoints on VLANs 10 and 20, all four in one subnet.
# Proves: within VLAN 10 and within VLAN 20 ping works both ways between OVS and cloudlet (and TCP on VLAN 10),
# across VLANs nothing gets through.
#
#   o10 (.1) --tag 10--+                                            +-- VLAN 10 -- c10 (.2)
#                      +- OVS br -- trunk 10,20 == veth == uplink --+ cloudlet sw
#   o20 (.3) --tag 20--+                                            +-- VLAN 20 -- c20 (.4)
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3 ping nc ss ethtool ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl

sw=$(e2e_name sw) c10=$(e2e_name c10) c20=$(e2e_name c20)
o10=$(e2e_name o10) o20=$(e2e_name o20)
ovs_end=$(e2e_name ov) cl_end=$(e2e_name cv)
net="10.93.$((E2E_ID % 250))"

ovs_start "$E2E_TMP/ovs"
br=$(e2e_name br)
ovs_add_bridge "$br"
ns_endpoint "$o10" "$(e2e_name h10)" "$net.1/24" --no-tx-offload
ns_endpoint "$o20" "$(e2e_name h20)" "$net.3/24" --no-tx-offload
ovs_vsctl add-port "$br" "$(e2e_name h10)" tag=10
ovs_vsctl add-port "$br" "$(e2e_name h20)" tag=20

# The trunk between the two switches: a veth pair made by the test, one end for each.
veth_pair "$ovs_end" "$cl_end"
ovs_vsctl add-port "$br" "$ovs_end" trunks=10,20
wait_for "[[ \$(ovs_vsctl list-ports '$br' | wc -l) -eq 3 ]]" 10 || fail "OVS did not take its 3 ports"

cfg=$E2E_TMP/interop.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - id: 10
  - id: 20
switches:
  - name: $sw
    ports:
      - name: uplink
        interface: $cl_end
        mode: trunk
        vlans: [10, 20]
endpoints:
  - name: $c10
    switch: $sw
    vlan: 10
    addresses: [$net.2/24]
  - name: $c20
    switch: $sw
    vlan: 20
    addresses: [$net.4/24]
EOF

cloudlet_own "$cfg" "endpoint:$c10:$c10" "endpoint:$c20:$c20"
cloudlet_daemon_start
cloudlet_down_at_exit "$cfg"
cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }
cat "$E2E_TMP/up.out"

# Traffic that crosses OVS's userspace datapath must carry full checksums (see README: OVS forwards partial ones).
for ns in "$c10" "$c20"; do
  ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null || fail "ethtool -K eth0 tx off failed in $ns"
done

wait_for "ns_ping '$o10' '$net.2'" 15 || fail "VLAN 10: OVS $o10 cannot ping cloudlet $c10"
wait_for "ns_ping '$c20' '$net.3'" 15 || fail "VLAN 20: cloudlet $c20 cannot ping OVS $o20"
ns_ping "$c10" "$net.1" || fail "VLAN 10: cloudlet $c10 cannot ping OVS $o10"
ns_ping "$o20" "$net.4" || fail "VLAN 20: OVS $o20 cannot ping cloudlet $c20"

for pair in "$o10 $net.4" "$o20 $net.2" "$c10 $net.3" "$c20 $net.1" "$c10 $net.4" "$o10 $net.3"; do
  read -r from to <<<"$pair"
  if ns_ping "$from" "$to"; then fail "VLAN isolation: $from reached $to in the other VLAN"; fi
done

ns_tcp_check "$c10" "$net.2" "$o10" $((2 << 20)) || fail "VLAN 10: TCP OVS $o10 -> cloudlet $c10 did not arrive intact"
ns_tcp_check "$o20" "$net.3" "$c20" $((2 << 20)) || fail "VLAN 20: TCP cloudlet $c20 -> OVS $o20 did not arrive intact"

# Both switches learned the far side's MACs through the trunk, in the right VLAN.
status_json >"$E2E_TMP/status.json" || fail "status failed"
o10_mac=$(ip netns exec "$o10" cat /sys/class/net/eth0/address)
got=$(json_eval "[(m['vlan'], m['port']) for m in sw('$sw')['macs'] if m['mac'].lower() == '$o10_mac']" <"$E2E_TMP/status.json")
assert_eq '[[10, "uplink"]]' "$got" "cloudlet's entry for OVS-side $o10's MAC"
c20_mac=$(ip netns exec "$c20" cat /sys/class/net/eth0/address)
ovs_appctl ovs-vswitchd fdb/show "$br" | grep -qi " 20 *$c20_mac" ||
  fail "OVS did not learn cloudlet-side $c20's MAC on VLAN 20: $(ovs_appctl ovs-vswitchd fdb/show "$br")"

pass "cloudlet <-> OVS trunk (10,20): ping both ways in each VLAN, TCP in each VLAN, no crossing between VLANs"

#!/usr/bin/env bash
# Baseline of the interop harness: proves that a private Open vSwitch userspace instance, namespaces on its access
# ports, and tshark capture on its trunk all work on this machine. Does not use cloudlet ($1 is ignored); the
# cloudlet interop tests build on exactly these pieces (tests/e2e/lib.sh).
#
#   nsA (10.98.x.1) --tag=10--+
#   nsB (10.98.x.2) --tag=10--+-- OVS bridge (netdev) --trunks=10,20-- capture veth (tshark)
#   nsC (10.98.x.3) --tag=20--+
#   nsD (10.98.x.4) --tag=20--+
#
# Checks: A<->B ping and TCP on VLAN 10; C cannot reach A or B (VLAN 20); C<->D ping; the trunk carries both
# VLANs as 802.1Q tags 10 and 20.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_root
require_cmd ip ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl tshark ethtool nc ss

tmp=$E2E_TMP
ovs_start "$tmp/ovs"

br=$(e2e_name br)
ovs_add_bridge "$br"

# A subnet per run keeps parallel runs on different hosts of the same machine apart in captures/logs only;
# the namespaces themselves are isolated anyway.
net="10.98.$((E2E_ID % 250)).0"
addr() { echo "${net%.0}.$1"; }

declare -A vlan_of=([a]=10 [b]=10 [c]=20 [d]=20)
declare -A host_of=([a]=1 [b]=2 [c]=3 [d]=4)
for n in a b c d; do
  ns=$(e2e_name "ns$n")
  ns_endpoint "$ns" "$(e2e_name "h$n")" "$(addr "${host_of[$n]}")/24" --no-tx-offload
  ovs_vsctl add-port "$br" "$(e2e_name "h$n")" tag="${vlan_of[$n]}"
done
ns_a=$(e2e_name nsa) ns_b=$(e2e_name nsb) ns_c=$(e2e_name nsc) ns_d=$(e2e_name nsd)

# Trunk: OVS port carrying 10 and 20 tagged, its peer stays on the host for tshark.
trunk=$(e2e_name tr)
cap=$(e2e_name cap)
veth_pair "$trunk" "$cap"
ovs_vsctl add-port "$br" "$trunk" trunks=10,20

# Wait until OVS has all ports before judging connectivity.
wait_for "[[ \$(ovs_vsctl list-ports '$br' | wc -l) -eq 5 ]]" 10 || fail "OVS did not take all 5 ports"

pcap="$tmp/trunk.pcapng"
tshark_capture "$cap" "$pcap"

# Positive checks retry (bounded) while OVS finishes attaching ports; negative ones run after them, once.
wait_for "ns_ping '$ns_a' '$(addr 2)'" 10 || fail "VLAN 10: $ns_a cannot ping $ns_b ($(addr 2))"
wait_for "ns_ping '$ns_c' '$(addr 4)'" 10 || fail "VLAN 20: $ns_c cannot ping $ns_d ($(addr 4))"
if ns_ping "$ns_c" "$(addr 1)"; then fail "VLAN isolation: $ns_c (VLAN 20) reached $ns_a (VLAN 10)"; fi
if ns_ping "$ns_a" "$(addr 3)"; then fail "VLAN isolation: $ns_a (VLAN 10) reached $ns_c (VLAN 20)"; fi
ns_tcp_check "$ns_b" "$(addr 2)" "$ns_a" || fail "VLAN 10: TCP transfer $ns_a -> $ns_b did not arrive intact"

tshark_stop "$TSHARK_PID"

# Every frame on the trunk is tagged: ARP/ICMP flooding and learning put both VLANs on it.
fields=$(tshark -n -r "$pcap" -T fields -e vlan.id -e eth.type 2>/dev/null)
vlans=$(awk -F'\t' '$1 != "" {print $1}' <<<"$fields" | sort -un | paste -sd, -)
untagged=$(awk -F'\t' '$1 == "" {n++} END {print n + 0}' <<<"$fields")
echo "trunk capture: $(wc -l <<<"$fields") frames, VLAN ids seen: ${vlans:-none}, untagged frames: $untagged"
assert_eq "10,20" "$vlans" "VLAN ids on the OVS trunk"
assert_eq "0" "$untagged" "untagged frames on the OVS trunk"
# Tagged frames carry TPID 0x8100 in eth.type (tshark shows the outer type).
tpids=$(awk -F'\t' '$1 != "" {print $2}' <<<"$fields" | sort -u | paste -sd, -)
assert_eq "0x8100" "$tpids" "TPID of tagged frames"

pass "OVS baseline: access VLANs 10/20 isolated, TCP on VLAN 10, trunk tags 10 and 20 seen by tshark"

#!/usr/bin/env bash
# Two cloudlet switches joined by a trunk link carrying VLANs 10 and 20, an endpoint of each VLAN on each switch,
# all four in ONE subnet, so only the VLAN keeps the tenants apart. Proves: same-VLAN endpoints reach each other
# across the trunk (ping, and a TCP transfer checked byte for byte with the kernel's default offloads on), different
# VLANs never do (both ways), the trunk carries 802.1Q tags 10 and 20 and no untagged IP/ARP frame, and status
# shows the learned MACs on the right VLANs and ports, with non-zero counters.
#
#   a1 (.1, VLAN 10)  b1 (.3, VLAN 20)        a2 (.2, VLAN 10)  b2 (.4, VLAN 20)
#            \        /                                \        /
#             switch s1 ====== link tr (10,20) ====== switch s2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip tshark python3 nc ss ping ethtool

s1=$(e2e_name s1) s2=$(e2e_name s2) lk=$(e2e_name tr)
a1=$(e2e_name a1) a2=$(e2e_name a2) b1=$(e2e_name b1) b2=$(e2e_name b2)
net="10.97.$((E2E_ID % 250))"

cfg=$E2E_TMP/vlans.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - id: 10
    name: tenant-a
  - id: 20
    name: tenant-b
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
cloudlet_daemon_start
cloudlet_down_at_exit "$cfg"

cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }
cat "$E2E_TMP/up.out"

status_json >"$E2E_TMP/status0.json" || fail "cloudlet status --format json failed"
trunk_if=$(json_eval "port('$s1', '$lk')['interface']" <"$E2E_TMP/status0.json") ||
  fail "status JSON has no port '$lk' on switch $s1: $(cat "$E2E_TMP/status0.json")"
[[ "$trunk_if" == cll* ]] || fail "link port interface '$trunk_if' does not start with cll"
ip link show "$trunk_if" >/dev/null 2>&1 || fail "link interface $trunk_if (from status) does not exist on the host"

pcap=$E2E_TMP/trunk.pcapng
tshark_capture "$trunk_if" "$pcap"

# Same VLAN, across the trunk: retried (bounded) while ports come up and MACs are learned.
wait_for "ns_ping '$a1' '$net.2'" 15 || fail "VLAN 10: $a1 cannot ping $a2 ($net.2) across the trunk"
wait_for "ns_ping '$b2' '$net.3'" 15 || fail "VLAN 20: $b2 cannot ping $b1 ($net.3) across the trunk"
ns_ping "$a2" "$net.1" || fail "VLAN 10: $a2 cannot ping $a1 ($net.1)"
ns_ping "$b1" "$net.4" || fail "VLAN 20: $b1 cannot ping $b2 ($net.4)"

# Different VLANs, same subnet: never, in either direction, on the same switch or across the trunk.
for pair in "$a1 $net.3" "$a1 $net.4" "$b1 $net.1" "$b2 $net.2" "$a2 $net.4" "$b2 $net.1"; do
  read -r from to <<<"$pair"
  if ns_ping "$from" "$to"; then fail "VLAN isolation: $from reached $to in the other VLAN"; fi
done

# TCP with the kernel's default offloads (GSO, checksum) on, both VLANs, a few MB each, byte for byte; captured too.
for ep in "$a1" "$b2"; do
  ip netns exec "$ep" ethtool -k eth0 | grep -qx 'tx-checksumming: on' || fail "tx checksum offload is not on in $ep"
done
ns_tcp_check "$a2" "$net.2" "$a1" $((4 << 20)) || fail "VLAN 10: 4 MiB TCP $a1 -> $a2 did not arrive intact"
ns_tcp_check "$b1" "$net.3" "$b2" $((4 << 20)) || fail "VLAN 20: 4 MiB TCP $b2 -> $b1 did not arrive intact"

tshark_stop "$TSHARK_PID"

# Every IP/ARP frame on the trunk is tagged, and with its own VLAN: .1/.2 are VLAN 10, .3/.4 are VLAN 20.
tshark -n -r "$pcap" -T fields -E separator=/t -e vlan.id -e vlan.etype -e eth.type -e ip.src -e arp.src.proto_ipv4 -e frame.len \
  >"$E2E_TMP/trunk.txt" 2>/dev/null || fail "tshark could not read $pcap"
python3 - "$E2E_TMP/trunk.txt" "$net" <<'PY' || fail "trunk capture check failed (see above)"
import sys
path, net = sys.argv[1], sys.argv[2]
want = {net + ".1": "10", net + ".2": "10", net + ".3": "20", net + ".4": "20"}
ids, untagged_ip, wrong, frames, untagged, biggest = set(), 0, [], 0, 0, 0
for line in open(path):
    f = (line.rstrip("\n").split("\t") + [""] * 6)[:6]
    vid, vetype, etype, ipsrc, arpsrc, flen = f
    frames += 1
    biggest = max(biggest, int(flen or 0))
    if not vid:
        untagged += 1
        if any(t in etype for t in ("0x0800", "0x0806", "0x86dd")):
            untagged_ip += 1
        continue
    ids.update(vid.split(","))
    src = ipsrc or arpsrc
    if src in want and vid != want[src]:
        wrong.append((src, vid))
print(f"trunk capture: {frames} frames, VLAN ids {sorted(ids)}, untagged {untagged} (IP/ARP {untagged_ip}), "
      f"largest frame {biggest} bytes ({'GSO super-frames crossed the trunk' if biggest > 1522 else 'no GSO frame seen'})")
ok = True
if ids != {"10", "20"}:
    print(f"expected VLAN ids 10 and 20 on the trunk, saw {sorted(ids)}"); ok = False
if untagged_ip:
    print(f"{untagged_ip} untagged IP/ARP frames on the trunk"); ok = False
if wrong:
    print(f"frames in the wrong VLAN (source, vlan): {wrong[:5]}"); ok = False
sys.exit(0 if ok else 1)
PY

# Status: each endpoint's MAC learned in its own VLAN, on its own port locally and on the link port remotely.
status_json >"$E2E_TMP/status.json" || fail "cloudlet status --format json failed"
mac_of() { ip netns exec "$1" cat /sys/class/net/eth0/address; }
for sw in "$s1" "$s2"; do
  json_eval "'\n'.join(sorted('%s %s %s' % (m['vlan'], m['mac'].lower(), m['port']) for m in sw('$sw')['macs']))" \
    <"$E2E_TMP/status.json" >"$E2E_TMP/macs.$sw" || fail "status JSON: no macs for switch $sw"
done
check_mac() {  # SWITCH VLAN ENDPOINT PORT
  local line
  line="$2 $(mac_of "$3") $4"
  grep -qxF "$line" "$E2E_TMP/macs.$1" || fail "switch $1 did not learn '$line' (vlan mac port); has: $(tr '\n' ';' <"$E2E_TMP/macs.$1")"
}
check_mac "$s1" 10 "$a1" "$a1"
check_mac "$s1" 20 "$b1" "$b1"
check_mac "$s1" 10 "$a2" "$lk"
check_mac "$s1" 20 "$b2" "$lk"
check_mac "$s2" 10 "$a2" "$a2"
check_mac "$s2" 20 "$b2" "$b2"
check_mac "$s2" 10 "$a1" "$lk"
check_mac "$s2" 20 "$b1" "$lk"
# No endpoint MAC appears in the other VLAN.
for ep in "$a1" "$a2"; do
  if grep -q "^20 $(mac_of "$ep") " "$E2E_TMP/macs.$s1" "$E2E_TMP/macs.$s2"; then fail "$ep's MAC learned in VLAN 20"; fi
done

counters=$(json_eval "[port('$s1', '$a1')['counters']['rx_packets'], port('$s1', '$a1')['counters']['tx_packets'],
  port('$s1', '$lk')['counters']['tx_packets'], port('$s2', '$lk')['counters']['rx_packets'],
  vlan('$s1', 10)['counters']['packets'], vlan('$s1', 20)['counters']['packets'],
  port('$s1', '$a1')['counters']['rx_bytes']]" <"$E2E_TMP/status.json") || fail "status JSON lacks counters"
echo "counters [a1 rx, a1 tx, s1 trunk tx, s2 trunk rx, s1 vlan10 pkts, s1 vlan20 pkts, a1 rx bytes]: $counters"
python3 -c 'import json,sys; c=json.loads(sys.argv[1]); sys.exit(0 if all(x > 0 for x in c) else 1)' "$counters" ||
  fail "some counters are zero after traffic: $counters"

# Endpoints listed with their switch and VLAN.
eps=$(json_eval "sorted('%s %s %s %s' % (e['name'], e['switch'], e['vlan'], e['netns']) for e in s['endpoints'] if e['name'] in ('$a1', '$b2'))" <"$E2E_TMP/status.json")
assert_eq "[\"$a1 $s1 10 $a1\", \"$b2 $s2 20 $b2\"]" "$eps" "status endpoints (name switch vlan netns)"

pass "two switches, trunk with VLANs 10/20 tagged, same-subnet tenants isolated, TCP 4 MiB intact, MACs and counters in status"

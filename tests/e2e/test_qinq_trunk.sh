#!/usr/bin/env bash
# Two cloudlet switches joined by an 802.1ad (QinQ, TPID 0x88a8) link carrying VLANs 10 and 20, an endpoint of each
# VLAN on each switch, all four in ONE subnet. Proves: same-VLAN endpoints reach each other across the S-tagged link,
# different VLANs never do, and every frame on the link carries an outer tag with TPID 0x88a8 (never 0x8100) and the
# right VLAN id, with no untagged IP/ARP frame. Then a dot1q-tunnel port: a customer frame already tagged 0x8100
# enters it, crosses the 802.1ad link with the service VLAN as outer 0x88a8 tag and the customer tag kept inside,
# and leaves the far tunnel port with only the customer tag.
#
#   a1 (.1, VLAN 10)  b1 (.3, VLAN 20)  c1 (behind dot1q-tunnel port ct1, service VLAN 10); a2, b2, c2 likewise on s2
#            \        |        /
#             switch s1 ====== link qq (802.1ad, 10,20) ====== switch s2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip tshark python3 ping

s1=$(e2e_name s1) s2=$(e2e_name s2) lk=$(e2e_name qq)
c1=$(e2e_name c1) c2=$(e2e_name c2) c1h=$(e2e_name c1h) c2h=$(e2e_name c2h)
a1=$(e2e_name a1) a2=$(e2e_name a2) b1=$(e2e_name b1) b2=$(e2e_name b2)
net="10.96.$((E2E_ID % 250))"

cfg=$E2E_TMP/qinq.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - {id: 10, name: svc-a}
  - {id: 20, name: svc-b}
switches:
  - name: $s1
    ports:
      - {name: ct1, interface: $c1h, mode: dot1q-tunnel, vlan: 10}
  - name: $s2
    ports:
      - {name: ct2, interface: $c2h, mode: dot1q-tunnel, vlan: 10}
links:
  - name: $lk
    between: [$s1, $s2]
    vlans: [10, 20]
    tpid: 802.1ad
endpoints:
  - {name: $a1, switch: $s1, vlan: 10, addresses: [$net.1/24]}
  - {name: $b1, switch: $s1, vlan: 20, addresses: [$net.3/24]}
  - {name: $a2, switch: $s2, vlan: 10, addresses: [$net.2/24]}
  - {name: $b2, switch: $s2, vlan: 20, addresses: [$net.4/24]}
EOF

# The customers behind the dot1q-tunnel ports: a namespace each, eth0 there, its peer (the port's interface) on the host.
for c in "$c1" "$c2"; do
  netns_add "$c"
  veth_pair "${c}h" "${c}i" "" "$c"
  ip -n "$c" link set "${c}i" down
  ip -n "$c" link set "${c}i" name eth0
  ip -n "$c" link set eth0 up
done

cloudlet_own "$cfg" "endpoint:$a1:$a1" "endpoint:$a2:$a2" "endpoint:$b1:$b1" "endpoint:$b2:$b2" "link:$lk"
cloudlet_daemon_start
cloudlet_down_at_exit "$cfg"

cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }

status_json >"$E2E_TMP/status0.json" || fail "cloudlet status --format json failed"
link_if=$(json_eval "port('$s1', '$lk')['interface']" <"$E2E_TMP/status0.json") ||
  fail "status JSON has no port '$lk' on switch $s1: $(cat "$E2E_TMP/status0.json")"
assert_eq "$(cloudlet_ifname link "$cfg" "$lk" a)" "$link_if" "s1's end of the link"
ip link show "$link_if" >/dev/null 2>&1 || fail "link interface $link_if does not exist on the host"

# cloudlet sends with PACKET_QDISC_BYPASS, so a capture on a veth end sees only the frames arriving there: capture
# both ends to see both directions (end a: what s2 sent, end b: what s1 sent).
link_if_b=$(json_eval "port('$s2', '$lk')['interface']" <"$E2E_TMP/status0.json") || fail "status JSON: no port '$lk' on $s2"
pcap_a=$E2E_TMP/qinq_a.pcapng pcap_b=$E2E_TMP/qinq_b.pcapng
tshark_capture "$link_if" "$pcap_a"
tshark_pid_a=$TSHARK_PID
tshark_capture "$link_if_b" "$pcap_b"
tshark_pid_b=$TSHARK_PID

wait_for "ns_ping '$a1' '$net.2'" 15 || fail "VLAN 10: $a1 cannot ping $a2 ($net.2) across the 802.1ad link"
wait_for "ns_ping '$b2' '$net.3'" 15 || fail "VLAN 20: $b2 cannot ping $b1 ($net.3) across the 802.1ad link"
ns_ping "$a2" "$net.1" || fail "VLAN 10: $a2 cannot ping $a1 ($net.1)"
ns_ping "$b1" "$net.4" || fail "VLAN 20: $b1 cannot ping $b2 ($net.4)"
for pair in "$a1 $net.4" "$b1 $net.2" "$a2 $net.3" "$b2 $net.1"; do
  read -r from to <<<"$pair"
  if ns_ping "$from" "$to"; then fail "VLAN isolation: $from reached $to in the other VLAN across the link"; fi
done

tshark_stop "$tshark_pid_a"
tshark_stop "$tshark_pid_b"

# eth.type lists the outer TPID first. tshark (3.x/4.0) dissects a 0x88a8 tag as "ieee8021ad" (ieee8021ad.id) and a
# 0x8100 tag as "vlan" (vlan.id), so an S-tagged frame must have ieee8021ad.id and, here, no vlan.id at all.
for pcap in "$pcap_a" "$pcap_b"; do
  tshark -n -r "$pcap" -T fields -E separator=/t -e eth.type -e ieee8021ad.id -e vlan.id -e ip.src -e arp.src.proto_ipv4 \
    2>/dev/null || fail "tshark could not read $pcap"
done >"$E2E_TMP/qinq.txt"
python3 - "$E2E_TMP/qinq.txt" "$net" <<'PY' || fail "802.1ad link capture check failed (see above)"
import sys
path, net = sys.argv[1], sys.argv[2]
want = {net + ".1": "10", net + ".2": "10", net + ".3": "20", net + ".4": "20"}
frames, ids, bad_tpid, untagged_ip, wrong, ip_frames, srcs = 0, set(), [], 0, [], 0, set()
for line in open(path):
    etype, svid, cvid, ipsrc, arpsrc = (line.rstrip("\n").split("\t") + [""] * 5)[:5]
    frames += 1
    outer = etype.split(",")[0]
    if not svid and not cvid:
        if any(t in etype for t in ("0x0800", "0x0806", "0x86dd")):
            untagged_ip += 1
        continue
    if outer != "0x88a8" or cvid:
        bad_tpid.append((etype, svid, cvid))
        continue
    outer_vid = svid.split(",")[0]
    ids.add(outer_vid)
    src = ipsrc or arpsrc
    if src in want:
        ip_frames += 1
        srcs.add(src)
        if outer_vid != want[src]:
            wrong.append((src, outer_vid))
print(f"802.1ad link capture: {frames} frames, {ip_frames} IP/ARP from the endpoints, outer VLAN ids {sorted(ids)}, "
      f"from {len(srcs)} endpoints, other tags {len(bad_tpid)}, untagged IP/ARP {untagged_ip}")
ok = True
if ids != {"10", "20"}:
    print(f"expected outer VLAN ids 10 and 20 (TPID 0x88a8), saw {sorted(ids)}"); ok = False
if bad_tpid:
    print(f"frames with a 0x8100 tag or an outer TPID other than 0x88a8 (eth.type, s-vid, c-vid): {bad_tpid[:5]}"); ok = False
if untagged_ip:
    print(f"{untagged_ip} untagged IP/ARP frames on the link"); ok = False
if wrong:
    print(f"frames in the wrong VLAN (source, outer vlan): {wrong[:5]}"); ok = False
if srcs != set(want):
    print(f"expected frames from all four endpoints on the link (both directions), saw {sorted(srcs)}"); ok = False
sys.exit(0 if ok else 1)
PY

# dot1q-tunnel: each customer sends one broadcast frame already tagged 0x8100 (customer VLAN 100 from c1, 200 from
# c2) with a raw socket. Expected: on the link, outer 0x88a8 service VLAN 10 with the customer tag inside; at the far
# customer, only the customer tag (the service tag popped).
tshark_capture "$link_if" "$pcap_a"
tshark_pid_a=$TSHARK_PID
tshark_capture "$link_if_b" "$pcap_b"
tshark_pid_b=$TSHARK_PID
tshark_capture eth0 "$E2E_TMP/c1.pcapng" "$c1"
tshark_pid_c1=$TSHARK_PID
tshark_capture eth0 "$E2E_TMP/c2.pcapng" "$c2"
tshark_pid_c2=$TSHARK_PID
send_tagged() {  # NS SRC_MAC CUSTOMER_VID
  ip netns exec "$1" timeout 10 python3 - "$2" "$3" <<'PY'
import socket, struct, sys
src, cvid = bytes.fromhex(sys.argv[1].replace(":", "")), int(sys.argv[2])
frame = b"\xff" * 6 + src + struct.pack("!HHH", 0x8100, cvid, 0x88B5) + b"cloudlet-e2e-qinq-customer".ljust(46, b"\0")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for _ in range(3):
    s.send(frame)
PY
}
mac1=02:e2:00:00:00:c1 mac2=02:e2:00:00:00:c2
send_tagged "$c1" "$mac1" 100 || fail "could not send the customer frame from $c1"
send_tagged "$c2" "$mac2" 200 || fail "could not send the customer frame from $c2"
for pid in "$tshark_pid_a" "$tshark_pid_b" "$tshark_pid_c1" "$tshark_pid_c2"; do tshark_stop "$pid"; done

# One line per distinct frame shape: "eth.type|ieee8021ad.id|vlan.id|vlan.etype" of the frames from MAC.
shapes() {  # PCAP MAC
  tshark -n -r "$1" -Y "eth.src == $2" -T fields -E separator='|' -e eth.type -e ieee8021ad.id -e vlan.id -e vlan.etype \
    2>/dev/null | sort -u | paste -sd ';'
}
# End b receives what s1 sends (c1's frame), end a what s2 sends (c2's frame).
assert_eq "0x88a8|10|100|0x88b5" "$(shapes "$pcap_b" "$mac1")" "c1's frame on the link (outer TPID|S-VID|C-VID|type)"
assert_eq "0x88a8|10|200|0x88b5" "$(shapes "$pcap_a" "$mac2")" "c2's frame on the link (outer TPID|S-VID|C-VID|type)"
assert_eq "0x8100||100|0x88b5" "$(shapes "$E2E_TMP/c2.pcapng" "$mac1")" "c1's frame at c2 (TPID|S-VID|C-VID|type)"
assert_eq "0x8100||200|0x88b5" "$(shapes "$E2E_TMP/c1.pcapng" "$mac2")" "c2's frame at c1 (TPID|S-VID|C-VID|type)"

pass "802.1ad link: VLANs 10/20 cross with outer TPID 0x88a8 and the right ids, same-subnet tenants isolated; dot1q-tunnel customer tags cross QinQ and come out intact"

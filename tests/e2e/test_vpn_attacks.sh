#!/usr/bin/env bash
# Hostile input to cloudlet (A) from the wireguard-go side (B):
# 1. Wrong key: B knows A under a wrong public key. Neither side's initiations complete (no response on the
#    underlay, no latest handshake, pings fail both ways); with B's peer corrected, the session comes up.
# 2. Replay: one transport packet carrying an ICMP echo request from B (unique 77-byte payload) is taken off the
#    underlay and its UDP payload sent to A again three times from B's address and port (raw IP socket). The
#    capture on A's tunnel interface sees that echo request exactly once.
# 3. Forgery: the same packet with its counter raised and with a flipped ciphertext byte is not delivered either,
#    and does not disturb the session (a ping afterwards works).
# Usage: test_vpn_attacks.sh PATH_TO_CLOUDLET | --go   (--go: wireguard-go on both sides, tests the harness)
set -euo pipefail
# shellcheck source=tests/e2e/vpn_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpn_lib.sh"
vpn_parse_args "$@"
vpn_require
vpn_topology
e2e_log "mode: A=$VPN_IMPL_A B=$VPN_IMPL_B"

# ---- 1. wrong key ------------------------------------------------------------------------------------------------
wrong_pub=$(wg genkey | wg pubkey)
cap=$E2E_TMP/wrongkey.pcap
vpn_capture a "$cap"
vpn_start a
vpn_start b
vpn_configure a
vpn_configure b --peer-pub "$wrong_pub"
if vpn_ping a 2; then fail "A reached B although B does not know A's key"; fi
if vpn_ping b 2; then fail "B reached A although B knows A under a wrong key"; fi
assert_eq 0 "$(vpn_latest_handshake a)" "A's latest handshake with a wrong key on B"
assert_eq 0 "$(vpn_latest_handshake b)" "B's latest handshake with a wrong key for A"
tshark_stop
init_a=$(vpn_count "$cap" "wg.type == 1 && ip.src == $VPN_UL_A")
init_b=$(vpn_count "$cap" "wg.type == 1 && ip.src == $VPN_UL_B")
resp=$(vpn_count "$cap" "wg.type == 2")
e2e_log "wrong key: initiations A->B $init_a, B->A $init_b, responses $resp"
((init_a >= 1 && init_b >= 1)) || fail "expected initiations both ways (A $init_a, B $init_b)"
assert_eq 0 "$resp" "handshake responses with a wrong key"
assert_eq 0 "$(vpn_count "$cap" "wg.type == 4 && !wg.keepalive")" "transport data with a wrong key"

vpn_wg b set "$VPN_IF_B" peer "$wrong_pub" remove peer "$VPN_PUB_A" allowed-ips "$VPN_TUN_A/32" \
  endpoint "$VPN_UL_A:$VPN_PORT_A" || fail "wg set on B (fixing the key) failed"
wait_for "vpn_ping b 1" 15 || fail "B cannot ping A after its peer key was corrected"
vpn_ping a 2 || fail "A cannot ping B after B's peer key was corrected"
vpn_wait_handshake a 5 || fail "A reports no handshake after the key was corrected"

# ---- 2. replay ----------------------------------------------------------------------------------------------------
# ICMP echo with a 77-byte payload: IP packet 105 bytes, padded 112, type-4 message 144, UDP length 152 — no other
# packet in this test has that size.
SIZE=77 UDP_LEN=152
ul_cap=$E2E_TMP/replay-ul.pcap tun_cap=$E2E_TMP/replay-tun.pcap
vpn_capture a "$tun_cap" "$VPN_IF_A"
tun_pid=$TSHARK_PID
vpn_capture a "$ul_cap"
ul_pid=$TSHARK_PID
timeout 10 ip netns exec "$VPN_NS_B" ping -n -q -c 1 -W 2 -s "$SIZE" "$VPN_TUN_A" >/dev/null ||
  fail "B's single $SIZE-byte ping to A got no reply"
sleep 0.5
fields=(udp.srcport wg.receiver wg.counter udp.payload)
orig_filter="wg.type == 4 && ip.src == $VPN_UL_B && udp.length == $UDP_LEN"
read -r sport receiver counter payload < <(vpn_tshark "$ul_cap" "$orig_filter" "${fields[@]}" | head -n 1) || true
[[ -n "${payload:-}" ]] || fail "no $UDP_LEN-byte transport packet from B on A's underlay: $(vpn_tshark "$ul_cap" wg)"
payload=${payload//:/}
e2e_log "captured echo request: from port $sport, receiver $receiver, counter $counter, ${#payload} hex digits"

# inject HEX_PAYLOAD: sends it as UDP from B's underlay address and WireGuard port to A's, through a raw IP socket
# in B's namespace (B's own UDP socket is held by the VPN process).
inject() {
  timeout 10 ip netns exec "$VPN_NS_B" python3 - "$VPN_UL_B" "$sport" "$VPN_UL_A" "$VPN_PORT_A" "$1" <<'PY'
import socket, struct, sys
src, sport, dst, dport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
payload = bytes.fromhex(sys.argv[5])
udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload  # checksum 0: none (IPv4)
# Total length, IP checksum and (id 0) the id are filled in by the kernel for IPPROTO_RAW sockets.
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip + udp, (dst, 0))
PY
}
for _ in 1 2 3; do inject "$payload" || fail "raw injection from B's namespace failed"; done

# ---- 3. forgeries of the same packet -------------------------------------------------------------------------------
# Counter (bytes 8..15, little-endian) raised by 1000: the tag no longer verifies.
forged_counter=$(python3 -c 'import struct, sys
p = bytearray.fromhex(sys.argv[1]); c = struct.unpack_from("<Q", p, 8)[0]
struct.pack_into("<Q", p, 8, c + 1000); print(p.hex())' "$payload")
# One ciphertext byte flipped.
forged_byte=$(python3 -c 'import sys
p = bytearray.fromhex(sys.argv[1]); p[40] ^= 0x01; print(p.hex())' "$payload")
inject "$forged_counter" || fail "raw injection failed"
inject "$forged_byte" || fail "raw injection failed"
sleep 1
tshark_stop "$ul_pid"
tshark_stop "$tun_pid"

copies=$(vpn_count "$ul_cap" "$orig_filter && wg.receiver == $receiver && wg.counter == $counter")
forged=$(vpn_count "$ul_cap" "$orig_filter && wg.receiver == $receiver && wg.counter == $((counter + 1000))")
echo_req=$(vpn_tshark "$tun_cap" "icmp.type == 8 && ip.src == $VPN_TUN_B && ip.len == $((SIZE + 28))" icmp.seq | wc -l)
echo_rep=$(vpn_tshark "$tun_cap" "icmp.type == 0 && ip.src == $VPN_TUN_A && ip.len == $((SIZE + 28))" icmp.seq | wc -l)
e2e_log "underlay: $copies copies of the packet (1 + 3 replays + 1 flipped byte), $forged with a forged counter;" \
  "A's tunnel: $echo_req echo requests, $echo_rep replies"
assert_eq 5 "$copies" "copies of the transport packet that reached A's underlay (positive control)"
assert_eq 1 "$forged" "forged-counter packets that reached A's underlay (positive control)"
assert_eq 1 "$echo_req" "echo requests A delivered to its tunnel interface (replays must be dropped)"
assert_eq 1 "$echo_rep" "echo replies A sent"
vpn_ping b 2 || fail "B cannot ping A after the replays and forgeries"
vpn_ping a 2 || fail "A cannot ping B after the replays and forgeries"
pass "vpn attacks (A=$VPN_IMPL_A, B=$VPN_IMPL_B)"

#!/usr/bin/env bash
# Rekeying under traffic: cloudlet (A) runs with `--rekey-after-time 3` and initiates; A pings B five times a second
# for ~9 s. Both sides' latest handshake (`wg show latest-handshakes`) advances, the underlay capture holds at
# least two initiation/response pairs, and the pings keep succeeding (a few lost around a key switch allowed).
# In --go mode (wireguard-go on both sides, to test the harness) wireguard-go cannot shorten REKEY_AFTER_TIME, so
# the test forces new handshakes by removing and re-adding B as A's peer every 3 s instead.
# Usage: test_vpn_rekey.sh PATH_TO_CLOUDLET | --go
set -euo pipefail
# shellcheck source=tests/e2e/vpn_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpn_lib.sh"
vpn_parse_args "$@"
vpn_require
vpn_topology
e2e_log "mode: A=$VPN_IMPL_A B=$VPN_IMPL_B"

PINGS=45    # 9 s at 5/s
MAX_LOST=5  # a rekey itself should lose nothing (old keys stay valid); this bounds the noise
VPN_A_ARGS=(--rekey-after-time 3)
cap=$E2E_TMP/rekey.pcap
vpn_capture b "$cap"
vpn_up_both --initiator a
wait_for "vpn_ping a 1" 15 || fail "A cannot ping B's tunnel address $VPN_TUN_B"
hs_a0=$(vpn_latest_handshake a) hs_b0=$(vpn_latest_handshake b)
((hs_a0 > 0 && hs_b0 > 0)) || fail "no first handshake (A: $hs_a0, B: $hs_b0)"

log=$E2E_TMP/ping.log
vpn_ping_log a "$PINGS" "$log"
ping_pid=$E2E_LAST_PID
if [[ $VPN_IMPL_A == go ]]; then
  for _ in 1 2; do
    sleep 3
    vpn_wg a set "$VPN_IF_A" peer "$VPN_PUB_B" remove
    vpn_wg a set "$VPN_IF_A" peer "$VPN_PUB_B" allowed-ips "$VPN_TUN_B/32" endpoint "$VPN_UL_B:$VPN_PORT_B"
  done
fi
wait_for "! kill -0 $ping_pid" $((PINGS / 5 + 10)) || fail "ping did not end in time"
read -r sent received <<<"$(vpn_ping_received "$log")"
e2e_log "pings during rekeying: $received of $sent answered"
((${sent:-0} == PINGS)) || fail "ping sent ${sent:-?} of $PINGS: $(tail -n 3 "$log")"
((sent - received <= MAX_LOST)) || fail "lost $((sent - received)) of $sent pings across rekeys (max $MAX_LOST)"

hs_a1=$(vpn_latest_handshake a) hs_b1=$(vpn_latest_handshake b)
e2e_log "latest handshake A: $hs_a0 -> $hs_a1, B: $hs_b0 -> $hs_b1"
((hs_a1 > hs_a0)) || fail "A's latest handshake did not advance ($hs_a0 -> $hs_a1)"
((hs_b1 > hs_b0)) || fail "B's latest handshake did not advance ($hs_b0 -> $hs_b1)"
vpn_ping b 2 || fail "B cannot ping A after the rekeys"

tshark_stop
init=$(vpn_count "$cap" "wg.type == 1 && ip.src == $VPN_UL_A")
resp=$(vpn_count "$cap" "wg.type == 2 && ip.src == $VPN_UL_B")
bad=$(vpn_count "$cap" "_ws.malformed || _ws.expert.severity == error")
e2e_log "capture: initiations from A $init, responses from B $resp, malformed $bad"
((init >= 2 && resp >= 2)) || fail "fewer than two handshakes in the capture (initiations $init, responses $resp)"
assert_eq 0 "$bad" "malformed / error packets in the capture"
# Rekeying switches to new receiver indices: transport data from B must use more than one.
idx=$(vpn_tshark "$cap" "wg.type == 4 && ip.src == $VPN_UL_B" wg.receiver | sort -u | wc -l)
((idx >= 2)) || fail "B sent transport data to only $idx receiver index(es) of A: no new session was used"
pass "vpn rekey (A=$VPN_IMPL_A, B=$VPN_IMPL_B)"

#!/usr/bin/env bash
# cloudlet's VPN (side A) against Debian's wireguard-go (side B) over a veth underlay (see vpn_lib.sh).
# Phase 1, cloudlet initiates (only A knows B's endpoint): pings both ways, iperf3 TCP, `wg show` on cloudlet's
# UAPI socket (peer, latest handshake, transfer), `wg showconf` -> `wg setconf` -> `wg showconf` round trip, and
# tshark on the underlay sees initiation (A->B), response (B->A) and transport data as WireGuard, nothing malformed.
# Phase 2, fresh start, wireguard-go initiates; cloudlet runs daemonized from a wg-quick style --config file:
# pings, `cloudlet vpn show` (text and JSON: the peer, never a private key), `cloudlet vpn down` removes it all;
# so do deleting the interface and killing the pid from --pid-file.
# Also: `cloudlet vpn genkey | cloudlet vpn pubkey` agrees with `wg pubkey`.
# Usage: test_vpn_interop.sh PATH_TO_CLOUDLET | --go   (--go: wireguard-go on both sides, tests the harness)
set -euo pipefail
# shellcheck source=tests/e2e/vpn_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpn_lib.sh"
vpn_parse_args "$@"
vpn_require
vpn_topology
e2e_log "mode: A=$VPN_IMPL_A B=$VPN_IMPL_B"

if [[ $VPN_IMPL_A == cloudlet ]]; then
  key=$("$CLOUDLET" vpn genkey) || fail "cloudlet vpn genkey failed"
  [[ $(base64 -d <<<"$key" | wc -c) == 32 ]] || fail "cloudlet vpn genkey: not 32 bytes of base64: '$key'"
  pub=$("$CLOUDLET" vpn pubkey <<<"$key") || fail "cloudlet vpn pubkey failed"
  assert_eq "$(wg pubkey <<<"$key")" "$pub" "cloudlet vpn pubkey vs wg pubkey"
fi

# ---- phase 1: A initiates ----------------------------------------------------------------------------------------
mark=${#E2E_CLEANUP[@]}
cap=$E2E_TMP/phase1.pcap
vpn_capture b "$cap"
vpn_up_both --initiator a
wait_for "vpn_ping a 1" 15 || fail "phase 1: A cannot ping B's tunnel address $VPN_TUN_B"
vpn_ping b 3 || fail "phase 1: B cannot ping A's tunnel address $VPN_TUN_A"
vpn_ping a 3 || fail "phase 1: A cannot ping B after B pinged A"
vpn_iperf a 3 "$E2E_TMP/iperf.txt" || fail "phase 1: iperf3 A->B failed: $(tail -n 5 "$E2E_TMP/iperf.txt")"
bytes=$(awk '/receiver/ { for (i = 1; i < NF; i++) if ($i ~ /Bytes$/) { print $(i - 1), $i; exit } }' \
  "$E2E_TMP/iperf.txt")
[[ -n "$bytes" && ${bytes%% *} != 0 && ${bytes%% *} != 0.00 ]] ||
  fail "iperf3 moved no data: $(cat "$E2E_TMP/iperf.txt")"
e2e_log "iperf3 A->B through the tunnel: $bytes"

# `wg show` against A's socket: one peer (B), a handshake, traffic both ways.
vpn_wg a show "$VPN_IF_A" >"$E2E_TMP/show.txt" || fail "wg show $VPN_IF_A failed"
peers=$(vpn_wg a show "$VPN_IF_A" peers)
assert_eq "$VPN_PUB_B" "$peers" "wg show peers on A"
(($(vpn_latest_handshake a) > 0)) || fail "wg show on A: no latest handshake: $(cat "$E2E_TMP/show.txt")"
read -r rx tx <<<"$(vpn_transfer a)"
((${rx:-0} > 0 && ${tx:-0} > 0)) || fail "wg show on A: transfer rx=$rx tx=$tx: $(cat "$E2E_TMP/show.txt")"
assert_eq "$VPN_UL_B:$VPN_PORT_B" "$(vpn_endpoint a)" "wg show endpoint of B on A"
allowed=$(vpn_wg a show "$VPN_IF_A" allowed-ips | awk '{ print $2 }')
assert_eq "$VPN_TUN_B/32" "$allowed" "wg show allowed-ips on A"
assert_eq "$VPN_PORT_A" "$(vpn_wg a show "$VPN_IF_A" listen-port)" "wg show listen-port on A"
assert_eq "$VPN_PUB_A" "$(vpn_wg a show "$VPN_IF_A" public-key)" "wg show public-key on A"

# showconf round trip: what A reports, applied back with setconf, reports the same.
vpn_wg a showconf "$VPN_IF_A" >"$E2E_TMP/conf1" || fail "wg showconf $VPN_IF_A failed"
grep -q "^PublicKey = $VPN_PUB_B\$" "$E2E_TMP/conf1" || fail "showconf lacks the peer: $(cat "$E2E_TMP/conf1")"
grep -q "^ListenPort = $VPN_PORT_A\$" "$E2E_TMP/conf1" || fail "showconf lacks ListenPort: $(cat "$E2E_TMP/conf1")"
vpn_wg a setconf "$VPN_IF_A" "$E2E_TMP/conf1" || fail "wg setconf with showconf's output failed"
vpn_wg a showconf "$VPN_IF_A" >"$E2E_TMP/conf2" || fail "wg showconf after setconf failed"
diff -u "$E2E_TMP/conf1" "$E2E_TMP/conf2" >&2 || fail "showconf changed after a setconf of its own output"
vpn_ping a 2 || fail "A cannot ping B after the setconf round trip"

tshark_stop
init=$(vpn_count "$cap" "wg.type == 1 && ip.src == $VPN_UL_A && ip.dst == $VPN_UL_B")
resp=$(vpn_count "$cap" "wg.type == 2 && ip.src == $VPN_UL_B && ip.dst == $VPN_UL_A")
data_ab=$(vpn_count "$cap" "wg.type == 4 && ip.src == $VPN_UL_A")
data_ba=$(vpn_count "$cap" "wg.type == 4 && ip.src == $VPN_UL_B")
from_b_init=$(vpn_count "$cap" "wg.type == 1 && ip.src == $VPN_UL_B")
bad=$(vpn_count "$cap" "_ws.malformed || _ws.expert.severity == error")
e2e_log "capture: initiations A->B $init, responses B->A $resp, data A->B $data_ab, B->A $data_ba, malformed $bad"
((init >= 1)) || fail "no handshake initiation from A in the capture"
((resp >= 1)) || fail "no handshake response from B in the capture"
((data_ab > 0 && data_ba > 0)) || fail "transport data missing in the capture (A->B $data_ab, B->A $data_ba)"
assert_eq 0 "$from_b_init" "initiations from B (it had no endpoint for A)"
assert_eq 0 "$bad" "malformed / error packets in the underlay capture"
other=$(vpn_count "$cap" "udp && !wg")
assert_eq 0 "$other" "UDP packets on the underlay that are not WireGuard"
e2e_unwind "$mark"
vpn_stop a
vpn_stop b

# ---- phase 2: fresh start, B initiates --------------------------------------------------------------------------
vpn_conf_file a "$E2E_TMP/a.conf" --no-endpoint
pidfile=$E2E_TMP/a.pid
if [[ $VPN_IMPL_A == cloudlet ]]; then
  e2e_defer "ip netns exec '$VPN_NS_A' '$CLOUDLET' vpn down '$VPN_IF_A'"
  e2e_defer "[[ -f '$pidfile' ]] && e2e_kill_pid \$(cat '$pidfile')"
  timeout 20 ip netns exec "$VPN_NS_A" "$CLOUDLET" vpn up "$VPN_IF_A" --config "$E2E_TMP/a.conf" \
    --pid-file "$pidfile" >"$E2E_TMP/up.log" 2>&1 || fail "cloudlet vpn up --config failed: $(cat "$E2E_TMP/up.log")"
  [[ -S /var/run/wireguard/$VPN_IF_A.sock ]] || fail "vpn up returned before the UAPI socket existed"
  ip -n "$VPN_NS_A" -br addr show dev "$VPN_IF_A" | grep -q "$VPN_TUN_A/24" ||
    fail "vpn up --config: $VPN_IF_A lacks Address $VPN_TUN_A/24: $(ip -n "$VPN_NS_A" addr show dev "$VPN_IF_A" 2>&1)"
  kill -0 "$(cat "$pidfile")" 2>/dev/null || fail "pid file $pidfile names no live process"
else
  # The harness's stand-in: wireguard-go plus `wg setconf` of the file without wg-quick's Address line.
  vpn_start a
  grep -v '^Address' "$E2E_TMP/a.conf" >"$E2E_TMP/a.wg.conf"
  vpn_wg a setconf "$VPN_IF_A" "$E2E_TMP/a.wg.conf" || fail "wg setconf on A failed"
  ip -n "$VPN_NS_A" addr add "$VPN_TUN_A/24" dev "$VPN_IF_A"
  ip -n "$VPN_NS_A" link set "$VPN_IF_A" up
fi
vpn_start b
vpn_configure b
wait_for "vpn_ping b 1" 15 || fail "phase 2: B cannot ping A's tunnel address $VPN_TUN_A"
vpn_ping a 3 || fail "phase 2: A cannot ping B"
vpn_wait_handshake a 5 || fail "phase 2: A reports no handshake"
assert_eq "$VPN_UL_B:$VPN_PORT_B" "$(vpn_endpoint a)" "phase 2: endpoint A learned from B's initiation"

if [[ $VPN_IMPL_A == cloudlet ]]; then
  cl_show() { timeout 10 ip netns exec "$VPN_NS_A" "$CLOUDLET" vpn show "$VPN_IF_A" "$@"; }
  cl_show >"$E2E_TMP/show.txt" 2>&1 || fail "cloudlet vpn show failed: $(cat "$E2E_TMP/show.txt")"
  cl_show --format json >"$E2E_TMP/show.json" 2>&1 || fail "vpn show --format json failed: $(cat "$E2E_TMP/show.json")"
  for f in show.txt show.json; do
    grep -qF "$VPN_PUB_B" "$E2E_TMP/$f" || fail "vpn show ($f) does not list peer $VPN_PUB_B: $(cat "$E2E_TMP/$f")"
    grep -qF "$VPN_UL_B:$VPN_PORT_B" "$E2E_TMP/$f" || fail "vpn show ($f) lacks the peer's endpoint"
    grep -qF "$VPN_TUN_B/32" "$E2E_TMP/$f" || fail "vpn show ($f) lacks the peer's allowed ips"
    if grep -qF "$(cat "$VPN_KEY_A")" "$E2E_TMP/$f"; then fail "vpn show ($f) prints the private key"; fi
  done
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$E2E_TMP/show.json" ||
    fail "vpn show --format json is not JSON: $(cat "$E2E_TMP/show.json")"
  pid=$(cat "$pidfile")
  timeout 20 ip netns exec "$VPN_NS_A" "$CLOUDLET" vpn down "$VPN_IF_A" >"$E2E_TMP/down.log" 2>&1 ||
    fail "cloudlet vpn down failed: $(cat "$E2E_TMP/down.log")"
  wait_for "! kill -0 $pid" 10 || fail "cloudlet (pid $pid) still runs after vpn down"
  ip -n "$VPN_NS_A" link show "$VPN_IF_A" >/dev/null 2>&1 && fail "$VPN_IF_A still exists after vpn down"
  [[ -e /var/run/wireguard/$VPN_IF_A.sock ]] && fail "UAPI socket still exists after vpn down"
else
  vpn_stop a
fi
if vpn_ping b 1; then fail "B still reaches A's tunnel address after A went down"; fi

# ---- the other two ways to stop a daemonized cloudlet: delete its interface, or kill the pid from --pid-file ----
if [[ $VPN_IMPL_A == cloudlet ]]; then
  for how in "link-del" "kill"; do
    rm -f "$pidfile"
    timeout 20 ip netns exec "$VPN_NS_A" "$CLOUDLET" vpn up "$VPN_IF_A" --config "$E2E_TMP/a.conf" \
      --pid-file "$pidfile" >"$E2E_TMP/up.log" 2>&1 || fail "vpn up ($how) failed: $(cat "$E2E_TMP/up.log")"
    pid=$(cat "$pidfile")
    if [[ $how == link-del ]]; then ip -n "$VPN_NS_A" link del "$VPN_IF_A"; else kill -TERM "$pid"; fi
    wait_for "! kill -0 $pid" 10 || fail "cloudlet (pid $pid) still runs after $how"
    ip -n "$VPN_NS_A" link show "$VPN_IF_A" >/dev/null 2>&1 && fail "$VPN_IF_A still exists after $how"
    [[ -e /var/run/wireguard/$VPN_IF_A.sock ]] && fail "UAPI socket still exists after $how"
  done
fi
pass "vpn interop (A=$VPN_IMPL_A, B=$VPN_IMPL_B)"

#!/usr/bin/env bash
# Roaming: wireguard-go (B) pings cloudlet (A) five times a second while it moves three times — a new listen port
# (`wg set listen-port`), a new underlay IPv4 address (192.0.2.2 replaced by 192.0.2.3), then to the IPv6 underlay
# (B's peer endpoint for A set to [2001:db8::1]). After each move, the endpoint A reports for B (`wg show
# endpoints` on cloudlet's socket) follows B's new source address and port; pings continue (bounded loss) and work
# both ways at the end.
# Usage: test_vpn_roaming.sh PATH_TO_CLOUDLET | --go   (--go: wireguard-go on both sides, tests the harness)
set -euo pipefail
# shellcheck source=tests/e2e/vpn_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpn_lib.sh"
vpn_parse_args "$@"
vpn_require
vpn_topology
vpn_underlay_ipv6
e2e_log "mode: A=$VPN_IMPL_A B=$VPN_IMPL_B"

PINGS=60    # 12 s at 5/s
MAX_LOST=8  # each move may cost a ping or two until B's next packet reaches A
NEW_PORT=51831 NEW_UL_B=192.0.2.3

vpn_up_both --initiator a
wait_for "vpn_ping a 1" 15 || fail "A cannot ping B's tunnel address $VPN_TUN_B"
assert_eq "$VPN_UL_B:$VPN_PORT_B" "$(vpn_endpoint a)" "B's endpoint on A before roaming"

log=$E2E_TMP/ping.log
vpn_ping_log b "$PINGS" "$log"
ping_pid=$E2E_LAST_PID
sleep 2

# 1. New listen port: B's packets now come from NEW_PORT.
vpn_wg b set "$VPN_IF_B" listen-port "$NEW_PORT" || fail "wg set listen-port on B failed"
wait_for "[[ \$(vpn_endpoint a) == '$VPN_UL_B:$NEW_PORT' ]]" 5 ||
  fail "A's endpoint for B did not follow the new port: $(vpn_endpoint a)"
e2e_log "endpoint on A after the port change: $(vpn_endpoint a)"
sleep 1

# 2. New address: 192.0.2.2 replaced by 192.0.2.3, so B can only send from the new one. (Secondaries go with
# the primary address unless promote_secondaries is set, so no add-then-delete.)
ip -n "$VPN_NS_B" addr del "$VPN_UL_B/24" dev eth0
ip -n "$VPN_NS_B" addr add "$NEW_UL_B/24" dev eth0
# wireguard-go keeps the old source address cached in its endpoint and then fails with ENETUNREACH; setting the
# endpoint again (same value) drops that cache. What is under test is A learning B's new address.
vpn_wg b set "$VPN_IF_B" peer "$VPN_PUB_A" endpoint "$VPN_UL_A:$VPN_PORT_A" || fail "wg set endpoint on B failed"
wait_for "[[ \$(vpn_endpoint a) == '$NEW_UL_B:$NEW_PORT' ]]" 5 ||
  fail "A's endpoint for B did not follow the new address: $(vpn_endpoint a)"
e2e_log "endpoint on A after the address change: $(vpn_endpoint a)"
sleep 1

# 3. Over IPv6: B addresses A at [2001:db8::1]; A must answer there.
vpn_wg b set "$VPN_IF_B" peer "$VPN_PUB_A" endpoint "[$VPN_UL6_A]:$VPN_PORT_A" || fail "wg set endpoint on B failed"
wait_for "[[ \$(vpn_endpoint a) == '[$VPN_UL6_B]:$NEW_PORT' ]]" 5 ||
  fail "A's endpoint for B did not follow B to IPv6: $(vpn_endpoint a)"
e2e_log "endpoint on A after the move to IPv6: $(vpn_endpoint a)"

wait_for "! kill -0 $ping_pid" $((PINGS / 5 + 10)) || fail "ping did not end in time"
read -r sent received <<<"$(vpn_ping_received "$log")"
e2e_log "pings while roaming: $received of $sent answered"
((${sent:-0} == PINGS)) || fail "ping sent ${sent:-?} of $PINGS: $(tail -n 3 "$log")"
((sent - received <= MAX_LOST)) || fail "lost $((sent - received)) of $sent pings while B roamed (max $MAX_LOST)"
vpn_ping a 2 || fail "A cannot ping B at its last endpoint"
vpn_ping b 2 || fail "B cannot ping A after roaming"
pass "vpn roaming (A=$VPN_IMPL_A, B=$VPN_IMPL_B)"

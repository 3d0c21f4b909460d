#!/usr/bin/env bash
# MAC flood protection. A switch with max_macs 64 and port_max_macs 32; endpoints a1 and a2 ping each other steadily
# while two attacker endpoints on the same VLAN each send a few thousand frames from random source MACs
# (fixtures/mac_flood.py), together more than the switch-wide limit (2 + 2 x 32 > 64). Proves: the MAC table stays
# within both limits (each attacker's port holds at most 32, the switch at most 64), the legitimate MACs stay
# learned on their ports, the running ping loses nothing (or next to nothing), and afterwards a fresh ping and a TCP
# transfer still work.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}
fixtures=$(cd "$(dirname "${BASH_SOURCE[0]}")/fixtures" && pwd)

require_root
require_cmd ip python3 ping nc ss

sw=$(e2e_name sw) a1=$(e2e_name a1) a2=$(e2e_name a2) at=$(e2e_name at) au=$(e2e_name au)
net="10.94.$((E2E_ID % 250))"
max_macs=64 port_max_macs=32 flood=3000

cfg=$E2E_TMP/flood.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - id: 10
switches:
  - name: $sw
    max_macs: $max_macs
    port_max_macs: $port_max_macs
endpoints:
  - name: $a1
    switch: $sw
    vlan: 10
    addresses: [$net.1/24]
  - name: $a2
    switch: $sw
    vlan: 10
    addresses: [$net.2/24]
  - name: $at
    switch: $sw
    vlan: 10
    addresses: [$net.66/24]
  - name: $au
    switch: $sw
    vlan: 10
    addresses: [$net.67/24]
EOF

cloudlet_own "$cfg" "endpoint:$a1:$a1" "endpoint:$a2:$a2" "endpoint:$at:$at" "endpoint:$au:$au"
cloudlet_daemon_start
cloudlet_down_at_exit "$cfg"
cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }

wait_for "ns_ping '$a1' '$net.2'" 15 || fail "$a1 cannot ping $a2 before the flood"

# A steady ping (10 per second, ~6 s) across the flood.
pings=60
e2e_bg "$E2E_TMP/ping.out" ip netns exec "$a1" ping -n -i 0.1 -c "$pings" -W 1 "$net.2"
ping_pid=$E2E_LAST_PID
sleep 1

start=$(date +%s%N)
sent=0
for attacker in "$at" "$au"; do
  n=$(timeout 30 ip netns exec "$attacker" python3 "$fixtures/mac_flood.py" eth0 "$flood" "${#attacker}$RANDOM") ||
    fail "mac_flood.py failed in $attacker"
  [[ "$n" -ge $((flood / 2)) ]] || fail "the flood from $attacker sent only $n of $flood frames"
  sent=$((sent + n))
done
echo "attackers sent $sent frames with random source MACs in $((($(date +%s%N) - start) / 1000000)) ms"

wait_for "! kill -0 $ping_pid" 20 || fail "the steady ping did not finish"
wait "$ping_pid" 2>/dev/null || true
summary=$(grep -E 'packets transmitted' "$E2E_TMP/ping.out" || true)
echo "steady ping during the flood: $summary"
received=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' <<<"$summary")
[[ -n "$received" ]] || fail "no ping summary: $(cat "$E2E_TMP/ping.out")"
# Negligible loss: at most 10% (scheduling noise on a busy machine), never an outage.
((received * 10 >= pings * 9)) || fail "the steady ping lost too much during the flood: $summary"

status_json >"$E2E_TMP/status.json" || fail "status failed"
read -r mac_count listed at_macs au_macs drops < <(json_eval "'%d %d %d %d %s' % (sw('$sw')['mac_count'], len(sw('$sw')['macs']),
  sum(1 for m in sw('$sw')['macs'] if m['port'] == '$at'), sum(1 for m in sw('$sw')['macs'] if m['port'] == '$au'),
  json.dumps(port('$sw', '$at')['counters'].get('drops', {}), separators=(',', ':')))" \
  <"$E2E_TMP/status.json") || fail "status JSON lacks mac_count/macs/counters for $sw"
echo "after the flood: mac_count=$mac_count listed=$listed port $at: $at_macs MACs, port $au: $au_macs MACs; $at drops: $drops"
((mac_count <= max_macs)) || fail "mac_count $mac_count exceeds max_macs $max_macs"
((listed <= max_macs)) || fail "status lists $listed MACs, more than max_macs $max_macs"
((listed == mac_count)) || fail "status lists $listed MACs but says mac_count $mac_count"
((at_macs <= port_max_macs)) || fail "attacker port $at learned $at_macs MACs, more than port_max_macs $port_max_macs"
((au_macs <= port_max_macs)) || fail "attacker port $au learned $au_macs MACs, more than port_max_macs $port_max_macs"
((at_macs > 0 && au_macs > 0)) || fail "an attacker port learned no MAC at all (was the flood received?)"

# The legitimate MACs are still known, on their own ports.
for ep in "$a1" "$a2"; do
  mac=$(ip netns exec "$ep" cat /sys/class/net/eth0/address)
  got=$(json_eval "[m['port'] for m in sw('$sw')['macs'] if m['mac'].lower() == '$mac' and m['vlan'] == 10]" <"$E2E_TMP/status.json")
  assert_eq "[\"$ep\"]" "$got" "port that $ep's MAC ($mac) is learned on"
done

ns_ping "$a2" "$net.1" || fail "a fresh ping $a2 -> $a1 fails after the flood"
ns_tcp_check "$a2" "$net.2" "$a1" $((2 << 20)) || fail "TCP $a1 -> $a2 fails after the flood"

pass "flood of $sent random MACs from 2 ports: mac_count $mac_count <= $max_macs, attacker ports $at_macs, $au_macs <= $port_max_macs; ping ($summary) and TCP unaffected"

#!/usr/bin/env bash
# The router's DHCPv4 server. VLAN 10 (zone web) is routed with a DHCP range; two endpoints there have no static
# address (`addresses: []`) and run busybox udhcpc; VLAN 20 (zone db) has a static endpoint; a rule lets web ping db.
# Proves: each client gets an address in the range with the router as default gateway, pings the gateway and the db
# endpoint on the other VLAN; `status` lists the leases; after kill -9 and a restart of the daemon the leases are
# still listed, the second client asking afresh gets its address back (a server that forgot would hand it the first
# client's), and the first client's renew (SIGUSR1 to a running udhcpc) is acknowledged for the address it holds.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/e2e/router_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/router_lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3 ping busybox
udhcpc_script_install

sw=$(e2e_name sw) c1=$(e2e_name c1) c2=$(e2e_name c2) d1=$(e2e_name d1)
B="10.$((160 + E2E_ID % 90))"
D1=$B.20.2

cfg=$E2E_TMP/dhcp.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - id: 10
    name: web
    ipv4: $B.10.1/24
    dhcp: {range: $B.10.100-$B.10.199, lease: 1h, dns: [$B.10.1]}
  - {id: 20, name: db, ipv4: $B.20.1/24}
switches:
  - name: $sw
endpoints:
  - {name: $c1, switch: $sw, vlan: 10, addresses: []}
  - {name: $c2, switch: $sw, vlan: 10, addresses: []}
  - {name: $d1, switch: $sw, vlan: 20, addresses: [$D1/24], gateway: $B.20.1}
router:
  switch: $sw
firewall:
  rules:
    - {name: web-ping-db, from: web, to: db, proto: icmp, icmp_type: echo-request, action: accept}
EOF

cloudlet_own "$cfg" "endpoint:$c1:$c1" "endpoint:$c2:$c2" "endpoint:$d1:$d1"
cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon1.log"
cl validate "$cfg" >"$E2E_TMP/validate.out" 2>&1 ||
  fail "the config (endpoints with addresses: []) does not validate: $(cat "$E2E_TMP/validate.out")"
cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }
cloudlet_down_at_exit "$cfg"

# dhcp NS: runs udhcpc once (5 tries, 1 s apart) and prints the address it applied.
dhcp() {
  local ns=$1
  ip -n "$ns" addr flush dev eth0 scope global
  timeout 30 ip netns exec "$ns" env UDHCPC_LOG="$E2E_TMP/dhcp.$ns.log" busybox udhcpc -i eth0 -n -q -f -t 5 -T 1 \
    -s "$E2E_TMP/udhcpc.sh" >"$E2E_TMP/udhcpc.$ns.out" 2>&1 || { cat "$E2E_TMP/udhcpc.$ns.out" >&2; return 1; }
  ip -n "$ns" -4 -o addr show dev eth0 scope global | awk '{print $4}'
}
mac_of() { ip -n "$1" link show eth0 | awk '/link\/ether/ {print $2}'; }
in_range() { # in_range ADDR/LEN
  local a=${1%/*}
  [[ "${1#*/}" == 24 && "${a%.*}" == "$B.10" ]] && ((${a##*.} >= 100 && ${a##*.} <= 199))
}
lease_of() { # lease_of MAC: the address status lists for MAC
  status_json | json_eval "next((l['address'] for r in s['routers'] for l in r['leases'] if l['mac'].lower() == '$1'), '')"
}
addr_of() { ip -n "$1" -4 -o addr show dev eth0 scope global | awk '{print $4}'; }

# c1 keeps a udhcpc running (it renews on SIGUSR1); c2 asks once.
e2e_bg "$E2E_TMP/udhcpc.c1.out" ip netns exec "$c1" env UDHCPC_LOG="$E2E_TMP/dhcp.c1.log" busybox udhcpc -i eth0 -f \
  -t 5 -T 1 -s "$E2E_TMP/udhcpc.sh"
udhcpc_c1=$E2E_LAST_PID
wait_for "grep -q '^bound' '$E2E_TMP/dhcp.c1.log'" 20 || fail "udhcpc in $c1 got no lease: $(cat "$E2E_TMP/udhcpc.c1.out")"
a1=$(addr_of "$c1")
a2=$(dhcp "$c2") || fail "udhcpc in $c2 got no lease"
in_range "$a1" || fail "$c1 got $a1, outside $B.10.100-199/24"
in_range "$a2" || fail "$c2 got $a2, outside $B.10.100-199/24"
[[ "$a1" != "$a2" ]] || fail "both clients got $a1"
for ns in "$c1" "$c2"; do
  assert_eq "default via $B.10.1" "$(ip -n "$ns" route show default | awk '{print $1, $2, $3}')" "default route in $ns"
  ns_ping "$ns" "$B.10.1" || fail "$ns cannot ping its gateway $B.10.1"
  ns_ping "$ns" "$D1" || fail "$ns cannot ping $D1 on VLAN 20 (rule web-ping-db)"
done
grep -q "dns=$B.10.1" "$E2E_TMP/dhcp.c1.log" || fail "the lease lacks the DNS server: $(cat "$E2E_TMP/dhcp.c1.log")"
m1=$(mac_of "$c1") m2=$(mac_of "$c2")
assert_eq "${a1%/*}" "$(lease_of "$m1")" "status lease of $c1 ($m1)"
assert_eq "${a2%/*}" "$(lease_of "$m2")" "status lease of $c2 ($m2)"

# Crash and restart: leases come back from disk. c2 asks afresh (DISCOVER) before anyone else: a server that forgot
# would offer it the first free address, c1's. c1 renews (a unicast REQUEST for the address it holds).
cloudlet_daemon_stop KILL
cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon2.log"
wait_for "[[ \$(lease_of '$m2') == '${a2%/*}' ]]" 15 ||
  fail "after the restart status lists $c2's lease as '$(lease_of "$m2")', not ${a2%/*}: $(status_json)"
assert_eq "$m2" "$(mac_of "$c2")" "$c2's MAC across the restart"
b2=$(dhcp "$c2") || fail "udhcpc in $c2 got no lease after the restart"
assert_eq "$a2" "$b2" "$c2's address after the daemon restart"
events=$(grep -c . "$E2E_TMP/dhcp.c1.log")
kill -USR1 "$udhcpc_c1"
wait_for "(( \$(grep -c . '$E2E_TMP/dhcp.c1.log') > $events ))" 15 || fail "$c1's renew got no answer"
sleep 0.5 # a NAK would be followed by deconfig and a new DISCOVER: let it show
assert_eq "renew $a1" "$(tail -n +$((events + 1)) "$E2E_TMP/dhcp.c1.log" | awk '{print $1, $2}' | tr '\n' ' ' |
  sed 's/ $//')" "$c1's renew after the daemon restart"
ns_ping "$c1" "$D1" || fail "$c1 cannot ping $D1 after the restart"
e2e_kill_pid "$udhcpc_c1" 2

cl down "$cfg" >"$E2E_TMP/down.out" 2>&1 || { cat "$E2E_TMP/down.out" >&2; fail "down failed"; }
pass "DHCP: leases ${a1%/*} and ${a2%/*} in range with the router as gateway, routed pings, leases in status; after kill -9 + restart a new DISCOVER and a renew get the same addresses"

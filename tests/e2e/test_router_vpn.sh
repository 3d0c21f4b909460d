#!/usr/bin/env bash
# Remote VPN users land in a firewall zone: a vpn attached to a routed VLAN (zone "office") reaches an endpoint on
# another routed VLAN (zone "db") through cloudlet's router, as far as the rules allow. A "remote user" namespace runs
# Debian's wireguard-go, reaching the daemon's UDP socket over a veth underlay.
# Proves: the router routes the peers' allowed IPs back to the VPN gateway (which has the router as its default
# route); a rule office -> db lets the user's ping through, the zone policy drops the user's TCP; the db endpoint
# cannot open a connection to the user (db -> office is dropped).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3 ping wg wireguard-go nc
[[ -c /dev/net/tun ]] || skip "/dev/net/tun is missing"

sw=$(e2e_name sw) db=$(e2e_name db) vp=$(e2e_name vp) user=$(e2e_name us) wgu=$(e2e_name wu)
uh=$(e2e_name uh) uu=$(e2e_name uu)
n=$((E2E_ID % 250))
office="10.95.$n" # VLAN 10: the VPN's attach VLAN
dbnet="10.96.$n"  # VLAN 20
tun="10.97.$n"    # the peers' tunnel subnet
under="172.30.$n" # underlay between the user and the host
port=$((40000 + (E2E_ID + 7) % 20000))

umask 077
wg genkey >"$E2E_TMP/server.key"
wg genkey >"$E2E_TMP/user.key"
server_pub=$(wg pubkey <"$E2E_TMP/server.key")
user_pub=$(wg pubkey <"$E2E_TMP/user.key")

cfg=$E2E_TMP/router-vpn.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - {id: 10, name: office, ipv4: $office.1/24}
  - {id: 20, name: db, ipv4: $dbnet.1/24}
switches:
  - name: $sw
endpoints:
  - {name: $db, switch: $sw, vlan: 20, addresses: [$dbnet.5/24], gateway: $dbnet.1}
router: {switch: $sw}
firewall:
  rules:
    - {name: users-ping-db, from: office, to: db, proto: icmp, icmp_type: echo-request, action: accept}
vpns:
  - name: $vp
    listen_port: $port
    private_key_file: $E2E_TMP/server.key
    address: $tun.1/24
    attach: {switch: $sw, vlan: 10, address: $office.254/24}
    peers:
      - {name: user, public_key: $user_pub, allowed_ips: [$tun.2/32]}
EOF

derived() {  # mirrors src/control/naming.cc
  python3 - "$1" "$cfg" "$vp" <<'PY'
import sys
prefix, project, name = sys.argv[1:4]
h = 2166136261
for c in ("vpn\0" + project + "\0" + name).encode():
    h = ((h ^ c) * 16777619) & 0xFFFFFFFF
print(prefix + "%08x" % h)
PY
}
gw_ns=$(derived clv-) gw_if=$(derived clg-) tun_if=$(derived clw-)
cloudlet_own "$cfg" "endpoint:$db:$db"
link_register "$gw_if"
e2e_defer "ip netns del '$gw_ns'"
e2e_defer "rm -f '/var/run/wireguard/$tun_if.sock'"

netns_add "$user"
veth_pair "$uh" "$uu" "" "$user"
ip addr add "$under.1/30" dev "$uh"
ip -n "$user" addr add "$under.2/30" dev "$uu"
e2e_bg "$E2E_TMP/wireguard-go.log" ip netns exec "$user" env LOG_LEVEL=error wireguard-go -f "$wgu"
e2e_defer "rm -f '/var/run/wireguard/$wgu.sock'"
wait_for "ip -n '$user' link show '$wgu'" 10 || fail "wireguard-go did not create $wgu"
ip netns exec "$user" wg set "$wgu" private-key "$E2E_TMP/user.key" peer "$server_pub" \
  endpoint "$under.1:$port" allowed-ips "$tun.0/24,$office.0/24,$dbnet.0/24" persistent-keepalive 5
ip -n "$user" addr add "$tun.2/24" dev "$wgu"
ip -n "$user" link set "$wgu" up
ip -n "$user" route add "$dbnet.0/24" dev "$wgu"

cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon.log"
cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }
cloudlet_down_at_exit "$cfg"
grep -q "set default route in $gw_ns via $office.1" "$E2E_TMP/up.out" ||
  fail "the VPN gateway did not get the router as its default route: $(cat "$E2E_TMP/up.out")"

wait_for "ns_ping '$user' '$dbnet.5'" 20 ||
  fail "the remote user cannot ping the db endpoint through the tunnel and the router"
status_json >"$E2E_TMP/status.json" || fail "status failed"
json_eval "any(r['prefix'] == '$tun.2/32' and r['via'] == '$office.254' for x in s['routers'] for r in x['routes'])" \
  <"$E2E_TMP/status.json" | grep -qx true ||
  fail "the router has no route to the peer's allowed IPs via the gateway: $(cat "$E2E_TMP/status.json")"

# TCP from the user to db: no rule, and the policy between zones drops it.
timeout 15 ip netns exec "$db" nc -l -n -w 5 "$dbnet.5" 7000 >/dev/null 2>&1 &
srv=$!
e2e_defer "e2e_kill_pid $srv 1"
wait_for "ip netns exec '$db' ss -Htln 'sport = :7000' | grep -q ." 5 || fail "listener did not start"
if echo hi | timeout 4 ip netns exec "$user" nc -n -N -w 2 "$dbnet.5" 7000 >/dev/null 2>&1; then
  fail "TCP from the VPN user to db passed, but only ping is allowed (office -> db)"
fi
# And db cannot reach the user: db -> office is dropped by default.
ns_ping "$db" "$tun.2" && fail "db reached the VPN user, but db -> office should be dropped"
pass "VPN users in zone office reach db by rule only; the router routes their allowed IPs to the gateway"

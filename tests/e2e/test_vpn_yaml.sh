#!/usr/bin/env bash
# A VPN declared in the project YAML attaches a remote WireGuard peer to a VLAN. One switch, VLAN 10 with an
# endpoint whose gateway is the VPN's attach address, and a vpn; a "remote user" namespace runs Debian's
# wireguard-go, reaching the daemon's UDP socket (in the host namespace) over a veth underlay.
# Proves: the user pings the endpoint through the tunnel; status JSON shows the peer with a handshake and no private
# key anywhere (nor in state.json); a second `up` changes nothing; an added peer is applied in place and the first
# peer keeps working; after kill -9 + restart the tunnel is back from state; a rotated key file is applied by `up`
# without a restart; `down` removes the gateway namespace,
# its veth and the UAPI socket.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3 ping wg wireguard-go
[[ -c /dev/net/tun ]] || skip "/dev/net/tun is missing"

sw=$(e2e_name sw) ep=$(e2e_name ep) vp=$(e2e_name vp) user=$(e2e_name us) wgu=$(e2e_name wu)
uh=$(e2e_name uh) uu=$(e2e_name uu)
n=$((E2E_ID % 250))
lan="10.93.$n"    # VLAN 10
tun="10.94.$n"    # the peers' tunnel subnet
under="172.31.$n" # underlay between the user and the host
port=$((40000 + E2E_ID % 20000))

umask 077
wg genkey >"$E2E_TMP/server.key"
wg genkey >"$E2E_TMP/user.key"
server_pub=$(wg pubkey <"$E2E_TMP/server.key")
user_pub=$(wg pubkey <"$E2E_TMP/user.key")
other_pub=$(wg genkey | wg pubkey)

cfg=$E2E_TMP/vpn.yaml
write_config() {  # write_config [EXTRA_PEER_YAML]
  cat >"$cfg" <<EOF
version: 1
vlans:
  - id: 10
switches:
  - name: $sw
endpoints:
  - name: $ep
    switch: $sw
    vlan: 10
    addresses: [$lan.5/24]
    gateway: $lan.254
vpns:
  - name: $vp
    listen_port: $port
    private_key_file: $E2E_TMP/server.key
    address: $tun.1/24
    attach: {switch: $sw, vlan: 10, address: $lan.254/24}
    peers:
      - name: user
        public_key: $user_pub
        allowed_ips: [$tun.2/32]
${1:-}
EOF
}
write_config

# What cloudlet derives for the vpn (mirrors src/control/naming.cc), registered for cleanup in case `down` fails.
derived() {
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
uapi_sock=/var/run/wireguard/$tun_if.sock
cloudlet_own "$cfg" "endpoint:$ep:$ep"
link_register "$gw_if"
e2e_defer "ip netns del '$gw_ns'"
e2e_defer "rm -f '$uapi_sock'"

# The remote user: its own namespace, an underlay veth to the host, and wireguard-go.
netns_add "$user"
veth_pair "$uh" "$uu" "" "$user"
ip addr add "$under.1/30" dev "$uh"
ip -n "$user" addr add "$under.2/30" dev "$uu"
e2e_bg "$E2E_TMP/wireguard-go.log" ip netns exec "$user" env LOG_LEVEL=error wireguard-go -f "$wgu"
e2e_defer "rm -f '/var/run/wireguard/$wgu.sock'"
wait_for "ip -n '$user' link show '$wgu'" 10 || fail "wireguard-go did not create $wgu"
user_peer() {  # (re)configures the user's side; a removed and re-added peer starts with a fresh handshake
  ip netns exec "$user" wg set "$wgu" peer "$server_pub" remove
  ip netns exec "$user" wg set "$wgu" private-key "$E2E_TMP/user.key" peer "$server_pub" \
    endpoint "$under.1:$port" allowed-ips "$tun.0/24,$lan.0/24" persistent-keepalive 5
}
user_peer
ip -n "$user" addr add "$tun.2/24" dev "$wgu"
ip -n "$user" link set "$wgu" up
ip -n "$user" route add "$lan.0/24" dev "$wgu"

cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon1.log"
cl validate --host "$cfg" >"$E2E_TMP/validate.out" 2>&1 || { cat "$E2E_TMP/validate.out" >&2; fail "validate --host"; }
cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }
cloudlet_down_at_exit "$cfg"
grep -q "started vpn $vp" "$E2E_TMP/up.out" || fail "up did not report the vpn: $(cat "$E2E_TMP/up.out")"
[[ -S "$uapi_sock" ]] || fail "no UAPI socket $uapi_sock"
ip netns exec "$gw_ns" wg show "$tun_if" >/dev/null 2>&1 || fail "wg show $tun_if does not answer"
[[ "$(ip netns exec "$gw_ns" cat /proc/sys/net/ipv4/ip_forward)" == 1 ]] || fail "forwarding off in $gw_ns"

wait_for "ns_ping '$user' '$lan.5'" 20 || fail "the remote user cannot ping endpoint $lan.5 through the tunnel"
ns_ping "$ep" "$tun.2" || fail "the endpoint cannot ping the remote user back"

status_json >"$E2E_TMP/status.json" || fail "status failed"
cl status >"$E2E_TMP/status.txt" || fail "status (table) failed"
handshake=$(json_eval "next(p['latest_handshake'] for v in s['vpns'] if v['name'] == '$vp' for p in v['peers'])" \
  <"$E2E_TMP/status.json")
[[ "$handshake" -gt 0 ]] || fail "status shows no handshake for the user: $(cat "$E2E_TMP/status.json")"
assert_eq "$server_pub" "$(json_eval "next(v['public_key'] for v in s['vpns'] if v['name'] == '$vp')" \
  <"$E2E_TMP/status.json")" "vpn public key in status"
assert_eq "$under.2" "$(json_eval "next(p['endpoint'] for v in s['vpns'] for p in v['peers']).rsplit(':', 1)[0]" \
  <"$E2E_TMP/status.json")" "peer endpoint learned from the handshake"
grep -q "$vp" "$E2E_TMP/status.txt" || fail "status table lacks the vpn"
server_priv=$(cat "$E2E_TMP/server.key")
for f in "$E2E_TMP/status.json" "$E2E_TMP/status.txt" "$E2E_TMP/state/state.json" "$E2E_TMP/up.out"; do
  if grep -qF -- "$server_priv" "$f"; then fail "the private key appears in $f"; fi
  if grep -q "private_key\"" "$f"; then fail "a private_key field appears in $f"; fi
done
assert_eq "600" "$(stat -c %a "$E2E_TMP/state/state.json")" "state.json mode"

cl up "$cfg" >"$E2E_TMP/up2.out" 2>&1 || { cat "$E2E_TMP/up2.out" >&2; fail "second up failed"; }
grep -qi "nothing changed" "$E2E_TMP/up2.out" || fail "second up changed things: $(cat "$E2E_TMP/up2.out")"

# Another peer: applied in place; the user's session is kept (same handshake time, pings go on).
write_config "      - {name: other, public_key: $other_pub, allowed_ips: [$tun.3/32]}"
cl up "$cfg" >"$E2E_TMP/up3.out" 2>&1 || { cat "$E2E_TMP/up3.out" >&2; fail "up with a new peer failed"; }
grep -q "updated peers of vpn $vp: added other" "$E2E_TMP/up3.out" || fail "peer change: $(cat "$E2E_TMP/up3.out")"
ns_ping "$user" "$lan.5" || fail "the user lost the tunnel when another peer was added"
status_json >"$E2E_TMP/status3.json"
assert_eq "$handshake" "$(json_eval "next(p['latest_handshake'] for v in s['vpns'] for p in v['peers'] \
  if p['name'] == 'user')" <"$E2E_TMP/status3.json")" "user's handshake kept across the peer change"
ip -n "$gw_ns" route show "$tun.3/32" | grep -q "$tun_if" || fail "no route to the new peer's allowed IP"

# Crash and restart: the tunnel comes back from state.
cloudlet_daemon_stop KILL
cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon2.log"
wait_for "status_json | json_eval \"[v['running'] for v in s['vpns']] == [True]\" | grep -qx true" 15 ||
  fail "the vpn did not come back after the restart: $(status_json)"
user_peer
wait_for "ns_ping '$user' '$lan.5'" 20 || fail "the user cannot reach the endpoint after the daemon restart"
cl up "$cfg" >"$E2E_TMP/up4.out" 2>&1 || { cat "$E2E_TMP/up4.out" >&2; fail "up after restart failed"; }
grep -qi "nothing changed" "$E2E_TMP/up4.out" || fail "up after the restart changed things: $(cat "$E2E_TMP/up4.out")"

# Key rotated in place: `up` applies it without a restart; the user follows with the new public key.
wg genkey >"$E2E_TMP/server.key"
server_pub=$(wg pubkey <"$E2E_TMP/server.key")
cl up "$cfg" >"$E2E_TMP/up5.out" 2>&1 || { cat "$E2E_TMP/up5.out" >&2; fail "up after key rotation failed"; }
grep -q "changed the key of vpn $vp" "$E2E_TMP/up5.out" || fail "key rotation: $(cat "$E2E_TMP/up5.out")"
assert_eq "$server_pub" "$(status_json | json_eval "next(v['public_key'] for v in s['vpns'])")" "rotated public key"
ip netns exec "$user" wg set "$wgu" peer "$(wg pubkey <<<"$server_priv")" remove
user_peer
wait_for "ns_ping '$user' '$lan.5'" 20 || fail "the user cannot reach the endpoint with the rotated key"

cl down "$cfg" >"$E2E_TMP/down.out" 2>&1 || { cat "$E2E_TMP/down.out" >&2; fail "down failed"; }
assert_eq "0" "$(status_json | json_eval "len(s['vpns'])")" "vpns after down"
if ip netns list | awk '{print $1}' | grep -qxF "$gw_ns"; then fail "gateway netns $gw_ns still exists"; fi
if ip link show "$gw_if" >/dev/null 2>&1; then fail "gateway veth $gw_if still exists"; fi
[[ ! -e "$uapi_sock" ]] || fail "UAPI socket $uapi_sock still exists after down"
if ns_ping "$user" "$lan.5"; then fail "the user still reaches the endpoint after down"; fi

pass "vpn from YAML: remote wireguard-go user reaches VLAN 10, status without secrets, idempotent up, peer change in place, restart, key rotation, down"

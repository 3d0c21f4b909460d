# shellcheck shell=bash
# Shared topology for the VPN end-to-end tests and bench/vpn.sh, on top of lib.sh:
#
#   netns A: eth0 192.0.2.1/24 ==veth underlay== eth0 192.0.2.2/24 :netns B
#            tunnel IF_A 10.77.0.1/24 (UDP VPN_PORT_A)    tunnel IF_B 10.77.0.2/24 (UDP VPN_PORT_B)
#
# Side A is cloudlet (`cloudlet vpn up`), side B Debian's wireguard-go; both are configured through the WireGuard
# UAPI socket with `wg`. Mode "go" (vpn_parse_args --go, or VPN_E2E_MODE=go) runs wireguard-go on both sides: it
# proves the harness itself, independent of cloudlet. /var/run/wireguard/ is shared by every namespace, so tunnel
# interface names carry the run id (e2e_name).

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VPN_UL_A=192.0.2.1 VPN_UL_B=192.0.2.2
VPN_TUN_A=10.77.0.1 VPN_TUN_B=10.77.0.2
VPN_PORT_A=51820 VPN_PORT_B=51821
VPN_IMPL_A=cloudlet VPN_IMPL_B=go
VPN_NS_A="" VPN_NS_B="" VPN_IF_A="" VPN_IF_B=""
VPN_PID_A="" VPN_PID_B=""
VPN_KEY_A="" VPN_KEY_B="" VPN_PUB_A="" VPN_PUB_B=""
VPN_A_ARGS=()  # extra `cloudlet vpn up` arguments for side A when vpn_start gets none (e.g. --rekey-after-time 3)
CLOUDLET=${CLOUDLET:-}

# vpn_parse_args "$@": the test's arguments — the cloudlet binary (as ctest passes it), or --go for the
# wireguard-go <-> wireguard-go mode. VPN_E2E_MODE=go in the environment selects that mode too.
vpn_parse_args() {
  if [[ "${1:-}" == "--go" || "${VPN_E2E_MODE:-}" == go ]]; then
    VPN_IMPL_A=go
  else
    CLOUDLET=${1:?usage: $0 PATH_TO_CLOUDLET | --go}
  fi
}

# vpn_require: skips (77) without root or the tools; fails when cloudlet mode has no runnable binary.
vpn_require() {
  require_root
  require_cmd ip wg wireguard-go tshark iperf3 python3 ping ss timeout
  [[ -c /dev/net/tun ]] || skip "no /dev/net/tun"
  if [[ "$VPN_IMPL_A" == cloudlet ]]; then
    [[ -x "$CLOUDLET" ]] || fail "cloudlet binary '$CLOUDLET' is not executable"
    CLOUDLET=$(cd "$(dirname "$CLOUDLET")" && pwd)/$(basename "$CLOUDLET")
  fi
  mkdir -p /var/run/wireguard
}

vpn_ns() { if [[ $1 == a ]]; then echo "$VPN_NS_A"; else echo "$VPN_NS_B"; fi; }
vpn_if() { if [[ $1 == a ]]; then echo "$VPN_IF_A"; else echo "$VPN_IF_B"; fi; }
vpn_impl() { if [[ $1 == a ]]; then echo "$VPN_IMPL_A"; else echo "$VPN_IMPL_B"; fi; }
vpn_other() { if [[ $1 == a ]]; then echo b; else echo a; fi; }
# vpn_wg SIDE ARGS...: `wg` in that side's namespace (wg finds the UAPI socket by interface name).
vpn_wg() {
  local side=$1
  shift
  timeout 10 ip netns exec "$(vpn_ns "$side")" wg "$@"
}

# vpn_topology [TAG]: both namespaces, the underlay and the keys. TAG (default v) keeps names apart when one
# run builds several topologies (the benchmark).
vpn_topology() {
  local tag=${1:-v} dir
  VPN_NS_A=$(e2e_name "${tag}na") VPN_NS_B=$(e2e_name "${tag}nb")
  VPN_IF_A=$(e2e_name "${tag}wa") VPN_IF_B=$(e2e_name "${tag}wb")
  netns_add "$VPN_NS_A"
  netns_add "$VPN_NS_B"
  veth_pair "$(e2e_name "${tag}ua")" "$(e2e_name "${tag}ub")" "$VPN_NS_A" "$VPN_NS_B"
  ip -n "$VPN_NS_A" link set "$(e2e_name "${tag}ua")" down name eth0
  ip -n "$VPN_NS_B" link set "$(e2e_name "${tag}ub")" down name eth0
  ip -n "$VPN_NS_A" addr add "$VPN_UL_A/24" dev eth0
  ip -n "$VPN_NS_B" addr add "$VPN_UL_B/24" dev eth0
  ip -n "$VPN_NS_A" link set eth0 up
  ip -n "$VPN_NS_B" link set eth0 up
  dir=$E2E_TMP/keys.$tag
  mkdir -p "$dir"
  (umask 077 && wg genkey >"$dir/a.key" && wg genkey >"$dir/b.key")
  VPN_KEY_A=$dir/a.key VPN_KEY_B=$dir/b.key
  VPN_PUB_A=$(wg pubkey <"$VPN_KEY_A") VPN_PUB_B=$(wg pubkey <"$VPN_KEY_B")
}

# vpn_start SIDE [EXTRA_CLOUDLET_ARGS...]: starts that side's implementation in the foreground as a registered
# background process (ended by PID at exit) and waits for its UAPI socket. Sets VPN_PID_A / VPN_PID_B.
# Extra arguments (default: VPN_A_ARGS for side A) go to `cloudlet vpn up` only; wireguard-go ignores them.
vpn_start() {
  local side=$1 ns ifname log
  shift
  if [[ $# -eq 0 && $side == a && ${#VPN_A_ARGS[@]} -gt 0 ]]; then set -- "${VPN_A_ARGS[@]}"; fi
  ns=$(vpn_ns "$side") ifname=$(vpn_if "$side") log=$E2E_TMP/$(vpn_if "$side").log
  e2e_defer "rm -f /var/run/wireguard/$ifname.sock"
  if [[ $(vpn_impl "$side") == go ]]; then
    e2e_bg "$log" ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$ifname"
  else
    e2e_bg "$log" ip netns exec "$ns" "$CLOUDLET" vpn up "$ifname" --foreground "$@"
  fi
  if [[ $side == a ]]; then VPN_PID_A=$E2E_LAST_PID; else VPN_PID_B=$E2E_LAST_PID; fi
  if ! wait_for "[[ -S /var/run/wireguard/$ifname.sock ]] && ip -n '$ns' link show '$ifname'" 10; then
    cat "$log" >&2 || true
    fail "$(vpn_impl "$side") on side $side: no interface $ifname / UAPI socket within 10 s"
  fi
}

# vpn_stop SIDE: ends that side's process by PID; its interface and socket go with it.
vpn_stop() {
  local side=$1 pid
  if [[ $side == a ]]; then pid=$VPN_PID_A; else pid=$VPN_PID_B; fi
  e2e_kill_pid "$pid" 5
  wait_for "! ip -n '$(vpn_ns "$side")' link show '$(vpn_if "$side")'" 5 ||
    fail "side $side: $(vpn_if "$side") still exists after its process ended"
}

# vpn_configure SIDE [--no-endpoint] [--peer-pub KEY]: private key, listen port and the other side as peer with
# `wg set`, then the tunnel address and link up. --no-endpoint leaves the peer's endpoint unknown, so this side
# can only respond (the other side must initiate). --peer-pub overrides the peer's public key.
vpn_configure() {
  local side=$1 endpoint=1 peer_pub="" other ns ifname key port tun peer_ul peer_port peer_tun
  shift
  while [[ $# -gt 0 ]]; do
    case $1 in
      --no-endpoint) endpoint=0; shift ;;
      --peer-pub) peer_pub=$2; shift 2 ;;
      *) fail "vpn_configure: unknown option $1" ;;
    esac
  done
  other=$(vpn_other "$side") ns=$(vpn_ns "$side") ifname=$(vpn_if "$side")
  if [[ $side == a ]]; then
    key=$VPN_KEY_A port=$VPN_PORT_A tun=$VPN_TUN_A peer_ul=$VPN_UL_B peer_port=$VPN_PORT_B peer_tun=$VPN_TUN_B
    peer_pub=${peer_pub:-$VPN_PUB_B}
  else
    key=$VPN_KEY_B port=$VPN_PORT_B tun=$VPN_TUN_B peer_ul=$VPN_UL_A peer_port=$VPN_PORT_A peer_tun=$VPN_TUN_A
    peer_pub=${peer_pub:-$VPN_PUB_A}
  fi
  local args=(set "$ifname" private-key "$key" listen-port "$port" peer "$peer_pub" allowed-ips "$peer_tun/32")
  [[ $endpoint == 1 ]] && args+=(endpoint "$peer_ul:$peer_port")
  vpn_wg "$side" "${args[@]}" || fail "side $side ($other's peer): wg ${args[*]} failed"
  ip -n "$ns" addr add "$tun/24" dev "$ifname"
  ip -n "$ns" link set "$ifname" up
}

# vpn_conf_file SIDE FILE [--no-endpoint]: a wg-quick style file for that side (what `cloudlet vpn up --config`
# reads): [Interface] PrivateKey, ListenPort, Address; [Peer] PublicKey, AllowedIPs, Endpoint.
vpn_conf_file() {
  local side=$1 file=$2 endpoint=${3:-} key port tun peer_pub peer_tun peer_ep
  if [[ $side == a ]]; then
    key=$(cat "$VPN_KEY_A") port=$VPN_PORT_A tun=$VPN_TUN_A peer_pub=$VPN_PUB_B peer_tun=$VPN_TUN_B
    peer_ep=$VPN_UL_B:$VPN_PORT_B
  else
    key=$(cat "$VPN_KEY_B") port=$VPN_PORT_B tun=$VPN_TUN_B peer_pub=$VPN_PUB_A peer_tun=$VPN_TUN_A
    peer_ep=$VPN_UL_A:$VPN_PORT_A
  fi
  (
    umask 077
    printf '[Interface]\nPrivateKey = %s\nListenPort = %s\nAddress = %s/24\n\n' "$key" "$port" "$tun"
    printf '[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\n' "$peer_pub" "$peer_tun"
    [[ "$endpoint" == --no-endpoint ]] || printf 'Endpoint = %s\n' "$peer_ep"
  ) >"$file"
}

# vpn_up_both [--initiator SIDE]: starts and configures both sides. With --initiator, only that side knows the
# other's endpoint, so the first handshake is necessarily its initiation.
vpn_up_both() {
  local initiator=""
  [[ "${1:-}" == --initiator ]] && initiator=$2
  vpn_start a
  vpn_start b
  if [[ -n "$initiator" ]]; then
    vpn_configure "$initiator"
    vpn_configure "$(vpn_other "$initiator")" --no-endpoint
  else
    vpn_configure a
    vpn_configure b
  fi
}

# vpn_underlay_ipv6: IPv6 on the underlay too (veth_pair turned it off): 2001:db8::1/64 on A, 2001:db8::2/64 on B,
# without duplicate address detection so they are usable at once.
VPN_UL6_A=2001:db8::1 VPN_UL6_B=2001:db8::2
vpn_underlay_ipv6() {
  local ns
  for ns in "$VPN_NS_A" "$VPN_NS_B"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0; done
  ip -n "$VPN_NS_A" addr add "$VPN_UL6_A/64" dev eth0 nodad
  ip -n "$VPN_NS_B" addr add "$VPN_UL6_B/64" dev eth0 nodad
}

# vpn_ping_log FROM_SIDE COUNT LOGFILE: background ping (5 per second) to the other side's tunnel address,
# registered like e2e_bg (E2E_LAST_PID); vpn_ping_received LOGFILE reads "SENT RECEIVED" once it ended.
vpn_ping_log() {
  local side=$1 count=$2 log=$3 dst=$VPN_TUN_B
  [[ $side == b ]] && dst=$VPN_TUN_A
  e2e_bg "$log" ip netns exec "$(vpn_ns "$side")" ping -n -i 0.2 -c "$count" -W 1 "$dst"
}
vpn_ping_received() {
  awk '/packets transmitted/ { print $1, $4 }' "$1"
}

# vpn_ping FROM_SIDE [COUNT]: pings the other side's tunnel address (COUNT pings, 1 s timeout each).
vpn_ping() {
  local side=$1 count=${2:-2} dst=$VPN_TUN_B
  [[ $side == b ]] && dst=$VPN_TUN_A
  timeout $((count + 10)) ip netns exec "$(vpn_ns "$side")" ping -n -q -c "$count" -W 1 "$dst" >/dev/null 2>&1
}

# vpn_latest_handshake SIDE: the peer's latest handshake as Unix seconds (0: none), as `wg show` reports it.
vpn_latest_handshake() {
  local out
  out=$(vpn_wg "$1" show "$(vpn_if "$1")" latest-handshakes 2>/dev/null) || { echo 0; return; }
  awk 'NR == 1 { print $2 + 0; found = 1 } END { if (!found) print 0 }' <<<"$out"
}

# vpn_transfer SIDE: "RX TX" bytes of the (single) peer.
vpn_transfer() {
  vpn_wg "$1" show "$(vpn_if "$1")" transfer 2>/dev/null | awk 'NR == 1 { print $2, $3 }'
}

# vpn_endpoint SIDE: the peer's endpoint as `wg show` reports it ("(none)" when unknown).
vpn_endpoint() {
  vpn_wg "$1" show "$(vpn_if "$1")" endpoints 2>/dev/null | awk 'NR == 1 { print $2 }'
}

# vpn_wait_handshake SIDE TIMEOUT: waits until that side reports a handshake.
vpn_wait_handshake() {
  wait_for "(( \$(vpn_latest_handshake $1) > 0 ))" "${2:-10}"
}

# vpn_capture SIDE FILE [IFACE]: tshark on that side's underlay eth0 (or IFACE) into FILE; tshark_stop ends it.
vpn_capture() {
  tshark_capture "${3:-eth0}" "$2" "$(vpn_ns "$1")"
}

# vpn_tshark FILE DISPLAY_FILTER [FIELDS...]: reads a capture with both VPN ports decoded as WireGuard; prints the
# fields of matching packets (or one line per packet without FIELDS).
vpn_tshark() {
  local file=$1 filter=$2 f args=()
  shift 2
  args=(-n -r "$file" -d "udp.port==$VPN_PORT_A,wg" -d "udp.port==$VPN_PORT_B,wg" -Y "$filter")
  if [[ $# -gt 0 ]]; then
    args+=(-T fields)
    for f in "$@"; do args+=(-e "$f"); done
  fi
  tshark "${args[@]}" 2>>"$E2E_TMP/tshark.err"
}

# vpn_count FILE DISPLAY_FILTER: number of matching packets.
vpn_count() { vpn_tshark "$1" "$2" | wc -l; }

# vpn_iperf FROM_SIDE SECONDS OUTFILE [ARGS...]: iperf3 client in FROM_SIDE to a one-shot server on the other
# side's tunnel address; both bounded and ended by PID. Returns non-zero when the client fails.
vpn_iperf() {
  local side=$1 secs=$2 out=$3 other srv_ns dst mark rc=0
  shift 3
  other=$(vpn_other "$side") srv_ns=$(vpn_ns "$other") dst=$VPN_TUN_B
  [[ $other == a ]] && dst=$VPN_TUN_A
  mark=${#E2E_CLEANUP[@]}
  e2e_bg "$out.server" ip netns exec "$srv_ns" iperf3 -s -1 -B "$dst" -p 5201
  wait_for "ip netns exec '$srv_ns' ss -Htln 'sport = :5201' | grep -q ." 10 || { e2e_unwind "$mark"; return 1; }
  timeout $((secs + 20)) ip netns exec "$(vpn_ns "$side")" iperf3 -c "$dst" -p 5201 -t "$secs" -f m "$@" \
    >"$out" 2>&1 || rc=1
  wait_for "! kill -0 $E2E_LAST_PID" 5 || true
  e2e_unwind "$mark"
  return $rc
}

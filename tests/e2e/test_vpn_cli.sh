#!/usr/bin/env bash
# The user-facing `cloudlet vpn` command line, end to end (topology of vpn_lib.sh: cloudlet in netns A, Debian's
# wireguard-go in netns B):
#  1. genkey | pubkey agrees with `wg pubkey`; genpsk is 44 base64 chars; pubkey of garbage: exit 2, input not echoed.
#  2. up --config with an unknown key, a bad key or a PostUp hook: exit 2, FILE:LINE, nothing created. A second
#     `up` of the same name fails ("already ...") and the first keeps working (pings with wireguard-go).
#  3. peer add (allowed ips, endpoint, keepalive, psk file) as stock `wg show` sees it; bad allowed ips: exit 2;
#     peer remove; removing an unknown peer fails clearly.
#  4. client --out: mode 0600, a wg-quick file a second wireguard-go interface runs (`wg-quick strip` + setconf)
#     and pings cloudlet through; client --qr: a rectangular QR block, peer added; neither --out nor --qr: exit 2.
#  5. show --format json: JSON, right peer count; the private key (base64, hex) in no show output nor `wg show`;
#     show without NAME lists the interface.
#  6. down removes process, interface, socket and pid files; down of a name that is not up fails clearly.
# Usage: test_vpn_cli.sh PATH_TO_CLOUDLET
set -euo pipefail
# shellcheck source=tests/e2e/vpn_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/vpn_lib.sh"
vpn_parse_args "${1:?usage: $0 PATH_TO_CLOUDLET}"
vpn_require
require_cmd wg-quick base64 od
vpn_topology
sock=/var/run/wireguard/$VPN_IF_A.sock
pidfile=$E2E_TMP/a.pid cl_pidfile=/var/run/cloudlet/vpn/$VPN_IF_A.pid

# cl ARGS...: `cloudlet vpn ARGS` in netns A, bounded.
cl() { timeout 20 ip netns exec "$VPN_NS_A" "$CLOUDLET" vpn "$@"; }
# expect_fail CODE REGEX WHAT -- CMD...: CMD must exit CODE with output matching REGEX (extended, case-insensitive).
# Leaves the output in $E2E_TMP/out.
expect_fail() {
  local code=$1 re=$2 what=$3 rc=0
  shift 4
  "$@" >"$E2E_TMP/out" 2>&1 || rc=$?
  [[ $rc == "$code" ]] || fail "$what: exit $rc, expected $code: $(cat "$E2E_TMP/out")"
  grep -qiE -- "$re" "$E2E_TMP/out" || fail "$what: message does not match /$re/: $(cat "$E2E_TMP/out")"
}
# peer_field FIELD PUBKEY: that peer's value in `wg show A FIELD` (allowed-ips, preshared-keys, ...), exact match.
peer_field() { vpn_wg a show "$VPN_IF_A" "$1" | awk -v k="$2" '$1 == k { $1 = ""; sub(/^ /, ""); print }'; }
# nothing_created WHAT: no interface, socket or pid file for A's name.
nothing_created() {
  if ip -n "$VPN_NS_A" link show "$VPN_IF_A" >/dev/null 2>&1; then fail "$1: interface $VPN_IF_A exists"; fi
  [[ -e $sock ]] && fail "$1: $sock exists"
  [[ -e $cl_pidfile || -e $pidfile ]] && fail "$1: a pid file exists"
  return 0
}

# ---- 1. keys ------------------------------------------------------------------------------------------------------
key=$("$CLOUDLET" vpn genkey) || fail "vpn genkey failed"
assert_eq "$(wg pubkey <<<"$key")" "$("$CLOUDLET" vpn pubkey <<<"$key")" "cloudlet vpn pubkey vs wg pubkey"
psk=$("$CLOUDLET" vpn genpsk) || fail "vpn genpsk failed"
[[ $psk =~ ^[A-Za-z0-9+/]{43}=$ ]] || fail "vpn genpsk: not 44 base64 characters: '$psk'"
garbage="not-a-key-but-a-secret-$RANDOM"
expect_fail 2 'key' "pubkey of garbage" -- "$CLOUDLET" vpn pubkey <<<"$garbage"
grep -qF "$garbage" "$E2E_TMP/out" && fail "vpn pubkey echoes its (secret) input: $(cat "$E2E_TMP/out")"

# ---- 2. up: bad files create nothing; a second up of the same name fails -------------------------------------------
priv=$(cat "$VPN_KEY_A")
printf '[Interface]\nPrivateKey = %s\nListenPort = %s\nTabel = off\n' "$priv" "$VPN_PORT_A" >"$E2E_TMP/unknown.conf"
printf '[Interface]\nListenPort = %s\nPrivateKey = %s\n' "$VPN_PORT_A" "${priv:0:40}" >"$E2E_TMP/badkey.conf"
printf '[Interface]\nPrivateKey = %s\n# hooks run as root\nPostUp = touch %s/hooked\n' "$priv" "$E2E_TMP" \
  >"$E2E_TMP/hook.conf"
for bad in unknown:4 badkey:3 hook:4; do
  f=$E2E_TMP/${bad%%:*}.conf
  expect_fail 2 "^cloudlet: $f:${bad#*:}: " "vpn up --config ${bad%%:*}.conf" -- \
    cl up "$VPN_IF_A" --config "$f" --pid-file "$pidfile"
  nothing_created "vpn up --config ${bad%%:*}.conf"
done
[[ -e $E2E_TMP/hooked ]] && fail "the PostUp hook ran"

vpn_conf_file a "$E2E_TMP/a.conf" --no-endpoint
echo "AllowedIPs = 10.66.0.0/16" >>"$E2E_TMP/a.conf"  # outside the interface's subnet: gets a route, as in wg-quick
e2e_defer "ip netns exec '$VPN_NS_A' '$CLOUDLET' vpn down '$VPN_IF_A' >/dev/null 2>&1"
e2e_defer "[[ -f '$pidfile' ]] && e2e_kill_pid \$(cat '$pidfile')"
cl up "$VPN_IF_A" --config "$E2E_TMP/a.conf" --pid-file "$pidfile" >"$E2E_TMP/up.log" 2>&1 ||
  fail "vpn up --config failed: $(cat "$E2E_TMP/up.log")"
pid=$(cat "$pidfile")
assert_eq "$pid" "$(cat "$cl_pidfile")" "pid in $cl_pidfile"
vpn_start b
vpn_configure b
wait_for "vpn_ping b 1" 15 || fail "B cannot ping cloudlet's tunnel address $VPN_TUN_A"
ip -n "$VPN_NS_A" route show 10.66.0.0/16 | grep -q "dev $VPN_IF_A" ||
  fail "no route for AllowedIPs 10.66.0.0/16 through $VPN_IF_A: $(ip -n "$VPN_NS_A" route show)"
[[ -z $(ip -n "$VPN_NS_A" route show "$VPN_TUN_B/32") ]] ||
  fail "a route for $VPN_TUN_B/32, which the interface's /24 already covers, was added"

expect_fail 1 "already (up|running|exists)|in use|busy" "second vpn up of $VPN_IF_A" -- \
  cl up "$VPN_IF_A" --config "$E2E_TMP/a.conf"
kill -0 "$pid" || fail "the first cloudlet (pid $pid) died when a second up of $VPN_IF_A was tried"
[[ -S $sock ]] || fail "a second up of $VPN_IF_A removed the first one's socket"
assert_eq "$pid" "$(cat "$cl_pidfile" 2>/dev/null)" "pid file after a second up"
vpn_ping b 2 || fail "B cannot ping cloudlet after a second up of the same name was tried"
assert_eq "$VPN_PUB_A" "$(vpn_wg a show "$VPN_IF_A" public-key)" "public key after a second up"

# ---- 3. peer add / remove -----------------------------------------------------------------------------------------
peer_pub=$(wg genkey | wg pubkey)
(umask 077 && "$CLOUDLET" vpn genpsk >"$E2E_TMP/psk")
cl peer add "$VPN_IF_A" "$peer_pub" --allowed-ips 10.77.0.50/32,10.88.0.0/16 --endpoint 192.0.2.99:40000 \
  --keepalive 25 --psk-file "$E2E_TMP/psk" >"$E2E_TMP/out" 2>&1 || fail "vpn peer add failed: $(cat "$E2E_TMP/out")"
vpn_wg a show "$VPN_IF_A" >"$E2E_TMP/wgshow" || fail "wg show $VPN_IF_A failed"
awk -v k="$peer_pub" '/^peer: / { on = ($2 == k) } on' "$E2E_TMP/wgshow" >"$E2E_TMP/wgpeer"
for want in "endpoint: 192.0.2.99:40000" "allowed ips: 10.77.0.50/32, 10.88.0.0/16" "preshared key: (hidden)" \
  "persistent keepalive: every 25 seconds"; do
  grep -qF "$want" "$E2E_TMP/wgpeer" || fail "wg show lacks '$want' for the added peer: $(cat "$E2E_TMP/wgshow")"
done
assert_eq "$(cat "$E2E_TMP/psk")" "$(peer_field preshared-keys "$peer_pub")" "the added peer's preshared key"
expect_fail 2 "10\.77\.0\.300" "peer add with bad allowed ips" -- \
  cl peer add "$VPN_IF_A" "$(wg genkey | wg pubkey)" --allowed-ips 10.77.0.300/32
assert_eq 2 "$(vpn_wg a show "$VPN_IF_A" peers | wc -l)" "peers after a refused peer add"
cl peer remove "$VPN_IF_A" "$peer_pub" >"$E2E_TMP/out" 2>&1 || fail "vpn peer remove failed: $(cat "$E2E_TMP/out")"
assert_eq "$VPN_PUB_B" "$(vpn_wg a show "$VPN_IF_A" peers)" "peers after peer remove"
expect_fail 1 "no peer" "peer remove of an unknown peer" -- cl peer remove "$VPN_IF_A" "$peer_pub"

# ---- 4. client: a file another wireguard-go runs, and a QR code ----------------------------------------------------
expect_fail 2 "--out.*--qr" "vpn client without --out or --qr" -- \
  cl client "$VPN_IF_A" --address 10.77.0.11/32 --endpoint "$VPN_UL_A:$VPN_PORT_A"
assert_eq 1 "$(vpn_wg a show "$VPN_IF_A" peers | wc -l)" "peers after a refused vpn client"
cfg=$E2E_TMP/client1.conf
cl client "$VPN_IF_A" --address 10.77.0.10/32 --endpoint "$VPN_UL_A:$VPN_PORT_A" --out "$cfg" >"$E2E_TMP/out" 2>&1 ||
  fail "vpn client --out failed: $(cat "$E2E_TMP/out")"
assert_eq 600 "$(stat -c %a "$cfg")" "mode of the client file"
client_pub=$(awk '$1 == "PrivateKey" { print $3 }' "$cfg" | wg pubkey) || fail "client file has no private key"
assert_eq 10.77.0.10/32 "$(peer_field allowed-ips "$client_pub")" "allowed ips of the peer vpn client added"
wg-quick strip "$cfg" >"$E2E_TMP/client1.wg" 2>"$E2E_TMP/strip.err" ||
  fail "wg-quick strip of the client file: $(cat "$E2E_TMP/strip.err")"
if_c=$(e2e_name vwc)
e2e_defer "rm -f /var/run/wireguard/$if_c.sock"
e2e_bg "$E2E_TMP/$if_c.log" ip netns exec "$VPN_NS_B" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$if_c"
wait_for "[[ -S /var/run/wireguard/$if_c.sock ]] && ip -n '$VPN_NS_B' link show '$if_c'" 10 ||
  fail "wireguard-go $if_c did not start: $(cat "$E2E_TMP/$if_c.log")"
timeout 10 ip netns exec "$VPN_NS_B" wg setconf "$if_c" "$E2E_TMP/client1.wg" || fail "wg setconf of the client file"
ip -n "$VPN_NS_B" addr add 10.77.0.10/32 dev "$if_c"
ip -n "$VPN_NS_B" link set "$if_c" up
ip -n "$VPN_NS_B" route add "$VPN_TUN_A/32" dev "$if_c" src 10.77.0.10  # B's own tunnel has the /24
wait_for "timeout 5 ip netns exec '$VPN_NS_B' ping -n -q -c 1 -W 1 -I 10.77.0.10 $VPN_TUN_A" 15 ||
  fail "the client made from the file cannot ping cloudlet's $VPN_TUN_A"
timeout 10 ip netns exec "$VPN_NS_A" ping -n -q -c 2 -W 1 10.77.0.10 >/dev/null ||
  fail "cloudlet cannot ping the client 10.77.0.10"

cl client "$VPN_IF_A" --address 10.77.0.12/32 --endpoint "$VPN_UL_A:$VPN_PORT_A" --qr >"$E2E_TMP/qr" \
  2>"$E2E_TMP/qr.err" || fail "vpn client --qr failed: $(cat "$E2E_TMP/qr.err")"
python3 - "$E2E_TMP/qr" <<'EOF' || fail "vpn client --qr: not a QR block: $(cat "$E2E_TMP/qr")"
import sys
lines = [l for l in open(sys.argv[1], encoding="utf-8").read().split("\n") if l.strip()]
widths = {len(l) for l in lines}
blocks = set("".join(lines)) - {" "}
assert len(lines) >= 12 and len(widths) == 1, (len(lines), widths)
assert blocks and blocks <= set("█▀▄"), blocks
assert abs(2 * len(lines) - widths.pop()) <= 4  # half-height blocks: about twice as wide in lines as tall
EOF
vpn_wg a show "$VPN_IF_A" allowed-ips | grep -qE "\s10\.77\.0\.12/32$" || fail "vpn client --qr did not add the peer"

# ---- 5. show --------------------------------------------------------------------------------------------------------
cl show "$VPN_IF_A" >"$E2E_TMP/show.txt" 2>&1 || fail "vpn show failed: $(cat "$E2E_TMP/show.txt")"
cl show "$VPN_IF_A" --format json >"$E2E_TMP/show.json" 2>&1 || fail "vpn show --format json failed"
python3 -m json.tool "$E2E_TMP/show.json" >/dev/null ||
  fail "vpn show --format json: not JSON: $(cat "$E2E_TMP/show.json")"
assert_eq 3 "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["peers"]))' "$E2E_TMP/show.json")" \
  "peers in vpn show --format json"
assert_eq "$VPN_PUB_A" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public_key"])' \
  "$E2E_TMP/show.json")" "public_key in vpn show --format json"
grep -qF "$VPN_PUB_B" "$E2E_TMP/show.txt" || fail "vpn show does not list peer B: $(cat "$E2E_TMP/show.txt")"
timeout 20 ip netns exec "$VPN_NS_A" "$CLOUDLET" vpn show >"$E2E_TMP/show-all.txt" 2>&1 || true  # others' sockets
grep -qx "interface: $VPN_IF_A" "$E2E_TMP/show-all.txt" ||
  fail "vpn show (no NAME) lacks $VPN_IF_A: $(cat "$E2E_TMP/show-all.txt")"
timeout 20 ip netns exec "$VPN_NS_A" "$CLOUDLET" vpn show --format json >"$E2E_TMP/show-all.json" 2>/dev/null || true
python3 -c 'import json,sys; assert sys.argv[2] in [d["interface"] for d in json.load(open(sys.argv[1]))]' \
  "$E2E_TMP/show-all.json" "$VPN_IF_A" || fail "vpn show --format json lacks $VPN_IF_A: $(cat "$E2E_TMP/show-all.json")"
vpn_wg a show "$VPN_IF_A" >"$E2E_TMP/wg-show.txt"
vpn_wg a show "$VPN_IF_A" public-key >"$E2E_TMP/wg-pub.txt"
priv_hex=$(base64 -d <<<"$priv" | od -An -tx1 | tr -d ' \n')
assert_eq 64 "${#priv_hex}" "hex private key length"
for f in show.txt show.json show-all.txt show-all.json wg-show.txt wg-pub.txt; do
  if grep -qiF -e "$priv" -e "$priv_hex" "$E2E_TMP/$f"; then fail "$f shows cloudlet's private key"; fi
done

# ---- 6. down --------------------------------------------------------------------------------------------------------
cl down "$VPN_IF_A" >"$E2E_TMP/out" 2>&1 || fail "vpn down failed: $(cat "$E2E_TMP/out")"
wait_for "! kill -0 $pid" 10 || fail "cloudlet (pid $pid) still runs after vpn down"
wait_for "! ip -n '$VPN_NS_A' link show '$VPN_IF_A'" 5 || fail "$VPN_IF_A still exists after vpn down"
nothing_created "after vpn down"
expect_fail 1 "not running" "vpn down of a name that is not up" -- cl down "$VPN_IF_A"
expect_fail 1 "not running" "vpn show of a name that is not up" -- cl show "$VPN_IF_A"
pass "vpn command line"

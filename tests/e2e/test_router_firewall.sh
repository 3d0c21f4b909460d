#!/usr/bin/env bash
# The virtual router and the stateful firewall end to end. One switch; VLAN 10 (zone web, two endpoints) and VLAN 20
# (zone db, one endpoint), both routed (IPv4 and IPv6 gateways on cloudlet's router); an "outside" namespace behind a
# veth whose host end is the router's uplink (masquerade from web, a port forward to db:80).
# Proves: inter-VLAN ping web->db by a rule; default deny db->web (ping and TCP); TCP web->db:80 carries 1 MiB
# intact; replies pass while a new connection db->web is blocked; reject answers at once (TCP refused, UDP ICMP port
# unreachable) where a drop times out; SNAT (the outside sees the uplink address); DNAT (outside -> uplink:8080 ->
# db:80); `firewall rules` counts hits; `firewall connections` lists a live web->db connection; `firewall trace`
# names the rule or the policy; TTL 1 gets "Time to live exceeded" from the gateway; IPv6 ping across by an
# icmpv6 rule.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/e2e/router_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/router_lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3 ping nc ss
probe_install

sw=$(e2e_name sw) w1=$(e2e_name w1) w2=$(e2e_name w2) d1=$(e2e_name d1)
out=$(e2e_name ou) uh=$(e2e_name uh) uo=$(e2e_name uo)
n=$((E2E_ID % 250))
B="10.$((160 + E2E_ID % 90))"              # $B.10.0/24 web, $B.20.0/24 db
U="172.30.$n"                              # uplink: $U.2 the router, $U.1 the outside
V6="fd$(printf %02x $((E2E_ID % 256)))"    # $V6:10::/64 web, $V6:20::/64 db
W1=$B.10.2 W2=$B.10.3 D1=$B.20.2

cfg=$E2E_TMP/router.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - {id: 10, name: web, ipv4: $B.10.1/24, ipv6: "$V6:10::1/64"}
  - {id: 20, name: db, ipv4: $B.20.1/24, ipv6: "$V6:20::1/64"}
switches:
  - name: $sw
endpoints:
  - {name: $w1, switch: $sw, vlan: 10, addresses: [$W1/24, "$V6:10::2/64"], gateway: $B.10.1}
  - {name: $w2, switch: $sw, vlan: 10, addresses: [$W2/24, "$V6:10::3/64"], gateway: $B.10.1}
  - {name: $d1, switch: $sw, vlan: 20, addresses: [$D1/24, "$V6:20::2/64"], gateway: $B.20.1}
router:
  switch: $sw
  uplink: {interface: $uh, zone: uplink, ipv4: $U.2/24, gateway4: $U.1}
  masquerade: [web]
  port_forwards: [{proto: tcp, port: 8080, to: $D1, to_port: 80}]
firewall:
  policies: [{from: web, to: uplink, action: accept}]
  rules:
    - {name: web-to-db, from: web, to: db, proto: tcp, dport: 80, action: accept}
    - {name: web-ping-db, from: web, to: db, proto: icmp, icmp_type: echo-request, action: accept}
    - {name: web-ping6-db, from: web, to: db, proto: icmpv6, icmp_type: echo-request, action: accept}
    - {name: no-81, from: web, to: db, proto: tcp, dport: 81, action: reject, log: true}
    - {name: no-udp-5000, from: web, to: db, proto: udp, dport: 5000, action: reject}
    - {name: fwd-db-http, from: uplink, to: db, proto: tcp, dport: 80, action: accept}
EOF

# The outside: a namespace on a veth whose host end becomes the router's uplink.
netns_add "$out"
veth_pair "$uh" "$uo" "" "$out"
ip -n "$out" addr add "$U.1/24" dev "$uo"

cloudlet_own "$cfg" "endpoint:$w1:$w1" "endpoint:$w2:$w2" "endpoint:$d1:$d1"
cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon.log"
cl validate --host "$cfg" >"$E2E_TMP/validate.out" 2>&1 || { cat "$E2E_TMP/validate.out" >&2; fail "validate --host"; }
cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" >&2; fail "cloudlet up failed"; }
cloudlet_down_at_exit "$cfg"
cl up "$cfg" >"$E2E_TMP/up2.out" 2>&1 || { cat "$E2E_TMP/up2.out" >&2; fail "second up failed"; }
grep -qi "nothing changed" "$E2E_TMP/up2.out" || fail "a second up with the router changed things: $(cat "$E2E_TMP/up2.out")"
fw_json trace --from nosuchzone --to db --proto tcp --dport 80 >"$E2E_TMP/trace0.out" 2>&1 &&
  fail "trace from an unknown zone succeeded: $(cat "$E2E_TMP/trace0.out")"
grep -qi "nosuchzone" "$E2E_TMP/trace0.out" || fail "trace from an unknown zone: unhelpful error: $(cat "$E2E_TMP/trace0.out")"

# Inter-VLAN routing by a rule; the reverse direction is denied by the default policy.
wait_for "ns_ping '$w1' '$D1'" 15 || fail "web -> db ping (rule web-ping-db) fails"
ns_ping "$w2" "$D1" || fail "second web endpoint cannot ping db"
if ns_ping "$d1" "$W1"; then fail "db -> web ping passed: default deny between zones broken"; fi

# Allowed service, replies, and no reverse connection. Servers: db:80 (hold, echo), web:80 (for the reverse check).
e2e_bg "$E2E_TMP/srv.d1" ip netns exec "$d1" "$PYTHON" "$E2E_TMP/probe.py" serve --hold --tcp 80,81 --udp 5000,5001
srv_d1=$E2E_LAST_PID
wait_for "grep -q ready '$E2E_TMP/srv.d1'" 10 || fail "server in $d1 did not start"
e2e_bg "$E2E_TMP/srv.w1" ip netns exec "$w1" "$PYTHON" "$E2E_TMP/probe.py" serve --tcp 80,2222 --udp 5000
wait_for "grep -q ready '$E2E_TMP/srv.w1'" 10 || fail "server in $w1 did not start"
assert_eq "accept connected" "$(probe_one "$w1" tcp "$W1" "$D1" 80 3)" "TCP web -> db:80 (rule web-to-db)"
assert_eq "drop timeout" "$(probe_one "$d1" tcp "$D1" "$W1" 80 2)" "new TCP db -> web:80 (default deny)"
assert_eq "drop timeout" "$(probe_one "$d1" tcp "$D1" "$W1" 2222 1)" "new TCP db -> web:2222 (default deny)"
assert_eq "drop timeout" "$(probe_one "$w1" tcp "$W1" "$D1" 82 1)" "TCP web -> db:82 (no rule: default deny)"
e2e_kill_pid "$E2E_LAST_PID" 2 # the web server; db's is still needed for `firewall connections`

# A long-lived web -> db:80 connection, seen by `firewall connections` while it is open; the echo proves replies.
cat >"$E2E_TMP/ll.py" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 80), timeout=3)
for i in range(int(sys.argv[2])):
    s.sendall(b"line %d\n" % i)
    buf = b""
    while not buf.endswith(b"\n"): buf += s.recv(100)
    print(buf.decode().strip(), flush=True)
    time.sleep(0.2)
PY
e2e_bg "$E2E_TMP/ll.out" ip netns exec "$w1" "$PYTHON" "$E2E_TMP/ll.py" "$D1" 25
ll_pid=$E2E_LAST_PID
wait_for "grep -q 'line 3' '$E2E_TMP/ll.out'" 10 || fail "long-lived web -> db:80 connection exchanges no lines: $(cat "$E2E_TMP/ll.out")"
fw_json connections >"$E2E_TMP/conns.json" || fail "firewall connections failed"
json_eval "[c for r in s['routers'] for c in r['connections'] if c['proto'] in ('tcp', 6) and c['src'] == '$W1'
  and c['dst'] == '$D1' and c['dport'] == 80 and c['packets_orig'] > 0 and c['packets_reply'] > 0]" \
  <"$E2E_TMP/conns.json" >"$E2E_TMP/conn.match"
[[ "$(cat "$E2E_TMP/conn.match")" != "[]" ]] || fail "firewall connections lacks the web -> db:80 connection: $(cat "$E2E_TMP/conns.json")"
grep -qi established "$E2E_TMP/conn.match" || fail "the web -> db:80 connection is not established: $(cat "$E2E_TMP/conn.match")"
cl firewall connections >"$E2E_TMP/conns.txt" || fail "firewall connections (table) failed"
grep -q "$D1" "$E2E_TMP/conns.txt" || fail "firewall connections table lacks $D1"
wait_for "! kill -0 $ll_pid" 30 || fail "long-lived connection did not finish"
wait "$ll_pid" 2>/dev/null || true
grep -q 'line 24' "$E2E_TMP/ll.out" || fail "long-lived connection broke off: $(tail -2 "$E2E_TMP/ll.out")"

# Reject answers at once; drop makes the client wait for its timeout.
t0=$(date +%s%N)
assert_eq "reject ECONNREFUSED" "$(probe_one "$w1" tcp "$W1" "$D1" 81 5)" "TCP web -> db:81 (rule no-81, reject)"
t_rej=$((($(date +%s%N) - t0) / 1000000))
t0=$(date +%s%N)
assert_eq "drop timeout" "$(probe_one "$w1" tcp "$W1" "$D1" 83 3)" "TCP web -> db:83 (drop)"
t_drop=$((($(date +%s%N) - t0) / 1000000))
((t_rej < 2000)) || fail "reject took $t_rej ms (a refusal should come at once)"
((t_drop >= 2900)) || fail "drop returned after $t_drop ms, before the client's 3 s timeout"
assert_eq "reject ECONNREFUSED" "$(probe_one "$w1" udp "$W1" "$D1" 5000 3)" "UDP web -> db:5000 (rule no-udp-5000)"
assert_eq "drop timeout" "$(probe_one "$w1" udp "$W1" "$D1" 5001 1)" "UDP web -> db:5001 (default deny)"
e2e_log "reject answered in $t_rej ms; drop timed out after $t_drop ms"

# A rule with `log: true` writes one line per connection it decides, into the daemon's log.
wait_for "grep -q \"firewall: rule 'no-81' reject proto 6 $W1:[0-9]* -> $D1:81 (web -> db)\" '$E2E_TMP/daemon.log'" 5 ||
  fail "no log line for the rejected connection (rule no-81 has log: true): $(grep firewall "$E2E_TMP/daemon.log")"

# Counters and traces.
fw_json rules >"$E2E_TMP/rules.json" || fail "firewall rules failed"
hits=$(json_eval "next(x['packets'] for r in s['routers'] for x in r['rules'] if x['name'] == 'web-to-db')" \
  <"$E2E_TMP/rules.json")
((hits > 0)) || fail "rule web-to-db shows no hits: $(cat "$E2E_TMP/rules.json")"
cl firewall rules >"$E2E_TMP/rules.txt" || fail "firewall rules (table) failed"
grep -q web-to-db "$E2E_TMP/rules.txt" || fail "firewall rules table lacks web-to-db"
fw_json trace --from web --to db --proto tcp --src "$W1" --dst "$D1" --dport 80 >"$E2E_TMP/trace1.json" ||
  fail "firewall trace failed"
assert_eq "accept rule web-to-db" "$(json_eval "'%s %s %s' % (s['action'], s['by'], s['rule_name'])" \
  <"$E2E_TMP/trace1.json")" "trace web -> db tcp/80"
fw_json trace --from db --to web --proto tcp --dport 80 >"$E2E_TMP/trace2.json" || fail "firewall trace failed"
assert_eq "drop policy" "$(json_eval "'%s %s' % (s['action'], s['by'])" <"$E2E_TMP/trace2.json")" \
  "trace db -> web tcp/80"
fw_json trace --from web --to db --proto tcp --dport 81 >"$E2E_TMP/trace3.json" || fail "firewall trace failed"
assert_eq "reject no-81" "$(json_eval "'%s %s' % (s['action'], s['rule_name'])" <"$E2E_TMP/trace3.json")" \
  "trace web -> db tcp/81"

# TTL 1: the gateway answers with time exceeded instead of forwarding.
ip netns exec "$w1" ping -n -c1 -W2 -t 1 "$D1" >"$E2E_TMP/ttl.out" 2>&1 || true
grep -q "From $B.10.1 .*Time to live exceeded" "$E2E_TMP/ttl.out" ||
  fail "ping -t 1 did not get 'Time to live exceeded' from $B.10.1: $(cat "$E2E_TMP/ttl.out")"

# Stop db's probe server so nc can take :80 for the bulk check and the port forward.
e2e_kill_pid "$srv_d1" 2
tcp_check_port "$d1" 80 "$w1" "$D1" 80 || fail "1 MiB web -> db:80 did not arrive intact"

# SNAT: the outside sees the uplink address as the peer. (The outside routes the cloud's subnets to the uplink, so
# that a missing SNAT would show as the endpoint's own address, and a direct connection inward reaches the router.)
ip -n "$out" route add "$B.0.0/16" via "$U.2"
cat >"$E2E_TMP/peer.py" <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4); s.settimeout(20)
print("ready", flush=True)
c, a = s.accept()
print("peer", a[0], flush=True)
c.sendall(b"hello\n"); c.close()
PY
e2e_bg "$E2E_TMP/peer.out" ip netns exec "$out" "$PYTHON" "$E2E_TMP/peer.py" 7000
wait_for "grep -q ready '$E2E_TMP/peer.out'" 10 || fail "outside server did not start"
reply=$(timeout 10 ip netns exec "$w1" nc -n -w 5 "$U.1" 7000 </dev/null || true)
assert_eq "hello" "$reply" "web -> outside through masquerade"
wait_for "grep -q peer '$E2E_TMP/peer.out'" 5 || true
assert_eq "peer $U.2" "$(grep peer "$E2E_TMP/peer.out")" "the address the outside sees (SNAT to the uplink)"
if [[ "$(probe_one "$out" tcp "$U.1" "$W1" 80 1)" != "drop timeout" ]]; then
  fail "the outside reaches a web endpoint directly"
fi

# DNAT: outside -> uplink:8080 -> db:80, 1 MiB intact.
tcp_check_port "$d1" 80 "$out" "$U.2" 8080 || fail "port forward $U.2:8080 -> $D1:80 did not carry 1 MiB intact"

# IPv6 across the router (icmpv6 rule); default routes set here (an endpoint has one `gateway`).
ip -n "$w1" -6 route replace default via "$V6:10::1"
ip -n "$d1" -6 route replace default via "$V6:20::1"
wait_for "timeout 5 ip netns exec '$w1' ping -6 -n -c1 -W1 '$V6:20::2'" 15 ||
  fail "IPv6 ping web -> db ($V6:20::2) fails"
if timeout 5 ip netns exec "$d1" ping -6 -n -c2 -W1 "$V6:10::2" >/dev/null 2>&1; then
  fail "IPv6 ping db -> web passed: default deny broken for IPv6"
fi

# Status shows the router.
status_json >"$E2E_TMP/status.json" || fail "status failed"
assert_eq "$sw" "$(json_eval "s['routers'][0]['switch']" <"$E2E_TMP/status.json")" "router's switch in status"
assert_eq "true" "$(json_eval "any(x['address'] == '$D1' and x['mac'] != '' for x in s['routers'][0]['neighbours'])" \
  <"$E2E_TMP/status.json")" "status lists db's endpoint as a resolved neighbour"
for c in forwarded firewall_drop firewall_reject ttl_exceeded; do
  v=$(json_eval "s['routers'][0]['counters']['$c']" <"$E2E_TMP/status.json")
  ((v > 0)) || fail "router counter $c is $v after traffic that should count there"
done

cl down "$cfg" >"$E2E_TMP/down.out" 2>&1 || { cat "$E2E_TMP/down.out" >&2; fail "down failed"; }
assert_eq "0" "$(status_json | json_eval "len(s.get('routers', []))")" "routers after down"
pass "router + firewall: inter-VLAN rules, default deny, stateful replies, reject vs drop ($t_rej ms vs $t_drop ms), SNAT, DNAT, counters, connections, trace, TTL, IPv6"

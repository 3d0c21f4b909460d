#!/usr/bin/env bash
# Differential test of cloudlet's firewall against nftables. One policy (three zones, address sets, port ranges,
# accept / drop / reject rules, an ICMP type rule, per zone pair policies) is written once in Python and rendered
# both as an nftables ruleset (inet table, forward chain, ct state established,related accept, iifname/oifname per
# zone) on a Linux router namespace and as the cloudlet YAML (VLANs with gateways on cloudlet's router). A seeded
# generator makes >= 60 traffic cases (TCP/UDP/ICMP, both directions between the zones, range boundaries, set
# members and non-members); every case runs through both setups with the same probe (TCP connect, UDP echo, ping;
# 1 s timeouts) and gets accept / drop (timeout) / reject (refused or ICMP error).
# Proves: nftables gives the verdicts of a reference evaluation of the policy (the harness is right), and cloudlet
# gives the same verdict as nftables for every case (a table of differences otherwise).
# FW_DIFF_SEED=N picks another case set (default 4).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/e2e/router_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/router_lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip nft python3 ping
SEED=${FW_DIFF_SEED:-4}
B="10.$((160 + E2E_ID % 90))" # zone subnets $B.10/24 (web), $B.20/24 (db), $B.30/24 (ops); .1 is the router
probe_install

# ---------------------------------------------------------------------------------------------------------------
# The policy, the cases and the reference verdicts, rendered for both firewalls.
rw=$(e2e_name rw) rd=$(e2e_name rd) ro=$(e2e_name ro) # router-side interfaces (zones web, db, ops)
python3 - "$B" "$SEED" "$E2E_TMP" "$rw" "$rd" "$ro" <<'PY'
import ipaddress, json, random, sys
B, seed, out, rw, rd, ro = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
zones = {"web": (10, rw), "db": (20, rd), "ops": (30, ro)}
net = lambda z: "%s.%d" % (B, zones[z][0])
sets = {"admins": ["%s.5" % net("web"), "%s.4/31" % net("ops")]}
policies = [("ops", "web", "accept"), ("web", "ops", "reject")]  # other pairs: drop
R = lambda name, **kw: dict(name=name, **kw)
rules = [
    R("web-db-http", frm=["web"], to=["db"], proto="tcp", dport=[(80, 80), (443, 443)], action="accept"),
    R("web-db-alt", frm=["web"], to=["db"], proto="tcp", dport=[(8000, 8099)], action="accept"),
    R("web-db-no81", frm=["web"], to=["db"], proto="tcp", dport=[(81, 81)], action="reject"),
    R("web-db-dns", frm=["web"], to=["db"], proto="udp", dport=[(53, 53)], action="accept"),
    R("web-db-udprej", frm=["web"], to=["db"], proto="udp", dport=[(5000, 5009)], action="reject"),
    R("admin-ssh", frm=["web", "ops"], to=["db"], src=["@admins"], proto="tcp", dport=[(22, 22)], action="accept"),
    R("admin-ping-db", frm=["any"], to=["db"], src=["@admins"], proto="icmp", icmp_type="echo-request",
      action="accept"),
    R("ops-ping-db", frm=["ops"], to=["db"], proto="icmp", action="reject"),
    R("db-web-syslog", frm=["db"], to=["web"], proto="udp", dport=[(514, 514)], action="accept"),
    R("db-ops-mon", frm=["db"], to=["ops"], dst=["%s.2" % net("ops"), "%s.3" % net("ops")], proto="tcp",
      dport=[(9000, 9100)], action="accept"),
    R("ops-web-telnet", frm=["ops"], to=["web"], proto="tcp", dport=[(23, 23)], action="reject"),
    R("ops-web-udpdrop", frm=["ops"], to=["web"], proto="udp", dport=[(1000, 1999)], action="drop"),
    R("web-ops-ping", frm=["web"], to=["ops"], proto="icmp", icmp_type="echo-request", action="accept"),
    R("web-ops-dns", frm=["web"], to=["ops"], dst=["@admins"], proto="udp", dport=[(53, 53)], action="accept"),
]
tcp_ports = [22, 23, 24, 79, 80, 81, 82, 442, 443, 444, 7999, 8000, 8001, 8050, 8098, 8099, 8100, 8999, 9000, 9050,
             9100, 9101]
udp_ports = [52, 53, 54, 513, 514, 515, 999, 1000, 1500, 1999, 2000, 4999, 5000, 5005, 5009, 5010]

# Reference evaluation: first matching rule, else the zone pair's policy, else drop between zones.
def in_list(addr, lst):
    a = ipaddress.ip_address(addr)
    for e in lst:
        for x in (sets[e[1:]] if e.startswith("@") else [e]):
            if a in ipaddress.ip_network(x, strict=False): return True
    return False
def verdict(c):
    for r in rules:
        if "any" not in r["frm"] and c["from"] not in r["frm"]: continue
        if c["to"] not in r["to"]: continue
        if r["proto"] != c["proto"]: continue
        if "dport" in r and not any(lo <= c["port"] <= hi for lo, hi in r["dport"]): continue
        if "src" in r and not in_list(c["src"], r["src"]): continue
        if "dst" in r and not in_list(c["dst"], r["dst"]): continue
        return r["action"], r["name"]
    for f, t, a in policies:
        if (f, t) == (c["from"], c["to"]): return a, "policy"
    return "drop", "policy"

# Cases: one that hits each rule (at a range boundary when it has one), then seeded random ones.
rng = random.Random(seed)
pairs = [(f, t) for f in zones for t in zones if f != t]
def addr(z, last=None): return "%s.%d" % (net(z), last if last else rng.randint(2, 5))
cases = []
def add(f, t, proto, src, dst, port):
    c = {"from": f, "to": t, "proto": proto, "src": src, "dst": dst, "port": port if proto != "icmp" else 0}
    key = tuple(sorted(c.items()))
    if key not in {tuple(sorted(x.items())) for x in cases}: cases.append(c)
for r in rules:
    f = rng.choice([z for z in zones if z not in r["to"]] if "any" in r["frm"] else r["frm"])
    t = r["to"][0]
    src = addr(f, 5 if "src" in r and f == "web" else 4 if "src" in r else None)
    dst = addr(t, 2 if "dst" in r else None)
    if "dport" in r:
        for lo, hi in r["dport"]:
            add(f, t, r["proto"], src, dst, lo); add(f, t, r["proto"], src, dst, hi)
            add(f, t, r["proto"], src, dst, hi + 1)
    else:
        add(f, t, r["proto"], src, dst, 0)
while len(cases) < 96:
    f, t = rng.choice(pairs)
    proto = rng.choices(["tcp", "udp", "icmp"], [45, 35, 20])[0]
    add(f, t, proto, addr(f), addr(t), rng.choice(tcp_ports if proto == "tcp" else udp_ports))
for i, c in enumerate(cases):
    c["id"] = "c%03d" % i
    c["expect"], c["by"] = verdict(c)
json.dump(cases, open(out + "/cases.json", "w"), indent=1)
for z in zones:
    with open("%s/cases.%s" % (out, z), "w") as fh:
        for c in cases:
            if c["from"] == z: fh.write("%s %s %s %s %d\n" % (c["id"], c["proto"], c["src"], c["dst"], c["port"]))
open(out + "/ports", "w").write("%s %s\n" % (",".join(map(str, tcp_ports)), ",".join(map(str, udp_ports))))

# nftables: the same rules in the forward chain of a router namespace.
def zmatch(key, zs):
    return "" if "any" in zs else "%s { %s } " % (key, ", ".join('"%s"' % zones[z][1] for z in zs))
def amatch(key, lst):
    if len(lst) == 1 and lst[0].startswith("@"): return "ip %s %s " % (key, lst[0])
    return "ip %s { %s } " % (key, ", ".join(lst))
nft = ["table inet fwdiff {"]
for name, entries in sets.items():
    nft.append("  set %s { type ipv4_addr; flags interval; elements = { %s } }" % (name, ", ".join(entries)))
nft += ["  chain forward {", "    type filter hook forward priority filter; policy drop;",
        "    ct state established,related accept", "    ct state invalid drop"]
for r in rules:
    m = zmatch("iifname", r["frm"]) + zmatch("oifname", r["to"])
    if "src" in r: m += amatch("saddr", r["src"])
    if "dst" in r: m += amatch("daddr", r["dst"])
    m += "meta l4proto %s " % r["proto"]
    if "dport" in r:
        m += "%s dport { %s } " % (r["proto"], ", ".join(str(lo) if lo == hi else "%d-%d" % (lo, hi)
                                                        for lo, hi in r["dport"]))
    if "icmp_type" in r: m += "icmp type %s " % r["icmp_type"]
    act = r["action"]
    if act == "reject": act = "reject with tcp reset" if r["proto"] == "tcp" else "reject"
    nft.append("    %s%s comment \"%s\"" % (m, act, r["name"]))
for f, t, a in policies:
    m = zmatch("iifname", [f]) + zmatch("oifname", [t])
    if a == "reject":
        nft.append("    %smeta l4proto tcp reject with tcp reset" % m)
        nft.append("    %sreject" % m)
    else:
        nft.append("    %s%s" % (m, a))
nft += ["  }", "}"]
open(out + "/fw.nft", "w").write("\n".join(nft) + "\n")

# cloudlet: the firewall section of the project YAML.
def ports(rs): return "[%s]" % ", ".join(str(lo) if lo == hi else "%d-%d" % (lo, hi) for lo, hi in rs)
def strs(l): return "[%s]" % ", ".join('"%s"' % x for x in l)
y = ["firewall:", "  sets:"]
for name, entries in sets.items(): y.append("    %s: %s" % (name, strs(entries)))
y.append("  policies:")
for f, t, a in policies: y.append("    - {from: %s, to: %s, action: %s}" % (f, t, a))
y.append("  rules:")
for r in rules:
    fields = ["name: %s" % r["name"], "from: %s" % strs(r["frm"]), "to: %s" % strs(r["to"])]
    if "src" in r: fields.append("src: %s" % strs(r["src"]))
    if "dst" in r: fields.append("dst: %s" % strs(r["dst"]))
    fields.append("proto: %s" % r["proto"])
    if "dport" in r: fields.append("dport: %s" % ports(r["dport"]))
    if "icmp_type" in r: fields.append("icmp_type: %s" % r["icmp_type"])
    fields.append("action: %s" % r["action"])
    y.append("    - {%s}" % ", ".join(fields))
open(out + "/firewall.yaml", "w").write("\n".join(y) + "\n")
print("%d cases (%s)" % (len(cases), ", ".join("%s %d" % (v, sum(c["expect"] == v for c in cases))
                                               for v in ("accept", "drop", "reject"))))
PY
ncases=$(python3 -c "import json; print(len(json.load(open('$E2E_TMP/cases.json'))))")
((ncases >= 60)) || fail "only $ncases cases generated"
read -r TCP_PORTS UDP_PORTS <"$E2E_TMP/ports"

# run_cases LABEL NS_WEB NS_DB NS_OPS: starts the probe servers in the three namespaces, runs each zone's cases from
# its namespace (the three batches in parallel), writes $E2E_TMP/result.LABEL ("ID VERDICT DETAIL" lines), and
# re-runs once the cases that timed out (a first packet lost to neighbour resolution is not a firewall verdict).
run_cases() {
  local label=$1 z ns pids=() i=0 mark
  local -A nsof=([web]=$2 [db]=$3 [ops]=$4)
  mark=${#E2E_CLEANUP[@]}
  for z in web db ops; do
    ns=${nsof[$z]}
    e2e_bg "$E2E_TMP/serve.$label.$z" ip netns exec "$ns" "$PYTHON" "$E2E_TMP/probe.py" serve --tcp "$TCP_PORTS" \
      --udp "$UDP_PORTS"
    wait_for "grep -q ready '$E2E_TMP/serve.$label.$z'" 10 || fail "probe server in $ns did not start"
  done
  for z in web db ops; do
    timeout 60 ip netns exec "${nsof[$z]}" "$PYTHON" "$E2E_TMP/probe.py" run "$E2E_TMP/cases.$z" --timeout 1 \
      >"$E2E_TMP/result.$label.$z" 2>"$E2E_TMP/result.$label.$z.err" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || fail "probe run failed in $label: $(cat "$E2E_TMP"/result."$label".*.err)"; done
  pids=()
  for z in web db ops; do
    awk '$2 == "drop"' "$E2E_TMP/result.$label.$z" | while read -r id _; do grep "^$id " "$E2E_TMP/cases.$z"; done \
      >"$E2E_TMP/retry.$z" || true
    : >"$E2E_TMP/retry.$label.$z"
    if [[ -s "$E2E_TMP/retry.$z" ]]; then
      timeout 60 ip netns exec "${nsof[$z]}" "$PYTHON" "$E2E_TMP/probe.py" run "$E2E_TMP/retry.$z" --timeout 1 \
        >"$E2E_TMP/retry.$label.$z" &
      pids+=($!)
    fi
  done
  for i in "${pids[@]}"; do wait "$i" || fail "probe retry failed in $label"; done
  for z in web db ops; do
    awk '$2 != "drop" {print $1}' "$E2E_TMP/retry.$label.$z" >"$E2E_TMP/flaky.$label.$z"
    if [[ -s "$E2E_TMP/flaky.$label.$z" ]]; then
      e2e_log "$label: case(s) $(tr '\n' ' ' <"$E2E_TMP/flaky.$label.$z")from $z timed out once, then passed the retry"
    fi
    # The retry's verdict replaces the first one.
    "$PYTHON" - "$E2E_TMP/result.$label.$z" "$E2E_TMP/retry.$label.$z" <<'PY'
import sys
res = {l.split()[0]: l for l in open(sys.argv[1]) if l.strip()}
for l in open(sys.argv[2]):
    if l.strip(): res[l.split()[0]] = l
open(sys.argv[1], "w").write("".join(res[k] for k in sorted(res)))
PY
  done
  cat "$E2E_TMP"/result."$label".{web,db,ops} | sort >"$E2E_TMP/result.$label"
  e2e_unwind "$mark"
}

# compare LABEL_A LABEL_B: prints a table of the cases whose verdicts differ; returns 1 if any does.
# LABEL "expect" is the reference evaluation.
compare() {
  python3 - "$E2E_TMP" "$1" "$2" <<'PY'
import json, sys
d, a, b = sys.argv[1:4]
cases = {c["id"]: c for c in json.load(open(d + "/cases.json"))}
def load(label):
    if label == "expect": return {k: (c["expect"], "by " + c["by"]) for k, c in cases.items()}
    return {l.split()[0]: (l.split()[1], l.split()[2]) for l in open("%s/result.%s" % (d, label)) if l.strip()}
ra, rb = load(a), load(b)
bad = [k for k in sorted(cases) if ra.get(k, ("missing",))[0] != rb.get(k, ("missing",))[0]]
if bad:
    print("%-5s %-4s %-3s %-4s %-15s %-15s %-5s | %-22s | %-22s | %s" % ("case", "from", "to", "prot", "src", "dst",
          "port", a, b, "reference"))
    for k in bad:
        c = cases[k]
        print("%-5s %-4s %-3s %-4s %-15s %-15s %-5d | %-22s | %-22s | %s (%s)" % (
            k, c["from"], c["to"], c["proto"], c["src"], c["dst"], c["port"], " ".join(ra.get(k, ("missing", ""))),
            " ".join(rb.get(k, ("missing", ""))), c["expect"], c["by"]))
    print("%d of %d cases differ between %s and %s" % (len(bad), len(cases), a, b))
    sys.exit(1)
print("all %d cases agree between %s and %s" % (len(cases), a, b))
PY
}

# ---------------------------------------------------------------------------------------------------------------
# nftables half: a Linux router namespace with the ruleset, three client namespaces (addresses .2-.5 each).
t_nft=$SECONDS
router=$(e2e_name nr)
netns_add "$router"
ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1
declare -A nft_ns
for z in web:10:"$rw" db:20:"$rd" ops:30:"$ro"; do
  IFS=: read -r zone vid rif <<<"$z"
  ns=$(e2e_name "n$zone")
  netns_add "$ns"
  veth_pair "$rif" "$(e2e_name "c$zone")" "$router" "$ns"
  ip -n "$ns" link set "$(e2e_name "c$zone")" down
  ip -n "$ns" link set "$(e2e_name "c$zone")" name eth0
  ip -n "$ns" link set eth0 up
  ip -n "$router" addr add "$B.$vid.1/24" dev "$rif"
  for h in 2 3 4 5; do ip -n "$ns" addr add "$B.$vid.$h/24" dev eth0; done
  ip -n "$ns" route add default via "$B.$vid.1"
  nft_ns[$zone]=$ns
done
ip netns exec "$router" nft -f "$E2E_TMP/fw.nft" || { cat -n "$E2E_TMP/fw.nft" >&2; fail "nft rejected the ruleset"; }
run_cases nft "${nft_ns[web]}" "${nft_ns[db]}" "${nft_ns[ops]}"
compare expect nft || {
  ip netns exec "$router" nft list ruleset >&2
  fail "nftables does not give the reference verdicts (the harness or the reference model is wrong)"
}
e2e_log "nftables half: $ncases cases in $((SECONDS - t_nft)) s"

# ---------------------------------------------------------------------------------------------------------------
# cloudlet half: the same zones as routed VLANs on one switch, the same firewall, the same probe.
t_cl=$SECONDS
sw=$(e2e_name sw) ew=$(e2e_name ew) ed=$(e2e_name ed) eo=$(e2e_name eo)
cfg=$E2E_TMP/fwdiff.yaml
{
  cat <<EOF
version: 1
vlans:
  - {id: 10, name: web, ipv4: $B.10.1/24}
  - {id: 20, name: db, ipv4: $B.20.1/24}
  - {id: 30, name: ops, ipv4: $B.30.1/24}
switches:
  - name: $sw
router:
  switch: $sw
endpoints:
EOF
  for e in "$ew":10 "$ed":20 "$eo":30; do
    cat <<EOF
  - name: ${e%:*}
    switch: $sw
    vlan: ${e#*:}
    addresses: [$B.${e#*:}.2/24, $B.${e#*:}.3/24, $B.${e#*:}.4/24, $B.${e#*:}.5/24]
    gateway: $B.${e#*:}.1
EOF
  done
  cat "$E2E_TMP/firewall.yaml"
} >"$cfg"
cloudlet_own "$cfg" "endpoint:$ew:$ew" "endpoint:$ed:$ed" "endpoint:$eo:$eo"
cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon.log"
cl up "$cfg" >"$E2E_TMP/up.out" 2>&1 || { cat "$E2E_TMP/up.out" "$cfg" >&2; fail "cloudlet up failed"; }
cloudlet_down_at_exit "$cfg"
# Every address resolves its gateway once, so the router knows all neighbours before the timed cases.
for e in "$ew":10 "$ed":20 "$eo":30; do
  for h in 2 3 4 5; do
    timeout 5 ip netns exec "${e%:*}" ping -n -q -c1 -W2 -I "$B.${e#*:}.$h" "$B.${e#*:}.1" >/dev/null 2>&1 ||
      fail "${e%:*} ($B.${e#*:}.$h) cannot ping its gateway $B.${e#*:}.1"
  done
done
run_cases cloudlet "$ew" "$ed" "$eo"
if ! compare nft cloudlet >"$E2E_TMP/diff.txt"; then
  cat "$E2E_TMP/diff.txt" >&2
  cl firewall rules >&2 || true
  fail "cloudlet and nftables disagree"
fi
e2e_log "cloudlet half: $ncases cases in $((SECONDS - t_cl)) s"
pass "cloudlet's firewall and nftables agree on $ncases generated cases (seed $SEED)"

#!/usr/bin/env bash
# `up` is idempotent and `down` removes exactly what `up` created. Two switches joined by a link; endpoint a1 gets a
# namespace cloudlet creates, endpoint p1 lives in a namespace the test made before `up` (with an interface of its
# own). Proves: a second `up` says "nothing changed" and leaves every interface (same ifindex), namespace and address
# as it was; `down` deletes the clp*/cll* veths and the namespace cloudlet created, but keeps the pre-existing
# namespace (and what the test put in it) while removing cloudlet's veth from it; status then shows no switches; the
# daemon stops on SIGTERM and leaves no process behind.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3 ping pgrep

s1=$(e2e_name s1) s2=$(e2e_name s2) lk=$(e2e_name lk)
a1=$(e2e_name a1) p1=$(e2e_name p1) pre=$(e2e_name pre)
keep=$(e2e_name kp)
net="10.96.$((E2E_ID % 250))"

# The pre-existing namespace, with a veth pair of the test's own inside it (must survive `down`).
netns_add "$pre"
veth_pair "${keep}0" "${keep}1" "$pre" "$pre"

cfg=$E2E_TMP/idem.yaml
cat >"$cfg" <<EOF
version: 1
vlans:
  - id: 10
switches:
  - name: $s1
  - name: $s2
links:
  - name: $lk
    between: [$s1, $s2]
    vlans: [10]
endpoints:
  - name: $a1
    switch: $s1
    vlan: 10
    addresses: [$net.1/24]
  - name: $p1
    switch: $s2
    vlan: 10
    netns: $pre
    interface: eth7
    addresses: [$net.2/24]
EOF

cloudlet_own "$cfg" "endpoint:$a1:$a1" "endpoint:$p1" "link:$lk"
cloudlet_daemon_start
cloudlet_down_at_exit "$cfg"

cl up "$cfg" >"$E2E_TMP/up1.out" 2>&1 || { cat "$E2E_TMP/up1.out" >&2; fail "first cloudlet up failed"; }
echo "--- first up:"
cat "$E2E_TMP/up1.out"
[[ -s "$E2E_TMP/up1.out" ]] || fail "first up printed nothing (expected one line per action)"
if grep -qi "nothing changed" "$E2E_TMP/up1.out"; then fail "first up claims nothing changed"; fi

wait_for "ns_ping '$a1' '$net.2'" 15 || fail "$a1 cannot ping $p1 ($net.2) in the pre-existing namespace"

# Every name cloudlet reports for this project, plus this run's id, is what the snapshots watch.
status_json >"$E2E_TMP/status1.json" || fail "status failed"
reported=$(json_eval "sorted(set([e['host_interface'] for e in s['endpoints']] + [p['interface'] for x in s['switches'] for p in x['ports']]))" <"$E2E_TMP/status1.json") ||
  fail "status JSON lacks endpoints[].host_interface or ports[].interface"
mapfile -t created_ifs < <(python3 -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$reported")
echo "cloudlet interfaces reported by status: ${created_ifs[*]}"
[[ ${#created_ifs[@]} -eq 4 ]] || fail "expected 4 host interfaces (2 endpoint veths, 2 link ends), status shows: ${created_ifs[*]}"
for ifn in "${created_ifs[@]}"; do
  [[ "$ifn" == clp* || "$ifn" == cll* ]] || fail "interface '$ifn' does not start with clp/cll"
  ip link show "$ifn" >/dev/null 2>&1 || fail "interface $ifn (from status) does not exist on the host"
done
re="$E2E_ID|$(
  IFS='|'
  echo "${created_ifs[*]}"
)"
ip -n "$pre" link show eth7 >/dev/null 2>&1 || fail "cloudlet did not put eth7 into the pre-existing namespace $pre"

host_snapshot "$re" >"$E2E_TMP/snap1"
grep -q "$net.1/24" "$E2E_TMP/snap1" || fail "snapshot misses $a1's address; snapshot: $(cat "$E2E_TMP/snap1")"
grep -q "$net.2/24" "$E2E_TMP/snap1" || fail "snapshot misses $p1's address"

cl up "$cfg" >"$E2E_TMP/up2.out" 2>&1 || { cat "$E2E_TMP/up2.out" >&2; fail "second cloudlet up failed"; }
echo "--- second up:"
cat "$E2E_TMP/up2.out"
grep -qi "nothing changed" "$E2E_TMP/up2.out" || fail "second up did not say 'nothing changed': $(cat "$E2E_TMP/up2.out")"
host_snapshot "$re" >"$E2E_TMP/snap2"
diff -u "$E2E_TMP/snap1" "$E2E_TMP/snap2" >&2 || fail "second up changed the host (diff above)"
ns_ping "$a1" "$net.2" || fail "ping $a1 -> $p1 broke after the second up"

cl down "$cfg" >"$E2E_TMP/down.out" 2>&1 || { cat "$E2E_TMP/down.out" >&2; fail "cloudlet down failed"; }
echo "--- down:"
cat "$E2E_TMP/down.out"

for ifn in "${created_ifs[@]}"; do
  if ip link show "$ifn" >/dev/null 2>&1; then fail "interface $ifn still exists after down"; fi
done
for ifn in $(cloudlet_ifname endpoint "$cfg" "$a1") $(cloudlet_ifname endpoint "$cfg" "$p1") \
  $(cloudlet_ifname link "$cfg" "$lk" a) $(cloudlet_ifname link "$cfg" "$lk" b); do
  if ip link show "$ifn" >/dev/null 2>&1; then fail "interface $ifn still exists after down"; fi
done
if ip netns list | awk '{print $1}' | grep -qxF "$a1"; then fail "namespace $a1 (created by cloudlet) still exists after down"; fi
ip netns list | awk '{print $1}' | grep -qxF "$pre" || fail "pre-existing namespace $pre was deleted by down"
if ip -n "$pre" link show eth7 >/dev/null 2>&1; then fail "cloudlet's eth7 is still in $pre after down"; fi
ip -n "$pre" link show "${keep}0" >/dev/null 2>&1 || fail "the test's own ${keep}0 in $pre disappeared with down"

status_json >"$E2E_TMP/status2.json" || fail "status after down failed"
left=$(json_eval "[len(s['switches']), len(s['endpoints'])]" <"$E2E_TMP/status2.json")
assert_eq "[0, 0]" "$left" "switches and endpoints in status after down"

# A second down of a project that is not up must not remove anything else (and must not crash the daemon).
cl down "$cfg" >"$E2E_TMP/down2.out" 2>&1 || true
kill -0 "$CLOUDLET_PID" 2>/dev/null || fail "daemon died on a second down: $(cat "$E2E_TMP/down2.out")"
ip netns list | awk '{print $1}' | grep -qxF "$pre" || fail "pre-existing namespace $pre deleted by a second down"

# SIGTERM: the daemon exits, nothing of it remains.
kill -TERM "$CLOUDLET_PID"
wait_for "! kill -0 $CLOUDLET_PID" 10 || fail "daemon (pid $CLOUDLET_PID) still running 10 s after SIGTERM"
rc=0
wait "$CLOUDLET_PID" 2>/dev/null || rc=$?
echo "daemon exit status after SIGTERM: $rc"
if pgrep -f -- "$CLOUDLET_SOCKET" >/dev/null; then
  fail "processes still mention $CLOUDLET_SOCKET: $(pgrep -a -f -- "$CLOUDLET_SOCKET")"
fi
[[ ! -S "$CLOUDLET_SOCKET" ]] || fail "daemon left its socket $CLOUDLET_SOCKET behind after SIGTERM"
assert_eq 0 "$rc" "daemon exit status after SIGTERM"
for ifn in "${created_ifs[@]}"; do
  if ip link show "$ifn" >/dev/null 2>&1; then fail "interface $ifn reappeared"; fi
done

pass "second up changed nothing (same ifindexes, namespaces, addresses); down removed clp/cll veths and its own namespace, kept the pre-existing one; daemon gone on SIGTERM"

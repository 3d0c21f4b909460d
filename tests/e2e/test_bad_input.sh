#!/usr/bin/env bash
# Bad input changes nothing and says where the problem is. Each broken file (unknown key, VLAN 0, VLAN 4095, a
# duplicate switch name, one interface on two switches, an interface that does not exist) makes `up` exit 2 with
# FILE:LINE and the field in its message (the line is the one marked "# BAD" in the file), and the host is exactly
# as before. `validate` reports the same. Without a daemon, `up` and `status` exit 1 saying they cannot reach it.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3

s1=$(e2e_name s1) s2=$(e2e_name s2) e1=$(e2e_name e1) e2=$(e2e_name e2)
up_if=$(e2e_name up) up_peer=$(e2e_name uq) missing_if=$(e2e_name nx)
net="10.95.$((E2E_ID % 250))"
veth_pair "$up_if" "$up_peer"  # an interface that exists, for the "same interface on two switches" case

# The endpoints every file declares (two on s1, VLAN 10).
endpoints() {
  cat <<EOF
endpoints:
  - name: $e1
    switch: $s1
    vlan: 10
    addresses: [$net.1/24]
  - name: $e2
    switch: $s1
    vlan: 10
    addresses: [$net.2/24]
EOF
}

good=$E2E_TMP/good.yaml
{
  printf 'version: 1\nvlans:\n  - id: 10\nswitches:\n  - name: %s\n' "$s1"
  endpoints
} >"$good"

# Each case: a name, the field the error must name, and the file (the offending line carries "# BAD").
declare -a cases=()
add_case() {  # NAME FIELD  (file content on stdin)
  local f=$E2E_TMP/$1.yaml
  cat >"$f"
  cases+=("$1|$2|$f")
}

add_case unknown-key "switches[0].colour" <<EOF
version: 1
vlans:
  - id: 10
switches:
  - name: $s1
    colour: blue            # BAD
$(endpoints)
EOF

add_case vlan-0 "vlans[1].id" <<EOF
version: 1
vlans:
  - id: 10
  - id: 0                   # BAD
switches:
  - name: $s1
$(endpoints)
EOF

add_case vlan-4095 "vlans[1].id" <<EOF
version: 1
vlans:
  - id: 10
  - id: 4095                # BAD
switches:
  - name: $s1
$(endpoints)
EOF

add_case endpoint-vlan-4095 "endpoints[1].vlan" <<EOF
version: 1
vlans:
  - id: 10
switches:
  - name: $s1
endpoints:
  - name: $e1
    switch: $s1
    vlan: 10
    addresses: [$net.1/24]
  - name: $e2
    switch: $s1
    vlan: 4095              # BAD
    addresses: [$net.2/24]
EOF

add_case duplicate-switch "switches[1].name" <<EOF
version: 1
vlans:
  - id: 10
switches:
  - name: $s1
  - name: $s1               # BAD
$(endpoints)
EOF

add_case interface-twice "switches[1].ports[0].interface" <<EOF
version: 1
vlans:
  - id: 10
switches:
  - name: $s1
    ports:
      - name: uplink
        interface: $up_if
        mode: trunk
        vlans: [10]
  - name: $s2
    ports:
      - name: uplink
        interface: $up_if   # BAD
        mode: trunk
        vlans: [10]
$(endpoints)
EOF

add_case missing-interface "switches[0].ports[0].interface" <<EOF
version: 1
vlans:
  - id: 10
switches:
  - name: $s1
    ports:
      - name: uplink
        interface: $missing_if   # BAD
        mode: access
        vlan: 10
$(endpoints)
EOF

# Whatever cloudlet could create from any of these files: this run's names and the veths it would derive.
own=()
for c in "${cases[@]}" "good|-|$good"; do
  f=${c##*|}
  own+=("$(cloudlet_ifname endpoint "$f" "$e1")" "$(cloudlet_ifname endpoint "$f" "$e2")")
  cloudlet_own "$f" "endpoint:$e1:$e1" "endpoint:$e2:$e2"
done
re="$E2E_ID|$(
  IFS='|'
  echo "${own[*]}"
)"

# --- Without a daemon: exit 1, "cannot reach the daemon".
nosock=$E2E_TMP/no-daemon.sock
for args in "up $good" "status"; do
  rc=0
  # shellcheck disable=SC2086 # word splitting of $args is intended
  out=$(timeout 20 "$CLOUDLET" --socket "$nosock" $args 2>&1) || rc=$?
  echo "no daemon, '$args': exit $rc: $out"
  assert_eq 1 "$rc" "exit status of '$args' with no daemon"
  grep -qi "cannot reach the daemon" <<<"$out" || fail "'$args' with no daemon does not say it cannot reach the daemon: $out"
done

cloudlet_daemon_start
cloudlet_down_at_exit "$good"

"$CLOUDLET" validate "$good" >"$E2E_TMP/validate-good.out" 2>&1 ||
  fail "validate rejects the good file: $(cat "$E2E_TMP/validate-good.out")"

before=$(host_snapshot "$re")
for c in "${cases[@]}"; do
  IFS='|' read -r name field f <<<"$c"
  line=$(grep -n '# BAD' "$f" | cut -d: -f1)
  want="$(basename "$f"):$line:"
  rc=0
  out=$(timeout 30 "$CLOUDLET" --socket "$CLOUDLET_SOCKET" up "$f" 2>&1) || rc=$?
  echo "[$name] up: exit $rc: $out"
  [[ $rc -eq 2 ]] || fail "[$name] up exited $rc, expected 2; output: $out"
  grep -qF -- "$want" <<<"$out" || fail "[$name] message does not name '$want' (file:line of the bad line): $out"
  grep -qF -- "$field" <<<"$out" || fail "[$name] message does not name the field '$field': $out"
  # The message line that names the place also names the field.
  grep -F -- "$want" <<<"$out" | grep -qF -- "$field" || fail "[$name] '$want' and '$field' are not on one line: $out"
  after=$(host_snapshot "$re")
  [[ "$before" == "$after" ]] || fail "[$name] the host changed after a rejected up:
$(diff <(echo "$before") <(echo "$after"))"

  # validate checks the file; whether host interfaces exist is for `up` on the host that runs it.
  [[ "$name" == missing-interface ]] && continue
  rc=0
  out=$(timeout 30 "$CLOUDLET" validate "$f" 2>&1) || rc=$?
  [[ $rc -ne 0 ]] || fail "[$name] validate accepted the bad file"
  grep -qF -- "$want" <<<"$out" || fail "[$name] validate's message does not name '$want': $out"
done

status_json >"$E2E_TMP/status.json" || fail "status failed"
assert_eq "[0, 0]" "$(json_eval "[len(s['switches']), len(s['endpoints'])]" <"$E2E_TMP/status.json")" \
  "switches and endpoints after rejected ups"
kill -0 "$CLOUDLET_PID" 2>/dev/null || fail "daemon died during the bad-input cases"

# The good file still goes up afterwards (the daemon is not left in a bad state).
cl up "$good" >"$E2E_TMP/up-good.out" 2>&1 || fail "the good file fails to go up after the bad ones: $(cat "$E2E_TMP/up-good.out")"
wait_for "ns_ping '$e1' '$net.2'" 15 || fail "$e1 cannot ping $e2 after the good up"
cl down "$good" >/dev/null 2>&1 || fail "down of the good file failed"

pass "${#cases[@]} bad files rejected with exit 2, FILE:LINE and field, host unchanged; no daemon -> exit 1 'cannot reach the daemon'"

#!/usr/bin/env bash
# Side-by-side switch benchmark: cloudlet vs the Linux bridge vs Open vSwitch (userspace datapath). For each, two
# network namespaces joined through that switch on VLAN 10 access ports; iperf3 TCP throughput and small-packet
# UDP (64-byte payloads, unlimited rate) packets per second between them.
#
# Usage: bench/switch.sh [--cloudlet PATH_TO_BINARY] [--seconds N]
# Needs root and Debian's iperf3, iproute2, openvswitch-switch, ethtool. Output: one line per figure on stdout,
# notes on stderr, and as the last line:  switch tcp_vs_bridge=<ratio> tcp_vs_ovs=<ratio>
# (cloudlet TCP / bridge TCP, cloudlet TCP / OVS TCP; "n/a" when a figure is missing).
# Exit: 0 measured (cloudlet skipped when not given or not runnable), 1 a variant that should have run failed,
# 2 usage, 77 not root.
#
# Figures on a shared 2-core machine are noisy; compare ratios from the same run, not absolute numbers across runs.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

CLOUDLET=""
SECONDS_PER_TEST=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cloudlet) [[ $# -ge 2 ]] || usage; CLOUDLET=$2; shift 2 ;;
    --seconds) [[ $# -ge 2 ]] || usage; SECONDS_PER_TEST=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "switch.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
if ! [[ "$SECONDS_PER_TEST" =~ ^[0-9]+$ ]] || ((SECONDS_PER_TEST < 1 || SECONDS_PER_TEST > 300)); then
  echo "switch.sh: --seconds must be a whole number from 1 to 300, got '$SECONDS_PER_TEST'" >&2
  exit "${1:-2}"
fi

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib.sh"
require_root
require_cmd ip iperf3 ss timeout

note() { echo "switch.sh: $*" >&2; }

FAILED=0
declare -A TCP_MBPS=() UDP_RX_PPS=()

IPERF_PORT=5201
ADDR_A=10.99.0.1
ADDR_B=10.99.0.2

# iperf3_run LABEL NS_SERVER ADDR NS_CLIENT OUTFILE ARGS...: one bounded iperf3 client run against a one-shot
# server; both ended by PID. Returns non-zero if the client failed.
iperf3_run() {
  local label=$1 ns_srv=$2 addr=$3 ns_cli=$4 out=$5 mark srv_pid rc=0
  shift 5
  mark=${#E2E_CLEANUP[@]}
  e2e_bg "$E2E_TMP/$label.server.log" ip netns exec "$ns_srv" iperf3 -s -1 -B "$addr" -p "$IPERF_PORT"
  srv_pid=$E2E_LAST_PID
  if ! wait_for "ip netns exec '$ns_srv' ss -Htln 'sport = :$IPERF_PORT' | grep -q ." 10; then
    note "$label: iperf3 server in $ns_srv did not start: $(tail -n 3 "$E2E_TMP/$label.server.log")"
    e2e_unwind "$mark"
    return 1
  fi
  timeout $((SECONDS_PER_TEST + 20)) ip netns exec "$ns_cli" \
    iperf3 -c "$addr" -p "$IPERF_PORT" -t "$SECONDS_PER_TEST" -f m "$@" >"$out" 2>&1 || rc=1
  wait_for "! kill -0 $srv_pid" 5 || true
  e2e_unwind "$mark"
  if [[ $rc -ne 0 ]]; then note "$label: iperf3 client failed: $(tail -n 3 "$out")"; fi
  return $rc
}

# measure NAME NS_A NS_B: TCP and UDP-64 from NS_A to the server on $ADDR_B in NS_B; prints the figures.
measure() {
  local name=$1 ns_a=$2 ns_b=$3 out mbps line lost total dur
  out="$E2E_TMP/$name.tcp.txt"
  if iperf3_run "$name.tcp" "$ns_b" "$ADDR_B" "$ns_a" "$out"; then
    mbps=$(awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }' "$out" | tail -n 1)
    if [[ -n "$mbps" ]]; then
      TCP_MBPS[$name]=$mbps
      echo "$name tcp_mbit_s=$mbps"
    fi
  fi
  [[ -n "${TCP_MBPS[$name]:-}" ]] || { note "$name: no TCP figure"; FAILED=1; }

  out="$E2E_TMP/$name.udp.txt"
  if iperf3_run "$name.udp" "$ns_b" "$ADDR_B" "$ns_a" "$out" -u -b 0 -l 64; then
    # Receiver line: "[  5]   0.00-5.00  sec  ...  Mbits/sec  0.001 ms  LOST/TOTAL (x%)  receiver"
    for side in sender receiver; do
      line=$(grep -E "[0-9]+/[0-9]+ .*$side\$" "$out" | tail -n 1) || true
      [[ -n "$line" ]] || continue
      read -r lost total dur < <(awk '{
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^[0-9]+\/[0-9]+$/) { split($i, lt, "/"); lost = lt[1]; total = lt[2] }
            if ($i ~ /^[0-9.]+-[0-9.]+$/) { split($i, iv, "-"); dur = iv[2] - iv[1] }
          }
          print lost, total, dur }' <<<"$line")
      if [[ "$side" == sender ]]; then
        echo "$name udp64_sent_pps=$(awk -v t="$total" -v d="$dur" 'BEGIN { printf "%.0f", (d > 0 ? t / d : 0) }')"
      else
        UDP_RX_PPS[$name]=$(awk -v l="$lost" -v t="$total" -v d="$dur" 'BEGIN { printf "%.0f", (d > 0 ? (t - l) / d : 0) }')
        echo "$name udp64_pps=${UDP_RX_PPS[$name]}"
        echo "$name udp64_loss_pct=$(awk -v l="$lost" -v t="$total" 'BEGIN { printf "%.1f", (t > 0 ? 100 * l / t : 0) }')"
      fi
    done
  fi
  [[ -n "${UDP_RX_PPS[$name]:-}" ]] || { note "$name: no UDP figure"; FAILED=1; }
  return 0
}

# --- (a) cloudlet, driven through its real CLI ------------------------------------------------------------------
bench_cloudlet() {
  if [[ -z "$CLOUDLET" ]]; then
    note "cloudlet: skipped (no --cloudlet PATH given)"
    return 0
  fi
  if [[ ! -f "$CLOUDLET" || ! -x "$CLOUDLET" ]]; then
    note "cloudlet: skipped ('$CLOUDLET' is not an executable file; build it with ninja -C build cloudlet)"
    return 0
  fi
  CLOUDLET=$(cd "$(dirname "$CLOUDLET")" && pwd)/$(basename "$CLOUDLET")
  local probe
  if ! probe=$(timeout 10 "$CLOUDLET" daemon --help 2>&1); then
    note "cloudlet: skipped ('$CLOUDLET daemon --help' fails, the binary has no working daemon command yet: $(head -n 1 <<<"$probe"))"
    return 0
  fi

  local mark dir sock yaml ns_a ns_b daemon_pid
  mark=${#E2E_CLEANUP[@]}
  dir="$E2E_TMP/cloudlet"
  mkdir -p "$dir/state"
  sock="$dir/cloudlet.sock"
  yaml="$dir/bench.yaml"
  ns_a="cb${E2E_ID}a"
  ns_b="cb${E2E_ID}b"
  cat >"$yaml" <<EOF
# Written by bench/switch.sh: two endpoints on one cloudlet switch, VLAN 10.
vlans: [{id: 10, name: bench}]
switches: [{name: bsw${E2E_ID}}]
endpoints:
  - {name: ${ns_a}, switch: bsw${E2E_ID}, vlan: 10, addresses: [${ADDR_A}/24]}
  - {name: ${ns_b}, switch: bsw${E2E_ID}, vlan: 10, addresses: [${ADDR_B}/24]}
EOF
  # Last resort if `down` fails: the endpoint namespaces go anyway (registered first, so it runs last).
  e2e_defer "ip netns del '$ns_a'"
  e2e_defer "ip netns del '$ns_b'"

  e2e_bg "$dir/daemon.log" "$CLOUDLET" daemon --socket "$sock" --state-dir "$dir/state"
  daemon_pid=$E2E_LAST_PID
  if ! wait_for "[[ -S '$sock' ]] || ! kill -0 $daemon_pid" 15 || [[ ! -S "$sock" ]]; then
    note "cloudlet: FAILED: daemon did not create $sock; its log ends:"
    tail -n 10 "$dir/daemon.log" >&2 || true
    FAILED=1
    e2e_unwind "$mark"
    return 0
  fi
  e2e_defer "timeout 30 '$CLOUDLET' --socket '$sock' down '$yaml'"
  if ! timeout 60 "$CLOUDLET" --socket "$sock" up "$yaml" >"$dir/up.log" 2>&1; then
    note "cloudlet: FAILED: 'cloudlet up' failed:"
    tail -n 10 "$dir/up.log" >&2 || true
    FAILED=1
    e2e_unwind "$mark"
    return 0
  fi
  if ! wait_for "ip netns exec '$ns_a' ip -br addr show dev eth0 | grep -q '$ADDR_A' &&
                 ip netns exec '$ns_b' ip -br addr show dev eth0 | grep -q '$ADDR_B'" 15; then
    note "cloudlet: FAILED: endpoints $ns_a/$ns_b did not appear with eth0 and their addresses after 'up'"
    FAILED=1
    e2e_unwind "$mark"
    return 0
  fi
  if ! wait_for "ns_ping '$ns_a' '$ADDR_B'" 10; then
    note "cloudlet: FAILED: $ns_a cannot ping $ADDR_B through the cloudlet switch"
    FAILED=1
    e2e_unwind "$mark"
    return 0
  fi
  measure cloudlet "$ns_a" "$ns_b"
  if ! timeout 30 "$CLOUDLET" --socket "$sock" down "$yaml" >"$dir/down.log" 2>&1; then
    note "cloudlet: 'cloudlet down' failed: $(tail -n 3 "$dir/down.log")"
    FAILED=1
  fi
  e2e_unwind "$mark"  # ends the daemon by PID, removes what is left
}

# --- (b) Linux bridge in its own namespace ------------------------------------------------------------------------
bench_bridge() {
  local mark ns_a ns_b ns_sw n vlan_note=""
  mark=${#E2E_CLEANUP[@]}
  ns_a=$(e2e_name bra) ns_b=$(e2e_name brb) ns_sw=$(e2e_name brs)
  for n in "$ns_a" "$ns_b" "$ns_sw"; do netns_add "$n"; done
  # VLAN-aware bridge with both ports untagged members of VLAN 10 where the kernel has bridge VLAN filtering;
  # otherwise a plain bridge (the same thing for two ports in one VLAN: one untagged broadcast domain).
  if ip -n "$ns_sw" link add br0 type bridge vlan_filtering 1 2>/dev/null; then
    vlan_note="vlan_filtering"
  else
    ip -n "$ns_sw" link add br0 type bridge
    note "bridge: kernel has no bridge VLAN filtering; plain bridge (one untagged domain, same as access VLAN 10)"
  fi
  ip -n "$ns_sw" link set br0 up
  for n in a b; do
    local ns="$ns_a"
    [[ $n == b ]] && ns="$ns_b"
    ip link add "$(e2e_name "bp$n")" netns "$ns" type veth peer name "$(e2e_name "bs$n")" netns "$ns_sw"
    ip -n "$ns" link set "$(e2e_name "bp$n")" name eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns_sw" link set "$(e2e_name "bs$n")" master br0 up
    if [[ -n "$vlan_note" ]]; then
      ip netns exec "$ns_sw" bridge vlan del dev "$(e2e_name "bs$n")" vid 1
      ip netns exec "$ns_sw" bridge vlan add dev "$(e2e_name "bs$n")" vid 10 pvid untagged
    fi
  done
  ip -n "$ns_a" addr add "$ADDR_A/24" dev eth0
  ip -n "$ns_b" addr add "$ADDR_B/24" dev eth0
  if ! wait_for "ns_ping '$ns_a' '$ADDR_B'" 10; then
    note "bridge: FAILED: $ns_a cannot ping $ADDR_B"
    FAILED=1
  else
    measure bridge "$ns_a" "$ns_b"
  fi
  e2e_unwind "$mark"
}

# --- (c) Open vSwitch, userspace datapath -----------------------------------------------------------------------
bench_ovs() {
  local tool
  for tool in ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl ethtool; do
    if ! command -v "$tool" >/dev/null; then
      note "ovs: skipped ($tool missing: apt-get install openvswitch-switch ethtool)"
      return 0
    fi
  done
  local mark ns_a ns_b br
  mark=${#E2E_CLEANUP[@]}
  ns_a=$(e2e_name ova) ns_b=$(e2e_name ovb) br=$(e2e_name ovbr)
  ovs_start "$E2E_TMP/ovs"
  ovs_add_bridge "$br"
  # TX checksum offload off: the userspace datapath forwards partial checksums unfinished and TCP stalls.
  ns_endpoint "$ns_a" "$(e2e_name ovha)" "$ADDR_A/24" --no-tx-offload
  ns_endpoint "$ns_b" "$(e2e_name ovhb)" "$ADDR_B/24" --no-tx-offload
  ovs_vsctl add-port "$br" "$(e2e_name ovha)" tag=10 -- add-port "$br" "$(e2e_name ovhb)" tag=10
  if ! wait_for "ns_ping '$ns_a' '$ADDR_B'" 10; then
    note "ovs: FAILED: $ns_a cannot ping $ADDR_B"
    FAILED=1
  else
    measure ovs "$ns_a" "$ns_b"
  fi
  e2e_unwind "$mark"
}

note "${SECONDS_PER_TEST}s per test; TCP in Mbit/s (receiver), UDP in packets/s received (64-byte payload, -b 0)"
bench_cloudlet
bench_bridge
bench_ovs

ratio() {
  local num=${TCP_MBPS[cloudlet]:-} den=${TCP_MBPS[$1]:-}
  if [[ -z "$num" || -z "$den" ]]; then echo n/a; return; fi
  awk -v n="$num" -v d="$den" 'BEGIN { if (d > 0) printf "%.2f", n / d; else print "n/a" }'
}
echo "switch tcp_vs_bridge=$(ratio bridge) tcp_vs_ovs=$(ratio ovs)"
exit "$FAILED"

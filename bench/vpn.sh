#!/usr/bin/env bash
# VPN benchmark: iperf3 TCP through a WireGuard tunnel between two network namespaces over a veth underlay (the
# topology of tests/e2e/vpn_lib.sh), once wireguard-go <-> wireguard-go and once cloudlet <-> cloudlet, in the same
# run; then the in-process data-path benchmark (bench/vpn_datapath_bench.cc: raw ChaCha20-Poly1305 vs
# PeerKeypairs::Seal + Open on 1420-byte packets, one core).
#
# Usage: bench/vpn.sh [BUILD_DIR] [--cloudlet PATH] [--seconds N]
#   BUILD_DIR   holds vpn_datapath_bench (cmake -DCLOUDLET_BENCH=ON) and, unless --cloudlet, cloudlet; default
#               build-bench
# Needs root and Debian's wireguard-go, wireguard-tools, iperf3, iproute2. Output: one line per figure on stdout,
# notes on stderr, and as the last line:  vpn tcp_gbit=<x> tcp_vs_wireguard_go=<ratio> datapath_vs_aead=<ratio>
# (cloudlet TCP in Gbit/s, cloudlet TCP / wireguard-go TCP, data-path bytes/s / raw AEAD bytes/s; "n/a" when a
# figure is missing). Exit: 0 measured (a part is skipped when its binary is missing or has no `vpn` command yet),
# 1 a part that should have run failed, 2 usage, 77 not root.
#
# Figures on a shared 2-core machine are noisy; compare ratios from the same run, not absolute numbers across runs.
set -euo pipefail

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

BUILD_DIR=build-bench
CLOUDLET_ARG=""
SECONDS_PER_TEST=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cloudlet) [[ $# -ge 2 ]] || usage; CLOUDLET_ARG=$2; shift 2 ;;
    --seconds) [[ $# -ge 2 ]] || usage; SECONDS_PER_TEST=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    -*) echo "vpn.sh: unknown argument '$1'" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done
if ! [[ "$SECONDS_PER_TEST" =~ ^[0-9]+$ ]] || ((SECONDS_PER_TEST < 1 || SECONDS_PER_TEST > 300)); then
  echo "vpn.sh: --seconds must be a whole number from 1 to 300, got '$SECONDS_PER_TEST'" >&2
  exit 2
fi

# shellcheck source=tests/e2e/vpn_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/vpn_lib.sh"
require_root
require_cmd ip wg wireguard-go iperf3 python3 ss timeout
mkdir -p /var/run/wireguard

note() { echo "vpn.sh: $*" >&2; }

FAILED=0
declare -A TCP_MBPS=()

# measure NAME: both sides up (A initiates), a ping, then iperf3 TCP A -> B; prints the figure.
measure() {
  local name=$1 out mbps
  vpn_up_both --initiator a
  if ! wait_for "vpn_ping a 1" 15; then
    note "$name: FAILED: no ping through the tunnel"
    FAILED=1
    return 0
  fi
  out=$E2E_TMP/$name.tcp.txt
  if vpn_iperf a "$SECONDS_PER_TEST" "$out"; then
    mbps=$(awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }' "$out" | tail -n 1)
    if [[ -n "$mbps" ]]; then
      TCP_MBPS[$name]=$mbps
      echo "$name tcp_mbit_s=$mbps"
    fi
  else
    note "$name: iperf3 failed: $(tail -n 3 "$out")"
  fi
  [[ -n "${TCP_MBPS[$name]:-}" ]] || { note "$name: no TCP figure"; FAILED=1; }
  return 0
}

note "${SECONDS_PER_TEST}s per test; TCP in Mbit/s (receiver), 1420-byte MTU tunnel over a veth underlay"

# --- (a) wireguard-go on both sides -------------------------------------------------------------------------------
mark=${#E2E_CLEANUP[@]}
VPN_IMPL_A=go VPN_IMPL_B=go
vpn_topology g
measure wireguard_go
e2e_unwind "$mark"

# --- (b) cloudlet on both sides -------------------------------------------------------------------------------------
CLOUDLET=${CLOUDLET_ARG:-$BUILD_DIR/cloudlet}
if [[ ! -f "$CLOUDLET" || ! -x "$CLOUDLET" ]]; then
  note "cloudlet: skipped ('$CLOUDLET' is not an executable file)"
elif ! probe=$(timeout 10 "$CLOUDLET" vpn --help 2>&1); then
  note "cloudlet: skipped ('$CLOUDLET vpn --help' fails, no vpn command yet: $(head -n 1 <<<"$probe"))"
else
  CLOUDLET=$(cd "$(dirname "$CLOUDLET")" && pwd)/$(basename "$CLOUDLET")
  mark=${#E2E_CLEANUP[@]}
  VPN_IMPL_A=cloudlet VPN_IMPL_B=cloudlet
  vpn_topology c
  measure cloudlet
  e2e_unwind "$mark"
fi

# --- (c) in-process data path ---------------------------------------------------------------------------------------
AEAD_BPS="" DATAPATH_BPS=""
bench_bin=$BUILD_DIR/vpn_datapath_bench
if [[ ! -x "$bench_bin" ]]; then
  note "datapath: skipped ('$bench_bin' missing: cmake -DCLOUDLET_BENCH=ON, ninja vpn_datapath_bench)"
elif ! timeout 120 "$bench_bin" --benchmark_format=json >"$E2E_TMP/datapath.json" 2>"$E2E_TMP/datapath.err"; then
  note "datapath: FAILED: $(tail -n 3 "$E2E_TMP/datapath.err")"
  FAILED=1
else
  # One "NAME bytes_per_second pps" line per benchmark.
  while read -r name bps pps; do
    echo "datapath ${name#BM_} bytes_per_s=$bps pps=$pps"
    case $name in
      BM_AeadSealOpen) AEAD_BPS=$bps ;;
      BM_DatapathSealOpen) DATAPATH_BPS=$bps ;;
    esac
  done < <(python3 -c '
import json, sys
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    print(b["name"], "%.0f" % b["bytes_per_second"], "%.0f" % b["pps"])' "$E2E_TMP/datapath.json")
  [[ -n "$AEAD_BPS" && -n "$DATAPATH_BPS" ]] || { note "datapath: figures missing in its JSON"; FAILED=1; }
fi

div() {
  if [[ -z "$1" || -z "$2" ]]; then echo n/a; return; fi
  awk -v n="$1" -v d="$2" 'BEGIN { if (d > 0) printf "%.2f", n / d; else print "n/a" }'
}
gbit=n/a
[[ -n "${TCP_MBPS[cloudlet]:-}" ]] && gbit=$(div "${TCP_MBPS[cloudlet]}" 1000)
echo "vpn tcp_gbit=$gbit tcp_vs_wireguard_go=$(div "${TCP_MBPS[cloudlet]:-}" "${TCP_MBPS[wireguard_go]:-}")" \
  "datapath_vs_aead=$(div "$DATAPATH_BPS" "$AEAD_BPS")"
exit "$FAILED"

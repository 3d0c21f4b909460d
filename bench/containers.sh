#!/usr/bin/env bash
# Container start cycle: create + start + delete of /bin/true (busybox rootfs, one bundle, runc's default spec) with
# cloudlet's runtime and with Debian's runc, alternating which goes first, N rounds each. Each cycle waits for nothing
# but the three commands: /bin/true has exited by the time delete runs or delete finds it exiting. The runtime is the
# `cloudlet-runtime` executable built next to `cloudlet` (the runtime alone: it execs in ~2 ms, where the full binary's
# ~55 shared libraries cost ~15-20 ms per command); without it, the full binary under the `cloudlet-runtime` name.
# Then registry push/pull throughput against skopeo (bench/containers_registry.sh) unless --no-registry.
#
# Prints the mean ms per cycle for each runtime and the ratio; the last line is
#   containers start_vs_runc=<cloudlet time / runc time (<1: faster)> push_vs_skopeo=<cloudlet MB/s / skopeo MB/s>
#              pull_vs_skopeo=<cloudlet MB/s / skopeo MB/s (>1: faster)>
# Usage: bench/containers.sh PATH_TO_CLOUDLET [--quick] [--rounds N] [--runtime-only PATH] [--no-registry]
#   --runtime-only PATH  the runtime executable to measure (default: cloudlet-runtime beside PATH_TO_CLOUDLET)
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib.sh"
# shellcheck source=tests/e2e/runtime_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/runtime_lib.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 PATH_TO_CLOUDLET [--quick] [--rounds N] [--runtime-only PATH]" >&2; exit 2; }
cloudlet=$1
shift
rounds=200
runtime_bin=""
registry=1
quick=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) rounds=20; quick=(--quick) ;;
    --rounds) rounds=$2; shift ;;
    --runtime-only) runtime_bin=$2; shift ;;
    --no-registry) registry=0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
full_cloudlet=$cloudlet
[[ -z "$runtime_bin" && -x "$(dirname "$cloudlet")/cloudlet-runtime" ]] && runtime_bin=$(dirname "$cloudlet")/cloudlet-runtime
[[ -n "$runtime_bin" ]] && cloudlet=$runtime_bin
rt_setup "$cloudlet"
require_cmd runc
B="$E2E_TMP/bundle"
rt_bundle "$B" /bin/true
RUNC_ROOT="$E2E_TMP/runcroot"
e2e_defer "for c in \$(runc --root '$RUNC_ROOT' list -q 2>/dev/null); do runc --root '$RUNC_ROOT' delete -f \$c; done"

# cycle RUNTIME ROOT ID: one create+start+delete; prints nothing, fails loudly.
cycle() {
  "$1" --root "$2" create --bundle "$B" "$3" && "$1" --root "$2" start "$3" && "$1" --root "$2" delete --force "$3"
}
# timed RUNTIME ROOT ROUND: elapsed ns of one cycle, from bash's own clock (EPOCHREALTIME, microseconds): a `date`
# for each timestamp would add its exec (~1-2 ms on this VM, glibc's start-up) to every cycle of both runtimes.
timed() {
  local t0 t1
  t0=${EPOCHREALTIME/[.,]/}
  cycle "$1" "$2" "b$3" >/dev/null || fail "$1: create/start/delete failed in round $3"
  t1=${EPOCHREALTIME/[.,]/}
  echo $(((10#$t1 - 10#$t0) * 1000))
}

# Warm both (page cache, cgroup hierarchy) before measuring.
for i in 1 2 3; do timed "$RUNTIME" "$RT_ROOT" "w$i" >/dev/null; timed runc "$RUNC_ROOT" "w$i" >/dev/null; done
ours=0 theirs=0
for ((i = 0; i < rounds; i++)); do
  if ((i % 2 == 0)); then
    ours=$((ours + $(timed "$RUNTIME" "$RT_ROOT" "$i")))
    theirs=$((theirs + $(timed runc "$RUNC_ROOT" "$i")))
  else
    theirs=$((theirs + $(timed runc "$RUNC_ROOT" "$i")))
    ours=$((ours + $(timed "$RUNTIME" "$RT_ROOT" "$i")))
  fi
done
push=n/a pull=n/a
if ((registry)); then
  reg_out=$(bash "$(dirname "${BASH_SOURCE[0]}")/containers_registry.sh" --cloudlet "$full_cloudlet" "${quick[@]}" 2>&1) ||
    echo "containers_registry.sh failed" >&2
  echo "$reg_out"
  last=$(grep '^registry push_vs_skopeo=' <<<"$reg_out" | tail -n 1)
  [[ "$last" =~ push_vs_skopeo=([0-9.]+) ]] && push=${BASH_REMATCH[1]}
  [[ "$last" =~ pull_vs_skopeo=([0-9.]+) ]] && pull=${BASH_REMATCH[1]}
fi
python3 - "$ours" "$theirs" "$rounds" "$cloudlet" "$push" "$pull" <<'PY'
import sys
ours, theirs, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print(f"cloudlet-runtime ({sys.argv[4]}) create+start+delete /bin/true: {ours / n / 1e6:.2f} ms (mean of {n})")
print(f"runc             create+start+delete /bin/true: {theirs / n / 1e6:.2f} ms (mean of {n})")
print(f"containers start_vs_runc={ours / theirs:.3f} push_vs_skopeo={sys.argv[5]} pull_vs_skopeo={sys.argv[6]}")
PY

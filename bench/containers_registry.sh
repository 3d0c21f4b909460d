#!/usr/bin/env bash
# Registry push and pull throughput: cloudlet vs skopeo, same image, same local registry (Debian's docker-registry
# on 127.0.0.1, filesystem storage in a temp dir), alternating which tool goes first, N rounds.
#
# The image: ~100 MB (--quick: ~24 MB) of random and text files in three directories imported with
# `cloudlet image import` as three gzip layers. skopeo reads and writes OCI layouts: it pushes from cloudlet's store (`oci:<store>:<ref>`, the
# same bytes) and pulls into a fresh `oci:` directory; cloudlet pulls into a fresh store. Every push goes to a fresh
# registry (new storage directory) so that neither tool finds blobs already there; pulls start from empty stores.
#
# Prints MB/s per tool and operation, then the ratios; the last line is
#   registry push_vs_skopeo=<cloudlet MB/s / skopeo MB/s> pull_vs_skopeo=<...>   (>1: cloudlet is faster)
# Usage: bench/containers_registry.sh [BUILD_DIR] [--cloudlet PATH] [--quick] [--rounds N]   (BUILD_DIR: build)
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib.sh"
BUILD_DIR=build CLOUDLET_ARG="" rounds=3 mb=100
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) rounds=1 mb=24 ;;
    --rounds) rounds=$2; shift ;;
    --cloudlet) CLOUDLET_ARG=$2; shift ;;
    -*) echo "usage: $0 [BUILD_DIR] [--cloudlet PATH] [--quick] [--rounds N]" >&2; exit 2 ;;
    *) BUILD_DIR=$1 ;;
  esac
  shift
done
CLOUDLET=${CLOUDLET_ARG:-$BUILD_DIR/cloudlet}
[[ -x $CLOUDLET ]] || { echo "$CLOUDLET is not an executable (build it: ninja -C $BUILD_DIR cloudlet)" >&2; exit 2; }
CLOUDLET=$(realpath "$CLOUDLET")
require_cmd docker-registry skopeo jq python3
T=$(e2e_tmpdir)
export CLOUDLET_IMAGE_STORE=$T/store

# ---- the image: three layers (two of random bytes, one of base64 text, which compresses)
mkdir -p "$T/layer1" "$T/layer2" "$T/layer3"
for i in $(seq 1 $((mb * 3 / 8 / 8))); do
  head -c $((8 << 20)) /dev/urandom >"$T/layer1/a$i.bin"
  head -c $((8 << 20)) /dev/urandom >"$T/layer2/b$i.bin"
done
for i in $(seq 1 $((mb / 4 / 4))); do head -c $((3 << 20)) /dev/urandom | base64 >"$T/layer3/t$i.txt"; done
"$CLOUDLET" image import "$T/layer1" "$T/layer2" "$T/layer3" localhost/bench:1 >/dev/null
bytes=$("$CLOUDLET" image ls --format json | jq '.[0].size')
e2e_log "image: $((bytes >> 20)) MiB"

# ---- registries
REG_PID=""
start_registry() {  # a fresh registry (new storage) on a free port; sets R
  local dir=$T/reg-$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$dir"
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$dir" "$port" >"$dir.yml"
  e2e_bg "$dir.log" /usr/bin/docker-registry serve "$dir.yml"
  REG_PID=$E2E_LAST_PID
  R=127.0.0.1:$port
  wait_for "curl -sf http://$R/v2/" 20 || fail "docker-registry did not start"
}
stop_registry() { e2e_kill_pid "$REG_PID"; }

now() { date +%s%N; }
declare -A total_ns=([cloudlet_push]=0 [skopeo_push]=0 [cloudlet_pull]=0 [skopeo_pull]=0)
measure() {  # KEY CMD...: runs CMD, adds its wall time to total_ns[KEY], prints MB/s
  local key=$1 t0 t1
  shift
  t0=$(now)
  "$@" >"$T/last.out" 2>&1 || fail "$key: $(tail -5 "$T/last.out")"
  t1=$(now)
  total_ns[$key]=$((total_ns[$key] + t1 - t0))
  python3 -c "import sys; print(f'  {sys.argv[1]:<14} {int(sys.argv[2])/1e6/((int(sys.argv[3]))/1e9):8.1f} MB/s')" \
    "$key" "$bytes" "$((t1 - t0))"
}

cloudlet_push() { "$CLOUDLET" image push localhost/bench:1 "$R/bench/img:1"; }
skopeo_push() { skopeo copy -q --dest-tls-verify=false "oci:$CLOUDLET_IMAGE_STORE:localhost/bench:1" "docker://$R/bench/img:1"; }
cloudlet_pull() { CLOUDLET_IMAGE_STORE=$T/pull-store-$round "$CLOUDLET" image pull "$R/bench/img:1"; }
skopeo_pull() { skopeo copy -q --src-tls-verify=false "docker://$R/bench/img:1" "oci:$T/pull-oci-$round:img"; }

for round in $(seq 1 "$rounds"); do
  if ((round % 2)); then order=(cloudlet skopeo); else order=(skopeo cloudlet); fi
  echo "round $round (${order[0]} first)"
  for tool in "${order[@]}"; do
    start_registry "$round-$tool"
    measure "${tool}_push" "${tool}_push"
    [[ $tool == "${order[1]}" ]] || stop_registry
  done
  # The last registry holds the image: both tools pull it into empty stores.
  for tool in "${order[@]}"; do measure "${tool}_pull" "${tool}_pull"; done
  stop_registry
  rm -rf "$T"/pull-store-* "$T"/pull-oci-* "$T"/reg-*
done

python3 - "$bytes" "$rounds" "${total_ns[cloudlet_push]}" "${total_ns[skopeo_push]}" "${total_ns[cloudlet_pull]}" \
  "${total_ns[skopeo_pull]}" <<'PY'
import sys
size, rounds = int(sys.argv[1]), int(sys.argv[2])
cp, sp, cl, sl = (size * rounds / 1e6 / (int(x) / 1e9) for x in sys.argv[3:7])
print(f"push: cloudlet {cp:.1f} MB/s, skopeo {sp:.1f} MB/s")
print(f"pull: cloudlet {cl:.1f} MB/s, skopeo {sl:.1f} MB/s")
print(f"registry push_vs_skopeo={cp / sp:.2f} pull_vs_skopeo={cl / sl:.2f}")
PY

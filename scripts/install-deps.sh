#!/usr/bin/env bash
# Installs everything cloudlet needs to build, run and test, from Debian's packages only.
# Usage: scripts/install-deps.sh [--runtime-only]
#   default          build + test + benchmark dependencies
#   --runtime-only   only what the quickstart needs (build toolchain, libraries, iproute2)
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config git
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libmicrohttpd-dev libcurl4-openssl-dev libnl-3-dev libnl-route-3-dev
  libssl-dev libsodium-dev libqrencode-dev
  libseccomp-dev libcap-dev libarchive-dev
  iproute2 iputils-ping busybox-static
)
test_pkgs=(
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format clang-tidy
  iperf3 tshark openvswitch-switch ethtool netcat-openbsd procps python3 bridge-utils
  wireguard-go wireguard-tools
  runc skopeo umoci docker-registry podman
)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" != "--runtime-only" ]]; then
  pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages with services (openvswitch) must not try to start them at install time: tests start their own.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Installs what cloudlet needs, builds it, starts the daemon, brings up examples/quickstart.yaml (switches and VLANs)
# and examples/containers.yaml (three containers behind a router and firewall, from a busybox image made offline)
# and shows their status. Needs root (it creates network namespaces, veths and containers).
# Undo with: build/cloudlet down examples/containers.yaml; build/cloudlet down examples/quickstart.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --runtime-only
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLOUDLET_TESTS=OFF -DCLOUDLET_BENCH=OFF >/dev/null
ninja -C build cloudlet
if ! build/cloudlet status >/dev/null 2>&1; then
  build/cloudlet daemon --detach
fi
build/cloudlet up examples/quickstart.yaml
# The containers' base image, made from Debian's busybox-static (no internet needed), unless the store has one.
build/cloudlet image inspect busybox:latest >/dev/null 2>&1 || build/cloudlet image import --busybox busybox:latest
build/cloudlet up examples/containers.yaml
build/cloudlet status
build/cloudlet container ls
cat <<'MSG'

Try it:   ip netns exec a1 ping -c 3 10.10.0.2     # tenant A (VLAN 10), sw1 -> trunk -> sw2: answers
          ip netns exec b1 ping -c 3 10.20.0.2     # tenant B (VLAN 20), over the same trunk: answers
          build/cloudlet status                    # learned MACs per VLAN, counters per port
          build/cloudlet container exec web2 -- sh -c 'printf "GET /hostname HTTP/1.0\r\n\r\n" | nc 10.10.0.11 8080'
                                                   # web2 -> web1 (VLAN 10): the page
          build/cloudlet container exec probe -- ping -c1 -W1 10.10.0.11   # VLAN 20 -> 10: the firewall drops it
          build/cloudlet container logs web1
Undo:     build/cloudlet down examples/containers.yaml; build/cloudlet down examples/quickstart.yaml
MSG

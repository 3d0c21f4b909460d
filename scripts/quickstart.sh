#!/usr/bin/env bash
# Installs what cloudlet needs, builds it, starts the daemon, brings up examples/quickstart.yaml and shows its status.
# Needs root (it creates network namespaces and veths). Undo with: build/cloudlet down examples/quickstart.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --runtime-only
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLOUDLET_TESTS=OFF -DCLOUDLET_BENCH=OFF >/dev/null
ninja -C build cloudlet
if ! build/cloudlet status >/dev/null 2>&1; then
  build/cloudlet daemon --detach
fi
build/cloudlet up examples/quickstart.yaml
build/cloudlet status
cat <<'MSG'

Try it:   ip netns exec a1 ping -c 3 10.10.0.2     # tenant A (VLAN 10), sw1 -> trunk -> sw2: answers
          ip netns exec b1 ping -c 3 10.20.0.2     # tenant B (VLAN 20), over the same trunk: answers
          build/cloudlet status                    # learned MACs per VLAN, counters per port
Undo:     build/cloudlet down examples/quickstart.yaml
MSG

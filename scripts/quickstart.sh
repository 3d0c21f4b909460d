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

Try it:   ip netns exec a1 ping -c 3 10.10.0.2     # tenant A, across the trunk: answers
          ip netns exec b1 ping -c 3 10.10.0.2     # tenant B cannot reach tenant A
Undo:     build/cloudlet down examples/quickstart.yaml
MSG

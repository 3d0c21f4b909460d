#!/usr/bin/env bash
# podman drives cloudlet's runtime as it drives runc (`podman --runtime PATH/cloudlet-runtime`): create with
# --console-socket/--pid-file/--log-format json, start, state, kill, delete. The image is a busybox rootfs imported
# with `podman import` into a private storage (no registry); cgroupfs manager, file events backend. Skips, showing
# podman's own error, when podman itself cannot work in this environment.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/runtime_lib.sh"
rt_setup "${1:-}"
require_cmd podman conmon

P="$E2E_TMP/podman"
mkdir -p "$P"
pod() {
  timeout 120 podman --root "$P/storage" --runroot "$P/run" --tmpdir "$P/tmp" --cgroup-manager cgroupfs \
    --events-backend file --storage-driver vfs "$@"
}
e2e_defer "pod rm -af >/dev/null 2>&1; pod rmi -af >/dev/null 2>&1"
rt_rootfs "$E2E_TMP/rootfs"
tar -C "$E2E_TMP/rootfs" -cf "$E2E_TMP/rootfs.tar" .
image="localhost/cloudlet-e2e-busybox:$E2E_ID"
if ! out=$(pod import "$E2E_TMP/rootfs.tar" "$image" 2>&1); then
  skip "podman cannot import an image here (not a runtime problem): $out"
fi

out=$(pod --runtime "$RUNTIME" run --rm --network none --hostname "pod$E2E_ID" "$image" \
  sh -c 'echo hello-from-cloudlet; id; hostname; ls /proc | grep -c "^[0-9]"' 2>&1) || fail "podman run failed: $out"
e2e_log "podman run said: $(tr '\n' '|' <<<"$out")"
grep -q hello-from-cloudlet <<<"$out" || fail "no output from the container: $out"
grep -q "^uid=0(root)" <<<"$out" || fail "id: $out"
grep -qx "pod$E2E_ID" <<<"$out" || fail "hostname: $out"

# Exit codes pass through podman.
code=0
pod --runtime "$RUNTIME" run --rm --network none "$image" sh -c 'exit 5' >/dev/null 2>&1 || code=$?
assert_eq 5 "$code" "exit code through podman"

# Detached: podman's state/kill/delete go through the runtime too; exec joins the container.
name="c$E2E_ID"
pod --runtime "$RUNTIME" run -d --name "$name" --network none "$image" sleep 1000 >/dev/null || fail "podman run -d failed"
out=$(pod --runtime "$RUNTIME" exec "$name" sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "' 2>&1) ||
  fail "podman exec failed: $out"
grep -q exec-ok <<<"$out" || fail "podman exec output: $out"
grep -q "sleep 1000" <<<"$out" || fail "podman exec did not join the container: $out"
pod --runtime "$RUNTIME" stop -t 1 "$name" >/dev/null || fail "podman stop failed"
pod --runtime "$RUNTIME" rm "$name" >/dev/null || fail "podman rm failed"
pass "podman --runtime cloudlet-runtime: run, exit code, exec, stop, rm"

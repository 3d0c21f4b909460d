# shellcheck shell=bash
# Sourced by tests/e2e/test_runtime_*.sh and bench/containers.sh: a busybox rootfs and bundles for cloudlet's OCI
# runtime, and `rt` to call it with a private --root. Needs lib.sh first (e2e_defer, fail, E2E_TMP).

if [[ -n "${RUNTIME_LIB_LOADED:-}" ]]; then return 0; fi
RUNTIME_LIB_LOADED=1

RT_ROOT=""  # --root of this run (private, under E2E_TMP)

# rt_setup CLOUDLET: checks root and busybox, makes the private state root and a cloudlet-runtime symlink.
rt_setup() {
  CLOUDLET=$(realpath "$1")
  [[ -x "$CLOUDLET" ]] || fail "usage: $0 <path to cloudlet>"
  require_root
  require_cmd busybox python3
  RT_ROOT="$E2E_TMP/rtroot"
  mkdir -p "$RT_ROOT"
  ln -sf "$CLOUDLET" "$E2E_TMP/cloudlet-runtime"
  RUNTIME="$E2E_TMP/cloudlet-runtime"
  e2e_defer "rt_delete_all"
}

rt() { "$RUNTIME" --root "$RT_ROOT" "$@"; }

rt_delete_all() {
  local id
  for id in $("$RUNTIME" --root "$RT_ROOT" list -q 2>/dev/null); do
    "$RUNTIME" --root "$RT_ROOT" delete --force "$id" >/dev/null 2>&1
  done
}

# rt_rootfs DIR: a busybox rootfs (static /bin/busybox + its applets as symlinks), no chroot needed.
rt_rootfs() {
  local dir=$1
  mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,etc,tmp,root}
  cp /bin/busybox "$dir/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list-full); do
    [[ -e "$dir/$applet" ]] || ln -s /bin/busybox "$dir/$applet"
  done
  echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
  echo "root:x:0:" >"$dir/etc/group"
}

# rt_bundle DIR [ARGS...]: a bundle with a busybox rootfs and cloudlet's default spec running ARGS (default: sh).
# Edit the config with rt_config DIR 'python expression on c' afterwards.
rt_bundle() {
  local dir=$1
  shift
  mkdir -p "$dir"
  [[ -d "$dir/rootfs" ]] || rt_rootfs "$dir/rootfs"
  rm -f "$dir/config.json"
  (cd "$dir" && "$RUNTIME" spec) || fail "runtime spec failed"
  if [[ $# -gt 0 ]]; then
    local args
    args=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@")
    rt_config "$dir" "c['process']['args'] = $args; c['process']['terminal'] = False"
  else
    rt_config "$dir" "c['process']['terminal'] = False"
  fi
}

# rt_config DIR PYTHON: runs PYTHON with `c` bound to DIR/config.json, writes it back.
rt_config() {
  python3 - "$1/config.json" "$2" <<'PY' || fail "rt_config: $2"
import json, sys
path, code = sys.argv[1], sys.argv[2]
c = json.load(open(path))
exec(code)
json.dump(c, open(path, "w"), indent=2)
PY
}

# rt_status ID: the status field of `state`.
rt_status() { rt state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }

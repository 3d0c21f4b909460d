#!/usr/bin/env bash
# What a process in a cloudlet runtime container sees: its own id, hostname and pid 1; only its processes; only the
# default devices (no host disks) in /dev; it cannot mount or make device nodes (capabilities dropped) nor load kernel
# modules (capability dropped, and the spec's seccomp filter answers first).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/runtime_lib.sh"
rt_setup "${1:-}"

B="$E2E_TMP/bundle"
rt_bundle "$B" sh -c 'id; hostname; cat /proc/1/cmdline | tr "\0" " "; echo; ls /proc | grep -c "^[0-9]"; ls /dev | tr "\n" " "'
rt_config "$B" "c['hostname'] = 'box$E2E_ID'"
out=$(rt run --bundle "$B" "iso$E2E_ID") || fail "run failed: $out"
e2e_log "container said: $(tr '\n' '|' <<<"$out")"
grep -q "^uid=0(root) gid=0(root)" <<<"$out" || fail "id: $out"
grep -qx "box$E2E_ID" <<<"$out" || fail "hostname: $out"
grep -q "^sh -c id; hostname" <<<"$out" || fail "pid 1 is not the container's process: $out"
nproc=$(sed -n 4p <<<"$out")
((nproc <= 3)) || fail "the container sees $nproc processes (host processes visible?)"
devs=$(sed -n 5p <<<"$out")
for d in null zero full random urandom tty; do grep -qw "$d" <<<"$devs" || fail "/dev/$d missing: $devs"; done
for d in $(ls /dev | grep -E '^(vd|sd|nvme|xvd|loop|mem|kmsg)' | head -5); do
  grep -qw "$d" <<<"$devs" && fail "host device /dev/$d visible in the container"
done

# Mounting and mknod need capabilities the container does not have.
disk=$(ls /dev/vda /dev/sda /dev/nvme0n1 2>/dev/null | head -1 || true)
rt_config "$B" "c['process']['args'] = ['sh', '-c', 'mknod /tmp/d b 253 0; echo mknod=\$?; mount -t tmpfs none /tmp; echo mount=\$?; mount ${disk:-/dev/vda} /tmp; echo mountdisk=\$?']; c['mounts'].append({'destination': '/tmp', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['nosuid']})"
out=$(rt run --bundle "$B" "iso2$E2E_ID" 2>&1) || true
e2e_log "mount attempts: $(tr '\n' '|' <<<"$out")"
grep -q "mknod=0" <<<"$out" && fail "mknod succeeded in the container"
grep -q "mount=0" <<<"$out" && fail "mount succeeded in the container"
grep -q "mountdisk=0" <<<"$out" && fail "mounting the host disk succeeded"
grep -q "mount=" <<<"$out" || fail "the mount test did not run: $out"

# Kernel modules: refused without the capability (EPERM, or ENOSYS from a kernel without modules); with the spec's
# seccomp filter the filter answers first, with the errno it names (EACCES here, which nothing else returns).
rt_config "$B" "c['process']['args'] = ['sh', '-c', 'insmod /bin/busybox; echo insmod=\$?; grep Seccomp: /proc/self/status']"
out=$(rt run --bundle "$B" "iso3$E2E_ID" 2>&1) || true
grep -q "insmod=0" <<<"$out" && fail "insmod succeeded: $out"
grep -Eqi "not permitted|not support|not implemented" <<<"$out" || fail "insmod without seccomp: $out"
rt_config "$B" "c['linux']['seccomp'] = {'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': ['SCMP_ARCH_X86_64'], 'syscalls': [{'names': ['init_module', 'finit_module', 'no_such_syscall'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 13}]}"
out=$(rt run --bundle "$B" "iso4$E2E_ID" 2>&1) || true
e2e_log "with seccomp: $(tr '\n' '|' <<<"$out")"
grep -q "insmod=0" <<<"$out" && fail "insmod succeeded with seccomp: $out"
grep -qi "permission denied" <<<"$out" || fail "seccomp did not answer init_module with EACCES: $out"
grep -q "Seccomp:.*2" <<<"$out" || fail "no seccomp filter on the process: $out"
pass "runtime isolation: ids, pid namespace, /dev, no mount/mknod, no module loading"

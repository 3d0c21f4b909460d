// Mounts inside a container's rootfs: the spec's option words turned into mount(2) flags and data, and path
// resolution that keeps every destination inside the rootfs even when the rootfs (which the image controls) holds
// symlinks pointing out of it ("/etc -> /host/etc", "../../.."): they are resolved as if the rootfs were "/".
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "oci/runtime_spec.h"

namespace cloudlet::container {

struct MountOptions {
  unsigned long flags = 0;                 // MS_RDONLY, MS_NOSUID, ... (MS_BIND / MS_REC for bind and rbind)
  std::vector<unsigned long> propagation;  // MS_PRIVATE|MS_REC, MS_SHARED, ... applied after the mount, in order
  std::string data;                        // the options mount(2) does not know as flags, comma separated ("mode=755")
  bool bind = false;
  bool recursive = false;
};

// Parses the spec's options ("nosuid", "rbind", "ro", "rprivate", "mode=755", ...). Flags that clear something
// ("rw", "suid", "dev", "exec", "atime", ...) clear it. Refuses idmapped mounts ("idmap", "ridmap").
Result<MountOptions> ParseMountOptions(const std::vector<std::string>& options);
// "private" / "rshared" / ... (linux.rootfsPropagation); "" -> MS_PRIVATE|MS_REC.
Result<unsigned long> ParsePropagation(const std::string& name);

// Resolves `path` (absolute, as the container sees it) inside `root` without leaving it: symlinks are followed as if
// `root` were "/", ".." stops at root. Components that do not exist are appended as given. Returns a host path
// below `root`. At most 255 symlinks are followed.
Result<std::string> ResolveInRoot(const std::string& root, const std::string& path);
// The same, creating missing directories (mode 0755) on the way; the last component is created as a directory, or
// as an empty file when `file` is true.
Result<std::string> CreateInRoot(const std::string& root, const std::string& path, bool file);

// What the init needs to mount the spec's `cgroup` mounts on a v1 layout: each hierarchy's mount point basename
// ("cpu,cpuacct") and the container's directory in it.
struct CgroupMountSource {
  std::string name;
  std::string dir;
};

// Mounts one spec mount into `rootfs` (before pivot_root). `in_userns`: flags the kernel locks on bind sources are
// preserved on remount, sysfs falls back to a bind of the host's /sys. Destinations are opened with
// openat2(RESOLVE_IN_ROOT) and mounted on through /proc/self/fd so a symlink swapped in meanwhile cannot redirect them.
Status MountInRootfs(const std::string& rootfs, const std::string& bundle, const oci::Mount& mount, bool in_userns,
                     bool cgroup_ns, const std::vector<CgroupMountSource>& cgroup_v1, const std::string& cgroup_v2_dir);

// The default device nodes every container gets (null zero full random urandom tty).
std::vector<oci::Device> DefaultDevices();
// Creates `device` in rootfs: mknod, or (in a user namespace, where mknod is denied) a bind of the host's node.
Status CreateDevice(const std::string& rootfs, const oci::Device& device, bool bind_from_host);
// /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr, /dev/ptmx symlinks.
Status CreateDevSymlinks(const std::string& rootfs);

// After pivot_root: mask (bind /dev/null, or an empty read-only tmpfs on directories) and make read-only.
Status MaskPath(const std::string& path);
Status ReadonlyPath(const std::string& path);

// Switches the root to `rootfs` (pivot_root, or MS_MOVE + chroot when `no_pivot`).
Status PivotRoot(const std::string& rootfs, bool no_pivot);

}  // namespace cloudlet::container

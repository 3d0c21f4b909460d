// Control groups for containers: cgroup v2 (unified) and v1 (legacy or hybrid: v1 controllers with a v2 tree for
// systemd only), chosen by looking at /sys/fs/cgroup, never by configuration. A Cgroup is one container's group: in v2
// a single directory, in v1 one directory per controller hierarchy (memory, cpu/cpuacct, pids, cpuset, devices,
// freezer) under the same relative path.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "base/status.h"
#include "oci/runtime_spec.h"

namespace cloudlet::container {

enum class CgroupVersion { kV1, kV2 };

struct CgroupStats {
  std::optional<uint64_t> memory_current;  // bytes (v2 memory.current, v1 memory.usage_in_bytes)
  std::optional<uint64_t> memory_max_hit;  // times the limit was hit (v2 memory.events max, v1 failcnt + memsw.failcnt)
  std::optional<uint64_t> oom_kills;       // v2 memory.events oom_kill; v1 memory.oom_control oom_kill
  std::optional<uint64_t> pids_current;
  std::optional<uint64_t> cpu_usage_ns;
};

// Where the hierarchies are mounted; Detect() reads /proc/self/mountinfo. Tests pass a fake root.
struct CgroupLayout {
  CgroupVersion version = CgroupVersion::kV2;
  std::string unified;  // v2 mount point (v2 layout), "" in pure v1
  // v1: controller name ("memory", "cpu", "cpuacct", "pids", "cpuset", "devices", "freezer") -> its mount point.
  std::vector<std::pair<std::string, std::string>> v1;
  // Called with (file, value) before every write to a control file, in order. For tests on a fake tree, where a file
  // only keeps the last value written (the order of memory vs memory+swap, device deny-all before allows).
  std::function<void(const std::string& file, const std::string& value)> on_write;

  static Result<CgroupLayout> Detect();
  // Parses /proc/self/mountinfo text: v1 if any of the controllers above is on a v1 ("cgroup") mount (legacy or hybrid,
  // `unified` then holds the systemd-only cgroup2 mount if there is one), else v2 if a cgroup2 mount exists (the one at
  // /sys/fs/cgroup preferred). Every mount point is prefixed with `root` (tests: a fake tree under a temp dir).
  static Result<CgroupLayout> FromMountinfo(std::string_view mountinfo, std::string_view root = "");
};

// The group's path under each hierarchy root from the spec's linux.cgroupsPath: "/a/b" stays, "a/b" becomes
// "/cloudlet/a/b", "" becomes "/cloudlet/<id>". Refuses ".." and "." components, the root itself and an id that is not
// a single path component.
Result<std::string> CgroupRelativePath(const std::string& path, const std::string& id);

// A process joining a group from the inside (v1): the hierarchies' `tasks` files, opened by the runtime before it
// clones the process; the child inherits them and writes "0" (itself) to each. Moving the calling thread alone skips
// the global threadgroup lock whose write side waits for an RCU grace period (10-20 ms on a PREEMPT_RT kernel), which
// writing a pid to cgroup.procs always takes; for a fresh single-threaded child, moving the thread moves the process.
// The kernel checks the credentials the files were opened with, so a child already in a new user namespace can join.
class CgroupSelfJoin {
 public:
  bool empty() const { return files_.empty(); }
  // In the child: joins every hierarchy, closes the files. Before it allocates much (memory is charged where it is
  // allocated) and before it unshares its cgroup namespace (whose root is the group it is in then).
  Status Join();
  // In the parent, once the child is cloned: the files are the child's now.
  void Close() { files_.clear(); }

 private:
  friend class Cgroup;
  std::vector<std::pair<std::string, UniqueFd>> files_;  // path (for messages), open file
};

class Cgroup {
 public:
  // `path` as the spec's linux.cgroupsPath: "/a/b" relative to the hierarchy roots; "" means "/cloudlet/<id>".
  // Creates the directories (and in v2 enables the needed controllers in the parents' cgroup.subtree_control).
  static Result<std::unique_ptr<Cgroup>> Create(const CgroupLayout& layout, const std::string& path,
                                                const std::string& id);
  // Re-opens an existing group (a later `runtime kill/delete/state` process).
  static Result<std::unique_ptr<Cgroup>> Open(const CgroupLayout& layout, const std::string& path,
                                              const std::string& id);

  // Writes the limits (memory, memory+swap, cpu shares/weight, quota/period, cpuset cpus/mems, pids, device rules).
  // A limit the hierarchy lacks (no controller mounted/enabled) is an error naming it, never silently dropped.
  Status Apply(const oci::Resources& resources);
  Status AddProcess(pid_t pid);
  // v1: opens the `tasks` files a child joins through (see CgroupSelfJoin). v2: empty (clone into OpenDir instead).
  Result<CgroupSelfJoin> PrepareSelfJoin() const;
  // v2: the group's directory, for clone3(CLONE_INTO_CGROUP), which creates the process inside the group and never
  // migrates it. v1: an error.
  Result<UniqueFd> OpenDir() const;
  std::vector<pid_t> Processes() const;
  CgroupStats Stats() const;
  // Freezes / thaws every process (v2 cgroup.freeze, v1 freezer.state), used to kill a group without races.
  Status Freeze(bool frozen);
  // Kills every process (SIGKILL), waits (bounded, on pidfds) until the group is empty, removes the directories. An
  // empty group (the container's processes have exited) is only removed.
  Status Destroy();

  CgroupVersion version() const;
  // The directory for one controller ("memory", ...; v2: the one directory).
  std::string Dir(const std::string& controller) const;
  ~Cgroup();

 private:
  Cgroup() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloudlet::container

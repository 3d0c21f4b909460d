// The OCI runtime specification 1.x (config.json of a bundle) as cloudlet's runtime consumes it: the Linux parts
// only, every field the runtime acts on. Parsing validates everything the kernel would otherwise reject later, with an
// error that names the JSON path ("linux.namespaces[2].type: unknown namespace \"net2\""), and refuses what the
// runtime cannot honour rather than ignoring it silently. Unknown fields are ignored, as the spec requires.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace cloudlet::oci {

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
  bool operator==(const User&) const = default;
};

// Capability names as the spec writes them ("CAP_NET_ADMIN"); validated against the kernel's list at parse time.
struct Capabilities {
  std::vector<std::string> bounding, effective, permitted, inheritable, ambient;
  bool operator==(const Capabilities&) const = default;
};

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE", ...
  uint64_t soft = 0;
  uint64_t hard = 0;
  bool operator==(const Rlimit&) const = default;
};

struct ConsoleSize {
  uint32_t height = 0;
  uint32_t width = 0;
  bool operator==(const ConsoleSize&) const = default;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;  // non-empty
  std::vector<std::string> env;   // "KEY=value"
  std::string cwd = "/";          // absolute
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::string apparmor_profile;  // accepted, not applied (no AppArmor here); must be empty or "unconfined"
  std::optional<int> oom_score_adj;
  std::string selinux_label;  // must be empty (no SELinux here)
  bool operator==(const Process&) const = default;
};

struct Root {
  std::string path;  // relative to the bundle, or absolute
  bool readonly = false;
  bool operator==(const Root&) const = default;
};

struct Mount {
  std::string destination;  // absolute, in the container
  std::string type;         // "proc", "sysfs", "tmpfs", "bind", "devpts", "mqueue", "cgroup", ...
  std::string source;
  std::vector<std::string> options;  // as written: "nosuid", "rbind", "rprivate", "mode=755", ...
  // uidMappings / gidMappings on mounts (idmapped mounts) are refused at parse time.
  bool operator==(const Mount&) const = default;
};

struct Hook {
  std::string path;  // absolute
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds, > 0
  bool operator==(const Hook&) const = default;
};

struct Hooks {
  std::vector<Hook> prestart;  // deprecated in the spec, still called (runc does)
  std::vector<Hook> create_runtime, create_container, start_container, poststart, poststop;
  bool operator==(const Hooks&) const = default;
};

enum class NamespaceType { kPid, kNetwork, kMount, kIpc, kUts, kUser, kCgroup, kTime };
std::string_view NamespaceName(NamespaceType type);  // "pid", "network", ... as in the spec

struct Namespace {
  NamespaceType type;
  std::string path;  // join this existing namespace (/proc/PID/ns/net, /run/netns/NAME) instead of creating one
  bool operator==(const Namespace&) const = default;
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;  // > 0
  bool operator==(const IdMapping&) const = default;
};

struct Device {
  std::string path;  // absolute, in the container
  char type = 'c';   // 'c', 'b', 'u' or 'p'
  int64_t major = 0, minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid, gid;
  bool operator==(const Device&) const = default;
};

struct DeviceRule {  // linux.resources.devices[]: the cgroup device allow/deny list
  bool allow = false;
  char type = 'a';                      // 'a', 'c' or 'b'
  std::optional<int64_t> major, minor;  // absent: any (*)
  std::string access;                   // subset of "rwm"
  bool operator==(const DeviceRule&) const = default;
};

struct MemoryLimits {
  std::optional<int64_t> limit;  // bytes; -1 unlimited
  std::optional<int64_t> reservation;
  std::optional<int64_t> swap;  // memory+swap, as runc
  std::optional<uint64_t> swappiness;
  std::optional<bool> disable_oom_killer;
  bool operator==(const MemoryLimits&) const = default;
};

struct CpuLimits {
  std::optional<uint64_t> shares;
  std::optional<int64_t> quota;  // microseconds per period; -1 unlimited
  std::optional<uint64_t> period;
  std::string cpus;  // cpuset "0-1,3"
  std::string mems;
  bool operator==(const CpuLimits&) const = default;
};

struct Resources {
  std::vector<DeviceRule> devices;
  std::optional<MemoryLimits> memory;
  std::optional<CpuLimits> cpu;
  std::optional<int64_t> pids_limit;  // pids.limit; -1 or 0 unlimited
  // blockIO, hugepageLimits, network, rdma, unified: parsed only as far as to refuse non-empty ones the runtime
  // cannot apply ("linux.resources.blockIO: not supported").
  bool operator==(const Resources&) const = default;
};

enum class SeccompAction { kKill, kKillProcess, kKillThread, kTrap, kErrno, kTrace, kAllow, kLog, kNotify };

enum class SeccompOp { kNotEqual, kLessThan, kLessEqual, kEqualTo, kGreaterEqual, kGreaterThan, kMaskedEqual };

struct SeccompArg {
  uint32_t index = 0;  // 0..5
  uint64_t value = 0;
  uint64_t value_two = 0;
  SeccompOp op = SeccompOp::kEqualTo;
  bool operator==(const SeccompArg&) const = default;
};

struct SeccompRule {
  std::vector<std::string> names;  // syscall names; unknown ones on this architecture are skipped when loading
  SeccompAction action = SeccompAction::kAllow;
  std::optional<uint32_t> errno_ret;
  std::vector<SeccompArg> args;
  bool operator==(const SeccompRule&) const = default;
};

struct Seccomp {
  SeccompAction default_action = SeccompAction::kAllow;
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;  // "SCMP_ARCH_X86_64", ...
  std::vector<std::string> flags;          // "SECCOMP_FILTER_FLAG_LOG", ...
  std::vector<SeccompRule> syscalls;
  bool operator==(const Seccomp&) const = default;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::map<std::string, std::string> sysctl;
  std::optional<Resources> resources;
  std::string cgroups_path;  // "/a/b" (relative to the cgroup root) or "a/b" (relative to the runtime's own)
  std::vector<Device> devices;
  std::optional<Seccomp> seccomp;
  std::string rootfs_propagation;  // "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable"
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::string mount_label;  // must be empty
  bool has(NamespaceType type) const;
  const Namespace* find(NamespaceType type) const;
  bool operator==(const Linux&) const = default;
};

struct Spec {
  std::string oci_version;         // "1.0.0" .. "1.2.x": major 1 required
  std::optional<Process> process;  // required by create/run
  Root root;
  std::string hostname;
  std::string domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  Linux linux;
  bool operator==(const Spec&) const = default;
};

// Parses and validates config.json text. Errors name the JSON path and what is wrong with it.
Result<Spec> ParseSpec(std::string_view json);
// Reads <bundle>/config.json (bounded size) and parses it.
Result<Spec> LoadSpec(const std::string& bundle_dir);
// The spec back as JSON (what `cloudlet runtime spec` writes: a default, runnable config.json, runc's template).
std::string SpecToJson(const Spec& spec);
// runc's `spec` default: sh as the process, the usual mounts, masked/readonly paths, the default capability set,
// pid/network/ipc/uts/mount namespaces; `rootless` adds a user namespace mapping the caller's ids.
Spec DefaultSpec(bool rootless = false, uint32_t uid = 0, uint32_t gid = 0);

}  // namespace cloudlet::oci

// What the container's process gets on top of its namespaces and mounts, applied by the init (or an exec'd process)
// in this order: rlimits, no_new_privileges, capability bounding set, user and groups (keeping the permitted set),
// the effective/permitted/inheritable sets, ambient capabilities; then the executable is found on the container's
// PATH. Also: id-mapping text for /proc/PID/uid_map and hook execution with the state on stdin and a timeout.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/status.h"
#include "oci/runtime_spec.h"

namespace cloudlet::container {

// Capability numbers for the spec's names ("CAP_NET_ADMIN"); unknown names are errors naming them.
Result<std::vector<int>> CapabilityNumbers(const std::vector<std::string>& names);

struct ResolvedCapabilities {
  std::vector<int> bounding, effective, permitted, inheritable, ambient;
};
Result<ResolvedCapabilities> ResolveCapabilities(const oci::Capabilities& caps);

Status ApplyRlimits(const std::vector<oci::Rlimit>& rlimits);
// Drops the bounding set to `caps->bounding` (needs CAP_SETPCAP, so before the user changes), sets groups, gid, uid
// keeping permitted capabilities across the uid change, then sets the three sets and raises the ambient ones.
// `caps` null: the capabilities are left as the user change leaves them.
Status ApplyUserAndCapabilities(const oci::User& user, const ResolvedCapabilities* caps);

// "0 100000 65536\n" lines for /proc/PID/uid_map (one per mapping).
std::string IdMapText(const std::vector<oci::IdMapping>& mappings);

// Looks `file` up in the PATH of `env` (the container's, "PATH=..."; a default PATH when absent) unless it contains a
// slash. Must run inside the container's root. Returns the path to execute.
Result<std::string> FindExecutable(const std::string& file, const std::vector<std::string>& env);

// Runs one hook: execve(path, args, env) with `state_json` on stdin; kills it and fails after hook.timeout seconds.
// A non-zero exit is an error naming the hook.
Status RunHook(const oci::Hook& hook, const std::string& state_json);
Status RunHooks(const std::vector<oci::Hook>& hooks, const std::string& state_json, const char* kind);

}  // namespace cloudlet::container

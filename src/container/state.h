// A container's record on disk (<root>/<id>/state.json, written atomically) and the state JSON that `runtime state`
// prints and hooks receive on stdin. The status is never stored: it is derived from the process (its pid AND its
// start time, so a recycled pid is never taken for the container) and from whether exec.fifo still exists.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace cloudlet::container {

enum class ContainerStatus { kCreating, kCreated, kRunning, kStopped };
std::string_view StatusName(ContainerStatus status);  // "creating", "created", "running", "stopped"

struct ContainerRecord {
  std::string oci_version;
  std::string id;
  pid_t pid = 0;
  uint64_t start_time = 0;  // /proc/PID/stat field 22 (clock ticks since boot)
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339 with nanoseconds, UTC
  std::string owner;
  std::map<std::string, std::string> annotations;
  std::string cgroups_path;  // linux.cgroupsPath as given ("" = /cloudlet/<id>)
  bool has_cgroup = false;
  bool operator==(const ContainerRecord&) const = default;
};

// Record <-> state.json.
std::string RecordToJson(const ContainerRecord& record);
Result<ContainerRecord> RecordFromJson(std::string_view json);

// The state as runc prints it for `state` (indented; ociVersion, id, pid, status, bundle, rootfs, created, owner,
// annotations when present). A stopped container reports pid 0, as runc does.
std::string StateJson(const ContainerRecord& record, ContainerStatus status);
// The runtime-spec state object hooks read on stdin (ociVersion, id, status, pid, bundle, annotations), one line.
std::string HookStateJson(const ContainerRecord& record, ContainerStatus status);

// Field 22 (starttime) of a /proc/PID/stat line; the command name (field 2) may contain spaces and parentheses.
Result<uint64_t> ParseStatStartTime(std::string_view stat);
// Field 3 (state letter) of the same line.
Result<char> ParseStatState(std::string_view stat);
// Reads /proc/PID/stat; nullopt when the process does not exist.
std::optional<std::string> ReadProcStat(pid_t pid);

// Whether `pid` is still the process that was started at `start_time` and has not exited (zombies count as gone).
bool ProcessAlive(pid_t pid, uint64_t start_time);

// Current time as RFC 3339 with nanoseconds ("2026-11-27T03:34:57.123456789Z").
std::string NowRfc3339();

// Writes `data` to `path` via a temporary file and rename, so a reader never sees half a file.
Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode = 0600);
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes = 16 << 20);

// A container id as runc accepts it: [A-Za-z0-9_+.-], 1..1024 chars, not "." or "..".
Status ValidateId(std::string_view id);

}  // namespace cloudlet::container

#include "container/state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/fd.h"

namespace cloudlet::container {

using nlohmann::json;

std::string_view StatusName(ContainerStatus status) {
  switch (status) {
    case ContainerStatus::kCreating:
      return "creating";
    case ContainerStatus::kCreated:
      return "created";
    case ContainerStatus::kRunning:
      return "running";
    case ContainerStatus::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::string RecordToJson(const ContainerRecord& r) {
  json j = {{"ociVersion", r.oci_version},
            {"id", r.id},
            {"pid", r.pid},
            {"startTime", r.start_time},
            {"bundle", r.bundle},
            {"rootfs", r.rootfs},
            {"created", r.created},
            {"owner", r.owner},
            {"annotations", r.annotations},
            {"cgroupsPath", r.cgroups_path},
            {"hasCgroup", r.has_cgroup}};
  return j.dump();
}

Result<ContainerRecord> RecordFromJson(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error("state.json: not a JSON object");
  ContainerRecord r;
  try {
    r.oci_version = j.value("ociVersion", "");
    r.id = j.at("id").get<std::string>();
    r.pid = j.at("pid").get<pid_t>();
    r.start_time = j.value("startTime", uint64_t{0});
    r.bundle = j.value("bundle", "");
    r.rootfs = j.value("rootfs", "");
    r.created = j.value("created", "");
    r.owner = j.value("owner", "");
    if (j.contains("annotations")) r.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
    r.cgroups_path = j.value("cgroupsPath", "");
    r.has_cgroup = j.value("hasCgroup", false);
  } catch (const json::exception& e) {
    return Error(std::string("state.json: ") + e.what());
  }
  return r;
}

std::string StateJson(const ContainerRecord& r, ContainerStatus status) {
  json j = json::object();
  j["ociVersion"] = r.oci_version;
  j["id"] = r.id;
  j["pid"] = status == ContainerStatus::kStopped ? 0 : r.pid;
  j["status"] = StatusName(status);
  j["bundle"] = r.bundle;
  j["rootfs"] = r.rootfs;
  j["created"] = r.created;
  j["owner"] = r.owner;
  if (!r.annotations.empty()) j["annotations"] = r.annotations;
  return j.dump(2);
}

std::string HookStateJson(const ContainerRecord& r, ContainerStatus status) {
  json j = json::object();
  j["ociVersion"] = r.oci_version;
  j["id"] = r.id;
  j["status"] = StatusName(status);
  if (r.pid > 0) j["pid"] = r.pid;
  j["bundle"] = r.bundle;
  j["annotations"] = r.annotations;
  return j.dump();
}

namespace {
// The fields after the command name: "S ppid pgrp ..." (field 3 onwards).
Result<std::string_view> StatTail(std::string_view stat) {
  size_t close = stat.rfind(')');
  if (close == std::string_view::npos || close + 2 > stat.size()) return Error("malformed /proc stat line");
  return stat.substr(close + 2);
}
}  // namespace

Result<uint64_t> ParseStatStartTime(std::string_view stat) {
  CL_ASSIGN_OR_RETURN(std::string_view tail, StatTail(stat));
  // tail starts at field 3; starttime is field 22 -> 19 separators later.
  size_t pos = 0;
  for (int field = 3; field < 22; ++field) {
    pos = tail.find(' ', pos);
    if (pos == std::string_view::npos) return Error("malformed /proc stat line: too few fields");
    ++pos;
  }
  uint64_t v = 0;
  bool any = false;
  for (; pos < tail.size() && tail[pos] >= '0' && tail[pos] <= '9'; ++pos) {
    v = v * 10 + static_cast<uint64_t>(tail[pos] - '0');
    any = true;
  }
  if (!any) return Error("malformed /proc stat line: starttime is not a number");
  return v;
}

Result<char> ParseStatState(std::string_view stat) {
  CL_ASSIGN_OR_RETURN(std::string_view tail, StatTail(stat));
  if (tail.empty()) return Error("malformed /proc stat line: no state");
  return tail[0];
}

std::optional<std::string> ReadProcStat(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  char buf[1024];
  ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

bool ProcessAlive(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return false;
  auto stat = ReadProcStat(pid);
  if (!stat) return false;
  auto st = ParseStatStartTime(*stat);
  if (!st.ok() || *st != start_time) return false;
  auto state = ParseStatState(*stat);
  return state.ok() && *state != 'Z' && *state != 'X';
}

std::string NowRfc3339() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &t);
  snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoError("create " + tmp);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename " + tmp + " to " + path);
  return Status::Ok();
}

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  std::string out;
  char buf[16384];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) return Error(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  return out;
}

Status ValidateId(std::string_view id) {
  if (id.empty()) return Error("container id is empty");
  if (id.size() > 1024) return Error("container id longer than 1024 characters");
  if (id == "." || id == "..") return Error("invalid container id \"" + std::string(id) + "\"");
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
              c == '-' || c == '.';
    if (!ok) return Error("invalid container id \"" + std::string(id) + "\": only [A-Za-z0-9_+.-] allowed");
  }
  return Status::Ok();
}

}  // namespace cloudlet::container

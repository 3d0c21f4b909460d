// Control groups: detection from mountinfo, group creation (v2: controllers enabled top-down in the ancestors'
// cgroup.subtree_control; v1: one directory per hierarchy, cpuset values copied from the parent), limits in the order
// the kernel accepts them, stats, the freezer, and teardown (freeze, SIGKILL, thaw, wait, rmdir). Every wait is
// bounded.
#include "container/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <sstream>
#include <thread>

#include "base/clock.h"

namespace cloudlet::container {
namespace {

constexpr Nanos kFreezeTimeout = 5 * kSecond;
constexpr Nanos kEmptyTimeout = 5 * kSecond;
constexpr Nanos kRmdirTimeout = 1 * kSecond;
// The waits that have no event to wait on (the v1 freezer leaving FREEZING; rmdir's EBUSY for a moment after the last
// process left) look again after this; the others wait on pidfds or cgroup.events.
constexpr auto kPollInterval = std::chrono::milliseconds(1);
constexpr int kMaxEventWaitMs = 100;        // one event wait; the loops around them check their deadline
constexpr size_t kMaxFileBytes = 16 << 20;  // cgroup.procs of a huge group still fits
constexpr int kMaxNesting = 32;             // nested groups walked by Processes/Destroy
constexpr size_t kMaxPathBytes = 4096;

// The v1 hierarchies a container's group lives in, and the v2 controllers enabled for it.
constexpr std::string_view kV1Controllers[] = {"memory", "cpu", "cpuacct", "pids", "cpuset", "devices", "freezer"};
constexpr std::string_view kV2Controllers[] = {"cpuset", "cpu", "memory", "pids"};

bool IsV1Controller(std::string_view name) {
  return std::find(std::begin(kV1Controllers), std::end(kV1Controllers), name) != std::end(kV1Controllers);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::vector<std::string> SplitWords(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Single spaces separate mountinfo fields; a field can be empty (a mount whose source is "").
std::vector<std::string> SplitFields(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (true) {
    size_t j = s.find(' ', i);
    if (j == std::string_view::npos) {
      out.emplace_back(s.substr(i));
      return out;
    }
    out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
}

bool Contains(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("read " + path);
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoError("read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFileBytes) {
      close(fd);
      return Error("read " + path + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
    }
  }
  close(fd);
  return out;
}

// One write() of the whole value: control files take one value per write and report a bad one as the write's errno.
Status WriteFile(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return ErrnoError("write " + path);
  ssize_t n;
  do {
    n = write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return ErrnoError("write " + path, err);
  if (static_cast<size_t>(n) != value.size()) return Error("write " + path + ": short write");
  return Status::Ok();
}

std::optional<uint64_t> ParseU64(std::string_view s) {
  s = Trim(s);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<uint64_t> ReadU64(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  return ParseU64(*text);
}

// "key value" lines (memory.events, cpu.stat, memory.oom_control, cgroup.events).
std::optional<uint64_t> ReadKeyed(const std::string& path, std::string_view key) {
  auto text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    auto words = SplitWords(line);
    if (words.size() == 2 && words[0] == key) return ParseU64(words[1]);
  }
  return std::nullopt;
}

// Mount points in mountinfo escape space, tab, newline and backslash as \ooo.
std::string UnescapeMountField(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string StripSlashes(std::string_view dir) {
  while (!dir.empty() && dir.back() == '/') dir.remove_suffix(1);
  return std::string(dir);
}

std::string JoinPath(std::string_view root, std::string_view rel) {
  std::string out = StripSlashes(root);
  if (rel.empty() || rel.front() != '/') out.push_back('/');
  out.append(rel);
  return out;
}

std::vector<std::string> Components(const std::string& rel) {
  std::vector<std::string> out;
  std::string_view s(rel);
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('/', i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

void SleepPoll() { std::this_thread::sleep_for(kPollInterval); }

// The groups nested directly in `dir` (its subdirectories), as paths; closes `d`.
std::vector<std::string> SubGroups(DIR* d, const std::string& dir) {
  std::vector<std::string> subdirs;
  while (dirent* e = readdir(d)) {
    std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    if (e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && IsDir(dir + "/" + e->d_name)))
      subdirs.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  return subdirs;
}

// Pids in `dir`'s cgroup.procs and in every nested group below it (a container may create its own sub-groups).
void CollectPids(const std::string& dir, int depth, std::vector<pid_t>* out) {
  if (depth > kMaxNesting) return;
  if (auto text = ReadFile(dir + "/cgroup.procs"); text.ok()) {
    for (const auto& w : SplitWords(*text)) {
      if (auto v = ParseU64(w); v && *v > 0 && *v <= INT32_MAX) out->push_back(static_cast<pid_t>(*v));
    }
  }
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subdirs = SubGroups(d, dir);
  for (const auto& sub : subdirs) CollectPids(sub, depth + 1, out);
}

// Removes a group and the groups nested in it, deepest first. rmdir on a group whose last process just exited can
// report EBUSY for a moment, so that is retried briefly.
Status RemoveGroupTree(const std::string& dir, int depth) {
  if (depth > kMaxNesting) return Error("rmdir " + dir + ": groups nested deeper than " + std::to_string(kMaxNesting));
  if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return Status::Ok();  // the usual case: no nested groups
  DIR* d = opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoError("open " + dir);
  }
  std::vector<std::string> subdirs = SubGroups(d, dir);
  for (const auto& sub : subdirs) CL_RETURN_IF_ERROR(RemoveGroupTree(sub, depth + 1));
  MonotonicClock clock;
  const Nanos deadline = clock.now() + kRmdirTimeout;
  while (rmdir(dir.c_str()) != 0) {
    if (errno == ENOENT) return Status::Ok();
    if (errno != EBUSY || clock.now() >= deadline) return ErrnoError("rmdir " + dir);
    SleepPoll();
  }
  return Status::Ok();
}

Status MissingV1(std::string_view controller, std::string_view what) {
  return Error("cgroup v1 controller " + std::string(controller) + " is not mounted (needed for " + std::string(what) +
               ")");
}

}  // namespace

namespace {
Error DotComponent(const std::string& path, const std::string& component) {
  return Error("linux.cgroupsPath \"" + path + "\": \"" + component + "\" components not allowed");
}
}  // namespace

Result<std::string> CgroupRelativePath(const std::string& path, const std::string& id) {
  if (id.empty() || id == "." || id == ".." || id.find('/') != std::string::npos ||
      id.find('\0') != std::string::npos || id.find('\n') != std::string::npos || id.size() > 255) {
    return Error("container id \"" + id + "\": not usable as a cgroup name (one path component, no \"/\")");
  }
  std::string full;
  if (path.empty()) {
    full = "/cloudlet/" + id;
  } else if (path.front() == '/') {
    full = path;
  } else {
    full = "/cloudlet/" + path;
  }
  if (full.size() > kMaxPathBytes) return Error("linux.cgroupsPath: longer than 4096 bytes");
  if (full.find('\0') != std::string::npos || full.find('\n') != std::string::npos) {
    return Error("linux.cgroupsPath \"" + path + "\": contains a NUL or newline");
  }
  std::string out;
  for (const auto& c : Components(full)) {
    if (c == "." || c == "..") return DotComponent(path, c);
    out += '/';
    out += c;
  }
  if (out.empty()) return Error("linux.cgroupsPath \"" + path + "\": the root group cannot be a container's group");
  return out;
}

Result<CgroupLayout> CgroupLayout::FromMountinfo(std::string_view mountinfo, std::string_view root) {
  std::vector<std::string> v2_points;
  CgroupLayout layout;
  std::vector<bool> v1_root_mount;  // parallel to layout.v1: the mount shows the hierarchy's root
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < mountinfo.size()) {
    size_t end = mountinfo.find('\n', pos);
    if (end == std::string_view::npos) end = mountinfo.size();
    std::string_view line = mountinfo.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (Trim(line).empty()) continue;
    auto fields = SplitFields(line);
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    auto sep = std::find(fields.begin(), fields.end(), "-");
    if (sep == fields.end() || sep - fields.begin() < 6 || fields.end() - sep < 4) {
      return Error("mountinfo line " + std::to_string(line_no) +
                   ": not \"id parent dev root mount-point options ... - fstype source super-options\"");
    }
    const std::string& fstype = *(sep + 1);
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    std::string point = JoinPath(root, UnescapeMountField(fields[4]));
    if (fstype == "cgroup2") {
      v2_points.push_back(point);
      continue;
    }
    bool hierarchy_root = fields[3] == "/";
    std::string_view super = *(sep + 3);
    size_t i = 0;
    while (i <= super.size()) {
      size_t j = super.find(',', i);
      if (j == std::string_view::npos) j = super.size();
      std::string_view opt = super.substr(i, j - i);
      i = j + 1;
      if (!IsV1Controller(opt)) continue;
      auto it = std::find_if(layout.v1.begin(), layout.v1.end(), [&](const auto& e) { return e.first == opt; });
      if (it == layout.v1.end()) {
        layout.v1.emplace_back(std::string(opt), point);
        v1_root_mount.push_back(hierarchy_root);
      } else if (hierarchy_root && !v1_root_mount[it - layout.v1.begin()]) {
        // A bind mount of a sub-group came first; the mount of the whole hierarchy is the one to use.
        it->second = point;
        v1_root_mount[it - layout.v1.begin()] = true;
      }
    }
  }
  if (!v2_points.empty()) {
    layout.unified = v2_points.front();
    for (const auto& p : v2_points) {
      if (p == JoinPath(root, "/sys/fs/cgroup")) layout.unified = p;
    }
  }
  if (!layout.v1.empty()) {
    layout.version = CgroupVersion::kV1;
    return layout;
  }
  if (layout.unified.empty()) return Error("no cgroup hierarchy mounted (no cgroup or cgroup2 in mountinfo)");
  layout.version = CgroupVersion::kV2;
  return layout;
}

Result<CgroupLayout> CgroupLayout::Detect() {
  CL_ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/mountinfo"));
  auto layout = FromMountinfo(text);
  if (!layout.ok()) return layout.error().wrap("/proc/self/mountinfo");
  return layout;
}

struct Cgroup::Impl {
  CgroupLayout layout;
  std::string rel;     // "/cloudlet/<id>"
  std::string v2_dir;  // v2: the group's directory
  // v1: controller -> the group's directory in its hierarchy (joint mounts repeat a directory).
  std::vector<std::pair<std::string, std::string>> v1_dirs;
  std::vector<std::string> made;  // directories Create made, removed again if it fails half-way

  Status MakeDir(const std::string& dir) {
    if (mkdir(dir.c_str(), 0755) == 0) {
      made.push_back(dir);
      return Status::Ok();
    }
    if (errno == EEXIST) return Status::Ok();
    return ErrnoError("mkdir " + dir);
  }

  Status Write(const std::string& file, const std::string& value) const {
    if (layout.on_write) layout.on_write(file, value);
    return WriteFile(file, value);
  }

  std::string V1Dir(std::string_view controller) const {
    for (const auto& [c, d] : v1_dirs) {
      if (c == controller) return d;
    }
    return "";
  }

  std::vector<std::string> Dirs() const {
    if (layout.version == CgroupVersion::kV2) return {v2_dir};
    std::vector<std::string> out;
    for (const auto& [c, d] : v1_dirs) {
      if (!Contains(out, d)) out.push_back(d);
    }
    return out;
  }

  // The ancestors of the group from the hierarchy root down, excluding the group itself.
  std::vector<std::string> V2Ancestors() const {
    std::string dir = StripSlashes(layout.unified);
    std::vector<std::string> out{dir};
    auto comps = Components(rel);
    for (size_t i = 0; i + 1 < comps.size(); ++i) {
      dir += "/" + comps[i];
      out.push_back(dir);
    }
    return out;
  }

  // Enables `wanted` in `dir`'s cgroup.subtree_control (those not enabled yet). strict: a controller missing from
  // dir's cgroup.controllers is an error naming it; otherwise it is skipped.
  Status EnableV2At(const std::string& dir, const std::vector<std::string>& wanted, bool strict) const {
    CL_ASSIGN_OR_RETURN(std::string avail_text, ReadFile(dir + "/cgroup.controllers"));
    CL_ASSIGN_OR_RETURN(std::string enabled_text, ReadFile(dir + "/cgroup.subtree_control"));
    auto avail = SplitWords(avail_text);
    auto enabled = SplitWords(enabled_text);
    std::vector<std::string> pending;
    std::string unavailable;
    for (const auto& c : wanted) {
      // "+name" is how a fake tree's file keeps what was written.
      if (Contains(enabled, c) || Contains(enabled, std::string("+").append(c))) continue;
      if (!Contains(avail, c)) {
        if (!strict) continue;
        unavailable = c;
        break;
      }
      pending.push_back(c);
    }
    if (!unavailable.empty()) {
      return Error("cgroup v2 controller " + unavailable + " is not available in " + dir + " (cgroup.controllers: \"" +
                   std::string(Trim(avail_text)) + "\")");
    }
    if (pending.empty()) return Status::Ok();
    std::string value;
    for (const auto& c : pending) value += (value.empty() ? "+" : " +") + c;
    Status st = Write(dir + "/cgroup.subtree_control", value);
    if (st.ok() || pending.size() == 1) {
      if (!st.ok()) return st.error().wrap("enable cgroup v2 controller " + pending[0]);
      return st;
    }
    // One of several failed: enable them one by one so the error names the controller.
    for (const auto& c : pending) {
      Status one = Write(dir + "/cgroup.subtree_control", "+" + c);
      if (!one.ok()) return one.error().wrap("enable cgroup v2 controller " + c);
    }
    return Status::Ok();
  }

  // Makes sure the group's cgroup.controllers has `needed`, enabling them down the ancestors if not.
  Status EnsureV2Controllers(const std::vector<std::string>& needed) const {
    if (needed.empty()) return Status::Ok();
    CL_ASSIGN_OR_RETURN(std::string have_text, ReadFile(v2_dir + "/cgroup.controllers"));
    auto have = SplitWords(have_text);
    std::vector<std::string> missing;
    for (const auto& c : needed) {
      if (!Contains(have, c)) missing.push_back(c);
    }
    if (missing.empty()) return Status::Ok();
    for (const auto& dir : V2Ancestors()) CL_RETURN_IF_ERROR(EnableV2At(dir, missing, /*strict=*/true));
    return Status::Ok();
  }

  Status CreateV2() {
    if (layout.unified.empty()) return Error("cgroup v2 layout without a cgroup2 mount");
    std::string root = StripSlashes(layout.unified);
    CL_ASSIGN_OR_RETURN(std::string avail_text, ReadFile(root + "/cgroup.controllers"));
    auto avail = SplitWords(avail_text);
    std::vector<std::string> wanted;
    for (auto c : kV2Controllers) {
      if (Contains(avail, c)) wanted.emplace_back(c);
    }
    // Top-down: a group can only enable what its parent enabled for it. The group itself enables nothing (it holds
    // processes, and v2 keeps processes only in leaves).
    std::string dir = root;
    for (const auto& comp : Components(rel)) {
      CL_RETURN_IF_ERROR(EnableV2At(dir, wanted, /*strict=*/false));
      dir += "/" + comp;
      CL_RETURN_IF_ERROR(MakeDir(dir));
    }
    v2_dir = dir;
    return Status::Ok();
  }

  // v1 cpuset: a new group starts with empty cpus/mems and the kernel refuses tasks in it, so copy the parent's.
  Status InheritCpuset(const std::string& parent, const std::string& dir) const {
    for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
      CL_ASSIGN_OR_RETURN(std::string mine, ReadFile(dir + "/" + file));
      if (!Trim(mine).empty()) continue;
      CL_ASSIGN_OR_RETURN(std::string theirs, ReadFile(parent + "/" + file));
      CL_RETURN_IF_ERROR(Write(dir + "/" + file, std::string(Trim(theirs))));
    }
    return Status::Ok();
  }

  Status CreateV1() {
    std::vector<std::string> created;  // mount points done (joint mounts appear once per controller)
    for (const auto& [controller, mount] : layout.v1) {
      if (!IsV1Controller(controller)) continue;
      std::string dir = StripSlashes(mount);
      bool cpuset = false;
      for (const auto& [c, m] : layout.v1) cpuset |= (m == mount && c == "cpuset");
      for (const auto& comp : Components(rel)) {
        std::string parent = dir;
        dir += "/" + comp;
        if (Contains(created, mount)) continue;
        CL_RETURN_IF_ERROR(MakeDir(dir));
        if (cpuset) CL_RETURN_IF_ERROR(InheritCpuset(parent, dir));
      }
      if (!Contains(created, mount)) created.push_back(mount);
      v1_dirs.emplace_back(controller, dir);
    }
    if (v1_dirs.empty())
      return Error(
          "cgroup v1 layout without any of the controllers memory, cpu, cpuacct, pids, "
          "cpuset, devices, freezer mounted");
    return Status::Ok();
  }

  Status ApplyV1(const oci::Resources& r) const;
  Status ApplyV2(const oci::Resources& r) const;
};

namespace {

std::string NumOrMax(int64_t v) { return v < 0 ? "max" : std::to_string(v); }

bool SwappinessSet(const oci::MemoryLimits& m) {
  // -1 ("leave it") arrives as the uint64 2^64-1.
  return m.swappiness.has_value() && *m.swappiness != UINT64_MAX;
}

bool MemorySet(const oci::Resources& r) {
  if (!r.memory) return false;
  const auto& m = *r.memory;
  return m.limit.value_or(0) != 0 || m.swap.value_or(0) != 0 || m.reservation.value_or(0) != 0 || SwappinessSet(m) ||
         m.disable_oom_killer.value_or(false);
}

bool CpuSet(const oci::Resources& r) {
  return r.cpu && (r.cpu->shares.value_or(0) != 0 || r.cpu->quota.value_or(0) != 0 || r.cpu->period.value_or(0) != 0);
}

bool CpusetSet(const oci::Resources& r) { return r.cpu && (!r.cpu->cpus.empty() || !r.cpu->mems.empty()); }

Status ValidateResources(const oci::Resources& r) {
  if (r.memory) {
    const auto& m = *r.memory;
    if (m.limit.value_or(0) < -1) return Error("linux.resources.memory.limit: " + std::to_string(*m.limit) + " < -1");
    if (m.swap.value_or(0) < -1) return Error("linux.resources.memory.swap: " + std::to_string(*m.swap) + " < -1");
    if (m.reservation.value_or(0) < -1) {
      return Error("linux.resources.memory.reservation: " + std::to_string(*m.reservation) + " < -1");
    }
    if (m.limit.value_or(0) > 0 && m.swap.value_or(0) > 0 && *m.swap < *m.limit) {
      return Error("linux.resources.memory.swap (memory+swap, " + std::to_string(*m.swap) +
                   ") must be >= linux.resources.memory.limit (" + std::to_string(*m.limit) + ")");
    }
    if (SwappinessSet(m) && *m.swappiness > 100) {
      return Error("linux.resources.memory.swappiness: " + std::to_string(*m.swappiness) + " not in 0-100");
    }
  }
  if (r.cpu && r.cpu->quota.value_or(0) < -1) {
    return Error("linux.resources.cpu.quota: " + std::to_string(*r.cpu->quota) + " < -1");
  }
  for (size_t i = 0; i < r.devices.size(); ++i) {
    const auto& d = r.devices[i];
    std::string where = "linux.resources.devices[" + std::to_string(i) + "]";
    if (d.type != 'a' && d.type != 'c' && d.type != 'b') return Error(where + ".type: not a, c or b");
    if (d.access.find_first_not_of("rwm") != std::string::npos) return Error(where + ".access: not a subset of rwm");
    if (d.major.value_or(0) < -1 || d.minor.value_or(0) < -1) return Error(where + ": negative major/minor");
  }
  return Status::Ok();
}

// "c 1:3 rwm" as devices.allow/deny take it; -1 or absent numbers mean any (*).
std::string DeviceRuleString(const oci::DeviceRule& d) {
  auto num = [](const std::optional<int64_t>& v) { return !v || *v < 0 ? std::string("*") : std::to_string(*v); };
  std::string access = d.access.empty() ? "rwm" : d.access;
  return std::string(1, d.type) + " " + num(d.major) + ":" + num(d.minor) + " " + access;
}

}  // namespace

Status Cgroup::Impl::ApplyV1(const oci::Resources& r) const {
  // Every controller the spec needs must be there before anything is written.
  const std::string mem = V1Dir("memory"), cpu = V1Dir("cpu"), cpuset = V1Dir("cpuset"), pids = V1Dir("pids"),
                    devices = V1Dir("devices");
  if (MemorySet(r) && mem.empty()) return MissingV1("memory", "linux.resources.memory");
  if (CpuSet(r) && cpu.empty()) return MissingV1("cpu", "linux.resources.cpu shares/quota/period");
  if (CpusetSet(r) && cpuset.empty()) return MissingV1("cpuset", "linux.resources.cpu cpus/mems");
  if (r.pids_limit && pids.empty()) return MissingV1("pids", "linux.resources.pids");
  if (!r.devices.empty() && devices.empty()) return MissingV1("devices", "linux.resources.devices");

  if (MemorySet(r)) {
    const auto& m = *r.memory;
    int64_t limit = m.limit.value_or(0), swap = m.swap.value_or(0);
    // Unlimited memory with swap unset means both unlimited (runc).
    if (limit == -1 && swap == 0) swap = -1;
    const std::string limit_file = mem + "/memory.limit_in_bytes", swap_file = mem + "/memory.memsw.limit_in_bytes";
    if (swap != 0 && !Exists(swap_file)) {
      if (swap > 0) {
        return Error("linux.resources.memory.swap: the kernel does not account swap (no " + swap_file +
                     "; boot with swapaccount=1)");
      }
      swap = 0;  // unlimited is what it is without swap accounting
    }
    if (limit != 0 && swap != 0) {
      // The kernel keeps memory <= memory+swap at every step: raising, memsw goes first; lowering, memory first.
      auto text = ReadFile(limit_file);
      if (!text.ok()) return text.error();
      auto current = ParseU64(*text);
      if (!current) return Error("read " + limit_file + ": not a number: \"" + std::string(Trim(*text)) + "\"");
      if (swap == -1 || *current < static_cast<uint64_t>(swap)) {
        CL_RETURN_IF_ERROR(Write(swap_file, std::to_string(swap)));
        CL_RETURN_IF_ERROR(Write(limit_file, std::to_string(limit)));
      } else {
        CL_RETURN_IF_ERROR(Write(limit_file, std::to_string(limit)));
        CL_RETURN_IF_ERROR(Write(swap_file, std::to_string(swap)));
      }
    } else if (limit != 0) {
      CL_RETURN_IF_ERROR(Write(limit_file, std::to_string(limit)));
    } else if (swap != 0) {
      CL_RETURN_IF_ERROR(Write(swap_file, std::to_string(swap)));
    }
    if (m.reservation.value_or(0) != 0) {
      CL_RETURN_IF_ERROR(Write(mem + "/memory.soft_limit_in_bytes", std::to_string(*m.reservation)));
    }
    if (SwappinessSet(m)) CL_RETURN_IF_ERROR(Write(mem + "/memory.swappiness", std::to_string(*m.swappiness)));
    if (m.disable_oom_killer.value_or(false)) CL_RETURN_IF_ERROR(Write(mem + "/memory.oom_control", "1"));
  }

  if (CpuSet(r)) {
    const auto& c = *r.cpu;
    if (c.shares.value_or(0) != 0) CL_RETURN_IF_ERROR(Write(cpu + "/cpu.shares", std::to_string(*c.shares)));
    // A new period can be refused while the old quota is in force (and the other way round): retry it after the quota.
    bool period_pending = false;
    if (c.period.value_or(0) != 0) {
      Status st = Write(cpu + "/cpu.cfs_period_us", std::to_string(*c.period));
      if (!st.ok()) {
        if (c.quota.value_or(0) == 0) return st;
        period_pending = true;
      }
    }
    if (c.quota.value_or(0) != 0) CL_RETURN_IF_ERROR(Write(cpu + "/cpu.cfs_quota_us", std::to_string(*c.quota)));
    if (period_pending) CL_RETURN_IF_ERROR(Write(cpu + "/cpu.cfs_period_us", std::to_string(*c.period)));
  }

  if (CpusetSet(r)) {
    if (!r.cpu->cpus.empty()) CL_RETURN_IF_ERROR(Write(cpuset + "/cpuset.cpus", r.cpu->cpus));
    if (!r.cpu->mems.empty()) CL_RETURN_IF_ERROR(Write(cpuset + "/cpuset.mems", r.cpu->mems));
  }

  if (r.pids_limit) CL_RETURN_IF_ERROR(Write(pids + "/pids.max", NumOrMax(*r.pids_limit <= 0 ? -1 : *r.pids_limit)));

  if (!r.devices.empty()) {
    // Start from nothing allowed, then apply the spec's rules in order (an "a" rule resets the list either way).
    CL_RETURN_IF_ERROR(Write(devices + "/devices.deny", "a"));
    for (const auto& d : r.devices) {
      CL_RETURN_IF_ERROR(Write(devices + (d.allow ? "/devices.allow" : "/devices.deny"), DeviceRuleString(d)));
    }
  }
  return Status::Ok();
}

Status Cgroup::Impl::ApplyV2(const oci::Resources& r) const {
  std::vector<std::string> needed;
  if (MemorySet(r)) needed.emplace_back("memory");
  if (CpuSet(r)) needed.emplace_back("cpu");
  if (CpusetSet(r)) needed.emplace_back("cpuset");
  if (r.pids_limit) needed.emplace_back("pids");
  if (MemorySet(r)) {
    if (SwappinessSet(*r.memory)) return Error("linux.resources.memory.swappiness: cgroup v2 has no swappiness");
    if (r.memory->disable_oom_killer.value_or(false)) {
      return Error("linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer");
    }
  }
  CL_RETURN_IF_ERROR(EnsureV2Controllers(needed));
  const std::string& dir = v2_dir;

  if (MemorySet(r)) {
    const auto& m = *r.memory;
    int64_t limit = m.limit.value_or(0), total = m.swap.value_or(0);
    // The spec's swap is memory+swap (v1 memsw); memory.swap.max is swap alone (runc's conversion).
    int64_t swap = 0;
    std::string swap_value;
    if (limit == -1 && total == 0) {
      swap = -1;
    } else if (total == -1 || total == 0) {
      swap = total;
    } else {
      if (limit == 0 || limit == -1) {
        return Error("linux.resources.memory.swap: a swap limit needs a memory limit on cgroup v2");
      }
      swap = total - limit;  // >= 0, checked in ValidateResources
    }
    if (swap != 0) {
      swap_value = NumOrMax(swap);
    } else if (total > 0) {
      swap_value = "0";  // memory+swap == memory: no swap
    }
    if (!swap_value.empty()) {
      const std::string swap_file = dir + "/memory.swap.max";
      if (Exists(swap_file)) {
        CL_RETURN_IF_ERROR(Write(swap_file, swap_value));
      } else if (swap_value != "max" && swap_value != "0") {
        return Error("linux.resources.memory.swap: the kernel does not account swap (no " + swap_file + ")");
      }
    }
    if (limit != 0) CL_RETURN_IF_ERROR(Write(dir + "/memory.max", NumOrMax(limit)));
    if (m.reservation.value_or(0) != 0) CL_RETURN_IF_ERROR(Write(dir + "/memory.low", NumOrMax(*m.reservation)));
  }

  if (CpuSet(r)) {
    const auto& c = *r.cpu;
    if (c.shares.value_or(0) != 0) {
      // runc's mapping of shares [2, 262144] onto weight [1, 10000].
      uint64_t shares = std::clamp<uint64_t>(*c.shares, 2, 262144);
      uint64_t weight = 1 + ((shares - 2) * 9999) / 262142;
      CL_RETURN_IF_ERROR(Write(dir + "/cpu.weight", std::to_string(weight)));
    }
    if (c.quota.value_or(0) != 0 || c.period.value_or(0) != 0) {
      std::string value = c.quota.value_or(0) > 0 ? std::to_string(*c.quota) : "max";
      if (c.period.value_or(0) != 0) value += " " + std::to_string(*c.period);
      CL_RETURN_IF_ERROR(Write(dir + "/cpu.max", value));
    }
  }

  if (CpusetSet(r)) {
    if (!r.cpu->cpus.empty()) CL_RETURN_IF_ERROR(Write(dir + "/cpuset.cpus", r.cpu->cpus));
    if (!r.cpu->mems.empty()) CL_RETURN_IF_ERROR(Write(dir + "/cpuset.mems", r.cpu->mems));
  }

  if (r.pids_limit) CL_RETURN_IF_ERROR(Write(dir + "/pids.max", NumOrMax(*r.pids_limit <= 0 ? -1 : *r.pids_limit)));

  // r.devices: v2 enforces device rules with an eBPF program, which is not attached here. They are accepted: the
  // runtime creates only the spec's device nodes in the container's /dev, and without CAP_MKNOD (dropped by default)
  // a container cannot create others, so the listed devices are the ones it can reach.
  return Status::Ok();
}

Result<std::unique_ptr<Cgroup>> Cgroup::Create(const CgroupLayout& layout, const std::string& path,
                                               const std::string& id) {
  CL_ASSIGN_OR_RETURN(std::string rel, CgroupRelativePath(path, id));
  std::unique_ptr<Cgroup> cg(new Cgroup());
  cg->impl_ = std::make_unique<Impl>();
  cg->impl_->layout = layout;
  cg->impl_->rel = rel;
  Status st = layout.version == CgroupVersion::kV2 ? cg->impl_->CreateV2() : cg->impl_->CreateV1();
  if (!st.ok()) {
    for (auto it = cg->impl_->made.rbegin(); it != cg->impl_->made.rend(); ++it) rmdir(it->c_str());
    return st.error().wrap("create cgroup " + rel);
  }
  cg->impl_->made.clear();
  return cg;
}

Result<std::unique_ptr<Cgroup>> Cgroup::Open(const CgroupLayout& layout, const std::string& path,
                                             const std::string& id) {
  CL_ASSIGN_OR_RETURN(std::string rel, CgroupRelativePath(path, id));
  std::unique_ptr<Cgroup> cg(new Cgroup());
  cg->impl_ = std::make_unique<Impl>();
  Impl& impl = *cg->impl_;
  impl.layout = layout;
  impl.rel = rel;
  if (layout.version == CgroupVersion::kV2) {
    if (layout.unified.empty()) return Error("open cgroup " + rel + ": cgroup v2 layout without a cgroup2 mount");
    impl.v2_dir = JoinPath(layout.unified, rel);
    if (!IsDir(impl.v2_dir)) return Error("open cgroup " + rel + ": " + impl.v2_dir + " does not exist");
    return cg;
  }
  for (const auto& [controller, mount] : layout.v1) {
    if (!IsV1Controller(controller)) continue;
    std::string dir = JoinPath(mount, rel);
    if (IsDir(dir)) impl.v1_dirs.emplace_back(controller, dir);
  }
  if (impl.v1_dirs.empty()) return Error("open cgroup " + rel + ": no such group in any cgroup v1 hierarchy");
  return cg;
}

Status Cgroup::Apply(const oci::Resources& resources) {
  CL_RETURN_IF_ERROR(ValidateResources(resources));
  return impl_->layout.version == CgroupVersion::kV2 ? impl_->ApplyV2(resources) : impl_->ApplyV1(resources);
}

Status CgroupSelfJoin::Join() {
  for (auto& [path, fd] : files_) {
    ssize_t n;
    do {
      n = write(fd.get(), "0", 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) return ErrnoError("join cgroup: write 0 to " + path);
  }
  files_.clear();
  return Status::Ok();
}

Result<CgroupSelfJoin> Cgroup::PrepareSelfJoin() const {
  CgroupSelfJoin join;
  if (impl_->layout.version == CgroupVersion::kV2) return join;
  for (const auto& dir : impl_->Dirs()) {
    std::string path = dir + "/tasks";
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("open " + path);
    join.files_.emplace_back(std::move(path), std::move(fd));
  }
  return join;
}

Result<UniqueFd> Cgroup::OpenDir() const {
  if (impl_->layout.version != CgroupVersion::kV2) return Error("cgroup " + impl_->rel + ": not a cgroup v2 group");
  UniqueFd fd(open(impl_->v2_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + impl_->v2_dir);
  return fd;
}

Status Cgroup::AddProcess(pid_t pid) {
  if (pid <= 0) return Error("cgroup " + impl_->rel + ": invalid pid " + std::to_string(pid));
  for (const auto& dir : impl_->Dirs()) CL_RETURN_IF_ERROR(impl_->Write(dir + "/cgroup.procs", std::to_string(pid)));
  return Status::Ok();
}

std::vector<pid_t> Cgroup::Processes() const {
  std::vector<pid_t> pids;
  for (const auto& dir : impl_->Dirs()) CollectPids(dir, 0, &pids);
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

CgroupStats Cgroup::Stats() const {
  CgroupStats s;
  if (impl_->layout.version == CgroupVersion::kV2) {
    const std::string& d = impl_->v2_dir;
    s.memory_current = ReadU64(d + "/memory.current");
    s.memory_max_hit = ReadKeyed(d + "/memory.events", "max");
    s.oom_kills = ReadKeyed(d + "/memory.events", "oom_kill");
    s.pids_current = ReadU64(d + "/pids.current");
    if (auto usec = ReadKeyed(d + "/cpu.stat", "usage_usec")) s.cpu_usage_ns = *usec * 1000;
    return s;
  }
  if (std::string d = impl_->V1Dir("memory"); !d.empty()) {
    s.memory_current = ReadU64(d + "/memory.usage_in_bytes");
    // A charge that fails checks memory+swap first, then memory, and counts in that counter's failcnt only.
    s.memory_max_hit = ReadU64(d + "/memory.failcnt");
    if (auto memsw = ReadU64(d + "/memory.memsw.failcnt"); memsw && s.memory_max_hit) *s.memory_max_hit += *memsw;
    s.oom_kills = ReadKeyed(d + "/memory.oom_control", "oom_kill");
  }
  if (std::string d = impl_->V1Dir("pids"); !d.empty()) s.pids_current = ReadU64(d + "/pids.current");
  if (std::string d = impl_->V1Dir("cpuacct"); !d.empty()) s.cpu_usage_ns = ReadU64(d + "/cpuacct.usage");
  return s;
}

Status Cgroup::Freeze(bool frozen) {
  MonotonicClock clock;
  const Nanos deadline = clock.now() + kFreezeTimeout;
  if (impl_->layout.version == CgroupVersion::kV2) {
    const std::string freeze = impl_->v2_dir + "/cgroup.freeze", events = impl_->v2_dir + "/cgroup.events";
    if (!Exists(freeze)) return Error("freeze cgroup " + impl_->rel + ": no " + freeze + " (kernel before 5.2)");
    // Opened before the write, so the notification of the change cannot be missed.
    UniqueFd events_fd(open(events.c_str(), O_RDONLY | O_CLOEXEC));
    CL_RETURN_IF_ERROR(impl_->Write(freeze, frozen ? "1" : "0"));
    const uint64_t want = frozen ? 1 : 0;
    while (ReadKeyed(events, "frozen") != want) {
      const Nanos now = clock.now();
      if (now >= deadline) {
        if (frozen) (void)impl_->Write(freeze, "0");
        return Error((frozen ? "freeze cgroup " : "thaw cgroup ") + impl_->rel + ": " + events + " not \"frozen " +
                     std::to_string(want) + "\" after 5 s");
      }
      if (!events_fd.valid()) {
        SleepPoll();
        continue;
      }
      // kernfs signals POLLPRI once the file changed since this descriptor last read it: read it, then wait.
      char buf[256];
      (void)!pread(events_fd.get(), buf, sizeof(buf), 0);
      pollfd p{events_fd.get(), POLLPRI, 0};
      int wait_ms = static_cast<int>(std::min<Nanos>((deadline - now) / 1000000 + 1, kMaxEventWaitMs));
      (void)poll(&p, 1, wait_ms);
    }
    return Status::Ok();
  }
  std::string dir = impl_->V1Dir("freezer");
  if (dir.empty()) return MissingV1("freezer", frozen ? "freeze" : "thaw");
  const std::string file = dir + "/freezer.state";
  const std::string want = frozen ? "FROZEN" : "THAWED";
  // The state passes through FREEZING; writing FROZEN again nudges tasks that were busy in the kernel.
  while (true) {
    CL_RETURN_IF_ERROR(impl_->Write(file, want));
    auto state = ReadFile(file);
    if (!state.ok()) return state.error();
    if (Trim(*state) == want) return Status::Ok();
    if (clock.now() >= deadline) {
      if (frozen) (void)impl_->Write(file, "THAWED");
      return Error((frozen ? "freeze cgroup " : "thaw cgroup ") + impl_->rel + ": " + file + " still \"" +
                   std::string(Trim(*state)) + "\" after 5 s");
    }
    SleepPoll();
  }
}

namespace {

// Sends SIGKILL to `pids` and waits until one of them has exited (pidfd readable) or `wait_ms` passed.
void KillAndWaitForAnExit(const std::vector<pid_t>& pids, int wait_ms) {
  std::vector<UniqueFd> owned;
  std::vector<pollfd> fds;
  for (pid_t pid : pids) {
    kill(pid, SIGKILL);
    UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!fd.valid()) continue;  // gone already, or a kernel without pidfds
    fds.push_back({fd.get(), POLLIN, 0});
    owned.push_back(std::move(fd));
  }
  if (fds.empty()) {
    SleepPoll();
    return;
  }
  int rc;
  do {
    rc = poll(fds.data(), fds.size(), wait_ms);
  } while (rc < 0 && errno == EINTR);
  // Every one has exited but the group still listed them a moment ago: look again shortly, not in a tight loop.
  if (rc == static_cast<int>(fds.size())) SleepPoll();
}

}  // namespace

Status Cgroup::Destroy() {
  // The usual case, a container whose processes have all exited: rmdir succeeds. It fails (EBUSY) on a group that
  // still has processes or nested groups, and only then is there anything to kill.
  bool busy = false;
  for (const auto& d : impl_->Dirs()) {
    if (rmdir(d.c_str()) != 0 && errno != ENOENT) busy = true;
  }
  if (!busy) return Status::Ok();
  std::vector<std::string> dirs;
  for (const auto& d : impl_->Dirs()) {
    if (IsDir(d)) dirs.push_back(d);
  }
  if (dirs.empty()) return Status::Ok();  // already gone
  auto procs = Processes();
  if (std::find(procs.begin(), procs.end(), getpid()) != procs.end()) {
    return Error("destroy cgroup " + impl_->rel + ": the calling process (" + std::to_string(getpid()) + ") is in it");
  }
  if (!procs.empty()) {
    // Frozen, nothing in the group can fork while its pids are being killed.
    bool can_freeze = impl_->layout.version == CgroupVersion::kV2 ? Exists(impl_->v2_dir + "/cgroup.freeze")
                                                                  : IsDir(impl_->V1Dir("freezer"));
    bool frozen = can_freeze && Freeze(true).ok();
    if (impl_->layout.version == CgroupVersion::kV2 && Exists(impl_->v2_dir + "/cgroup.kill")) {
      (void)impl_->Write(impl_->v2_dir + "/cgroup.kill", "1");
    }
    for (pid_t pid : Processes()) kill(pid, SIGKILL);
    // SIGKILL is only acted on once the tasks run again (v1 freezer).
    if (frozen) CL_RETURN_IF_ERROR(Freeze(false));
  }
  MonotonicClock clock;
  const Nanos deadline = clock.now() + kEmptyTimeout;
  while (true) {
    procs = Processes();
    if (procs.empty()) break;
    const Nanos now = clock.now();
    if (now >= deadline) {
      std::string list;
      for (size_t i = 0; i < procs.size() && i < 10; ++i) list += (i ? " " : "") + std::to_string(procs[i]);
      return Error("destroy cgroup " + impl_->rel + ": " + std::to_string(procs.size()) +
                   " processes still in it after 5 s (" + list + ")");
    }
    KillAndWaitForAnExit(procs, static_cast<int>(std::min<Nanos>((deadline - now) / 1000000 + 1, kMaxEventWaitMs)));
  }
  for (const auto& d : dirs) CL_RETURN_IF_ERROR(RemoveGroupTree(d, 0));
  return Status::Ok();
}

CgroupVersion Cgroup::version() const { return impl_->layout.version; }

std::string Cgroup::Dir(const std::string& controller) const {
  if (impl_->layout.version == CgroupVersion::kV2) return impl_->v2_dir;
  return impl_->V1Dir(controller);
}

Cgroup::~Cgroup() = default;

}  // namespace cloudlet::container

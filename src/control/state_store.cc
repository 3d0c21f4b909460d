// Durable daemon state: JSON encoding and the atomic write of STATE_DIR/state.json.
#include "control/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "base/fd.h"

namespace cloudlet {

namespace {

constexpr int kStateVersion = 1;
constexpr size_t kMaxStateBytes = 64 << 20;

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + path);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

nlohmann::json ToJson(const DaemonState& state) {
  nlohmann::json projects = nlohmann::json::object();
  for (const auto& [path, p] : state.projects) {
    nlohmann::json netns = nlohmann::json::array();
    for (const auto& n : p.netns) netns.push_back({{"name", n.name}, {"created", n.created}});
    nlohmann::json veths = nlohmann::json::array();
    for (const auto& v : p.veths) {
      veths.push_back({{"host_ifname", v.host_ifname},
                       {"peer_ifname", v.peer_ifname},
                       {"peer_netns", v.peer_netns},
                       {"owner", v.owner}});
    }
    projects[path] = {{"config", p.config},     {"netns", netns},       {"veths", veths},
                      {"gateways", p.gateways}, {"pending", p.pending}, {"removing", p.removing}};
  }
  return {{"version", kStateVersion}, {"projects", projects}};
}

Result<DaemonState> DaemonStateFromJson(const nlohmann::json& j) {
  try {
    if (!j.is_object()) return Error("top level is not an object");
    if (j.value("version", 0) != kStateVersion) {
      return Error("unsupported version " + j.value("version", nlohmann::json()).dump() + " (this cloudlet writes " +
                   std::to_string(kStateVersion) + ")");
    }
    DaemonState state;
    for (const auto& [path, p] : j.at("projects").items()) {
      ProjectRecord r;
      r.config = p.at("config");
      for (const auto& n : p.at("netns"))
        r.netns.push_back({n.at("name").get<std::string>(), n.at("created").get<bool>()});
      for (const auto& v : p.at("veths")) {
        r.veths.push_back({v.at("host_ifname").get<std::string>(), v.at("peer_ifname").get<std::string>(),
                           v.at("peer_netns").get<std::string>(), v.value("owner", std::string())});
      }
      r.gateways = p.value("gateways", std::map<std::string, std::string>());
      r.pending = p.value("pending", false);
      r.removing = p.value("removing", false);
      state.projects.emplace(path, std::move(r));
    }
    return state;
  } catch (const nlohmann::json::exception& e) {
    return Error(e.what());
  }
}

StateStore::StateStore(std::string dir) : dir_(std::move(dir)), path_(dir_ + "/state.json") {}

Result<DaemonState> StateStore::Load() const {
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return DaemonState{};
    return ErrnoError("cannot read state file " + path_);
  }
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read state file " + path_);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxStateBytes)
      return Error("state file " + path_ + " is larger than 64 MiB; refusing to load it");
  }
  const std::string advice =
      " (left untouched; repair it, or move it away to start with an empty state — cloudlet "
      "then forgets what it created)";
  auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error("state file " + path_ + " is corrupt: not valid JSON" + advice);
  auto state = DaemonStateFromJson(j);
  if (!state.ok()) return Error("state file " + path_ + " is corrupt: " + state.error().message() + advice);
  return state;
}

Status StateStore::Save(const DaemonState& state) const {
  const std::string data = ToJson(state).dump(2) + "\n";
  const std::string tmp = path_ + ".tmp";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoError("cannot write state file " + tmp);
    // O_CREAT's mode is masked by the umask and ignored for an existing file: set it explicitly.
    if (::fchmod(fd.get(), 0600) != 0) return ErrnoError("chmod " + tmp);
    CL_RETURN_IF_ERROR(WriteAll(fd.get(), data, tmp));
    if (::fsync(fd.get()) != 0) return ErrnoError("fsync " + tmp);
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return ErrnoError("rename " + tmp + " to " + path_);
  UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) (void)::fsync(dir.get());  // makes the rename durable; best effort
  return Status::Ok();
}

}  // namespace cloudlet

// What the daemon remembers across restarts: per project (keyed by the YAML file's absolute path) the desired config
// and the kernel objects cloudlet created for it. Kept in STATE_DIR/state.json (mode 0600), replaced atomically
// (temp file, fsync, rename, fsync of the directory) so a crash leaves either the old or the new file, never a mix.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace cloudlet {

struct NetnsRecord {
  std::string name;
  bool created = false;  // true only if cloudlet created it; `down` deletes only those
  bool operator==(const NetnsRecord&) const = default;
};

struct VethRecord {
  std::string host_ifname;  // end in the daemon's namespace ("clp-..." / "cll-...a")
  std::string peer_ifname;  // end in peer_netns (link veths: the "...b" end, in the daemon's namespace)
  std::string peer_netns;
  std::string owner;  // endpoint or link name, for messages
  bool operator==(const VethRecord&) const = default;
};

struct ProjectRecord {    // NOLINT(bugprone-exception-escape): implicit moves of std containers
  nlohmann::json config;  // ToJson(CloudConfig): what the last `up` asked for
  std::vector<NetnsRecord> netns;
  std::vector<VethRecord> veths;
  std::map<std::string, std::string> gateways;  // endpoint -> default route cloudlet installed
  // Set while a change is in flight (written before acting): the resources are the union of before and after, so a
  // crash never loses track of something cloudlet created. `removing` means a `down` was in flight.
  bool pending = false;
  bool removing = false;
};

struct DaemonState {
  std::map<std::string, ProjectRecord> projects;
};

nlohmann::json ToJson(const DaemonState& state);
Result<DaemonState> DaemonStateFromJson(const nlohmann::json& j);

class StateStore {
 public:
  explicit StateStore(std::string dir);
  const std::string& path() const { return path_; }

  // A missing file is an empty state. A file that cannot be read or parsed is an error that names the file and is
  // left untouched: the daemon must not start and overwrite what it no longer understands.
  Result<DaemonState> Load() const;
  Status Save(const DaemonState& state) const;

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace cloudlet

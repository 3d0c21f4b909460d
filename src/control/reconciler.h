// The reconciler's executor: holds every project's desired state, and for `up`/`down` observes the host, asks the
// planner (planner.h) for actions, persists its intent, carries the actions out through HostOps, and converges the
// data plane on the merge of all projects through SwitchRuntime. One change at a time (a mutex); status may be read
// concurrently with the data plane running.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/model.h"
#include "control/container_runtime.h"
#include "control/host_ops.h"
#include "control/planner.h"
#include "control/state_store.h"
#include "control/switch_runtime.h"
#include "control/vpn_runtime.h"

namespace cloudlet {

struct ChangeReport {
  Status status;                     // ok, or what failed (the state keeps track of anything half-done)
  int http_code = 200;               // 200, 409 (name collision), 404 (unknown project), 500 (host or data plane)
  std::vector<std::string> changes;  // one line per action that happened, in order
};

class Reconciler {
 public:
  // `store` may be null (tests): state is then kept in memory only. `vpns` may be null: configs with VPNs are then
  // refused; the same for `containers` and configs with containers.
  Reconciler(HostOps& host, SwitchRuntime& runtime, const StateStore* store, VpnRuntime* vpns = nullptr,
             ContainerRuntime* containers = nullptr);

  // Daemon start: re-creates what every recorded project needs (re-attaching to the veths that exist) and finishes
  // any `down` that was in flight. `decode` turns a recorded config back into a validated CloudConfig.
  // Returns one line per project that could not be restored; those stay recorded.
  std::vector<std::string> Restore(const DaemonState& state,
                                   const std::function<Result<CloudConfig>(const nlohmann::json&)>& decode);

  // Makes `project` match `cfg` (`cfg_json` is what gets recorded, ToJson(cfg)).
  ChangeReport Up(const std::string& project, const CloudConfig& cfg, const nlohmann::json& cfg_json);
  // Removes everything `project`'s `up` created.
  ChangeReport Down(const std::string& project);

  // {"switches":[...],"endpoints":[...],"vpns":[...],"routers":[...],"containers":[...]} — see the status contract in
  // docs; containers as ContainerRuntime::Snapshot.
  nlohmann::json StatusJson();
  // `cloudlet firewall` (see RouterSet::Query).
  Result<nlohmann::json> RouterQuery(const std::string& what, const nlohmann::json& args);
  // ContainerRuntime::Snapshot (without waiting for a change in progress).
  nlohmann::json ContainersJson();
  // `cloudlet container start|stop`: `name` is an endpoint's name; `project` ("" = any) narrows it down. `timeout`
  // only for stop. Returns {"changes":[...]}; 404 for an unknown container, 409 for an ambiguous name.
  ChangeReport ContainerCommand(const std::string& action, const std::string& name, const std::string& project,
                                Nanos timeout);
  // Where routers keep their DHCP leases ("" = not persisted). Set before Restore.
  void set_lease_dir(std::string dir) { lease_dir_ = std::move(dir); }

 private:
  ChangeReport UpLocked(const std::string& project, const CloudConfig& cfg, const nlohmann::json& cfg_json);
  ChangeReport DownLocked(const std::string& project);
  cloudlet::Status Save();
  cloudlet::Status ApplySwitches(const std::vector<SwitchPlan>& target);
  // Runs `target` (every project's VPNs), appending what changed to `changes`.
  cloudlet::Status ApplyVpns(const std::vector<VpnPlan>& target, std::vector<std::string>& changes);
  std::vector<SwitchPlan> SwitchesOf(const std::string& project) const;
  // Every project's router but `project`'s, plus `own` (if any).
  std::vector<RouterPlan> RoutersWith(const std::string& project, std::optional<RouterPlan> own) const;
  cloudlet::Status ApplyRouters(const std::vector<RouterPlan>& target, std::vector<std::string>& changes);
  // Every project's containers but `project`'s, plus `own`.
  std::vector<ContainerPlan> ContainersWith(const std::string& project, const std::vector<ContainerPlan>& own) const;
  // `project`: the one being changed (see ContainerRuntime::Apply).
  cloudlet::Status ApplyContainers(const std::vector<ContainerPlan>& target, const std::string& project,
                                   std::vector<std::string>& changes);

  HostOps& host_;
  SwitchRuntime& runtime_;
  const StateStore* store_;
  VpnRuntime* vpn_runtime_;
  ContainerRuntime* container_runtime_;
  std::mutex mu_;
  DaemonState state_;
  std::map<std::string, CloudConfig> configs_;  // desired state of every project, as last asked for
  std::vector<SwitchPlan> running_;             // what the data plane runs (last successful Apply)
  std::vector<VpnPlan> vpns_;                   // what the VPN runtime was last asked to run
  std::vector<RouterPlan> routers_;             // what the routers were last configured with
  std::vector<ContainerPlan> containers_;       // what the container runtime was last asked to run
  std::string lease_dir_;
  bool applied_once_ = false;
};

}  // namespace cloudlet

// The executor's view of the data plane: run exactly these switches, and report on them in the status JSON contract
// (see StatusJson in reconciler.h). The real implementation wraps dataplane/Dataplane; tests use a fake.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "control/planner.h"
#include "control/router_runtime.h"

namespace cloudlet {

class SwitchRuntime {
 public:
  virtual ~SwitchRuntime() = default;
  // All or nothing: on error the running switches are as before.
  virtual Status Apply(const std::vector<SwitchPlan>& switches) = 0;
  // [{"name","max_macs","mac_aging_seconds","mac_count","ports":[...],"vlans":[...],"macs":[...]}]; VLAN names are
  // left empty for the caller, which knows the configs, to fill in.
  virtual nlohmann::json Snapshot() = 0;

  // Routers (router/router_port.h): configures every router in `routers` (their ports are in the switches applied
  // just before); one line per change. Runtimes without routers refuse a non-empty list.
  virtual Result<std::vector<std::string>> ApplyRouters(const std::vector<RouterPlan>& routers) {
    if (!routers.empty()) return Error("this data plane has no routers");
    return std::vector<std::string>{};
  }
  virtual nlohmann::json RouterSnapshot() { return nlohmann::json::array(); }
  // `cloudlet firewall` queries (RouterSet::Query).
  virtual Result<nlohmann::json> RouterQuery(const std::string& what, const nlohmann::json& args) {
    (void)what;
    (void)args;
    return Error("this data plane has no routers");
  }
};

// Runs the switches in a dataplane/Dataplane (threads, AF_PACKET and TAP ports).
std::unique_ptr<SwitchRuntime> MakeDataplaneRuntime(const Clock& clock);

}  // namespace cloudlet

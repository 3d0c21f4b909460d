// The control plane's side of cloudlet's routers: what a project's `router:` and `firewall:` sections become
// (RouterPlan), and RouterSet, which opens router ports for the data plane (a PortOpener for PortKind::kRouter),
// configures them through their RouterControl handles, and answers status and `cloudlet firewall` queries.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "config/model.h"
#include "dataplane/dataplane.h"
#include "firewall/firewall.h"
#include "router/router.h"
#include "router/router_port.h"

namespace cloudlet {

struct RouterPlan {
  std::string project;
  std::string switch_name;
  std::string port_name = "router";  // its name among the switch's ports
  std::string instance;              // RouterPortKey(project)
  std::string uplink_ifname;         // "" = no uplink
  router::RouterConfig config;       // interfaces: routed VLANs in VLAN order, then the uplink (vlan 0)
  firewall::RuleSet rules;
  firewall::ConntrackConfig conntrack;
  std::vector<uint16_t> vlans;  // the routed VLANs (the trunk's VLAN list)
  bool operator==(const RouterPlan&) const = default;
};

// What `cfg` asks of its router (nullopt: no router section). Zones: ZoneNames(cfg) order. DHCP leases persist under
// `lease_dir` ("" = not persisted). Fails on what only a complete config can tell (none expected after validation).
Result<std::optional<RouterPlan>> BuildRouterPlan(const std::string& project, const CloudConfig& cfg,
                                                  const std::string& lease_dir);

class RouterSet {
 public:
  RouterSet(const Clock& clock, PortOpener fallback);
  // The PortOpener the Dataplane uses: router ports here, everything else through `fallback`.
  PortOpener opener();

  // Configures every router in `plans` (their ports were opened by the switches' apply just before). Rule sets are
  // compiled first, so a bad one changes nothing; an unchanged rule set is not replaced (its counters keep counting).
  // Returns one line per change.
  Result<std::vector<std::string>> Apply(const std::vector<RouterPlan>& plans);

  // [{"project","switch","uplink","interfaces":[...],"routes":[...],"neighbours":[...],"leases":[...],"counters":{},
  //   "firewall":{...}}]
  nlohmann::json Snapshot();
  // `cloudlet firewall` queries. what: "rules" | "connections" | "trace". args: {"project"?: path, "limit"?: N,
  // trace: "from","to","proto","src","dst","sport","dport","icmp_type","icmp_code"}.
  Result<nlohmann::json> Query(const std::string& what, const nlohmann::json& args);

 private:
  struct Entry {
    RouterPlan plan;
    std::shared_ptr<const firewall::CompiledRuleSet> compiled;
    std::shared_ptr<router::RouterControl> control;
    bool configured = false;
  };

  const Clock& clock_;
  PortOpener fallback_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<router::RouterControl>> controls_;  // instance -> handle of the open port
  std::map<std::string, Entry> routers_;                                    // instance -> last applied
};

}  // namespace cloudlet

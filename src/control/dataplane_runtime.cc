// SwitchRuntime over dataplane/Dataplane: SwitchPlan -> DataplaneSpec, SwitchStatus -> status JSON.
#include <cstdio>

#include "control/switch_runtime.h"
#include "dataplane/dataplane.h"

namespace cloudlet {

namespace {

PortMode ToPortMode(PortModeDecl m) {
  switch (m) {
    case PortModeDecl::kAccess:
      return PortMode::kAccess;
    case PortModeDecl::kTrunk:
      return PortMode::kTrunk;
    case PortModeDecl::kDot1qTunnel:
      return PortMode::kDot1qTunnel;
  }
  return PortMode::kAccess;
}

const char* ModeName(PortMode m) {
  switch (m) {
    case PortMode::kAccess:
      return "access";
    case PortMode::kTrunk:
      return "trunk";
    case PortMode::kDot1qTunnel:
      return "dot1q-tunnel";
  }
  return "access";
}

DataplaneSpec ToSpec(const std::vector<SwitchPlan>& switches) {
  DataplaneSpec spec;
  for (const auto& s : switches) {
    SwitchSpec ss;
    ss.config.name = s.name;
    ss.config.max_macs = s.max_macs;
    ss.config.mac_aging = static_cast<Nanos>(s.mac_aging_seconds) * kSecond;
    for (const auto& p : s.ports) {
      PortSpec ps;
      ps.kind = p.kind == PortPlanKind::kTap      ? PortKind::kTap
                : p.kind == PortPlanKind::kRouter ? PortKind::kRouter
                                                  : PortKind::kAfPacket;
      ps.ifname = p.ifname;
      ps.instance = p.instance;
      ps.config.name = p.name;
      ps.config.mode = ToPortMode(p.mode);
      ps.config.vlan = p.vlan;
      for (uint16_t v : p.vlans) {
        if (v < ps.config.trunk_vlans.size()) ps.config.trunk_vlans.set(v);
      }
      ps.config.native_vlan = p.native_vlan;
      ps.config.tpid = p.tpid;
      ps.config.max_macs = p.max_macs;
      ss.ports.push_back(std::move(ps));
    }
    spec.switches.push_back(std::move(ss));
  }
  return spec;
}

std::string MacText(const std::array<uint8_t, 6>& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

nlohmann::json PortJson(const PortStatus& p) {
  const PortConfig& c = p.spec.config;
  nlohmann::json vlans = nlohmann::json::array();
  if (c.mode == PortMode::kTrunk) {
    for (size_t v = 1; v <= kMaxVlanId; ++v) {
      if (c.trunk_vlans.test(v)) vlans.push_back(v);
    }
  }
  nlohmann::json drops = nlohmann::json::object();
  for (size_t r = 0; r < kDropReasonCount; ++r) drops[DropReasonName(static_cast<DropReason>(r))] = p.counters.drops[r];
  return {
      {"name", c.name},
      {"interface", p.spec.ifname},
      {"kind", p.spec.kind == PortKind::kTap      ? "tap"
               : p.spec.kind == PortKind::kRouter ? "router"
                                                  : "af_packet"},
      {"mode", ModeName(c.mode)},
      {"vlan", c.mode == PortMode::kTrunk ? 0 : c.vlan},
      {"vlans", vlans},
      {"native_vlan", c.native_vlan},
      {"tpid", c.tpid},
      {"max_macs", c.max_macs},
      {"counters",
       {{"rx_packets", p.counters.rx_packets},
        {"rx_bytes", p.counters.rx_bytes},
        {"tx_packets", p.counters.tx_packets},
        {"tx_bytes", p.counters.tx_bytes},
        {"drops", drops},
        {"macs", p.counters.macs},
        {"mac_moves", p.counters.mac_moves},
        {"learn_limit_hits", p.counters.learn_limit_hits},
        {"rx_errors", p.io.rx_errors},
        {"tx_errors", p.io.tx_errors}}},
  };
}

class DataplaneRuntime final : public SwitchRuntime {
 public:
  explicit DataplaneRuntime(const Clock& clock)
      : routers_(clock, OpenKernelPort), dataplane_(clock, routers_.opener()) {}

  cloudlet::Status Apply(const std::vector<SwitchPlan>& switches) override {
    return dataplane_.apply(ToSpec(switches));
  }

  Result<std::vector<std::string>> ApplyRouters(const std::vector<RouterPlan>& routers) override {
    return routers_.Apply(routers);
  }
  nlohmann::json RouterSnapshot() override { return routers_.Snapshot(); }
  Result<nlohmann::json> RouterQuery(const std::string& what, const nlohmann::json& args) override {
    return routers_.Query(what, args);
  }

  nlohmann::json Snapshot() override {
    nlohmann::json out = nlohmann::json::array();
    for (const SwitchStatus& s : dataplane_.status()) {
      nlohmann::json ports = nlohmann::json::array();
      for (const auto& p : s.ports) ports.push_back(PortJson(p));
      nlohmann::json vlans = nlohmann::json::array();
      for (const auto& v : s.vlans) {
        vlans.push_back({{"id", v.vlan},
                         {"name", ""},
                         {"counters",
                          {{"packets", v.counters.packets},
                           {"bytes", v.counters.bytes},
                           {"flooded", v.counters.flooded},
                           {"drops", v.counters.drops}}}});
      }
      nlohmann::json macs = nlohmann::json::array();
      for (const auto& m : s.macs) {
        // MacEntryInfo.port is the switch's PortId; the dataplane reports ports in id order.
        std::string port = m.port < s.ports.size() ? s.ports[m.port].spec.config.name : std::to_string(m.port);
        macs.push_back({{"vlan", m.vlan}, {"mac", MacText(m.mac)}, {"port", port}, {"age_seconds", m.age / kSecond}});
      }
      out.push_back({{"name", s.config.name},
                     {"max_macs", s.config.max_macs},
                     {"mac_aging_seconds", s.config.mac_aging / kSecond},
                     {"mac_count", s.macs.size()},
                     {"ports", ports},
                     {"vlans", vlans},
                     {"macs", macs}});
    }
    return out;
  }

 private:
  RouterSet routers_;  // before dataplane_: the router ports (owned by the switches) hold its handles
  Dataplane dataplane_;
};

}  // namespace

std::unique_ptr<SwitchRuntime> MakeDataplaneRuntime(const Clock& clock) {
  return std::make_unique<DataplaneRuntime>(clock);
}

}  // namespace cloudlet

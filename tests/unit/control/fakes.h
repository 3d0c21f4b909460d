// In-memory stand-ins for the host kernel and the data plane, so the reconciler is tested without root.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/model.h"
#include "control/container_runtime.h"
#include "control/host_ops.h"
#include "control/switch_runtime.h"

namespace cloudlet::testing {

// A host with named namespaces and interfaces; executes planner actions like rtnetlink would.
class FakeHost final : public HostOps {
 public:
  std::set<std::string> netns;
  std::map<IfKey, LinkInfo> links;
  std::map<IfKey, std::vector<std::string>> addresses;
  std::map<std::string, std::string> routes;  // netns -> gateway
  std::vector<Action> executed;
  int fail_on_call = -1;  // index of the Execute call that fails (-1: none)

  HostView Observe(const ObservationTargets& t) override {
    HostView v;
    for (const auto& ns : t.netns) {
      if (netns.count(ns)) v.netns.insert(ns);
    }
    for (const auto& k : t.links) {
      if (links.count(k)) v.links.emplace(k, links.at(k));
    }
    for (const auto& k : t.addresses) {
      if (addresses.count(k)) v.addresses.emplace(k, addresses.at(k));
    }
    return v;
  }

  Status Execute(const Action& a) override {
    if (static_cast<int>(executed.size()) == fail_on_call) return Error("injected failure");
    executed.push_back(a);
    switch (a.kind) {
      case ActionKind::kCreateNetns:
        netns.insert(a.netns);
        links[{a.netns, "lo"}] = {"lo", 1, "loopback", 65536, false, ""};
        break;
      case ActionKind::kDeleteNetns:
        netns.erase(a.netns);
        std::erase_if(links, [&](const auto& kv) { return kv.first.first == a.netns; });
        break;
      case ActionKind::kCreateVeth: {
        const VethSpec& s = a.veth;
        if (links.count({"", s.host_ifname})) return Error("exists");
        if (!s.peer_netns.empty() && !netns.count(s.peer_netns)) return Error("no netns " + s.peer_netns);
        links[{"", s.host_ifname}] = {s.host_ifname, 10, "veth", s.mtu, false, "02:00:00:00:00:01"};
        links[{s.peer_netns, s.peer_ifname}] = {
            s.peer_ifname, 11, "veth", s.mtu, false, s.peer_mac.empty() ? "02:00:00:00:00:02" : s.peer_mac};
        peers[s.host_ifname] = {s.peer_netns, s.peer_ifname};
        break;
      }
      case ActionKind::kDeleteLink: {
        links.erase({a.netns, a.ifname});
        addresses.erase({a.netns, a.ifname});
        auto it = peers.find(a.ifname);
        if (it != peers.end()) {
          links.erase(it->second);
          addresses.erase(it->second);
          peers.erase(it);
        }
        break;
      }
      case ActionKind::kSetMtu:
        links.at({a.netns, a.ifname}).mtu = a.mtu;
        break;
      case ActionKind::kSetLinkUp:
        links.at({a.netns, a.ifname}).up = true;
        break;
      case ActionKind::kDisableIpv6:
        break;
      case ActionKind::kReplaceAddresses:
        addresses[{a.netns, a.ifname}] = a.addresses;
        break;
      case ActionKind::kSetDefaultRoute:
        routes[a.netns] = a.gateway;
        break;
    }
    return Status::Ok();
  }

  size_t CountPrefix(const std::string& prefix) const {
    return std::count_if(links.begin(), links.end(),
                         [&](const auto& kv) { return kv.first.second.rfind(prefix, 0) == 0; });
  }

 private:
  std::map<std::string, IfKey> peers;  // host ifname -> peer end
};

class FakeRuntime final : public SwitchRuntime {
 public:
  std::vector<SwitchPlan> running;
  int applies = 0;
  bool fail = false;
  Status Apply(const std::vector<SwitchPlan>& s) override {
    if (fail) return Error("injected data-plane failure");
    ++applies;
    running = s;
    return Status::Ok();
  }
  nlohmann::json Snapshot() override {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : running) {
      nlohmann::json ports = nlohmann::json::array();
      for (const auto& p : s.ports) ports.push_back({{"name", p.name}, {"interface", p.ifname}});
      out.push_back({{"name", s.name}, {"ports", ports}, {"vlans", {{{"id", 10}, {"name", ""}}}}});
    }
    return out;
  }
};

// Containers in memory: Apply records each call and the namespaces that existed on the host at that moment.
class FakeContainers final : public ContainerRuntime {
 public:
  explicit FakeContainers(const FakeHost* host = nullptr) : host_(host) {}
  std::map<std::string, ContainerPlan> running;  // by id
  std::set<std::string> stopped;
  std::vector<std::vector<ContainerPlan>> applies;
  std::vector<std::set<std::string>> netns_at_apply;
  std::vector<std::string> commands;  // "start ID", "stop ID"
  std::vector<std::string> projects;  // the `project` of each Apply
  bool fail = false;

  Result<std::vector<std::string>> Apply(const std::vector<ContainerPlan>& plans, const std::string& project) override {
    applies.push_back(plans);
    projects.push_back(project);
    if (host_) netns_at_apply.push_back(host_->netns);
    if (fail) return Error("injected container failure");
    std::vector<std::string> lines;
    std::map<std::string, ContainerPlan> next;
    for (const auto& p : plans) {
      auto it = running.find(p.id);
      if (it == running.end()) lines.push_back("started container " + p.name);
      if (it != running.end() && !(it->second == p)) lines.push_back("restarted container " + p.name);
      next[p.id] = p;
    }
    for (const auto& [id, p] : running) {
      if (!next.count(id)) lines.push_back("removed container " + p.name);
    }
    running = std::move(next);
    return lines;
  }
  bool Matches(const std::vector<ContainerPlan>& plans, const std::string&) override {
    if (fail || plans.size() != running.size()) return false;
    for (const auto& p : plans) {
      auto it = running.find(p.id);
      if (it == running.end() || !(it->second == p)) return false;
    }
    return true;
  }
  nlohmann::json Snapshot() override {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [id, p] : running) {
      out.push_back({{"name", p.name}, {"id", id}, {"state", stopped.count(id) ? "stopped" : "running"}});
    }
    return out;
  }
  Result<std::string> Start(const std::string& id) override {
    commands.push_back("start " + id);
    if (!stopped.count(id)) return Error("already running");
    stopped.erase(id);
    return std::string("started container");
  }
  Result<std::string> Stop(const std::string& id, Nanos timeout) override {
    commands.push_back("stop " + id + " " + std::to_string(timeout / kSecond));
    stopped.insert(id);
    return std::string("stopped container");
  }

 private:
  const FakeHost* host_;
};

// Two switches joined by a trunk, three endpoints: the shape of examples/quickstart.yaml.
inline CloudConfig QuickstartConfig() {
  CloudConfig c;
  c.source = "/tmp/quickstart.yaml";
  c.vlans = {{10, "tenant-a", {}}, {20, "tenant-b", {}}};
  SwitchDecl sw1;
  sw1.name = "sw1";
  SwitchDecl sw2;
  sw2.name = "sw2";
  c.switches = {sw1, sw2};
  LinkDecl trunk;
  trunk.name = "trunk1";
  trunk.a = "sw1";
  trunk.b = "sw2";
  trunk.vlans = {10, 20};
  c.links = {trunk};
  auto endpoint = [](std::string name, std::string sw, uint16_t vlan, std::string addr) {
    EndpointDecl e;
    e.name = std::move(name);
    e.switch_name = std::move(sw);
    e.vlan = vlan;
    e.addresses = {std::move(addr)};
    return e;
  };
  c.endpoints = {endpoint("a1", "sw1", 10, "10.10.0.1/24"), endpoint("a2", "sw2", 10, "10.10.0.2/24"),
                 endpoint("b1", "sw1", 20, "10.10.0.3/24")};
  return c;
}

}  // namespace cloudlet::testing

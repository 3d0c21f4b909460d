// Dataplane (see dataplane.h): validates a DataplaneSpec, diffs it against the running switches, opens every new
// port before changing anything, then hands each switch its changes through its SwitchRunner.
#include "dataplane/dataplane.h"

#include <map>
#include <mutex>
#include <set>

#include "dataplane/switch_runner.h"
#include "port/af_packet_port.h"
#include "port/tap_port.h"

namespace cloudlet {

Result<std::unique_ptr<Port>> OpenKernelPort(const PortSpec& spec) {
  switch (spec.kind) {
    case PortKind::kAfPacket: {
      auto port = AfPacketPort::Open(spec.ifname);
      if (!port.ok()) return port.error();
      return std::unique_ptr<Port>(std::move(port).value());
    }
    case PortKind::kTap: {
      auto port = TapPort::Open(spec.ifname);
      if (!port.ok()) return port.error();
      return std::unique_ptr<Port>(std::move(port).value());
    }
    case PortKind::kRouter:
      break;  // needs the control plane's opener
  }
  return Error("port '" + spec.config.name + "': unknown port kind");
}

namespace {

bool SamePortConfig(const PortConfig& a, const PortConfig& b) {
  return a.name == b.name && a.mode == b.mode && a.vlan == b.vlan && a.trunk_vlans == b.trunk_vlans &&
         a.native_vlan == b.native_vlan && a.tpid == b.tpid && a.max_macs == b.max_macs;
}

// Checks everything that can be checked without touching the system, so that apply() fails before any change.
Status Validate(const DataplaneSpec& spec) {
  std::set<std::string> switch_names;
  std::map<std::string, std::string> interface_users;  // ifname -> "switch 'x' port 'y'"
  for (const SwitchSpec& sw : spec.switches) {
    const std::string where = "switch '" + sw.config.name + "'";
    if (sw.config.name.empty()) return Error("switch without a name");
    if (!switch_names.insert(sw.config.name).second) return Error(where + ": defined twice");
    if (sw.ports.size() > kMaxPortsPerSwitch) {
      return Error(where + ": " + std::to_string(sw.ports.size()) + " ports, at most " +
                   std::to_string(kMaxPortsPerSwitch));
    }
    // The switch core's own checks of every port config, on a scratch switch.
    VlanSwitch scratch(sw.config);
    for (const PortSpec& port : sw.ports) {
      if (port.config.name.empty()) return Error(where + ": port without a name");
      const bool needs_ifname = port.kind != PortKind::kRouter;
      if (needs_ifname && port.ifname.empty()) {
        return Error(where + " port '" + port.config.name + "': no interface name");
      }
      auto id = scratch.add_port(port.config);
      if (!id.ok()) return id.error();
      const std::string user = where + " port '" + port.config.name + "'";
      if (port.ifname.empty()) continue;
      auto [it, inserted] = interface_users.emplace(port.ifname, user);
      if (!inserted) return Error(user + ": interface " + port.ifname + " is already used by " + it->second);
    }
  }
  return Status::Ok();
}

}  // namespace

struct Dataplane::Impl {
  struct Running {
    std::unique_ptr<SwitchRunner> runner;
    SwitchSpec spec;  // as last applied (control-side copy, guarded by mu)
  };

  Impl(const Clock& c, PortOpener o) : clock(c), opener(std::move(o)) {}

  const Clock& clock;
  PortOpener opener;
  std::mutex mu;                  // serializes apply() and status(); never taken by the data-plane threads
  std::vector<Running> switches;  // in the order of the last applied spec

  Running* find(const std::string& name) {
    for (Running& r : switches) {
      if (r.spec.config.name == name) return &r;
    }
    return nullptr;
  }
};

Dataplane::Dataplane(const Clock& clock) : Dataplane(clock, OpenKernelPort) {}

Dataplane::Dataplane(const Clock& clock, PortOpener opener) : impl_(std::make_unique<Impl>(clock, std::move(opener))) {}

Dataplane::~Dataplane() = default;  // each SwitchRunner stops its thread, then closes its ports

Status Dataplane::apply(const DataplaneSpec& spec) {
  CL_RETURN_IF_ERROR(Validate(spec));
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);

  // Plan, and open everything new. Nothing running changes until all of it succeeded.
  struct Plan {
    const SwitchSpec* spec;
    Impl::Running* running;               // nullptr: a new switch
    std::unique_ptr<SwitchRunner> fresh;  // its runner, started but still empty
    SwitchChange change;
  };
  std::vector<Plan> plans;
  plans.reserve(spec.switches.size());
  for (const SwitchSpec& sw : spec.switches) {
    Plan plan{&sw, d.find(sw.config.name), nullptr, {}};
    plan.change.config = sw.config;
    if (plan.running == nullptr) {
      auto runner = SwitchRunner::Start(sw.config, d.clock);
      if (!runner.ok()) return runner.error();
      plan.fresh = std::move(runner).value();
    }
    for (const PortSpec& port : sw.ports) {
      const PortSpec* old = nullptr;
      if (plan.running != nullptr) {
        for (const PortSpec& p : plan.running->spec.ports) {
          if (p.config.name == port.config.name) old = &p;
        }
      }
      if (old != nullptr && old->kind == port.kind && old->ifname == port.ifname && old->instance == port.instance) {
        if (!SamePortConfig(old->config, port.config)) plan.change.updated.push_back(port);
        continue;
      }
      if (old != nullptr) plan.change.removed.push_back(old->config.name);  // re-attached elsewhere
      auto opened = d.opener(port);
      if (!opened.ok()) return opened.error().wrap("switch '" + sw.config.name + "' port '" + port.config.name + "'");
      if (opened.value()->poll_fd() < 0) {
        return Error("switch '" + sw.config.name + "' port '" + port.config.name + "': port has no poll fd");
      }
      plan.change.added.push_back({port, std::move(opened).value()});
    }
    if (plan.running != nullptr) {
      for (const PortSpec& p : plan.running->spec.ports) {
        bool kept = false;
        for (const PortSpec& q : sw.ports) kept = kept || q.config.name == p.config.name;
        if (!kept) plan.change.removed.push_back(p.config.name);
      }
    }
    plans.push_back(std::move(plan));
  }

  // Commit. Removed switches go first (their threads stop, their ports close).
  std::vector<Impl::Running> next;
  next.reserve(plans.size());
  for (Impl::Running& r : d.switches) {
    bool kept = false;
    for (const Plan& p : plans) kept = kept || p.running == &r;
    if (!kept) r.runner.reset();
  }
  Status result;
  for (Plan& plan : plans) {
    Impl::Running running;
    if (plan.running != nullptr) {
      running.runner = std::move(plan.running->runner);
    } else {
      running.runner = std::move(plan.fresh);
    }
    running.spec = *plan.spec;
    Status st = running.runner->apply(std::move(plan.change));
    if (!st.ok() && result.ok()) result = st;  // not expected: Validate() ran the same checks
    next.push_back(std::move(running));
  }
  d.switches = std::move(next);
  return result;
}

std::vector<SwitchStatus> Dataplane::status() {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  std::vector<SwitchStatus> out;
  out.reserve(d.switches.size());
  for (Impl::Running& r : d.switches) out.push_back(r.runner->status());
  return out;
}

}  // namespace cloudlet

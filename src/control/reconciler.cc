// Executor of reconciliation plans: persist intent, act on the host, converge the data plane, persist the result.
#include "control/reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "control/naming.h"

namespace cloudlet {

namespace {

// `running` with `project`'s switches replaced by `replacement` (others keep their order).
std::vector<SwitchPlan> ReplaceProject(const std::vector<SwitchPlan>& running, const std::string& project,
                                       const std::vector<SwitchPlan>& replacement) {
  std::vector<SwitchPlan> out;
  for (const auto& s : running) {
    if (s.project != project) out.push_back(s);
  }
  out.insert(out.end(), replacement.begin(), replacement.end());
  return out;
}

std::vector<SwitchPlan> WithoutInterfaces(const std::vector<SwitchPlan>& running,
                                          const std::set<std::string>& ifnames) {
  std::vector<SwitchPlan> out = running;
  for (auto& s : out) {
    std::erase_if(s.ports,
                  [&](const PortPlan& p) { return p.kind == PortPlanKind::kAfPacket && ifnames.count(p.ifname); });
  }
  return out;
}

}  // namespace

Reconciler::Reconciler(HostOps& host, SwitchRuntime& runtime, const StateStore* store, VpnRuntime* vpns,
                       ContainerRuntime* containers)
    : host_(host), runtime_(runtime), store_(store), vpn_runtime_(vpns), container_runtime_(containers) {}

cloudlet::Status Reconciler::Save() {
  if (!store_) return Status::Ok();
  auto st = store_->Save(state_);
  if (!st.ok()) return st.error().wrap("cannot record state before changing anything");
  return st;
}

cloudlet::Status Reconciler::ApplySwitches(const std::vector<SwitchPlan>& target) {
  if (applied_once_ && target == running_) return Status::Ok();
  auto st = runtime_.Apply(target);
  if (!st.ok()) return st.error().wrap("data plane");
  running_ = target;
  applied_once_ = true;
  return Status::Ok();
}

cloudlet::Status Reconciler::ApplyVpns(const std::vector<VpnPlan>& target, std::vector<std::string>& changes) {
  if (!vpn_runtime_) {
    if (target.empty()) return Status::Ok();
    return Error("this daemon runs no VPNs");
  }
  auto lines = vpn_runtime_->Apply(target);
  vpns_ = target;  // even on failure: what was asked for, so a later change compares against it
  if (!lines.ok()) return lines.error();
  for (auto& line : *lines) changes.push_back(std::move(line));
  return Status::Ok();
}

std::vector<RouterPlan> Reconciler::RoutersWith(const std::string& project, std::optional<RouterPlan> own) const {
  std::vector<RouterPlan> out;
  for (const auto& r : routers_) {
    if (r.project != project) out.push_back(r);
  }
  if (own) out.push_back(std::move(*own));
  return out;
}

cloudlet::Status Reconciler::ApplyRouters(const std::vector<RouterPlan>& target, std::vector<std::string>& changes) {
  auto lines = runtime_.ApplyRouters(target);
  if (!lines.ok()) return lines.error();
  routers_ = target;
  for (auto& line : *lines) changes.push_back(std::move(line));
  return Status::Ok();
}

std::vector<ContainerPlan> Reconciler::ContainersWith(const std::string& project,
                                                      const std::vector<ContainerPlan>& own) const {
  std::vector<ContainerPlan> out;
  for (const auto& c : containers_) {
    if (c.project != project) out.push_back(c);
  }
  out.insert(out.end(), own.begin(), own.end());
  return out;
}

cloudlet::Status Reconciler::ApplyContainers(const std::vector<ContainerPlan>& target, const std::string& project,
                                             std::vector<std::string>& changes) {
  if (!container_runtime_) {
    if (target.empty()) return Status::Ok();
    return Error("this daemon runs no containers");
  }
  auto lines = container_runtime_->Apply(target, project);
  containers_ = target;  // even on failure: failed containers stay listed, and the next `up` retries them
  if (!lines.ok()) return lines.error();
  for (auto& line : *lines) changes.push_back(std::move(line));
  return Status::Ok();
}

ChangeReport Reconciler::ContainerCommand(const std::string& action, const std::string& name,
                                          const std::string& project, Nanos timeout) {
  std::unique_lock lock(mu_);
  ChangeReport report;
  std::vector<const ContainerPlan*> found;
  for (const auto& c : containers_) {
    if (c.name == name && (project.empty() || c.project == project)) found.push_back(&c);
  }
  if (found.empty() || !container_runtime_) {
    report.status = Error("no container named " + name + (project.empty() ? "" : " in " + project) +
                          "; `cloudlet container ls` lists them");
    report.http_code = 404;
    return report;
  }
  if (found.size() > 1) {
    report.status = Error("container name " + name + " is used by several projects; say which: PROJECT/" + name);
    report.http_code = 409;
    return report;
  }
  const std::string id = found[0]->id;
  lock.unlock();  // a stop may take its whole timeout: status and other commands go on meanwhile
  auto line = action == "start" ? container_runtime_->Start(id) : container_runtime_->Stop(id, timeout);
  if (!line.ok()) {
    report.status = line.error();
    report.http_code = 409;
    return report;
  }
  spdlog::info("container {}: {}", name, *line);
  report.changes.push_back(*line);
  return report;
}

Result<nlohmann::json> Reconciler::RouterQuery(const std::string& what, const nlohmann::json& args) {
  return runtime_.RouterQuery(what, args);
}

std::vector<SwitchPlan> Reconciler::SwitchesOf(const std::string& project) const {
  std::vector<SwitchPlan> out;
  for (const auto& s : running_) {
    if (s.project == project) out.push_back(s);
  }
  return out;
}

std::vector<std::string> Reconciler::Restore(const DaemonState& state,
                                             const std::function<Result<CloudConfig>(const nlohmann::json&)>& decode) {
  std::lock_guard lock(mu_);
  state_ = state;
  std::vector<std::string> problems;
  // Claim every project's names first, so collision checks during restore see all of them.
  std::vector<std::pair<std::string, CloudConfig>> ups;
  std::vector<std::string> downs;
  for (const auto& [project, record] : state.projects) {
    if (record.removing) {
      downs.push_back(project);
      continue;
    }
    auto cfg = decode(record.config);
    if (!cfg.ok()) {
      problems.push_back(project + ": recorded config no longer valid: " + cfg.error().message());
      continue;
    }
    configs_[project] = *cfg;
    ups.emplace_back(project, std::move(cfg).value());
  }
  for (const auto& project : downs) {
    auto r = DownLocked(project);
    if (!r.status.ok()) problems.push_back(project + ": finishing `down`: " + r.status.message());
  }
  for (const auto& [project, cfg] : ups) {
    auto r = UpLocked(project, cfg, state_.projects[project].config);
    for (const auto& c : r.changes) spdlog::info("restore {}: {}", project, c);
    if (!r.status.ok()) problems.push_back(project + ": " + r.status.message());
  }
  return problems;
}

ChangeReport Reconciler::Up(const std::string& project, const CloudConfig& cfg, const nlohmann::json& cfg_json) {
  std::lock_guard lock(mu_);
  return UpLocked(project, cfg, cfg_json);
}

ChangeReport Reconciler::Down(const std::string& project) {
  std::lock_guard lock(mu_);
  return DownLocked(project);
}

ChangeReport Reconciler::UpLocked(const std::string& project, const CloudConfig& cfg, const nlohmann::json& cfg_json) {
  ChangeReport report;
  std::map<std::string, CloudConfig> others = configs_;
  others.erase(project);
  if (auto st = CheckCollisions(project, cfg, others); !st.ok()) {
    report.status = st;
    report.http_code = 409;
    return report;
  }

  auto rec_it = state_.projects.find(project);
  const ProjectRecord* recorded = rec_it == state_.projects.end() ? nullptr : &rec_it->second;
  HostView view = host_.Observe(TargetsFor(project, &cfg, recorded));
  ProjectPlan plan = PlanProject(project, &cfg, recorded, view);
  const std::vector<SwitchPlan> before = SwitchesOf(project);
  const std::vector<SwitchPlan> after = BuildSwitchPlans(project, cfg);
  const std::vector<SwitchPlan> target = ReplaceProject(running_, project, after);
  const bool dataplane_same = applied_once_ && target == running_;
  std::vector<VpnPlan> vpn_target;
  for (const auto& v : vpns_) {
    if (v.project != project) vpn_target.push_back(v);
  }
  for (auto& v : BuildVpnPlans(project, cfg)) vpn_target.push_back(std::move(v));
  const bool vpns_same = vpn_runtime_ ? vpn_runtime_->Matches(vpn_target) : vpn_target.empty();
  auto own_router = BuildRouterPlan(project, cfg, lease_dir_);
  if (!own_router.ok()) {
    report.status = own_router.error();
    report.http_code = 400;
    return report;
  }
  const std::vector<RouterPlan> router_target = RoutersWith(project, *own_router);
  const bool routers_same = applied_once_ && router_target == routers_;
  const std::vector<ContainerPlan> container_target = ContainersWith(project, BuildContainerPlans(project, cfg));
  const bool containers_same =
      container_runtime_ ? container_runtime_->Matches(container_target, project) : container_target.empty();

  if (plan.empty() && dataplane_same && vpns_same && routers_same && containers_same && recorded &&
      !recorded->pending) {
    configs_[project] = cfg;
    if (recorded->config != cfg_json) {  // same effect, other text (e.g. comments moved lines): remember it
      rec_it->second.config = cfg_json;
      if (auto st = Save(); !st.ok()) spdlog::warn("{}", st.message());
    }
    return report;  // nothing changed
  }

  // Intent first: if we crash from here on, the next start knows about everything this change may create.
  ProjectRecord intent = plan.intent;
  intent.config = cfg_json;
  state_.projects[project] = intent;
  configs_[project] = cfg;
  if (auto st = Save(); !st.ok()) {
    report.status = st;
    report.http_code = 500;
    return report;
  }

  auto fail = [&](const cloudlet::Status& st) {
    report.status = st;
    report.http_code = 500;
    spdlog::error("up {}: {}", project, st.message());
    return report;
  };

  // Ports on veths about to be deleted or re-created leave the data plane first.
  if (auto interim = WithoutInterfaces(running_, plan.detach); interim != running_) {
    if (auto st = ApplySwitches(interim); !st.ok()) return fail(st);
  }
  for (const auto* phase : {&plan.teardown, &plan.setup}) {
    for (const Action& a : *phase) {
      if (auto st = host_.Execute(a); !st.ok()) return fail(st.error().wrap(a.Describe()));
      if (!a.quiet) report.changes.push_back(a.Describe());
      if (a.quiet) {
        spdlog::debug("up {}: {}", project, a.Describe());
      } else {
        spdlog::info("up {}: {}", project, a.Describe());
      }
    }
  }
  if (auto st = ApplySwitches(target); !st.ok()) return fail(st);
  for (auto& line : DescribeSwitchChanges(before, after)) {
    spdlog::info("up {}: {}", project, line);
    report.changes.push_back(std::move(line));
  }
  // After the host actions: a tunnel's TUN goes into its gateway namespace, which must exist by now.
  size_t first_vpn_change = report.changes.size();
  auto vpn_status = ApplyVpns(vpn_target, report.changes);
  for (size_t i = first_vpn_change; i < report.changes.size(); ++i) {
    spdlog::info("up {}: {}", project, report.changes[i]);
  }
  if (!vpn_status.ok()) return fail(vpn_status);
  // After the switches: each router's port was just opened (or kept); now it gets its interfaces and rules.
  const size_t first_router_change = report.changes.size();
  auto router_status = ApplyRouters(router_target, report.changes);
  for (size_t i = first_router_change; i < report.changes.size(); ++i) {
    spdlog::info("up {}: {}", project, report.changes[i]);
  }
  if (!router_status.ok()) return fail(router_status);
  // Last: containers join their endpoints' namespaces (created above) and find their gateway configured.
  const size_t first_container_change = report.changes.size();
  auto container_status = ApplyContainers(container_target, project, report.changes);
  for (size_t i = first_container_change; i < report.changes.size(); ++i) {
    spdlog::info("up {}: {}", project, report.changes[i]);
  }
  if (!container_status.ok()) return fail(container_status);

  ProjectRecord result = plan.result;
  result.config = cfg_json;
  state_.projects[project] = result;
  if (auto st = Save(); !st.ok()) return fail(st);
  return report;
}

ChangeReport Reconciler::DownLocked(const std::string& project) {
  ChangeReport report;
  auto rec_it = state_.projects.find(project);
  if (rec_it == state_.projects.end()) {
    report.status = Error("project " + project + " is not up (nothing recorded for it); nothing to remove");
    report.http_code = 404;
    return report;
  }
  HostView view = host_.Observe(TargetsFor(project, nullptr, &rec_it->second));
  ProjectPlan plan = PlanProject(project, nullptr, &rec_it->second, view);

  ProjectRecord intent = plan.intent;
  intent.config = rec_it->second.config;
  rec_it->second = intent;
  if (auto st = Save(); !st.ok()) {
    report.status = st;
    report.http_code = 500;
    return report;
  }
  auto fail = [&](const cloudlet::Status& st) {
    report.status = st;
    report.http_code = 500;
    spdlog::error("down {}: {}", project, st.message());
    return report;
  };

  // Containers first (they live in the endpoints' namespaces), then tunnels and data plane (their TUNs and ports live
  // in the namespaces and on the veths), then veths, then the namespaces cloudlet created.
  if (auto st = ApplyContainers(ContainersWith(project, {}), project, report.changes); !st.ok()) return fail(st);
  std::vector<VpnPlan> vpn_target;
  for (const auto& v : vpns_) {
    if (v.project != project) vpn_target.push_back(v);
  }
  if (auto st = ApplyVpns(vpn_target, report.changes); !st.ok()) return fail(st);
  if (auto st = ApplyRouters(RoutersWith(project, std::nullopt), report.changes); !st.ok()) return fail(st);
  const std::vector<SwitchPlan> before = SwitchesOf(project);
  if (auto st = ApplySwitches(ReplaceProject(running_, project, {})); !st.ok()) return fail(st);
  for (auto& line : DescribeSwitchChanges(before, {})) report.changes.push_back(std::move(line));
  for (const Action& a : plan.teardown) {
    if (auto st = host_.Execute(a); !st.ok()) return fail(st.error().wrap(a.Describe()));
    if (!a.quiet) report.changes.push_back(a.Describe());
    spdlog::info("down {}: {}", project, a.Describe());
  }
  state_.projects.erase(project);
  configs_.erase(project);
  if (auto st = Save(); !st.ok()) return fail(st);
  return report;
}

nlohmann::json Reconciler::ContainersJson() {
  // No reconciler lock: the runtime has its own, and `container ls` should answer while an `up` runs.
  return container_runtime_ ? container_runtime_->Snapshot() : nlohmann::json::array();
}

nlohmann::json Reconciler::StatusJson() {
  std::lock_guard lock(mu_);
  nlohmann::json switches = runtime_.Snapshot();
  // VLAN names and the owning project come from the configs.
  for (auto& sw : switches) {
    const std::string name = sw.value("name", "");
    for (const auto& [project, cfg] : configs_) {
      bool mine =
          std::any_of(cfg.switches.begin(), cfg.switches.end(), [&](const SwitchDecl& d) { return d.name == name; });
      if (!mine) continue;
      sw["project"] = project;
      if (!sw.contains("vlans")) break;
      for (auto& v : sw["vlans"]) {
        for (const auto& decl : cfg.vlans) {
          if (decl.id == v.value("id", 0)) v["name"] = decl.name;
        }
      }
      break;
    }
  }
  nlohmann::json endpoints = nlohmann::json::array();
  for (const auto& [project, cfg] : configs_) {
    for (const auto& ep : cfg.endpoints) {
      endpoints.push_back({{"name", ep.name},
                           {"project", project},
                           {"switch", ep.switch_name},
                           {"vlan", ep.vlan},
                           {"netns", EndpointNetns(ep)},
                           {"interface", ep.interface},
                           {"host_interface", EndpointHostIfname(project, ep.name)},
                           {"addresses", ep.addresses}});
    }
  }
  nlohmann::json vpns = vpn_runtime_ ? vpn_runtime_->Snapshot() : nlohmann::json::array();
  for (auto& v : vpns) {
    // Where each VPN enters the cloud, from its config.
    auto cfg = configs_.find(v.value("project", ""));
    if (cfg == configs_.end()) continue;
    for (const auto& decl : cfg->second.vpns) {
      if (decl.name != v.value("name", "")) continue;
      v["attach"] = {{"switch", decl.attach.switch_name},
                     {"vlan", decl.attach.vlan},
                     {"address", decl.attach.address},
                     {"host_interface", VpnHostIfname(cfg->first, decl.name)}};
    }
  }
  nlohmann::json containers = container_runtime_ ? container_runtime_->Snapshot() : nlohmann::json::array();
  return {{"switches", switches},
          {"endpoints", endpoints},
          {"vpns", vpns},
          {"routers", runtime_.RouterSnapshot()},
          {"containers", containers}};
}

}  // namespace cloudlet

// Container plans from configs, and a container's config.json from its plan and image.
#include "control/container_plan.h"

#include <cstdio>

#include "control/naming.h"
#include "control/planner.h"
#include "oci/image_user.h"

namespace cloudlet {

namespace {

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr uint64_t kCpuPeriodUs = 100000;

std::string Hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::string EnvKey(const std::string& kv) { return kv.substr(0, kv.find('=')); }

}  // namespace

std::string ContainerProjectKey(const std::string& project) {
  std::string base = project.substr(project.find_last_of('/') + 1);
  if (auto dot = base.find_last_of('.'); dot != std::string::npos && dot > 0) base.resize(dot);
  std::string stem;
  for (char c : base) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    stem.push_back(ok ? c : '_');
    if (stem.size() == 24) break;
  }
  if (stem.empty() || stem[0] == '.') stem = "p" + stem;  // never "." or "..", never a hidden directory
  return stem + "-" + Hex8(StableHash32("containers\n" + project));
}

std::string ContainerId(const std::string& project, const std::string& endpoint) {
  return ContainerProjectKey(project) + "-" + endpoint;
}

std::vector<ContainerPlan> BuildContainerPlans(const std::string& project, const CloudConfig& cfg) {
  std::vector<ContainerPlan> out;
  for (const auto& ep : cfg.endpoints) {
    if (!ep.container) continue;
    ContainerPlan p;
    p.id = ContainerId(project, ep.name);
    p.name = ep.name;
    p.project = project;
    p.project_key = ContainerProjectKey(project);
    p.netns = EndpointNetns(ep);
    p.addresses = ep.addresses;
    p.decl = *ep.container;
    p.decl.loc = {};
    for (auto& m : p.decl.mounts) m.loc = {};
    if (p.decl.hostname.empty()) p.decl.hostname = ep.name;
    out.push_back(std::move(p));
  }
  return out;
}

nlohmann::json ContainerPlanJson(const ContainerPlan& plan) {
  const ContainerDecl& d = plan.decl;
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& m : d.mounts) mounts.push_back({{"source", m.source}, {"target", m.target}, {"ro", m.read_only}});
  nlohmann::json j = {{"id", plan.id},
                      {"name", plan.name},
                      {"project", plan.project},
                      {"netns", plan.netns},
                      {"image", d.image},
                      {"env", d.env},
                      {"workdir", d.workdir},
                      {"hostname", d.hostname},
                      {"memory", d.memory_bytes},
                      {"nano_cpus", d.nano_cpus},
                      {"cpuset", d.cpuset},
                      {"pids", d.pids},
                      {"restart", RestartPolicyName(d.restart)},
                      {"read_only", d.read_only},
                      {"mounts", mounts}};
  j["command"] = d.command ? nlohmann::json(*d.command) : nlohmann::json(nullptr);
  j["entrypoint"] = d.entrypoint ? nlohmann::json(*d.entrypoint) : nlohmann::json(nullptr);
  j["uid"] = d.uid ? nlohmann::json(*d.uid) : nlohmann::json(nullptr);
  j["gid"] = d.gid ? nlohmann::json(*d.gid) : nlohmann::json(nullptr);
  return j;
}

Result<oci::Spec> BuildContainerSpec(const ContainerPlan& plan, const ContainerSpecInputs& in) {
  const ContainerDecl& d = plan.decl;
  oci::Spec spec = in.base;
  if (!spec.process) spec.process = oci::Process{};
  oci::Process& p = *spec.process;
  p.terminal = false;
  p.console_size.reset();

  // Docker's rule: a declared entrypoint drops the image's Cmd too.
  std::vector<std::string> entrypoint =
      d.entrypoint ? *d.entrypoint : in.image.entrypoint.value_or(std::vector<std::string>{});
  std::vector<std::string> cmd;
  if (d.command) {
    cmd = *d.command;
  } else if (!d.entrypoint) {
    cmd = in.image.cmd.value_or(std::vector<std::string>{});
  }
  p.args = entrypoint;
  p.args.insert(p.args.end(), cmd.begin(), cmd.end());
  if (p.args.empty()) {
    return Error("container " + plan.name + ": no command to run: the image " + d.image +
                 " has neither Entrypoint nor Cmd; set container.command");
  }

  p.env = in.image.env;
  for (const auto& kv : d.env) {
    std::erase_if(p.env, [&](const std::string& e) { return EnvKey(e) == kv.first; });
    std::string entry = kv.first;
    entry += '=';
    entry += kv.second;
    p.env.push_back(std::move(entry));
  }
  bool has_path = false;
  for (const auto& e : p.env) has_path = has_path || EnvKey(e) == "PATH";
  if (!has_path) p.env.insert(p.env.begin(), kDefaultPath);
  p.env.push_back("HOSTNAME=" + d.hostname);

  p.cwd = !d.workdir.empty() ? d.workdir : (!in.image.working_dir.empty() ? in.image.working_dir : "/");
  if (p.cwd[0] != '/') p.cwd = "/" + p.cwd;

  if (d.uid) {
    // A numeric user: its group from the image's /etc/passwd unless given.
    std::string user = std::to_string(*d.uid);
    if (d.gid) user += ":" + std::to_string(*d.gid);
    CL_ASSIGN_OR_RETURN(p.user, oci::ResolveImageUser(user, in.passwd, in.group));
  } else {
    auto user = oci::ResolveImageUser(in.image.user, in.passwd, in.group);
    if (!user.ok()) {
      return Error("container " + plan.name + ": the image's " + user.error().message() +
                   "; set container.user to numeric uid:gid");
    }
    p.user = *user;
  }

  // Docker's default capability set rather than runc's three: images expect root to chown, setuid and ping.
  oci::Capabilities caps;
  caps.bounding = {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
                   "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
                   "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                   "CAP_KILL",    "CAP_AUDIT_WRITE"};
  caps.effective = caps.bounding;
  caps.permitted = caps.bounding;
  p.capabilities = caps;

  spec.root.path = in.rootfs;
  spec.root.readonly = d.read_only;
  spec.hostname = d.hostname;

  bool has_net = false;
  for (auto& ns : spec.linux.namespaces) {
    if (ns.type != oci::NamespaceType::kNetwork) continue;
    ns.path = in.netns_path;
    has_net = true;
  }
  if (!has_net) spec.linux.namespaces.push_back({oci::NamespaceType::kNetwork, in.netns_path});
  spec.linux.cgroups_path = "/cloudlet/" + plan.id;
  // As Docker: unprivileged ICMP echo sockets, so ping works without CAP_NET_RAW (a per-namespace setting).
  spec.linux.sysctl["net.ipv4.ping_group_range"] = "0 2147483647";

  oci::Resources res;
  bool any_limit = false;
  if (d.memory_bytes) {
    res.memory = oci::MemoryLimits{};
    res.memory->limit = static_cast<int64_t>(d.memory_bytes);
    any_limit = true;
  }
  if (d.nano_cpus || !d.cpuset.empty()) {
    res.cpu = oci::CpuLimits{};
    if (d.nano_cpus) {
      res.cpu->period = kCpuPeriodUs;
      int64_t quota = static_cast<int64_t>(d.nano_cpus * kCpuPeriodUs / 1000000000ull);
      res.cpu->quota = std::max<int64_t>(quota, 1000);  // the kernel's minimum quota is 1 ms
    }
    res.cpu->cpus = d.cpuset;
    any_limit = true;
  }
  if (d.pids) {
    res.pids_limit = d.pids;
    any_limit = true;
  }
  if (any_limit) {
    if (spec.linux.resources) {
      res.devices = spec.linux.resources->devices;
    }
    spec.linux.resources = std::move(res);
  }

  for (const auto& m : d.mounts) {
    oci::Mount mount;
    mount.destination = m.target;
    mount.type = "bind";
    mount.source = m.source;
    mount.options = {"rbind", "rprivate"};
    if (m.read_only) mount.options.emplace_back("ro");
    spec.mounts.push_back(std::move(mount));
  }
  spec.annotations["org.cloudlet.project"] = plan.project;
  spec.annotations["org.cloudlet.endpoint"] = plan.name;
  return spec;
}

}  // namespace cloudlet

// The pure reconciliation planner: desired config + recorded state + host observations -> ordered actions.
#include "control/planner.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "config/config.h"
#include "control/naming.h"

namespace cloudlet {

namespace {

std::string Where(const std::string& netns, const std::string& ifname) {
  return netns.empty() ? ifname : netns + ":" + ifname;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One veth pair the project needs, with what it is for.
struct DesiredVeth {
  VethSpec spec;
  bool manage_addresses = false;       // endpoints and VPN gateways: the peer end's addresses are ours to set
  std::vector<std::string> addresses;  // of the peer end
  std::string gateway;                 // default route in the peer's namespace, if any
  std::string owner;
};

std::vector<DesiredVeth> DesiredVeths(const std::string& project, const CloudConfig& cfg) {
  std::vector<DesiredVeth> out;
  for (const auto& ep : cfg.endpoints) {
    DesiredVeth d;
    d.spec.host_ifname = EndpointHostIfname(project, ep.name);
    d.spec.peer_ifname = ep.interface;
    d.spec.peer_netns = EndpointNetns(ep);
    d.spec.peer_mac = ep.mac;
    d.spec.mtu = ep.mtu;
    d.manage_addresses = true;
    d.addresses = ep.addresses;
    d.gateway = ep.gateway;
    d.owner = ep.name;
    out.push_back(std::move(d));
  }
  for (const auto& vpn : cfg.vpns) {
    DesiredVeth d;
    d.spec.host_ifname = VpnHostIfname(project, vpn.name);
    d.spec.peer_ifname = kVpnGatewayIfname;
    d.spec.peer_netns = VpnNetns(project, vpn.name);
    d.manage_addresses = true;
    d.addresses = {vpn.attach.address};
    // On a routed VLAN the remote users reach the other VLANs (as that VLAN's zone) through the router; the router
    // routes their allowed IPs back to this gateway.
    for (const auto& v : cfg.vlans) {
      if (v.id != vpn.attach.vlan || v.ipv4.empty() || vpn.attach.address.find(':') != std::string::npos) continue;
      d.gateway = v.ipv4.substr(0, v.ipv4.find('/'));
    }
    d.owner = "vpn:" + vpn.name;  // gateways are keyed by owner: never the same as an endpoint's name
    out.push_back(std::move(d));
  }
  for (const auto& link : cfg.links) {
    DesiredVeth d;
    d.spec.host_ifname = LinkIfname(project, link.name, 'a');
    d.spec.peer_ifname = LinkIfname(project, link.name, 'b');
    d.spec.mtu = kLinkMtu;
    d.owner = link.name;
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<std::string> DesiredNetns(const std::string& project, const CloudConfig& cfg) {
  std::vector<std::string> out;
  for (const auto& ep : cfg.endpoints) {
    auto ns = EndpointNetns(ep);
    if (std::find(out.begin(), out.end(), ns) == out.end()) out.push_back(ns);
  }
  for (const auto& vpn : cfg.vpns) out.push_back(VpnNetns(project, vpn.name));
  return out;
}

Action MakeAction(ActionKind kind, std::string netns, std::string ifname, bool quiet = false) {
  Action a{.kind = kind};
  a.netns = std::move(netns);
  a.ifname = std::move(ifname);
  a.quiet = quiet;
  return a;
}

std::vector<std::string> NormalizedSet(const std::vector<std::string>& cidrs) {
  std::vector<std::string> out;
  for (const auto& c : cidrs) {
    if (IsIpv6LinkLocal(c)) continue;
    out.push_back(NormalizeCidr(c));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string PortsNoun(size_t n) { return std::to_string(n) + (n == 1 ? " port" : " ports"); }

}  // namespace

std::string EndpointNetns(const EndpointDecl& ep) { return ep.netns.empty() ? ep.name : ep.netns; }

std::string NormalizeCidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  std::string addr = cidr.substr(0, slash);
  std::string suffix = slash == std::string::npos ? "" : cidr.substr(slash);
  unsigned char buf[16];
  char text[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1 && inet_ntop(AF_INET, buf, text, sizeof(text))) return text + suffix;
  if (inet_pton(AF_INET6, addr.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, text, sizeof(text))) return text + suffix;
  return cidr;
}

bool IsIpv6LinkLocal(const std::string& cidr) {
  unsigned char buf[16];
  std::string addr = cidr.substr(0, cidr.find('/'));
  return inet_pton(AF_INET6, addr.c_str(), buf) == 1 && buf[0] == 0xfe && (buf[1] & 0xc0) == 0x80;
}

std::string Action::Describe() const {
  switch (kind) {
    case ActionKind::kCreateNetns:
      return "created netns " + netns;
    case ActionKind::kDeleteNetns:
      return "deleted netns " + netns;
    case ActionKind::kCreateVeth:
      return "created veth " + veth.host_ifname + " <-> " + Where(veth.peer_netns, veth.peer_ifname);
    case ActionKind::kDeleteLink:
      return "deleted veth " + Where(netns, ifname);
    case ActionKind::kSetMtu:
      return "set mtu of " + Where(netns, ifname) + " to " + std::to_string(mtu);
    case ActionKind::kSetLinkUp:
      return "set " + Where(netns, ifname) + " up";
    case ActionKind::kDisableIpv6:
      return "disabled IPv6 on " + Where(netns, ifname);
    case ActionKind::kReplaceAddresses: {
      if (addresses.empty()) return "removed addresses of " + Where(netns, ifname);
      std::string list;
      for (const auto& a : addresses) list += (list.empty() ? "" : ", ") + a;
      return "set addresses of " + Where(netns, ifname) + ": " + list;
    }
    case ActionKind::kSetDefaultRoute:
      return "set default route in " + netns + " via " + gateway;
  }
  return "unknown action";
}

std::vector<SwitchPlan> BuildSwitchPlans(const std::string& project, const CloudConfig& cfg) {
  std::vector<SwitchPlan> out;
  for (const auto& sw : cfg.switches) {
    SwitchPlan sp;
    sp.name = sw.name;
    sp.project = project;
    sp.max_macs = sw.max_macs;
    sp.mac_aging_seconds = sw.mac_aging_seconds;
    for (const auto& p : sw.ports) {
      PortPlan pp;
      pp.name = p.name;
      pp.kind = p.tap.empty() ? PortPlanKind::kAfPacket : PortPlanKind::kTap;
      pp.ifname = p.tap.empty() ? p.interface : p.tap;
      pp.mode = p.mode;
      pp.vlan = p.vlan;
      pp.vlans = p.vlans;
      pp.native_vlan = p.native_vlan;
      pp.tpid = p.tpid;
      pp.max_macs = p.max_macs.value_or(sw.port_max_macs);
      sp.ports.push_back(std::move(pp));
    }
    out.push_back(std::move(sp));
  }
  auto find = [&](const std::string& name) -> std::pair<SwitchPlan*, const SwitchDecl*> {
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i].name == name) return {&out[i], &cfg.switches[i]};
    }
    return {nullptr, nullptr};
  };
  for (const auto& ep : cfg.endpoints) {
    auto [sp, decl] = find(ep.switch_name);
    if (!sp) continue;  // validation rejects this; never invent a switch
    PortPlan pp;
    pp.name = ep.name;
    pp.ifname = EndpointHostIfname(project, ep.name);
    pp.mode = PortModeDecl::kAccess;
    pp.vlan = ep.vlan;
    pp.max_macs = decl->port_max_macs;
    sp->ports.push_back(std::move(pp));
  }
  for (const auto& vpn : cfg.vpns) {
    auto [sp, decl] = find(vpn.attach.switch_name);
    if (!sp) continue;
    PortPlan pp;
    pp.name = vpn.name;
    pp.ifname = VpnHostIfname(project, vpn.name);
    pp.mode = PortModeDecl::kAccess;
    pp.vlan = vpn.attach.vlan;
    pp.max_macs = decl->port_max_macs;
    sp->ports.push_back(std::move(pp));
  }
  if (cfg.router) {
    auto [sp, decl] = find(cfg.router->switch_name);
    if (sp) {
      // The router joins its switch as one trunk of every routed VLAN (router/router_port.h).
      PortPlan pp;
      pp.name = "router";
      pp.kind = PortPlanKind::kRouter;
      pp.ifname = cfg.router->uplink ? cfg.router->uplink->interface : "";
      pp.instance = RouterPortKey(project);
      pp.mode = PortModeDecl::kTrunk;
      for (const auto& v : cfg.vlans) {
        if (VlanRouted(v)) pp.vlans.push_back(v.id);
      }
      pp.max_macs = decl->port_max_macs;
      sp->ports.push_back(std::move(pp));
    }
  }
  for (const auto& link : cfg.links) {
    for (char side : {'a', 'b'}) {
      auto [sp, decl] = find(side == 'a' ? link.a : link.b);
      if (!sp) continue;
      PortPlan pp;
      pp.name = link.name;
      pp.ifname = LinkIfname(project, link.name, side);
      pp.mode = PortModeDecl::kTrunk;
      pp.vlans = link.vlans;
      pp.native_vlan = link.native_vlan;
      pp.tpid = link.tpid;
      pp.max_macs = decl->port_max_macs;
      sp->ports.push_back(std::move(pp));
    }
  }
  return out;
}

std::vector<VpnPlan> BuildVpnPlans(const std::string& project, const CloudConfig& cfg) {
  std::vector<VpnPlan> out;
  for (const auto& vpn : cfg.vpns) {
    VpnPlan vp;
    vp.name = vpn.name;
    vp.project = project;
    vp.ifname = VpnTunIfname(project, vpn.name);
    vp.netns = VpnNetns(project, vpn.name);
    vp.listen_port = static_cast<uint16_t>(vpn.listen_port);
    vp.private_key_file = vpn.private_key_file;
    vp.address = vpn.address;
    vp.mtu = vpn.mtu;
    for (const auto& p : vpn.peers) {
      VpnPeerPlan pp;
      pp.name = p.name;
      pp.public_key = p.public_key;
      for (const auto& a : p.allowed_ips) pp.allowed_ips.push_back(NormalizeCidr(a));
      pp.endpoint = p.endpoint;
      pp.persistent_keepalive = static_cast<uint16_t>(p.persistent_keepalive);
      pp.preshared_key_file = p.preshared_key_file;
      vp.peers.push_back(std::move(pp));
    }
    out.push_back(std::move(vp));
  }
  return out;
}

std::vector<std::string> DescribeSwitchChanges(const std::vector<SwitchPlan>& before,
                                               const std::vector<SwitchPlan>& after) {
  std::vector<std::string> out;
  auto find = [](const std::vector<SwitchPlan>& v, const std::string& name) -> const SwitchPlan* {
    for (const auto& s : v) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  auto find_port = [](const SwitchPlan& s, const std::string& name) -> const PortPlan* {
    for (const auto& p : s.ports) {
      if (p.name == name) return &p;
    }
    return nullptr;
  };
  for (const auto& s : before) {
    if (!find(after, s.name)) out.push_back("stopped switch " + s.name);
  }
  for (const auto& s : after) {
    const SwitchPlan* old = find(before, s.name);
    if (!old) {
      out.push_back("started switch " + s.name + " (" + PortsNoun(s.ports.size()) + ")");
      continue;
    }
    if (old->max_macs != s.max_macs || old->mac_aging_seconds != s.mac_aging_seconds) {
      out.push_back("updated switch " + s.name + " settings");
    }
    for (const auto& p : old->ports) {
      if (!find_port(s, p.name)) out.push_back("removed port " + p.name + " from " + s.name);
    }
    for (const auto& p : s.ports) {
      const PortPlan* op = find_port(*old, p.name);
      if (!op) {
        out.push_back("added port " + p.name + " to " + s.name);
      } else if (!(*op == p)) {
        out.push_back("updated port " + p.name + " on " + s.name);
      }
    }
  }
  return out;
}

ObservationTargets TargetsFor(const std::string& project, const CloudConfig* desired, const ProjectRecord* recorded) {
  ObservationTargets t;
  if (desired) {
    for (const auto& ns : DesiredNetns(project, *desired)) t.netns.insert(ns);
    for (const auto& d : DesiredVeths(project, *desired)) {
      t.links.insert({"", d.spec.host_ifname});
      t.links.insert({d.spec.peer_netns, d.spec.peer_ifname});
      if (d.manage_addresses) t.addresses.insert({d.spec.peer_netns, d.spec.peer_ifname});
    }
  }
  if (recorded) {
    for (const auto& n : recorded->netns) t.netns.insert(n.name);
    for (const auto& v : recorded->veths) {
      t.links.insert({"", v.host_ifname});
      t.links.insert({v.peer_netns, v.peer_ifname});
    }
  }
  return t;
}

ProjectPlan PlanProject(const std::string& project, const CloudConfig* desired, const ProjectRecord* recorded,
                        const HostView& host) {
  ProjectPlan plan;
  const ProjectRecord empty_record;
  const ProjectRecord& rec = recorded ? *recorded : empty_record;

  auto link = [&](const std::string& netns, const std::string& ifname) -> const LinkInfo* {
    auto it = host.links.find({netns, ifname});
    return it == host.links.end() ? nullptr : &it->second;
  };
  auto recorded_netns = [&](const std::string& name) -> const NetnsRecord* {
    for (const auto& n : rec.netns) {
      if (n.name == name) return &n;
    }
    return nullptr;
  };

  std::vector<DesiredVeth> veths;
  std::vector<std::string> namespaces;
  if (desired) {
    veths = DesiredVeths(project, *desired);
    namespaces = DesiredNetns(project, *desired);
  }

  // Namespaces first: veths are created into them.
  std::vector<NetnsRecord> netns_records;
  for (const auto& ns : namespaces) {
    const NetnsRecord* r = recorded_netns(ns);
    bool exists = host.netns.count(ns) > 0;
    if (!exists) {
      Action a = MakeAction(ActionKind::kCreateNetns, ns, "");
      plan.setup.push_back(a);
      plan.setup.push_back(MakeAction(ActionKind::kSetLinkUp, ns, "lo", /*quiet=*/true));
    }
    // Created by cloudlet: now, or by an earlier `up` that recorded it. A namespace that was there before stays.
    netns_records.push_back({ns, !exists || (r && r->created)});
  }

  std::set<std::string> desired_hosts;
  std::vector<VethRecord> veth_records;
  for (const auto& d : veths) {
    const VethSpec& s = d.spec;
    desired_hosts.insert(s.host_ifname);
    veth_records.push_back({s.host_ifname, s.peer_ifname, s.peer_netns, d.owner});
    const LinkInfo* host_end = link("", s.host_ifname);
    const LinkInfo* peer = link(s.peer_netns, s.peer_ifname);

    bool create = host_end == nullptr;
    if (host_end && (host_end->kind != "veth" || !peer || peer->kind != "veth" ||
                     (!s.peer_mac.empty() && Lower(peer->mac) != Lower(s.peer_mac)))) {
      // The pair is not what is wanted (peer moved or gone, MAC changed): the kernel cannot fix that in place.
      plan.teardown.push_back(MakeAction(ActionKind::kDeleteLink, "", s.host_ifname));
      create = true;
    }
    if (create) {
      plan.detach.insert(s.host_ifname);
      if (s.peer_netns.empty()) plan.detach.insert(s.peer_ifname);
      Action a = MakeAction(ActionKind::kCreateVeth, s.peer_netns, s.host_ifname);
      a.veth = s;
      plan.setup.push_back(a);
      plan.setup.push_back(MakeAction(ActionKind::kDisableIpv6, "", s.host_ifname, true));
      if (s.peer_netns.empty()) plan.setup.push_back(MakeAction(ActionKind::kDisableIpv6, "", s.peer_ifname, true));
      plan.setup.push_back(MakeAction(ActionKind::kSetLinkUp, "", s.host_ifname, true));
      plan.setup.push_back(MakeAction(ActionKind::kSetLinkUp, s.peer_netns, s.peer_ifname, true));
    } else {
      for (auto [info, netns, ifname] :
           {std::tuple{host_end, std::string(), s.host_ifname}, std::tuple{peer, s.peer_netns, s.peer_ifname}}) {
        if (info->mtu != s.mtu) {
          Action a = MakeAction(ActionKind::kSetMtu, netns, ifname);
          a.mtu = s.mtu;
          plan.setup.push_back(a);
        }
        if (!info->up) plan.setup.push_back(MakeAction(ActionKind::kSetLinkUp, netns, ifname));
      }
    }

    if (!d.manage_addresses) continue;
    bool addresses_differ;
    if (create) {
      addresses_differ = !d.addresses.empty();
    } else {
      auto it = host.addresses.find({s.peer_netns, s.peer_ifname});
      std::vector<std::string> have = it == host.addresses.end() ? std::vector<std::string>{} : it->second;
      addresses_differ = NormalizedSet(have) != NormalizedSet(d.addresses);
    }
    if (addresses_differ) {
      Action a = MakeAction(ActionKind::kReplaceAddresses, s.peer_netns, s.peer_ifname);
      a.addresses = d.addresses;
      plan.setup.push_back(a);
    }
    if (!d.gateway.empty()) {
      auto it = rec.gateways.find(d.owner);
      bool installed = !create && !addresses_differ && it != rec.gateways.end() && it->second == d.gateway;
      if (!installed) {
        Action a = MakeAction(ActionKind::kSetDefaultRoute, s.peer_netns, s.peer_ifname);
        a.gateway = d.gateway;
        plan.setup.push_back(a);
      }
      plan.result.gateways[d.owner] = d.gateway;
    }
  }

  // What was recorded and is no longer wanted: veths, then the namespaces cloudlet created.
  for (const auto& v : rec.veths) {
    if (desired_hosts.count(v.host_ifname)) continue;
    plan.detach.insert(v.host_ifname);
    if (v.peer_netns.empty()) plan.detach.insert(v.peer_ifname);
    if (link("", v.host_ifname)) plan.teardown.push_back(MakeAction(ActionKind::kDeleteLink, "", v.host_ifname));
  }
  for (const auto& n : rec.netns) {
    if (std::find(namespaces.begin(), namespaces.end(), n.name) != namespaces.end()) continue;
    if (n.created && host.netns.count(n.name))
      plan.teardown.push_back(MakeAction(ActionKind::kDeleteNetns, n.name, ""));
  }

  plan.result.netns = netns_records;
  plan.result.veths = veth_records;

  // The intent keeps everything recorded before plus everything about to be created.
  plan.intent = plan.result;
  plan.intent.gateways = rec.gateways;
  for (const auto& [k, v] : plan.result.gateways) plan.intent.gateways[k] = v;
  for (const auto& n : rec.netns) {
    auto same = [&](const NetnsRecord& x) { return x.name == n.name; };
    if (std::none_of(plan.intent.netns.begin(), plan.intent.netns.end(), same)) plan.intent.netns.push_back(n);
  }
  for (const auto& v : rec.veths) {
    auto same = [&](const VethRecord& x) { return x.host_ifname == v.host_ifname; };
    if (std::none_of(plan.intent.veths.begin(), plan.intent.veths.end(), same)) plan.intent.veths.push_back(v);
  }
  plan.intent.pending = true;
  plan.intent.removing = desired == nullptr;
  return plan;
}

namespace {

struct ProjectNames {
  std::map<std::string, std::set<std::string>> by_kind;  // "switch" -> names, ...
};

ProjectNames NamesOf(const std::string& project, const CloudConfig& cfg) {
  ProjectNames n;
  for (const auto& sw : cfg.switches) {
    n.by_kind["switch"].insert(sw.name);
    for (const auto& p : sw.ports) {
      if (!p.interface.empty()) n.by_kind["interface"].insert(p.interface);
      if (!p.tap.empty()) n.by_kind["interface"].insert(p.tap);
    }
  }
  for (const auto& l : cfg.links) {
    n.by_kind["link"].insert(l.name);
    n.by_kind["interface"].insert(LinkIfname(project, l.name, 'a'));
    n.by_kind["interface"].insert(LinkIfname(project, l.name, 'b'));
  }
  for (const auto& ep : cfg.endpoints) {
    n.by_kind["endpoint"].insert(ep.name);
    n.by_kind["netns"].insert(EndpointNetns(ep));
    n.by_kind["interface"].insert(EndpointHostIfname(project, ep.name));
  }
  for (const auto& vpn : cfg.vpns) {
    n.by_kind["vpn"].insert(vpn.name);
    n.by_kind["netns"].insert(VpnNetns(project, vpn.name));
    n.by_kind["interface"].insert(VpnHostIfname(project, vpn.name));
    n.by_kind["UDP port"].insert(std::to_string(vpn.listen_port));
  }
  return n;
}

}  // namespace

Status CheckCollisions(const std::string& project, const CloudConfig& desired,
                       const std::map<std::string, CloudConfig>& others) {
  ProjectNames mine = NamesOf(project, desired);
  for (const auto& [other_project, other_cfg] : others) {
    if (other_project == project) continue;
    ProjectNames theirs = NamesOf(other_project, other_cfg);
    for (const auto& [kind, names] : mine.by_kind) {
      const auto& other_names = theirs.by_kind[kind];
      for (const auto& name : names) {
        if (!other_names.count(name)) continue;
        std::string msg = kind;
        msg += " \"" + name + "\" is already used by project ";
        msg += other_project;
        msg +=
            "; switch, link, endpoint, vpn, netns and interface names (and vpn ports) must be unique across projects — "
            "rename it, or "
            "remove the other project with `cloudlet down ";
        msg += other_project;
        msg += "`";
        return Error(msg);
      }
    }
  }
  return Status::Ok();
}

}  // namespace cloudlet

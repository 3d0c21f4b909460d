// RouterSet (see router_runtime.h): router ports for the data plane, their configuration, status and queries.
#include "control/router_runtime.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "config/config.h"
#include "control/naming.h"
#include "port/af_packet_port.h"

namespace cloudlet {
namespace {

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string ZoneName(const firewall::RuleSet& rules, firewall::ZoneId zone) {
  if (zone == firewall::kNoZone) return "any";
  return zone < rules.zones.size() ? rules.zones[zone] : "zone" + std::to_string(zone);
}

nlohmann::json ZoneList(const firewall::RuleSet& rules, const std::vector<firewall::ZoneId>& zones) {
  nlohmann::json out = nlohmann::json::array();
  for (firewall::ZoneId z : zones) out.push_back(ZoneName(rules, z));
  return out;
}

std::string PortRangesText(const std::vector<firewall::PortRange>& ranges) {
  std::string out;
  for (const auto& r : ranges) {
    if (!out.empty()) out += ",";
    out += r.lo == r.hi ? std::to_string(r.lo) : std::to_string(r.lo) + "-" + std::to_string(r.hi);
  }
  return out;
}

std::string ProtoName(uint8_t proto) {
  switch (proto) {
    case 0:
      return "any";
    case kIpProtoTcp:
      return "tcp";
    case kIpProtoUdp:
      return "udp";
    case kIpProtoIcmp:
      return "icmp";
    case kIpProtoIcmpv6:
      return "icmpv6";
    default:
      return std::to_string(proto);
  }
}

// The rule's match in nftables-like words, for `cloudlet firewall rules`.
std::string MatchText(const firewall::Rule& r) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : " ") + s; };
  if (r.family != 0) add(r.family == 4 ? "ipv4" : "ipv6");
  auto prefixes = [](const std::vector<IpPrefix>& list) {
    std::string s;
    for (const auto& p : list) s += (s.empty() ? "" : ",") + FormatIpPrefix(p);
    return s;
  };
  if (!r.src.empty()) add("src " + prefixes(r.src));
  if (!r.dst.empty()) add("dst " + prefixes(r.dst));
  if (r.proto != 0) add(ProtoName(r.proto));
  if (!r.sports.empty()) add("sport " + PortRangesText(r.sports));
  if (!r.dports.empty()) add("dport " + PortRangesText(r.dports));
  if (r.icmp_type >= 0) add("type " + std::to_string(r.icmp_type));
  if (r.icmp_code >= 0) add("code " + std::to_string(r.icmp_code));
  return out.empty() ? "all" : out;
}

uint8_t ParseProto(const std::string& text, bool* ok) {
  *ok = true;
  if (text == "tcp") return kIpProtoTcp;
  if (text == "udp") return kIpProtoUdp;
  if (text == "icmp") return kIpProtoIcmp;
  if (text == "icmpv6") return kIpProtoIcmpv6;
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0 || v > 255) {
    *ok = false;
    return 0;
  }
  return static_cast<uint8_t>(v);
}

}  // namespace

namespace {

std::optional<IpPrefix> Prefix(const std::string& text) { return text.empty() ? std::nullopt : ParseIpPrefix(text); }

firewall::Action ToAction(FirewallActionDecl a) {
  switch (a) {
    case FirewallActionDecl::kAccept:
      return firewall::Action::kAccept;
    case FirewallActionDecl::kReject:
      return firewall::Action::kReject;
    case FirewallActionDecl::kDrop:
      break;
  }
  return firewall::Action::kDrop;
}

MacAddr RouterMac(const std::string& project, const RouterDecl& decl) {
  if (auto mac = MacAddr::Parse(decl.mac); mac) return *mac;
  uint32_t h = 2166136261u;
  for (unsigned char c : std::string("router-mac/") + project) h = (h ^ c) * 16777619u;
  // Locally administered, unicast.
  return MacAddr{{0x02, 0xc1, static_cast<uint8_t>(h >> 24), static_cast<uint8_t>(h >> 16),
                  static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h)}};
}

// Neighbours, routes, DHCP leases and counters of a running router, into `r`.
void RouterDetail(const router::Router& router, Nanos now, nlohmann::json& r) {
  const auto& ifaces = router.config().interfaces;
  auto iface_name = [&](router::IfIndex i) { return i < ifaces.size() ? ifaces[i].name : std::to_string(i); };
  nlohmann::json neighbours = nlohmann::json::array();
  for (const auto& n : router.neighbors(now)) {
    neighbours.push_back({{"interface", iface_name(n.iface)},
                          {"address", FormatIpAddress(n.ip)},
                          {"mac", n.state == router::NeighborState::kIncomplete ? "" : n.mac.to_string()},
                          {"state", router::NeighborStateName(n.state)},
                          {"queued", n.queued}});
  }
  r["neighbours"] = neighbours;
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& rt : router.routes()) {
    routes.push_back({{"prefix", FormatIpPrefix(rt.prefix)},
                      {"via", rt.via ? FormatIpAddress(*rt.via) : ""},
                      {"interface", iface_name(rt.iface)},
                      {"kind", rt.kind == router::Route::Kind::kConnected ? "connected" : "static"}});
  }
  r["routes"] = routes;
  nlohmann::json leases = nlohmann::json::array();
  for (const auto& d : router.dhcp_leases()) {
    for (const auto& l : d.leases) {
      leases.push_back({{"interface", iface_name(d.iface)},
                        {"mac", l.mac.to_string()},
                        {"address", FormatIpAddress(l.address)},
                        {"expires", l.expires_unix},
                        {"hostname", l.hostname},
                        {"bound", l.bound}});
    }
  }
  r["leases"] = leases;
  const router::RouterCounters& c = router.counters();
  r["counters"] = {{"received", c.received},
                   {"forwarded", c.forwarded},
                   {"not_for_us", c.not_for_us},
                   {"bad_header", c.bad_header},
                   {"ttl_exceeded", c.ttl_exceeded},
                   {"no_route", c.no_route},
                   {"no_neighbor", c.no_neighbor},
                   {"too_big", c.too_big},
                   {"fragment_needed_no_df", c.fragment_needed_no_df},
                   {"firewall_drop", c.firewall_drop},
                   {"firewall_reject", c.firewall_reject},
                   {"local_delivered", c.local_delivered},
                   {"local_dropped", c.local_dropped},
                   {"not_routable", c.not_routable},
                   {"icmp_errors_sent", c.icmp_errors_sent},
                   {"icmp_rate_limited", c.icmp_rate_limited},
                   {"arp_handled", c.arp_handled},
                   {"nd_handled", c.nd_handled},
                   {"neighbor_requests_sent", c.neighbor_requests_sent},
                   {"pending_dropped", c.pending_dropped},
                   {"dhcp_handled", c.dhcp_handled},
                   {"output_full", c.output_full}};
}

}  // namespace

Result<std::optional<RouterPlan>> BuildRouterPlan(const std::string& project, const CloudConfig& cfg,
                                                  const std::string& lease_dir) {
  if (!cfg.router) return std::optional<RouterPlan>();
  const RouterDecl& rd = *cfg.router;
  RouterPlan plan;
  plan.project = project;
  plan.switch_name = rd.switch_name;
  plan.instance = RouterPortKey(project);
  plan.uplink_ifname = rd.uplink ? rd.uplink->interface : "";

  firewall::RuleSet& rules = plan.rules;
  rules.zones = ZoneNames(cfg);
  auto zone_id = [&](const std::string& name) -> Result<firewall::ZoneId> {
    for (size_t i = 0; i < rules.zones.size(); ++i) {
      if (rules.zones[i] == name) return static_cast<firewall::ZoneId>(i);
    }
    return Error("unknown zone '" + name + "'");
  };

  const MacAddr mac = RouterMac(project, rd);
  std::vector<IpPrefix> connected;
  for (const VlanDecl& v : cfg.vlans) {
    if (!VlanRouted(v)) continue;
    router::InterfaceConfig iface;
    iface.name = v.name.empty() ? "vlan" + std::to_string(v.id) : v.name;
    iface.vlan = v.id;
    iface.mac = mac;
    iface.mtu = v.mtu;
    CL_ASSIGN_OR_RETURN(iface.zone, zone_id(VlanZone(v)));
    for (const std::string* text : {&v.ipv4, &v.ipv6}) {
      if (text->empty()) continue;
      auto p = Prefix(*text);
      if (!p) return Error("vlan " + std::to_string(v.id) + ": bad address " + *text);
      iface.addresses.push_back(*p);
      connected.push_back(MaskedPrefix(*p));
    }
    if (v.dhcp) {
      const DhcpDecl& d = *v.dhcp;
      auto gw = Prefix(v.ipv4);
      if (!gw) return Error("vlan " + std::to_string(v.id) + ": dhcp needs ipv4");
      router::DhcpConfig dc;
      dc.subnet = MaskedPrefix(*gw);
      dc.server = gw->address;
      const size_t dash = d.range.find('-');
      auto lo = ParseIpAddress(d.range.substr(0, dash));
      auto hi = dash == std::string::npos ? lo : ParseIpAddress(d.range.substr(dash + 1));
      if (!lo || !hi) return Error("vlan " + std::to_string(v.id) + ": bad dhcp range " + d.range);
      dc.range_lo = *lo;
      dc.range_hi = *hi;
      for (const auto& dns : d.dns) {
        if (auto a = ParseIpAddress(dns)) dc.dns.push_back(*a);
      }
      dc.domain = d.domain;
      dc.lease_seconds = d.lease_seconds;
      dc.mtu = v.mtu != 1500 ? v.mtu : 0;
      for (const auto& r : d.reservations) {
        auto m = MacAddr::Parse(r.mac);
        auto a = ParseIpAddress(r.address);
        if (m && a) dc.reservations.emplace_back(*m, *a);
      }
      iface.dhcp = dc;
      if (!lease_dir.empty()) {
        iface.dhcp_lease_file = lease_dir + "/" + plan.instance + "-vlan" + std::to_string(v.id) + ".json";
      }
    }
    plan.vlans.push_back(v.id);
    plan.config.interfaces.push_back(std::move(iface));
  }
  std::optional<firewall::ZoneId> uplink_zone;
  if (rd.uplink) {
    const UplinkDecl& u = *rd.uplink;
    router::InterfaceConfig iface;
    iface.name = "uplink";
    iface.vlan = 0;
    iface.mac = mac;
    iface.mtu = u.mtu;
    CL_ASSIGN_OR_RETURN(iface.zone, zone_id(u.zone));
    uplink_zone = iface.zone;
    for (const std::string* text : {&u.ipv4, &u.ipv6}) {
      if (text->empty()) continue;
      auto p = Prefix(*text);
      if (!p) return Error("router.uplink: bad address " + *text);
      iface.addresses.push_back(*p);
      connected.push_back(MaskedPrefix(*p));
    }
    for (const auto& [gw, zero] : {std::pair{u.gateway4, "0.0.0.0/0"}, std::pair{u.gateway6, "::/0"}}) {
      if (gw.empty()) continue;
      auto via = ParseIpAddress(gw);
      if (!via) return Error("router.uplink: bad gateway " + gw);
      plan.config.routes.push_back(router::StaticRoute{*ParseIpPrefix(zero), *via});
    }
    plan.config.interfaces.push_back(std::move(iface));
  }

  std::vector<IpPrefix> routed = connected;
  for (const auto& r : plan.config.routes) routed.push_back(MaskedPrefix(r.dst));
  auto add_route = [&](const IpPrefix& to, const IpAddress& via) {
    const IpPrefix masked = MaskedPrefix(to);
    if (std::find(routed.begin(), routed.end(), masked) != routed.end()) return;  // connected or already routed
    routed.push_back(masked);
    plan.config.routes.push_back(router::StaticRoute{masked, via});
  };
  for (const StaticRouteDecl& r : rd.routes) {
    auto to = ParseIpPrefix(r.to);
    auto via = ParseIpAddress(r.via);
    if (!to || !via) return Error("router.routes: bad route " + r.to + " via " + r.via);
    add_route(*to, *via);
  }
  // Remote users of a VPN attached to a routed VLAN are reached through its gateway: its tunnel subnet and its peers'
  // allowed IPs (a /0 stays with the uplink).
  for (const VpnDecl& vpn : cfg.vpns) {
    auto attach = Prefix(vpn.attach.address);
    if (!attach || std::find(plan.vlans.begin(), plan.vlans.end(), vpn.attach.vlan) == plan.vlans.end()) continue;
    std::vector<std::string> targets = {vpn.address};
    for (const auto& peer : vpn.peers) targets.insert(targets.end(), peer.allowed_ips.begin(), peer.allowed_ips.end());
    for (const auto& t : targets) {
      auto p = Prefix(t);
      if (p && p->length > 0 && p->address.family == attach->address.family) add_route(*p, attach->address);
    }
  }

  // Policies: the defaults, then rules that name "any", then exact pairs (the more specific wins).
  const size_t n = rules.zones.size();
  rules.policy.assign(n * n, firewall::Action::kDrop);
  for (size_t z = 0; z < n; ++z) rules.policy[z * n + z] = firewall::Action::kAccept;
  if (cfg.firewall) {
    const FirewallDecl& fw = *cfg.firewall;
    plan.conntrack.max_connections = fw.max_connections;
    for (int pass = 0; pass < 3; ++pass) {
      for (const PolicyDecl& p : fw.policies) {
        const int anys = (p.from == "any") + (p.to == "any");
        if (anys != 2 - pass) continue;
        for (size_t from = 0; from < n; ++from) {
          if (p.from != "any" && rules.zones[from] != p.from) continue;
          for (size_t to = 0; to < n; ++to) {
            if (p.to != "any" && rules.zones[to] != p.to) continue;
            rules.policy[from * n + to] = ToAction(p.action);
          }
        }
      }
    }
    std::map<std::string, const AddressSetDecl*> sets;
    for (const auto& s : fw.sets) sets[s.name] = &s;
    // A set may hold both families; a rule limited to one family takes only that family's entries from it.
    auto addresses = [&](const std::vector<std::string>& items, uint8_t family, std::vector<IpPrefix>* out) -> Status {
      for (const std::string& item : items) {
        std::vector<std::string> expanded;
        if (!item.empty() && item[0] == '@') {
          auto it = sets.find(item.substr(1));
          if (it == sets.end()) return Error("unknown address set " + item);
          expanded = it->second->entries;
        } else {
          expanded.push_back(item);
        }
        for (const auto& e : expanded) {
          auto p = ParseIpPrefix(e);
          if (!p) return Error("bad address " + e);
          const uint8_t f = p->address.family == IpAddress::Family::kV4 ? 4 : 6;
          if (family != 0 && f != family) continue;
          out->push_back(MaskedPrefix(*p));
        }
      }
      return Status::Ok();
    };
    auto zones = [&](const std::vector<std::string>& names, std::vector<firewall::ZoneId>* out) -> Status {
      for (const auto& name : names) {
        if (name == "any") {
          out->clear();
          return Status::Ok();
        }
        CL_ASSIGN_OR_RETURN(firewall::ZoneId id, zone_id(name));
        out->push_back(id);
      }
      return Status::Ok();
    };
    for (const FirewallRuleDecl& d : fw.rules) {
      firewall::Rule r;
      CL_RETURN_IF_ERROR(zones(d.from, &r.from_zones));
      CL_RETURN_IF_ERROR(zones(d.to, &r.to_zones));
      CL_RETURN_IF_ERROR(addresses(d.src, d.family, &r.src));
      CL_RETURN_IF_ERROR(addresses(d.dst, d.family, &r.dst));
      r.family = d.family;
      r.proto = d.proto.value_or(0);
      for (const auto& p : d.sport) r.sports.push_back({p.lo, p.hi});
      for (const auto& p : d.dport) r.dports.push_back({p.lo, p.hi});
      if (d.icmp_type) r.icmp_type = *d.icmp_type;
      if (d.icmp_code) r.icmp_code = *d.icmp_code;
      r.action = ToAction(d.action.value_or(FirewallActionDecl::kDrop));
      r.log = d.log;
      rules.rules.push_back(std::move(r));
      rules.rule_names.push_back(d.name);
    }
  }
  if (uplink_zone) {
    for (const auto& zone : rd.masquerade) {
      CL_ASSIGN_OR_RETURN(firewall::ZoneId from, zone_id(zone));
      rules.masquerade.push_back(firewall::Masquerade{from, *uplink_zone, 1024, 65535});
    }
    std::vector<IpAddress> uplink_addresses;
    for (const auto& a : plan.config.interfaces.back().addresses) uplink_addresses.push_back(a.address);
    for (const PortForwardDecl& f : rd.port_forwards) {
      auto to = ParseIpAddress(f.to);
      if (!to) return Error("router.port_forwards: bad address " + f.to);
      firewall::PortForward pf;
      pf.from = *uplink_zone;
      pf.proto = f.proto;
      for (const auto& a : uplink_addresses) {
        if (a.family == to->family) pf.match_dst.push_back(a);
      }
      pf.port_lo = f.port.lo;
      pf.port_hi = f.port.hi;
      pf.to_address = *to;
      pf.to_port = f.to_port != 0 ? f.to_port : f.port.lo;
      rules.forwards.push_back(std::move(pf));
    }
  }
  return std::optional<RouterPlan>(std::move(plan));
}

RouterSet::RouterSet(const Clock& clock, PortOpener fallback) : clock_(clock), fallback_(std::move(fallback)) {}

PortOpener RouterSet::opener() {
  return [this](const PortSpec& spec) -> Result<std::unique_ptr<Port>> {
    if (spec.kind != PortKind::kRouter) return fallback_(spec);
    std::unique_ptr<Port> uplink;
    if (!spec.ifname.empty()) {
      auto port = AfPacketPort::Open(spec.ifname);
      if (!port.ok()) return port.error().wrap("router uplink");
      uplink = std::move(port).value();
    }
    auto control = std::make_shared<router::RouterControl>();
    auto port = router::RouterPort::Create(spec.config.name, std::move(uplink), control, clock_, UnixNow);
    if (!port.ok()) return port.error();
    {
      std::lock_guard<std::mutex> lock(mu_);
      controls_[spec.instance] = control;
      auto it = routers_.find(spec.instance);
      if (it != routers_.end()) it->second.configured = false;  // a new port: configure it again
    }
    return std::unique_ptr<Port>(std::move(port).value());
  };
}

Result<std::vector<std::string>> RouterSet::Apply(const std::vector<RouterPlan>& plans) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> changes;
  // Compile everything first: a rule set that does not compile changes nothing anywhere.
  std::map<std::string, std::shared_ptr<const firewall::CompiledRuleSet>> compiled;
  for (const RouterPlan& plan : plans) {
    auto old = routers_.find(plan.instance);
    if (old != routers_.end() && old->second.compiled && old->second.plan.rules == plan.rules) {
      compiled[plan.instance] = old->second.compiled;
      continue;
    }
    auto c = firewall::Firewall::Compile(plan.rules);
    if (!c.ok()) return c.error().wrap("firewall of " + plan.project);
    compiled[plan.instance] = *c;
  }
  std::map<std::string, Entry> next;
  for (const RouterPlan& plan : plans) {
    auto ctl = controls_.find(plan.instance);
    if (ctl == controls_.end() || !ctl->second->attached()) {
      return Error("router of " + plan.project + ": its port on switch '" + plan.switch_name + "' is not running");
    }
    Entry entry;
    entry.plan = plan;
    entry.compiled = compiled[plan.instance];
    entry.control = ctl->second;
    auto old = routers_.find(plan.instance);
    const bool same_port = old != routers_.end() && old->second.control == ctl->second && old->second.configured;
    const bool same_config = same_port && old->second.plan.config == plan.config &&
                             old->second.plan.conntrack.max_connections == plan.conntrack.max_connections;
    const bool same_rules = same_port && old->second.compiled == entry.compiled;
    if (!same_config || !same_rules) {
      router::RouterPortConfig cfg;
      cfg.router = plan.config;
      cfg.rules = entry.compiled;
      cfg.conntrack = plan.conntrack;
      Status result;
      Status call = ctl->second->call([&](router::RouterPort& port) { result = port.configure(cfg); });
      if (!call.ok()) return call.error().wrap("router of " + plan.project);
      if (!result.ok()) return result.error().wrap("router of " + plan.project);
      if (!same_port) {
        changes.push_back("started router on " + plan.switch_name + " (" + std::to_string(plan.vlans.size()) +
                          " VLANs" + (plan.uplink_ifname.empty() ? "" : ", uplink " + plan.uplink_ifname) + ")");
      } else {
        if (!same_config) changes.push_back("updated router on " + plan.switch_name);
        if (!same_rules) {
          changes.push_back("replaced firewall rules of " + plan.switch_name + "'s router (" +
                            std::to_string(plan.rules.rules.size()) + " rules)");
        }
      }
    }
    entry.configured = true;
    next[plan.instance] = std::move(entry);
  }
  for (const auto& [instance, old] : routers_) {
    if (!next.count(instance)) changes.push_back("stopped router on " + old.plan.switch_name);
  }
  routers_ = std::move(next);
  // Handles of ports that are gone.
  for (auto it = controls_.begin(); it != controls_.end();) {
    it = it->second->attached() ? std::next(it) : controls_.erase(it);
  }
  return changes;
}

nlohmann::json RouterSet::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json out = nlohmann::json::array();
  for (auto& [instance, entry] : routers_) {
    nlohmann::json r = {
        {"project", entry.plan.project}, {"switch", entry.plan.switch_name}, {"uplink", entry.plan.uplink_ifname}};
    nlohmann::json ifaces = nlohmann::json::array();
    for (const auto& i : entry.plan.config.interfaces) {
      nlohmann::json addrs = nlohmann::json::array();
      for (const auto& a : i.addresses) addrs.push_back(FormatIpPrefix(a));
      ifaces.push_back({{"name", i.name},
                        {"vlan", i.vlan},
                        {"zone", ZoneName(entry.plan.rules, i.zone)},
                        {"mac", i.mac.to_string()},
                        {"addresses", addrs},
                        {"mtu", i.mtu},
                        {"dhcp", i.dhcp.has_value()}});
    }
    r["interfaces"] = ifaces;
    const Status st = entry.control->call([&](router::RouterPort& port) {
      if (port.router() != nullptr) {
        RouterDetail(*port.router(), clock_.now(), r);
      }
      const auto& c = port.counters();
      r["port"] = {{"rx_from_switch", c.rx_from_switch}, {"rx_from_uplink", c.rx_from_uplink},
                   {"tx_to_switch", c.tx_to_switch},     {"tx_to_uplink", c.tx_to_uplink},
                   {"no_buffer", c.no_buffer},           {"unrouted_vlan", c.unrouted_vlan}};
      if (port.firewall() != nullptr) {
        const firewall::FirewallStats s = port.firewall()->stats();
        r["firewall"] = {{"connections", s.connections},
                         {"max_connections", s.max_connections},
                         {"evicted", s.evicted},
                         {"table_full", s.table_full},
                         {"invalid", s.invalid},
                         {"expired", s.expired},
                         {"policy_accept", s.policy_accept},
                         {"policy_drop", s.policy_drop}};
      }
    });
    if (!st.ok()) r["error"] = st.message();
    out.push_back(std::move(r));
  }
  return out;
}

Result<nlohmann::json> RouterSet::Query(const std::string& what, const nlohmann::json& args) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string project = args.value("project", "");
  std::vector<Entry*> targets;
  for (auto& [instance, entry] : routers_) {
    if (project.empty() || entry.plan.project == project) targets.push_back(&entry);
  }
  if (targets.empty()) {
    return Error(project.empty() ? "no project has a router (add a `router:` section and run `cloudlet up`)"
                                 : "project " + project + " has no router");
  }
  if (what == "trace") {
    if (targets.size() > 1) return Error("several projects have routers: name one with --project FILE");
    Entry& e = *targets.front();
    const firewall::RuleSet& rules = e.plan.rules;
    auto zone = [&](const std::string& key) -> Result<firewall::ZoneId> {
      const std::string name = args.value(key, "");
      for (size_t i = 0; i < rules.zones.size(); ++i) {
        if (rules.zones[i] == name) return static_cast<firewall::ZoneId>(i);
      }
      std::string known;
      for (const auto& z : rules.zones) known += (known.empty() ? "" : ", ") + z;
      return Error("unknown zone '" + name + "' (zones: " + known + ")");
    };
    firewall::ClassifyKey key;
    CL_ASSIGN_OR_RETURN(key.from, zone("from"));
    CL_ASSIGN_OR_RETURN(key.to, zone("to"));
    bool ok = true;
    key.proto = ParseProto(args.value("proto", "tcp"), &ok);
    if (!ok) return Error("unknown protocol '" + args.value("proto", "") + "' (tcp, udp, icmp, icmpv6 or 0-255)");
    std::optional<IpAddress> src, dst;
    if (args.contains("src")) {
      src = ParseIpAddress(args.value("src", ""));
      if (!src) return Error("--src: not an IP address: " + args.value("src", ""));
    }
    if (args.contains("dst")) {
      dst = ParseIpAddress(args.value("dst", ""));
      if (!dst) return Error("--dst: not an IP address: " + args.value("dst", ""));
    }
    if (src && dst && src->family != dst->family) return Error("--src and --dst are of different families");
    const bool v6 = (src && src->family == IpAddress::Family::kV6) || (dst && dst->family == IpAddress::Family::kV6) ||
                    key.proto == kIpProtoIcmpv6;
    key.family = v6 ? 6 : 4;
    if (src) key.src = src->bytes;
    if (dst) key.dst = dst->bytes;
    auto number = [&](const char* name, int64_t max, int64_t fallback) -> Result<int64_t> {
      if (!args.contains(name)) return fallback;
      const auto& v = args.at(name);
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > max) {
        return Error(std::string("--") + name + ": expected 0-" + std::to_string(max));
      }
      return v.get<int64_t>();
    };
    CL_ASSIGN_OR_RETURN(int64_t sport, number("sport", 65535, 0));
    CL_ASSIGN_OR_RETURN(int64_t dport, number("dport", 65535, 0));
    CL_ASSIGN_OR_RETURN(int64_t icmp_type, number("icmp_type", 255, key.proto == kIpProtoIcmpv6 ? 128 : 8));
    CL_ASSIGN_OR_RETURN(int64_t icmp_code, number("icmp_code", 255, 0));
    key.sport = static_cast<uint16_t>(sport);
    key.dport = static_cast<uint16_t>(dport);
    key.icmp_type = static_cast<uint8_t>(icmp_type);
    key.icmp_code = static_cast<uint8_t>(icmp_code);
    firewall::Verdict v;
    bool have_firewall = false;
    CL_RETURN_IF_ERROR(e.control->call([&](router::RouterPort& port) {
      if (port.firewall() == nullptr) return;
      have_firewall = true;
      v = port.firewall()->trace(key);
    }));
    if (!have_firewall) return Error("the router has no firewall loaded yet");
    nlohmann::json out = {{"project", e.plan.project},
                          {"from", ZoneName(rules, key.from)},
                          {"to", ZoneName(rules, key.to)},
                          {"action", firewall::ActionName(v.action)},
                          {"by", v.rule == firewall::kNoMatch ? "policy" : "rule"}};
    if (v.rule != firewall::kNoMatch) {
      out["rule"] = v.rule;
      out["rule_name"] = v.rule < rules.rule_names.size() ? rules.rule_names[v.rule] : "";
    }
    return out;
  }
  if (what != "rules" && what != "connections") return Error("unknown firewall query '" + what + "'");
  nlohmann::json routers = nlohmann::json::array();
  const size_t limit = std::min<size_t>(args.value("limit", size_t{1000}), 100000);
  for (Entry* e : targets) {
    const firewall::RuleSet& rules = e->plan.rules;
    nlohmann::json r = {{"project", e->plan.project}, {"switch", e->plan.switch_name}};
    std::vector<firewall::RuleCounter> counters;
    std::vector<firewall::ConnectionInfo> conns;
    firewall::FirewallStats stats;
    const Nanos now = clock_.now();
    Status st = e->control->call([&](router::RouterPort& port) {
      if (port.firewall() == nullptr) return;
      if (what == "rules") counters = port.firewall()->rule_counters();
      if (what == "connections") conns = port.firewall()->connections(now, limit);
      stats = port.firewall()->stats();
    });
    if (!st.ok()) return st.error().wrap("router of " + e->plan.project);
    if (what == "rules") {
      nlohmann::json list = nlohmann::json::array();
      for (size_t i = 0; i < rules.rules.size(); ++i) {
        const firewall::Rule& rule = rules.rules[i];
        list.push_back({{"index", i},
                        {"name", i < rules.rule_names.size() ? rules.rule_names[i] : ""},
                        {"from", ZoneList(rules, rule.from_zones)},
                        {"to", ZoneList(rules, rule.to_zones)},
                        {"match", MatchText(rule)},
                        {"action", firewall::ActionName(rule.action)},
                        {"log", rule.log},
                        {"packets", i < counters.size() ? counters[i].packets : 0},
                        {"bytes", i < counters.size() ? counters[i].bytes : 0}});
      }
      r["rules"] = list;
      nlohmann::json policies = nlohmann::json::array();
      const size_t n = rules.zones.size();
      for (size_t from = 0; from < n; ++from) {
        for (size_t to = 0; to < n; ++to) {
          const size_t idx = from * n + to;
          const firewall::Action a = idx < rules.policy.size() ? rules.policy[idx]
                                     : from == to              ? firewall::Action::kAccept
                                                               : firewall::Action::kDrop;
          policies.push_back(
              {{"from", rules.zones[from]}, {"to", rules.zones[to]}, {"action", firewall::ActionName(a)}});
        }
      }
      r["policies"] = policies;
      r["policy_accept"] = stats.policy_accept;
      r["policy_drop"] = stats.policy_drop;
    } else {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& c : conns) {
        list.push_back({{"family", c.family == 6 ? "ipv6" : "ipv4"},
                        {"proto", ProtoName(c.proto)},
                        {"src", FormatIpAddress(c.src)},
                        {"dst", FormatIpAddress(c.dst)},
                        {"sport", c.sport},
                        {"dport", c.dport},
                        {"reply_src", FormatIpAddress(c.reply_src)},
                        {"reply_dst", FormatIpAddress(c.reply_dst)},
                        {"reply_sport", c.reply_sport},
                        {"reply_dport", c.reply_dport},
                        {"state", c.state},
                        {"assured", c.assured},
                        {"expires_in", c.expires_in / kSecond},
                        {"packets_orig", c.packets_orig},
                        {"bytes_orig", c.bytes_orig},
                        {"packets_reply", c.packets_reply},
                        {"bytes_reply", c.bytes_reply},
                        {"rule", c.rule == firewall::kNoMatch ? nlohmann::json(nullptr) : nlohmann::json(c.rule)}});
      }
      r["connections"] = list;
      r["stats"] = {{"connections", stats.connections}, {"max_connections", stats.max_connections},
                    {"evicted", stats.evicted},         {"table_full", stats.table_full},
                    {"invalid", stats.invalid},         {"expired", stats.expired}};
    }
    routers.push_back(std::move(r));
  }
  return nlohmann::json{{"routers", routers}};
}

}  // namespace cloudlet

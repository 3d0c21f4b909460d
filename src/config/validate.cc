// The model checks: everything that must hold for a CloudConfig to be applied, whichever reader produced it
// (ranges, names, references between declarations, duplicates, port-mode consistency, loops between links).
#include <fcntl.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <set>

#include "base/fd.h"
#include "config/config.h"
#include "config/internal.h"

namespace cloudlet {
namespace config_internal {

namespace {

constexpr uint16_t kMaxVlanId = 4094;
const std::string kUnknownFile = "<config>";

std::string Idx(const std::string& base, size_t i) { return base + "[" + std::to_string(i) + "]"; }

std::string LineSuffix(int line) { return line > 0 ? " (line " + std::to_string(line) + ")" : ""; }

class ModelChecker {
 public:
  ModelChecker(const CloudConfig& config, Diagnostics& diag) : c_(config), d_(diag) {}

  void Run() {
    CheckTableSizes();
    CheckVlans();
    CheckSwitches();
    CheckLinks();
    CheckEndpoints();
    CheckVpns();
    CheckRoutedVlans();
    CheckRouter();
    CheckFirewall();
    CheckPortNames();
    CheckLinkLoops();
  }

 private:
  const std::string& FileOf(const SourceLoc& loc) const {
    if (!loc.file.empty()) return loc.file;
    return c_.source.empty() ? kUnknownFile : c_.source;
  }
  void Report(const SourceLoc& loc, const std::string& path, const std::string& field, const std::string& message) {
    d_.Add(FileOf(loc), loc.line_of(field), field.empty() ? path : path + "." + field, message);
  }
  void ReportTop(const std::string& field, const std::string& message) {
    d_.Add(c_.source.empty() ? kUnknownFile : c_.source, 0, field, message);
  }

  void CheckTableSizes() {
    auto check = [&](const char* what, size_t n, size_t max) {
      if (n > max) ReportTop(what, std::to_string(n) + " entries, at most " + std::to_string(max) + " allowed");
    };
    check("vlans", c_.vlans.size(), config_limits::kMaxVlans);
    check("switches", c_.switches.size(), config_limits::kMaxSwitches);
    check("links", c_.links.size(), config_limits::kMaxLinks);
    check("endpoints", c_.endpoints.size(), config_limits::kMaxEndpoints);
    check("vpns", c_.vpns.size(), config_limits::kMaxVpns);
  }

  void CheckRange(const SourceLoc& loc, const std::string& path, const std::string& field, uint64_t value, uint64_t lo,
                  uint64_t hi) {
    if (value < lo || value > hi) {
      Report(loc, path, field,
             std::to_string(value) + " out of range " + std::to_string(lo) + "-" + std::to_string(hi));
    }
  }

  void CheckName(const SourceLoc& loc, const std::string& path, const std::string& name) {
    if (name.empty()) {
      Report(loc, path, "name", "required");
      return;
    }
    std::string why = CheckObjectName(name);
    if (!why.empty()) Report(loc, path, "name", why);
  }

  void CheckVlans() {
    std::map<uint16_t, int> id_lines;
    std::map<std::string, int> name_lines;
    for (size_t i = 0; i < c_.vlans.size(); ++i) {
      const VlanDecl& v = c_.vlans[i];
      std::string path = Idx("vlans", i);
      if (v.id == 0 && !v.loc.has("id")) {
        Report(v.loc, path, "id", "required (1-4094)");
      } else if (v.id == 0 || v.id > kMaxVlanId) {
        CheckRange(v.loc, path, "id", v.id, 1, kMaxVlanId);
      } else {
        auto [it, fresh] = id_lines.emplace(v.id, v.loc.line_of("id"));
        if (!fresh)
          Report(v.loc, path, "id", "vlan " + std::to_string(v.id) + " already declared" + LineSuffix(it->second));
        declared_.set(v.id);
      }
      if (!v.name.empty()) {
        std::string why = CheckLabel(v.name);
        if (!why.empty()) {
          Report(v.loc, path, "name", why);
        } else {
          auto [it, fresh] = name_lines.emplace(v.name, v.loc.line_of("name"));
          if (!fresh) Report(v.loc, path, "name", "vlan name '" + v.name + "' already used" + LineSuffix(it->second));
        }
      } else if (v.loc.has("name")) {
        Report(v.loc, path, "name", "must not be empty (omit the key for no name)");
      }
    }
  }

  // A single VLAN reference (access VLAN, tunnel VLAN, endpoint VLAN).
  void CheckVlanRef(const SourceLoc& loc, const std::string& path, const std::string& field, uint16_t vid,
                    bool required) {
    if (vid == 0 && !loc.has(field)) {
      if (required) Report(loc, path, field, "required (a VLAN declared under vlans:)");
      return;
    }
    if (vid == 0 || vid > kMaxVlanId) {
      CheckRange(loc, path, field, vid, 1, kMaxVlanId);
      return;
    }
    if (!declared_.test(vid)) {
      Report(loc, path, field, "vlan " + std::to_string(vid) + " is not declared under vlans:");
    }
  }

  // The allowed VLANs of a trunk port or link, then its native VLAN and TPID.
  void CheckTrunkSettings(const SourceLoc& loc, const std::string& path, const std::vector<uint16_t>& vlans,
                          uint16_t native_vlan, uint16_t tpid) {
    if (vlans.empty()) {
      Report(loc, path, "vlans", "required: the VLANs this trunk carries, e.g. [10, 20, \"100-110\"]");
    }
    std::bitset<4096> seen;
    std::vector<uint16_t> undeclared, repeated;
    for (uint16_t v : vlans) {
      if (v == 0 || v > kMaxVlanId) {
        CheckRange(loc, path, "vlans", v, 1, kMaxVlanId);
        continue;
      }
      if (seen.test(v)) {
        repeated.push_back(v);
        continue;
      }
      seen.set(v);
      if (!declared_.test(v)) undeclared.push_back(v);
    }
    if (!repeated.empty()) Report(loc, path, "vlans", "vlan(s) " + FormatVlanSet(repeated) + " listed more than once");
    if (!undeclared.empty()) {
      Report(loc, path, "vlans", "vlan(s) " + FormatVlanSet(undeclared) + " not declared under vlans:");
    }
    if (native_vlan != 0) {
      if (native_vlan > kMaxVlanId) {
        CheckRange(loc, path, "native_vlan", native_vlan, 0, kMaxVlanId);
      } else if (!seen.test(native_vlan) && !vlans.empty()) {
        Report(loc, path, "native_vlan",
               "native vlan " + std::to_string(native_vlan) + " is not in this trunk's vlans (" + FormatVlanSet(vlans) +
                   ")");
      }
    }
    if (tpid != config_tpid::k8021Q && tpid != config_tpid::k8021AD) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%04x", tpid);
      Report(loc, path, "tpid", std::string(hex) + " is not supported: use 802.1q (0x8100) or 802.1ad (0x88a8)");
    }
  }

  // A host-namespace interface name (port interface or TAP) may be claimed once only.
  void ClaimHostInterface(const SourceLoc& loc, const std::string& path, const std::string& field,
                          const std::string& ifname) {
    auto [it, fresh] = host_ifnames_.emplace(ifname, std::make_pair(path, loc.line_of(field)));
    if (fresh) return;
    Report(loc, path, field,
           "'" + ifname + "' is already used by " + it->second.first + LineSuffix(it->second.second) +
               "; an interface can belong to one port of one switch only");
  }

  void CheckPort(const SwitchDecl& sw, const PortDecl& p, const std::string& path) {
    CheckName(p.loc, path, p.name);
    bool has_if = !p.interface.empty() || p.loc.has("interface");
    bool has_tap = !p.tap.empty() || p.loc.has("tap");
    if (!has_if && !has_tap) {
      Report(p.loc, path, "", "a port needs interface: (an existing host interface) or tap: (a TAP device to create)");
    } else if (has_if && has_tap) {
      Report(p.loc, path, "tap", "interface and tap are exclusive: a port attaches one device");
    }
    if (has_if) {
      std::string why = CheckInterfaceName(p.interface);
      if (!why.empty()) {
        Report(p.loc, path, "interface", why);
      } else {
        ClaimHostInterface(p.loc, path, "interface", p.interface);
      }
    }
    if (has_tap) {
      std::string why = CheckInterfaceName(p.tap);
      if (!why.empty()) {
        Report(p.loc, path, "tap", why);
      } else {
        ClaimHostInterface(p.loc, path, "tap", p.tap);
      }
    }
    if (p.max_macs) CheckRange(p.loc, path, "max_macs", *p.max_macs, 1, config_limits::kMaxMacs);
    (void)sw;

    if (p.mode == PortModeDecl::kTrunk) {
      if (p.vlan != 0 || p.loc.has("vlan")) {
        Report(p.loc, path, "vlan", "is an access setting; a trunk port takes vlans: (and optionally native_vlan:)");
      }
      CheckTrunkSettings(p.loc, path, p.vlans, p.native_vlan, p.tpid);
      return;
    }
    std::string kind = "a port in " + std::string(PortModeName(p.mode)) + " mode";
    CheckVlanRef(p.loc, path, "vlan", p.vlan, /*required=*/true);
    if (!p.vlans.empty() || p.loc.has("vlans")) {
      Report(p.loc, path, "vlans", "is a trunk setting, not allowed on " + kind + " (use vlan:)");
    }
    if (p.native_vlan != 0 || p.loc.has("native_vlan")) {
      Report(p.loc, path, "native_vlan", "is a trunk setting, not allowed on " + kind);
    }
    if (p.tpid != config_tpid::k8021Q || p.loc.has("tpid")) {
      Report(p.loc, path, "tpid", "is a trunk setting, not allowed on " + kind);
    }
  }

  void CheckSwitches() {
    for (size_t i = 0; i < c_.switches.size(); ++i) {
      const SwitchDecl& sw = c_.switches[i];
      std::string path = Idx("switches", i);
      CheckName(sw.loc, path, sw.name);
      if (!sw.name.empty()) {
        auto [it, fresh] = switch_index_.emplace(sw.name, i);
        if (!fresh) {
          Report(sw.loc, path, "name",
                 "switch '" + sw.name + "' already declared" + LineSuffix(c_.switches[it->second].loc.line_of("name")));
        }
      }
      CheckRange(sw.loc, path, "max_macs", sw.max_macs, 1, config_limits::kMaxMacs);
      CheckRange(sw.loc, path, "port_max_macs", sw.port_max_macs, 1, config_limits::kMaxMacs);
      CheckRange(sw.loc, path, "mac_aging", sw.mac_aging_seconds, config_limits::kMinMacAgingSeconds,
                 config_limits::kMaxMacAgingSeconds);
      if (sw.ports.size() > config_limits::kMaxPortsPerSwitch) {
        Report(sw.loc, path, "ports",
               std::to_string(sw.ports.size()) + " entries, at most " +
                   std::to_string(config_limits::kMaxPortsPerSwitch) + " allowed");
      }
      for (size_t j = 0; j < sw.ports.size(); ++j) CheckPort(sw, sw.ports[j], Idx(path + ".ports", j));
    }
  }

  // Index of a declared switch, or reports why the reference is wrong.
  std::optional<size_t> ResolveSwitch(const SourceLoc& loc, const std::string& path, const std::string& field,
                                      const std::string& name) {
    if (name.empty()) {
      Report(loc, path, field, "required (the name of a switch declared under switches:)");
      return std::nullopt;
    }
    auto it = switch_index_.find(name);
    if (it != switch_index_.end()) return it->second;
    std::vector<std::string> names;
    for (const SwitchDecl& sw : c_.switches) names.push_back(sw.name);
    std::string known = names.empty() ? "no switches are declared" : "declared: " + QuoteList(names);
    Report(loc, path, field, "unknown switch '" + name + "'" + DidYouMean(name, names) + "; " + known);
    return std::nullopt;
  }

  void CheckLinks() {
    std::map<std::string, int> name_lines;
    link_ends_.assign(c_.links.size(), std::nullopt);
    for (size_t i = 0; i < c_.links.size(); ++i) {
      const LinkDecl& l = c_.links[i];
      std::string path = Idx("links", i);
      CheckName(l.loc, path, l.name);
      if (!l.name.empty()) {
        auto [it, fresh] = name_lines.emplace(l.name, l.loc.line_of("name"));
        if (!fresh) Report(l.loc, path, "name", "link '" + l.name + "' already declared" + LineSuffix(it->second));
      }
      if (l.a.empty() && l.b.empty()) {
        Report(l.loc, path, "between", "required: the two switches this link joins, e.g. [sw1, sw2]");
      } else {
        auto a = ResolveSwitch(l.loc, path, "between", l.a);
        auto b = ResolveSwitch(l.loc, path, "between", l.b);
        if (a && b && *a == *b) {
          Report(l.loc, path, "between", "a link cannot join switch '" + l.a + "' to itself");
        } else if (a && b) {
          link_ends_[i] = std::make_pair(*a, *b);
        }
      }
      CheckTrunkSettings(l.loc, path, l.vlans, l.native_vlan, l.tpid);
    }
  }

  void CheckEndpoints() {
    std::map<std::string, int> name_lines;
    std::map<std::pair<std::string, std::string>, std::pair<std::string, int>> attachments;
    for (size_t i = 0; i < c_.endpoints.size(); ++i) {
      const EndpointDecl& e = c_.endpoints[i];
      std::string path = Idx("endpoints", i);
      CheckName(e.loc, path, e.name);
      if (!e.name.empty()) {
        auto [it, fresh] = name_lines.emplace(e.name, e.loc.line_of("name"));
        if (!fresh) Report(e.loc, path, "name", "endpoint '" + e.name + "' already declared" + LineSuffix(it->second));
      }
      ResolveSwitch(e.loc, path, "switch", e.switch_name);
      CheckVlanRef(e.loc, path, "vlan", e.vlan, /*required=*/true);

      const std::string& netns = e.netns.empty() ? e.name : e.netns;
      if (!e.netns.empty() || e.loc.has("netns")) {
        std::string why = CheckLabel(e.netns);
        if (!why.empty()) Report(e.loc, path, "netns", why);
      }
      std::string why = CheckInterfaceName(e.interface);
      if (!why.empty()) {
        Report(e.loc, path, "interface", why);
      } else if (!netns.empty()) {
        auto [it, fresh] = attachments.emplace(std::make_pair(netns, e.interface), std::make_pair(path, e.loc.line));
        if (!fresh) {
          Report(e.loc, path, "interface",
                 "interface '" + e.interface + "' in netns '" + netns + "' is already used by " + it->second.first +
                     LineSuffix(it->second.second));
        }
      }

      if (e.addresses.size() > config_limits::kMaxAddressesPerEndpoint) {
        Report(e.loc, path, "addresses",
               std::to_string(e.addresses.size()) + " entries, at most " +
                   std::to_string(config_limits::kMaxAddressesPerEndpoint) + " allowed");
      }
      std::vector<Cidr> subnets;
      for (size_t k = 0; k < e.addresses.size() && k < config_limits::kMaxAddressesPerEndpoint; ++k) {
        std::string reason;
        auto cidr = ParseCidr(e.addresses[k], &reason);
        if (!cidr) {
          Report(e.loc, path, "addresses", reason);
          continue;
        }
        bool repeated = std::any_of(subnets.begin(), subnets.end(), [&](const Cidr& s) {
          return s.address.family == cidr->address.family && s.address.bytes == cidr->address.bytes;
        });
        if (repeated) Report(e.loc, path, "addresses", "address '" + e.addresses[k] + "' listed more than once");
        subnets.push_back(*cidr);
      }
      if (!e.gateway.empty() || e.loc.has("gateway")) {
        auto gw = ParseIp(e.gateway);
        if (!gw) {
          Report(e.loc, path, "gateway", "'" + e.gateway + "' is not a valid IPv4 or IPv6 address");
        } else {
          bool family_present = std::any_of(subnets.begin(), subnets.end(),
                                            [&](const Cidr& s) { return s.address.family == gw->family; });
          bool on_link = std::any_of(subnets.begin(), subnets.end(), [&](const Cidr& s) { return s.Contains(*gw); });
          if (!family_present) {
            Report(e.loc, path, "gateway",
                   "'" + e.gateway + "' is an " + (gw->family == AF_INET ? "IPv4" : "IPv6") +
                       " gateway but the endpoint has no address of that family");
          } else if (!on_link) {
            Report(e.loc, path, "gateway", "'" + e.gateway + "' is not inside any subnet of the endpoint's addresses");
          }
        }
      }
      if (!e.mac.empty() || e.loc.has("mac")) {
        auto mac = ParseMac(e.mac);
        if (!mac) {
          Report(e.loc, path, "mac", "'" + e.mac + "' is not a MAC address (write e.g. \"02:00:00:00:00:01\")");
        } else if ((*mac)[0] & 1) {
          Report(e.loc, path, "mac", "'" + e.mac + "' is a multicast address; an interface needs a unicast one");
        } else if (std::all_of(mac->begin(), mac->end(), [](uint8_t b) { return b == 0; })) {
          Report(e.loc, path, "mac", "00:00:00:00:00:00 is not a usable address");
        }
      }
      CheckRange(e.loc, path, "mtu", e.mtu, config_limits::kMinMtu, config_limits::kMaxMtu);
      if (e.container) CheckContainer(*e.container, path + ".container");
    }
    CheckContainerNamespaces();
  }

  static std::string Clip(const std::string& s) { return s.size() > 64 ? s.substr(0, 64) + "..." : s; }

  void CheckContainer(const ContainerDecl& c, const std::string& path) {
    if (c.image.empty()) {
      Report(c.loc, path, "image", "required: an image in the local store, e.g. busybox:latest");
    } else if (std::string why = CheckImageReference(c.image); !why.empty()) {
      Report(c.loc, path, "image", why);
    }
    for (auto [field, args] : {std::make_pair("command", &c.command), std::make_pair("entrypoint", &c.entrypoint)}) {
      if (!*args) continue;
      if ((*args)->size() > config_limits::kMaxContainerArgs) {
        Report(c.loc, path, field,
               std::to_string((*args)->size()) + " arguments, at most " +
                   std::to_string(config_limits::kMaxContainerArgs) + " allowed");
      }
      for (const std::string& arg : **args) {
        if (arg.find('\0') != std::string::npos) {
          Report(c.loc, path, field, "an argument contains a NUL byte, which a command line cannot carry");
          break;
        }
      }
    }
    if (c.env.size() > config_limits::kMaxContainerEnv) {
      Report(c.loc, path, "env",
             std::to_string(c.env.size()) + " variables, at most " + std::to_string(config_limits::kMaxContainerEnv) +
                 " allowed");
    }
    for (const auto& [name, value] : c.env) {
      // Named like the YAML reader's finding about the same variable, so it is reported once.
      std::string field = path + ".env." + Clip(name);
      if (std::string why = CheckEnvName(name); !why.empty()) {
        d_.Add(FileOf(c.loc), c.loc.line_of("env"), field, why);
      } else if (value.find('\0') != std::string::npos) {
        d_.Add(FileOf(c.loc), c.loc.line_of("env"), field, "the value contains a NUL byte");
      }
    }
    if (!c.workdir.empty() || c.loc.has("workdir")) {
      if (std::string why = CheckAbsolutePath(c.workdir); !why.empty()) Report(c.loc, path, "workdir", why);
    }
    if (c.gid && !c.uid) Report(c.loc, path, "user", "a gid needs a uid (write uid:gid)");
    if ((c.uid && *c.uid == UINT32_MAX) || (c.gid && *c.gid == UINT32_MAX)) {
      Report(c.loc, path, "user", "4294967295 is not a usable id ((uid_t)-1 means \"unchanged\")");
    }
    if (!c.hostname.empty() || c.loc.has("hostname")) {
      if (std::string why = CheckHostname(c.hostname); !why.empty()) Report(c.loc, path, "hostname", why);
    }
    if (c.memory_bytes != 0) {
      if (c.memory_bytes < config_limits::kMinContainerMemory) {
        Report(c.loc, path, "memory",
               std::to_string(c.memory_bytes) + " bytes is below the smallest memory limit, 4Mi (4194304 bytes)");
      } else if (c.memory_bytes > config_limits::kMaxContainerMemory) {
        Report(c.loc, path, "memory",
               std::to_string(c.memory_bytes) + " bytes is above the largest memory limit, 1024Ti");
      }
    }
    if (c.nano_cpus > config_limits::kMaxContainerNanoCpus) {
      Report(c.loc, path, "cpus",
             std::to_string(c.nano_cpus) + " billionths of a CPU out of range: more than 0 and at most 1024 CPUs");
    }
    if (!c.cpuset.empty() || c.loc.has("cpuset")) {
      if (std::string why = CheckCpuList(c.cpuset); !why.empty()) Report(c.loc, path, "cpuset", why);
    }
    if (c.pids != 0) CheckRange(c.loc, path, "pids", c.pids, 1, config_limits::kMaxContainerPids);
    if (c.mounts.size() > config_limits::kMaxContainerMounts) {
      Report(c.loc, path, "mounts",
             std::to_string(c.mounts.size()) + " entries, at most " +
                 std::to_string(config_limits::kMaxContainerMounts) + " allowed");
    }
    std::map<std::string, std::pair<size_t, int>> targets;  // normalized target -> (mount index, line)
    for (size_t k = 0; k < c.mounts.size(); ++k) {
      const ContainerMountDecl& m = c.mounts[k];
      std::string mpath = Idx(path + ".mounts", k);
      if (m.source.empty() && !m.loc.has("source")) {
        Report(m.loc, mpath, "source", "required: the host path to mount, e.g. /srv/data");
      } else if (std::string why = CheckAbsolutePath(m.source); !why.empty()) {
        Report(m.loc, mpath, "source", why);
      }
      if (m.target.empty() && !m.loc.has("target")) {
        Report(m.loc, mpath, "target", "required: where the mount appears in the container, e.g. /data");
        continue;
      }
      if (std::string why = CheckAbsolutePath(m.target); !why.empty()) {
        Report(m.loc, mpath, "target", why);
        continue;
      }
      // "/a//b/" and "/a/./b" are the same place as "/a/b".
      std::string normal;
      for (size_t start = 0; start < m.target.size();) {
        size_t slash = m.target.find('/', start);
        if (slash == std::string::npos) slash = m.target.size();
        std::string_view part = std::string_view(m.target).substr(start, slash - start);
        if (!part.empty() && part != ".") normal += "/" + std::string(part);
        start = slash + 1;
      }
      if (normal.empty()) {
        Report(m.loc, mpath, "target", "'/' is the container's root filesystem (the image): mount below it");
        continue;
      }
      auto [it, fresh] = targets.emplace(normal, std::make_pair(k, m.loc.line_of("target")));
      if (!fresh) {
        Report(m.loc, mpath, "target",
               "'" + m.target + "' is already the target of " + Idx("mounts", it->second.first) +
                   LineSuffix(it->second.second));
      }
    }
  }

  // A container owns its endpoint's network namespace: another endpoint may add an interface to it (a multi-homed
  // container), but two containers never share one, and a container does not move into a namespace named by
  // another endpoint (netns: is then its own, unused elsewhere).
  void CheckContainerNamespaces() {
    std::map<std::string, std::vector<size_t>> by_netns;
    for (size_t i = 0; i < c_.endpoints.size(); ++i) {
      const EndpointDecl& e = c_.endpoints[i];
      const std::string& netns = e.netns.empty() ? e.name : e.netns;
      if (!netns.empty()) by_netns[netns].push_back(i);
    }
    for (const auto& [netns, members] : by_netns) {
      if (members.size() < 2) continue;
      std::optional<size_t> first_container;
      for (size_t i : members) {
        const EndpointDecl& e = c_.endpoints[i];
        if (!e.container) continue;
        std::string path = Idx("endpoints", i);
        if (first_container) {
          const EndpointDecl& f = c_.endpoints[*first_container];
          Report(e.loc, path, "netns",
                 "netns '" + netns + "' already holds the container of " + Idx("endpoints", *first_container) +
                     LineSuffix(f.container->loc.line) + "; each container needs a network namespace of its own");
          continue;
        }
        first_container = i;
        if (netns == e.name) continue;
        size_t other = members[0] == i ? members[1] : members[0];
        if (c_.endpoints[other].container && other > i) continue;  // reported on `other` as the second container
        Report(e.loc, path, "netns",
               "netns '" + netns + "' is also used by " + Idx("endpoints", other) +
                   LineSuffix(c_.endpoints[other].loc.line) +
                   "; an endpoint with a container owns its namespace: omit netns: (it defaults to the endpoint's "
                   "name) or name one no other endpoint uses");
      }
    }
  }

  // A required CIDR field; nullopt (reported) if missing or malformed.
  std::optional<Cidr> RequireCidr(const SourceLoc& loc, const std::string& path, const std::string& field,
                                  const std::string& text, const std::string& example) {
    if (text.empty()) {
      Report(loc, path, field, "required, e.g. " + example);
      return std::nullopt;
    }
    std::string why;
    auto cidr = ParseCidr(text, &why);
    if (!cidr) Report(loc, path, field, why);
    return cidr;
  }

  void CheckKeyFilePath(const SourceLoc& loc, const std::string& path, const std::string& field,
                        const std::string& file, bool required) {
    if (file.empty()) {
      if (required || loc.has(field)) {
        Report(loc, path, field, "required: a key file written by `cloudlet vpn genkey > FILE` (mode 0600)");
      }
      return;
    }
    // The daemon reads it, from its own working directory: a relative path would name another file.
    if (file[0] != '/') Report(loc, path, field, "'" + file + "' must be an absolute path (the daemon reads it)");
  }

  static bool Overlap(const Cidr& a, const Cidr& b) {
    if (a.address.family != b.address.family) return false;
    return a.prefix <= b.prefix ? a.Contains(b.address) : b.Contains(a.address);
  }

  void CheckVpnPeers(const VpnDecl& v, const std::string& path, int family) {
    std::map<std::string, int> name_lines, key_lines;
    struct Owned {
      Cidr cidr;
      std::string text, peer;
      int line;
    };
    std::vector<Owned> owned;
    for (size_t k = 0; k < v.peers.size(); ++k) {
      const VpnPeerDecl& p = v.peers[k];
      std::string ppath = Idx(path + ".peers", k);
      CheckName(p.loc, ppath, p.name);
      if (!p.name.empty()) {
        auto [it, fresh] = name_lines.emplace(p.name, p.loc.line_of("name"));
        if (!fresh) Report(p.loc, ppath, "name", "peer '" + p.name + "' already declared" + LineSuffix(it->second));
      }
      if (p.public_key.empty()) {
        Report(p.loc, ppath, "public_key", "required: the peer's key, from `cloudlet vpn pubkey` or `wg pubkey`");
      } else if (std::string why = CheckKeyBase64(p.public_key); !why.empty()) {
        Report(p.loc, ppath, "public_key", why);
      } else {
        auto [it, fresh] = key_lines.emplace(p.public_key, p.loc.line_of("public_key"));
        if (!fresh)
          Report(p.loc, ppath, "public_key", "public key already used by another peer" + LineSuffix(it->second));
      }
      if (p.allowed_ips.empty()) {
        Report(p.loc, ppath, "allowed_ips", "required: the addresses this peer may use, e.g. [10.99.0.2/32]");
      }
      if (p.allowed_ips.size() > config_limits::kMaxAllowedIpsPerPeer) {
        Report(p.loc, ppath, "allowed_ips",
               std::to_string(p.allowed_ips.size()) + " entries, at most " +
                   std::to_string(config_limits::kMaxAllowedIpsPerPeer) + " allowed");
      }
      for (size_t a = 0; a < p.allowed_ips.size() && a < config_limits::kMaxAllowedIpsPerPeer; ++a) {
        std::string why;
        auto cidr = ParseCidr(p.allowed_ips[a], &why);
        if (!cidr) {
          Report(p.loc, ppath, "allowed_ips", why);
          continue;
        }
        if (family != 0 && cidr->address.family != family) {
          Report(p.loc, ppath, "allowed_ips",
                 "'" + p.allowed_ips[a] + "' is " + (family == AF_INET ? "IPv6" : "IPv4") +
                     " but the vpn's address is " + (family == AF_INET ? "IPv4" : "IPv6") +
                     " (one address family per vpn for now)");
          continue;
        }
        for (const Owned& o : owned) {
          if (o.peer == p.name || !Overlap(o.cidr, *cidr)) continue;
          Report(p.loc, ppath, "allowed_ips",
                 "'" + p.allowed_ips[a] + "' overlaps '" + o.text + "' of peer '" + o.peer + "'" + LineSuffix(o.line) +
                     ": each address belongs to one peer");
          break;
        }
        owned.push_back({*cidr, p.allowed_ips[a], p.name, p.loc.line_of("allowed_ips")});
      }
      if (!p.endpoint.empty() || p.loc.has("endpoint")) {
        if (!ParseHostPort(p.endpoint)) {
          Report(p.loc, ppath, "endpoint",
                 "'" + p.endpoint + "' is not IP:PORT (e.g. 203.0.113.5:51820 or [2001:db8::1]:51820)");
        }
      }
      CheckRange(p.loc, ppath, "persistent_keepalive", p.persistent_keepalive, 0, 65535);
      CheckKeyFilePath(p.loc, ppath, "preshared_key_file", p.preshared_key_file, false);
    }
  }

  void CheckVpns() {
    std::map<std::string, int> name_lines;
    std::map<uint32_t, int> port_lines;
    for (size_t i = 0; i < c_.vpns.size(); ++i) {
      const VpnDecl& v = c_.vpns[i];
      std::string path = Idx("vpns", i);
      CheckName(v.loc, path, v.name);
      if (!v.name.empty()) {
        auto [it, fresh] = name_lines.emplace(v.name, v.loc.line_of("name"));
        if (!fresh) Report(v.loc, path, "name", "vpn '" + v.name + "' already declared" + LineSuffix(it->second));
      }
      if (v.listen_port == 0 && !v.loc.has("listen_port")) {
        Report(v.loc, path, "listen_port", "required: the UDP port peers connect to (e.g. 51820)");
      } else if (v.listen_port == 0 || v.listen_port > 65535) {
        CheckRange(v.loc, path, "listen_port", v.listen_port, 1, 65535);
      } else {
        auto [it, fresh] = port_lines.emplace(v.listen_port, v.loc.line_of("listen_port"));
        if (!fresh) {
          Report(v.loc, path, "listen_port",
                 "port " + std::to_string(v.listen_port) + " already used by another vpn" + LineSuffix(it->second));
        }
      }
      CheckRange(v.loc, path, "mtu", v.mtu, config_limits::kMinVpnMtu, config_limits::kMaxVpnMtu);
      CheckKeyFilePath(v.loc, path, "private_key_file", v.private_key_file, true);
      auto inside = RequireCidr(v.loc, path, "address", v.address, "10.99.0.1/24");

      std::string apath = path + ".attach";
      std::optional<Cidr> attach_cidr;
      if (!v.loc.has("attach") && v.attach.switch_name.empty()) {
        Report(v.loc, path, "attach", "required: {switch: SW, vlan: ID, address: CIDR}, where peers enter the cloud");
      } else {
        const VpnAttachDecl& a = v.attach;
        ResolveSwitch(a.loc, apath, "switch", a.switch_name);
        CheckVlanRef(a.loc, apath, "vlan", a.vlan, /*required=*/true);
        attach_cidr = RequireCidr(a.loc, apath, "address", a.address, "10.0.10.254/24");
      }
      int family = inside ? inside->address.family : 0;
      if (inside && attach_cidr) {
        if (attach_cidr->address.family != inside->address.family) {
          Report(v.attach.loc, apath, "address",
                 "'" + v.attach.address + "' and the vpn's address '" + v.address +
                     "' must be of one family (the gateway routes between them)");
        } else if (Overlap(*inside, *attach_cidr)) {
          Report(v.attach.loc, apath, "address",
                 "'" + v.attach.address + "' overlaps the vpn's tunnel subnet '" + v.address + "'");
        }
      }
      if (v.peers.size() > config_limits::kMaxPeersPerVpn) {
        Report(v.loc, path, "peers",
               std::to_string(v.peers.size()) + " entries, at most " + std::to_string(config_limits::kMaxPeersPerVpn) +
                   " allowed");
      }
      CheckVpnPeers(v, path, family);
    }
  }

  // ---- L3: routed VLANs, the router, the firewall ------------------------------------------------------------

  static std::string FamilyName(int family) { return family == AF_INET ? "IPv4" : "IPv6"; }

  // A plain address (no prefix); nullopt (reported) if malformed.
  std::optional<IpAddress> RequireIp(const SourceLoc& loc, const std::string& path, const std::string& field,
                                     const std::string& text, int family = 0) {
    auto ip = ParseIp(text);
    if (!ip) {
      Report(loc, path, field, "'" + text + "' is not a valid " + (family ? FamilyName(family) : "IP") + " address");
      return std::nullopt;
    }
    if (family != 0 && ip->family != family) {
      Report(loc, path, field, "'" + text + "' is not an " + FamilyName(family) + " address");
      return std::nullopt;
    }
    return ip;
  }

  // An interface address with its subnet ("10.10.0.1/24") of `family`, usable as a gateway on that subnet.
  std::optional<Cidr> CheckInterfaceCidr(const SourceLoc& loc, const std::string& path, const std::string& field,
                                         const std::string& text, int family) {
    std::string why;
    auto cidr = ParseCidr(text, &why);
    if (!cidr) {
      Report(loc, path, field, why);
      return std::nullopt;
    }
    if (cidr->address.family != family) {
      Report(loc, path, field, "'" + text + "' is not an " + FamilyName(family) + " address");
      return std::nullopt;
    }
    int max_prefix = family == AF_INET ? 30 : 127;
    if (cidr->prefix > max_prefix) {
      Report(loc, path, field,
             "'" + text + "': a /" + std::to_string(cidr->prefix) + " leaves no room for hosts (at most /" +
                 std::to_string(max_prefix) + ")");
      return std::nullopt;
    }
    if (family == AF_INET && cidr->address.bytes == cidr->Network().bytes) {
      Report(loc, path, field,
             "'" + text + "' is the subnet's network address; use a host address, e.g. " +
                 FormatIp(Cidr{cidr->Network(), 32}.Last()) + "/" + std::to_string(cidr->prefix));
      return std::nullopt;
    }
    if (family == AF_INET && cidr->address.bytes == cidr->Last().bytes) {
      Report(loc, path, field, "'" + text + "' is the subnet's broadcast address; use a host address");
      return std::nullopt;
    }
    return cidr;
  }

  struct Subnet {
    Cidr cidr;
    std::string owner;  // "vlan 10", "the uplink"
    int line;
  };

  void CheckRoutedVlans() {
    for (size_t i = 0; i < c_.vlans.size(); ++i) {
      const VlanDecl& v = c_.vlans[i];
      std::string path = Idx("vlans", i);
      bool routed = VlanRouted(v);
      if (routed) ++routed_count_;
      if (!v.zone.empty() || v.loc.has("zone")) {
        if (std::string why = CheckLabel(v.zone); !why.empty()) {
          Report(v.loc, path, "zone", why);
        } else if (v.zone == "any") {
          Report(v.loc, path, "zone", "'any' is reserved (it matches every zone in policies and rules)");
        } else if (!routed) {
          Report(v.loc, path, "zone", "only routed VLANs are in a zone: add ipv4: or ipv6: (the router's address)");
        }
      } else if (routed && VlanZone(v) == "any") {
        Report(v.loc, path, "name", "vlan name 'any' cannot be its zone ('any' is reserved): set zone:");
      }
      CheckRange(v.loc, path, "mtu", v.mtu, config_limits::kMinMtu, config_limits::kMaxMtu);
      std::optional<Cidr> v4, v6;
      std::string owner = "vlan " + std::to_string(v.id);
      if (!v.ipv4.empty() || v.loc.has("ipv4")) {
        v4 = CheckInterfaceCidr(v.loc, path, "ipv4", v.ipv4, AF_INET);
        if (v4) AddSubnet(*v4, owner, v.loc, path, "ipv4", v.ipv4);
      }
      if (!v.ipv6.empty() || v.loc.has("ipv6")) {
        v6 = CheckInterfaceCidr(v.loc, path, "ipv6", v.ipv6, AF_INET6);
        if (v6) AddSubnet(*v6, owner, v.loc, path, "ipv6", v.ipv6);
      }
      if (routed && !c_.router) {
        Report(v.loc, path, v.ipv4.empty() ? "ipv6" : "ipv4",
               "a routed VLAN needs a router: section (router: {switch: SW}) to own this address");
      }
      if (v.dhcp) CheckDhcp(*v.dhcp, path + ".dhcp", v, v4);
    }
    if (routed_count_ > config_limits::kMaxRoutedVlans) {
      ReportTop("vlans", std::to_string(routed_count_) + " routed VLANs, at most " +
                             std::to_string(config_limits::kMaxRoutedVlans) + " allowed");
    }
  }

  // Routed subnets (and the uplink's) must not overlap: the router could not tell where an address lives.
  void AddSubnet(const Cidr& cidr, const std::string& owner, const SourceLoc& loc, const std::string& path,
                 const std::string& field, const std::string& text) {
    Cidr net{cidr.Network(), cidr.prefix};
    for (const Subnet& s : subnets_) {
      if (!Overlaps(s.cidr, net)) continue;
      Report(loc, path, field,
             "'" + text + "' overlaps the subnet " + FormatIp(s.cidr.address) + "/" + std::to_string(s.cidr.prefix) +
                 " of " + s.owner + LineSuffix(s.line));
      return;
    }
    subnets_.push_back({net, owner, loc.line_of(field)});
  }

  void CheckDhcp(const DhcpDecl& d, const std::string& path, const VlanDecl& v, const std::optional<Cidr>& subnet) {
    if (v.ipv4.empty()) {
      Report(v.loc, path.substr(0, path.size() - 5), "dhcp", "DHCP needs ipv4: (the router's address on this VLAN)");
      return;
    }
    auto inside = [&](const IpAddress& ip) {
      return subnet && subnet->Contains(ip) && ip.bytes != subnet->Network().bytes && ip.bytes != subnet->Last().bytes;
    };
    std::string subnet_text = subnet ? FormatIp(subnet->Network()) + "/" + std::to_string(subnet->prefix) : "";
    if (d.range.empty()) {
      Report(d.loc, path, "range", "required: the addresses to lease, e.g. 10.10.0.100-10.10.0.199");
    } else {
      size_t dash = d.range.find('-');
      auto lo = dash == std::string::npos ? std::nullopt : ParseIp(d.range.substr(0, dash));
      auto hi = dash == std::string::npos ? std::nullopt : ParseIp(d.range.substr(dash + 1));
      if (!lo || !hi || lo->family != AF_INET || hi->family != AF_INET) {
        Report(d.loc, path, "range",
               "'" + d.range + "' is not an IPv4 range FIRST-LAST (e.g. 10.10.0.100-10.10.0.199)");
      } else if (lo->bytes > hi->bytes) {
        Report(d.loc, path, "range", "'" + d.range + "': the first address is above the last");
      } else if (subnet && (!inside(*lo) || !inside(*hi))) {
        Report(d.loc, path, "range",
               "'" + d.range + "' is not inside the VLAN's subnet " + subnet_text +
                   " (network and broadcast addresses excluded)");
      } else if (subnet && lo->bytes <= subnet->address.bytes && subnet->address.bytes <= hi->bytes) {
        Report(d.loc, path, "range", "'" + d.range + "' holds the router's own address " + FormatIp(subnet->address));
      }
    }
    CheckRange(d.loc, path, "lease", d.lease_seconds, config_limits::kMinDhcpLeaseSeconds,
               config_limits::kMaxDhcpLeaseSeconds);
    if (d.dns.size() > config_limits::kMaxDhcpDns) {
      Report(d.loc, path, "dns",
             std::to_string(d.dns.size()) + " entries, at most " + std::to_string(config_limits::kMaxDhcpDns) +
                 " allowed");
    }
    for (const std::string& dns : d.dns) RequireIp(d.loc, path, "dns", dns, AF_INET);
    if (!d.domain.empty() || d.loc.has("domain")) {
      if (std::string why = CheckDomain(d.domain); !why.empty()) Report(d.loc, path, "domain", why);
    }
    if (d.reservations.size() > config_limits::kMaxDhcpReservations) {
      Report(d.loc, path, "reservations",
             std::to_string(d.reservations.size()) + " entries, at most " +
                 std::to_string(config_limits::kMaxDhcpReservations) + " allowed");
    }
    std::map<std::array<uint8_t, 6>, int> macs;
    std::map<std::array<uint8_t, 16>, int> addresses;
    for (size_t k = 0; k < d.reservations.size(); ++k) {
      const DhcpReservationDecl& r = d.reservations[k];
      std::string rpath = Idx(path + ".reservations", k);
      auto mac = ParseMac(r.mac);
      if (!mac || ((*mac)[0] & 1)) {
        Report(r.loc, rpath, "mac", "'" + r.mac + "' is not a unicast MAC address (write e.g. \"52:54:00:00:00:01\")");
      } else if (auto [it, fresh] = macs.emplace(*mac, r.loc.line_of("mac")); !fresh) {
        Report(r.loc, rpath, "mac", "MAC " + r.mac + " already has a reservation" + LineSuffix(it->second));
      }
      auto ip = RequireIp(r.loc, rpath, "address", r.address, AF_INET);
      if (!ip || !subnet) continue;
      if (!inside(*ip)) {
        Report(r.loc, rpath, "address",
               "'" + r.address + "' is not a host address inside the VLAN's subnet " + subnet_text);
      } else if (ip->bytes == subnet->address.bytes) {
        Report(r.loc, rpath, "address", "'" + r.address + "' is the router's own address");
      } else if (auto [it, fresh] = addresses.emplace(ip->bytes, r.loc.line_of("address")); !fresh) {
        Report(r.loc, rpath, "address", "'" + r.address + "' is already reserved" + LineSuffix(it->second));
      }
    }
  }

  // The subnet (of a routed VLAN or the uplink) holding `ip`, or nullptr.
  const Subnet* SubnetOf(const IpAddress& ip) const {
    for (const Subnet& s : subnets_) {
      if (s.cidr.Contains(ip)) return &s;
    }
    return nullptr;
  }

  void CheckZoneName(const SourceLoc& loc, const std::string& path, const std::string& field, const std::string& zone,
                     bool any_allowed) {
    if (any_allowed && zone == "any") return;
    if (zone.empty()) {
      Report(loc, path, field, "must not be empty");
      return;
    }
    if (std::find(zones_.begin(), zones_.end(), zone) != zones_.end()) return;
    std::string known =
        zones_.empty() ? "no zones exist (zones come from routed VLANs and the uplink)" : "zones: " + QuoteList(zones_);
    Report(loc, path, field, "unknown zone '" + zone + "'" + DidYouMean(zone, zones_) + "; " + known);
  }

  void CheckRouter() {
    zones_ = ZoneNames(c_);
    if (!c_.router) return;
    const RouterDecl& r = *c_.router;
    const std::string path = "router";
    if (routed_count_ == 0) {
      Report(r.loc, path, "", "no VLAN is routed: give at least one VLAN an ipv4: or ipv6: address for the router");
    }
    ResolveSwitch(r.loc, path, "switch", r.switch_name);
    if (!r.mac.empty() || r.loc.has("mac")) {
      auto mac = ParseMac(r.mac);
      if (!mac) {
        Report(r.loc, path, "mac", "'" + r.mac + "' is not a MAC address (write e.g. \"02:00:00:00:00:01\")");
      } else if (((*mac)[0] & 1) || std::all_of(mac->begin(), mac->end(), [](uint8_t b) { return b == 0; })) {
        Report(r.loc, path, "mac", "'" + r.mac + "' is not a unicast address");
      }
    }
    std::optional<Cidr> up4, up6;
    if (r.uplink) {
      const UplinkDecl& u = *r.uplink;
      const std::string upath = "router.uplink";
      if (u.interface.empty()) {
        Report(u.loc, upath, "interface", "required: the host interface towards the outside, e.g. eth1");
      } else if (std::string why = CheckInterfaceName(u.interface); !why.empty()) {
        Report(u.loc, upath, "interface", why);
      } else {
        ClaimHostInterface(u.loc, upath, "interface", u.interface);
      }
      if (std::string why = CheckLabel(u.zone); !why.empty()) {
        Report(u.loc, upath, "zone", why);
      } else if (u.zone == "any") {
        Report(u.loc, upath, "zone", "'any' is reserved (it matches every zone in policies and rules)");
      } else {
        for (const VlanDecl& v : c_.vlans) {
          if (!VlanRouted(v) || VlanZone(v) != u.zone) continue;
          Report(u.loc, upath, "zone",
                 "zone '" + u.zone + "' is already the zone of vlan " + std::to_string(v.id) + LineSuffix(v.loc.line) +
                     ": the uplink needs a zone of its own");
          break;
        }
      }
      if (u.ipv4.empty() && u.ipv6.empty()) {
        Report(u.loc, upath, "ipv4", "the uplink needs ipv4: and/or ipv6: (its address with the subnet length)");
      }
      CheckRange(u.loc, upath, "mtu", u.mtu, config_limits::kMinMtu, config_limits::kMaxMtu);
      auto check_family = [&](const std::string& addr_field, const std::string& addr, const std::string& gw_field,
                              const std::string& gw, int family) -> std::optional<Cidr> {
        std::optional<Cidr> cidr;
        if (!addr.empty() || u.loc.has(addr_field)) {
          cidr = CheckInterfaceCidr(u.loc, upath, addr_field, addr, family);
          if (cidr) AddSubnet(*cidr, "the uplink", u.loc, upath, addr_field, addr);
        }
        if (!gw.empty() || u.loc.has(gw_field)) {
          auto ip = RequireIp(u.loc, upath, gw_field, gw, family);
          if (ip && addr.empty()) {
            Report(u.loc, upath, gw_field, "needs " + addr_field + ": (the gateway must be on the uplink's subnet)");
          } else if (ip && cidr && !cidr->Contains(*ip)) {
            Report(u.loc, upath, gw_field, "'" + gw + "' is not inside the uplink's subnet '" + addr + "'");
          } else if (ip && cidr && ip->bytes == cidr->address.bytes) {
            Report(u.loc, upath, gw_field, "'" + gw + "' is the uplink's own address");
          }
        }
        return cidr;
      };
      up4 = check_family("ipv4", u.ipv4, "gateway4", u.gateway4, AF_INET);
      up6 = check_family("ipv6", u.ipv6, "gateway6", u.gateway6, AF_INET6);
    }

    CheckStaticRoutes(r);

    std::set<std::string> masq;
    if (!r.masquerade.empty() && !r.uplink) {
      Report(r.loc, path, "masquerade", "needs an uplink: (masquerading rewrites sources to the uplink's address)");
    }
    for (const std::string& zone : r.masquerade) {
      CheckZoneName(r.loc, path, "masquerade", zone, /*any_allowed=*/false);
      if (r.uplink && zone == r.uplink->zone) {
        Report(r.loc, path, "masquerade", "'" + zone + "' is the uplink's own zone");
      }
      if (!masq.insert(zone).second) Report(r.loc, path, "masquerade", "zone '" + zone + "' listed more than once");
    }

    if (r.port_forwards.size() > config_limits::kMaxPortForwards) {
      Report(r.loc, path, "port_forwards",
             std::to_string(r.port_forwards.size()) + " entries, at most " +
                 std::to_string(config_limits::kMaxPortForwards) + " allowed");
    }
    if (!r.port_forwards.empty() && !r.uplink) {
      Report(r.loc, path, "port_forwards", "needs an uplink: (port forwards take connections arriving on it)");
    }
    for (size_t i = 0; i < r.port_forwards.size(); ++i) {
      const PortForwardDecl& pf = r.port_forwards[i];
      std::string ppath = Idx("router.port_forwards", i);
      if (pf.proto != ip_proto::kTcp && pf.proto != ip_proto::kUdp) {
        Report(pf.loc, ppath, "proto", "a port forward is tcp or udp");
      }
      if (pf.port.lo == 0 && !pf.loc.has("port")) {
        Report(pf.loc, ppath, "port", "required: the uplink port, e.g. 8080 or \"8000-8010\"");
      } else if (pf.port.lo == 0 || pf.port.lo > pf.port.hi) {
        Report(pf.loc, ppath, "port", "must be a port 1-65535 or an ascending range");
      } else {
        uint32_t to_port = pf.to_port == 0 ? pf.port.lo : pf.to_port;
        if (to_port + (pf.port.hi - pf.port.lo) > 65535) {
          Report(pf.loc, ppath, "to_port", std::to_string(to_port) + " + the range's width goes past port 65535");
        }
        for (size_t k = 0; k < i; ++k) {
          const PortForwardDecl& o = r.port_forwards[k];
          if (o.proto != pf.proto || o.port.lo == 0 || o.port.hi < pf.port.lo || pf.port.lo > o.port.hi ||
              pf.port.hi < o.port.lo) {
            continue;
          }
          Report(pf.loc, ppath, "port",
                 "overlaps the ports of router.port_forwards[" + std::to_string(k) + "]" + LineSuffix(o.loc.line));
          break;
        }
      }
      if (pf.to.empty()) {
        Report(pf.loc, ppath, "to", "required: the address inside a routed VLAN to forward to, e.g. 10.10.0.2");
      } else if (auto ip = RequireIp(pf.loc, ppath, "to", pf.to)) {
        const Subnet* s = SubnetOf(*ip);
        if (!s || s->owner == "the uplink") {
          Report(pf.loc, ppath, "to", "'" + pf.to + "' is not inside a routed VLAN's subnet");
        } else if ((ip->family == AF_INET && !up4) || (ip->family == AF_INET6 && !up6)) {
          if (r.uplink) {
            Report(pf.loc, ppath, "to",
                   "'" + pf.to + "' is " + FamilyName(ip->family) + " but the uplink has no " +
                       (ip->family == AF_INET ? "ipv4" : "ipv6") + " address");
          }
        }
      }
    }
  }

  void CheckStaticRoutes(const RouterDecl& r) {
    if (r.routes.size() > config_limits::kMaxStaticRoutes) {
      Report(r.loc, "router", "routes",
             std::to_string(r.routes.size()) + " entries, at most " + std::to_string(config_limits::kMaxStaticRoutes) +
                 " allowed");
    }
    std::map<std::pair<std::array<uint8_t, 16>, int>, int> seen;
    for (size_t i = 0; i < r.routes.size(); ++i) {
      const StaticRouteDecl& rt = r.routes[i];
      std::string path = Idx("router.routes", i);
      std::optional<Cidr> to;
      if (rt.to.empty()) {
        Report(rt.loc, path, "to", "required: the destination prefix, e.g. 10.99.0.0/16");
      } else {
        std::string why;
        to = ParseCidr(rt.to, &why);
        if (!to) {
          Report(rt.loc, path, "to", why);
        } else if (to->address.bytes != to->Network().bytes) {
          Report(rt.loc, path, "to",
                 "'" + rt.to + "' has host bits set (did you mean " + FormatIp(to->Network()) + "/" +
                     std::to_string(to->prefix) + "?)");
          to.reset();
        } else if (auto [it, fresh] = seen.emplace(std::make_pair(to->address.bytes, to->prefix), rt.loc.line_of("to"));
                   !fresh) {
          Report(rt.loc, path, "to", "a route to '" + rt.to + "' is already declared" + LineSuffix(it->second));
        }
      }
      if (rt.via.empty()) {
        Report(rt.loc, path, "via", "required: the next hop, an address inside a routed VLAN's or the uplink's subnet");
        continue;
      }
      auto via = RequireIp(rt.loc, path, "via", rt.via);
      if (!via) continue;
      if (to && to->address.family != via->family) {
        Report(rt.loc, path, "via",
               "'" + rt.via + "' is " + FamilyName(via->family) + " but the route's prefix is " +
                   FamilyName(to->address.family));
      } else if (!SubnetOf(*via)) {
        Report(rt.loc, path, "via", "'" + rt.via + "' is not inside a routed VLAN's or the uplink's subnet");
      }
    }
  }

  // Addresses/prefixes of a rule's src or dst; returns the families present (bit 0 IPv4, bit 1 IPv6), 0 if none.
  // `want`: the rule's family (bit 0 IPv4, bit 1 IPv6), 0 = any; a literal of the other family is an error, a set
  // only if it holds nothing of the wanted family (the rule then uses the set's entries of its family).
  int CheckRuleAddresses(const FirewallRuleDecl& rule, const std::string& path, const std::string& field,
                         const std::vector<std::string>& items, int want) {
    const char* want_name = want == 1 ? "IPv4" : "IPv6";
    int families = 0;
    for (const std::string& item : items) {
      if (!item.empty() && item[0] == '@') {
        auto it = set_families_.find(item.substr(1));
        if (it == set_families_.end()) {
          std::vector<std::string> names;
          if (c_.firewall) {
            for (const AddressSetDecl& s : c_.firewall->sets) names.push_back(s.name);
          }
          Report(rule.loc, path, field,
                 "unknown address set '" + item + "'" + DidYouMean(item.substr(1), names) +
                     (names.empty() ? "; no sets are declared under firewall.sets" : "; sets: " + QuoteList(names)));
          continue;
        }
        if (want != 0 && it->second != 0 && !(it->second & want)) {
          Report(rule.loc, path, field,
                 "set '" + item + "' holds no " + want_name + " address but the rule's family is " +
                     (want == 1 ? "ipv4" : "ipv6"));
        }
        families |= want != 0 ? (it->second & want) : it->second;
        continue;
      }
      std::string why;
      auto cidr = ParseAddressOrPrefix(item, &why);
      if (!cidr) {
        Report(rule.loc, path, field, why + " (or an @set)");
        continue;
      }
      if (cidr->address.bytes != cidr->Network().bytes) {
        Report(rule.loc, path, field,
               "'" + item + "' has host bits set (did you mean " + FormatIp(cidr->Network()) + "/" +
                   std::to_string(cidr->prefix) + "?)");
      }
      int family = cidr->address.family == AF_INET ? 1 : 2;
      if (want != 0 && family != want) {
        Report(rule.loc, path, field,
               "'" + item + "' is " + (family == 1 ? "IPv4" : "IPv6") + " but the rule's family is " +
                   (want == 1 ? "ipv4" : "ipv6"));
        continue;
      }
      families |= family;
    }
    return families;
  }

  void CheckFirewall() {
    if (!c_.firewall) return;
    const FirewallDecl& fw = *c_.firewall;
    CheckRange(fw.loc, "firewall", "max_connections", fw.max_connections, config_limits::kMinMaxConnections,
               config_limits::kMaxMaxConnections);

    // Address sets.
    if (fw.sets.size() > config_limits::kMaxAddressSets) {
      Report(fw.loc, "firewall", "sets",
             std::to_string(fw.sets.size()) + " sets, at most " + std::to_string(config_limits::kMaxAddressSets) +
                 " allowed");
    }
    size_t entries = 0;
    for (const AddressSetDecl& s : fw.sets) {
      std::string path = "firewall.sets." + s.name;
      entries += s.entries.size();
      if (std::string why = CheckRuleName(s.name); !why.empty()) {
        Report(s.loc, "firewall.sets", "", "set name " + why);
        continue;
      }
      if (set_families_.count(s.name)) {
        Report(s.loc, path, "", "set '" + s.name + "' already declared");
        continue;
      }
      if (s.entries.empty()) Report(s.loc, path, "", "a set needs at least one address or prefix");
      int families = 0;
      for (const std::string& e : s.entries) {
        if (!e.empty() && e[0] == '@') {
          Report(s.loc, path, "", "'" + e + "': sets may not reference other sets (list the addresses)");
          continue;
        }
        std::string why;
        auto cidr = ParseAddressOrPrefix(e, &why);
        if (!cidr) {
          Report(s.loc, path, "", why);
          continue;
        }
        if (cidr->address.bytes != cidr->Network().bytes) {
          Report(s.loc, path, "",
                 "'" + e + "' has host bits set (did you mean " + FormatIp(cidr->Network()) + "/" +
                     std::to_string(cidr->prefix) + "?)");
        }
        families |= cidr->address.family == AF_INET ? 1 : 2;
      }
      set_families_[s.name] = families;
    }
    if (entries > config_limits::kMaxAddressSetEntries) {
      Report(fw.loc, "firewall", "sets",
             std::to_string(entries) + " entries over all sets, at most " +
                 std::to_string(config_limits::kMaxAddressSetEntries) + " allowed");
    }

    // Policies.
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (size_t i = 0; i < fw.policies.size(); ++i) {
      const PolicyDecl& p = fw.policies[i];
      std::string path = Idx("firewall.policies", i);
      if (p.from.empty() && !p.loc.has("from")) {
        Report(p.loc, path, "from", "required: a zone or \"any\"");
      } else {
        CheckZoneName(p.loc, path, "from", p.from, true);
      }
      if (p.to.empty() && !p.loc.has("to")) {
        Report(p.loc, path, "to", "required: a zone or \"any\"");
      } else {
        CheckZoneName(p.loc, path, "to", p.to, true);
      }
      if (!p.loc.has("action") && p.loc.line > 0) Report(p.loc, path, "action", "required: accept, drop or reject");
      if (auto [it, fresh] = pairs.emplace(std::make_pair(p.from, p.to), p.loc.line); !fresh) {
        Report(p.loc, path, "",
               "a policy from '" + p.from + "' to '" + p.to + "' is already declared" + LineSuffix(it->second));
      }
    }

    // Rules.
    if (fw.rules.size() > config_limits::kMaxFirewallRules) {
      Report(fw.loc, "firewall", "rules",
             std::to_string(fw.rules.size()) + " entries, at most " + std::to_string(config_limits::kMaxFirewallRules) +
                 " allowed");
    }
    std::map<std::string, int> names;
    for (size_t i = 0; i < fw.rules.size(); ++i) CheckRule(fw.rules[i], Idx("firewall.rules", i), names);
  }

  void CheckRule(const FirewallRuleDecl& r, const std::string& path, std::map<std::string, int>& names) {
    if (!r.name.empty() || r.loc.has("name")) {
      if (std::string why = CheckRuleName(r.name); !why.empty()) {
        Report(r.loc, path, "name", why);
      } else if (auto [it, fresh] = names.emplace(r.name, r.loc.line_of("name")); !fresh) {
        Report(r.loc, path, "name", "rule '" + r.name + "' already declared" + LineSuffix(it->second));
      }
    }
    for (const std::string& z : r.from) CheckZoneName(r.loc, path, "from", z, true);
    for (const std::string& z : r.to) CheckZoneName(r.loc, path, "to", z, true);
    if (r.family != 0 && r.family != 4 && r.family != 6) {
      Report(r.loc, path, "family", "must be ipv4 or ipv6");
    }
    int want = r.family == 4 ? 1 : (r.family == 6 ? 2 : 0);
    int src = CheckRuleAddresses(r, path, "src", r.src, want);
    int dst = CheckRuleAddresses(r, path, "dst", r.dst, want);
    if (want == 0 && ((src == 1 && dst == 2) || (src == 2 && dst == 1))) {
      Report(r.loc, path, "dst",
             std::string("the rule can never match: src is all ") + (src == 1 ? "IPv4" : "IPv6") + " and dst all " +
                 (dst == 1 ? "IPv4" : "IPv6"));
    }
    bool ports_ok = r.proto && (*r.proto == ip_proto::kTcp || *r.proto == ip_proto::kUdp);
    for (auto [field, list] : {std::make_pair("sport", &r.sport), std::make_pair("dport", &r.dport)}) {
      if (list->empty() && !r.loc.has(field)) continue;
      if (!ports_ok) {
        Report(r.loc, path, field, "ports need proto: tcp or udp");
        continue;
      }
      for (const PortRangeDecl& p : *list) {
        if (p.lo == 0 || p.lo > p.hi) Report(r.loc, path, field, "ports are 1-65535, ranges ascending");
      }
    }
    bool icmp = r.proto && (*r.proto == ip_proto::kIcmp || *r.proto == ip_proto::kIcmpv6);
    if ((r.icmp_type || r.icmp_code) && !icmp) {
      Report(r.loc, path, r.icmp_type ? "icmp_type" : "icmp_code", "needs proto: icmp or icmpv6");
    }
    if (r.icmp_code && !r.icmp_type && icmp) Report(r.loc, path, "icmp_code", "needs icmp_type:");
    if (r.proto && *r.proto == ip_proto::kIcmp && (want == 2 || (want == 0 && (src | dst) == 2))) {
      Report(r.loc, path, "proto", "icmp is IPv4's; for IPv6 use icmpv6");
    }
    if (r.proto && *r.proto == ip_proto::kIcmpv6 && (want == 1 || (want == 0 && (src | dst) == 1))) {
      Report(r.loc, path, "proto", "icmpv6 is IPv6's; for IPv4 use icmp");
    }
    if (!r.action) Report(r.loc, path, "action", "required: accept, drop or reject");
  }

  // Links and endpoints each add a port named after themselves to their switches, so their names share each switch's
  // port namespace with the declared ports.
  void CheckPortNames() {
    struct Owner {
      std::string what;
      int line;
    };
    std::map<std::string, std::map<std::string, Owner>> by_switch;  // switch -> port name -> owner
    for (size_t i = 0; i < c_.links.size(); ++i) {
      const LinkDecl& l = c_.links[i];
      if (!link_ends_[i] || l.name.empty()) continue;
      for (const std::string* sw : {&l.a, &l.b}) {
        by_switch[*sw].emplace(l.name, Owner{"link '" + l.name + "'", l.loc.line_of("name")});
      }
    }
    for (size_t i = 0; i < c_.endpoints.size(); ++i) {
      const EndpointDecl& e = c_.endpoints[i];
      if (e.name.empty() || !switch_index_.count(e.switch_name)) continue;
      auto [it, fresh] =
          by_switch[e.switch_name].emplace(e.name, Owner{"endpoint '" + e.name + "'", e.loc.line_of("name")});
      if (!fresh) {
        Report(e.loc, Idx("endpoints", i), "name",
               "endpoint '" + e.name + "' adds a port named '" + e.name + "' to switch '" + e.switch_name +
                   "', which clashes with " + it->second.what + LineSuffix(it->second.line));
      }
    }
    for (size_t i = 0; i < c_.vpns.size(); ++i) {
      const VpnDecl& v = c_.vpns[i];
      if (v.name.empty() || !switch_index_.count(v.attach.switch_name)) continue;
      auto [it, fresh] =
          by_switch[v.attach.switch_name].emplace(v.name, Owner{"vpn '" + v.name + "'", v.loc.line_of("name")});
      if (!fresh) {
        Report(v.loc, Idx("vpns", i), "name",
               "vpn '" + v.name + "' adds a port named '" + v.name + "' to switch '" + v.attach.switch_name +
                   "', which clashes with " + it->second.what + LineSuffix(it->second.line));
      }
    }
    for (size_t i = 0; i < c_.switches.size(); ++i) {
      const SwitchDecl& sw = c_.switches[i];
      if (sw.name.empty()) continue;
      auto& names = by_switch[sw.name];
      for (size_t j = 0; j < sw.ports.size(); ++j) {
        const PortDecl& p = sw.ports[j];
        if (p.name.empty()) continue;
        auto [it, fresh] = names.emplace(p.name, Owner{"port '" + p.name + "'", p.loc.line_of("name")});
        if (fresh) continue;
        std::string path = Idx("switches", i) + Idx(".ports", j);
        if (it->second.what.rfind("port ", 0) == 0) {
          Report(p.loc, path, "name",
                 "port '" + p.name + "' already declared on switch '" + sw.name + "'" + LineSuffix(it->second.line));
        } else {
          Report(p.loc, path, "name",
                 "port name '" + p.name + "' clashes with " + it->second.what + LineSuffix(it->second.line) +
                     ", which adds a port of that name to switch '" + sw.name + "'");
        }
      }
    }
  }

  // cloudlet runs no spanning tree: for every VLAN, the links carrying it must form a forest, or broadcasts loop.
  void CheckLinkLoops() {
    std::map<uint16_t, std::vector<size_t>> parent_by_vlan;
    auto find = [](std::vector<size_t>& parent, size_t x) {
      while (parent[x] != x) x = parent[x] = parent[parent[x]];
      return x;
    };
    for (size_t i = 0; i < c_.links.size(); ++i) {
      if (!link_ends_[i]) continue;
      auto [a, b] = *link_ends_[i];
      std::vector<uint16_t> looping;
      std::bitset<4096> seen;
      for (uint16_t v : c_.links[i].vlans) {
        if (v == 0 || v > kMaxVlanId || seen.test(v)) continue;
        seen.set(v);
        auto& parent = parent_by_vlan[v];
        if (parent.empty()) {
          parent.resize(c_.switches.size());
          std::iota(parent.begin(), parent.end(), 0);
        }
        size_t ra = find(parent, a), rb = find(parent, b);
        if (ra == rb) {
          looping.push_back(v);
        } else {
          parent[ra] = rb;
        }
      }
      if (looping.empty()) continue;
      const LinkDecl& l = c_.links[i];
      Report(l.loc, Idx("links", i), "between",
             "link '" + l.name + "' closes a loop for vlan(s) " + FormatVlanSet(looping) + ": switches '" + l.a +
                 "' and '" + l.b + "' are already connected by other links (cloudlet runs no spanning tree)");
    }
  }

  const CloudConfig& c_;
  Diagnostics& d_;
  std::bitset<4096> declared_;
  std::map<std::string, size_t> switch_index_;                       // name -> first switch with it
  std::map<std::string, std::pair<std::string, int>> host_ifnames_;  // ifname -> (claiming path, line)
  std::vector<std::optional<std::pair<size_t, size_t>>> link_ends_;  // resolved switch indexes of valid links
  size_t routed_count_ = 0;
  std::vector<Subnet> subnets_;              // routed VLANs' and the uplink's, host bits cleared
  std::vector<std::string> zones_;           // ZoneNames()
  std::map<std::string, int> set_families_;  // address set -> families present (bit 0 IPv4, bit 1 IPv6)
};

}  // namespace

void ApplyDefaults(CloudConfig& config) {
  for (EndpointDecl& e : config.endpoints) {
    if (e.netns.empty() && !e.loc.has("netns")) e.netns = e.name;
    if (e.container && e.container->hostname.empty() && !e.container->loc.has("hostname")) {
      e.container->hostname = e.name;
    }
  }
  if (config.router) {
    for (PortForwardDecl& pf : config.router->port_forwards) {
      if (pf.to_port == 0 && !pf.loc.has("to_port")) pf.to_port = pf.port.lo;
    }
  }
}

void CheckModel(const CloudConfig& config, Diagnostics& diag) { ModelChecker(config, diag).Run(); }

namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A repository path component: [a-z0-9]+ joined by '.', '_', '__' or runs of '-'.
bool IsPathComponent(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (size_t i = 0; i < s.size();) {
    if (IsLowerAlnum(s[i])) {
      ++i;
      continue;
    }
    size_t run = i;
    while (run < s.size() && !IsLowerAlnum(s[run])) ++run;
    std::string_view sep = s.substr(i, run - i);
    bool dashes = std::all_of(sep.begin(), sep.end(), [](char c) { return c == '-'; });
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = run;
  }
  return true;
}

// A registry: host[:port], the host a DNS name, "localhost" or an IP literal ("[::1]" for IPv6).
bool IsRegistry(std::string_view s) {
  std::string_view host = s;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || !ParseIp(s.substr(1, close - 1))) return false;
    host = {};
    s.remove_prefix(close + 1);
    if (s.empty()) return true;
    if (s.front() != ':') return false;
  } else {
    size_t colon = s.find(':');
    host = s.substr(0, colon);
    s = colon == std::string_view::npos ? std::string_view() : s.substr(colon);
  }
  if (!s.empty()) {  // ":port"
    std::string_view port = s.substr(1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit)) return false;
  }
  if (host.empty()) return true;  // an IPv6 literal, checked above
  for (size_t start = 0; start <= host.size();) {
    size_t dot = host.find('.', start);
    std::string_view label = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || !IsAlnum(label.front()) || !IsAlnum(label.back()) ||
        !std::all_of(label.begin(), label.end(), [](char c) { return IsAlnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace

std::string CheckImageReference(std::string_view ref) {
  std::string quoted = "'" + std::string(ref.substr(0, 300)) + "'";
  std::string shape = " is not an image reference ([registry/]repository[:tag][@sha256:digest], e.g. busybox:latest)";
  if (ref.size() > 512) return quoted + shape + ": longer than 512 characters";
  std::string_view name = ref;
  if (size_t at = ref.find('@'); at != std::string_view::npos) {
    std::string_view digest = ref.substr(at + 1);
    name = ref.substr(0, at);
    constexpr std::string_view kSha256 = "sha256:";
    std::string_view hex = digest.substr(std::min(digest.size(), kSha256.size()));
    bool ok = digest.substr(0, kSha256.size()) == kSha256 && hex.size() == 64 &&
              std::all_of(hex.begin(), hex.end(), [](char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); });
    if (!ok) return quoted + shape + ": a digest is sha256: and 64 lowercase hex digits";
  }
  size_t last_slash = name.rfind('/');
  size_t colon = name.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
  if (colon != std::string_view::npos) {
    std::string_view tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    bool ok =
        !tag.empty() && tag.size() <= 128 && (IsAlnum(tag[0]) || tag[0] == '_') &&
        std::all_of(tag.begin(), tag.end(), [](char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; });
    if (!ok) return quoted + shape + ": a tag is letters, digits, '_', '.' and '-', at most 128 characters";
  }
  if (name.empty()) return quoted + shape + ": the repository is missing";
  if (name.size() > 255) return quoted + shape + ": the name is longer than 255 characters";
  std::string_view path = name;
  if (size_t slash = name.find('/'); slash != std::string_view::npos) {
    std::string_view first = name.substr(0, slash);
    // As Docker decides: a first component with '.' or ':', or "localhost", names a registry.
    if (first == "localhost" || first.find_first_of(".:[") != std::string_view::npos) {
      if (!IsRegistry(first)) return quoted + shape + ": '" + std::string(first) + "' is not a registry host[:port]";
      path = name.substr(slash + 1);
    }
  }
  for (size_t start = 0; start <= path.size();) {
    size_t slash = path.find('/', start);
    std::string_view part =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!IsPathComponent(part)) {
      return quoted + shape +
             ": repository names are lowercase letters and digits, separated by '.', '_', '__', '-' or '/'";
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return "";
}

std::string CheckEnvName(std::string_view name) {
  bool ok = !name.empty() && !IsDigit(name[0]) &&
            std::all_of(name.begin(), name.end(), [](char c) { return IsAlnum(c) || c == '_'; });
  if (ok) return "";
  return "'" + std::string(name.substr(0, 64)) + (name.size() > 64 ? "..." : "") +
         "' is not a variable name: letters, digits and '_', not starting with a digit";
}

std::string CheckHostname(std::string_view name) {
  if (name.empty()) return "must not be empty (omit the key for the endpoint's name)";
  std::string quoted = "'" + std::string(name.substr(0, 64)) + (name.size() > 64 ? "..." : "") + "'";
  if (name.size() > 64) return quoted + " is longer than 64 characters";
  for (size_t start = 0; start <= name.size();) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    bool ok = !label.empty() && label.size() <= 63 && IsAlnum(label.front()) && IsAlnum(label.back()) &&
              std::all_of(label.begin(), label.end(), [](char c) { return IsAlnum(c) || c == '-'; });
    if (!ok) {
      return quoted +
             " is not a hostname: labels of letters, digits and '-' (not first or last), joined by '.' (RFC 1123)";
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return "";
}

std::string CheckCpuList(std::string_view list) {
  constexpr int kMaxCpu = 8191;  // the kernel's largest NR_CPUS
  std::string bad = "'" + std::string(list.substr(0, 64)) + (list.size() > 64 ? "..." : "") +
                    "' is not a CPU list: CPU numbers and ascending ranges 0-" + std::to_string(kMaxCpu) +
                    " separated by ',', e.g. \"0-3,6\"";
  if (list.empty() || list.size() > 1024) return bad;
  auto number = [&](std::string_view s) -> std::optional<int> {
    if (s.empty() || s.size() > 4 || !std::all_of(s.begin(), s.end(), IsDigit)) return std::nullopt;
    int n = std::stoi(std::string(s));
    return n <= kMaxCpu ? std::optional<int>(n) : std::nullopt;
  };
  for (size_t start = 0; start <= list.size();) {
    size_t comma = list.find(',', start);
    std::string_view item =
        list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    size_t dash = item.find('-');
    auto first = number(item.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : number(item.substr(dash + 1));
    if (!first || !last || *first > *last) return bad;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return "";
}

std::string CheckAbsolutePath(std::string_view path) {
  std::string quoted = "'" + std::string(path.substr(0, 300)) + (path.size() > 300 ? "..." : "") + "'";
  if (path.empty() || path.front() != '/') return quoted + " must be an absolute path (starting with '/')";
  if (path.find('\0') != std::string_view::npos) return quoted + " contains a NUL byte";
  if (path.size() > 4095) return quoted + " is longer than 4095 characters";
  for (size_t start = 1; start <= path.size();) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (path.substr(start, slash - start) == "..") return quoted + " must not contain '..' components";
    start = slash + 1;
  }
  return "";
}

}  // namespace config_internal

const char* RestartPolicyName(RestartPolicyDecl policy) {
  switch (policy) {
    case RestartPolicyDecl::kNo:
      return "no";
    case RestartPolicyDecl::kAlways:
      return "always";
    case RestartPolicyDecl::kOnFailure:
      return "on-failure";
  }
  return "no";
}

Status ValidateConfig(const CloudConfig& config) {
  config_internal::Diagnostics diag;
  config_internal::CheckModel(config, diag);
  return diag.ToStatus();
}

std::string HostProbe::key_file_problem(const std::string& path) const {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return std::string(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::string(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  if (st.st_mode & 077) {
    return std::string("readable by group/others (mode ") + mode + "): chmod 600 " + path;
  }
  std::string text(4097, '\0');
  ssize_t n = ::read(fd.get(), text.data(), text.size());
  if (n < 0) return std::string(std::strerror(errno));
  text.resize(static_cast<size_t>(n));
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!text.empty() && space(text.back())) text.pop_back();
  size_t start = 0;
  while (start < text.size() && space(text[start])) ++start;
  std::string why = config_internal::CheckKeyBase64(std::string_view(text).substr(start));
  std::fill(text.begin(), text.end(), '\0');  // best effort: the key does not linger in freed memory
  return why;
}

bool SystemHostProbe::interface_exists(const std::string& name) const {
  return name.size() < IF_NAMESIZE && if_nametoindex(name.c_str()) != 0;
}

Status ValidateHost(const CloudConfig& config, const HostProbe& host) {
  config_internal::Diagnostics diag;
  for (size_t i = 0; i < config.switches.size(); ++i) {
    const SwitchDecl& sw = config.switches[i];
    for (size_t j = 0; j < sw.ports.size(); ++j) {
      const PortDecl& p = sw.ports[j];
      if (p.interface.empty() || host.interface_exists(p.interface)) continue;
      const std::string& file = !p.loc.file.empty() ? p.loc.file : (config.source.empty() ? "<config>" : config.source);
      diag.Add(file, p.loc.line_of("interface"),
               "switches[" + std::to_string(i) + "].ports[" + std::to_string(j) + "].interface",
               "host interface '" + p.interface + "' does not exist (see `ip link`)");
    }
  }
  if (config.router && config.router->uplink && !config.router->uplink->interface.empty()) {
    const UplinkDecl& u = *config.router->uplink;
    if (!host.interface_exists(u.interface)) {
      const std::string& file = !u.loc.file.empty() ? u.loc.file : (config.source.empty() ? "<config>" : config.source);
      diag.Add(file, u.loc.line_of("interface"), "router.uplink.interface",
               "host interface '" + u.interface + "' does not exist (see `ip link`)");
    }
  }
  for (size_t i = 0; i < config.vpns.size(); ++i) {
    const VpnDecl& v = config.vpns[i];
    const std::string& file = !v.loc.file.empty() ? v.loc.file : (config.source.empty() ? "<config>" : config.source);
    std::string path = "vpns[" + std::to_string(i) + "]";
    if (!v.private_key_file.empty()) {
      std::string why = host.key_file_problem(v.private_key_file);
      if (!why.empty())
        diag.Add(file, v.loc.line_of("private_key_file"), path + ".private_key_file", v.private_key_file + ": " + why);
    }
    for (size_t k = 0; k < v.peers.size(); ++k) {
      const VpnPeerDecl& p = v.peers[k];
      if (p.preshared_key_file.empty()) continue;
      std::string why = host.key_file_problem(p.preshared_key_file);
      if (!why.empty()) {
        diag.Add(file, p.loc.line_of("preshared_key_file"),
                 path + ".peers[" + std::to_string(k) + "].preshared_key_file", p.preshared_key_file + ": " + why);
      }
    }
  }
  return diag.ToStatus();
}

}  // namespace cloudlet

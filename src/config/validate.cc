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
};

}  // namespace

void ApplyDefaults(CloudConfig& config) {
  for (EndpointDecl& e : config.endpoints) {
    if (e.netns.empty() && !e.loc.has("netns")) e.netns = e.name;
  }
}

void CheckModel(const CloudConfig& config, Diagnostics& diag) { ModelChecker(config, diag).Run(); }

}  // namespace config_internal

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

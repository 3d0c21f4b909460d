// The JSON form of the model (CLI -> daemon): a lossless encoding, and a strict decoder that re-runs every model check.
#include <algorithm>

#include "config/config.h"
#include "config/internal.h"

namespace cloudlet {

namespace {

using config_internal::Diagnostics;
using config_internal::DidYouMean;
using nlohmann::json;

constexpr size_t kMaxStringChars = 4096;
constexpr int64_t kMaxLine = 1000000000;

const std::vector<std::string> kTopKeys = {"version",   "source", "vlans",  "switches", "links",
                                           "endpoints", "vpns",   "router", "firewall"};
const std::vector<std::string> kVlanKeys = {"id", "name", "zone", "ipv4", "ipv6", "mtu", "dhcp", "loc"};
const std::vector<std::string> kDhcpKeys = {"range", "lease_seconds", "dns", "domain", "reservations", "loc"};
const std::vector<std::string> kReservationKeys = {"mac", "address", "loc"};
const std::vector<std::string> kRouterKeys = {"switch",     "mac",           "uplink", "routes",
                                              "masquerade", "port_forwards", "loc"};
const std::vector<std::string> kUplinkKeys = {"interface", "zone",     "ipv4", "gateway4",
                                              "ipv6",      "gateway6", "mtu",  "loc"};
const std::vector<std::string> kRouteKeys = {"to", "via", "loc"};
const std::vector<std::string> kForwardKeys = {"proto", "port", "to", "to_port", "loc"};
const std::vector<std::string> kFirewallKeys = {"max_connections", "sets", "policies", "rules", "loc"};
const std::vector<std::string> kSetKeys = {"name", "entries", "loc"};
const std::vector<std::string> kPolicyKeys = {"from", "to", "action", "loc"};
const std::vector<std::string> kRuleKeys = {"name",  "from",  "to",        "src",       "dst",    "family", "proto",
                                            "sport", "dport", "icmp_type", "icmp_code", "action", "log",    "loc"};
const std::vector<std::string> kSwitchKeys = {"name", "max_macs", "port_max_macs", "mac_aging_seconds", "ports", "loc"};
const std::vector<std::string> kPortKeys = {"name",  "interface",   "tap",  "mode",     "vlan",
                                            "vlans", "native_vlan", "tpid", "max_macs", "loc"};
const std::vector<std::string> kLinkKeys = {"name", "between", "vlans", "native_vlan", "tpid", "loc"};
const std::vector<std::string> kEndpointKeys = {"name",    "switch", "vlan", "netns",     "interface", "addresses",
                                                "gateway", "mac",    "mtu",  "container", "loc"};
const std::vector<std::string> kContainerKeys = {"image",   "command",   "entrypoint",   "env",       "workdir", "uid",
                                                 "gid",     "hostname",  "memory_bytes", "nano_cpus", "cpuset",  "pids",
                                                 "restart", "read_only", "mounts",       "loc"};
const std::vector<std::string> kMountKeys = {"source", "target", "read_only", "loc"};
const std::vector<std::string> kVpnKeys = {"name", "listen_port", "private_key_file", "address", "attach", "peers",
                                           "mtu",  "loc"};
const std::vector<std::string> kVpnAttachKeys = {"switch", "vlan", "address", "loc"};
const std::vector<std::string> kVpnPeerKeys = {
    "name", "public_key", "allowed_ips", "endpoint", "persistent_keepalive", "preshared_key_file", "loc"};
const std::vector<std::string> kLocKeys = {"file", "line", "fields"};
// Keys SourceLoc::field_lines may name: the YAML keys of each declaration.
const std::vector<std::string> kVlanYamlKeys = {"id", "name", "zone", "ipv4", "ipv6", "mtu", "dhcp"};
const std::vector<std::string> kDhcpYamlKeys = {"range", "lease", "dns", "domain", "reservations"};
const std::vector<std::string> kReservationYamlKeys = {"mac", "address"};
const std::vector<std::string> kRouterYamlKeys = {"switch", "mac", "uplink", "routes", "masquerade", "port_forwards"};
const std::vector<std::string> kUplinkYamlKeys = {"interface", "zone", "ipv4", "gateway4", "ipv6", "gateway6", "mtu"};
const std::vector<std::string> kRouteYamlKeys = {"to", "via"};
const std::vector<std::string> kForwardYamlKeys = {"proto", "port", "to", "to_port"};
const std::vector<std::string> kFirewallYamlKeys = {"max_connections", "sets", "policies", "rules"};
const std::vector<std::string> kSetYamlKeys = {};
const std::vector<std::string> kPolicyYamlKeys = {"from", "to", "action"};
const std::vector<std::string> kRuleYamlKeys = {"name",  "from",  "to",        "src",       "dst",    "family", "proto",
                                                "sport", "dport", "icmp_type", "icmp_code", "action", "log"};
const std::vector<std::string> kSwitchYamlKeys = {"name", "max_macs", "port_max_macs", "mac_aging", "ports"};
const std::vector<std::string> kPortYamlKeys = {"name",  "interface",   "tap",  "mode",    "vlan",
                                                "vlans", "native_vlan", "tpid", "max_macs"};
const std::vector<std::string> kLinkYamlKeys = {"name", "between", "vlans", "native_vlan", "tpid"};
const std::vector<std::string> kEndpointYamlKeys = {"name",      "switch",  "vlan", "netns", "interface",
                                                    "addresses", "gateway", "mac",  "mtu",   "container"};
const std::vector<std::string> kContainerYamlKeys = {"image", "command",  "entrypoint", "env",   "workdir",
                                                     "user",  "hostname", "memory",     "cpus",  "cpuset",
                                                     "pids",  "restart",  "read_only",  "mounts"};
const std::vector<std::string> kMountYamlKeys = {"source", "target", "read_only"};

const std::vector<std::string> kVpnYamlKeys = {"name",  "listen_port", "private_key_file", "address", "attach",
                                               "peers", "mtu"};
const std::vector<std::string> kVpnAttachYamlKeys = {"switch", "vlan", "address"};
const std::vector<std::string> kVpnPeerYamlKeys = {"name",     "public_key",           "allowed_ips",
                                                   "endpoint", "persistent_keepalive", "preshared_key_file"};

std::string Idx(const std::string& base, size_t i) { return base + "[" + std::to_string(i) + "]"; }

json LocToJson(const SourceLoc& loc) {
  return json{{"file", loc.file}, {"line", loc.line}, {"fields", loc.field_lines}};
}

json VlanListToJson(const std::vector<uint16_t>& vlans) { return json(vlans); }

json PortRangesToJson(const std::vector<PortRangeDecl>& ranges) {
  json out = json::array();
  for (const PortRangeDecl& r : ranges) out.push_back(json::array({r.lo, r.hi}));
  return out;
}

template <typename T>
json OptionalToJson(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

std::string TypeName(const json& j) { return j.is_null() ? "null" : j.type_name(); }

class JsonReader {
 public:
  explicit JsonReader(Diagnostics& diag) : d_(diag) {}

  void ReadDocument(const json& root, CloudConfig& config) {
    SourceLoc top{"<json>", 0, {}};
    if (!CheckObject(root, "", top, kTopKeys)) return;
    if (auto it = root.find("source"); it != root.end()) ReadString(*it, "source", top, config.source);
    if (!config.source.empty()) top.file = config.source;
    default_file_ = top.file;
    if (auto it = root.find("version"); it != root.end()) {
      uint32_t version = 0;
      if (ReadUint(*it, "version", top, UINT32_MAX, version) && version != 1)
        Report(top, "version", "unsupported version");
    }
    ReadArray(root, "vlans", "vlans", top, config_limits::kMaxVlans,
              [&](const json& j, const std::string& path) { config.vlans.push_back(ReadVlan(j, path)); });
    ReadArray(root, "switches", "switches", top, config_limits::kMaxSwitches,
              [&](const json& j, const std::string& path) { config.switches.push_back(ReadSwitch(j, path)); });
    ReadArray(root, "links", "links", top, config_limits::kMaxLinks,
              [&](const json& j, const std::string& path) { config.links.push_back(ReadLink(j, path)); });
    ReadArray(root, "endpoints", "endpoints", top, config_limits::kMaxEndpoints,
              [&](const json& j, const std::string& path) { config.endpoints.push_back(ReadEndpoint(j, path)); });
    ReadArray(root, "vpns", "vpns", top, config_limits::kMaxVpns,
              [&](const json& j, const std::string& path) { config.vpns.push_back(ReadVpn(j, path)); });
    if (auto it = root.find("router"); it != root.end()) config.router = ReadRouter(*it, "router");
    if (auto it = root.find("firewall"); it != root.end()) config.firewall = ReadFirewall(*it, "firewall");
  }

 private:
  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  void Report(const SourceLoc& at, const std::string& field, const std::string& message) {
    d_.Add(at.file.empty() ? default_file_ : at.file, at.line, field, message);
    d_.Poison(field);
  }

  bool CheckObject(const json& j, const std::string& path, const SourceLoc& at, const std::vector<std::string>& keys) {
    if (!j.is_object()) {
      Report(at, path, "expected an object, got " + TypeName(j));
      return false;
    }
    for (const auto& [key, value] : j.items()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        Report(at, Join(path, key.substr(0, 64)), "unknown key" + DidYouMean(key, keys));
      }
    }
    return true;
  }

  template <typename T>
  bool ReadUint(const json& j, const std::string& field, const SourceLoc& at, uint64_t max, T& out) {
    if (!j.is_number_integer() || (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() < 0)) {
      Report(at, field, "expected a non-negative integer, got " + (j.is_number() ? j.dump() : TypeName(j)));
      return false;
    }
    uint64_t v = j.get<uint64_t>();
    if (v > max) {
      Report(at, field, std::to_string(v) + " out of range 0-" + std::to_string(max));
      return false;
    }
    out = static_cast<T>(v);
    return true;
  }

  bool ReadString(const json& j, const std::string& field, const SourceLoc& at, std::string& out) {
    if (!j.is_string()) {
      Report(at, field, "expected a string, got " + TypeName(j));
      return false;
    }
    const auto& s = j.get_ref<const std::string&>();
    if (s.size() > kMaxStringChars) {
      Report(at, field, "string longer than " + std::to_string(kMaxStringChars) + " characters");
      return false;
    }
    out = s;
    return true;
  }

  template <typename OnItem>
  void ReadArray(const json& obj, const std::string& key, const std::string& field, const SourceLoc& at, size_t max,
                 OnItem&& on_item) {
    auto it = obj.find(key);
    if (it == obj.end()) return;
    if (!it->is_array()) {
      Report(at, field, "expected an array, got " + TypeName(*it));
      return;
    }
    if (it->size() > max) {
      Report(at, field, std::to_string(it->size()) + " entries, at most " + std::to_string(max) + " allowed");
      return;
    }
    for (size_t i = 0; i < it->size(); ++i) on_item((*it)[i], Idx(field, i));
  }

  void ReadVlanList(const json& obj, const std::string& path, const SourceLoc& at, std::vector<uint16_t>& out) {
    ReadArray(obj, "vlans", Join(path, "vlans"), at, config_limits::kMaxVlans,
              [&](const json& j, const std::string& item_path) {
                uint16_t v = 0;
                if (ReadUint(j, item_path, at, UINT16_MAX, v)) out.push_back(v);
              });
  }

  // Reads "loc" first, so later findings about the declaration can name its file and line.
  SourceLoc ReadLoc(const json& obj, const std::string& path, const std::vector<std::string>& yaml_keys) {
    SourceLoc loc{default_file_, 0, {}};
    if (!obj.is_object()) return loc;
    auto it = obj.find("loc");
    if (it == obj.end()) return loc;
    std::string field = Join(path, "loc");
    SourceLoc at = loc;
    if (!CheckObject(*it, field, at, kLocKeys)) return loc;
    std::string file;
    if (auto f = it->find("file"); f != it->end() && ReadString(*f, Join(field, "file"), at, file) && !file.empty()) {
      loc.file = file;
    }
    if (auto l = it->find("line"); l != it->end()) ReadUint(*l, Join(field, "line"), at, kMaxLine, loc.line);
    if (auto fl = it->find("fields"); fl != it->end()) {
      if (!fl->is_object()) {
        Report(at, Join(field, "fields"), "expected an object, got " + TypeName(*fl));
        return loc;
      }
      for (const auto& [key, value] : fl->items()) {
        std::string key_field = Join(Join(field, "fields"), key.substr(0, 64));
        if (std::find(yaml_keys.begin(), yaml_keys.end(), key) == yaml_keys.end()) {
          Report(at, key_field, "unknown key" + DidYouMean(key, yaml_keys));
          continue;
        }
        int line = 0;
        if (ReadUint(value, key_field, at, kMaxLine, line)) loc.field_lines[key] = line;
      }
    }
    return loc;
  }

  VlanDecl ReadVlan(const json& j, const std::string& path) {
    VlanDecl v;
    v.loc = ReadLoc(j, path, kVlanYamlKeys);
    if (!CheckObject(j, path, v.loc, kVlanKeys)) return v;
    if (auto it = j.find("id"); it != j.end()) ReadUint(*it, Join(path, "id"), v.loc, UINT16_MAX, v.id);
    if (auto it = j.find("name"); it != j.end()) ReadString(*it, Join(path, "name"), v.loc, v.name);
    if (auto it = j.find("zone"); it != j.end()) ReadString(*it, Join(path, "zone"), v.loc, v.zone);
    if (auto it = j.find("ipv4"); it != j.end()) ReadString(*it, Join(path, "ipv4"), v.loc, v.ipv4);
    if (auto it = j.find("ipv6"); it != j.end()) ReadString(*it, Join(path, "ipv6"), v.loc, v.ipv6);
    if (auto it = j.find("mtu"); it != j.end()) ReadUint(*it, Join(path, "mtu"), v.loc, UINT32_MAX, v.mtu);
    if (auto it = j.find("dhcp"); it != j.end()) v.dhcp = ReadDhcp(*it, Join(path, "dhcp"));
    return v;
  }

  DhcpDecl ReadDhcp(const json& j, const std::string& path) {
    DhcpDecl d;
    d.loc = ReadLoc(j, path, kDhcpYamlKeys);
    if (!CheckObject(j, path, d.loc, kDhcpKeys)) return d;
    if (auto it = j.find("range"); it != j.end()) ReadString(*it, Join(path, "range"), d.loc, d.range);
    if (auto it = j.find("lease_seconds"); it != j.end()) {
      ReadUint(*it, Join(path, "lease"), d.loc, UINT32_MAX, d.lease_seconds);
    }
    ReadStringArray(j, "dns", path, d.loc, config_limits::kMaxDhcpDns, d.dns);
    if (auto it = j.find("domain"); it != j.end()) ReadString(*it, Join(path, "domain"), d.loc, d.domain);
    ReadArray(j, "reservations", Join(path, "reservations"), d.loc, config_limits::kMaxDhcpReservations,
              [&](const json& item, const std::string& item_path) {
                DhcpReservationDecl r;
                r.loc = ReadLoc(item, item_path, kReservationYamlKeys);
                if (CheckObject(item, item_path, r.loc, kReservationKeys)) {
                  if (auto it = item.find("mac"); it != item.end())
                    ReadString(*it, Join(item_path, "mac"), r.loc, r.mac);
                  if (auto it = item.find("address"); it != item.end()) {
                    ReadString(*it, Join(item_path, "address"), r.loc, r.address);
                  }
                }
                d.reservations.push_back(std::move(r));
              });
    return d;
  }

  // A string field `key` of `j`, if present.
  void ReadStringField(const json& j, const char* key, const std::string& path, const SourceLoc& at, std::string& out) {
    if (auto it = j.find(key); it != j.end()) ReadString(*it, Join(path, key), at, out);
  }

  RouterDecl ReadRouter(const json& j, const std::string& path) {
    RouterDecl r;
    r.loc = ReadLoc(j, path, kRouterYamlKeys);
    if (!CheckObject(j, path, r.loc, kRouterKeys)) return r;
    ReadStringField(j, "switch", path, r.loc, r.switch_name);
    ReadStringField(j, "mac", path, r.loc, r.mac);
    if (auto it = j.find("uplink"); it != j.end() && !it->is_null()) {
      std::string upath = Join(path, "uplink");
      UplinkDecl u;
      u.loc = ReadLoc(*it, upath, kUplinkYamlKeys);
      if (CheckObject(*it, upath, u.loc, kUplinkKeys)) {
        ReadStringField(*it, "interface", upath, u.loc, u.interface);
        ReadStringField(*it, "zone", upath, u.loc, u.zone);
        ReadStringField(*it, "ipv4", upath, u.loc, u.ipv4);
        ReadStringField(*it, "gateway4", upath, u.loc, u.gateway4);
        ReadStringField(*it, "ipv6", upath, u.loc, u.ipv6);
        ReadStringField(*it, "gateway6", upath, u.loc, u.gateway6);
        if (auto f = it->find("mtu"); f != it->end()) ReadUint(*f, Join(upath, "mtu"), u.loc, UINT32_MAX, u.mtu);
      }
      r.uplink = std::move(u);
    }
    ReadArray(j, "routes", Join(path, "routes"), r.loc, config_limits::kMaxStaticRoutes,
              [&](const json& item, const std::string& item_path) {
                StaticRouteDecl rt;
                rt.loc = ReadLoc(item, item_path, kRouteYamlKeys);
                if (CheckObject(item, item_path, rt.loc, kRouteKeys)) {
                  ReadStringField(item, "to", item_path, rt.loc, rt.to);
                  ReadStringField(item, "via", item_path, rt.loc, rt.via);
                }
                r.routes.push_back(std::move(rt));
              });
    ReadStringArray(j, "masquerade", path, r.loc, config_limits::kMaxRuleListEntries, r.masquerade);
    ReadArray(j, "port_forwards", Join(path, "port_forwards"), r.loc, config_limits::kMaxPortForwards,
              [&](const json& item, const std::string& item_path) {
                PortForwardDecl pf;
                pf.loc = ReadLoc(item, item_path, kForwardYamlKeys);
                if (CheckObject(item, item_path, pf.loc, kForwardKeys)) {
                  if (auto it = item.find("proto"); it != item.end()) {
                    ReadUint(*it, Join(item_path, "proto"), pf.loc, UINT8_MAX, pf.proto);
                  }
                  if (auto it = item.find("port"); it != item.end()) {
                    ReadPortRange(*it, Join(item_path, "port"), pf.loc, pf.port);
                  }
                  ReadStringField(item, "to", item_path, pf.loc, pf.to);
                  if (auto it = item.find("to_port"); it != item.end()) {
                    ReadUint(*it, Join(item_path, "to_port"), pf.loc, UINT16_MAX, pf.to_port);
                  }
                }
                r.port_forwards.push_back(std::move(pf));
              });
    return r;
  }

  // [lo, hi].
  bool ReadPortRange(const json& j, const std::string& field, const SourceLoc& at, PortRangeDecl& out) {
    if (!j.is_array() || j.size() != 2) {
      Report(at, field, "expected a port range [lo, hi], got " + TypeName(j));
      return false;
    }
    return ReadUint(j[0], field, at, UINT16_MAX, out.lo) && ReadUint(j[1], field, at, UINT16_MAX, out.hi);
  }

  void ReadPortRanges(const json& obj, const std::string& key, const std::string& path, const SourceLoc& at,
                      std::vector<PortRangeDecl>& out) {
    ReadArray(obj, key, Join(path, key), at, config_limits::kMaxRuleListEntries,
              [&](const json& item, const std::string& item_path) {
                PortRangeDecl r;
                if (ReadPortRange(item, item_path, at, r)) out.push_back(r);
              });
  }

  bool ReadAction(const json& j, const std::string& field, const SourceLoc& at, FirewallActionDecl& out) {
    std::string text;
    if (!ReadString(j, field, at, text)) return false;
    if (text == "accept") {
      out = FirewallActionDecl::kAccept;
    } else if (text == "drop") {
      out = FirewallActionDecl::kDrop;
    } else if (text == "reject") {
      out = FirewallActionDecl::kReject;
    } else {
      Report(at, field, "unknown action: use accept, drop or reject");
      return false;
    }
    return true;
  }

  // An optional small number: absent or null = none.
  void ReadOptionalUint8(const json& obj, const char* key, const std::string& path, const SourceLoc& at,
                         std::optional<uint8_t>& out) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return;
    uint8_t v = 0;
    if (ReadUint(*it, Join(path, key), at, UINT8_MAX, v)) out = v;
  }

  FirewallDecl ReadFirewall(const json& j, const std::string& path) {
    FirewallDecl fw;
    fw.loc = ReadLoc(j, path, kFirewallYamlKeys);
    if (!CheckObject(j, path, fw.loc, kFirewallKeys)) return fw;
    if (auto it = j.find("max_connections"); it != j.end()) {
      ReadUint(*it, Join(path, "max_connections"), fw.loc, UINT32_MAX, fw.max_connections);
    }
    ReadArray(j, "sets", Join(path, "sets"), fw.loc, config_limits::kMaxAddressSets,
              [&](const json& item, const std::string& item_path) {
                AddressSetDecl s;
                s.loc = ReadLoc(item, item_path, kSetYamlKeys);
                if (CheckObject(item, item_path, s.loc, kSetKeys)) {
                  ReadStringField(item, "name", item_path, s.loc, s.name);
                  ReadStringArray(item, "entries", item_path, s.loc, config_limits::kMaxAddressSetEntries, s.entries);
                }
                fw.sets.push_back(std::move(s));
              });
    ReadArray(j, "policies", Join(path, "policies"), fw.loc, config_limits::kMaxFirewallRules,
              [&](const json& item, const std::string& item_path) {
                PolicyDecl p;
                p.loc = ReadLoc(item, item_path, kPolicyYamlKeys);
                if (CheckObject(item, item_path, p.loc, kPolicyKeys)) {
                  ReadStringField(item, "from", item_path, p.loc, p.from);
                  ReadStringField(item, "to", item_path, p.loc, p.to);
                  if (auto it = item.find("action"); it != item.end()) {
                    ReadAction(*it, Join(item_path, "action"), p.loc, p.action);
                  }
                }
                fw.policies.push_back(std::move(p));
              });
    ReadArray(j, "rules", Join(path, "rules"), fw.loc, config_limits::kMaxFirewallRules,
              [&](const json& item, const std::string& item_path) { fw.rules.push_back(ReadRule(item, item_path)); });
    return fw;
  }

  FirewallRuleDecl ReadRule(const json& j, const std::string& path) {
    FirewallRuleDecl r;
    r.loc = ReadLoc(j, path, kRuleYamlKeys);
    if (!CheckObject(j, path, r.loc, kRuleKeys)) return r;
    constexpr size_t kMax = config_limits::kMaxRuleListEntries;
    ReadStringField(j, "name", path, r.loc, r.name);
    ReadStringArray(j, "from", path, r.loc, kMax, r.from);
    ReadStringArray(j, "to", path, r.loc, kMax, r.to);
    ReadStringArray(j, "src", path, r.loc, kMax, r.src);
    ReadStringArray(j, "dst", path, r.loc, kMax, r.dst);
    if (auto it = j.find("family"); it != j.end()) ReadUint(*it, Join(path, "family"), r.loc, UINT8_MAX, r.family);
    ReadOptionalUint8(j, "proto", path, r.loc, r.proto);
    ReadPortRanges(j, "sport", path, r.loc, r.sport);
    ReadPortRanges(j, "dport", path, r.loc, r.dport);
    ReadOptionalUint8(j, "icmp_type", path, r.loc, r.icmp_type);
    ReadOptionalUint8(j, "icmp_code", path, r.loc, r.icmp_code);
    if (auto it = j.find("action"); it != j.end() && !it->is_null()) {
      FirewallActionDecl action{};
      if (ReadAction(*it, Join(path, "action"), r.loc, action)) r.action = action;
    }
    if (auto it = j.find("log"); it != j.end()) {
      if (!it->is_boolean()) {
        Report(r.loc, Join(path, "log"), "expected a boolean, got " + TypeName(*it));
      } else {
        r.log = it->get<bool>();
      }
    }
    return r;
  }

  SwitchDecl ReadSwitch(const json& j, const std::string& path) {
    SwitchDecl sw;
    sw.loc = ReadLoc(j, path, kSwitchYamlKeys);
    if (!CheckObject(j, path, sw.loc, kSwitchKeys)) return sw;
    if (auto it = j.find("name"); it != j.end()) ReadString(*it, Join(path, "name"), sw.loc, sw.name);
    if (auto it = j.find("max_macs"); it != j.end())
      ReadUint(*it, Join(path, "max_macs"), sw.loc, UINT32_MAX, sw.max_macs);
    if (auto it = j.find("port_max_macs"); it != j.end()) {
      ReadUint(*it, Join(path, "port_max_macs"), sw.loc, UINT32_MAX, sw.port_max_macs);
    }
    if (auto it = j.find("mac_aging_seconds"); it != j.end()) {
      ReadUint(*it, Join(path, "mac_aging"), sw.loc, UINT32_MAX, sw.mac_aging_seconds);
    }
    ReadArray(j, "ports", Join(path, "ports"), sw.loc, config_limits::kMaxPortsPerSwitch,
              [&](const json& item, const std::string& item_path) { sw.ports.push_back(ReadPort(item, item_path)); });
    return sw;
  }

  PortDecl ReadPort(const json& j, const std::string& path) {
    PortDecl p;
    p.loc = ReadLoc(j, path, kPortYamlKeys);
    if (!CheckObject(j, path, p.loc, kPortKeys)) return p;
    if (auto it = j.find("name"); it != j.end()) ReadString(*it, Join(path, "name"), p.loc, p.name);
    if (auto it = j.find("interface"); it != j.end()) ReadString(*it, Join(path, "interface"), p.loc, p.interface);
    if (auto it = j.find("tap"); it != j.end()) ReadString(*it, Join(path, "tap"), p.loc, p.tap);
    if (auto it = j.find("mode"); it != j.end()) {
      std::string mode;
      if (ReadString(*it, Join(path, "mode"), p.loc, mode)) {
        if (mode == "access") {
          p.mode = PortModeDecl::kAccess;
        } else if (mode == "trunk") {
          p.mode = PortModeDecl::kTrunk;
        } else if (mode == "dot1q-tunnel") {
          p.mode = PortModeDecl::kDot1qTunnel;
        } else {
          Report(p.loc, Join(path, "mode"), "unknown mode: use access, trunk or dot1q-tunnel");
          for (const char* f : {"vlan", "vlans", "native_vlan", "tpid"}) d_.Poison(Join(path, f));
        }
      }
    }
    if (auto it = j.find("vlan"); it != j.end()) ReadUint(*it, Join(path, "vlan"), p.loc, UINT16_MAX, p.vlan);
    ReadVlanList(j, path, p.loc, p.vlans);
    if (auto it = j.find("native_vlan"); it != j.end()) {
      ReadUint(*it, Join(path, "native_vlan"), p.loc, UINT16_MAX, p.native_vlan);
    }
    if (auto it = j.find("tpid"); it != j.end()) ReadUint(*it, Join(path, "tpid"), p.loc, UINT16_MAX, p.tpid);
    if (auto it = j.find("max_macs"); it != j.end() && !it->is_null()) {
      uint32_t max_macs = 0;
      if (ReadUint(*it, Join(path, "max_macs"), p.loc, UINT32_MAX, max_macs)) p.max_macs = max_macs;
    }
    return p;
  }

  LinkDecl ReadLink(const json& j, const std::string& path) {
    LinkDecl l;
    l.loc = ReadLoc(j, path, kLinkYamlKeys);
    if (!CheckObject(j, path, l.loc, kLinkKeys)) return l;
    if (auto it = j.find("name"); it != j.end()) ReadString(*it, Join(path, "name"), l.loc, l.name);
    if (auto it = j.find("between"); it != j.end()) {
      if (!it->is_array() || it->size() != 2) {
        Report(l.loc, Join(path, "between"), "expected an array of two switch names");
      } else {
        ReadString((*it)[0], Join(path, "between"), l.loc, l.a);
        ReadString((*it)[1], Join(path, "between"), l.loc, l.b);
      }
    }
    ReadVlanList(j, path, l.loc, l.vlans);
    if (auto it = j.find("native_vlan"); it != j.end()) {
      ReadUint(*it, Join(path, "native_vlan"), l.loc, UINT16_MAX, l.native_vlan);
    }
    if (auto it = j.find("tpid"); it != j.end()) ReadUint(*it, Join(path, "tpid"), l.loc, UINT16_MAX, l.tpid);
    return l;
  }

  EndpointDecl ReadEndpoint(const json& j, const std::string& path) {
    EndpointDecl e;
    e.loc = ReadLoc(j, path, kEndpointYamlKeys);
    if (!CheckObject(j, path, e.loc, kEndpointKeys)) return e;
    if (auto it = j.find("name"); it != j.end()) ReadString(*it, Join(path, "name"), e.loc, e.name);
    if (auto it = j.find("switch"); it != j.end()) ReadString(*it, Join(path, "switch"), e.loc, e.switch_name);
    if (auto it = j.find("vlan"); it != j.end()) ReadUint(*it, Join(path, "vlan"), e.loc, UINT16_MAX, e.vlan);
    if (auto it = j.find("netns"); it != j.end()) ReadString(*it, Join(path, "netns"), e.loc, e.netns);
    if (auto it = j.find("interface"); it != j.end()) ReadString(*it, Join(path, "interface"), e.loc, e.interface);
    ReadArray(j, "addresses", Join(path, "addresses"), e.loc, config_limits::kMaxAddressesPerEndpoint,
              [&](const json& item, const std::string& item_path) {
                std::string address;
                if (ReadString(item, item_path, e.loc, address)) e.addresses.push_back(address);
              });
    if (auto it = j.find("gateway"); it != j.end()) ReadString(*it, Join(path, "gateway"), e.loc, e.gateway);
    if (auto it = j.find("mac"); it != j.end()) ReadString(*it, Join(path, "mac"), e.loc, e.mac);
    if (auto it = j.find("mtu"); it != j.end()) ReadUint(*it, Join(path, "mtu"), e.loc, UINT32_MAX, e.mtu);
    if (auto it = j.find("container"); it != j.end() && !it->is_null()) {
      e.container = ReadContainer(*it, Join(path, "container"));
    }
    return e;
  }

  ContainerDecl ReadContainer(const json& j, const std::string& path) {
    ContainerDecl c;
    c.loc = ReadLoc(j, path, kContainerYamlKeys);
    if (!CheckObject(j, path, c.loc, kContainerKeys)) return c;
    ReadStringField(j, "image", path, c.loc, c.image);
    ReadOptionalArgs(j, "command", path, c.loc, c.command);
    ReadOptionalArgs(j, "entrypoint", path, c.loc, c.entrypoint);
    if (auto it = j.find("env"); it != j.end()) {
      std::string field = Join(path, "env");
      if (!it->is_object()) {
        Report(c.loc, field, "expected an object, got " + TypeName(*it));
      } else if (it->size() > config_limits::kMaxContainerEnv) {
        Report(c.loc, field,
               std::to_string(it->size()) + " variables, at most " + std::to_string(config_limits::kMaxContainerEnv) +
                   " allowed");
      } else {
        for (const auto& [name, value] : it->items()) {
          std::string text;
          if (ReadString(value, Join(field, name.substr(0, 64)), c.loc, text)) c.env[name] = text;
        }
      }
    }
    ReadStringField(j, "workdir", path, c.loc, c.workdir);
    ReadOptionalUint32(j, "uid", path, "user", c.loc, c.uid);
    ReadOptionalUint32(j, "gid", path, "user", c.loc, c.gid);
    ReadStringField(j, "hostname", path, c.loc, c.hostname);
    if (auto it = j.find("memory_bytes"); it != j.end()) {
      ReadUint(*it, Join(path, "memory"), c.loc, UINT64_MAX, c.memory_bytes);
    }
    if (auto it = j.find("nano_cpus"); it != j.end()) ReadUint(*it, Join(path, "cpus"), c.loc, UINT64_MAX, c.nano_cpus);
    ReadStringField(j, "cpuset", path, c.loc, c.cpuset);
    if (auto it = j.find("pids"); it != j.end()) ReadUint(*it, Join(path, "pids"), c.loc, UINT32_MAX, c.pids);
    if (auto it = j.find("restart"); it != j.end()) {
      std::string policy;
      if (ReadString(*it, Join(path, "restart"), c.loc, policy)) {
        if (policy == "no") {
          c.restart = RestartPolicyDecl::kNo;
        } else if (policy == "always") {
          c.restart = RestartPolicyDecl::kAlways;
        } else if (policy == "on-failure") {
          c.restart = RestartPolicyDecl::kOnFailure;
        } else {
          Report(c.loc, Join(path, "restart"), "unknown restart policy: use no, always or on-failure");
        }
      }
    }
    ReadBoolField(j, "read_only", path, c.loc, c.read_only);
    ReadArray(j, "mounts", Join(path, "mounts"), c.loc, config_limits::kMaxContainerMounts,
              [&](const json& item, const std::string& item_path) {
                ContainerMountDecl m;
                m.loc = ReadLoc(item, item_path, kMountYamlKeys);
                if (CheckObject(item, item_path, m.loc, kMountKeys)) {
                  ReadStringField(item, "source", item_path, m.loc, m.source);
                  ReadStringField(item, "target", item_path, m.loc, m.target);
                  ReadBoolField(item, "read_only", item_path, m.loc, m.read_only);
                }
                c.mounts.push_back(std::move(m));
              });
    return c;
  }

  // An argument list that may be absent or null (nullopt: the image's), or an array of strings.
  void ReadOptionalArgs(const json& obj, const char* key, const std::string& path, const SourceLoc& at,
                        std::optional<std::vector<std::string>>& out) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return;
    if (!it->is_array()) {
      Report(at, Join(path, key), "expected an array or null, got " + TypeName(*it));
      return;
    }
    out.emplace();
    ReadStringArray(obj, key, path, at, config_limits::kMaxContainerArgs, *out);
  }

  // An optional 32-bit number: absent or null = none. Problems are reported under `yaml_key`.
  void ReadOptionalUint32(const json& obj, const char* key, const std::string& path, const char* yaml_key,
                          const SourceLoc& at, std::optional<uint32_t>& out) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return;
    uint32_t v = 0;
    if (ReadUint(*it, Join(path, yaml_key), at, UINT32_MAX, v)) out = v;
  }

  void ReadBoolField(const json& obj, const char* key, const std::string& path, const SourceLoc& at, bool& out) {
    auto it = obj.find(key);
    if (it == obj.end()) return;
    if (!it->is_boolean()) {
      Report(at, Join(path, key), "expected a boolean, got " + TypeName(*it));
      return;
    }
    out = it->get<bool>();
  }

  void ReadStringArray(const json& obj, const std::string& key, const std::string& path, const SourceLoc& at,
                       size_t max, std::vector<std::string>& out) {
    ReadArray(obj, key, Join(path, key), at, max, [&](const json& item, const std::string& item_path) {
      std::string text;
      if (ReadString(item, item_path, at, text)) out.push_back(text);
    });
  }

  VpnDecl ReadVpn(const json& j, const std::string& path) {
    VpnDecl v;
    v.loc = ReadLoc(j, path, kVpnYamlKeys);
    if (!CheckObject(j, path, v.loc, kVpnKeys)) return v;
    if (auto it = j.find("name"); it != j.end()) ReadString(*it, Join(path, "name"), v.loc, v.name);
    if (auto it = j.find("listen_port"); it != j.end()) {
      ReadUint(*it, Join(path, "listen_port"), v.loc, UINT32_MAX, v.listen_port);
    }
    if (auto it = j.find("private_key_file"); it != j.end()) {
      ReadString(*it, Join(path, "private_key_file"), v.loc, v.private_key_file);
    }
    if (auto it = j.find("address"); it != j.end()) ReadString(*it, Join(path, "address"), v.loc, v.address);
    if (auto it = j.find("mtu"); it != j.end()) ReadUint(*it, Join(path, "mtu"), v.loc, UINT32_MAX, v.mtu);
    if (auto it = j.find("attach"); it != j.end()) {
      std::string apath = Join(path, "attach");
      VpnAttachDecl& a = v.attach;
      a.loc = ReadLoc(*it, apath, kVpnAttachYamlKeys);
      if (CheckObject(*it, apath, a.loc, kVpnAttachKeys)) {
        if (auto f = it->find("switch"); f != it->end()) ReadString(*f, Join(apath, "switch"), a.loc, a.switch_name);
        if (auto f = it->find("vlan"); f != it->end()) ReadUint(*f, Join(apath, "vlan"), a.loc, UINT16_MAX, a.vlan);
        if (auto f = it->find("address"); f != it->end()) ReadString(*f, Join(apath, "address"), a.loc, a.address);
      }
    }
    ReadArray(j, "peers", Join(path, "peers"), v.loc, config_limits::kMaxPeersPerVpn,
              [&](const json& item, const std::string& item_path) { v.peers.push_back(ReadVpnPeer(item, item_path)); });
    return v;
  }

  VpnPeerDecl ReadVpnPeer(const json& j, const std::string& path) {
    VpnPeerDecl p;
    p.loc = ReadLoc(j, path, kVpnPeerYamlKeys);
    if (!CheckObject(j, path, p.loc, kVpnPeerKeys)) return p;
    if (auto it = j.find("name"); it != j.end()) ReadString(*it, Join(path, "name"), p.loc, p.name);
    if (auto it = j.find("public_key"); it != j.end()) ReadString(*it, Join(path, "public_key"), p.loc, p.public_key);
    ReadStringArray(j, "allowed_ips", path, p.loc, config_limits::kMaxAllowedIpsPerPeer, p.allowed_ips);
    if (auto it = j.find("endpoint"); it != j.end()) ReadString(*it, Join(path, "endpoint"), p.loc, p.endpoint);
    if (auto it = j.find("persistent_keepalive"); it != j.end()) {
      ReadUint(*it, Join(path, "persistent_keepalive"), p.loc, UINT32_MAX, p.persistent_keepalive);
    }
    if (auto it = j.find("preshared_key_file"); it != j.end()) {
      ReadString(*it, Join(path, "preshared_key_file"), p.loc, p.preshared_key_file);
    }
    return p;
  }

  Diagnostics& d_;
  std::string default_file_ = "<json>";
};

template <typename T>
json OptionalListToJson(const std::optional<std::vector<T>>& v) {
  return v ? json(*v) : json(nullptr);
}

json ContainerToJson(const ContainerDecl& c) {
  json mounts = json::array();
  for (const ContainerMountDecl& m : c.mounts) {
    mounts.push_back(
        {{"source", m.source}, {"target", m.target}, {"read_only", m.read_only}, {"loc", LocToJson(m.loc)}});
  }
  return {{"image", c.image},
          {"command", OptionalListToJson(c.command)},
          {"entrypoint", OptionalListToJson(c.entrypoint)},
          {"env", json(c.env)},
          {"workdir", c.workdir},
          {"uid", OptionalToJson(c.uid)},
          {"gid", OptionalToJson(c.gid)},
          {"hostname", c.hostname},
          {"memory_bytes", c.memory_bytes},
          {"nano_cpus", c.nano_cpus},
          {"cpuset", c.cpuset},
          {"pids", c.pids},
          {"restart", RestartPolicyName(c.restart)},
          {"read_only", c.read_only},
          {"mounts", std::move(mounts)},
          {"loc", LocToJson(c.loc)}};
}

json RouterToJson(const RouterDecl& r) {
  json routes = json::array();
  for (const StaticRouteDecl& rt : r.routes)
    routes.push_back({{"to", rt.to}, {"via", rt.via}, {"loc", LocToJson(rt.loc)}});
  json forwards = json::array();
  for (const PortForwardDecl& pf : r.port_forwards) {
    forwards.push_back({{"proto", pf.proto},
                        {"port", json::array({pf.port.lo, pf.port.hi})},
                        {"to", pf.to},
                        {"to_port", pf.to_port},
                        {"loc", LocToJson(pf.loc)}});
  }
  json out{{"switch", r.switch_name},
           {"mac", r.mac},
           {"routes", std::move(routes)},
           {"masquerade", r.masquerade},
           {"port_forwards", std::move(forwards)},
           {"loc", LocToJson(r.loc)}};
  if (r.uplink) {
    const UplinkDecl& u = *r.uplink;
    out["uplink"] = {{"interface", u.interface}, {"zone", u.zone},         {"ipv4", u.ipv4}, {"gateway4", u.gateway4},
                     {"ipv6", u.ipv6},           {"gateway6", u.gateway6}, {"mtu", u.mtu},   {"loc", LocToJson(u.loc)}};
  }
  return out;
}

json FirewallToJson(const FirewallDecl& fw) {
  json sets = json::array();
  for (const AddressSetDecl& s : fw.sets)
    sets.push_back({{"name", s.name}, {"entries", s.entries}, {"loc", LocToJson(s.loc)}});
  json policies = json::array();
  for (const PolicyDecl& p : fw.policies) {
    policies.push_back(
        {{"from", p.from}, {"to", p.to}, {"action", FirewallActionName(p.action)}, {"loc", LocToJson(p.loc)}});
  }
  json rules = json::array();
  for (const FirewallRuleDecl& r : fw.rules) {
    rules.push_back({{"name", r.name},
                     {"from", r.from},
                     {"to", r.to},
                     {"src", r.src},
                     {"dst", r.dst},
                     {"family", r.family},
                     {"proto", OptionalToJson(r.proto)},
                     {"sport", PortRangesToJson(r.sport)},
                     {"dport", PortRangesToJson(r.dport)},
                     {"icmp_type", OptionalToJson(r.icmp_type)},
                     {"icmp_code", OptionalToJson(r.icmp_code)},
                     {"action", r.action ? json(FirewallActionName(*r.action)) : json(nullptr)},
                     {"log", r.log},
                     {"loc", LocToJson(r.loc)}});
  }
  return {{"max_connections", fw.max_connections},
          {"sets", std::move(sets)},
          {"policies", std::move(policies)},
          {"rules", std::move(rules)},
          {"loc", LocToJson(fw.loc)}};
}

}  // namespace

nlohmann::json ToJson(const CloudConfig& config) {
  json vlans = json::array();
  for (const VlanDecl& v : config.vlans) {
    json vlan{{"id", v.id}, {"name", v.name}, {"loc", LocToJson(v.loc)}};
    // L3 keys only when set, so the recorded form of switching-only configs stays as it was.
    if (!v.zone.empty()) vlan["zone"] = v.zone;
    if (!v.ipv4.empty()) vlan["ipv4"] = v.ipv4;
    if (!v.ipv6.empty()) vlan["ipv6"] = v.ipv6;
    if (v.mtu != VlanDecl{}.mtu) vlan["mtu"] = v.mtu;
    if (v.dhcp) {
      json reservations = json::array();
      for (const DhcpReservationDecl& r : v.dhcp->reservations) {
        reservations.push_back({{"mac", r.mac}, {"address", r.address}, {"loc", LocToJson(r.loc)}});
      }
      vlan["dhcp"] = {
          {"range", v.dhcp->range},   {"lease_seconds", v.dhcp->lease_seconds},  {"dns", v.dhcp->dns},
          {"domain", v.dhcp->domain}, {"reservations", std::move(reservations)}, {"loc", LocToJson(v.dhcp->loc)}};
    }
    vlans.push_back(std::move(vlan));
  }

  json switches = json::array();
  for (const SwitchDecl& sw : config.switches) {
    json ports = json::array();
    for (const PortDecl& p : sw.ports) {
      ports.push_back({{"name", p.name},
                       {"interface", p.interface},
                       {"tap", p.tap},
                       {"mode", PortModeName(p.mode)},
                       {"vlan", p.vlan},
                       {"vlans", VlanListToJson(p.vlans)},
                       {"native_vlan", p.native_vlan},
                       {"tpid", p.tpid},
                       {"max_macs", p.max_macs ? json(*p.max_macs) : json(nullptr)},
                       {"loc", LocToJson(p.loc)}});
    }
    switches.push_back({{"name", sw.name},
                        {"max_macs", sw.max_macs},
                        {"port_max_macs", sw.port_max_macs},
                        {"mac_aging_seconds", sw.mac_aging_seconds},
                        {"ports", std::move(ports)},
                        {"loc", LocToJson(sw.loc)}});
  }

  json links = json::array();
  for (const LinkDecl& l : config.links) {
    links.push_back({{"name", l.name},
                     {"between", json::array({l.a, l.b})},
                     {"vlans", VlanListToJson(l.vlans)},
                     {"native_vlan", l.native_vlan},
                     {"tpid", l.tpid},
                     {"loc", LocToJson(l.loc)}});
  }

  json endpoints = json::array();
  for (const EndpointDecl& e : config.endpoints) {
    json endpoint{{"name", e.name},
                  {"switch", e.switch_name},
                  {"vlan", e.vlan},
                  {"netns", e.netns},
                  {"interface", e.interface},
                  {"addresses", e.addresses},
                  {"gateway", e.gateway},
                  {"mac", e.mac},
                  {"mtu", e.mtu},
                  {"loc", LocToJson(e.loc)}};
    // Only written when present, so the recorded form of endpoints without a container stays as it was.
    if (e.container) endpoint["container"] = ContainerToJson(*e.container);
    endpoints.push_back(std::move(endpoint));
  }

  json vpns = json::array();
  for (const VpnDecl& v : config.vpns) {
    json peers = json::array();
    for (const VpnPeerDecl& p : v.peers) {
      peers.push_back({{"name", p.name},
                       {"public_key", p.public_key},
                       {"allowed_ips", p.allowed_ips},
                       {"endpoint", p.endpoint},
                       {"persistent_keepalive", p.persistent_keepalive},
                       {"preshared_key_file", p.preshared_key_file},
                       {"loc", LocToJson(p.loc)}});
    }
    vpns.push_back({{"name", v.name},
                    {"listen_port", v.listen_port},
                    {"private_key_file", v.private_key_file},
                    {"address", v.address},
                    {"attach",
                     {{"switch", v.attach.switch_name},
                      {"vlan", v.attach.vlan},
                      {"address", v.attach.address},
                      {"loc", LocToJson(v.attach.loc)}}},
                    {"peers", std::move(peers)},
                    {"mtu", v.mtu},
                    {"loc", LocToJson(v.loc)}});
  }

  json out{{"version", 1},
           {"source", config.source},
           {"vlans", std::move(vlans)},
           {"switches", std::move(switches)},
           {"links", std::move(links)},
           {"endpoints", std::move(endpoints)}};
  // Only written when present, so the recorded form of configs without VPNs stays as it was.
  if (!config.vpns.empty()) out["vpns"] = std::move(vpns);
  if (config.router) out["router"] = RouterToJson(*config.router);
  if (config.firewall) out["firewall"] = FirewallToJson(*config.firewall);
  return out;
}

Result<CloudConfig> FromJson(const nlohmann::json& json) {
  Diagnostics diag;
  CloudConfig config;
  JsonReader(diag).ReadDocument(json, config);
  config_internal::ApplyDefaults(config);
  config_internal::CheckModel(config, diag);
  CL_RETURN_IF_ERROR(diag.ToStatus());
  return config;
}

}  // namespace cloudlet

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

const std::vector<std::string> kTopKeys = {"version", "source", "vlans", "switches", "links", "endpoints", "vpns"};
const std::vector<std::string> kVlanKeys = {"id", "name", "loc"};
const std::vector<std::string> kSwitchKeys = {"name", "max_macs", "port_max_macs", "mac_aging_seconds", "ports", "loc"};
const std::vector<std::string> kPortKeys = {"name",  "interface",   "tap",  "mode",     "vlan",
                                            "vlans", "native_vlan", "tpid", "max_macs", "loc"};
const std::vector<std::string> kLinkKeys = {"name", "between", "vlans", "native_vlan", "tpid", "loc"};
const std::vector<std::string> kEndpointKeys = {"name",      "switch",  "vlan", "netns", "interface",
                                                "addresses", "gateway", "mac",  "mtu",   "loc"};
const std::vector<std::string> kVpnKeys = {"name", "listen_port", "private_key_file", "address", "attach", "peers",
                                           "mtu",  "loc"};
const std::vector<std::string> kVpnAttachKeys = {"switch", "vlan", "address", "loc"};
const std::vector<std::string> kVpnPeerKeys = {
    "name", "public_key", "allowed_ips", "endpoint", "persistent_keepalive", "preshared_key_file", "loc"};
const std::vector<std::string> kLocKeys = {"file", "line", "fields"};
// Keys SourceLoc::field_lines may name: the YAML keys of each declaration.
const std::vector<std::string> kVlanYamlKeys = {"id", "name"};
const std::vector<std::string> kSwitchYamlKeys = {"name", "max_macs", "port_max_macs", "mac_aging", "ports"};
const std::vector<std::string> kPortYamlKeys = {"name",  "interface",   "tap",  "mode",    "vlan",
                                                "vlans", "native_vlan", "tpid", "max_macs"};
const std::vector<std::string> kLinkYamlKeys = {"name", "between", "vlans", "native_vlan", "tpid"};
const std::vector<std::string> kEndpointYamlKeys = {"name",      "switch",  "vlan", "netns", "interface",
                                                    "addresses", "gateway", "mac",  "mtu"};

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
    return v;
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
    return e;
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

}  // namespace

nlohmann::json ToJson(const CloudConfig& config) {
  json vlans = json::array();
  for (const VlanDecl& v : config.vlans) vlans.push_back({{"id", v.id}, {"name", v.name}, {"loc", LocToJson(v.loc)}});

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
    endpoints.push_back({{"name", e.name},
                         {"switch", e.switch_name},
                         {"vlan", e.vlan},
                         {"netns", e.netns},
                         {"interface", e.interface},
                         {"addresses", e.addresses},
                         {"gateway", e.gateway},
                         {"mac", e.mac},
                         {"mtu", e.mtu},
                         {"loc", LocToJson(e.loc)}});
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

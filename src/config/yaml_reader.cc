// The YAML reader: turns a cloudlet YAML document into a CloudConfig, reporting unknown keys, wrong types and
// out-of-range values with the line yaml-cpp saw them on; the model checks (validate.cc) then do the rest.
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include "base/fd.h"
#include "config/config.h"
#include "config/internal.h"

namespace cloudlet {

namespace {

using config_internal::Diagnostics;
using config_internal::DidYouMean;

constexpr uint16_t kMaxVlanId = 4094;
// What the reader may visit and copy. A plain 1 MiB document stays well below; aliases could make the walk revisit
// shared subtrees (and copy shared strings) many times over.
constexpr size_t kVisitBudget = 1 << 18;
constexpr size_t kCopyBudgetBytes = 16 << 20;
// Longer than any name, address or duration.
constexpr size_t kMaxScalarChars = 1024;
// yaml-cpp parses recursively: refuse nesting deep enough to threaten the stack before handing it the text.
constexpr size_t kMaxFlowDepth = 64;
constexpr size_t kMaxIndent = 256;

const std::vector<std::string> kTopKeys = {"version",   "vlans", "switches", "links",
                                           "endpoints", "vpns",  "router",   "firewall"};
const std::vector<std::string> kVlanKeys = {"id", "name", "zone", "ipv4", "ipv6", "mtu", "dhcp"};
const std::vector<std::string> kDhcpKeys = {"range", "lease", "dns", "domain", "reservations"};
const std::vector<std::string> kReservationKeys = {"mac", "address"};
const std::vector<std::string> kRouterKeys = {"switch", "mac", "uplink", "routes", "masquerade", "port_forwards"};
const std::vector<std::string> kUplinkKeys = {"interface", "zone", "ipv4", "gateway4", "ipv6", "gateway6", "mtu"};
const std::vector<std::string> kRouteKeys = {"to", "via"};
const std::vector<std::string> kForwardKeys = {"proto", "port", "to", "to_port"};
const std::vector<std::string> kFirewallKeys = {"max_connections", "sets", "policies", "rules"};
const std::vector<std::string> kPolicyKeys = {"from", "to", "action"};
const std::vector<std::string> kRuleKeys = {"name",  "from",  "to",        "src",       "dst",    "family", "proto",
                                            "sport", "dport", "icmp_type", "icmp_code", "action", "log"};
const std::vector<std::string> kActions = {"accept", "drop", "reject"};
const std::vector<std::string> kSwitchKeys = {"name", "max_macs", "port_max_macs", "mac_aging", "ports"};
const std::vector<std::string> kPortKeys = {"name",  "interface",   "tap",  "mode",    "vlan",
                                            "vlans", "native_vlan", "tpid", "max_macs"};
const std::vector<std::string> kLinkKeys = {"name", "between", "vlans", "native_vlan", "tpid"};
const std::vector<std::string> kEndpointKeys = {"name",      "switch",  "vlan", "netns", "interface",
                                                "addresses", "gateway", "mac",  "mtu",   "container"};
const std::vector<std::string> kContainerKeys = {"image", "command",  "entrypoint", "env",   "workdir",
                                                 "user",  "hostname", "memory",     "cpus",  "cpuset",
                                                 "pids",  "restart",  "read_only",  "mounts"};
const std::vector<std::string> kMountKeys = {"source", "target", "read_only"};
const std::vector<std::string> kRestartPolicies = {"no", "always", "on-failure"};
const std::vector<std::string> kVpnKeys = {"name",  "listen_port", "private_key_file", "address", "attach",
                                           "peers", "mtu"};
const std::vector<std::string> kVpnAttachKeys = {"switch", "vlan", "address"};
const std::vector<std::string> kVpnPeerKeys = {"name",     "public_key",           "allowed_ips",
                                               "endpoint", "persistent_keepalive", "preshared_key_file"};
const std::vector<std::string> kModes = {"access", "trunk", "dot1q-tunnel"};

std::string Idx(const std::string& base, size_t i) { return base + "[" + std::to_string(i) + "]"; }

std::string Clip(const std::string& s) { return s.size() > 64 ? s.substr(0, 64) + "..." : s; }

std::string Describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return "'" + Clip(n.Scalar()) + "'";
    default:
      return "nothing";
  }
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Parses "[+-]digits" into a wide signed value; nullopt if not an integer. Saturates far beyond any valid range.
std::optional<int64_t> ParseInteger(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.size() > 32 || !IsDigits(s)) return std::nullopt;
  if (s.size() > 15) return negative ? INT64_MIN / 2 : INT64_MAX / 2;
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return negative ? -v : v;
}

// Returns the line of the first construct nested too deeply for yaml-cpp's recursive parser, or 0.
int FindExcessiveNesting(std::string_view text) {
  size_t depth = 0;
  int line = 1;
  size_t indent = 0;
  bool at_line_start = true;
  for (char c : text) {
    if (c == '\n') {
      ++line;
      indent = 0;
      at_line_start = true;
      continue;
    }
    if (at_line_start) {
      if (c == ' ' || c == '\t' || c == '-' || c == '?' || c == ':') {
        if (++indent > kMaxIndent) return line;
      } else {
        at_line_start = false;
      }
    }
    if (c == '[' || c == '{') {
      if (++depth > kMaxFlowDepth) return line;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return 0;
}

// Records where each document starts and whether it holds anything, without building nodes.
class DocumentCounter : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  std::vector<bool> has_content;

  void OnDocumentStart(const YAML::Mark& mark) override {
    starts.push_back(mark);
    has_content.push_back(false);
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { Content(); }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override { Content(); }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    Content();
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    Content();
  }
  void OnMapEnd() override {}

 private:
  void Content() {
    if (!has_content.empty()) has_content.back() = true;
  }
};

class YamlReader {
 public:
  YamlReader(std::string file, Diagnostics& diag) : file_(std::move(file)), d_(diag) {}

  void ReadDocument(const YAML::Node& root, CloudConfig& config) {
    ForEachKey(root, "", 1, kTopKeys, nullptr, [&](const std::string& key, const YAML::Node& v, int line) {
      if (key == "version") {
        auto version = ParseInteger(v.IsScalar() ? v.Scalar() : "");
        if (version != 1) {
          Fail(line, "version", "unsupported version " + Describe(v) + ": this cloudlet reads version 1");
        }
      } else if (key == "vlans") {
        ForEachItem(v, "vlans", line, config_limits::kMaxVlans,
                    [&](const YAML::Node& item, const std::string& path, int item_line) {
                      config.vlans.push_back(ReadVlan(item, path, item_line));
                    });
      } else if (key == "switches") {
        ForEachItem(v, "switches", line, config_limits::kMaxSwitches,
                    [&](const YAML::Node& item, const std::string& path, int item_line) {
                      config.switches.push_back(ReadSwitch(item, path, item_line));
                    });
      } else if (key == "links") {
        ForEachItem(v, "links", line, config_limits::kMaxLinks,
                    [&](const YAML::Node& item, const std::string& path, int item_line) {
                      config.links.push_back(ReadLink(item, path, item_line));
                    });
      } else if (key == "endpoints") {
        ForEachItem(v, "endpoints", line, config_limits::kMaxEndpoints,
                    [&](const YAML::Node& item, const std::string& path, int item_line) {
                      config.endpoints.push_back(ReadEndpoint(item, path, item_line));
                    });
      } else if (key == "vpns") {
        ForEachItem(v, "vpns", line, config_limits::kMaxVpns,
                    [&](const YAML::Node& item, const std::string& path, int item_line) {
                      config.vpns.push_back(ReadVpn(item, path, item_line));
                    });
      } else if (key == "router") {
        config.router = ReadRouter(v, "router", line);
      } else if (key == "firewall") {
        config.firewall = ReadFirewall(v, "firewall", line);
      }
    });
  }

 private:
  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static int LineOf(const YAML::Node& n, int fallback) {
    int line = n.Mark().line;
    return line >= 0 ? line + 1 : fallback;
  }
  void Fail(int line, const std::string& field, const std::string& message) {
    d_.Add(file_, line, field, message);
    d_.Poison(field);
  }
  bool Spend() {
    if (budget_ > 0) {
      --budget_;
      return true;
    }
    if (!exhausted_) d_.Add(file_, 0, "", "configuration too large (too many nodes, or aliases reused too often)");
    exhausted_ = true;
    return false;
  }
  SourceLoc Loc(int line) const { return SourceLoc{file_, line, {}}; }

  // Walks a mapping: rejects unknown and repeated keys, records each key's line in `loc`, calls on_key per key.
  template <typename OnKey>
  void ForEachKey(const YAML::Node& node, const std::string& path, int line, const std::vector<std::string>& keys,
                  SourceLoc* loc, OnKey&& on_key) {
    if (!node.IsMap()) {
      Fail(line, path, "expected a mapping (key: value lines), got " + Describe(node));
      return;
    }
    std::vector<std::pair<std::string, int>> seen;
    for (const auto& kv : node) {
      if (!Spend()) return;
      const YAML::Node& key_node = kv.first;
      int key_line = LineOf(key_node, line);
      if (!key_node.IsScalar()) {
        d_.Add(file_, key_line, path, "keys must be plain words, got " + Describe(key_node));
        continue;
      }
      const std::string& key = key_node.Scalar();
      std::string field = Join(path, Clip(key));
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        d_.Add(file_, key_line, field, "unknown key" + DidYouMean(key, keys));
        continue;
      }
      auto first = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == key; });
      if (first != seen.end()) {
        d_.Add(file_, key_line, field, "duplicate key (first at line " + std::to_string(first->second) + ")");
        continue;
      }
      seen.emplace_back(key, key_line);
      if (loc) loc->field_lines[key] = key_line;
      on_key(key, kv.second, key_line);
    }
  }

  // Walks a list (an absent value counts as empty), at most `max` items.
  template <typename OnItem>
  void ForEachItem(const YAML::Node& node, const std::string& field, int line, size_t max, OnItem&& on_item) {
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      Fail(line, field, "expected a list (lines starting with '- ', or [a, b]), got " + Describe(node));
      return;
    }
    if (node.size() > max) {
      d_.Add(file_, line, field, std::to_string(node.size()) + " entries, at most " + std::to_string(max) + " allowed");
    }
    size_t i = 0;
    for (const YAML::Node& item : node) {
      if (i >= max || !Spend()) return;
      on_item(item, Idx(field, i), LineOf(item, line));
      ++i;
    }
  }

  std::string ReadString(const YAML::Node& v, const std::string& field, int line) {
    if (!v.IsScalar()) {
      Fail(line, field, "expected a string, got " + Describe(v));
      return "";
    }
    const std::string& text = v.Scalar();
    if (text.size() > kMaxScalarChars) {
      Fail(line, field, "longer than " + std::to_string(kMaxScalarChars) + " characters");
      return "";
    }
    if (text.size() > copy_budget_) {
      if (!exhausted_) d_.Add(file_, 0, "", "configuration too large (aliases reused too often)");
      exhausted_ = true;
      return "";
    }
    copy_budget_ -= text.size();
    return text;
  }

  // An integer in lo..hi; on failure reports, poisons the field and returns nullopt.
  std::optional<uint32_t> ReadUint(const YAML::Node& v, const std::string& field, int line, uint32_t lo, uint32_t hi) {
    auto value = v.IsScalar() ? ParseInteger(v.Scalar()) : std::nullopt;
    if (!value) {
      Fail(line, field, "expected an integer, got " + Describe(v));
      return std::nullopt;
    }
    if (*value < lo || *value > hi) {
      Fail(line, field, Clip(v.Scalar()) + " out of range " + std::to_string(lo) + "-" + std::to_string(hi));
      return std::nullopt;
    }
    return static_cast<uint32_t>(*value);
  }

  uint16_t ReadVlanId(const YAML::Node& v, const std::string& field, int line, uint16_t lo = 1) {
    return static_cast<uint16_t>(ReadUint(v, field, line, lo, kMaxVlanId).value_or(0));
  }

  // [10, 20, "100-110"]: ids and inclusive ranges, expanded in order.
  std::vector<uint16_t> ReadVlanList(const YAML::Node& v, const std::string& field, int line) {
    std::vector<uint16_t> out;
    ForEachItem(v, field, line, config_limits::kMaxVlans,
                [&](const YAML::Node& item, const std::string& path, int item_line) {
                  std::string_view text = item.IsScalar() ? std::string_view(item.Scalar()) : std::string_view();
                  size_t dash = text.find('-', 1);
                  if (dash == std::string::npos) {
                    auto id = ReadUint(item, path, item_line, 1, kMaxVlanId);
                    if (id && vlan_entry_budget_ > 0) {
                      --vlan_entry_budget_;
                      out.push_back(static_cast<uint16_t>(*id));
                    }
                    return;
                  }
                  auto first = ParseInteger(text.substr(0, dash));
                  auto last = ParseInteger(text.substr(dash + 1));
                  if (!first || !last) {
                    Fail(item_line, path, "expected a VLAN id or a range like \"100-110\", got " + Describe(item));
                    return;
                  }
                  if (*first < 1 || *last > kMaxVlanId || *first > *last) {
                    Fail(item_line, path,
                         "range " + Clip(std::string(text.substr(0, 65))) + " must be ascending within 1-4094");
                    return;
                  }
                  auto count = static_cast<size_t>(*last - *first + 1);
                  if (out.size() + count > config_limits::kMaxVlans) {
                    Fail(item_line, path, "a list holds at most 4094 VLANs");
                    return;
                  }
                  if (count > vlan_entry_budget_) {
                    Fail(item_line, path,
                         "VLAN lists hold at most " + std::to_string(config_limits::kMaxVlanListEntries) +
                             " entries in all, across the configuration");
                    return;
                  }
                  vlan_entry_budget_ -= count;
                  for (int64_t id = *first; id <= *last; ++id) out.push_back(static_cast<uint16_t>(id));
                });
    // Every item was wrong and reported: "vlans: required" would only repeat that.
    if (out.empty() && v.IsSequence() && v.size() > 0) Poison(field);
    return out;
  }

  uint16_t ReadTpid(const YAML::Node& v, const std::string& field, int line) {
    std::string text = v.IsScalar() && v.Scalar().size() < 16 ? v.Scalar() : "";
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    if (text == "802.1q" || text == "0x8100") return config_tpid::k8021Q;
    if (text == "802.1ad" || text == "0x88a8") return config_tpid::k8021AD;
    Fail(line, field, "unknown tpid " + Describe(v) + ": use 802.1q (0x8100) or 802.1ad (0x88a8, QinQ)");
    return config_tpid::k8021Q;
  }

  // Seconds as an integer, or a duration string: "300s", "5m", "1h", "1d".
  std::optional<uint32_t> ReadDuration(const YAML::Node& v, const std::string& field, int line, uint32_t lo,
                                       uint32_t hi) {
    std::string text = v.IsScalar() && v.Scalar().size() < 32 ? v.Scalar() : "";
    if (IsDigits(text)) return ReadUint(v, field, line, lo, hi);
    uint64_t unit = 0;
    if (!text.empty()) {
      switch (text.back()) {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        default:
          break;
      }
    }
    std::string number = text.substr(0, text.empty() ? 0 : text.size() - 1);
    if (unit == 0 || !IsDigits(number)) {
      Fail(line, field, "expected seconds (300) or a duration (\"300s\", \"5m\", \"1h\"), got " + Describe(v));
      return std::nullopt;
    }
    uint64_t seconds = number.size() > 9 ? UINT64_MAX / 2 : std::stoull(number) * unit;
    if (seconds < lo || seconds > hi) {
      Fail(line, field, Clip(text) + " out of range " + std::to_string(lo) + "-" + std::to_string(hi) + " seconds");
      return std::nullopt;
    }
    return static_cast<uint32_t>(seconds);
  }

  VlanDecl ReadVlan(const YAML::Node& node, const std::string& path, int line) {
    VlanDecl vlan;
    vlan.loc = Loc(line);
    ForEachKey(node, path, line, kVlanKeys, &vlan.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "id") vlan.id = ReadVlanId(v, field, l);
      if (key == "name") vlan.name = ReadString(v, field, l);
      if (key == "zone") vlan.zone = ReadString(v, field, l);
      if (key == "ipv4") vlan.ipv4 = ReadString(v, field, l);
      if (key == "ipv6") vlan.ipv6 = ReadString(v, field, l);
      if (key == "mtu") {
        vlan.mtu = ReadUint(v, field, l, config_limits::kMinMtu, config_limits::kMaxMtu).value_or(vlan.mtu);
      }
      if (key == "dhcp") vlan.dhcp = ReadDhcp(v, field, l);
    });
    return vlan;
  }

  DhcpDecl ReadDhcp(const YAML::Node& node, const std::string& path, int line) {
    DhcpDecl dhcp;
    dhcp.loc = Loc(line);
    ForEachKey(node, path, line, kDhcpKeys, &dhcp.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "range") {
        dhcp.range = ReadString(v, field, l);
      } else if (key == "lease") {
        dhcp.lease_seconds =
            ReadDuration(v, field, l, config_limits::kMinDhcpLeaseSeconds, config_limits::kMaxDhcpLeaseSeconds)
                .value_or(dhcp.lease_seconds);
      } else if (key == "dns") {
        dhcp.dns = ReadOneOrList(v, field, l, config_limits::kMaxDhcpDns);
      } else if (key == "domain") {
        dhcp.domain = ReadString(v, field, l);
      } else if (key == "reservations") {
        ForEachItem(v, field, l, config_limits::kMaxDhcpReservations,
                    [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                      DhcpReservationDecl r;
                      r.loc = Loc(item_line);
                      ForEachKey(item, item_path, item_line, kReservationKeys, &r.loc,
                                 [&](const std::string& rkey, const YAML::Node& rv, int rl) {
                                   std::string rfield = Join(item_path, rkey);
                                   if (rkey == "mac") r.mac = ReadString(rv, rfield, rl);
                                   if (rkey == "address") r.address = ReadString(rv, rfield, rl);
                                 });
                      dhcp.reservations.push_back(std::move(r));
                    });
      }
    });
    return dhcp;
  }

  RouterDecl ReadRouter(const YAML::Node& node, const std::string& path, int line) {
    RouterDecl router;
    router.loc = Loc(line);
    ForEachKey(node, path, line, kRouterKeys, &router.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "switch") {
        router.switch_name = ReadString(v, field, l);
      } else if (key == "mac") {
        router.mac = ReadString(v, field, l);
      } else if (key == "uplink") {
        router.uplink = ReadUplink(v, field, l);
      } else if (key == "routes") {
        ForEachItem(v, field, l, config_limits::kMaxStaticRoutes,
                    [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                      StaticRouteDecl r;
                      r.loc = Loc(item_line);
                      ForEachKey(item, item_path, item_line, kRouteKeys, &r.loc,
                                 [&](const std::string& rkey, const YAML::Node& rv, int rl) {
                                   std::string rfield = Join(item_path, rkey);
                                   if (rkey == "to") r.to = ReadString(rv, rfield, rl);
                                   if (rkey == "via") r.via = ReadString(rv, rfield, rl);
                                 });
                      router.routes.push_back(std::move(r));
                    });
      } else if (key == "masquerade") {
        router.masquerade = ReadOneOrList(v, field, l, config_limits::kMaxRuleListEntries);
      } else if (key == "port_forwards") {
        ForEachItem(v, field, l, config_limits::kMaxPortForwards,
                    [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                      router.port_forwards.push_back(ReadPortForward(item, item_path, item_line));
                    });
      }
    });
    return router;
  }

  UplinkDecl ReadUplink(const YAML::Node& node, const std::string& path, int line) {
    UplinkDecl up;
    up.loc = Loc(line);
    ForEachKey(node, path, line, kUplinkKeys, &up.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "interface") up.interface = ReadString(v, field, l);
      if (key == "zone") up.zone = ReadString(v, field, l);
      if (key == "ipv4") up.ipv4 = ReadString(v, field, l);
      if (key == "gateway4") up.gateway4 = ReadString(v, field, l);
      if (key == "ipv6") up.ipv6 = ReadString(v, field, l);
      if (key == "gateway6") up.gateway6 = ReadString(v, field, l);
      if (key == "mtu") up.mtu = ReadUint(v, field, l, config_limits::kMinMtu, config_limits::kMaxMtu).value_or(up.mtu);
    });
    return up;
  }

  PortForwardDecl ReadPortForward(const YAML::Node& node, const std::string& path, int line) {
    PortForwardDecl pf;
    pf.loc = Loc(line);
    ForEachKey(node, path, line, kForwardKeys, &pf.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "proto") {
        std::string proto = ReadString(v, field, l);
        if (proto == "tcp") {
          pf.proto = ip_proto::kTcp;
        } else if (proto == "udp") {
          pf.proto = ip_proto::kUdp;
        } else if (v.IsScalar()) {
          Fail(l, field, "unknown proto " + Describe(v) + ": a port forward is tcp or udp");
        }
      } else if (key == "port") {
        pf.port = ReadPortRange(v, field, l).value_or(PortRangeDecl{});
      } else if (key == "to") {
        pf.to = ReadString(v, field, l);
      } else if (key == "to_port") {
        pf.to_port = static_cast<uint16_t>(ReadUint(v, field, l, 1, 65535).value_or(0));
      }
    });
    return pf;
  }

  FirewallDecl ReadFirewall(const YAML::Node& node, const std::string& path, int line) {
    FirewallDecl fw;
    fw.loc = Loc(line);
    ForEachKey(node, path, line, kFirewallKeys, &fw.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "max_connections") {
        fw.max_connections = ReadUint(v, field, l, config_limits::kMinMaxConnections, config_limits::kMaxMaxConnections)
                                 .value_or(fw.max_connections);
      } else if (key == "sets") {
        ReadSets(v, field, l, fw.sets);
      } else if (key == "policies") {
        ForEachItem(v, field, l, config_limits::kMaxFirewallRules,
                    [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                      PolicyDecl p;
                      p.loc = Loc(item_line);
                      ForEachKey(item, item_path, item_line, kPolicyKeys, &p.loc,
                                 [&](const std::string& pkey, const YAML::Node& pv, int pl) {
                                   std::string pfield = Join(item_path, pkey);
                                   if (pkey == "from") p.from = ReadString(pv, pfield, pl);
                                   if (pkey == "to") p.to = ReadString(pv, pfield, pl);
                                   if (pkey == "action") p.action = ReadAction(pv, pfield, pl).value_or(p.action);
                                 });
                      fw.policies.push_back(std::move(p));
                    });
      } else if (key == "rules") {
        ForEachItem(v, field, l, config_limits::kMaxFirewallRules,
                    [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                      fw.rules.push_back(ReadRule(item, item_path, item_line));
                    });
      }
    });
    return fw;
  }

  // sets: {name: [entries]}: a mapping whose keys are the names, kept in the order written.
  void ReadSets(const YAML::Node& node, const std::string& field, int line, std::vector<AddressSetDecl>& out) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      Fail(line, field, "expected a mapping of set names to address lists, got " + Describe(node));
      return;
    }
    if (node.size() > config_limits::kMaxAddressSets) {
      d_.Add(file_, line, field,
             std::to_string(node.size()) + " sets, at most " + std::to_string(config_limits::kMaxAddressSets) +
                 " allowed");
    }
    std::map<std::string, int> seen;
    for (const auto& kv : node) {
      if (out.size() >= config_limits::kMaxAddressSets || !Spend()) return;
      int key_line = LineOf(kv.first, line);
      if (!kv.first.IsScalar()) {
        d_.Add(file_, key_line, field, "set names must be plain words, got " + Describe(kv.first));
        continue;
      }
      std::string name = kv.first.Scalar();
      std::string set_field = Join(field, Clip(name));
      auto [it, fresh] = seen.emplace(name, key_line);
      if (!fresh) {
        d_.Add(file_, key_line, set_field, "duplicate set (first at line " + std::to_string(it->second) + ")");
        continue;
      }
      AddressSetDecl set;
      set.name = name;
      set.loc = Loc(key_line);
      set.entries = ReadOneOrList(kv.second, set_field, key_line, config_limits::kMaxAddressSetEntries);
      out.push_back(std::move(set));
    }
  }

  FirewallRuleDecl ReadRule(const YAML::Node& node, const std::string& path, int line) {
    FirewallRuleDecl rule;
    rule.loc = Loc(line);
    std::optional<std::pair<std::string, int>> icmp_name;  // resolved once proto is known
    ForEachKey(node, path, line, kRuleKeys, &rule.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      constexpr size_t kMax = config_limits::kMaxRuleListEntries;
      if (key == "name") {
        rule.name = ReadString(v, field, l);
      } else if (key == "from") {
        rule.from = ReadOneOrList(v, field, l, kMax);
      } else if (key == "to") {
        rule.to = ReadOneOrList(v, field, l, kMax);
      } else if (key == "src") {
        rule.src = ReadOneOrList(v, field, l, kMax);
      } else if (key == "dst") {
        rule.dst = ReadOneOrList(v, field, l, kMax);
      } else if (key == "family") {
        std::string family = ReadString(v, field, l);
        if (family == "ipv4") {
          rule.family = 4;
        } else if (family == "ipv6") {
          rule.family = 6;
        } else if (v.IsScalar()) {
          Fail(l, field, "unknown family " + Describe(v) + ": use ipv4 or ipv6 (omit it for both)");
        }
      } else if (key == "proto") {
        rule.proto = ReadProto(v, field, l);
        if (!rule.proto) {
          for (const char* f : {"sport", "dport", "icmp_type", "icmp_code"}) Poison(Join(path, f));
        }
      } else if (key == "sport") {
        rule.sport = ReadPortList(v, field, l);
      } else if (key == "dport") {
        rule.dport = ReadPortList(v, field, l);
      } else if (key == "icmp_type") {
        if (v.IsScalar() && !IsDigits(v.Scalar())) {
          icmp_name = std::make_pair(ReadString(v, field, l), l);
          rule.icmp_type = 0;  // the name is resolved below, once proto is known (echo-request is 8 or 128)
        } else {
          auto type = ReadUint(v, field, l, 0, 255);
          if (type) rule.icmp_type = static_cast<uint8_t>(*type);
        }
      } else if (key == "icmp_code") {
        auto code = ReadUint(v, field, l, 0, 255);
        if (code) rule.icmp_code = static_cast<uint8_t>(*code);
      } else if (key == "action") {
        rule.action = ReadAction(v, field, l);
      } else if (key == "log") {
        rule.log = ReadBool(v, field, l).value_or(false);
      }
    });
    if (icmp_name && rule.proto && (*rule.proto == ip_proto::kIcmp || *rule.proto == ip_proto::kIcmpv6)) {
      std::string field = Join(path, "icmp_type");
      auto type = config_internal::IcmpTypeByName(icmp_name->first, *rule.proto);
      if (type) {
        rule.icmp_type = type;
      } else {
        bool v6_only = icmp_name->first == "packet-too-big";
        Fail(icmp_name->second, field,
             "unknown " + std::string(*rule.proto == ip_proto::kIcmp ? "ICMP" : "ICMPv6") + " type '" +
                 Clip(icmp_name->first) + "'" +
                 (v6_only ? ": packet-too-big is ICMPv6 (for IPv4, destination-unreachable code 4)"
                          : ": use a number or echo-request, echo-reply, destination-unreachable, time-exceeded, "
                            "packet-too-big (icmpv6)"));
      }
    }
    return rule;
  }

  // A single scalar or a list of them.
  std::vector<std::string> ReadOneOrList(const YAML::Node& v, const std::string& field, int line, size_t max) {
    if (v.IsScalar()) return {ReadString(v, field, line)};
    return ReadStringList(v, field, line, max);
  }

  // 80 or "8000-8100".
  std::optional<PortRangeDecl> ReadPortRange(const YAML::Node& v, const std::string& field, int line) {
    std::string_view text = v.IsScalar() ? std::string_view(v.Scalar()) : std::string_view();
    size_t dash = text.find('-', 1);
    if (dash == std::string_view::npos) {
      auto port = ReadUint(v, field, line, 1, 65535);
      if (!port) return std::nullopt;
      return PortRangeDecl{static_cast<uint16_t>(*port), static_cast<uint16_t>(*port)};
    }
    auto lo = ParseInteger(text.substr(0, dash));
    auto hi = ParseInteger(text.substr(dash + 1));
    if (!lo || !hi) {
      Fail(line, field, "expected a port or a range like \"8000-8100\", got " + Describe(v));
      return std::nullopt;
    }
    if (*lo < 1 || *hi > 65535 || *lo > *hi) {
      Fail(line, field, "range " + Clip(std::string(text)) + " must be ascending within 1-65535");
      return std::nullopt;
    }
    return PortRangeDecl{static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
  }

  std::vector<PortRangeDecl> ReadPortList(const YAML::Node& v, const std::string& field, int line) {
    std::vector<PortRangeDecl> out;
    if (v.IsScalar()) {
      if (auto r = ReadPortRange(v, field, line)) out.push_back(*r);
      return out;
    }
    ForEachItem(v, field, line, config_limits::kMaxRuleListEntries,
                [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                  if (auto r = ReadPortRange(item, item_path, item_line)) out.push_back(*r);
                });
    if (out.empty() && v.IsSequence() && v.size() > 0) Poison(field);
    return out;
  }

  // tcp | udp | icmp | icmpv6 | 0-255.
  std::optional<uint8_t> ReadProto(const YAML::Node& v, const std::string& field, int line) {
    if (v.IsScalar() && IsDigits(v.Scalar())) {
      auto n = ReadUint(v, field, line, 0, 255);
      if (!n) return std::nullopt;
      return static_cast<uint8_t>(*n);
    }
    std::string name = ReadString(v, field, line);
    if (auto p = config_internal::ProtoByName(name)) return p;
    if (v.IsScalar()) {
      Fail(line, field,
           "unknown proto " + Describe(v) + DidYouMean(name, {"tcp", "udp", "icmp", "icmpv6"}) +
               ": use tcp, udp, icmp, icmpv6 or a protocol number 0-255");
    }
    return std::nullopt;
  }

  std::optional<FirewallActionDecl> ReadAction(const YAML::Node& v, const std::string& field, int line) {
    std::string action = ReadString(v, field, line);
    if (action == "accept") return FirewallActionDecl::kAccept;
    if (action == "drop") return FirewallActionDecl::kDrop;
    if (action == "reject") return FirewallActionDecl::kReject;
    if (v.IsScalar()) {
      Fail(line, field,
           "unknown action " + Describe(v) + DidYouMean(action, kActions) + ": use accept, drop or reject");
    }
    return std::nullopt;
  }

  std::optional<bool> ReadBool(const YAML::Node& v, const std::string& field, int line) {
    std::string text = v.IsScalar() ? v.Scalar() : "";
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
    Fail(line, field, "expected true or false, got " + Describe(v));
    return std::nullopt;
  }

  SwitchDecl ReadSwitch(const YAML::Node& node, const std::string& path, int line) {
    SwitchDecl sw;
    sw.loc = Loc(line);
    ForEachKey(node, path, line, kSwitchKeys, &sw.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "name") {
        sw.name = ReadString(v, field, l);
      } else if (key == "max_macs") {
        sw.max_macs = ReadUint(v, field, l, 1, config_limits::kMaxMacs).value_or(sw.max_macs);
      } else if (key == "port_max_macs") {
        sw.port_max_macs = ReadUint(v, field, l, 1, config_limits::kMaxMacs).value_or(sw.port_max_macs);
      } else if (key == "mac_aging") {
        sw.mac_aging_seconds =
            ReadDuration(v, field, l, config_limits::kMinMacAgingSeconds, config_limits::kMaxMacAgingSeconds)
                .value_or(sw.mac_aging_seconds);
      } else if (key == "ports") {
        ForEachItem(v, field, l, config_limits::kMaxPortsPerSwitch,
                    [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                      sw.ports.push_back(ReadPort(item, item_path, item_line));
                    });
      }
    });
    return sw;
  }

  PortDecl ReadPort(const YAML::Node& node, const std::string& path, int line) {
    PortDecl port;
    port.loc = Loc(line);
    ForEachKey(node, path, line, kPortKeys, &port.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "name") {
        port.name = ReadString(v, field, l);
      } else if (key == "interface") {
        port.interface = ReadString(v, field, l);
      } else if (key == "tap") {
        port.tap = ReadString(v, field, l);
      } else if (key == "mode") {
        std::string mode = ReadString(v, field, l);
        if (mode == "access") {
          port.mode = PortModeDecl::kAccess;
        } else if (mode == "trunk") {
          port.mode = PortModeDecl::kTrunk;
        } else if (mode == "dot1q-tunnel") {
          port.mode = PortModeDecl::kDot1qTunnel;
        } else if (v.IsScalar()) {
          Fail(l, field,
               "unknown mode " + Describe(v) + DidYouMean(mode, kModes) + ": use access, trunk or dot1q-tunnel");
          // Checks that depend on the mode would only add noise.
          for (const char* f : {"vlan", "vlans", "native_vlan", "tpid"}) Poison(Join(path, f));
        }
      } else if (key == "vlan") {
        port.vlan = ReadVlanId(v, field, l);
      } else if (key == "vlans") {
        port.vlans = ReadVlanList(v, field, l);
      } else if (key == "native_vlan") {
        port.native_vlan = ReadVlanId(v, field, l, 0);
      } else if (key == "tpid") {
        port.tpid = ReadTpid(v, field, l);
      } else if (key == "max_macs") {
        port.max_macs = ReadUint(v, field, l, 1, config_limits::kMaxMacs);
      }
    });
    return port;
  }

  LinkDecl ReadLink(const YAML::Node& node, const std::string& path, int line) {
    LinkDecl link;
    link.loc = Loc(line);
    ForEachKey(node, path, line, kLinkKeys, &link.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "name") {
        link.name = ReadString(v, field, l);
      } else if (key == "between") {
        if (!v.IsSequence() || v.size() != 2 || !v[0].IsScalar() || !v[1].IsScalar()) {
          Fail(l, field, "expected the two switches this link joins, e.g. [sw1, sw2], got " + Describe(v));
          return;
        }
        link.a = ReadString(v[0], field, l);
        link.b = ReadString(v[1], field, l);
      } else if (key == "vlans") {
        link.vlans = ReadVlanList(v, field, l);
      } else if (key == "native_vlan") {
        link.native_vlan = ReadVlanId(v, field, l, 0);
      } else if (key == "tpid") {
        link.tpid = ReadTpid(v, field, l);
      }
    });
    return link;
  }

  EndpointDecl ReadEndpoint(const YAML::Node& node, const std::string& path, int line) {
    EndpointDecl ep;
    ep.loc = Loc(line);
    ForEachKey(node, path, line, kEndpointKeys, &ep.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "name") {
        ep.name = ReadString(v, field, l);
      } else if (key == "switch") {
        ep.switch_name = ReadString(v, field, l);
      } else if (key == "vlan") {
        ep.vlan = ReadVlanId(v, field, l);
      } else if (key == "netns") {
        ep.netns = ReadString(v, field, l);
      } else if (key == "interface") {
        ep.interface = ReadString(v, field, l);
      } else if (key == "addresses") {
        ForEachItem(v, field, l, config_limits::kMaxAddressesPerEndpoint,
                    [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                      std::string address = ReadString(item, item_path, item_line);
                      if (item.IsScalar()) ep.addresses.push_back(address);
                    });
      } else if (key == "gateway") {
        ep.gateway = ReadString(v, field, l);
      } else if (key == "mac") {
        ep.mac = ReadString(v, field, l);
      } else if (key == "mtu") {
        ep.mtu = ReadUint(v, field, l, config_limits::kMinMtu, config_limits::kMaxMtu).value_or(ep.mtu);
      } else if (key == "container") {
        ep.container = ReadContainer(v, field, l);
      }
    });
    return ep;
  }

  ContainerDecl ReadContainer(const YAML::Node& node, const std::string& path, int line) {
    ContainerDecl c;
    c.loc = Loc(line);
    ForEachKey(node, path, line, kContainerKeys, &c.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "image") {
        c.image = ReadString(v, field, l);
      } else if (key == "command") {
        c.command = ReadArgs(v, field, l);
      } else if (key == "entrypoint") {
        c.entrypoint = ReadArgs(v, field, l);
      } else if (key == "env") {
        ReadEnv(v, field, l, c.env);
      } else if (key == "workdir") {
        c.workdir = ReadString(v, field, l);
      } else if (key == "user") {
        ReadUser(v, field, l, c);
      } else if (key == "hostname") {
        c.hostname = ReadString(v, field, l);
      } else if (key == "memory") {
        c.memory_bytes = ReadMemory(v, field, l).value_or(0);
      } else if (key == "cpus") {
        c.nano_cpus = ReadCpus(v, field, l).value_or(0);
      } else if (key == "cpuset") {
        c.cpuset = ReadString(v, field, l);
      } else if (key == "pids") {
        c.pids = ReadUint(v, field, l, 1, config_limits::kMaxContainerPids).value_or(0);
      } else if (key == "restart") {
        std::string policy = ReadString(v, field, l);
        if (policy == "no") {
          c.restart = RestartPolicyDecl::kNo;
        } else if (policy == "always") {
          c.restart = RestartPolicyDecl::kAlways;
        } else if (policy == "on-failure") {
          c.restart = RestartPolicyDecl::kOnFailure;
        } else if (v.IsScalar()) {
          Fail(l, field,
               "unknown restart policy " + Describe(v) + DidYouMean(policy, kRestartPolicies) +
                   ": use no, always or on-failure");
        }
      } else if (key == "read_only") {
        c.read_only = ReadBool(v, field, l).value_or(false);
      } else if (key == "mounts") {
        ForEachItem(v, field, l, config_limits::kMaxContainerMounts,
                    [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                      ContainerMountDecl m;
                      m.loc = Loc(item_line);
                      ForEachKey(item, item_path, item_line, kMountKeys, &m.loc,
                                 [&](const std::string& mkey, const YAML::Node& mv, int ml) {
                                   std::string mfield = Join(item_path, mkey);
                                   if (mkey == "source") m.source = ReadString(mv, mfield, ml);
                                   if (mkey == "target") m.target = ReadString(mv, mfield, ml);
                                   if (mkey == "read_only") m.read_only = ReadBool(mv, mfield, ml).value_or(false);
                                 });
                      c.mounts.push_back(std::move(m));
                    });
      }
    });
    return c;
  }

  // A command line as a list of arguments: [httpd, -f, -p, "8080"]; [] is an empty one (it clears the image's).
  std::vector<std::string> ReadArgs(const YAML::Node& v, const std::string& field, int line) {
    if (!v.IsSequence()) {
      Fail(line, field,
           "expected a list of arguments, e.g. [httpd, -f, -p, \"8080\"] ([] for none), got " + Describe(v));
      return {};
    }
    return ReadStringList(v, field, line, config_limits::kMaxContainerArgs);
  }

  // env: {NAME: value}: a mapping kept as written (names checked here for their line, and again by the model checks).
  void ReadEnv(const YAML::Node& node, const std::string& field, int line, std::map<std::string, std::string>& out) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      Fail(line, field, "expected a mapping of variable names to values, e.g. {PORT: \"8080\"}, got " + Describe(node));
      return;
    }
    if (node.size() > config_limits::kMaxContainerEnv) {
      d_.Add(file_, line, field,
             std::to_string(node.size()) + " variables, at most " + std::to_string(config_limits::kMaxContainerEnv) +
                 " allowed");
    }
    std::map<std::string, int> seen;
    for (const auto& kv : node) {
      if (out.size() >= config_limits::kMaxContainerEnv || !Spend()) return;
      int key_line = LineOf(kv.first, line);
      if (!kv.first.IsScalar()) {
        d_.Add(file_, key_line, field, "variable names must be plain words, got " + Describe(kv.first));
        continue;
      }
      std::string name = ReadString(kv.first, field, key_line);
      std::string var_field = Join(field, Clip(name));
      if (std::string why = config_internal::CheckEnvName(name); !why.empty()) {
        Fail(key_line, var_field, why);
        continue;
      }
      auto [it, fresh] = seen.emplace(name, key_line);
      if (!fresh) {
        d_.Add(file_, key_line, var_field, "duplicate variable (first at line " + std::to_string(it->second) + ")");
        continue;
      }
      if (kv.second.IsNull()) {  // its mark is where the next token starts: report at the key
        Fail(key_line, var_field, "expected a string, got nothing (write \"\" for an empty value)");
        continue;
      }
      if (!kv.second.IsScalar()) {
        Fail(LineOf(kv.second, key_line), var_field, "expected a string, got " + Describe(kv.second));
        continue;
      }
      out[name] = ReadString(kv.second, var_field, LineOf(kv.second, key_line));
    }
  }

  // user: "1000" or "1000:1000": numeric ids (the image's /etc/passwd is not consulted).
  void ReadUser(const YAML::Node& v, const std::string& field, int line, ContainerDecl& c) {
    std::string_view text = v.IsScalar() ? std::string_view(v.Scalar()) : std::string_view();
    size_t colon = text.find(':');
    auto id = [](std::string_view s) -> std::optional<uint32_t> {
      auto n = IsDigits(s) ? ParseInteger(s) : std::nullopt;
      // (uid_t)-1 means "unchanged" to setresuid(2): never a real id.
      if (!n || *n >= UINT32_MAX) return std::nullopt;
      return static_cast<uint32_t>(*n);
    };
    auto uid = id(text.substr(0, colon));
    auto gid = colon == std::string_view::npos ? std::optional<uint32_t>() : id(text.substr(colon + 1));
    if (!uid || (colon != std::string_view::npos && !gid)) {
      Fail(line, field, "expected a numeric uid or uid:gid below 4294967295, e.g. \"1000:1000\", got " + Describe(v));
      return;
    }
    c.uid = uid;
    c.gid = gid;
  }

  // Bytes, or a number with a unit: k/K, m/M, g/G, t/T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024).
  std::optional<uint64_t> ReadMemory(const YAML::Node& v, const std::string& field, int line) {
    std::string text = v.IsScalar() && v.Scalar().size() < 32 ? v.Scalar() : "";
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    std::string_view unit = std::string_view(text).substr(digits);
    static const std::pair<std::string_view, uint64_t> kUnits[] = {
        {"", 1},
        {"k", 1000},
        {"K", 1000},
        {"m", 1000'000},
        {"M", 1000'000},
        {"g", 1000'000'000},
        {"G", 1000'000'000},
        {"t", 1000'000'000'000},
        {"T", 1000'000'000'000},
        {"Ki", uint64_t{1} << 10},
        {"Mi", uint64_t{1} << 20},
        {"Gi", uint64_t{1} << 30},
        {"Ti", uint64_t{1} << 40},
    };
    const auto* u = std::find_if(std::begin(kUnits), std::end(kUnits), [&](const auto& p) { return p.first == unit; });
    if (digits == 0 || u == std::end(kUnits)) {
      Fail(line, field, Describe(v) + " is not a size (e.g. 64Mi, 1G)");
      return std::nullopt;
    }
    auto number = ParseInteger(std::string_view(text).substr(0, digits));  // saturates far beyond any limit
    uint64_t bytes = static_cast<uint64_t>(*number) > config_limits::kMaxContainerMemory / u->second
                         ? config_limits::kMaxContainerMemory + 1
                         : static_cast<uint64_t>(*number) * u->second;
    if (bytes < config_limits::kMinContainerMemory) {
      Fail(line, field, Clip(text) + " is below the smallest memory limit, 4Mi (4194304 bytes)");
      return std::nullopt;
    }
    if (bytes > config_limits::kMaxContainerMemory) {
      Fail(line, field, Clip(text) + " is above the largest memory limit, 1024Ti");
      return std::nullopt;
    }
    return bytes;
  }

  // A decimal number of CPUs, 0.001 or 2.5, exactly as billionths of a CPU.
  std::optional<uint64_t> ReadCpus(const YAML::Node& v, const std::string& field, int line) {
    std::string_view text = v.IsScalar() && v.Scalar().size() < 32 ? std::string_view(v.Scalar()) : "";
    size_t dot = text.find('.');
    std::string_view whole = text.substr(0, dot);
    std::string_view fraction = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
    bool shaped = IsDigits(whole) && (dot == std::string_view::npos || IsDigits(fraction));
    if (!shaped) {
      Fail(line, field, "expected a number of CPUs such as 0.5 or 2, got " + Describe(v));
      return std::nullopt;
    }
    if (fraction.size() > 9) {
      Fail(line, field, std::string(text) + " is more precise than a billionth of a CPU");
      return std::nullopt;
    }
    uint64_t nano = 0;
    if (whole.size() <= 5) nano = static_cast<uint64_t>(*ParseInteger(whole)) * 1000'000'000;
    uint64_t frac = fraction.empty() ? 0 : static_cast<uint64_t>(*ParseInteger(fraction));
    for (size_t i = fraction.size(); i < 9; ++i) frac *= 10;
    nano += frac;
    if (whole.size() > 5 || nano == 0 || nano > config_limits::kMaxContainerNanoCpus) {
      Fail(line, field, std::string(text) + " out of range: more than 0 and at most 1024 CPUs");
      return std::nullopt;
    }
    return nano;
  }

  std::vector<std::string> ReadStringList(const YAML::Node& v, const std::string& field, int line, size_t max) {
    std::vector<std::string> out;
    ForEachItem(v, field, line, max, [&](const YAML::Node& item, const std::string& item_path, int item_line) {
      std::string text = ReadString(item, item_path, item_line);
      if (item.IsScalar()) out.push_back(text);
    });
    return out;
  }

  VpnDecl ReadVpn(const YAML::Node& node, const std::string& path, int line) {
    VpnDecl vpn;
    vpn.loc = Loc(line);
    ForEachKey(node, path, line, kVpnKeys, &vpn.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "name") {
        vpn.name = ReadString(v, field, l);
      } else if (key == "listen_port") {
        vpn.listen_port = ReadUint(v, field, l, 1, 65535).value_or(0);
      } else if (key == "private_key_file") {
        vpn.private_key_file = ReadString(v, field, l);
      } else if (key == "address") {
        vpn.address = ReadString(v, field, l);
      } else if (key == "mtu") {
        vpn.mtu = ReadUint(v, field, l, config_limits::kMinVpnMtu, config_limits::kMaxVpnMtu).value_or(vpn.mtu);
      } else if (key == "attach") {
        vpn.attach.loc = Loc(l);
        ForEachKey(v, field, l, kVpnAttachKeys, &vpn.attach.loc,
                   [&](const std::string& akey, const YAML::Node& av, int al) {
                     std::string afield = Join(field, akey);
                     if (akey == "switch") vpn.attach.switch_name = ReadString(av, afield, al);
                     if (akey == "vlan") vpn.attach.vlan = ReadVlanId(av, afield, al);
                     if (akey == "address") vpn.attach.address = ReadString(av, afield, al);
                   });
      } else if (key == "peers") {
        ForEachItem(v, field, l, config_limits::kMaxPeersPerVpn,
                    [&](const YAML::Node& item, const std::string& item_path, int item_line) {
                      vpn.peers.push_back(ReadVpnPeer(item, item_path, item_line));
                    });
      }
    });
    return vpn;
  }

  VpnPeerDecl ReadVpnPeer(const YAML::Node& node, const std::string& path, int line) {
    VpnPeerDecl peer;
    peer.loc = Loc(line);
    ForEachKey(node, path, line, kVpnPeerKeys, &peer.loc, [&](const std::string& key, const YAML::Node& v, int l) {
      std::string field = Join(path, key);
      if (key == "name") {
        peer.name = ReadString(v, field, l);
      } else if (key == "public_key") {
        peer.public_key = ReadString(v, field, l);
      } else if (key == "allowed_ips") {
        peer.allowed_ips = ReadStringList(v, field, l, config_limits::kMaxAllowedIpsPerPeer);
      } else if (key == "endpoint") {
        peer.endpoint = ReadString(v, field, l);
      } else if (key == "persistent_keepalive") {
        peer.persistent_keepalive = ReadUint(v, field, l, 0, 65535).value_or(0);
      } else if (key == "preshared_key_file") {
        peer.preshared_key_file = ReadString(v, field, l);
      }
    });
    return peer;
  }

  void Poison(const std::string& field) { d_.Poison(field); }

  std::string file_;
  Diagnostics& d_;
  size_t budget_ = kVisitBudget;
  size_t copy_budget_ = kCopyBudgetBytes;
  size_t vlan_entry_budget_ = config_limits::kMaxVlanListEntries;
  bool exhausted_ = false;
};

}  // namespace

Result<CloudConfig> ParseConfig(std::string_view yaml_text, const std::string& filename) {
  if (yaml_text.size() > config_limits::kMaxFileBytes) {
    return Error(filename + ": " + std::to_string(yaml_text.size()) + " bytes; a configuration is at most " +
                 std::to_string(config_limits::kMaxFileBytes) + " bytes");
  }
  if (int line = FindExcessiveNesting(yaml_text)) {
    return Error(filename + ":" + std::to_string(line) + ": syntax error: nesting too deep");
  }
  // Count documents first, with yaml-cpp's event parser and a bound: on some malformed input (a stray ',' at the top)
  // its parser stops advancing and would return empty documents forever, so YAML::LoadAll cannot be used.
  DocumentCounter counter;
  try {
    std::istringstream in{std::string(yaml_text)};
    YAML::Parser parser(in);
    for (int i = 0; parser.HandleNextDocument(counter); ++i) {
      if (i >= 64) return Error(filename + ": more than 64 YAML documents; a configuration is one document");
      size_t n = counter.starts.size();
      if (n >= 2 && counter.starts[n - 1].pos == counter.starts[n - 2].pos) {
        const YAML::Mark& at = counter.starts[n - 1];
        std::string what = static_cast<size_t>(at.pos) < yaml_text.size() ? std::string(1, yaml_text[at.pos]) : "";
        return Error(filename + ":" + std::to_string(at.line + 1) + ": syntax error: unexpected '" + Clip(what) + "'");
      }
    }
  } catch (const YAML::Exception& e) {
    std::string where = e.mark.is_null() ? filename : filename + ":" + std::to_string(e.mark.line + 1);
    return Error(where + ": syntax error: " + e.msg);
  }
  size_t with_content = std::count(counter.has_content.begin(), counter.has_content.end(), true);
  if (with_content == 0) {
    return Error(filename +
                 ": configuration is empty: expected keys such as vlans:, switches: and endpoints: "
                 "(see examples/quickstart.yaml)");
  }
  if (with_content > 1 || !counter.has_content[0]) {
    return Error(filename + ":" + std::to_string(counter.starts[1].line + 1) +
                 ": found several YAML documents; a configuration is one document (remove the '---' lines)");
  }
  YAML::Node document;
  try {
    document = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    std::string where = e.mark.is_null() ? filename : filename + ":" + std::to_string(e.mark.line + 1);
    return Error(where + ": syntax error: " + e.msg);
  }

  Diagnostics diag;
  CloudConfig config;
  config.source = filename;
  YamlReader reader(filename, diag);
  reader.ReadDocument(document, config);
  config_internal::ApplyDefaults(config);
  config_internal::CheckModel(config, diag);
  CL_RETURN_IF_ERROR(diag.ToStatus());
  return config;
}

Result<CloudConfig> LoadConfig(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(path);
  std::string text;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(path);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > config_limits::kMaxFileBytes) {
      return Error(path + ": larger than " + std::to_string(config_limits::kMaxFileBytes) +
                   " bytes; is this a cloudlet configuration?");
    }
  }
  return ParseConfig(text, path);
}

}  // namespace cloudlet

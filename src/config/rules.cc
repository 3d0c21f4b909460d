// The problem collector and the lexical rules (names, IP/CIDR, MAC) shared by the config readers and checks.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "config/config.h"
#include "config/internal.h"

namespace cloudlet::config_internal {

namespace {

constexpr size_t kMaxStoredProblems = 1000;
constexpr size_t kMaxProblemChars = 400;

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                            std::tolower(static_cast<unsigned char>(b[j - 1]))
                                        ? 0
                                        : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

void Diagnostics::Add(const std::string& file, int line, const std::string& field, const std::string& message) {
  if (IsPoisoned(field)) return;
  if (problems_.size() >= kMaxStoredProblems) {  // enough to report; just count the rest
    ++dropped_;
    return;
  }
  std::string text = file;
  if (line > 0) text += ":" + std::to_string(line);
  if (!field.empty()) text += ": " + field;
  text += ": " + message;
  // Messages quote user text: keep each one a single, bounded line.
  if (text.size() > kMaxProblemChars) text = text.substr(0, kMaxProblemChars) + "...";
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (!seen_.insert(text).second) return;
  problems_.push_back(Problem{file, line, std::move(text)});
}

void Diagnostics::Poison(const std::string& field) {
  if (poisoned_.size() < kMaxStoredProblems) poisoned_.insert(field);
}

bool Diagnostics::IsPoisoned(const std::string& field) const {
  if (poisoned_.empty()) return false;
  // `field` or any of its parents ("a.b[1]" -> "a", "a.b") poisoned.
  for (size_t i = 0; i <= field.size(); ++i) {
    if (i == field.size() || field[i] == '.' || field[i] == '[') {
      if (poisoned_.count(field.substr(0, i))) return true;
    }
  }
  return false;
}

Status Diagnostics::ToStatus() const {
  if (problems_.empty()) return Status::Ok();
  std::vector<const Problem*> order;
  order.reserve(problems_.size());
  for (const Problem& p : problems_) order.push_back(&p);
  std::stable_sort(order.begin(), order.end(), [](const Problem* x, const Problem* y) {
    if (x->file != y->file) return false;  // keep discovery order across files
    return x->line < y->line;
  });
  std::string message;
  size_t shown = std::min(order.size(), config_limits::kMaxReportedProblems);
  for (size_t i = 0; i < shown; ++i) {
    if (i) message += "\n";
    message += order[i]->text;
  }
  size_t more = order.size() - shown + dropped_;
  if (more) message += "\n... and " + std::to_string(more) + " more problem(s)";
  return Error(message);
}

std::string CheckObjectName(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 15) return "'" + std::string(name) + "' is longer than 15 characters";
  auto ok_first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = ok_first(name[0]) && std::all_of(name.begin(), name.end(), [&](char c) { return ok_first(c) || c == '-'; });
  if (!ok) {
    return "'" + std::string(name) +
           "' is not a valid name: use lowercase letters, digits and '-', starting with a letter or digit";
  }
  return "";
}

std::string CheckInterfaceName(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 15) return "'" + std::string(name) + "' is longer than 15 characters (kernel limit)";
  if (name == "." || name == "..") return "'" + std::string(name) + "' is not a valid interface name";
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || std::isspace(u) || u < 0x20 || u >= 0x7f) {
      return "'" + std::string(name) + "' is not a valid interface name (no '/', ':', spaces or control characters)";
    }
  }
  return "";
}

std::string CheckLabel(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 64) return "'" + std::string(name.substr(0, 64)) + "...' is longer than 64 characters";
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  bool ok = alnum(name[0]) &&
            std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
  if (!ok) {
    return "'" + std::string(name) +
           "' is not valid: use letters, digits, '.', '_' and '-', starting with a letter or digit";
  }
  return "";
}

int IpAddress::bits() const { return family == AF_INET ? 32 : 128; }

std::optional<IpAddress> ParseIp(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);  // inet_pton needs a terminated string
  IpAddress ip;
  if (s.find(':') == std::string::npos) {
    ip.family = AF_INET;
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  } else {
    ip.family = AF_INET6;
    if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  }
  return ip;
}

bool Cidr::Contains(const IpAddress& ip) const {
  if (ip.family != address.family) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (!std::equal(ip.bytes.begin(), ip.bytes.begin() + full, address.bytes.begin())) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (ip.bytes[full] & mask) == (address.bytes[full] & mask);
}

IpAddress Cidr::Network() const {
  IpAddress out = address;
  for (int i = 0; i < address.bits() / 8; ++i) {
    int keep = std::clamp(prefix - i * 8, 0, 8);
    out.bytes[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return out;
}

IpAddress Cidr::Last() const {
  IpAddress out = address;
  for (int i = 0; i < address.bits() / 8; ++i) {
    int keep = std::clamp(prefix - i * 8, 0, 8);
    out.bytes[i] |= static_cast<uint8_t>(0xff >> keep);
  }
  return out;
}

std::string FormatIp(const IpAddress& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip.family, ip.bytes.data(), buf, sizeof buf);
  return buf;
}

bool Overlaps(const Cidr& a, const Cidr& b) {
  if (a.address.family != b.address.family) return false;
  return a.prefix <= b.prefix ? a.Contains(b.address) : b.Contains(a.address);
}

std::optional<Cidr> ParseAddressOrPrefix(std::string_view text, std::string* why) {
  if (text.find('/') != std::string_view::npos) return ParseCidr(text, why);
  auto ip = ParseIp(text);
  if (!ip) {
    *why = "'" + std::string(text) + "' is not an IPv4 or IPv6 address or prefix";
    return std::nullopt;
  }
  return Cidr{*ip, ip->bits()};
}

std::string CheckRuleName(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 63) return "'" + std::string(name) + "' is longer than 63 characters";
  bool ok = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
  if (!ok) return "'" + std::string(name) + "' is not a valid name: use lowercase letters, digits, '-', '_' and '.'";
  return "";
}

std::string CheckDomain(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 253) return "longer than 253 characters";
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    bool ok = !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
              std::all_of(label.begin(), label.end(),
                          [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
    if (!ok)
      return "'" + std::string(name) + "' is not a DNS domain (labels of letters, digits and '-', joined by '.')";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return "";
}

std::optional<uint8_t> ProtoByName(std::string_view name) {
  if (name == "tcp") return ip_proto::kTcp;
  if (name == "udp") return ip_proto::kUdp;
  if (name == "icmp") return ip_proto::kIcmp;
  if (name == "icmpv6") return ip_proto::kIcmpv6;
  return std::nullopt;
}

std::optional<uint8_t> IcmpTypeByName(std::string_view name, uint8_t proto) {
  struct Named {
    std::string_view name;
    int v4, v6;  // -1: none
  };
  static constexpr Named kTypes[] = {{"echo-request", 8, 128},
                                     {"echo-reply", 0, 129},
                                     {"destination-unreachable", 3, 1},
                                     {"time-exceeded", 11, 3},
                                     {"packet-too-big", -1, 2}};
  for (const Named& t : kTypes) {
    if (t.name != name) continue;
    int v = proto == ip_proto::kIcmpv6 ? t.v6 : t.v4;
    if (v < 0) return std::nullopt;
    return static_cast<uint8_t>(v);
  }
  return std::nullopt;
}

std::optional<Cidr> ParseCidr(std::string_view text, std::string* why) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    *why = "'" + std::string(text) + "' has no prefix length (write e.g. 10.10.0.1/24)";
    return std::nullopt;
  }
  auto ip = ParseIp(text.substr(0, slash));
  if (!ip) {
    *why = "'" + std::string(text) + "' is not a valid IPv4 or IPv6 address";
    return std::nullopt;
  }
  std::string_view len = text.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  if (len.empty() || len.size() > 3 || ec != std::errc() || end != len.data() + len.size() || prefix < 0 ||
      prefix > ip->bits()) {
    *why = "'" + std::string(text) + "' has an invalid prefix length (0-" + std::to_string(ip->bits()) + ")";
    return std::nullopt;
  }
  return Cidr{*ip, prefix};
}

std::string CheckKeyBase64(std::string_view text) {
  constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() != 44) {
    return "not a WireGuard key: expected 44 base64 characters, got " + std::to_string(text.size());
  }
  if (text[43] != '=') return "not a WireGuard key: 44 base64 characters ending in '=' expected";
  for (size_t i = 0; i < 43; ++i) {
    if (kAlphabet.find(text[i]) == std::string_view::npos) return "not a WireGuard key: not base64";
  }
  // 43 characters carry 258 bits: the last one's two low bits encode nothing and must be zero.
  if (kAlphabet.find(text[42]) & 3) return "not a WireGuard key: not canonical base64";
  return "";
}

std::optional<HostPort> ParseHostPort(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
  }
  auto ip = ParseIp(host);
  if (!ip) return std::nullopt;
  // An IPv6 address needs brackets: "fd00::1:51820" is ambiguous.
  if (ip->family == AF_INET6 && text.front() != '[') return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || port.size() > 5 || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return std::nullopt;
  }
  return HostPort{*ip, static_cast<uint16_t>(value)};
}

std::optional<std::array<uint8_t, 6>> ParseMac(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  std::array<uint8_t, 6> mac{};
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':' && text[i * 3 - 1] != '-') return std::nullopt;
    if (i > 0 && text[i * 3 - 1] != text[2]) return std::nullopt;  // one separator style
    auto [end, ec] = std::from_chars(text.data() + i * 3, text.data() + i * 3 + 2, mac[i], 16);
    if (ec != std::errc() || end != text.data() + i * 3 + 2) return std::nullopt;
  }
  return mac;
}

std::string FormatVlanSet(std::vector<uint16_t> vlans) {
  std::sort(vlans.begin(), vlans.end());
  vlans.erase(std::unique(vlans.begin(), vlans.end()), vlans.end());
  std::string out;
  for (size_t i = 0; i < vlans.size();) {
    size_t j = i;
    while (j + 1 < vlans.size() && vlans[j + 1] == vlans[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += std::to_string(vlans[i]);
    if (j > i) out += "-" + std::to_string(vlans[j]);
    i = j + 1;
  }
  return out;
}

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.size() > 64) return "";
  const std::string* best = nullptr;
  size_t best_distance = 0;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(word, c);
    if (!best || d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  size_t limit = word.size() <= 3 ? 1 : (word.size() <= 6 ? 2 : 3);
  if (!best || best_distance > limit || *best == word) return "";
  return " (did you mean '" + *best + "'?)";
}

std::string QuoteList(const std::vector<std::string>& items) {
  constexpr size_t kShown = 8;
  std::string out;
  for (size_t i = 0; i < items.size() && i < kShown; ++i) {
    if (i) out += ", ";
    out += "'" + items[i] + "'";
  }
  if (items.size() > kShown) out += ", ...";
  return out;
}

}  // namespace cloudlet::config_internal

namespace cloudlet {

const char* PortModeName(PortModeDecl mode) {
  switch (mode) {
    case PortModeDecl::kAccess:
      return "access";
    case PortModeDecl::kTrunk:
      return "trunk";
    case PortModeDecl::kDot1qTunnel:
      return "dot1q-tunnel";
  }
  return "access";
}

const char* FirewallActionName(FirewallActionDecl action) {
  switch (action) {
    case FirewallActionDecl::kAccept:
      return "accept";
    case FirewallActionDecl::kDrop:
      return "drop";
    case FirewallActionDecl::kReject:
      return "reject";
  }
  return "drop";
}

bool VlanRouted(const VlanDecl& vlan) { return !vlan.ipv4.empty() || !vlan.ipv6.empty(); }

std::string VlanZone(const VlanDecl& vlan) {
  if (!vlan.zone.empty()) return vlan.zone;
  if (!vlan.name.empty()) return vlan.name;
  return "vlan" + std::to_string(vlan.id);
}

std::vector<std::string> ZoneNames(const CloudConfig& config) {
  std::vector<std::string> zones;
  for (const VlanDecl& v : config.vlans) {
    if (!VlanRouted(v)) continue;
    std::string zone = VlanZone(v);
    if (std::find(zones.begin(), zones.end(), zone) == zones.end()) zones.push_back(std::move(zone));
  }
  if (config.router && config.router->uplink) {
    const std::string& zone = config.router->uplink->zone;
    if (std::find(zones.begin(), zones.end(), zone) == zones.end()) zones.push_back(zone);
  }
  return zones;
}

}  // namespace cloudlet

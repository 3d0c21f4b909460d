// wg-quick(8) config files: a line-by-line parser that collects every problem, the writer, and the `wg setconf`
// translation into a DeviceConfigChange.
#include "vpn/wgquick.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <map>
#include <utility>

#include "base/fd.h"
#include "vpn/keys.h"

namespace cloudlet::vpn {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n\v\f";

std::string_view Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(kWhitespace);
  return text.substr(begin, end - begin + 1);
}

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// Case-insensitive Levenshtein distance; inputs are short (bounded by the caller).
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (Lower(a[i - 1]) == Lower(b[j - 1]) ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'X'?)" for the closest candidate within a small distance, else "".
std::string DidYouMean(std::string_view word, const std::vector<std::string_view>& candidates,
                       std::string_view quote_open = "'", std::string_view quote_close = "'") {
  if (word.size() > 64) return "";
  std::string_view best;
  size_t best_distance = SIZE_MAX;
  for (std::string_view c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  const size_t limit = word.size() <= 3 ? 1 : (word.size() <= 6 ? 2 : 3);
  if (best_distance > limit) return "";
  return " (did you mean " + std::string(quote_open) + std::string(best) + std::string(quote_close) + "?)";
}

// Decimal digits only, at most `max`.
template <typename T>
std::optional<T> ParseDecimal(std::string_view text, T max) {
  if (text.empty() || text.size() > 10 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return static_cast<T>(value);
}

// "10.0.0.1/24", "fd00::/64", or an address alone (a host prefix, as ip(8) and wg(8) read it).
Result<IpPrefix> ParsePrefix(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string_view address_text = text.substr(0, slash);
  const std::optional<IpAddress> address = ParseIpAddress(address_text);
  if (!address) return Error("'" + std::string(address_text.substr(0, 64)) + "' is not an IPv4 or IPv6 address");
  if (slash == std::string_view::npos) return IpPrefix{*address, static_cast<uint8_t>(address->bit_width())};
  const std::string_view length_text = text.substr(slash + 1);
  const std::optional<uint8_t> length =
      length_text.size() <= 3 ? ParseDecimal<uint8_t>(length_text, static_cast<uint8_t>(address->bit_width()))
                              : std::nullopt;
  if (!length) {
    return Error("prefix length '" + std::string(length_text.substr(0, 16)) + "' of " +
                 std::string(text.substr(0, 64)) + " is not a number from 0 to " +
                 std::to_string(address->bit_width()));
  }
  return IpPrefix{*address, *length};
}

// Values end up in shell commands, resolv.conf and files we write: no control characters anywhere.
bool HasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; });
}

// DNS names as getaddrinfo and resolv.conf take them: letters, digits, '.', '-', '_'; at most 253 characters.
bool IsDnsName(std::string_view text) {
  return !text.empty() && text.size() <= 253 && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// Routing table: "off", "auto", a number, or a name from /etc/iproute2/rt_tables.
bool IsTableValue(std::string_view text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

Result<WgQuickEndpoint> ParseEndpointText(std::string_view text) {
  WgQuickEndpoint endpoint;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find("]:");
    if (close == std::string_view::npos) return Error("expected [IPv6]:port, e.g. [fd00::1]:51820");
    const std::string_view host = text.substr(1, close - 1);
    const std::optional<IpAddress> address = ParseIpAddress(host);
    if (!address || address->family != IpAddress::Family::kV6) {
      return Error("'" + std::string(host.substr(0, 64)) + "' in brackets is not an IPv6 address");
    }
    endpoint.host = std::string(host);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return Error("expected host:port, e.g. vpn.example.com:51820");
    const std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return Error("an IPv6 address needs brackets: [" + std::string(host.substr(0, 64)) + "]:port");
    }
    if (!IsDnsName(host)) return Error("'" + std::string(host.substr(0, 64)) + "' is not a host name or IPv4 address");
    endpoint.host = std::string(host);
    port = text.substr(colon + 1);
  }
  const std::optional<uint16_t> port_number = ParseDecimal<uint16_t>(port, 65535);
  if (!port_number || *port_number == 0) {
    return Error("port '" + std::string(port.substr(0, 16)) + "' is not a number from 1 to 65535");
  }
  endpoint.port = *port_number;
  return endpoint;
}

std::string FormatEndpointText(const WgQuickEndpoint& endpoint) {
  if (endpoint.host.find(':') != std::string::npos) return "[" + endpoint.host + "]:" + std::to_string(endpoint.port);
  return endpoint.host + ":" + std::to_string(endpoint.port);
}

// "off" or a number (wg's parse_fwmark also takes 0x hex).
std::optional<uint32_t> ParseFwMark(std::string_view text) {
  if (EqualsIgnoreCase(text, "off")) return 0;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    const std::string_view hex = text.substr(2);
    if (hex.size() > 8 || !std::all_of(hex.begin(), hex.end(),
                                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; })) {
      return std::nullopt;
    }
    uint32_t value = 0;
    const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), value, 16);
    if (ec != std::errc() || end != hex.data() + hex.size()) return std::nullopt;
    return value;
  }
  return ParseDecimal<uint32_t>(text, UINT32_MAX);
}

enum class Section { kNone, kInterface, kPeer, kUnknown };

enum class Key {
  kPrivateKey,
  kListenPort,
  kFwMark,
  kAddress,
  kDns,
  kMtu,
  kTable,
  kPreUp,
  kPostUp,
  kPreDown,
  kPostDown,
  kSaveConfig,
  kPublicKey,
  kPresharedKey,
  kAllowedIps,
  kEndpoint,
  kPersistentKeepalive,
};

struct KeySpec {
  Key key;
  std::string_view name;
  Section section;
  bool repeatable;
};

constexpr std::array<KeySpec, 17> kKeySpecs = {{
    {Key::kPrivateKey, "PrivateKey", Section::kInterface, false},
    {Key::kListenPort, "ListenPort", Section::kInterface, false},
    {Key::kFwMark, "FwMark", Section::kInterface, false},
    {Key::kAddress, "Address", Section::kInterface, true},
    {Key::kDns, "DNS", Section::kInterface, true},
    {Key::kMtu, "MTU", Section::kInterface, false},
    {Key::kTable, "Table", Section::kInterface, false},
    {Key::kPreUp, "PreUp", Section::kInterface, true},
    {Key::kPostUp, "PostUp", Section::kInterface, true},
    {Key::kPreDown, "PreDown", Section::kInterface, true},
    {Key::kPostDown, "PostDown", Section::kInterface, true},
    {Key::kSaveConfig, "SaveConfig", Section::kInterface, false},
    {Key::kPublicKey, "PublicKey", Section::kPeer, false},
    {Key::kPresharedKey, "PresharedKey", Section::kPeer, false},
    {Key::kAllowedIps, "AllowedIPs", Section::kPeer, true},
    {Key::kEndpoint, "Endpoint", Section::kPeer, false},
    {Key::kPersistentKeepalive, "PersistentKeepalive", Section::kPeer, false},
}};

constexpr uint32_t kMinMtu = 68;  // IPv4's minimum; ip(8) refuses less
constexpr uint32_t kMaxMtu = 65535;

class WgQuickParser {
 public:
  explicit WgQuickParser(std::string_view file_name) : file_(file_name) {}

  Result<WgQuickConfig> Parse(std::string_view text) {
    if (text.size() > kWgQuickMaxFileBytes) {
      return Error(file_ + ": larger than " + std::to_string(kWgQuickMaxFileBytes) + " bytes");
    }
    int line_number = 0;
    while (!text.empty()) {
      if (static_cast<size_t>(line_number) >= kWgQuickMaxLines) {
        Add(line_number, "", "more than " + std::to_string(kWgQuickMaxLines) + " lines; the rest is not read");
        break;
      }
      ++line_number;
      const size_t end = text.find('\n');
      const std::string_view line = text.substr(0, end);
      text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
      ParseLine(line_number, line);
    }
    FinishPeer();
    if (!errors_.empty()) return Error(ErrorMessage());
    return std::move(config_);
  }

 private:
  void Add(int line, std::string_view key, const std::string& message) {
    std::string text = file_ + ":" + std::to_string(line) + ": ";
    if (!key.empty()) text += std::string(key) + ": ";
    if (errors_.size() >= kMaxStoredErrors) {
      ++dropped_errors_;  // a file of nothing but errors must not make us hold one string per line
      return;
    }
    errors_.emplace_back(line, text + message);
  }

  std::string ErrorMessage() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string message;
    const size_t shown = std::min(errors_.size(), kWgQuickMaxReportedErrors);
    for (size_t i = 0; i < shown; ++i) {
      if (i) message += "\n";
      message += errors_[i].second;
    }
    const size_t more = errors_.size() - shown + dropped_errors_;
    if (more > 0) message += "\n... and " + std::to_string(more) + " more error(s)";
    return message;
  }

  void ParseLine(int line, std::string_view raw) {
    if (raw.size() > kWgQuickMaxLineLength) {
      Add(line, "", "line longer than " + std::to_string(kWgQuickMaxLineLength) + " characters");
      return;
    }
    const std::string_view content = Trim(raw.substr(0, raw.find('#')));
    if (content.empty()) return;
    if (HasControlCharacter(content)) {
      Add(line, "", "control character in line");
      return;
    }
    if (content.front() == '[') {
      ParseSectionHeader(line, content);
      return;
    }
    const size_t equals = content.find('=');
    if (equals == std::string_view::npos) {
      Add(line, "", "expected 'Key = Value' or a section header, got '" + std::string(content.substr(0, 64)) + "'");
      return;
    }
    const std::string_view key = Trim(content.substr(0, equals));
    const std::string_view value = Trim(content.substr(equals + 1));
    if (key.empty()) {
      Add(line, "", "missing key before '='");
      return;
    }
    ParseKeyValue(line, key, value);
  }

  void ParseSectionHeader(int line, std::string_view header) {
    FinishPeer();
    if (header.back() != ']') {
      Add(line, "",
          "malformed section header '" + std::string(header.substr(0, 64)) + "': expected [Interface] or [Peer]");
      section_ = Section::kUnknown;
      return;
    }
    const std::string_view name = Trim(header.substr(1, header.size() - 2));
    if (EqualsIgnoreCase(name, "Interface")) {
      if (interface_line_ != 0) {
        Add(line, "", "second [Interface] section (the first is on line " + std::to_string(interface_line_) + ")");
      } else {
        interface_line_ = line;
      }
      section_ = Section::kInterface;
      seen_.clear();
    } else if (EqualsIgnoreCase(name, "Peer")) {
      if (config_.peers.size() >= kUapiMaxPeers) {
        Add(line, "", "more than " + std::to_string(kUapiMaxPeers) + " peers");
        section_ = Section::kUnknown;
        return;
      }
      section_ = Section::kPeer;
      config_.peers.emplace_back();
      peer_line_ = line;
      seen_.clear();
    } else {
      Add(line, "",
          "unknown section [" + std::string(name.substr(0, 64)) + "]" +
              DidYouMean(name, {"Interface", "Peer"}, "[", "]") + "; expected [Interface] or [Peer]");
      section_ = Section::kUnknown;  // its keys are skipped rather than reported one by one
    }
  }

  // A [Peer] block without PublicKey cannot be configured.
  void FinishPeer() {
    if (section_ == Section::kPeer && seen_.count(Key::kPublicKey) == 0) Add(peer_line_, "[Peer]", "missing PublicKey");
  }

  void ParseKeyValue(int line, std::string_view key, std::string_view value) {
    if (section_ == Section::kUnknown) return;
    const KeySpec* spec = nullptr;
    for (const KeySpec& s : kKeySpecs) {
      if (EqualsIgnoreCase(key, s.name)) spec = &s;
    }
    const std::string key_shown(key.substr(0, 64));
    if (section_ == Section::kNone) {
      Add(line, key_shown, "outside of a section; start the file with [Interface]");
      return;
    }
    if (spec == nullptr) {
      std::vector<std::string_view> names;
      for (const KeySpec& s : kKeySpecs) {
        if (s.section == section_) names.push_back(s.name);
      }
      Add(line, key_shown, "unknown key in " + std::string(SectionName(section_)) + DidYouMean(key, names));
      return;
    }
    if (spec->section != section_) {
      Add(line, spec->name,
          "belongs in " + std::string(SectionName(spec->section)) + ", not in " + std::string(SectionName(section_)));
      return;
    }
    const auto [it, inserted] = seen_.emplace(spec->key, line);
    if (!inserted && !spec->repeatable) {
      Add(line, spec->name, "given twice (first on line " + std::to_string(it->second) + ")");
      return;
    }
    const bool is_list = spec->key == Key::kAddress || spec->key == Key::kDns || spec->key == Key::kAllowedIps;
    if (value.empty() && !is_list) {
      Add(line, spec->name, "empty value");
      return;
    }
    if (is_list) {
      ParseList(line, *spec, value);
    } else {
      const std::string message = ParseSingle(spec->key, value);
      if (!message.empty()) Add(line, spec->name, message);
    }
  }

  static std::string_view SectionName(Section section) {
    return section == Section::kInterface ? "[Interface]" : "[Peer]";
  }

  // Comma-separated values; an empty value adds nothing (as wg-quick's word splitting does).
  void ParseList(int line, const KeySpec& spec, std::string_view value) {
    if (value.empty()) return;
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string_view::npos) comma = value.size();
      const std::string_view item = Trim(value.substr(start, comma - start));
      start = comma + 1;
      if (item.empty()) {
        Add(line, spec.name, "empty item in comma-separated list");
        continue;
      }
      const std::string message = ParseListItem(spec.key, item, line);
      if (!message.empty()) Add(line, spec.name, message);
    }
  }

  // Returns "" or what is wrong with one item.
  std::string ParseListItem(Key key, std::string_view item, int line) {
    WgQuickInterface& iface = config_.interface;
    if (key == Key::kDns) {
      // wg-quick's rule: digits and dots, or anything with a ':', is a server address; the rest search domains.
      const bool looks_like_address =
          item.find(':') != std::string_view::npos ||
          std::all_of(item.begin(), item.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
      if (looks_like_address) {
        const std::optional<IpAddress> address = ParseIpAddress(item);
        if (!address) return "'" + std::string(item.substr(0, 64)) + "' is not an IPv4 or IPv6 address";
        if (iface.dns_servers.size() + iface.dns_search.size() >= kWgQuickMaxListValues) return TooMany();
        iface.dns_servers.push_back(*address);
      } else {
        if (!IsDnsName(item))
          return "'" + std::string(item.substr(0, 64)) + "' is neither an address nor a search domain";
        if (iface.dns_servers.size() + iface.dns_search.size() >= kWgQuickMaxListValues) return TooMany();
        iface.dns_search.emplace_back(item);
      }
      return "";
    }
    Result<IpPrefix> prefix = ParsePrefix(item);
    if (!prefix.ok()) return prefix.error().message();
    if (key == Key::kAddress) {
      if (iface.addresses.size() >= kWgQuickMaxListValues) return TooMany();
      iface.addresses.push_back(*prefix);
      return "";
    }
    // AllowedIPs: a prefix routes to one peer only; wg would silently move it to the later peer.
    if (allowed_ip_count_ >= kUapiMaxAllowedIps)
      return "more than " + std::to_string(kUapiMaxAllowedIps) + " allowed IPs";
    const size_t peer_index = config_.peers.size() - 1;
    const auto [it, inserted] = allowed_ip_owner_.emplace(MaskedPrefix(*prefix), std::make_pair(peer_index, line));
    if (!inserted && it->second.first != peer_index) {
      return FormatIpPrefix(*prefix) + " is already an allowed IP of another peer (line " +
             std::to_string(it->second.second) + ")";
    }
    ++allowed_ip_count_;
    config_.peers.back().allowed_ips.push_back(*prefix);
    return "";
  }

  static std::string TooMany() { return "more than " + std::to_string(kWgQuickMaxListValues) + " values"; }

  static std::string AddHook(std::vector<std::string>& hooks, std::string_view command) {
    if (command.size() > kWgQuickMaxHookLength) {
      return "command longer than " + std::to_string(kWgQuickMaxHookLength) + " characters";
    }
    if (hooks.size() >= kWgQuickMaxListValues) return TooMany();
    hooks.emplace_back(command);
    return "";
  }

  // Returns "" or what is wrong with the value.
  std::string ParseSingle(Key key, std::string_view value) {
    WgQuickInterface& iface = config_.interface;
    switch (key) {
      case Key::kPrivateKey: {
        Result<SecretBytes<kKeySize>> k = SecretKeyFromBase64(value);
        if (!k.ok()) return k.error().message();
        iface.private_key = *k;
        return "";
      }
      case Key::kListenPort: {
        const std::optional<uint16_t> port = ParseDecimal<uint16_t>(value, 65535);
        if (!port) return "'" + std::string(value.substr(0, 16)) + "' is not a port number from 0 to 65535";
        iface.listen_port = *port;
        return "";
      }
      case Key::kFwMark: {
        const std::optional<uint32_t> mark = ParseFwMark(value);
        if (!mark) return "'" + std::string(value.substr(0, 16)) + "' is not \"off\" or a 32-bit number";
        iface.fwmark = *mark;
        return "";
      }
      case Key::kMtu: {
        const std::optional<uint32_t> mtu = ParseDecimal<uint32_t>(value, kMaxMtu);
        if (!mtu || *mtu < kMinMtu) {
          return "'" + std::string(value.substr(0, 16)) + "' is not a number from " + std::to_string(kMinMtu) + " to " +
                 std::to_string(kMaxMtu);
        }
        iface.mtu = *mtu;
        return "";
      }
      case Key::kTable:
        if (!IsTableValue(value)) {
          return "'" + std::string(value.substr(0, 64)) + "' is not off, auto, a number or a routing table name";
        }
        iface.table = std::string(value);
        return "";
      case Key::kPreUp:
        return AddHook(iface.pre_up, value);
      case Key::kPostUp:
        return AddHook(iface.post_up, value);
      case Key::kPreDown:
        return AddHook(iface.pre_down, value);
      case Key::kPostDown:
        return AddHook(iface.post_down, value);
      case Key::kSaveConfig:
        if (EqualsIgnoreCase(value, "true")) {
          iface.save_config = true;
        } else if (EqualsIgnoreCase(value, "false")) {
          iface.save_config = false;
        } else {
          return "'" + std::string(value.substr(0, 16)) + "' is not true or false";
        }
        return "";
      case Key::kPublicKey: {
        Result<PublicKey> k = PublicKeyFromBase64(value);
        if (!k.ok()) return k.error().message();
        const auto [it, inserted] = peer_lines_.emplace(*k, peer_line_);
        if (!inserted) return "duplicate peer: the [Peer] on line " + std::to_string(it->second) + " has the same key";
        config_.peers.back().public_key = *k;
        return "";
      }
      case Key::kPresharedKey: {
        Result<SecretBytes<kKeySize>> k = SecretKeyFromBase64(value);
        if (!k.ok()) return k.error().message();
        config_.peers.back().preshared_key = *k;
        return "";
      }
      case Key::kEndpoint: {
        Result<WgQuickEndpoint> endpoint = ParseEndpointText(value);
        if (!endpoint.ok()) return endpoint.error().message();
        config_.peers.back().endpoint = std::move(*endpoint);
        return "";
      }
      case Key::kPersistentKeepalive: {
        const std::optional<uint16_t> seconds =
            EqualsIgnoreCase(value, "off") ? std::optional<uint16_t>(0) : ParseDecimal<uint16_t>(value, 65535);
        if (!seconds) return "'" + std::string(value.substr(0, 16)) + "' is not \"off\" or seconds from 0 to 65535";
        config_.peers.back().persistent_keepalive = *seconds;
        return "";
      }
      case Key::kAddress:
      case Key::kDns:
      case Key::kAllowedIps:
        break;  // lists: ParseList
    }
    return "";
  }

  std::string file_;
  WgQuickConfig config_;
  Section section_ = Section::kNone;
  int interface_line_ = 0;
  int peer_line_ = 0;
  std::map<Key, int> seen_;  // keys of the current section -> first line
  std::map<PublicKey, int> peer_lines_;
  std::map<IpPrefix, std::pair<size_t, int>> allowed_ip_owner_;  // masked prefix -> (peer index, line)
  size_t allowed_ip_count_ = 0;
  static constexpr size_t kMaxStoredErrors = 1000;
  std::vector<std::pair<int, std::string>> errors_;
  size_t dropped_errors_ = 0;
};

// The writer's guard: a value that would not read back as itself.
Status CheckWritable(std::string_view key, std::string_view value, bool list_item) {
  if (value.empty()) return Error(std::string(key) + ": empty value");
  if (Trim(value) != value) return Error(std::string(key) + ": leading or trailing whitespace");
  if (HasControlCharacter(value) || value.find('#') != std::string_view::npos) {
    return Error(std::string(key) + ": contains a newline, control character or '#'");
  }
  if (list_item && value.find(',') != std::string_view::npos) return Error(std::string(key) + ": contains ','");
  return Status::Ok();
}

void AppendLine(std::string& out, std::string_view key, std::string_view value) {
  out.append(key).append(" = ").append(value).push_back('\n');
}

// "Key = a, b, c", starting another line of the same key before a line grows past ~500 characters.
void AppendList(std::string& out, std::string_view key, const std::vector<std::string>& items) {
  constexpr size_t kWrapAt = 500;
  std::string line;
  for (const std::string& item : items) {
    if (!line.empty() && line.size() + 2 + item.size() > kWrapAt) {
      AppendLine(out, key, line);
      line.clear();
    }
    if (!line.empty()) line += ", ";
    line += item;
  }
  if (!line.empty()) AppendLine(out, key, line);
}

std::vector<std::string> FormatPrefixes(const std::vector<IpPrefix>& prefixes) {
  std::vector<std::string> out;
  out.reserve(prefixes.size());
  for (const IpPrefix& p : prefixes) out.push_back(FormatIpPrefix(p));
  return out;
}

}  // namespace

bool WgQuickConfig::has_hooks() const {
  return !interface.pre_up.empty() || !interface.post_up.empty() || !interface.pre_down.empty() ||
         !interface.post_down.empty();
}

Result<DeviceConfigChange> WgQuickConfig::ToDeviceConfigChange(const EndpointResolver& resolve) const {
  DeviceConfigChange change;
  change.private_key = interface.private_key;
  change.listen_port = interface.listen_port;
  change.fwmark = interface.fwmark;
  change.replace_peers = true;
  change.peers.reserve(peers.size());
  for (const WgQuickPeer& peer : peers) {
    PeerChange pc;
    pc.public_key = peer.public_key;
    // The order wg(8) writes a peer's lines in over the configuration socket.
    if (peer.preshared_key) pc.operations.emplace_back(SetPresharedKey{*peer.preshared_key});
    if (peer.endpoint) {
      Result<UdpEndpoint> endpoint = resolve ? resolve(*peer.endpoint) : Result<UdpEndpoint>(Error("no resolver"));
      if (!endpoint.ok()) {
        return endpoint.error().wrap("peer " + KeyToBase64(peer.public_key) + ": Endpoint " +
                                     FormatEndpointText(*peer.endpoint));
      }
      pc.operations.emplace_back(SetEndpoint{*endpoint});
    }
    if (peer.persistent_keepalive) pc.operations.emplace_back(SetPersistentKeepalive{*peer.persistent_keepalive});
    pc.operations.emplace_back(ReplaceAllowedIps{});
    for (const IpPrefix& prefix : peer.allowed_ips) pc.operations.emplace_back(AddAllowedIp{prefix});
    change.peers.push_back(std::move(pc));
  }
  return change;
}

Result<WgQuickConfig> ParseWgQuick(std::string_view text, std::string_view file_name) {
  return WgQuickParser(file_name).Parse(text);
}

Result<WgQuickConfig> ReadWgQuickFile(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return ErrnoError(path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(path + ": fstat");
  if (S_ISDIR(st.st_mode)) return Error(path + ": is a directory");
  std::string text(kWgQuickMaxFileBytes + 1, '\0');
  size_t used = 0;
  constexpr int kMaxReads = 1 << 16;
  for (int reads = 0; reads < kMaxReads && used < text.size(); ++reads) {
    const ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(path);
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  text.resize(used);
  Result<WgQuickConfig> config = ParseWgQuick(text, path);
  SecureZero(text.data(), text.size());  // the file holds private keys
  return config;
}

Result<std::string> FormatWgQuick(const WgQuickConfig& config) {
  const WgQuickInterface& iface = config.interface;
  std::string out = "[Interface]\n";
  if (iface.private_key) AppendLine(out, "PrivateKey", KeyToBase64(iface.private_key->span()));
  if (iface.listen_port) AppendLine(out, "ListenPort", std::to_string(*iface.listen_port));
  if (iface.fwmark) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", *iface.fwmark);
    AppendLine(out, "FwMark", *iface.fwmark == 0 ? "off" : hex);
  }
  AppendList(out, "Address", FormatPrefixes(iface.addresses));
  {
    std::vector<std::string> dns;
    for (const IpAddress& a : iface.dns_servers) dns.push_back(FormatIpAddress(a));
    for (const std::string& s : iface.dns_search) {
      CL_RETURN_IF_ERROR(CheckWritable("DNS", s, true));
      // A search domain that looks like an address would read back as a (bad) server.
      if (!IsDnsName(s) || std::all_of(s.begin(), s.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); })) {
        return Error("DNS: '" + s + "' is not a search domain");
      }
      dns.push_back(s);
    }
    AppendList(out, "DNS", dns);
  }
  if (iface.mtu) {
    if (*iface.mtu < kMinMtu || *iface.mtu > kMaxMtu) return Error("MTU: out of range");
    AppendLine(out, "MTU", std::to_string(*iface.mtu));
  }
  if (iface.table) {
    if (!IsTableValue(*iface.table)) return Error("Table: '" + *iface.table + "' is not a table");
    AppendLine(out, "Table", *iface.table);
  }
  const std::pair<std::string_view, const std::vector<std::string>*> hooks[] = {{"PreUp", &iface.pre_up},
                                                                                {"PostUp", &iface.post_up},
                                                                                {"PreDown", &iface.pre_down},
                                                                                {"PostDown", &iface.post_down}};
  for (const auto& [key, commands] : hooks) {
    for (const std::string& command : *commands) {
      CL_RETURN_IF_ERROR(CheckWritable(key, command, false));
      if (command.size() > kWgQuickMaxHookLength) return Error(std::string(key) + ": command too long");
      AppendLine(out, key, command);
    }
  }
  if (iface.save_config) AppendLine(out, "SaveConfig", *iface.save_config ? "true" : "false");
  for (const WgQuickPeer& peer : config.peers) {
    out += "\n[Peer]\n";
    AppendLine(out, "PublicKey", KeyToBase64(peer.public_key));
    if (peer.preshared_key) AppendLine(out, "PresharedKey", KeyToBase64(peer.preshared_key->span()));
    AppendList(out, "AllowedIPs", FormatPrefixes(peer.allowed_ips));
    if (peer.endpoint) {
      const std::string endpoint = FormatEndpointText(*peer.endpoint);
      Result<WgQuickEndpoint> reparsed = ParseEndpointText(endpoint);
      if (!reparsed.ok() || !(*reparsed == *peer.endpoint)) return Error("Endpoint: '" + endpoint + "' is not valid");
      AppendLine(out, "Endpoint", endpoint);
    }
    if (peer.persistent_keepalive) {
      AppendLine(out, "PersistentKeepalive",
                 *peer.persistent_keepalive == 0 ? "off" : std::to_string(*peer.persistent_keepalive));
    }
  }
  if (out.size() > kWgQuickMaxFileBytes ||
      static_cast<size_t>(std::count(out.begin(), out.end(), '\n')) > kWgQuickMaxLines) {
    return Error("the formatted config would exceed " + std::to_string(kWgQuickMaxFileBytes) + " bytes or " +
                 std::to_string(kWgQuickMaxLines) + " lines");
  }
  return out;
}

Result<UdpEndpoint> ResolveEndpoint(const WgQuickEndpoint& endpoint) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  addrinfo* results = nullptr;
  const int rc = ::getaddrinfo(endpoint.host.c_str(), nullptr, &hints, &results);
  const std::string what = "resolve " + FormatEndpointText(endpoint);
  if (rc != 0) return Error(what + ": " + (rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc)));
  std::optional<UdpEndpoint> found;
  for (const addrinfo* ai = results; ai != nullptr && !found; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(sockaddr_in)) {
      sockaddr_in sin{};
      std::memcpy(&sin, ai->ai_addr, sizeof sin);
      UdpEndpoint e{IpAddress{IpAddress::Family::kV4, {}}, endpoint.port};
      std::memcpy(e.address.bytes.data(), &sin.sin_addr, 4);
      found = e;
    } else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(sockaddr_in6)) {
      sockaddr_in6 sin6{};
      std::memcpy(&sin6, ai->ai_addr, sizeof sin6);
      UdpEndpoint e{IpAddress{IpAddress::Family::kV6, {}}, endpoint.port};
      std::memcpy(e.address.bytes.data(), &sin6.sin6_addr, 16);
      found = e;
    }
  }
  ::freeaddrinfo(results);
  if (!found) return Error(what + ": no IPv4 or IPv6 address");
  return *found;
}

Result<std::string> InterfaceNameFromPath(std::string_view path) {
  const size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  constexpr std::string_view kSuffix = ".conf";
  if (base.size() <= kSuffix.size() || base.substr(base.size() - kSuffix.size()) != kSuffix) {
    return Error(std::string(path) + ": the file name must be INTERFACE.conf, e.g. wg0.conf");
  }
  const std::string_view name = base.substr(0, base.size() - kSuffix.size());
  const bool valid = name.size() <= 15 && std::all_of(name.begin(), name.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) ||
                              std::string_view("_=+.-").find(c) != std::string_view::npos;
                     });
  if (!valid) {
    return Error(std::string(path) + ": '" + std::string(name.substr(0, 64)) +
                 "' is not an interface name: at most 15 of [a-zA-Z0-9_=+.-]");
  }
  return std::string(name);
}

}  // namespace cloudlet::vpn

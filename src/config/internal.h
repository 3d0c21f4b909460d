// Pieces shared by the YAML reader, the JSON reader and the model checks of src/config/ (not a public interface):
// the problem collector that turns many findings into one Error, and the lexical rules for names and addresses.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/model.h"

namespace cloudlet::config_internal {

// Collects "FILE:LINE: FIELD: message" problems; nothing is accepted unless it stays empty.
class Diagnostics {
 public:
  void Add(const std::string& file, int line, const std::string& field, const std::string& message);
  // `field` could not be decoded: its stored value is only a default, so later findings about it (or anything below
  // it, e.g. "switches[0]" covers "switches[0].name") would only repeat the first one and are dropped.
  void Poison(const std::string& field);
  bool empty() const { return problems_.empty(); }
  size_t size() const { return problems_.size(); }
  // Ok if empty, else one Error listing problems ordered by line, at most kMaxReportedProblems of them.
  Status ToStatus() const;

 private:
  struct Problem {
    std::string file;
    int line;
    std::string text;
  };
  bool IsPoisoned(const std::string& field) const;

  std::vector<Problem> problems_;
  size_t dropped_ = 0;          // beyond the storage bound
  std::set<std::string> seen_;  // identical findings from the reader and the model checks are reported once
  std::set<std::string> poisoned_;
};

// Applies defaults that depend on other fields (an endpoint's netns defaults to its name). Idempotent.
void ApplyDefaults(CloudConfig& config);

// All model checks (see ValidateConfig), reporting into `diag`.
void CheckModel(const CloudConfig& config, Diagnostics& diag);

// ---- Lexical rules -------------------------------------------------------------------------------------------

// Names of switches, ports, links and endpoints: [a-z0-9][a-z0-9-]*, at most 15 characters (they end up in kernel
// interface names and API paths). Returns an empty string if valid, else why not.
std::string CheckObjectName(std::string_view name);
// Kernel interface names (IFNAMSIZ): 1..15 bytes, not "." or "..", no '/', ':' or whitespace.
std::string CheckInterfaceName(std::string_view name);
// VLAN names and network namespace names: [A-Za-z0-9][A-Za-z0-9._-]*, at most 64 characters.
std::string CheckLabel(std::string_view name);

struct IpAddress {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};
  int bits() const;  // 32 or 128
};
std::optional<IpAddress> ParseIp(std::string_view text);
struct Cidr {
  IpAddress address;
  int prefix = 0;
  bool Contains(const IpAddress& ip) const;
  IpAddress Network() const;  // host bits cleared
  IpAddress Last() const;     // host bits set (IPv4: the broadcast address)
};
// "10.0.0.1", "fd00::1".
std::string FormatIp(const IpAddress& ip);
// An address or a prefix: "10.0.0.1" (a /32 or /128) or "10.0.0.0/24". On failure returns nullopt and sets *why.
std::optional<Cidr> ParseAddressOrPrefix(std::string_view text, std::string* why);
// Two prefixes of one family that share an address.
bool Overlaps(const Cidr& a, const Cidr& b);
// "10.10.0.1/24" or "fd00::1/64". On failure returns nullopt and sets *why.
std::optional<Cidr> ParseCidr(std::string_view text, std::string* why);
// "02:00:00:00:00:01" (also with '-'). On failure returns nullopt.
std::optional<std::array<uint8_t, 6>> ParseMac(std::string_view text);

// A WireGuard key as wg(8) writes it: 44 characters of standard base64 for 32 bytes (a final '=', the last data
// character canonical). Returns "" if valid, else why not — never quoting the text, which may be a secret.
std::string CheckKeyBase64(std::string_view text);
// A UDP endpoint "203.0.113.5:51820" or "[2001:db8::1]:51820" (IP literals only: the daemon resolves no names).
struct HostPort {
  IpAddress address;
  uint16_t port = 0;
};
std::optional<HostPort> ParseHostPort(std::string_view text);

// Names of address sets and firewall rules: [a-z0-9_.-], 1..63 characters.
std::string CheckRuleName(std::string_view name);
// A DNS domain: dot-separated labels of letters, digits and '-', at most 253 characters.
std::string CheckDomain(std::string_view name);
// "tcp" -> 6, "udp", "icmp", "icmpv6"; nullopt if not a name.
std::optional<uint8_t> ProtoByName(std::string_view name);
// An ICMP type by name for proto kIcmp or kIcmpv6 ("echo-request" -> 8 or 128); nullopt if unknown for that proto.
std::optional<uint8_t> IcmpTypeByName(std::string_view name, uint8_t proto);

// ---- Containers (endpoints[].container); each returns "" if valid, else why not -------------------------------

// An image in the local store: [registry[:port]/]repo[/repo...][:tag][@sha256:<64 hex>], as Docker names them.
std::string CheckImageReference(std::string_view ref);
// An environment variable name: [A-Za-z_][A-Za-z0-9_]*.
std::string CheckEnvName(std::string_view name);
// A hostname: RFC 1123 labels (letters, digits, '-' inside) joined by '.', at most 64 characters (the kernel's).
std::string CheckHostname(std::string_view name);
// A CPU list as cpuset.cpus takes it: "0-3,6,8-9" (ascending ranges, CPUs below 8192).
std::string CheckCpuList(std::string_view list);
// An absolute path without ".." components or NUL bytes.
std::string CheckAbsolutePath(std::string_view path);

// "10, 20, 100-110".
std::string FormatVlanSet(std::vector<uint16_t> vlans);
// " (did you mean 'vlans'?)" when a candidate is close to `word`, else "".
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);
// "'sw1', 'sw2'" (at most a handful, then "...").
std::string QuoteList(const std::vector<std::string>& items);

}  // namespace cloudlet::config_internal

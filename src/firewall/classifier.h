// The firewall's rule model and its compiled classifier. Rules are what operators write (zones, address prefixes,
// protocol, ports, ICMP type/code, an action); the first matching rule wins. Classifier::Compile turns a rule list
// into an aggregated-bit-vector classifier (per field: the elementary ranges of the field's value space, each with
// the bitset of rules matching it, plus a summary bitset of nonzero 64-rule words), so a lookup costs a few binary
// searches and word ANDs whatever the rule count, instead of a linear scan. ClassifyReference is the brute-force
// definition the compiled form is differentially tested against.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "net/ip_address.h"

namespace cloudlet::firewall {

using ZoneId = uint16_t;  // index of a zone in the rule set's zone list
inline constexpr uint32_t kNoMatch = 0xffffffff;
inline constexpr size_t kMaxRules = 65536;

enum class Action : uint8_t { kAccept, kDrop, kReject };
const char* ActionName(Action action);  // "accept" | "drop" | "reject"

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  bool operator==(const PortRange&) const = default;
};

// One rule. Every empty list / "any" value matches everything in that field.
struct Rule {
  std::vector<ZoneId> from_zones;  // ingress zone in this list (empty: any)
  std::vector<ZoneId> to_zones;    // egress zone in this list (empty: any)
  uint8_t family = 0;              // 0: both, 4 or 6
  std::vector<IpPrefix> src;       // source in one of these prefixes (empty: any); a prefix also fixes the family
  std::vector<IpPrefix> dst;
  uint8_t proto = 0;              // 0: any; else the IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6)
  std::vector<PortRange> sports;  // only with proto tcp/udp (empty: any)
  std::vector<PortRange> dports;
  int16_t icmp_type = -1;  // only with proto icmp/icmpv6; -1: any
  int16_t icmp_code = -1;  // -1: any
  Action action = Action::kAccept;
  bool log = false;
  bool operator==(const Rule&) const = default;
};

// What a new connection is classified by: its first packet's fields, plus the zones it enters from and leaves to.
struct ClassifyKey {
  ZoneId from = 0;
  ZoneId to = 0;
  uint8_t family = 4;  // 4 or 6
  uint8_t proto = 0;
  std::array<uint8_t, 16> src{};  // network order; IPv4 in bytes 0..3, rest zero (as IpAddress)
  std::array<uint8_t, 16> dst{};
  uint16_t sport = 0;  // TCP/UDP ports (0 for other protocols)
  uint16_t dport = 0;
  uint8_t icmp_type = 0;  // ICMP/ICMPv6 only
  uint8_t icmp_code = 0;
};

// Index of the first rule matching `key`, or kNoMatch. The definition of matching, by a linear scan.
uint32_t ClassifyReference(const std::vector<Rule>& rules, const ClassifyKey& key);

class Classifier {
 public:
  // Fails (with the rule's index) on a rule that cannot match anything consistent: ports without tcp/udp, ICMP
  // type/code without icmp/icmpv6, a prefix whose family contradicts `family`, a port range with lo > hi, or more
  // than kMaxRules rules. An empty rule list compiles to a classifier that never matches.
  static Result<std::shared_ptr<const Classifier>> Compile(const std::vector<Rule>& rules);

  // Same answer as ClassifyReference(rules, key). Allocation-free, thread-safe (const).
  uint32_t classify(const ClassifyKey& key) const;
  // classify() over a batch (lets the implementation interleave memory accesses).
  void classify_batch(const ClassifyKey* keys, size_t n, uint32_t* out) const;

  size_t rule_count() const;
  size_t memory_bytes() const;  // for status output and the benchmark

  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

 private:
  Classifier();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloudlet::firewall

// The allowed-IPs table of one WireGuard interface (whitepaper section 2, "cryptokey routing"): IPv4 and IPv6
// prefixes mapped to the peer that owns them. Outbound, lookup(destination) picks the peer to encrypt for; inbound,
// lookup(source) must name the peer the packet authenticated as. A path-compressed binary trie per family, as the
// Linux driver's allowedips.c; lookups walk at most 33/129 nodes and never allocate. Bounded: insert fails when full.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/status.h"

namespace cloudlet::vpn {

// Identifies a peer within one interface; the table attaches no meaning to it.
using PeerId = uint32_t;

struct IpAddress {
  enum class Family : uint8_t { kV4, kV6 };
  Family family = Family::kV4;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses bytes[0..3], the rest stay zero

  static IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {Family::kV4, {a, b, c, d}}; }
  static IpAddress V4(uint32_t host_order) {
    return V4(host_order >> 24, (host_order >> 16) & 0xff, (host_order >> 8) & 0xff, host_order & 0xff);
  }
  static IpAddress V6(const std::array<uint8_t, 16>& b) { return {Family::kV6, b}; }
  int bit_width() const { return family == Family::kV4 ? 32 : 128; }
  bool operator==(const IpAddress&) const = default;
  // Spelled out rather than a defaulted <=>, which clang-tidy's modernize-use-nullptr misreads.
  bool operator<(const IpAddress& o) const { return std::tie(family, bytes) < std::tie(o.family, o.bytes); }
};

struct IpPrefix {
  IpAddress address;
  uint8_t length = 0;
  bool operator==(const IpPrefix&) const = default;
  bool operator<(const IpPrefix& o) const { return std::tie(address, length) < std::tie(o.address, o.length); }
};

// Text forms, as inet_pton/inet_ntop read and write them: "10.0.0.1", "fd00::1" (no zone, no brackets).
std::optional<IpAddress> ParseIpAddress(std::string_view text);
std::string FormatIpAddress(const IpAddress& address);
// "10.0.0.0/24", "fd00::/64": the address as stored (host bits are not masked here) and the length.
std::string FormatIpPrefix(const IpPrefix& prefix);
// The prefix with its host bits cleared (10.1.2.3/8 -> 10.0.0.0/8).
IpPrefix MaskedPrefix(IpPrefix prefix);

class AllowedIps {
 public:
  static constexpr size_t kDefaultMaxEntries = 65536;

  explicit AllowedIps(size_t max_entries = kDefaultMaxEntries) : max_entries_(max_entries) {}

  // Maps `prefix` to `peer`, replacing the owner of an identical prefix. Host bits are masked off first
  // (10.1.2.3/8 is stored as 10.0.0.0/8), as wg(8) does. Fails if the length exceeds the family's width or if
  // the table is full and the prefix is new.
  Status insert(const IpPrefix& prefix, PeerId peer);
  // Removes exactly this prefix (host bits masked); false if it was not present.
  bool remove(const IpPrefix& prefix);
  // Removes every prefix owned by `peer`; returns how many.
  size_t remove_peer(PeerId peer);
  void clear();

  // Longest-prefix match; nullopt if no prefix covers `address`.
  std::optional<PeerId> lookup(const IpAddress& address) const;
  // The (masked) prefixes owned by `peer`, sorted.
  std::vector<IpPrefix> prefixes_of(PeerId peer) const;

  size_t size() const { return entries_; }
  size_t max_entries() const { return max_entries_; }

 private:
  using Key = std::array<uint8_t, 16>;
  static constexpr int32_t kNone = -1;

  // A node is a prefix on the path to its children; it holds a peer only if that prefix was inserted. A node
  // without a peer always has two children (path compression), except transiently inside remove().
  struct Node {
    Key key{};  // masked to `length` bits
    uint8_t length = 0;
    IpAddress::Family family = IpAddress::Family::kV4;
    bool has_peer = false;
    bool in_use = false;
    PeerId peer = 0;
    int32_t parent = kNone;
    std::array<int32_t, 2> child{kNone, kNone};
  };

  int32_t& root_of(IpAddress::Family f) { return roots_[f == IpAddress::Family::kV4 ? 0 : 1]; }
  int32_t root_of(IpAddress::Family f) const { return roots_[f == IpAddress::Family::kV4 ? 0 : 1]; }
  int32_t find_exact(IpAddress::Family f, const Key& key, int length) const;
  int32_t allocate(const Key& key, int length, IpAddress::Family f);
  void release(int32_t index);
  void replace_child(IpAddress::Family f, int32_t parent, int32_t old_child, int32_t new_child);
  void link(int32_t parent, int which, int32_t child);
  void compact(IpAddress::Family f, int32_t index);

  size_t max_entries_;
  size_t entries_ = 0;
  std::array<int32_t, 2> roots_{kNone, kNone};
  std::vector<Node> nodes_;
  std::vector<int32_t> free_;
};

}  // namespace cloudlet::vpn

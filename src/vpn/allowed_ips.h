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
#include "net/ip_address.h"

namespace cloudlet::vpn {

// Identifies a peer within one interface; the table attaches no meaning to it.
using PeerId = uint32_t;

// The address types live in net/ (the router and firewall use them too).
using cloudlet::FormatIpAddress;
using cloudlet::FormatIpPrefix;
using cloudlet::IpAddress;
using cloudlet::IpPrefix;
using cloudlet::MaskedPrefix;
using cloudlet::ParseIpAddress;

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

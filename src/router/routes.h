// The router's routing table: connected routes (from interface addresses) and static routes (via a next hop on a
// connected subnet), with longest-prefix match over one binary trie per family. Built whole from a RouterConfig and
// replaced whole on reconfigure; lookups are allocation-free and cost at most one step per address bit.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/status.h"
#include "net/ip_address.h"

namespace cloudlet::router {

using IfIndex = uint16_t;

struct Route {
  enum class Kind : uint8_t { kConnected, kStatic };
  IpPrefix prefix;               // host bits masked
  std::optional<IpAddress> via;  // static routes: the next hop (on a connected subnet of `iface`)
  IfIndex iface = 0;
  Kind kind = Kind::kConnected;
};

class RouteTable {
 public:
  // Adds a route; fails on a duplicate prefix (a static route may not shadow a connected one of the same length).
  Status add(Route route);
  // Builds the path-compressed form lookup() uses (call after the last add(); until then lookups walk bit by bit).
  void compile();
  // The most specific route containing `dst`, or nullptr.
  const Route* lookup(const IpAddress& dst) const;
  const std::vector<Route>& routes() const { return routes_; }
  size_t size() const { return routes_.size(); }
  void clear();

 private:
  struct Node {
    uint32_t child[2] = {kNone, kNone};
    uint32_t route = kNone;
  };
  static constexpr uint32_t kNone = 0xffffffff;
  uint32_t root(IpAddress::Family family) const { return family == IpAddress::Family::kV4 ? 0 : 1; }

  // Path-compressed copy for lookups: chains of route-less single-child nodes collapse into their end node, which
  // keeps the skipped bits (its key) to verify, so a lookup visits only branching or route-holding nodes.
  struct CNode {
    uint64_t key_hi = 0, key_lo = 0;  // the node's path, first bit most significant; bits past `depth` zero
    uint32_t child[2] = {kNone, kNone};
    uint32_t route = kNone;
    uint16_t depth = 0;
  };
  uint32_t compress(uint32_t node, uint16_t depth, uint64_t hi, uint64_t lo, int width);
  const Route* lookup_uncompiled(const IpAddress& dst) const;

  std::vector<Node> nodes_{2};  // [0] the IPv4 root, [1] the IPv6 root
  std::vector<Route> routes_;
  std::vector<CNode> cnodes_;
  uint32_t croot_[2] = {kNone, kNone};
  bool compiled_ = false;
};

// The route table's definition of matching, by a linear scan (tests compare the trie against it).
const Route* LookupReference(const std::vector<Route>& routes, const IpAddress& dst);

}  // namespace cloudlet::router

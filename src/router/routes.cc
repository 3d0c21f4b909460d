// RouteTable (see routes.h): a binary trie per family, one node per prefix bit on the paths actually used.
#include "router/routes.h"

namespace cloudlet::router {
namespace {

int BitAt(const IpAddress& a, int i) { return (a.bytes[static_cast<size_t>(i / 8)] >> (7 - i % 8)) & 1; }

}  // namespace

Status RouteTable::add(Route route) {
  const int width = route.prefix.address.bit_width();
  if (route.prefix.length > width) return Error("route " + FormatIpPrefix(route.prefix) + ": prefix length too long");
  route.prefix = MaskedPrefix(route.prefix);
  uint32_t node = root(route.prefix.address.family);
  for (int i = 0; i < route.prefix.length; ++i) {
    const int b = BitAt(route.prefix.address, i);
    if (nodes_[node].child[b] == kNone) {
      nodes_[node].child[b] = static_cast<uint32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    node = nodes_[node].child[b];
  }
  if (nodes_[node].route != kNone) {
    return Error("route " + FormatIpPrefix(route.prefix) + " is defined twice (connected or static)");
  }
  nodes_[node].route = static_cast<uint32_t>(routes_.size());
  routes_.push_back(route);
  return Status::Ok();
}

const Route* RouteTable::lookup(const IpAddress& dst) const {
  uint32_t node = root(dst.family);
  uint32_t best = nodes_[node].route;
  const int width = dst.bit_width();
  for (int i = 0; i < width; ++i) {
    node = nodes_[node].child[BitAt(dst, i)];
    if (node == kNone) break;
    if (nodes_[node].route != kNone) best = nodes_[node].route;
  }
  return best == kNone ? nullptr : &routes_[best];
}

void RouteTable::clear() {
  nodes_.assign(2, Node{});
  routes_.clear();
}

const Route* LookupReference(const std::vector<Route>& routes, const IpAddress& dst) {
  const Route* best = nullptr;
  for (const Route& r : routes) {
    if (PrefixContains(r.prefix, dst) && (best == nullptr || r.prefix.length > best->prefix.length)) best = &r;
  }
  return best;
}

}  // namespace cloudlet::router

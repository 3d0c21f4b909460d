// RouteTable (see routes.h): a binary trie per family, one node per prefix bit on the paths actually used.
#include "router/routes.h"

namespace cloudlet::router {
namespace {

int BitAt(const IpAddress& a, int i) { return (a.bytes[static_cast<size_t>(i / 8)] >> (7 - i % 8)) & 1; }

uint64_t LoadBe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

// Whether the first `depth` bits of (hi, lo) and (khi, klo) agree.
bool PrefixEq(uint64_t hi, uint64_t lo, uint64_t khi, uint64_t klo, int depth) {
  if (depth == 0) return true;
  if (depth <= 64) return ((hi ^ khi) >> (64 - depth)) == 0;
  if (hi != khi) return false;
  return depth == 128 ? lo == klo : ((lo ^ klo) >> (128 - depth)) == 0;
}

int Bit128(uint64_t hi, uint64_t lo, int i) { return i < 64 ? (hi >> (63 - i)) & 1 : (lo >> (127 - i)) & 1; }

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
  compiled_ = false;
  return Status::Ok();
}

uint32_t RouteTable::compress(uint32_t node, uint16_t depth, uint64_t hi, uint64_t lo, int width) {
  // Skip route-less nodes with a single child.
  while (nodes_[node].route == kNone && depth < width &&
         ((nodes_[node].child[0] == kNone) != (nodes_[node].child[1] == kNone))) {
    const int b = nodes_[node].child[0] == kNone ? 1 : 0;
    if (b) (depth < 64 ? hi : lo) |= uint64_t{1} << (depth < 64 ? 63 - depth : 127 - depth);
    node = nodes_[node].child[b];
    ++depth;
  }
  const auto index = static_cast<uint32_t>(cnodes_.size());
  cnodes_.emplace_back();
  cnodes_[index].key_hi = hi;
  cnodes_[index].key_lo = lo;
  cnodes_[index].depth = depth;
  cnodes_[index].route = nodes_[node].route;
  for (int b = 0; b < 2; ++b) {
    if (nodes_[node].child[b] == kNone || depth >= width) continue;
    uint64_t h = hi, l = lo;
    if (b) (depth < 64 ? h : l) |= uint64_t{1} << (depth < 64 ? 63 - depth : 127 - depth);
    const uint32_t c = compress(nodes_[node].child[b], static_cast<uint16_t>(depth + 1), h, l, width);
    cnodes_[index].child[b] = c;
  }
  return index;
}

void RouteTable::compile() {
  cnodes_.clear();
  croot_[0] = compress(0, 0, 0, 0, 32);
  croot_[1] = compress(1, 0, 0, 0, 128);
  compiled_ = true;
}

const Route* RouteTable::lookup(const IpAddress& dst) const {
  if (!compiled_) return lookup_uncompiled(dst);
  const int width = dst.bit_width();
  const uint64_t hi = LoadBe64(dst.bytes.data()), lo = LoadBe64(dst.bytes.data() + 8);
  uint32_t best = kNone;
  for (uint32_t n = croot_[root(dst.family)]; n != kNone;) {
    const CNode& c = cnodes_[n];
    if (!PrefixEq(hi, lo, c.key_hi, c.key_lo, c.depth)) break;
    if (c.route != kNone) best = c.route;
    if (c.depth >= width) break;
    n = c.child[Bit128(hi, lo, c.depth)];
  }
  return best == kNone ? nullptr : &routes_[best];
}

const Route* RouteTable::lookup_uncompiled(const IpAddress& dst) const {
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
  cnodes_.clear();
  compiled_ = false;
}

const Route* LookupReference(const std::vector<Route>& routes, const IpAddress& dst) {
  const Route* best = nullptr;
  for (const Route& r : routes) {
    if (PrefixContains(r.prefix, dst) && (best == nullptr || r.prefix.length > best->prefix.length)) best = &r;
  }
  return best;
}

}  // namespace cloudlet::router

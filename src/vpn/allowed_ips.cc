// Path-compressed binary trie for the allowed-IPs table; see allowed_ips.h.
#include "vpn/allowed_ips.h"

#include <algorithm>
#include <bit>
#include <string>

namespace cloudlet::vpn {

namespace {

using Key = std::array<uint8_t, 16>;

int bit_at(const Key& key, int index) { return (key[index / 8] >> (7 - index % 8)) & 1; }

Key masked(const Key& key, int length) {
  Key out{};
  const int full_bytes = length / 8;
  for (int i = 0; i < full_bytes; ++i) out[i] = key[i];
  if (length % 8 != 0) out[full_bytes] = key[full_bytes] & static_cast<uint8_t>(0xff << (8 - length % 8));
  return out;
}

// Number of leading bits a and b share, capped at `limit`.
int common_bits(const Key& a, const Key& b, int limit) {
  for (int i = 0; i * 8 < limit; ++i) {
    const uint8_t diff = a[i] ^ b[i];
    if (diff != 0) return std::min(limit, i * 8 + std::countl_zero(diff));
  }
  return limit;
}

std::string to_string(const IpPrefix& p) {
  std::string s;
  if (p.address.family == IpAddress::Family::kV4) {
    for (int i = 0; i < 4; ++i) s += (i ? "." : "") + std::to_string(p.address.bytes[i]);
  } else {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i += 2) {
      if (i) s += ':';
      for (int j = i; j < i + 2; ++j) {
        s += kHex[p.address.bytes[j] >> 4];
        s += kHex[p.address.bytes[j] & 0xf];
      }
    }
  }
  return s + "/" + std::to_string(p.length);
}

}  // namespace

int32_t AllowedIps::find_exact(IpAddress::Family f, const Key& key, int length) const {
  int32_t cur = root_of(f);
  while (cur != kNone) {
    const Node& n = nodes_[cur];
    if (n.length > length || common_bits(n.key, key, n.length) < n.length) return kNone;
    if (n.length == length) return cur;
    cur = n.child[bit_at(key, n.length)];
  }
  return kNone;
}

int32_t AllowedIps::allocate(const Key& key, int length, IpAddress::Family f) {
  int32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<int32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& n = nodes_[index];
  n = Node{};
  n.key = key;
  n.length = static_cast<uint8_t>(length);
  n.family = f;
  n.in_use = true;
  return index;
}

void AllowedIps::release(int32_t index) {
  nodes_[index] = Node{};
  free_.push_back(index);
}

void AllowedIps::replace_child(IpAddress::Family f, int32_t parent, int32_t old_child, int32_t new_child) {
  if (parent == kNone) {
    root_of(f) = new_child;
  } else {
    Node& p = nodes_[parent];
    p.child[p.child[0] == old_child ? 0 : 1] = new_child;
  }
  if (new_child != kNone) nodes_[new_child].parent = parent;
}

void AllowedIps::link(int32_t parent, int which, int32_t child) {
  nodes_[parent].child[which] = child;
  nodes_[child].parent = parent;
}

Status AllowedIps::insert(const IpPrefix& prefix, PeerId peer) {
  const IpAddress::Family f = prefix.address.family;
  const int length = prefix.length;
  if (length > prefix.address.bit_width()) {
    return Error("allowed IP " + to_string(prefix) + ": prefix length exceeds " +
                 std::to_string(prefix.address.bit_width()));
  }
  const Key key = masked(prefix.address.bytes, length);

  const int32_t existing = find_exact(f, key, length);
  if (existing != kNone && nodes_[existing].has_peer) {
    nodes_[existing].peer = peer;
    return Status::Ok();
  }
  if (entries_ >= max_entries_) {
    return Error("allowed IP " + to_string(IpPrefix{{f, key}, prefix.length}) + ": table is full (" +
                 std::to_string(max_entries_) + " prefixes); remove some or raise the limit");
  }
  ++entries_;
  if (existing != kNone) {  // an intermediate node for exactly this prefix already exists
    nodes_[existing].has_peer = true;
    nodes_[existing].peer = peer;
    return Status::Ok();
  }

  const int32_t leaf = allocate(key, length, f);
  nodes_[leaf].has_peer = true;
  nodes_[leaf].peer = peer;
  int32_t parent = kNone;
  int32_t cur = root_of(f);
  // Bounded by the key width: every step goes one node deeper, and depth strictly increases the node's length.
  while (cur != kNone) {
    const Node& n = nodes_[cur];
    const int common = common_bits(n.key, key, std::min<int>(n.length, length));
    if (common == n.length) {  // n is a proper prefix of the new one (an equal one was found above)
      const int which = bit_at(key, n.length);
      if (n.child[which] == kNone) {
        link(cur, which, leaf);
        return Status::Ok();
      }
      parent = cur;
      cur = n.child[which];
      continue;
    }
    if (common == length) {  // the new prefix is a proper prefix of n: it goes in between
      const int which = bit_at(n.key, length);
      replace_child(f, parent, cur, leaf);
      link(leaf, which, cur);
      return Status::Ok();
    }
    // They diverge below both: a peerless branch node at the common prefix takes both.
    const int32_t branch = allocate(masked(key, common), common, f);  // may move nodes_: no references held
    replace_child(f, parent, cur, branch);
    link(branch, bit_at(nodes_[cur].key, common), cur);
    link(branch, bit_at(key, common), leaf);
    return Status::Ok();
  }
  replace_child(f, parent, kNone, leaf);  // empty trie
  return Status::Ok();
}

// Removes peerless nodes that no longer branch, from `index` upwards.
void AllowedIps::compact(IpAddress::Family f, int32_t index) {
  while (index != kNone) {
    const Node& n = nodes_[index];
    if (n.has_peer) return;
    const int children = (n.child[0] != kNone) + (n.child[1] != kNone);
    if (children == 2) return;
    const int32_t parent = n.parent;
    const int32_t only_child = n.child[0] != kNone ? n.child[0] : n.child[1];
    replace_child(f, parent, index, only_child);
    release(index);
    if (children == 1) return;  // the parent keeps as many children as before
    index = parent;
  }
}

bool AllowedIps::remove(const IpPrefix& prefix) {
  const int length = prefix.length;
  if (length > prefix.address.bit_width()) return false;
  const int32_t index = find_exact(prefix.address.family, masked(prefix.address.bytes, length), length);
  if (index == kNone || !nodes_[index].has_peer) return false;
  nodes_[index].has_peer = false;
  --entries_;
  compact(prefix.address.family, index);
  return true;
}

size_t AllowedIps::remove_peer(PeerId peer) {
  const std::vector<IpPrefix> owned = prefixes_of(peer);
  for (const IpPrefix& p : owned) remove(p);
  return owned.size();
}

void AllowedIps::clear() {
  nodes_.clear();
  free_.clear();
  roots_ = {kNone, kNone};
  entries_ = 0;
}

std::optional<PeerId> AllowedIps::lookup(const IpAddress& address) const {
  std::optional<PeerId> best;
  int32_t cur = root_of(address.family);
  while (cur != kNone) {
    const Node& n = nodes_[cur];
    if (common_bits(n.key, address.bytes, n.length) < n.length) break;
    if (n.has_peer) best = n.peer;
    if (n.length >= address.bit_width()) break;
    cur = n.child[bit_at(address.bytes, n.length)];
  }
  return best;
}

std::vector<IpPrefix> AllowedIps::prefixes_of(PeerId peer) const {
  std::vector<IpPrefix> out;
  for (const Node& n : nodes_) {
    if (n.in_use && n.has_peer && n.peer == peer) out.push_back(IpPrefix{{n.family, n.key}, n.length});
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace cloudlet::vpn

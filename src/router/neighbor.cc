// NeighborTable (see neighbor.h): slot array + open-addressing index (backward-shift deletion) + LRU list + pending
// frame pool.
#include "router/neighbor.h"

#include <cstring>

namespace cloudlet::router {
namespace {

constexpr size_t kEvictScan = 64;  // LRU entries looked at for an eviction victim (bounded work under a flood)

bool SameIp(const IpAddress& a, const IpAddress& b) {
  uint64_t x[2], y[2];
  std::memcpy(x, a.bytes.data(), 16);
  std::memcpy(y, b.bytes.data(), 16);
  return a.family == b.family && x[0] == y[0] && x[1] == y[1];
}

}  // namespace

const char* NeighborStateName(NeighborState state) {
  switch (state) {
    case NeighborState::kIncomplete:
      return "incomplete";
    case NeighborState::kReachable:
      return "reachable";
    case NeighborState::kStale:
      return "stale";
    case NeighborState::kProbe:
      return "probe";
  }
  return "?";
}

NeighborTable::NeighborTable(size_t max_entries, size_t max_pending_per_neighbor, size_t max_pending_total,
                             size_t pending_slot_bytes)
    : max_pending_per_neighbor_(max_pending_per_neighbor), pending_slot_bytes_(pending_slot_bytes) {
  if (max_entries == 0) max_entries = 1;
  slots_.resize(max_entries);
  used_.assign(max_entries, 0);
  lru_prev_.assign(max_entries, kNoSlot);
  lru_next_.assign(max_entries, kNoSlot);
  size_t cap = 16;
  while (cap < 2 * max_entries) cap <<= 1;
  index_.assign(cap, kNoSlot);
  index_mask_ = cap - 1;
  free_slots_.reserve(max_entries);
  for (size_t i = max_entries; i-- > 0;) free_slots_.push_back(static_cast<uint32_t>(i));

  pool_bytes_ = std::make_unique<uint8_t[]>(max_pending_total * pending_slot_bytes + 1);
  pool_.resize(max_pending_total);
  pool_free_.reserve(max_pending_total);
  pool_deferred_.reserve(max_pending_total);
  for (size_t i = max_pending_total; i-- > 0;) {
    pool_[i].data = pool_bytes_.get() + i * pending_slot_bytes;
    pool_free_.push_back(static_cast<uint32_t>(i));
  }
}

uint64_t NeighborTable::hash(IfIndex iface, const IpAddress& ip) const {
  uint64_t a, b;
  std::memcpy(&a, ip.bytes.data(), 8);
  std::memcpy(&b, ip.bytes.data() + 8, 8);
  uint64_t h = (uint64_t{iface} << 1 | (ip.family == IpAddress::Family::kV6)) * 0x9e3779b97f4a7c15ULL;
  h = (h ^ a) * 0xff51afd7ed558ccdULL;
  h = (h ^ (h >> 29) ^ b) * 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 32);
}

size_t NeighborTable::probe(IfIndex iface, const IpAddress& ip) const {
  for (size_t pos = hash(iface, ip) & index_mask_;; pos = (pos + 1) & index_mask_) {
    const uint32_t s = index_[pos];
    if (s == kNoSlot) return SIZE_MAX;
    if (slots_[s].iface == iface && SameIp(slots_[s].ip, ip)) return pos;
  }
}

Neighbor* NeighborTable::find(IfIndex iface, const IpAddress& ip) {
  const size_t pos = probe(iface, ip);
  return pos == SIZE_MAX ? nullptr : &slots_[index_[pos]];
}

void NeighborTable::unlink_lru(uint32_t s) {
  const uint32_t p = lru_prev_[s], n = lru_next_[s];
  (p == kNoSlot ? lru_head_ : lru_next_[p]) = n;
  (n == kNoSlot ? lru_tail_ : lru_prev_[n]) = p;
  lru_prev_[s] = lru_next_[s] = kNoSlot;
}

void NeighborTable::push_lru_front(uint32_t s) {
  lru_prev_[s] = kNoSlot;
  lru_next_[s] = lru_head_;
  if (lru_head_ != kNoSlot) lru_prev_[lru_head_] = s;
  lru_head_ = s;
  if (lru_tail_ == kNoSlot) lru_tail_ = s;
}

void NeighborTable::touch(Neighbor* n, Nanos now) {
  n->used = now;
  const auto s = static_cast<uint32_t>(index_of(n));
  if (lru_head_ == s) return;
  unlink_lru(s);
  push_lru_front(s);
}

Neighbor* NeighborTable::find_or_create(IfIndex iface, const IpAddress& ip, Nanos now, uint64_t* evicted_pending) {
  if (Neighbor* n = find(iface, ip)) return n;
  if (free_slots_.empty()) {
    uint32_t victim = lru_tail_;
    for (size_t i = 0; victim != kNoSlot && i < kEvictScan; ++i, victim = lru_prev_[victim]) {
      if (slots_[victim].effective_state(now) != NeighborState::kReachable) break;
    }
    if (victim == kNoSlot || slots_[victim].effective_state(now) == NeighborState::kReachable) return nullptr;
    if (evicted_pending) *evicted_pending += slots_[victim].pending_count;
    remove(&slots_[victim]);
  }
  const uint32_t s = free_slots_.back();
  free_slots_.pop_back();
  Neighbor& n = slots_[s];
  n = Neighbor{};
  n.iface = iface;
  n.ip = ip;
  n.used = now;
  n.confirmed = now;
  used_[s] = 1;
  size_t pos = hash(iface, ip) & index_mask_;
  while (index_[pos] != kNoSlot) pos = (pos + 1) & index_mask_;
  index_[pos] = s;
  push_lru_front(s);
  ++size_;
  return &n;
}

void NeighborTable::remove(Neighbor* n) {
  const auto s = static_cast<uint32_t>(index_of(n));
  if (!used_[s]) return;
  (void)take_pending(n);  // its slots are freed by release_deferred()
  size_t pos = probe(n->iface, n->ip);
  // Backward-shift deletion keeps every remaining key reachable from its home position without tombstones.
  for (size_t next = (pos + 1) & index_mask_;; next = (next + 1) & index_mask_) {
    const uint32_t t = index_[next];
    if (t == kNoSlot) break;
    const size_t home = hash(slots_[t].iface, slots_[t].ip) & index_mask_;
    // Move t back into the hole unless its home lies cyclically in (pos, next].
    const bool home_in_range = pos <= next ? (home > pos && home <= next) : (home > pos || home <= next);
    if (!home_in_range) {
      index_[pos] = t;
      pos = next;
    }
  }
  index_[pos] = kNoSlot;
  unlink_lru(s);
  used_[s] = 0;
  free_slots_.push_back(s);
  --size_;
}

bool NeighborTable::enqueue(Neighbor* n, const uint8_t* data, uint32_t len, const VnetHdr& vnet, IfIndex in) {
  if (n->pending_count >= max_pending_per_neighbor_ || pool_free_.empty() || len > pending_slot_bytes_) return false;
  const uint32_t p = pool_free_.back();
  pool_free_.pop_back();
  PendingPacket& pp = pool_[p];
  std::memcpy(pp.data, data, len);
  pp.len = len;
  pp.vnet = vnet;
  pp.in = in;
  pp.next = kNoSlot;
  if (n->pending_tail == kNoSlot) {
    n->pending_head = p;
  } else {
    pool_[n->pending_tail].next = p;
  }
  n->pending_tail = p;
  ++n->pending_count;
  ++pending_used_;
  return true;
}

uint32_t NeighborTable::take_pending(Neighbor* n) {
  const uint32_t head = n->pending_head;
  for (uint32_t p = head; p != kNoSlot; p = pool_[p].next) pool_deferred_.push_back(p);
  pending_used_ -= n->pending_count;
  n->pending_head = n->pending_tail = kNoSlot;
  n->pending_count = 0;
  return head;
}

void NeighborTable::release_deferred() {
  for (uint32_t p : pool_deferred_) pool_free_.push_back(p);
  pool_deferred_.clear();
}

void NeighborTable::clear() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (used_[i]) remove(&slots_[i]);
  }
  release_deferred();
}

}  // namespace cloudlet::router

// The router's neighbour cache (ARP for IPv4, ND for IPv6 share it): per (interface, address) the link-layer address
// and an RFC 4861 state, in a fixed-size slot array with an open-addressing index and an LRU list, so nothing
// allocates after construction. Packets waiting for a resolution are copied into a bounded pool of fixed slots
// (per neighbour and in total). The table holds state; the Router decides what to send (neighbor.h does no I/O).
//
// States and timers (Linux's defaults):
//   INCOMPLETE  resolving: a broadcast request / multicast NS every kRetransTime, kMaxProbes times, then removed
//               (the router answers the queued packets with ICMP host unreachable).
//   REACHABLE   confirmed by a reply within kReachableTime; after that it is treated as STALE.
//   STALE       learned or aged: still used; the first use moves it to PROBE.
//   PROBE       in use but unconfirmed: after kDelayFirstProbe, unicast requests every kRetransTime, kMaxProbes
//               times, then removed. A reply makes it REACHABLE again.
// STALE entries unused for kGcStaleTime are removed by age(). When the table is full, the least recently used entry
// that is not REACHABLE is evicted (its queued packets are dropped); if there is none, the new entry is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/clock.h"
#include "net/ethernet.h"
#include "net/ip_address.h"
#include "net/packet.h"
#include "router/routes.h"

namespace cloudlet::router {

enum class NeighborState : uint8_t { kIncomplete, kReachable, kStale, kProbe };
const char* NeighborStateName(NeighborState state);  // "incomplete" | "reachable" | "stale" | "probe"

constexpr Nanos kReachableTime = 30 * kSecond;
constexpr Nanos kDelayFirstProbe = 5 * kSecond;
constexpr Nanos kRetransTime = 1 * kSecond;
constexpr int kMaxProbes = 3;
constexpr Nanos kGcStaleTime = 60 * kSecond;

constexpr uint32_t kNoSlot = 0xffffffff;

struct Neighbor {
  IfIndex iface = 0;
  IpAddress ip;
  MacAddr mac;  // valid unless INCOMPLETE
  NeighborState state = NeighborState::kIncomplete;
  Nanos confirmed = 0;   // last reply (REACHABLE until confirmed + kReachableTime)
  Nanos used = 0;        // last packet sent through it
  Nanos next_probe = 0;  // INCOMPLETE / PROBE: when the next request is due
  uint8_t probes = 0;    // requests sent in this INCOMPLETE / PROBE round
  // Queued packets (slot indices into the pending pool), oldest first.
  uint32_t pending_head = kNoSlot, pending_tail = kNoSlot;
  uint16_t pending_count = 0;

  // REACHABLE past its time counts as STALE.
  NeighborState effective_state(Nanos now) const {
    return state == NeighborState::kReachable && now - confirmed > kReachableTime ? NeighborState::kStale : state;
  }
};

// One packet waiting for its next hop's link-layer address.
struct PendingPacket {
  uint8_t* data = nullptr;  // into the pool (slot_bytes long)
  uint32_t len = 0;
  VnetHdr vnet;
  IfIndex in = 0;  // where it arrived (ICMP errors go back there)
  uint32_t next = kNoSlot;
};

class NeighborTable {
 public:
  // `max_entries` >= 1. The pending pool holds `max_pending_total` frames of up to `pending_slot_bytes` each.
  NeighborTable(size_t max_entries, size_t max_pending_per_neighbor, size_t max_pending_total,
                size_t pending_slot_bytes);

  Neighbor* find(IfIndex iface, const IpAddress& ip);
  // Finds or creates (INCOMPLETE, no MAC). nullptr: the table is full of REACHABLE entries. `*evicted_pending` (if
  // given) counts queued packets dropped by an eviction.
  Neighbor* find_or_create(IfIndex iface, const IpAddress& ip, Nanos now, uint64_t* evicted_pending = nullptr);
  void remove(Neighbor* n);  // its queued packets must have been taken (take_pending) or are dropped
  // Marks `n` most recently used.
  void touch(Neighbor* n, Nanos now);

  // Copies a frame into `n`'s queue. False (nothing queued) when the neighbour's or the pool's bound is reached or
  // the frame is bigger than a slot.
  bool enqueue(Neighbor* n, const uint8_t* data, uint32_t len, const VnetHdr& vnet, IfIndex in);
  // Detaches `n`'s queue and returns its first slot (follow pending(i).next). The slots stay readable until the next
  // release_deferred(); they are freed then.
  uint32_t take_pending(Neighbor* n);
  const PendingPacket& pending(uint32_t slot) const { return pool_[slot]; }
  PendingPacket& pending(uint32_t slot) { return pool_[slot]; }
  // Frees slots taken since the last call (the Router calls it at the start of process()/tick()).
  void release_deferred();

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  size_t pending_total() const { return pending_used_; }
  // Iteration over live entries: slot indices [0, capacity()), live(i) tells which hold one.
  bool live(size_t i) const { return used_[i] != 0; }
  Neighbor& at(size_t i) { return slots_[i]; }
  const Neighbor& at(size_t i) const { return slots_[i]; }
  void clear();

 private:
  uint64_t hash(IfIndex iface, const IpAddress& ip) const;
  size_t index_of(const Neighbor* n) const { return static_cast<size_t>(n - slots_.data()); }
  // Position in index_ holding slot `s`, or SIZE_MAX.
  size_t probe(IfIndex iface, const IpAddress& ip) const;
  void unlink_lru(uint32_t s);
  void push_lru_front(uint32_t s);

  std::vector<Neighbor> slots_;
  std::vector<uint8_t> used_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> index_;  // open addressing, linear probing; kNoSlot = empty
  size_t index_mask_ = 0;
  std::vector<uint32_t> lru_prev_, lru_next_;
  uint32_t lru_head_ = kNoSlot, lru_tail_ = kNoSlot;
  size_t size_ = 0;

  size_t max_pending_per_neighbor_;
  size_t pending_slot_bytes_;
  std::unique_ptr<uint8_t[]> pool_bytes_;
  std::vector<PendingPacket> pool_;
  std::vector<uint32_t> pool_free_;
  std::vector<uint32_t> pool_deferred_;
  size_t pending_used_ = 0;
};

}  // namespace cloudlet::router

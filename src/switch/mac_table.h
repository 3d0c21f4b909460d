// MacTable: where the switch remembers which port each (VLAN, MAC) was last seen on.
// A bounded open-addressing hash table (linear probing, backward-shift deletion, no tombstones) keyed by
// vlan << 48 | mac. All memory is allocated at construction; learning, lookup and aging never allocate.
// The table enforces the learned-address limits (per port and for the whole table) and keeps per-port counts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/clock.h"

namespace cloudlet {

constexpr size_t kMacTablePorts = 64;             // = kMaxPortsPerSwitch
constexpr size_t kMaxMacTableEntries = 1u << 18;  // hard cap on any configured limit (bounds memory: ~12 MiB)

class MacTable {
 public:
  struct Entry {
    uint64_t key = 0;  // 0 = empty slot (VLAN 0 with the zero MAC is never learned)
    Nanos last_seen = 0;
    uint16_t port = 0;
  };

  enum class Learn : uint8_t {
    kRefreshed,  // known on this port; last_seen updated
    kLearned,    // new entry
    kMoved,      // was on another port (`*previous_port`), now on this one
    kLimitHit,   // new address not learned: the port's or the table's limit is reached (a move to a full port
                 // removes the old entry so traffic floods rather than going to the old port)
  };

  static constexpr uint64_t Key(uint16_t vlan, uint64_t mac48) { return uint64_t{vlan} << 48 | mac48; }
  static constexpr uint16_t KeyVlan(uint64_t key) { return static_cast<uint16_t>(key >> 48); }
  static constexpr uint64_t KeyMac(uint64_t key) { return key & 0xffff'ffff'ffffULL; }

  // Holds up to `limit` entries (clamped to 1..kMaxMacTableEntries) at a load factor of at most 1/2.
  explicit MacTable(size_t limit);
  MacTable(MacTable&&) noexcept = default;
  MacTable& operator=(MacTable&&) noexcept = default;

  size_t size() const { return size_; }
  size_t limit() const { return limit_; }
  size_t capacity() const { return mask_ + 1; }
  uint32_t port_count(uint16_t port) const { return port < kMacTablePorts ? port_count_[port] : 0; }

  // Changes the table-wide limit. Never evicts: a lower limit only stops new learning. Returns false if the new
  // limit needs more slots than this table has (the caller then builds a larger table and moves entries over).
  bool set_limit(size_t limit);

  void prefetch(uint64_t key) const { __builtin_prefetch(&slots_[slot_of(key)]); }

  // The entry for `key` if present and seen less than `aging` ago; nullptr otherwise.
  const Entry* find(uint64_t key, Nanos now, Nanos aging) const {
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return now - e.last_seen < aging ? &e : nullptr;
      if (e.key == 0) return nullptr;
    }
  }

  // Records that `key` was seen on `port` at `now`. `port_limit` bounds the entries of that port.
  Learn learn(uint64_t key, uint16_t port, Nanos now, Nanos aging, uint32_t port_limit, uint16_t* previous_port) {
    size_t i = slot_of(key);
    for (;; i = (i + 1) & mask_) {
      Entry& e = slots_[i];
      if (e.key == key) {
        if (e.port == port) {
          e.last_seen = now;
          return Learn::kRefreshed;
        }
        return relearn(i, port, now, aging, port_limit, previous_port);
      }
      if (e.key == 0) break;
    }
    if (size_ >= limit_ || port_count_[port] >= port_limit) return Learn::kLimitHit;
    slots_[i] = Entry{key, now, port};
    ++size_;
    ++port_count_[port];
    return Learn::kLearned;
  }

  bool erase(uint64_t key);
  // Removes every entry of `port`; returns how many.
  size_t erase_port(uint16_t port);
  // Examines up to `max_slots` slots from where the previous call stopped, removing entries not seen for `aging`.
  // Returns how many were removed. capacity() / max_slots calls sweep the whole table.
  size_t expire(Nanos now, Nanos aging, size_t max_slots);
  void clear();

  // Calls fn(const Entry&) for every entry, expired or not.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (size_t i = 0; i <= mask_; ++i)
      if (slots_[i].key != 0) fn(slots_[i]);
  }

 private:
  size_t slot_of(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ULL) >> shift_; }
  Learn relearn(size_t slot, uint16_t port, Nanos now, Nanos aging, uint32_t port_limit, uint16_t* previous_port);
  void erase_at(size_t slot);

  std::unique_ptr<Entry[]> slots_;
  size_t mask_ = 0;
  unsigned shift_ = 64;
  size_t size_ = 0;
  size_t limit_ = 0;
  size_t cursor_ = 0;  // where the next expire() continues
  std::array<uint32_t, kMacTablePorts> port_count_{};
};

}  // namespace cloudlet

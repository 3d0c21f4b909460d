// MacTable: sizing, moves, deletion and aging (the cold paths; lookup and learning are inline in the header).
#include "switch/mac_table.h"

#include <algorithm>
#include <bit>

namespace cloudlet {

MacTable::MacTable(size_t limit) {
  limit_ = std::clamp<size_t>(limit, 1, kMaxMacTableEntries);
  const size_t capacity = std::max<size_t>(16, std::bit_ceil(limit_ * 2));
  slots_ = std::make_unique<Entry[]>(capacity);
  mask_ = capacity - 1;
  shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
}

bool MacTable::set_limit(size_t limit) {
  limit = std::clamp<size_t>(limit, 1, kMaxMacTableEntries);
  if (limit * 2 > capacity()) return false;
  limit_ = limit;
  return true;
}

MacTable::Learn MacTable::relearn(size_t slot, uint16_t port, Nanos now, Nanos aging, uint32_t port_limit,
                                  uint16_t* previous_port) {
  Entry& e = slots_[slot];
  const uint16_t old_port = e.port;
  if (previous_port) *previous_port = old_port;
  if (port_count_[port] >= port_limit) {
    // The address is now behind a port that may not learn more: forget where it was, so frames to it flood
    // (and reach it) instead of going to the old port.
    erase_at(slot);
    return Learn::kLimitHit;
  }
  const bool expired = now - e.last_seen >= aging;
  --port_count_[old_port];
  ++port_count_[port];
  e.port = port;
  e.last_seen = now;
  // An address that went silent past aging and reappears elsewhere did not move: it is learned anew.
  return expired ? Learn::kLearned : Learn::kMoved;
}

void MacTable::erase_at(size_t hole) {
  --port_count_[slots_[hole].port];
  --size_;
  // Backward-shift deletion: pull later entries of the probe run into the hole when their home slot allows it.
  for (size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
    const Entry& e = slots_[j];
    if (e.key == 0) break;
    const size_t home = slot_of(e.key);
    // e may move to `hole` unless its home lies cyclically in (hole, j].
    const bool home_after_hole = ((j - home) & mask_) < ((j - hole) & mask_);
    if (home_after_hole) continue;
    slots_[hole] = e;
    hole = j;
  }
  slots_[hole] = Entry{};
}

bool MacTable::erase(uint64_t key) {
  for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
    if (slots_[i].key == key) {
      erase_at(i);
      return true;
    }
    if (slots_[i].key == 0) return false;
  }
}

size_t MacTable::erase_port(uint16_t port) {
  if (port >= kMacTablePorts) return 0;
  size_t removed = 0;
  // Entries only move toward the slot being examined, so one pass that re-examines a slot after each deletion
  // sees them all; the outer loop is a guard that terminates as soon as the count is zero.
  for (int pass = 0; pass < 2 && port_count_[port] != 0; ++pass) {
    for (size_t i = 0; i <= mask_;) {
      if (slots_[i].key != 0 && slots_[i].port == port) {
        erase_at(i);
        ++removed;
        continue;
      }
      ++i;
    }
  }
  return removed;
}

size_t MacTable::expire(Nanos now, Nanos aging, size_t max_slots) {
  size_t removed = 0;
  for (size_t n = 0; n < max_slots && size_ != 0; ++n) {
    const Entry& e = slots_[cursor_];
    if (e.key != 0 && now - e.last_seen >= aging) {
      erase_at(cursor_);  // another entry may have shifted into cursor_: examine it next
      ++removed;
      continue;
    }
    cursor_ = (cursor_ + 1) & mask_;
  }
  return removed;
}

void MacTable::clear() {
  std::fill(slots_.get(), slots_.get() + capacity(), Entry{});
  size_ = 0;
  cursor_ = 0;
  port_count_.fill(0);
}

}  // namespace cloudlet

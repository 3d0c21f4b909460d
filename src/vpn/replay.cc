// Sliding-window replay check; see replay.h.
#include "vpn/replay.h"

#include <algorithm>

namespace cloudlet::vpn {

bool ReplayWindow::accept(uint64_t counter) {
  if (counter >= kRejectAfterMessages) return false;
  // Work with counter + 1 so that 0 means "nothing received yet"; cannot overflow given the check above.
  const uint64_t position = counter + 1;
  if (position + kWindowSize < greatest_plus_one_) return false;  // older than the window

  const uint64_t block = position / kBitsPerBlock;
  if (position > greatest_plus_one_) {
    // Moving forward: clear every block between the old head and the new one (at most the whole ring).
    const uint64_t current_block = greatest_plus_one_ / kBitsPerBlock;
    const uint64_t to_clear = std::min(block - current_block, kBlocks);
    for (uint64_t i = 1; i <= to_clear; ++i) ring_[(current_block + i) % kBlocks] = 0;
    greatest_plus_one_ = position;
  }
  uint64_t& bits = ring_[block % kBlocks];
  const uint64_t mask = uint64_t{1} << (position % kBitsPerBlock);
  if (bits & mask) return false;  // duplicate
  bits |= mask;
  return true;
}

}  // namespace cloudlet::vpn

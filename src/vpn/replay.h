// The receive-side replay check of one WireGuard session: a sliding window over 64-bit message counters
// (RFC 6479-style ring of 64-bit blocks, as in the Linux driver's counter_validate). Call accept() only after a
// packet authenticated, so a forged counter cannot move the window.
#pragma once

#include <array>
#include <cstdint>

#include "vpn/constants.h"

namespace cloudlet::vpn {

class ReplayWindow {
 public:
  static constexpr uint64_t kBitsPerBlock = 64;
  static constexpr uint64_t kBitsTotal = 2048;
  static constexpr uint64_t kBlocks = kBitsTotal / kBitsPerBlock;
  // One block is always being recycled, so the guaranteed window is one block short of the ring.
  static constexpr uint64_t kWindowSize = kBitsTotal - kBitsPerBlock;

  // True (and the counter is recorded) if `counter` is new and inside the window; false for a replay, a counter
  // too old for the window, or a counter >= kRejectAfterMessages.
  bool accept(uint64_t counter);

  // Highest counter accepted + 1 (0 before the first packet).
  uint64_t next_expected() const { return greatest_plus_one_; }

  void reset() { *this = ReplayWindow{}; }

 private:
  uint64_t greatest_plus_one_ = 0;
  std::array<uint64_t, kBlocks> ring_{};
};

}  // namespace cloudlet::vpn

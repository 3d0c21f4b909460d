// Every edge of the sliding-window replay check.
#include "vpn/replay.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace cloudlet::vpn {
namespace {

constexpr uint64_t kW = ReplayWindow::kWindowSize;

TEST(ReplayWindow, FirstPacketAndInOrder) {
  ReplayWindow w;
  EXPECT_EQ(w.next_expected(), 0u);
  for (uint64_t i = 0; i < 5000; ++i) ASSERT_TRUE(w.accept(i)) << i;
  EXPECT_EQ(w.next_expected(), 5000u);
}

TEST(ReplayWindow, FirstPacketNeedNotBeZero) {
  ReplayWindow w;
  EXPECT_TRUE(w.accept(7));
  EXPECT_TRUE(w.accept(0));  // still inside the window
  EXPECT_FALSE(w.accept(7));
  EXPECT_FALSE(w.accept(0));
}

TEST(ReplayWindow, Duplicates) {
  ReplayWindow w;
  EXPECT_TRUE(w.accept(0));
  EXPECT_FALSE(w.accept(0));
  EXPECT_TRUE(w.accept(1));
  EXPECT_FALSE(w.accept(1));
  EXPECT_FALSE(w.accept(0));
}

TEST(ReplayWindow, OutOfOrderInsideWindow) {
  ReplayWindow w;
  EXPECT_TRUE(w.accept(100));
  EXPECT_TRUE(w.accept(50));
  EXPECT_TRUE(w.accept(99));
  EXPECT_TRUE(w.accept(101));
  EXPECT_FALSE(w.accept(50));
  EXPECT_FALSE(w.accept(99));
  EXPECT_TRUE(w.accept(98));
}

TEST(ReplayWindow, ExactlyAtWindowEdgeAndJustOutside) {
  ReplayWindow w;
  const uint64_t top = 10'000;
  ASSERT_TRUE(w.accept(top));
  EXPECT_FALSE(w.accept(top - kW - 1));  // just outside
  EXPECT_TRUE(w.accept(top - kW));       // exactly at the edge
  EXPECT_FALSE(w.accept(top - kW));
  EXPECT_TRUE(w.accept(top - 1));
}

TEST(ReplayWindow, EdgeOnABlockBoundary) {
  // The head sits at the last bit of a block, so the oldest in-window counter is in the oldest ring slot.
  for (uint64_t top : {uint64_t{64 * 40 - 2}, uint64_t{64 * 40 - 1}, uint64_t{64 * 40}}) {
    ReplayWindow w;
    ASSERT_TRUE(w.accept(top));
    for (uint64_t c = top - kW; c < top; ++c) ASSERT_TRUE(w.accept(c)) << top << " " << c;
    for (uint64_t c = top - kW; c <= top; ++c) ASSERT_FALSE(w.accept(c)) << top << " " << c;
    EXPECT_FALSE(w.accept(top - kW - 1));
  }
}

TEST(ReplayWindow, FarJumpClearsTheBitmap) {
  ReplayWindow w;
  for (uint64_t i = 0; i < 3000; ++i) ASSERT_TRUE(w.accept(i));
  const uint64_t far = 1'000'000;
  ASSERT_TRUE(w.accept(far));
  // Everything old is now outside the window; everything in the window but unseen is accepted exactly once.
  EXPECT_FALSE(w.accept(2999));
  for (uint64_t c = far - kW; c < far; ++c) ASSERT_TRUE(w.accept(c)) << c;
  for (uint64_t c = far - kW; c < far; ++c) ASSERT_FALSE(w.accept(c)) << c;
}

TEST(ReplayWindow, JumpByLessThanTheRingKeepsRecentBits) {
  ReplayWindow w;
  for (uint64_t i = 0; i < 1000; ++i) ASSERT_TRUE(w.accept(i));
  ASSERT_TRUE(w.accept(1500));
  for (uint64_t i = 1500 - kW; i < 1000; ++i) ASSERT_FALSE(w.accept(i)) << i;
  for (uint64_t i = 1000; i < 1500; ++i) ASSERT_TRUE(w.accept(i)) << i;
}

TEST(ReplayWindow, RingWrapsManyTimes) {
  ReplayWindow w;
  // Advance in strides that do not divide the ring so every slot gets recycled at many offsets.
  uint64_t top = 0;
  for (int round = 0; round < 200; ++round) {
    top += 97;
    ASSERT_TRUE(w.accept(top));
    ASSERT_FALSE(w.accept(top));
    ASSERT_TRUE(w.accept(top - 50));
    ASSERT_FALSE(w.accept(top - 50));
  }
  EXPECT_EQ(w.next_expected(), top + 1);
}

TEST(ReplayWindow, RejectAfterMessages) {
  ReplayWindow w;
  EXPECT_FALSE(w.accept(kRejectAfterMessages));
  EXPECT_FALSE(w.accept(std::numeric_limits<uint64_t>::max()));
  EXPECT_TRUE(w.accept(kRejectAfterMessages - 1));
  EXPECT_FALSE(w.accept(kRejectAfterMessages - 1));
  EXPECT_TRUE(w.accept(kRejectAfterMessages - 2));
  EXPECT_FALSE(w.accept(kRejectAfterMessages - 1 - kW - 1));
}

TEST(ReplayWindow, MatchesAReferenceOnRandomTraffic) {
  // Reference: accept iff unseen and counter + W >= highest seen.
  std::mt19937_64 rng(42);
  ReplayWindow w;
  std::set<uint64_t> seen;
  uint64_t highest = 0;
  bool any = false;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t base = any ? highest : 0;
    uint64_t c = base + (rng() % 3000);
    c = c >= 2500 ? c - 2500 : c;                           // mostly near the head, sometimes behind the window
    if (rng() % 100 == 0) c = base + 5000 + rng() % 10000;  // occasional far jump
    const bool expected = !seen.contains(c) && (!any || c + kW >= highest);
    ASSERT_EQ(w.accept(c), expected) << "i=" << i << " c=" << c << " highest=" << highest;
    if (expected) {
      seen.insert(c);
      if (!any || c > highest) highest = c;
      any = true;
    }
  }
}

TEST(ReplayWindow, Reset) {
  ReplayWindow w;
  ASSERT_TRUE(w.accept(5));
  w.reset();
  EXPECT_EQ(w.next_expected(), 0u);
  EXPECT_TRUE(w.accept(5));
}

}  // namespace
}  // namespace cloudlet::vpn

// Handshake rate limiter: burst, refill, per-source buckets, bounds and garbage collection.
#include "vpn/ratelimiter.h"

#include <gtest/gtest.h>

namespace cloudlet::vpn {
namespace {

constexpr Nanos kMs = kMillisecond;

RandomSource Seed() {
  return [n = uint64_t{0}]() mutable { return ++n * 0x9e3779b97f4a7c15ULL; };
}

IpAddress V6(uint8_t net, uint8_t host) {
  std::array<uint8_t, 16> b{0xfd, 0, 0, 0, 0, 0, 0, net};
  b[15] = host;
  return IpAddress::V6(b);
}

int AllowedNow(HandshakeRateLimiter& rl, const IpAddress& a, Nanos now, int tries) {
  int n = 0;
  for (int i = 0; i < tries; ++i) n += rl.allow(a, now);
  return n;
}

TEST(HandshakeRateLimiter, BurstOfFiveThenRefused) {
  HandshakeRateLimiter rl(Seed());
  const IpAddress a = IpAddress::V4(192, 0, 2, 1);
  EXPECT_EQ(AllowedNow(rl, a, 0, 20), 5);
  EXPECT_FALSE(rl.allow(a, 50 * kMs - 1));
  EXPECT_TRUE(rl.allow(a, 50 * kMs));  // one packet's worth of tokens refilled
  EXPECT_FALSE(rl.allow(a, 50 * kMs));
}

TEST(HandshakeRateLimiter, RefillIsCappedAtTheBurst) {
  HandshakeRateLimiter rl(Seed());
  const IpAddress a = IpAddress::V4(192, 0, 2, 1);
  EXPECT_EQ(AllowedNow(rl, a, 0, 5), 5);
  EXPECT_EQ(AllowedNow(rl, a, 900 * kMs, 20), 5);  // idle long enough to refill far more: still a burst of 5
}

TEST(HandshakeRateLimiter, SustainedRateIsTwentyPerSecond) {
  HandshakeRateLimiter rl(Seed());
  const IpAddress a = IpAddress::V4(198, 51, 100, 7);
  int allowed = 0;
  for (Nanos t = 0; t <= 10'000 * kMs; t += kMs) allowed += rl.allow(a, t);
  // The initial burst of 5 plus 20/s for 10 s.
  EXPECT_EQ(allowed, 5 + 200);
}

TEST(HandshakeRateLimiter, BucketsPerIpv4AddressAndPerIpv6Slash64) {
  HandshakeRateLimiter rl(Seed());
  EXPECT_EQ(AllowedNow(rl, IpAddress::V4(10, 0, 0, 1), 0, 10), 5);
  EXPECT_EQ(AllowedNow(rl, IpAddress::V4(10, 0, 0, 2), 0, 10), 5);
  EXPECT_EQ(AllowedNow(rl, V6(1, 1), 0, 3), 3);
  EXPECT_EQ(AllowedNow(rl, V6(1, 2), 0, 10), 2);  // same /64 shares the bucket
  EXPECT_EQ(AllowedNow(rl, V6(2, 1), 0, 10), 5);  // another /64 does not
  EXPECT_EQ(rl.size(), 4u);
}

TEST(HandshakeRateLimiter, IdleSourcesAreCollected) {
  HandshakeRateLimiter rl(Seed());
  ASSERT_TRUE(rl.allow(IpAddress::V4(10, 0, 0, 1), 0));
  ASSERT_TRUE(rl.allow(IpAddress::V4(10, 0, 0, 2), 500 * kMs));
  rl.collect_garbage(1000 * kMs);  // idle exactly 1 s: kept
  EXPECT_EQ(rl.size(), 2u);
  rl.collect_garbage(1000 * kMs + 1);
  EXPECT_EQ(rl.size(), 1u);
  // allow() collects by itself once a second has passed since the last collection.
  ASSERT_TRUE(rl.allow(IpAddress::V4(10, 0, 0, 3), 2100 * kMs));
  EXPECT_EQ(rl.size(), 1u);
}

TEST(HandshakeRateLimiter, FullTableRefusesNewSourcesUntilIdleOnesExpire) {
  HandshakeRateLimiter rl(Seed(), 3);
  ASSERT_TRUE(rl.allow(IpAddress::V4(10, 0, 0, 1), 0));
  ASSERT_TRUE(rl.allow(IpAddress::V4(10, 0, 0, 2), 0));
  ASSERT_TRUE(rl.allow(IpAddress::V4(10, 0, 0, 3), 0));
  EXPECT_FALSE(rl.allow(IpAddress::V4(10, 0, 0, 4), 100 * kMs));
  EXPECT_TRUE(rl.allow(IpAddress::V4(10, 0, 0, 1), 100 * kMs));  // known sources still get their rate
  EXPECT_EQ(rl.size(), 3u);
  // 10.0.0.2 and .3 idle for over a second are collected; the new source gets in.
  EXPECT_TRUE(rl.allow(IpAddress::V4(10, 0, 0, 4), 1050 * kMs));
  EXPECT_EQ(rl.size(), 2u);
}

TEST(HandshakeRateLimiter, ClockSteppingBackDoesNotMint) {
  HandshakeRateLimiter rl(Seed());
  const IpAddress a = IpAddress::V4(10, 0, 0, 1);
  EXPECT_EQ(AllowedNow(rl, a, 1000 * kMs, 10), 5);
  EXPECT_EQ(AllowedNow(rl, a, 500 * kMs, 10), 0);
  EXPECT_EQ(AllowedNow(rl, a, 1050 * kMs, 10), 1);
}

}  // namespace
}  // namespace cloudlet::vpn

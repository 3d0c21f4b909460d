// Tests for switch/mac_table.h: learning, lookup, moves, limits, deletion (checked against std::map), aging.
#include "switch/mac_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace cloudlet {
namespace {

constexpr Nanos kAging = 300 * kSecond;
constexpr uint32_t kNoLimit = 1u << 30;

uint64_t K(uint16_t vlan, uint64_t mac) { return MacTable::Key(vlan, mac); }

TEST(MacTableTest, LearnFindRefresh) {
  MacTable t(100);
  EXPECT_GE(t.capacity(), 200u);
  EXPECT_EQ(t.find(K(1, 0xa), 0, kAging), nullptr);
  EXPECT_EQ(t.learn(K(1, 0xa), 3, 0, kAging, kNoLimit, nullptr), MacTable::Learn::kLearned);
  const MacTable::Entry* e = t.find(K(1, 0xa), 10, kAging);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->port, 3);
  EXPECT_EQ(t.find(K(2, 0xa), 10, kAging), nullptr) << "same MAC in another VLAN is another entry";
  EXPECT_EQ(t.learn(K(1, 0xa), 3, 5 * kSecond, kAging, kNoLimit, nullptr), MacTable::Learn::kRefreshed);
  EXPECT_EQ(t.find(K(1, 0xa), 5 * kSecond, kAging)->last_seen, 5 * kSecond);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.port_count(3), 1u);
  EXPECT_EQ(MacTable::KeyVlan(K(7, 0x123456789abc)), 7);
  EXPECT_EQ(MacTable::KeyMac(K(7, 0x123456789abc)), 0x123456789abcULL);
}

TEST(MacTableTest, MoveUpdatesPortCounts) {
  MacTable t(100);
  ASSERT_EQ(t.learn(K(1, 0xa), 1, 0, kAging, kNoLimit, nullptr), MacTable::Learn::kLearned);
  uint16_t previous = 99;
  EXPECT_EQ(t.learn(K(1, 0xa), 2, kSecond, kAging, kNoLimit, &previous), MacTable::Learn::kMoved);
  EXPECT_EQ(previous, 1);
  EXPECT_EQ(t.port_count(1), 0u);
  EXPECT_EQ(t.port_count(2), 1u);
  EXPECT_EQ(t.find(K(1, 0xa), kSecond, kAging)->port, 2);
  // Reappearing elsewhere after it aged out is a fresh learn, not a move.
  EXPECT_EQ(t.learn(K(1, 0xa), 3, kSecond + kAging, kAging, kNoLimit, nullptr), MacTable::Learn::kLearned);
  EXPECT_EQ(t.port_count(2), 0u);
  EXPECT_EQ(t.port_count(3), 1u);
}

TEST(MacTableTest, PortAndTableLimits) {
  MacTable t(10);
  for (uint64_t m = 1; m <= 4; ++m) EXPECT_EQ(t.learn(K(1, m), 0, 0, kAging, 4, nullptr), MacTable::Learn::kLearned);
  EXPECT_EQ(t.learn(K(1, 5), 0, 0, kAging, 4, nullptr), MacTable::Learn::kLimitHit);
  EXPECT_EQ(t.learn(K(1, 1), 0, 1, kAging, 4, nullptr), MacTable::Learn::kRefreshed) << "known addresses still refresh";
  for (uint64_t m = 100; m < 106; ++m)
    EXPECT_EQ(t.learn(K(1, m), 1, 0, kAging, 100, nullptr), MacTable::Learn::kLearned);
  EXPECT_EQ(t.size(), 10u);
  EXPECT_EQ(t.learn(K(1, 200), 2, 0, kAging, 100, nullptr), MacTable::Learn::kLimitHit) << "table full";
  EXPECT_EQ(t.size(), 10u);
  // A move onto a full port forgets the address rather than keep pointing at the old port.
  EXPECT_EQ(t.learn(K(1, 100), 0, 1, kAging, 4, nullptr), MacTable::Learn::kLimitHit);
  EXPECT_EQ(t.find(K(1, 100), 1, kAging), nullptr);
  EXPECT_EQ(t.port_count(1), 5u);
  // A move between ports within limits works even when the table is full.
  EXPECT_EQ(t.learn(K(1, 300), 2, 1, kAging, 100, nullptr), MacTable::Learn::kLearned);  // 9 entries: room again
  EXPECT_EQ(t.size(), 10u);
  EXPECT_EQ(t.learn(K(1, 102), 2, 1, kAging, 100, nullptr), MacTable::Learn::kMoved);
  EXPECT_EQ(t.port_count(2), 2u);
}

TEST(MacTableTest, SetLimitNeverEvicts) {
  MacTable t(100);
  for (uint64_t m = 1; m <= 50; ++m)
    ASSERT_EQ(t.learn(K(1, m), 0, 0, kAging, kNoLimit, nullptr), MacTable::Learn::kLearned);
  EXPECT_TRUE(t.set_limit(10));
  EXPECT_EQ(t.size(), 50u);
  EXPECT_EQ(t.learn(K(1, 999), 0, 0, kAging, kNoLimit, nullptr), MacTable::Learn::kLimitHit);
  EXPECT_NE(t.find(K(1, 7), 0, kAging), nullptr);
  EXPECT_FALSE(t.set_limit(t.capacity())) << "cannot exceed half the slots";
}

TEST(MacTableTest, RandomOperationsMatchReferenceMap) {
  MacTable t(512);
  std::map<uint64_t, uint16_t> ref;
  std::mt19937_64 rng(42);
  for (int step = 0; step < 200000; ++step) {
    // Small key space so probe runs collide, wrap and get erased from the middle.
    const uint64_t key = K(1 + rng() % 3, 1 + rng() % 400);
    const uint16_t port = rng() % 8;
    const int op = rng() % 10;
    if (op < 6) {
      auto r = t.learn(key, port, 0, kAging, kNoLimit, nullptr);
      if (r != MacTable::Learn::kLimitHit) ref[key] = port;
    } else if (op < 9) {
      EXPECT_EQ(t.erase(key), ref.erase(key) == 1);
    } else if (rng() % 100 == 0) {
      t.erase_port(port);
      std::erase_if(ref, [&](const auto& kv) { return kv.second == port; });
    }
    if (step % 5000 == 0 || step > 199000) {
      ASSERT_EQ(t.size(), ref.size());
      for (const auto& [k, p] : ref) {
        const MacTable::Entry* e = t.find(k, 0, kAging);
        ASSERT_NE(e, nullptr) << "step " << step;
        ASSERT_EQ(e->port, p);
      }
      size_t seen = 0;
      t.for_each([&](const MacTable::Entry& e) {
        ++seen;
        ASSERT_EQ(ref.count(e.key), 1u);
      });
      ASSERT_EQ(seen, ref.size());
      for (uint16_t p = 0; p < 8; ++p) {
        size_t n = std::count_if(ref.begin(), ref.end(), [&](const auto& kv) { return kv.second == p; });
        ASSERT_EQ(t.port_count(p), n);
      }
    }
  }
}

TEST(MacTableTest, ExpireIsBoundedAndComplete) {
  MacTable t(1000);
  for (uint64_t m = 1; m <= 1000; ++m)
    ASSERT_EQ(t.learn(K(1, m), m % 4, m <= 500 ? 0 : 100 * kSecond, kAging, kNoLimit, nullptr),
              MacTable::Learn::kLearned);
  const Nanos now = kAging + 50 * kSecond;  // the first 500 are expired, the others not
  EXPECT_EQ(t.find(K(1, 1), now, kAging), nullptr) << "lookups ignore expired entries before they are swept";
  EXPECT_NE(t.find(K(1, 501), now, kAging), nullptr);
  size_t removed = t.expire(now, kAging, 64);
  EXPECT_LE(removed, 64u);
  for (size_t i = 0; i < 2 * t.capacity() / 64 + 2; ++i) removed += t.expire(now, kAging, 64);
  EXPECT_EQ(removed, 500u);
  EXPECT_EQ(t.size(), 500u);
  for (uint64_t m = 501; m <= 1000; ++m) ASSERT_NE(t.find(K(1, m), now, kAging), nullptr);
  uint32_t total = 0;
  for (uint16_t p = 0; p < 4; ++p) total += t.port_count(p);
  EXPECT_EQ(total, 500u);
}

TEST(MacTableTest, EraseAndClear) {
  MacTable t(64);
  for (uint64_t m = 1; m <= 60; ++m)
    ASSERT_NE(t.learn(K(5, m), m % 3, 0, kAging, kNoLimit, nullptr), MacTable::Learn::kLimitHit);
  EXPECT_EQ(t.erase_port(1), 20u);
  EXPECT_EQ(t.port_count(1), 0u);
  EXPECT_EQ(t.size(), 40u);
  EXPECT_FALSE(t.erase(K(5, 1)));  // 1 % 3 == 1, already gone
  EXPECT_TRUE(t.erase(K(5, 3)));
  t.clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.port_count(0), 0u);
}

}  // namespace
}  // namespace cloudlet

#include "router/neighbor.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace cloudlet::router {
namespace {

IpAddress V4(uint32_t i) { return IpAddress::V4(0x0a000000 + i); }

TEST(NeighborTable, FindCreateRemoveAgainstMap) {
  NeighborTable t(512, 4, 16, 2048);
  std::map<std::pair<IfIndex, uint32_t>, Neighbor*> model;
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const auto iface = static_cast<IfIndex>(rng() % 3);
    const uint32_t ip = rng() % 400;
    auto it = model.find({iface, ip});
    if (rng() % 3 == 0) {
      if (it != model.end()) {
        t.remove(it->second);
        model.erase(it);
      }
      ASSERT_EQ(t.find(iface, V4(ip)), nullptr);
      continue;
    }
    Neighbor* n = t.find_or_create(iface, V4(ip), 0);
    if (it != model.end()) {
      ASSERT_EQ(n, it->second);
    } else if (n) {
      n->state = NeighborState::kReachable;  // nothing evictable: the model stays exact
      model[{iface, ip}] = n;
    }
    ASSERT_EQ(t.size(), model.size());
  }
  for (auto& [key, n] : model) ASSERT_EQ(t.find(key.first, V4(key.second)), n);
}

TEST(NeighborTable, BoundedWithLruEvictionOfUnconfirmed) {
  NeighborTable t(4, 4, 16, 2048);
  for (uint32_t i = 0; i < 4; ++i) {
    Neighbor* n = t.find_or_create(0, V4(i), 0);
    ASSERT_NE(n, nullptr);
    n->state = i == 1 ? NeighborState::kStale : NeighborState::kReachable;
    n->confirmed = 0;
  }
  // Full: the only non-REACHABLE entry (1) goes.
  ASSERT_NE(t.find_or_create(0, V4(10), 1), nullptr);
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.find(0, V4(1)), nullptr);
  EXPECT_NE(t.find(0, V4(0)), nullptr);
  // The new one is INCOMPLETE, hence evictable; mark it reachable: now nothing can go.
  t.find(0, V4(10))->state = NeighborState::kReachable;
  t.find(0, V4(10))->confirmed = 1;
  EXPECT_EQ(t.find_or_create(0, V4(11), 2), nullptr);
  EXPECT_EQ(t.size(), 4u);
  // REACHABLE entries age into STALE, and then the least recently used goes first.
  const Nanos later = kReachableTime + 10;
  t.touch(t.find(0, V4(0)), later);
  ASSERT_NE(t.find_or_create(0, V4(12), later), nullptr);
  EXPECT_NE(t.find(0, V4(0)), nullptr);  // touched: most recently used
  EXPECT_EQ(t.find(0, V4(2)), nullptr);  // least recently used of the aged ones
}

TEST(NeighborTable, PendingBounds) {
  NeighborTable t(8, 2, 3, 100);
  Neighbor* a = t.find_or_create(0, V4(1), 0);
  Neighbor* b = t.find_or_create(0, V4(2), 0);
  uint8_t frame[200] = {1, 2, 3};
  VnetHdr vnet;
  EXPECT_TRUE(t.enqueue(a, frame, 60, vnet, 1));
  EXPECT_TRUE(t.enqueue(a, frame, 61, vnet, 1));
  EXPECT_FALSE(t.enqueue(a, frame, 60, vnet, 1));   // per neighbour
  EXPECT_FALSE(t.enqueue(b, frame, 101, vnet, 1));  // bigger than a slot
  EXPECT_TRUE(t.enqueue(b, frame, 60, vnet, 1));
  EXPECT_FALSE(t.enqueue(b, frame, 60, vnet, 1));  // pool
  EXPECT_EQ(t.pending_total(), 3u);

  uint32_t s = t.take_pending(a);
  ASSERT_NE(s, kNoSlot);
  EXPECT_EQ(t.pending(s).len, 60u);
  EXPECT_EQ(t.pending(s).data[2], 3);
  EXPECT_EQ(t.pending(t.pending(s).next).len, 61u);
  EXPECT_EQ(t.pending(t.pending(s).next).next, kNoSlot);
  EXPECT_EQ(a->pending_count, 0);
  // Taken slots stay readable (and unavailable) until release_deferred().
  Neighbor* c = t.find_or_create(0, V4(3), 0);
  EXPECT_FALSE(t.enqueue(c, frame, 60, vnet, 1));
  t.release_deferred();
  EXPECT_TRUE(t.enqueue(c, frame, 60, vnet, 1));
  EXPECT_TRUE(t.enqueue(c, frame, 60, vnet, 1));
  // Removing a neighbour frees its queue (after the deferral).
  t.remove(b);
  t.remove(c);
  t.release_deferred();
  EXPECT_EQ(t.pending_total(), 0u);
  Neighbor* d = t.find_or_create(0, V4(4), 0);
  EXPECT_TRUE(t.enqueue(d, frame, 60, vnet, 1));
  EXPECT_TRUE(t.enqueue(d, frame, 60, vnet, 1));
}

}  // namespace
}  // namespace cloudlet::router

// The allowed-IPs trie: unit cases, then a differential test against a brute-force longest-prefix match.
#include "vpn/allowed_ips.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace cloudlet::vpn {
namespace {

IpPrefix V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len) { return {IpAddress::V4(a, b, c, d), len}; }
IpAddress V6Addr(uint16_t first, uint16_t last) {
  std::array<uint8_t, 16> b{};
  b[0] = first >> 8;
  b[1] = first & 0xff;
  b[14] = last >> 8;
  b[15] = last & 0xff;
  return IpAddress::V6(b);
}

TEST(AllowedIps, LongestPrefixWins) {
  AllowedIps t;
  ASSERT_TRUE(t.insert(V4(10, 0, 0, 0, 8), 1).ok());
  ASSERT_TRUE(t.insert(V4(10, 1, 0, 0, 16), 2).ok());
  ASSERT_TRUE(t.insert(V4(10, 1, 2, 3, 32), 3).ok());
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 9, 9, 9)), 1u);
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 1, 9, 9)), 2u);
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 1, 2, 3)), 3u);
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 1, 2, 4)), 2u);
  EXPECT_EQ(t.lookup(IpAddress::V4(11, 0, 0, 0)), std::nullopt);
  EXPECT_EQ(t.size(), 3u);
}

TEST(AllowedIps, DefaultRouteAndFamiliesAreSeparate) {
  AllowedIps t;
  ASSERT_TRUE(t.insert(V4(0, 0, 0, 0, 0), 7).ok());
  EXPECT_EQ(t.lookup(IpAddress::V4(255, 255, 255, 255)), 7u);
  EXPECT_EQ(t.lookup(IpAddress::V4(0, 0, 0, 0)), 7u);
  EXPECT_EQ(t.lookup(V6Addr(0, 0)), std::nullopt);
  ASSERT_TRUE(t.insert({IpAddress::V6({}), 0}, 8).ok());
  EXPECT_EQ(t.lookup(V6Addr(0xfd00, 1)), 8u);
  EXPECT_EQ(t.lookup(IpAddress::V4(1, 2, 3, 4)), 7u);
}

TEST(AllowedIps, HostBitsAreMaskedAndIdenticalPrefixIsReplaced) {
  AllowedIps t;
  ASSERT_TRUE(t.insert(V4(192, 168, 7, 99, 24), 1).ok());
  EXPECT_EQ(t.prefixes_of(1), std::vector<IpPrefix>{V4(192, 168, 7, 0, 24)});
  ASSERT_TRUE(t.insert(V4(192, 168, 7, 1, 24), 2).ok());  // same prefix once masked: moves to peer 2
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.prefixes_of(1).empty());
  EXPECT_EQ(t.lookup(IpAddress::V4(192, 168, 7, 200)), 2u);
  EXPECT_TRUE(t.remove(V4(192, 168, 7, 55, 24)));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.lookup(IpAddress::V4(192, 168, 7, 200)), std::nullopt);
}

TEST(AllowedIps, RejectsTooLongPrefix) {
  AllowedIps t;
  const Status st = t.insert(V4(10, 0, 0, 0, 33), 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("10.0.0.0/33"), std::string::npos) << st.message();
  EXPECT_FALSE(t.insert({V6Addr(1, 1), 129}, 1).ok());
  EXPECT_FALSE(t.remove(V4(10, 0, 0, 0, 33)));
}

TEST(AllowedIps, BoundedWithAClearError) {
  AllowedIps t(3);
  ASSERT_TRUE(t.insert(V4(10, 0, 0, 1, 32), 1).ok());
  ASSERT_TRUE(t.insert(V4(10, 0, 0, 2, 32), 1).ok());
  ASSERT_TRUE(t.insert(V4(10, 0, 0, 3, 32), 1).ok());
  const Status st = t.insert(V4(10, 0, 0, 4, 32), 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("full"), std::string::npos) << st.message();
  EXPECT_TRUE(t.insert(V4(10, 0, 0, 3, 32), 2).ok());  // replacing an existing prefix still works when full
  EXPECT_TRUE(t.remove(V4(10, 0, 0, 1, 32)));
  EXPECT_TRUE(t.insert(V4(10, 0, 0, 4, 32), 1).ok());
}

TEST(AllowedIps, RemovePeerAndListing) {
  AllowedIps t;
  ASSERT_TRUE(t.insert(V4(10, 0, 0, 0, 8), 1).ok());
  ASSERT_TRUE(t.insert(V4(10, 1, 0, 0, 16), 2).ok());
  ASSERT_TRUE(t.insert({V6Addr(0xfd00, 0), 16}, 1).ok());
  ASSERT_TRUE(t.insert(V4(172, 16, 0, 0, 12), 1).ok());
  EXPECT_EQ(t.prefixes_of(1).size(), 3u);
  EXPECT_EQ(t.remove_peer(1), 3u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 1, 1, 1)), 2u);
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 2, 1, 1)), std::nullopt);
  EXPECT_EQ(t.lookup(V6Addr(0xfd00, 5)), std::nullopt);
  EXPECT_EQ(t.remove_peer(1), 0u);
  EXPECT_FALSE(t.remove(V4(10, 0, 0, 0, 8)));
  t.clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 1, 1, 1)), std::nullopt);
}

TEST(AllowedIps, InsertingAtABranchPointAndRemovingIt) {
  AllowedIps t;
  // 10.0.0.0/24 and 10.0.1.0/24 create a peerless branch at 10.0.0.0/23; then /23 itself is inserted and removed.
  ASSERT_TRUE(t.insert(V4(10, 0, 0, 0, 24), 1).ok());
  ASSERT_TRUE(t.insert(V4(10, 0, 1, 0, 24), 2).ok());
  EXPECT_FALSE(t.remove(V4(10, 0, 0, 0, 23)));
  ASSERT_TRUE(t.insert(V4(10, 0, 0, 0, 23), 3).ok());
  EXPECT_EQ(t.size(), 3u);
  EXPECT_TRUE(t.remove(V4(10, 0, 0, 0, 24)));
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 0, 0, 5)), 3u);
  EXPECT_TRUE(t.remove(V4(10, 0, 0, 0, 23)));
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 0, 0, 5)), std::nullopt);
  EXPECT_EQ(t.lookup(IpAddress::V4(10, 0, 1, 5)), 2u);
}

// Brute-force reference: a map of masked prefixes, longest match by scanning.
class Reference {
 public:
  void insert(const IpPrefix& p, PeerId peer) { map_[mask(p)] = peer; }
  bool remove(const IpPrefix& p) { return map_.erase(mask(p)) > 0; }
  std::optional<PeerId> lookup(const IpAddress& a) const {
    std::optional<PeerId> best;
    int best_len = -1;
    for (const auto& [p, peer] : map_) {
      if (p.address.family != a.family || p.length <= best_len) continue;
      if (mask({a, p.length}) == p) {
        best = peer;
        best_len = p.length;
      }
    }
    return best;
  }
  size_t size() const { return map_.size(); }
  const std::map<IpPrefix, PeerId>& entries() const { return map_; }
  static IpPrefix mask(IpPrefix p) {
    for (int i = 0; i < 16; ++i) {
      const int keep = std::clamp(p.length - i * 8, 0, 8);
      p.address.bytes[i] &= static_cast<uint8_t>(0xff00 >> keep);
    }
    return p;
  }

 private:
  std::map<IpPrefix, PeerId> map_;
};

void Differential(IpAddress::Family family, uint32_t seed) {
  std::mt19937 rng(seed);
  const int width = family == IpAddress::Family::kV4 ? 32 : 128;
  const int bytes = width / 8;
  // A few base addresses so prefixes nest and share paths; lengths biased to the edges 0, 1, width-1, width.
  std::vector<IpAddress> bases;
  for (int i = 0; i < 8; ++i) {
    IpAddress a{family, {}};
    for (int j = 0; j < bytes; ++j) a.bytes[j] = rng();
    bases.push_back(a);
  }
  auto random_address = [&] {
    IpAddress a = bases[rng() % bases.size()];
    const int flip_from = rng() % (width + 1);  // keep a random-length prefix of a base, randomize the rest
    for (int bit = flip_from; bit < width; ++bit) {
      if (rng() & 1) a.bytes[bit / 8] ^= static_cast<uint8_t>(0x80 >> (bit % 8));
    }
    return a;
  };
  auto random_length = [&] {
    const uint32_t r = rng() % 10;
    if (r == 0) return 0;
    if (r == 1) return width;
    if (r == 2) return width - 1;
    if (r == 3) return 1;
    return static_cast<int>(rng() % (width + 1));
  };

  AllowedIps table;
  Reference ref;
  for (int step = 0; step < 6000; ++step) {
    const uint32_t op = rng() % 10;
    if (op < 5) {
      const IpPrefix p{random_address(), static_cast<uint8_t>(random_length())};
      const PeerId peer = rng() % 20;
      ASSERT_TRUE(table.insert(p, peer).ok());
      ref.insert(p, peer);
    } else if (op < 7 && ref.size() > 0) {
      auto it = ref.entries().begin();
      std::advance(it, rng() % ref.size());
      const IpPrefix p = it->first;
      ASSERT_TRUE(table.remove(p));
      ref.remove(p);
    } else if (op < 8) {
      const IpPrefix p{random_address(), static_cast<uint8_t>(random_length())};
      ASSERT_EQ(table.remove(p), ref.remove(p));
    } else if (op < 9 && step % 50 == 0) {
      const PeerId peer = rng() % 20;
      std::vector<IpPrefix> expected;
      for (const auto& [p, owner] : ref.entries()) {
        if (owner == peer) expected.push_back(p);
      }
      ASSERT_EQ(table.prefixes_of(peer), expected);
      ASSERT_EQ(table.remove_peer(peer), expected.size());
      for (const IpPrefix& p : expected) ref.remove(p);
    }
    ASSERT_EQ(table.size(), ref.size());
    for (int q = 0; q < 4; ++q) {
      const IpAddress a = random_address();
      ASSERT_EQ(table.lookup(a), ref.lookup(a)) << "step " << step;
    }
  }
  // Drain everything: the trie must end empty and answer nothing.
  while (ref.size() > 0) {
    const IpPrefix p = ref.entries().begin()->first;
    ASSERT_TRUE(table.remove(p));
    ref.remove(p);
  }
  EXPECT_EQ(table.size(), 0u);
  for (int q = 0; q < 100; ++q) EXPECT_EQ(table.lookup(random_address()), std::nullopt);
}

TEST(AllowedIps, DifferentialV4) {
  for (uint32_t seed = 1; seed <= 3; ++seed) Differential(IpAddress::Family::kV4, seed);
}

TEST(AllowedIps, DifferentialV6) {
  for (uint32_t seed = 1; seed <= 3; ++seed) Differential(IpAddress::Family::kV6, seed);
}

TEST(AllowedIps, MixedFamiliesDoNotInterfere) {
  AllowedIps t;
  ASSERT_TRUE(t.insert(V4(0, 0, 0, 0, 0), 4).ok());
  ASSERT_TRUE(t.insert({V6Addr(0, 0), 128}, 6).ok());
  EXPECT_EQ(t.lookup(IpAddress::V4(0, 0, 0, 0)), 4u);
  EXPECT_EQ(t.lookup(V6Addr(0, 0)), 6u);
  EXPECT_EQ(t.lookup(V6Addr(0, 1)), std::nullopt);
}

}  // namespace
}  // namespace cloudlet::vpn

#include "router/routes.h"

#include <gtest/gtest.h>

#include <random>

namespace cloudlet::router {
namespace {

IpPrefix P(const char* text) { return *ParseIpPrefix(text); }
IpAddress A(const char* text) { return *ParseIpAddress(text); }

TEST(RouteTable, LongestPrefixWins) {
  RouteTable t;
  ASSERT_TRUE(t.add(Route{P("0.0.0.0/0"), A("10.0.0.254"), 2, Route::Kind::kStatic}).ok());
  ASSERT_TRUE(t.add(Route{P("10.0.0.0/8"), std::nullopt, 0, Route::Kind::kConnected}).ok());
  ASSERT_TRUE(t.add(Route{P("10.1.0.0/16"), std::nullopt, 1, Route::Kind::kConnected}).ok());
  ASSERT_TRUE(t.add(Route{P("10.1.2.3/32"), std::nullopt, 3, Route::Kind::kConnected}).ok());
  t.compile();
  EXPECT_EQ(t.lookup(A("10.1.2.3"))->iface, 3);
  EXPECT_EQ(t.lookup(A("10.1.2.4"))->iface, 1);
  EXPECT_EQ(t.lookup(A("10.2.0.1"))->iface, 0);
  EXPECT_EQ(t.lookup(A("192.168.1.1"))->iface, 2);
  EXPECT_EQ(t.lookup(A("fd00::1")), nullptr);  // families are separate
}

TEST(RouteTable, HostBitsMaskedAndDuplicatesRejected) {
  RouteTable t;
  ASSERT_TRUE(t.add(Route{P("10.1.2.3/24"), std::nullopt, 0, Route::Kind::kConnected}).ok());
  EXPECT_EQ(t.routes()[0].prefix, P("10.1.2.0/24"));
  Status st = t.add(Route{P("10.1.2.0/24"), A("10.1.2.1"), 1, Route::Kind::kStatic});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("10.1.2.0/24"), std::string::npos);
}

TEST(RouteTable, V6) {
  RouteTable t;
  ASSERT_TRUE(t.add(Route{P("::/0"), A("fd00::1"), 0, Route::Kind::kStatic}).ok());
  ASSERT_TRUE(t.add(Route{P("fd00:1::/64"), std::nullopt, 1, Route::Kind::kConnected}).ok());
  ASSERT_TRUE(t.add(Route{P("fd00:1::/127"), std::nullopt, 2, Route::Kind::kConnected}).ok());
  t.compile();
  EXPECT_EQ(t.lookup(A("fd00:1::1"))->iface, 2);
  EXPECT_EQ(t.lookup(A("fd00:1::2"))->iface, 1);
  EXPECT_EQ(t.lookup(A("2001:db8::1"))->iface, 0);
  EXPECT_EQ(t.lookup(A("10.0.0.1")), nullptr);
}

// Random prefixes clustered in a few address regions (so they nest), random lookups: the trie agrees with a scan.
void RandomisedAgainstScan(IpAddress::Family family, uint32_t seed) {
  std::mt19937 rng(seed);
  const int width = family == IpAddress::Family::kV4 ? 32 : 128;
  auto random_address = [&] {
    IpAddress a;
    a.family = family;
    const int bytes = width / 8;
    for (int i = 0; i < bytes; ++i) a.bytes[i] = static_cast<uint8_t>(rng());
    a.bytes[0] = static_cast<uint8_t>(rng() % 4);  // few regions
    if (bytes > 1) a.bytes[1] &= 0x3;
    return a;
  };
  RouteTable t;
  std::vector<Route> added;
  for (int i = 0; i < 2000; ++i) {
    Route r{MaskedPrefix(IpPrefix{random_address(), static_cast<uint8_t>(rng() % (width + 1))}), std::nullopt,
            static_cast<IfIndex>(i), Route::Kind::kConnected};
    if (t.add(r).ok()) added.push_back(r);
  }
  ASSERT_GT(added.size(), 500u);
  for (int i = 0; i < 40000; ++i) {
    if (i == 20000) t.compile();  // the bit-by-bit walk first, then the compressed form
    IpAddress a = random_address();
    if (i % 3 == 0) a = added[rng() % added.size()].prefix.address;  // exact network addresses too
    const Route* got = t.lookup(a);
    const Route* want = LookupReference(t.routes(), a);
    ASSERT_EQ(got == nullptr, want == nullptr) << FormatIpAddress(a);
    if (got) {
      ASSERT_EQ(got->prefix, want->prefix) << FormatIpAddress(a);
    }
  }
}

TEST(RouteTable, RandomisedV4) { RandomisedAgainstScan(IpAddress::Family::kV4, 1); }
TEST(RouteTable, RandomisedV6) { RandomisedAgainstScan(IpAddress::Family::kV6, 2); }

}  // namespace
}  // namespace cloudlet::router

namespace cloudlet::router {
namespace {

TEST(RouteTable, CompiledEdgeCases) {
  RouteTable t;
  t.compile();
  EXPECT_EQ(t.lookup(A("1.2.3.4")), nullptr);  // empty
  ASSERT_TRUE(t.add(Route{P("255.255.255.255/32"), std::nullopt, 1, Route::Kind::kConnected}).ok());
  ASSERT_TRUE(
      t.add(Route{P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), std::nullopt, 2, Route::Kind::kConnected}).ok());
  ASSERT_TRUE(t.add(Route{P("fd00:0:0:0:8000::/65"), std::nullopt, 3, Route::Kind::kConnected}).ok());
  t.compile();
  EXPECT_EQ(t.lookup(A("255.255.255.255"))->iface, 1);
  EXPECT_EQ(t.lookup(A("255.255.255.254")), nullptr);
  EXPECT_EQ(t.lookup(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))->iface, 2);
  EXPECT_EQ(t.lookup(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")), nullptr);
  EXPECT_EQ(t.lookup(A("fd00::8000:0:0:1"))->iface, 3);
  EXPECT_EQ(t.lookup(A("fd00::7fff:0:0:1")), nullptr);
}

}  // namespace
}  // namespace cloudlet::router

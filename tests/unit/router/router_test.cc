#include "router/router.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <random>
#include <vector>

#include "frames.h"

namespace cloudlet::router {
namespace {

// ---- frames built by hand (the common ones in frames.h) ----

using namespace test;  // NOLINT(google-build-using-namespace): the frame builders

const MacAddr kMac10 = Mac(0, 0x10), kMac20 = Mac(0, 0x20), kMac30 = Mac(0, 0x30);
const MacAddr kHostA = Mac(1, 0x05), kHostA2 = Mac(1, 0x06), kHostB = Mac(2, 0x05), kHostC = Mac(3, 0x05);

IpAddress SolicitedNode(const IpAddress& a) {
  return IpAddress::V6({0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, a.bytes[13], a.bytes[14], a.bytes[15]});
}
MacAddr SolicitedMac(const IpAddress& a) { return MacAddr{{0x33, 0x33, 0xff, a.bytes[13], a.bytes[14], a.bytes[15]}}; }

// NS (type 135) / NA (type 136) with a link-layer option (option type 1 for NS, 2 for NA) unless `ll` is null.
Bytes Nd(uint8_t type, const MacAddr& smac, const MacAddr& dmac, const IpAddress& src, const IpAddress& dst,
         const IpAddress& target, const MacAddr* ll, uint8_t flags = 0, uint8_t hops = 255) {
  Bytes icmp(24, 0);
  icmp[0] = type;
  icmp[4] = flags;
  std::memcpy(&icmp[8], target.bytes.data(), 16);
  if (ll) {
    icmp.push_back(type == kIcmp6NeighborSolicit ? 1 : 2);
    icmp.push_back(1);
    icmp.insert(icmp.end(), ll->bytes.begin(), ll->bytes.end());
  }
  return Ip6(smac, dmac, src, dst, kIpProtoIcmpv6, icmp, hops);
}

L3Info Parse(const TxFrame& f) {
  L3Info info;
  EXPECT_EQ(ParseL3(f.data, f.len, 14, LoadBe16(f.data + 12), &info), L3Error::kNone);
  return info;
}
MacAddr DstMac(const TxFrame& f) { return MacAddr::From(f.data); }
MacAddr SrcMac(const TxFrame& f) { return MacAddr::From(f.data + 6); }

// ---- fixture ----

class RouterTest : public ::testing::Test {
 protected:
  // vlan10 (zone 0), vlan20 (zone 1), small (zone 1, MTU 1280); 192.168.0.0/16 via 10.0.20.254.
  virtual RouterConfig Config() {
    RouterConfig c;
    InterfaceConfig a{"vlan10", 10, kMac10, {Pfx("10.0.10.1/24"), Pfx("fd00:10::1/64")}, 0, 1500, {}, ""};
    InterfaceConfig b{"vlan20", 20, kMac20, {Pfx("10.0.20.1/24"), Pfx("fd00:20::1/64")}, 1, 1500, {}, ""};
    InterfaceConfig s{"small", 30, kMac30, {Pfx("10.0.30.1/24"), Pfx("fd00:30::1/64")}, 1, 1280, {}, ""};
    c.interfaces = {a, b, s};
    c.routes = {StaticRoute{Pfx("192.168.0.0/16"), Ip("10.0.20.254")}};
    return c;
  }
  virtual firewall::Firewall* Fw() { return nullptr; }

  void SetUp() override {
    auto r = Router::Create(Config(), Fw(), [] { return int64_t{1'700'000'000}; });
    ASSERT_TRUE(r.ok()) << r.error().message();
    router_ = std::move(*r);
  }

  // Hands the router a private copy of `frame` (with headroom) received on `in`; returns what it emitted.
  std::span<const TxFrame> Send(IfIndex in, const Bytes& frame, Nanos now = 0, VnetHdr vnet = {}) {
    Bytes& buf = bufs_.emplace_back(kPacketHeadroom + frame.size());
    std::memcpy(buf.data() + kPacketHeadroom, frame.data(), frame.size());
    Packet p;
    p.data = buf.data() + kPacketHeadroom;
    p.len = static_cast<uint32_t>(frame.size());
    p.headroom = kPacketHeadroom;
    p.vnet = vnet;
    Packet* pp = &p;
    out_.clear();
    router_->process(in, &pp, 1, now, out_);
    return out_.frames();
  }
  std::span<const TxFrame> Tick(Nanos now) {
    out_.clear();
    router_->tick(now, out_);
    return out_.frames();
  }
  // The host at `ip`/`mac` on `iface` asks for the gateway: the router learns it.
  void Learn(IfIndex iface, const IpAddress& ip, const MacAddr& mac, const IpAddress& gateway) {
    auto out = Send(iface, Arp(1, mac, ip, MacAddr{}, gateway, MacAddr::Broadcast()));
    ASSERT_EQ(out.size(), 1u);
  }

  std::unique_ptr<Router> router_;
  std::deque<Bytes> bufs_;
  RouterOutput out_;
};

TEST_F(RouterTest, AnswersArpForTheGatewayAndLearnsTheAsker) {
  auto out = Send(0, Arp(1, kHostA, Ip("10.0.10.5"), MacAddr{}, Ip("10.0.10.1"), MacAddr::Broadcast()));
  ASSERT_EQ(out.size(), 1u);
  const TxFrame& f = out[0];
  EXPECT_EQ(f.iface, 0);
  EXPECT_EQ(DstMac(f), kHostA);
  EXPECT_EQ(SrcMac(f), kMac10);
  EXPECT_EQ(LoadBe16(f.data + 12), kEtherTypeArp);
  const uint8_t* a = f.data + 14;
  EXPECT_EQ(LoadBe16(a + 6), 2);
  EXPECT_EQ(MacAddr::From(a + 8), kMac10);
  EXPECT_EQ(IpAddress::V4(a[14], a[15], a[16], a[17]), Ip("10.0.10.1"));
  EXPECT_EQ(MacAddr::From(a + 18), kHostA);
  EXPECT_EQ(IpAddress::V4(a[24], a[25], a[26], a[27]), Ip("10.0.10.5"));
  auto ns = router_->neighbors(0);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].ip, Ip("10.0.10.5"));
  EXPECT_EQ(ns[0].mac, kHostA);
  EXPECT_EQ(ns[0].state, NeighborState::kStale);

  // Not our address; an address of another interface: no answer, nothing learned.
  EXPECT_TRUE(Send(0, Arp(1, kHostA2, Ip("10.0.10.6"), MacAddr{}, Ip("10.0.10.7"), MacAddr::Broadcast())).empty());
  EXPECT_TRUE(Send(0, Arp(1, kHostA2, Ip("10.0.10.6"), MacAddr{}, Ip("10.0.20.1"), MacAddr::Broadcast())).empty());
  EXPECT_EQ(router_->neighbors(0).size(), 1u);
  // A truncated ARP is a bad header.
  Bytes shortarp = Arp(1, kHostA, Ip("10.0.10.5"), MacAddr{}, Ip("10.0.10.1"), MacAddr::Broadcast());
  shortarp.resize(30);
  EXPECT_TRUE(Send(0, shortarp).empty());
  EXPECT_EQ(router_->counters().bad_header, 1u);
}

TEST_F(RouterTest, ResolvesThenDeliversTheQueuedPacket) {
  const Bytes pkt = Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1000, 53));
  auto out = Send(0, pkt);
  ASSERT_EQ(out.size(), 1u);  // the ARP request only
  EXPECT_EQ(out[0].iface, 1);
  EXPECT_TRUE(DstMac(out[0]).is_broadcast());
  const uint8_t* a = out[0].data + 14;
  EXPECT_EQ(LoadBe16(a + 6), 1);
  EXPECT_EQ(IpAddress::V4(a[14], a[15], a[16], a[17]), Ip("10.0.20.1"));
  EXPECT_EQ(IpAddress::V4(a[24], a[25], a[26], a[27]), Ip("10.0.20.5"));

  out = Send(1, Arp(2, kHostB, Ip("10.0.20.5"), kMac20, Ip("10.0.20.1"), kMac20), 100);
  ASSERT_EQ(out.size(), 1u);
  const TxFrame& f = out[0];
  EXPECT_EQ(f.iface, 1);
  EXPECT_EQ(DstMac(f), kHostB);
  EXPECT_EQ(SrcMac(f), kMac20);
  L3Info info = Parse(f);
  EXPECT_EQ(info.ttl, 63);
  EXPECT_TRUE(IPv4HeaderChecksumOk(f.data + 14, 20));
  EXPECT_EQ(info.dst_address(), Ip("10.0.20.5"));
  auto ns = router_->neighbors(100);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].state, NeighborState::kReachable);
  EXPECT_EQ(router_->counters().forwarded, 1u);
}

TEST_F(RouterTest, FailedResolutionAnswersHostUnreachable) {
  const Bytes pkt = Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.9"), kIpProtoUdp, Udp(1000, 53));
  ASSERT_EQ(Send(0, pkt).size(), 1u);
  size_t requests = 1;
  std::vector<TxFrame> errors;
  for (Nanos t = 100 * kMillisecond; t <= 4 * kSecond; t += 100 * kMillisecond) {
    for (const TxFrame& f : Tick(t)) {
      if (f.iface == 1) requests++;
      if (f.iface == 0) errors.push_back(f);
    }
    if (!errors.empty()) break;
  }
  EXPECT_EQ(requests, 3u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(DstMac(errors[0]), kHostA);
  L3Info info = Parse(errors[0]);
  EXPECT_EQ(info.proto, kIpProtoIcmp);
  EXPECT_EQ(info.icmp_type, kIcmpDestUnreachable);
  EXPECT_EQ(info.icmp_code, 1);
  EXPECT_EQ(info.src_address(), Ip("10.0.10.1"));
  EXPECT_TRUE(router_->neighbors(4 * kSecond).empty());
  EXPECT_EQ(router_->counters().no_neighbor, 1u);
}

TEST_F(RouterTest, ForwardsBetweenVlansInPlace) {
  Learn(1, Ip("10.0.20.5"), kHostB, Ip("10.0.20.1"));
  const Bytes pkt = Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1000, 53), 17);
  auto out = Send(0, pkt);
  ASSERT_EQ(out.size(), 1u);
  const TxFrame& f = out[0];
  EXPECT_EQ(f.data, bufs_.back().data() + kPacketHeadroom);  // the caller's buffer, rewritten
  EXPECT_EQ(f.iface, 1);
  EXPECT_EQ(DstMac(f), kHostB);
  EXPECT_EQ(SrcMac(f), kMac20);
  L3Info info = Parse(f);
  EXPECT_EQ(info.ttl, 16);
  EXPECT_TRUE(IPv4HeaderChecksumOk(f.data + 14, 20));
  EXPECT_TRUE(L4ChecksumOk(f.data, info));
  EXPECT_EQ(std::memcmp(f.data + 14 + 20, pkt.data() + 14 + 20, pkt.size() - 34), 0);

  // A corrupted IPv4 header checksum is dropped.
  Bytes bad = pkt;
  bad[14 + 10] ^= 1;
  EXPECT_TRUE(Send(0, bad).empty());
  EXPECT_EQ(router_->counters().bad_header, 1u);
  // Frames not addressed to the router are not for us.
  Bytes other = pkt;
  PutMacAt(other, 0, kHostC);
  EXPECT_TRUE(Send(0, other).empty());
  EXPECT_EQ(router_->counters().not_for_us, 1u);
}

TEST_F(RouterTest, TtlOneAnswersTimeExceededQuotingTheHeader) {
  const Bytes pkt = Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1000, 53), 1);
  auto out = Send(0, pkt);
  ASSERT_EQ(out.size(), 1u);
  const TxFrame& f = out[0];
  EXPECT_EQ(f.iface, 0);
  EXPECT_EQ(DstMac(f), kHostA);
  EXPECT_EQ(SrcMac(f), kMac10);
  L3Info info = Parse(f);
  EXPECT_EQ(info.icmp_type, kIcmpTimeExceeded);
  EXPECT_EQ(info.icmp_code, 0);
  EXPECT_EQ(info.src_address(), Ip("10.0.10.1"));
  EXPECT_EQ(info.dst_address(), Ip("10.0.10.5"));
  EXPECT_TRUE(L4ChecksumOk(f.data, info));
  ASSERT_GE(f.len, 14u + 20 + 8 + 28);
  EXPECT_EQ(std::memcmp(f.data + 14 + 20 + 8, pkt.data() + 14, 28), 0);  // IP header + 8 bytes, as received
  EXPECT_EQ(router_->counters().ttl_exceeded, 1u);
}

TEST_F(RouterTest, NoRouteAnswersNetUnreachable) {
  auto out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("8.8.8.8"), kIpProtoUdp, Udp(1000, 53)));
  ASSERT_EQ(out.size(), 1u);
  L3Info info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmpDestUnreachable);
  EXPECT_EQ(info.icmp_code, 0);
  out = Send(0, Ip6(kHostA, kMac10, Ip("fd00:10::5"), Ip("2001:db8::1"), kIpProtoUdp, Udp(1000, 53)));
  ASSERT_EQ(out.size(), 1u);
  info = Parse(out[0]);
  EXPECT_EQ(info.proto, kIpProtoIcmpv6);
  EXPECT_EQ(info.icmp_type, kIcmp6DestUnreachable);
  EXPECT_EQ(info.icmp_code, 0);
  EXPECT_EQ(info.src_address(), Ip("fd00:10::1"));
  EXPECT_EQ(router_->counters().no_route, 2u);
}

TEST_F(RouterTest, TooBigForTheEgressMtu) {
  // IPv4 with DF: fragmentation needed, with the MTU.
  auto out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.30.5"), kIpProtoUdp, Udp(1000, 53, 1372), 64, true));
  ASSERT_EQ(out.size(), 1u);
  L3Info info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmpDestUnreachable);
  EXPECT_EQ(info.icmp_code, 4);
  EXPECT_EQ(LoadBe16(out[0].data + info.l4_offset + 6), 1280);
  // Without DF: dropped (we do not fragment).
  EXPECT_TRUE(Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.30.5"), kIpProtoUdp, Udp(1000, 53, 1372))).empty());
  EXPECT_EQ(router_->counters().fragment_needed_no_df, 1u);
  // Exactly the MTU passes (to resolution).
  out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.30.5"), kIpProtoUdp, Udp(1000, 53, 1252), 64, true));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(LoadBe16(out[0].data + 12), kEtherTypeArp);
  // IPv6: packet too big.
  out = Send(0, Ip6(kHostA, kMac10, Ip("fd00:10::5"), Ip("fd00:30::5"), kIpProtoUdp, Udp(1000, 53, 1300)));
  ASSERT_EQ(out.size(), 1u);
  info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmp6PacketTooBig);
  EXPECT_EQ(LoadBe16(out[0].data + info.l4_offset + 6), 1280);
  EXPECT_TRUE(L4ChecksumOk(out[0].data, info));
}

TEST_F(RouterTest, GsoSuperFrameCheckedBySegmentSize) {
  Learn(2, Ip("10.0.30.5"), kHostC, Ip("10.0.30.1"));
  const Bytes pkt =
      Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.30.5"), kIpProtoTcp, Tcp(1000, 80, 1, 1, kTcpAck, 4000), 64, true);
  VnetHdr vnet;
  vnet.gso_type = VnetHdr::kGsoTcpV4;
  vnet.gso_size = 1200;  // 20 + 20 + 1200 <= 1280
  auto out = Send(0, pkt, 0, vnet);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].iface, 2);
  EXPECT_EQ(out[0].vnet.gso_size, 1200);
  vnet.gso_size = 1260;  // segments over the MTU
  out = Send(0, pkt, 0, vnet);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].iface, 0);
  EXPECT_EQ(Parse(out[0]).icmp_code, 4);
}

TEST_F(RouterTest, AnswersEchoToTheGateway) {
  auto out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.10.1"), kIpProtoIcmp, Echo(kIcmpEchoRequest, 7)));
  ASSERT_EQ(out.size(), 1u);
  L3Info info = Parse(out[0]);
  EXPECT_EQ(out[0].iface, 0);
  EXPECT_EQ(DstMac(out[0]), kHostA);
  EXPECT_EQ(info.icmp_type, kIcmpEchoReply);
  EXPECT_EQ(info.src_address(), Ip("10.0.10.1"));
  EXPECT_EQ(info.dst_address(), Ip("10.0.10.5"));
  EXPECT_TRUE(IPv4HeaderChecksumOk(out[0].data + 14, 20));
  EXPECT_TRUE(L4ChecksumOk(out[0].data, info));
  // Another interface's address answers too; IPv6 as well.
  out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.1"), kIpProtoIcmp, Echo(kIcmpEchoRequest, 7)));
  ASSERT_EQ(out.size(), 1u);
  out = Send(0, Ip6(kHostA, kMac10, Ip("fd00:10::5"), Ip("fd00:10::1"), kIpProtoIcmpv6, Echo(kIcmp6EchoRequest, 9)));
  ASSERT_EQ(out.size(), 1u);
  info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmp6EchoReply);
  EXPECT_EQ(info.src_address(), Ip("fd00:10::1"));
  EXPECT_TRUE(L4ChecksumOk(out[0].data, info));
  // Other traffic to us is dropped; UDP is answered with port unreachable.
  out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.10.1"), kIpProtoUdp, Udp(1, 33434)));
  ASSERT_EQ(out.size(), 1u);
  info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmpDestUnreachable);
  EXPECT_EQ(info.icmp_code, 3);
  EXPECT_TRUE(
      Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.10.1"), kIpProtoTcp, Tcp(1, 22, 1, 0, kTcpSyn))).empty());
  EXPECT_EQ(router_->counters().local_dropped, 2u);
}

TEST_F(RouterTest, NeighborSolicitationAndAdvertisement) {
  const IpAddress gw = Ip("fd00:10::1"), host = Ip("fd00:10::5");
  auto out = Send(0, Nd(kIcmp6NeighborSolicit, kHostA, SolicitedMac(gw), host, SolicitedNode(gw), gw, &kHostA));
  ASSERT_EQ(out.size(), 1u);
  L3Info info = Parse(out[0]);
  EXPECT_EQ(DstMac(out[0]), kHostA);
  EXPECT_EQ(info.icmp_type, kIcmp6NeighborAdvert);
  EXPECT_EQ(info.ttl, 255);
  EXPECT_EQ(info.src_address(), gw);
  EXPECT_EQ(info.dst_address(), host);
  EXPECT_TRUE(L4ChecksumOk(out[0].data, info));
  const uint8_t* na = out[0].data + info.l4_offset;
  EXPECT_EQ(na[4], 0xe0);  // router, solicited, override
  EXPECT_EQ(std::memcmp(na + 8, gw.bytes.data(), 16), 0);
  EXPECT_EQ(na[24], 2);
  EXPECT_EQ(MacAddr::From(na + 26), kMac10);
  ASSERT_EQ(router_->neighbors(0).size(), 1u);
  EXPECT_EQ(router_->neighbors(0)[0].mac, kHostA);

  // DAD probe: answered to all-nodes, not solicited.
  out = Send(0, Nd(kIcmp6NeighborSolicit, kHostA2, SolicitedMac(gw), Ip("::"), SolicitedNode(gw), gw, nullptr));
  ASSERT_EQ(out.size(), 1u);
  info = Parse(out[0]);
  EXPECT_EQ(info.dst_address(), Ip("ff02::1"));
  EXPECT_EQ(DstMac(out[0]), (MacAddr{{0x33, 0x33, 0, 0, 0, 1}}));
  EXPECT_EQ(out[0].data[info.l4_offset + 4], 0xa0);

  // Hop limit other than 255: ignored.
  EXPECT_TRUE(Send(0, Nd(kIcmp6NeighborSolicit, kHostA, SolicitedMac(gw), host, SolicitedNode(gw), gw, &kHostA, 0, 64))
                  .empty());
  // Bad checksum: ignored.
  Bytes bad = Nd(kIcmp6NeighborSolicit, kHostA, SolicitedMac(gw), host, SolicitedNode(gw), gw, &kHostA);
  bad[14 + 40 + 2] ^= 0xff;
  EXPECT_TRUE(Send(0, bad).empty());
  EXPECT_EQ(router_->counters().bad_header, 2u);

  // Resolution of an IPv6 next hop: multicast NS, then the NA releases the packet.
  const IpAddress b = Ip("fd00:20::5");
  out = Send(0, Ip6(kHostA, kMac10, host, b, kIpProtoUdp, Udp(1000, 53)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].iface, 1);
  EXPECT_EQ(DstMac(out[0]), SolicitedMac(b));
  info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmp6NeighborSolicit);
  EXPECT_EQ(info.dst_address(), SolicitedNode(b));
  EXPECT_EQ(info.ttl, 255);
  EXPECT_TRUE(L4ChecksumOk(out[0].data, info));
  const IpAddress src = info.src_address();
  EXPECT_TRUE(src.bytes[0] == 0xfe && src.bytes[1] == 0x80);  // from our link-local
  out = Send(1, Nd(kIcmp6NeighborAdvert, kHostB, kMac20, b, src, b, &kHostB, 0x60));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(DstMac(out[0]), kHostB);
  info = Parse(out[0]);
  EXPECT_EQ(info.proto, kIpProtoUdp);
  EXPECT_EQ(info.ttl, 63);
}

TEST_F(RouterTest, StaticRouteResolvesItsNextHop) {
  auto out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("192.168.7.7"), kIpProtoUdp, Udp(1000, 53)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].iface, 1);
  const uint8_t* a = out[0].data + 14;
  EXPECT_EQ(IpAddress::V4(a[24], a[25], a[26], a[27]), Ip("10.0.20.254"));
  out = Send(1, Arp(2, kHostC, Ip("10.0.20.254"), kMac20, Ip("10.0.20.1"), kMac20));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(DstMac(out[0]), kHostC);
  EXPECT_EQ(Parse(out[0]).dst_address(), Ip("192.168.7.7"));
  const auto routes = router_->routes();
  EXPECT_EQ(routes.size(), 7u);  // 6 connected + 1 static
}

TEST(RouterConfigTest, RejectsANextHopOffLink) {
  RouterConfig c;
  c.interfaces = {InterfaceConfig{"vlan10", 10, kMac10, {Pfx("10.0.10.1/24")}, 0, 1500, {}, ""}};
  c.routes = {StaticRoute{Pfx("0.0.0.0/0"), Ip("10.9.9.9")}};
  auto r = Router::Create(c, nullptr, [] { return int64_t{0}; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("10.9.9.9"), std::string::npos);
}

class BoundedRouterTest : public RouterTest {
 protected:
  RouterConfig Config() override {
    RouterConfig c = RouterTest::Config();
    c.max_neighbors = 4;
    c.max_pending_per_neighbor = 2;
    c.max_pending_total = 5;
    return c;
  }
};

TEST_F(BoundedRouterTest, NeighborCacheAndQueuesStayBounded) {
  for (int i = 0; i < 10; ++i) {
    const IpAddress dst = IpAddress::V4(10, 0, 20, static_cast<uint8_t>(10 + i));
    for (int k = 0; k < 3; ++k) {
      (void)Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), dst, kIpProtoUdp, Udp(1000, 53)), i);
    }
    EXPECT_LE(router_->neighbors(i).size(), 4u);
  }
  size_t queued = 0;
  for (const auto& n : router_->neighbors(10)) queued += n.queued;
  EXPECT_LE(queued, 5u);
  EXPECT_GT(router_->counters().pending_dropped, 0u);
  // The newest neighbour still resolves and releases at most its bound.
  auto out = Send(1, Arp(2, kHostB, Ip("10.0.20.19"), kMac20, Ip("10.0.20.1"), kMac20), 11);
  EXPECT_EQ(out.size(), 2u);
}

// ---- with the firewall: zones lan (vlan10) and dmz (vlan20, small), default policies ----

class FirewallRouterTest : public RouterTest {
 protected:
  firewall::Firewall* Fw() override {
    firewall::RuleSet rs;
    rs.zones = {"lan", "dmz"};
    firewall::Rule telnet;
    telnet.from_zones = {0};
    telnet.to_zones = {1};
    telnet.proto = kIpProtoTcp;
    telnet.dports = {firewall::PortRange{23, 23}};
    telnet.action = firewall::Action::kReject;
    firewall::Rule tftp = telnet;
    tftp.proto = kIpProtoUdp;
    tftp.dports = {firewall::PortRange{69, 69}};
    rs.rules = {telnet, tftp};
    rs.rule_names = {"telnet", "tftp"};
    auto compiled = firewall::Firewall::Compile(rs);
    EXPECT_TRUE(compiled.ok()) << compiled.error().message();
    fw_.replace(*compiled, 0);
    return &fw_;
  }
  firewall::Firewall fw_;
};

TEST_F(FirewallRouterTest, BetweenZonesDroppedWithinZonePasses) {
  Learn(1, Ip("10.0.20.5"), kHostB, Ip("10.0.20.1"));
  Learn(0, Ip("10.0.10.6"), kHostA2, Ip("10.0.10.1"));
  EXPECT_TRUE(Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1000, 53))).empty());
  EXPECT_EQ(router_->counters().firewall_drop, 1u);
  // Same zone (hairpin back out of vlan10): accepted by the default policy.
  auto out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.10.6"), kIpProtoUdp, Udp(1000, 53)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].iface, 0);
  EXPECT_EQ(DstMac(out[0]), kHostA2);
}

TEST_F(FirewallRouterTest, RejectSendsResetOrPortUnreachable) {
  const uint32_t seq = 1000;
  auto out =
      Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoTcp, Tcp(40000, 23, seq, 0, kTcpSyn)));
  ASSERT_EQ(out.size(), 1u);
  const TxFrame& f = out[0];
  EXPECT_EQ(f.iface, 0);
  EXPECT_EQ(DstMac(f), kHostA);
  L3Info info = Parse(f);
  EXPECT_EQ(info.proto, kIpProtoTcp);
  EXPECT_EQ(info.src_address(), Ip("10.0.20.5"));
  EXPECT_EQ(info.dst_address(), Ip("10.0.10.5"));
  EXPECT_EQ(info.sport, 23);
  EXPECT_EQ(info.dport, 40000);
  EXPECT_EQ(info.tcp_flags, kTcpRst | kTcpAck);
  EXPECT_EQ(info.tcp_seq, 0u);
  EXPECT_EQ(info.tcp_ack, seq + 1);
  EXPECT_TRUE(IPv4HeaderChecksumOk(f.data + 14, 20));
  EXPECT_TRUE(L4ChecksumOk(f.data, info));
  // UDP: ICMP port unreachable.
  out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1000, 69)));
  ASSERT_EQ(out.size(), 1u);
  info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmpDestUnreachable);
  EXPECT_EQ(info.icmp_code, 3);
  EXPECT_EQ(router_->counters().firewall_reject, 2u);
  // IPv6 UDP: ICMPv6 port unreachable.
  out = Send(0, Ip6(kHostA, kMac10, Ip("fd00:10::5"), Ip("fd00:20::5"), kIpProtoUdp, Udp(1000, 69)));
  ASSERT_EQ(out.size(), 1u);
  info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmp6DestUnreachable);
  EXPECT_EQ(info.icmp_code, 4);
}

// ---- DHCP ----

class DhcpRouterTest : public RouterTest {
 protected:
  RouterConfig Config() override {
    RouterConfig c = RouterTest::Config();
    DhcpConfig d;
    d.subnet = Pfx("10.0.10.0/24");
    d.server = Ip("10.0.10.1");
    d.range_lo = Ip("10.0.10.100");
    d.range_hi = Ip("10.0.10.200");
    c.interfaces[0].dhcp = d;
    return c;
  }
};

TEST_F(DhcpRouterTest, DiscoverGetsAnOfferFrame) {
  Bytes msg(240, 0);
  msg[0] = 1, msg[1] = 1, msg[2] = 6;
  msg[4] = 0xde, msg[5] = 0xad;
  msg[10] = 0x80;  // broadcast flag
  std::memcpy(&msg[28], kHostA.bytes.data(), 6);
  msg[236] = 99, msg[237] = 130, msg[238] = 83, msg[239] = 99;
  msg.insert(msg.end(), {53, 1, 1, 255});
  Bytes udp = Udp(68, 67, 0);
  udp.insert(udp.end(), msg.begin(), msg.end());
  StoreBe16(&udp[4], static_cast<uint16_t>(udp.size()));
  auto out = Send(0, Ip4(kHostA, MacAddr::Broadcast(), Ip("0.0.0.0"), Ip("255.255.255.255"), kIpProtoUdp, udp));
  ASSERT_EQ(out.size(), 1u);
  const TxFrame& f = out[0];
  EXPECT_EQ(f.iface, 0);
  EXPECT_TRUE(DstMac(f).is_broadcast());
  EXPECT_EQ(SrcMac(f), kMac10);
  L3Info info = Parse(f);
  EXPECT_EQ(info.proto, kIpProtoUdp);
  EXPECT_EQ(info.sport, 67);
  EXPECT_EQ(info.dport, 68);
  EXPECT_EQ(info.src_address(), Ip("10.0.10.1"));
  EXPECT_EQ(info.dst_address(), Ip("255.255.255.255"));
  EXPECT_TRUE(IPv4HeaderChecksumOk(f.data + 14, 20));
  EXPECT_TRUE(L4ChecksumOk(f.data, info));
  const uint8_t* reply = f.data + info.l4_offset + 8;
  EXPECT_EQ(reply[0], 2);  // BOOTREPLY
  const IpAddress yiaddr = IpAddress::V4(reply[16], reply[17], reply[18], reply[19]);
  EXPECT_TRUE(PrefixContains(Pfx("10.0.10.0/24"), yiaddr));
  EXPECT_GE(yiaddr.bytes[3], 100);
  ASSERT_EQ(router_->dhcp_leases().size(), 1u);
  EXPECT_EQ(router_->dhcp_leases()[0].leases.size(), 1u);
}

TEST_F(RouterTest, ReconfigureKeepsNeighborsOfInterfacesThatStay) {
  Learn(1, Ip("10.0.20.5"), kHostB, Ip("10.0.20.1"));
  RouterConfig c = Config();
  c.interfaces.erase(c.interfaces.begin());  // vlan20 becomes IfIndex 0
  c.routes.clear();
  ASSERT_TRUE(router_->reconfigure(c).ok());
  auto ns = router_->neighbors(0);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].iface, 0);
  EXPECT_EQ(ns[0].mac, kHostB);
}

}  // namespace
}  // namespace cloudlet::router

namespace cloudlet::router {
namespace {

TEST_F(RouterTest, BroadcastFramesAreNotForwarded) {
  Learn(1, Ip("10.0.20.5"), kHostB, Ip("10.0.20.1"));
  EXPECT_TRUE(
      Send(0, Ip4(kHostA, MacAddr::Broadcast(), Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1, 2))).empty());
  EXPECT_EQ(router_->counters().forwarded, 0u);
  EXPECT_EQ(router_->counters().not_for_us, 1u);
}

TEST_F(RouterTest, IcmpErrorsAreRateLimited) {
  size_t errors = 0;
  for (int i = 0; i < 200; ++i) {
    errors += Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1, 2), 1), kSecond).size();
  }
  EXPECT_GT(errors, 0u);
  EXPECT_LT(errors, 100u);
  EXPECT_EQ(router_->counters().icmp_errors_sent + router_->counters().icmp_rate_limited, 200u);
  // The bucket refills with time.
  EXPECT_EQ(
      Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1, 2), 1), 3 * kSecond).size(),
      1u);
}

}  // namespace
}  // namespace cloudlet::router

namespace cloudlet::router {
namespace {

TEST_F(RouterTest, RouterSolicitationGetsAnAdvertisement) {
  Bytes rs(8, 0);
  rs[0] = kIcmp6RouterSolicit;
  rs.insert(rs.end(), {1, 1});
  rs.insert(rs.end(), kHostA.bytes.begin(), kHostA.bytes.end());
  auto out =
      Send(0, Ip6(kHostA, MacAddr{{0x33, 0x33, 0, 0, 0, 2}}, Ip("fe80::5"), Ip("ff02::2"), kIpProtoIcmpv6, rs, 255));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(DstMac(out[0]), kHostA);
  L3Info info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmp6RouterAdvert);
  EXPECT_EQ(info.ttl, 255);
  EXPECT_EQ(info.dst_address(), Ip("fe80::5"));
  EXPECT_TRUE(info.src_address().bytes[0] == 0xfe && info.src_address().bytes[1] == 0x80);
  EXPECT_TRUE(L4ChecksumOk(out[0].data, info));
  const uint8_t* ra = out[0].data + info.l4_offset;
  const size_t len = out[0].len - info.l4_offset;
  EXPECT_EQ(LoadBe16(ra + 6), 1800);
  bool prefix = false, mtu = false;
  for (size_t off = 16; off + 8 <= len && ra[off + 1] != 0; off += ra[off + 1] * 8u) {
    if (ra[off] == 3) {
      prefix = true;
      EXPECT_EQ(ra[off + 2], 64);
      EXPECT_EQ(ra[off + 3], 0xc0);
      EXPECT_EQ(std::memcmp(ra + off + 16, Ip("fd00:10::").bytes.data(), 16), 0);
    }
    if (ra[off] == 5) {
      mtu = true;
      EXPECT_EQ(LoadBe16(ra + off + 6), 1500);
    }
  }
  EXPECT_TRUE(prefix);
  EXPECT_TRUE(mtu);
}

// Mutated frames of every kind: never a crash or an out-of-bounds read (run under ASan), every frame counted.
TEST_F(RouterTest, MutatedFramesAreHandledSafely) {
  Learn(1, Ip("10.0.20.5"), kHostB, Ip("10.0.20.1"));
  const IpAddress gw6 = Ip("fd00:10::1");
  const std::vector<Bytes> seeds = {
      Arp(1, kHostA, Ip("10.0.10.5"), MacAddr{}, Ip("10.0.10.1"), MacAddr::Broadcast()),
      Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoTcp, Tcp(1, 23, 5, 0, kTcpSyn, 10)),
      Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.10.1"), kIpProtoIcmp, Echo(kIcmpEchoRequest, 1)),
      Ip6(kHostA, kMac10, Ip("fd00:10::5"), Ip("fd00:20::5"), kIpProtoUdp, Udp(1, 2)),
      Nd(kIcmp6NeighborSolicit, kHostA, SolicitedMac(gw6), Ip("fd00:10::5"), SolicitedNode(gw6), gw6, &kHostA),
  };
  std::mt19937 rng(42);
  const uint64_t before = router_->counters().received;
  for (int i = 0; i < 20000; ++i) {
    Bytes f = seeds[rng() % seeds.size()];
    const int flips = 1 + rng() % 4;
    for (int k = 0; k < flips; ++k) f[14 + rng() % (f.size() - 14)] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) f.resize(rng() % f.size() + 1);
    L3Info li;
    if (rng() % 2 && f.size() > 14 && ParseL3(f.data(), f.size(), 14, LoadBe16(&f[12]), &li) == L3Error::kNone) {
      // Valid checksums over the mutated headers, so the deeper paths run too.
      if (li.family == 4) SetIPv4HeaderChecksum(&f[14], (f[14] & 0x0f) * 4u);
      SetL4Checksum(f.data(), li);
    }
    for (const TxFrame& t : Send(0, f, i * kMillisecond)) ASSERT_LE(t.len, kMaxFrameSize);
    if (i % 100 == 0) (void)Tick(i * kMillisecond);
  }
  EXPECT_EQ(router_->counters().received - before, 20000u);
}

}  // namespace
}  // namespace cloudlet::router

namespace cloudlet::router {
namespace {

TEST_F(DhcpRouterTest, ReconfigureKeepsLeasesOfInterfacesThatStay) {
  Bytes msg(240, 0);
  msg[0] = 1, msg[1] = 1, msg[2] = 6;
  msg[10] = 0x80;
  std::memcpy(&msg[28], kHostA.bytes.data(), 6);
  msg[236] = 99, msg[237] = 130, msg[238] = 83, msg[239] = 99;
  msg.insert(msg.end(), {53, 1, 1, 255});
  Bytes udp = Udp(68, 67, 0);
  udp.insert(udp.end(), msg.begin(), msg.end());
  StoreBe16(&udp[4], static_cast<uint16_t>(udp.size()));
  ASSERT_EQ(Send(0, Ip4(kHostA, MacAddr::Broadcast(), Ip("0.0.0.0"), Ip("255.255.255.255"), kIpProtoUdp, udp)).size(),
            1u);
  RouterConfig c = Config();
  std::swap(c.interfaces[0], c.interfaces[1]);  // vlan10 moves to IfIndex 1
  c.interfaces[1].dhcp->dns = {Ip("10.0.10.53")};
  ASSERT_TRUE(router_->reconfigure(c).ok());
  auto leases = router_->dhcp_leases();
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].iface, 1);
  EXPECT_EQ(leases[0].leases.size(), 1u);
  // A bad config changes nothing.
  RouterConfig bad = c;
  bad.interfaces[1].dhcp->range_hi = Ip("10.9.0.1");
  EXPECT_FALSE(router_->reconfigure(bad).ok());
  EXPECT_EQ(router_->dhcp_leases()[0].leases.size(), 1u);
  EXPECT_EQ(router_->config().interfaces[1].name, "vlan10");
}

}  // namespace
}  // namespace cloudlet::router

namespace cloudlet::router {
namespace {

TEST_F(RouterTest, StaleNeighborIsProbedByUnicastThenConfirmedOrDropped) {
  Learn(1, Ip("10.0.20.5"), kHostB, Ip("10.0.20.1"));  // STALE
  Learn(1, Ip("10.0.20.6"), kHostC, Ip("10.0.20.1"));
  for (const char* dst : {"10.0.20.5", "10.0.20.6"}) {
    ASSERT_EQ(Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip(dst), kIpProtoUdp, Udp(1, 2))).size(), 1u);
  }
  EXPECT_EQ(router_->neighbors(0)[0].state, NeighborState::kProbe);
  EXPECT_TRUE(Tick(kSecond).empty());  // the first probe waits kDelayFirstProbe
  auto out = Tick(kDelayFirstProbe);
  ASSERT_EQ(out.size(), 2u);
  for (const TxFrame& f : out) {
    EXPECT_EQ(LoadBe16(f.data + 12), kEtherTypeArp);
    EXPECT_TRUE(DstMac(f) == kHostB || DstMac(f) == kHostC);  // unicast to the known address
  }
  // 10.0.20.5 answers: reachable. 10.0.20.6 stays silent: gone after kMaxProbes.
  EXPECT_TRUE(Send(1, Arp(2, kHostB, Ip("10.0.20.5"), kMac20, Ip("10.0.20.1"), kMac20), kDelayFirstProbe).empty());
  for (int i = 1; i <= kMaxProbes; ++i) (void)Tick(kDelayFirstProbe + i * kRetransTime);
  auto ns = router_->neighbors(kDelayFirstProbe + 4 * kRetransTime);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].ip, Ip("10.0.20.5"));
  EXPECT_EQ(ns[0].state, NeighborState::kReachable);
}

class MasqueradeRouterTest : public RouterTest {
 protected:
  firewall::Firewall* Fw() override {
    firewall::RuleSet rs;
    rs.zones = {"lan", "wan"};
    firewall::Rule out;
    out.from_zones = {0};
    out.to_zones = {1};
    rs.rules = {out};
    rs.rule_names = {"lan-out"};
    rs.masquerade = {firewall::Masquerade{0, 1, 20000, 30000}};
    auto compiled = firewall::Firewall::Compile(rs);
    EXPECT_TRUE(compiled.ok()) << compiled.error().message();
    fw_.replace(*compiled, 0);
    return &fw_;
  }
  firewall::Firewall fw_;
};

TEST_F(MasqueradeRouterTest, LeavesWithTheEgressInterfaceAddress) {
  Learn(1, Ip("10.0.20.5"), kHostB, Ip("10.0.20.1"));
  auto out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1000, 53)));
  ASSERT_EQ(out.size(), 1u);
  L3Info info = Parse(out[0]);
  EXPECT_EQ(info.src_address(), Ip("10.0.20.1"));
  EXPECT_EQ(info.dst_address(), Ip("10.0.20.5"));
  EXPECT_TRUE(IPv4HeaderChecksumOk(out[0].data + 14, 20));
  EXPECT_TRUE(L4ChecksumOk(out[0].data, info));
  // The reply comes back to the masquerade address and is translated back to the client.
  Learn(0, Ip("10.0.10.5"), kHostA, Ip("10.0.10.1"));
  out = Send(1, Ip4(kHostB, kMac20, Ip("10.0.20.5"), Ip("10.0.20.1"), kIpProtoUdp, Udp(53, info.sport)));
  ASSERT_EQ(out.size(), 1u);
  info = Parse(out[0]);
  EXPECT_EQ(out[0].iface, 0);
  EXPECT_EQ(info.dst_address(), Ip("10.0.10.5"));
  EXPECT_EQ(info.dport, 1000);
}

}  // namespace
}  // namespace cloudlet::router

namespace cloudlet::router {
namespace {

TEST_F(MasqueradeRouterTest, ErrorsForTranslatedPacketsQuoteThemAsSent) {
  Learn(1, Ip("10.0.20.5"), kHostB, Ip("10.0.20.1"));
  auto out = Send(0, Ip4(kHostA, kMac10, Ip("10.0.10.5"), Ip("10.0.20.5"), kIpProtoUdp, Udp(1000, 53)));
  ASSERT_EQ(out.size(), 1u);
  const uint16_t masq_port = Parse(out[0]).sport;
  // A reply with TTL 1: the time-exceeded quotes the reply as B sent it (to the masquerade address and port), not
  // the translated packet with the client's private address.
  const Bytes reply = Ip4(kHostB, kMac20, Ip("10.0.20.5"), Ip("10.0.20.1"), kIpProtoUdp, Udp(53, masq_port), 1);
  out = Send(1, reply);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].iface, 1);
  L3Info info = Parse(out[0]);
  EXPECT_EQ(info.icmp_type, kIcmpTimeExceeded);
  ASSERT_GE(out[0].len, 14u + 28 + 28);
  const uint8_t* quoted = out[0].data + 14 + 28;
  EXPECT_EQ(IpAddress::V4(quoted[16], quoted[17], quoted[18], quoted[19]), Ip("10.0.20.1"));
  EXPECT_EQ(LoadBe16(quoted + 22), masq_port);
  EXPECT_TRUE(IPv4HeaderChecksumOk(quoted, 20));
}

}  // namespace
}  // namespace cloudlet::router

// Masquerade port allocation, masquerade and port forwards end to end on real frames, ICMP errors through NAT.
#include "firewall/nat.h"

#include <gtest/gtest.h>

#include "firewall/firewall.h"
#include "frame_builder.h"

namespace cloudlet::firewall {
namespace {

using testing::Build;
using testing::ChecksumsOk;
using testing::Frame;
using testing::Pass;
using testing::Spec;
using testing::V4;

constexpr ZoneId kLan = 0, kWan = 1;
constexpr Nanos kT0 = 5 * kSecond;

CtTuple ReplyTuple(uint16_t port) {
  CtTuple r;
  r.family = 4;
  r.proto = kIpProtoUdp;
  r.src = V4("198.51.100.7").bytes;
  r.dst = V4("203.0.113.1").bytes;
  r.sport = 53;
  r.dport = port;
  return r;
}

TEST(MasqueradePort, KeepsOriginalWhenFree) {
  ConntrackConfig config;
  config.max_connections = 16;
  Conntrack ct(config, 1);
  CtTuple r = ReplyTuple(40000);
  ASSERT_TRUE(AllocateMasqueradePort(ct, &r, 1024, 65535));
  EXPECT_EQ(r.dport, 40000);
}

TEST(MasqueradePort, CollisionForcesAnotherPort) {
  ConntrackConfig config;
  config.max_connections = 16;
  Conntrack ct(config, 1);
  CtTuple taken = ReplyTuple(40000);
  CtTuple orig = taken.Reversed();
  orig.src = V4("10.0.0.9").bytes;
  ASSERT_NE(ct.Create(orig, taken, 0), kNoConn);
  CtTuple r = ReplyTuple(40000);
  ASSERT_TRUE(AllocateMasqueradePort(ct, &r, 1024, 65535));
  EXPECT_NE(r.dport, 40000);
  EXPECT_GE(r.dport, 1024);
  EXPECT_FALSE(ct.Contains(r));
}

TEST(MasqueradePort, OutOfRangeOriginalIsMovedIntoRange) {
  ConntrackConfig config;
  config.max_connections = 16;
  Conntrack ct(config, 1);
  CtTuple r = ReplyTuple(80);
  ASSERT_TRUE(AllocateMasqueradePort(ct, &r, 2000, 2003));
  EXPECT_GE(r.dport, 2000);
  EXPECT_LE(r.dport, 2003);
}

TEST(MasqueradePort, RangeExhaustionFailsCleanly) {
  ConntrackConfig config;
  config.max_connections = 16;
  Conntrack ct(config, 7);
  for (int i = 0; i < 4; ++i) {
    CtTuple r = ReplyTuple(static_cast<uint16_t>(50000 + i));
    ASSERT_TRUE(AllocateMasqueradePort(ct, &r, 2000, 2003));
    CtTuple o = r.Reversed();
    o.src = V4("10.0.0.2").bytes;
    o.sport = static_cast<uint16_t>(50000 + i);
    ASSERT_NE(ct.Create(o, r, 0), kNoConn);
  }
  CtTuple r = ReplyTuple(50004);
  EXPECT_FALSE(AllocateMasqueradePort(ct, &r, 2000, 2003));
}

RuleSet NatRules() {
  RuleSet rs;
  rs.zones = {"lan", "wan"};
  Rule out;
  out.from_zones = {kLan};
  out.to_zones = {kWan};
  Rule in;  // the port forward's target must be allowed, as with nftables' dnat
  in.from_zones = {kWan};
  in.to_zones = {kLan};
  in.proto = kIpProtoTcp;
  in.dst = {*ParseIpPrefix("10.0.0.5/32")};
  in.dports = {{80, 80}};
  rs.rules = {out, in};
  rs.masquerade = {Masquerade{kLan, kWan, 1024, 65535}};
  PortForward fw;
  fw.from = kWan;
  fw.proto = kIpProtoTcp;
  fw.match_dst = {V4("203.0.113.1")};
  fw.port_lo = fw.port_hi = 8080;
  fw.to_address = V4("10.0.0.5");
  fw.to_port = 80;
  rs.forwards = {fw};
  return rs;
}

class NatTest : public ::testing::Test {
 protected:
  NatTest() : fw_(Config()) { fw_.replace(testing::MustCompile(NatRules()), 0); }
  static ConntrackConfig Config() {
    ConntrackConfig c;
    c.max_connections = 1024;
    return c;
  }
  Firewall fw_;
};

Spec TcpSpec(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags, uint32_t seq,
             uint32_t ack) {
  Spec s;
  s.src = V4(src);
  s.dst = V4(dst);
  s.sport = sport;
  s.dport = dport;
  s.flags = flags;
  s.seq = seq;
  s.ack = ack;
  return s;
}

TEST_F(NatTest, MasqueradeTcpEndToEnd) {
  Frame syn = Build(TcpSpec("10.0.0.2", 40000, "198.51.100.7", 443, kTcpSyn, 100, 0));
  ASSERT_EQ(Pass(fw_, syn, kLan, kWan, kT0).action, Action::kAccept);
  EXPECT_EQ(syn.info.src_address(), V4("203.0.113.1"));
  EXPECT_EQ(syn.info.sport, 40000);  // kept: free
  EXPECT_TRUE(ChecksumsOk(syn));

  Frame synack = Build(TcpSpec("198.51.100.7", 443, "203.0.113.1", 40000, kTcpSyn | kTcpAck, 900, 101));
  ASSERT_EQ(Pass(fw_, synack, kWan, kLan, kT0).action, Action::kAccept);
  EXPECT_EQ(synack.info.dst_address(), V4("10.0.0.2"));
  EXPECT_EQ(synack.info.dport, 40000);
  EXPECT_TRUE(ChecksumsOk(synack));

  auto conns = fw_.connections(kT0, 10);
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].src, V4("10.0.0.2"));
  EXPECT_EQ(conns[0].reply_dst, V4("203.0.113.1"));
  EXPECT_EQ(conns[0].state, "SYN_RECV");

  // A second client on the same source port gets another public port.
  Frame syn2 = Build(TcpSpec("10.0.0.3", 40000, "198.51.100.7", 443, kTcpSyn, 100, 0));
  ASSERT_EQ(Pass(fw_, syn2, kLan, kWan, kT0).action, Action::kAccept);
  EXPECT_NE(syn2.info.sport, 40000);
  EXPECT_TRUE(ChecksumsOk(syn2));
  Frame synack2 = Build(TcpSpec("198.51.100.7", 443, "203.0.113.1", syn2.info.sport, kTcpSyn | kTcpAck, 900, 101));
  ASSERT_EQ(Pass(fw_, synack2, kWan, kLan, kT0).action, Action::kAccept);
  EXPECT_EQ(synack2.info.dst_address(), V4("10.0.0.3"));
  EXPECT_EQ(synack2.info.dport, 40000);
}

TEST_F(NatTest, MasqueradeUdpIpv6) {
  Spec s;
  s.proto = kIpProtoUdp;
  s.src = *ParseIpAddress("fd00::2");
  s.dst = *ParseIpAddress("2001:db8::7");
  s.sport = 5000;
  s.dport = 53;
  s.payload = 33;
  Frame q = Build(s);
  const IpAddress pub = *ParseIpAddress("2001:db8:1::1");
  ASSERT_EQ(Pass(fw_, q, kLan, kWan, kT0, pub).action, Action::kAccept);
  EXPECT_EQ(q.info.src_address(), pub);
  EXPECT_TRUE(ChecksumsOk(q));
  Spec r = s;
  r.src = s.dst;
  r.dst = pub;
  r.sport = 53;
  r.dport = q.info.sport;
  Frame a = Build(r);
  ASSERT_EQ(Pass(fw_, a, kWan, kLan, kT0, pub).action, Action::kAccept);
  EXPECT_EQ(a.info.dst_address(), s.src);
  EXPECT_EQ(a.info.dport, 5000);
  EXPECT_TRUE(ChecksumsOk(a));
}

TEST_F(NatTest, MasqueradeIcmpEchoIdentifier) {
  Spec s;
  s.proto = kIpProtoIcmp;
  s.src = V4("10.0.0.2");
  s.dst = V4("198.51.100.7");
  s.icmp_type = kIcmpEchoRequest;
  s.icmp_id = 99;
  s.payload = 16;
  Frame req = Build(s);
  ASSERT_EQ(Pass(fw_, req, kLan, kWan, kT0).action, Action::kAccept);
  EXPECT_EQ(req.info.src_address(), V4("203.0.113.1"));
  Spec r = s;
  r.src = s.dst;
  r.dst = V4("203.0.113.1");
  r.icmp_type = kIcmpEchoReply;
  r.icmp_id = req.info.sport;
  Frame rep = Build(r);
  ASSERT_EQ(Pass(fw_, rep, kWan, kLan, kT0).action, Action::kAccept);
  EXPECT_EQ(rep.info.dst_address(), V4("10.0.0.2"));
  EXPECT_EQ(rep.info.sport, 99);
  EXPECT_TRUE(ChecksumsOk(rep));
}

TEST_F(NatTest, PortForwardDnat) {
  Frame syn = Build(TcpSpec("192.0.2.50", 33333, "203.0.113.1", 8080, kTcpSyn, 7, 0));
  ASSERT_EQ(Pass(fw_, syn, kWan, kLan, kT0).action, Action::kAccept);
  EXPECT_EQ(syn.info.dst_address(), V4("10.0.0.5"));
  EXPECT_EQ(syn.info.dport, 80);
  EXPECT_TRUE(ChecksumsOk(syn));
  Frame synack = Build(TcpSpec("10.0.0.5", 80, "192.0.2.50", 33333, kTcpSyn | kTcpAck, 70, 8));
  ASSERT_EQ(Pass(fw_, synack, kLan, kWan, kT0).action, Action::kAccept);
  EXPECT_EQ(synack.info.src_address(), V4("203.0.113.1"));
  EXPECT_EQ(synack.info.sport, 8080);
  EXPECT_TRUE(ChecksumsOk(synack));
  auto conns = fw_.connections(kT0, 10);
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].dst, V4("203.0.113.1"));
  EXPECT_EQ(conns[0].dport, 8080);
  EXPECT_EQ(conns[0].reply_src, V4("10.0.0.5"));
  EXPECT_EQ(conns[0].rule, 1u);
  // A port without a forward is a plain new flow to the router's address, which the policy drops.
  Frame other = Build(TcpSpec("192.0.2.50", 33334, "203.0.113.1", 8081, kTcpSyn, 7, 0));
  EXPECT_EQ(Pass(fw_, other, kWan, kLan, kT0).action, Action::kDrop);
}

TEST_F(NatTest, FragmentationNeededReachesHostBehindMasquerade) {
  Frame syn = Build(TcpSpec("10.0.0.2", 40000, "198.51.100.7", 443, kTcpSyn, 100, 0));
  ASSERT_EQ(Pass(fw_, syn, kLan, kWan, kT0).action, Action::kAccept);
  // A router beyond the uplink quotes the packet as it left (masqueraded).
  Spec e;
  e.proto = kIpProtoIcmp;
  e.src = V4("192.0.2.1");
  e.dst = V4("203.0.113.1");
  e.icmp_type = kIcmpDestUnreachable;
  e.icmp_code = 4;
  e.quote = syn.Ip(28);
  Frame err = Build(e);
  FlowState flow;
  ASSERT_EQ(Pass(fw_, err, kWan, kLan, kT0, V4("203.0.113.1"), &flow).action, Action::kAccept);
  EXPECT_EQ(flow.state, CtState::kRelated);
  EXPECT_EQ(err.info.dst_address(), V4("10.0.0.2"));
  EXPECT_EQ(err.info.src_address(), V4("192.0.2.1"));
  L3Info inner;
  ASSERT_EQ(ParseIcmpInner(err.data(), err.len(), err.info, &inner), L3Error::kNone);
  EXPECT_EQ(inner.src_address(), V4("10.0.0.2"));
  EXPECT_EQ(inner.sport, 40000);
  EXPECT_EQ(inner.dst_address(), V4("198.51.100.7"));
  EXPECT_TRUE(IPv4HeaderChecksumOk(err.data() + inner.l3_offset, 20));
  EXPECT_TRUE(ChecksumsOk(err));  // outer IPv4 header and ICMP checksum over the rewritten quote
}

}  // namespace
}  // namespace cloudlet::firewall

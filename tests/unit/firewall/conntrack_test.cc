// Connection tracking through the Firewall (no NAT): TCP states and windows, UDP, ICMP, the table bound.
#include "firewall/conntrack.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <span>
#include <vector>

#include "firewall/firewall.h"
#include "frame_builder.h"

namespace cloudlet::firewall {
namespace {

using testing::Build;
using testing::Frame;
using testing::Pass;
using testing::Spec;
using testing::V4;

constexpr ZoneId kLan = 0, kWan = 1;
constexpr Nanos kT0 = 1000 * kSecond;
constexpr uint32_t kCIsn = 1000, kSIsn = 5000;

RuleSet LanToWan() {
  RuleSet rs;
  rs.zones = {"lan", "wan"};
  Rule r;
  r.from_zones = {kLan};
  r.to_zones = {kWan};
  rs.rules = {r};
  return rs;
}

class ConntrackTest : public ::testing::Test {
 protected:
  explicit ConntrackTest(ConntrackConfig config = {}) : fw_(config) {
    fw_.replace(testing::MustCompile(LanToWan()), 0);
  }

  // A TCP segment of the test flow (10.0.0.2:40000 <-> 198.51.100.7:443).
  Frame Tcp(bool from_client, uint8_t flags, uint32_t seq, uint32_t ack, size_t payload = 0, uint16_t cport = 40000) {
    Spec s;
    s.src = from_client ? V4("10.0.0.2") : V4("198.51.100.7");
    s.dst = from_client ? V4("198.51.100.7") : V4("10.0.0.2");
    s.sport = from_client ? cport : 443;
    s.dport = from_client ? 443 : cport;
    s.flags = flags;
    s.seq = seq;
    s.ack = ack;
    s.payload = payload;
    return Build(s);
  }
  Verdict Send(bool from_client, uint8_t flags, uint32_t seq, uint32_t ack, Nanos now, size_t payload = 0,
               uint16_t cport = 40000) {
    Frame f = Tcp(from_client, flags, seq, ack, payload, cport);
    return from_client ? Pass(fw_, f, kLan, kWan, now) : Pass(fw_, f, kWan, kLan, now);
  }
  void Handshake(Nanos now, uint16_t cport = 40000) {
    ASSERT_EQ(Send(true, kTcpSyn, kCIsn, 0, now, 0, cport).action, Action::kAccept);
    ASSERT_EQ(Send(false, kTcpSyn | kTcpAck, kSIsn, kCIsn + 1, now, 0, cport).action, Action::kAccept);
    ASSERT_EQ(Send(true, kTcpAck, kCIsn + 1, kSIsn + 1, now, 0, cport).action, Action::kAccept);
  }
  std::string State(Nanos now) {
    auto c = fw_.connections(now, 10);
    return c.empty() ? "none" : c[0].state;
  }
  Nanos ExpiresIn(Nanos now) {
    auto c = fw_.connections(now, 10);
    return c.empty() ? -1 : c[0].expires_in;
  }

  Firewall fw_;
};

TEST_F(ConntrackTest, HandshakeEstablishes) {
  ASSERT_EQ(Send(true, kTcpSyn, kCIsn, 0, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "SYN_SENT");
  EXPECT_EQ(ExpiresIn(kT0), 120 * kSecond);
  ASSERT_EQ(Send(false, kTcpSyn | kTcpAck, kSIsn, kCIsn + 1, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "SYN_RECV");
  EXPECT_EQ(ExpiresIn(kT0), 60 * kSecond);
  ASSERT_EQ(Send(true, kTcpAck, kCIsn + 1, kSIsn + 1, kT0).action, Action::kAccept);
  auto conns = fw_.connections(kT0, 10);
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].state, "ESTABLISHED");
  EXPECT_TRUE(conns[0].assured);
  EXPECT_EQ(conns[0].expires_in, 432000 * kSecond);
  EXPECT_EQ(conns[0].packets_orig, 2u);
  EXPECT_EQ(conns[0].packets_reply, 1u);
  EXPECT_EQ(conns[0].rule, 0u);
}

TEST_F(ConntrackTest, NewFlowWithoutSynIsInvalid) {
  Verdict v = Send(true, kTcpAck, kCIsn, kSIsn, kT0);
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_TRUE(v.invalid);
  EXPECT_EQ(fw_.stats().connections, 0u);
  EXPECT_EQ(fw_.stats().invalid, 1u);
}

TEST_F(ConntrackTest, SynAckWithWrongAckIsInvalid) {
  ASSERT_EQ(Send(true, kTcpSyn, kCIsn, 0, kT0).action, Action::kAccept);
  EXPECT_TRUE(Send(false, kTcpSyn | kTcpAck, kSIsn, kCIsn + 100000, kT0).invalid);
  EXPECT_EQ(State(kT0), "SYN_SENT");
}

TEST_F(ConntrackTest, OutOfWindowRstAndDataAreInvalid) {
  Handshake(kT0);
  // Blind injection: sequence numbers far outside the window the client advertised.
  EXPECT_TRUE(Send(false, kTcpRst, kSIsn + 1 + 1000000, 0, kT0).invalid);
  EXPECT_TRUE(Send(false, kTcpRst | kTcpAck, kSIsn + 1 - 200000, kCIsn + 1, kT0).invalid);
  EXPECT_TRUE(Send(false, kTcpAck | kTcpPsh, kSIsn + 1 + 200000, kCIsn + 1, kT0, 100).invalid);
  // Acknowledging data the client never sent.
  EXPECT_TRUE(Send(false, kTcpAck, kSIsn + 1, kCIsn + 1 + 500000, kT0, 10).invalid);
  EXPECT_EQ(State(kT0), "ESTABLISHED");
  // In-window data still passes.
  EXPECT_EQ(Send(false, kTcpAck | kTcpPsh, kSIsn + 1, kCIsn + 1, kT0, 100).action, Action::kAccept);
  EXPECT_EQ(fw_.stats().invalid, 4u);
}

TEST_F(ConntrackTest, InWindowRstCloses) {
  Handshake(kT0);
  EXPECT_EQ(Send(false, kTcpRst, kSIsn + 1, 0, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "CLOSE");
  EXPECT_EQ(ExpiresIn(kT0), 10 * kSecond);
  // A closed connection no longer counts as assured for eviction and expires.
  fw_.expire(kT0 + 11 * kSecond);
  EXPECT_EQ(fw_.stats().connections, 0u);
}

TEST_F(ConntrackTest, RstAnsweringSynMustAckIt) {
  ASSERT_EQ(Send(true, kTcpSyn, kCIsn, 0, kT0).action, Action::kAccept);
  EXPECT_TRUE(Send(false, kTcpRst | kTcpAck, 0, kCIsn + 7, kT0).invalid);
  EXPECT_EQ(Send(false, kTcpRst | kTcpAck, 0, kCIsn + 1, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "CLOSE");
}

TEST_F(ConntrackTest, FinSequenceReachesTimeWaitWithEachTimeout) {
  Handshake(kT0);
  ASSERT_EQ(Send(true, kTcpFin | kTcpAck, kCIsn + 1, kSIsn + 1, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "FIN_WAIT");
  EXPECT_EQ(ExpiresIn(kT0), 120 * kSecond);
  ASSERT_EQ(Send(false, kTcpAck, kSIsn + 1, kCIsn + 2, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "CLOSE_WAIT");
  EXPECT_EQ(ExpiresIn(kT0), 60 * kSecond);
  ASSERT_EQ(Send(false, kTcpFin | kTcpAck, kSIsn + 1, kCIsn + 2, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "LAST_ACK");
  EXPECT_EQ(ExpiresIn(kT0), 30 * kSecond);
  ASSERT_EQ(Send(true, kTcpAck, kCIsn + 2, kSIsn + 2, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "TIME_WAIT");
  EXPECT_EQ(ExpiresIn(kT0), 120 * kSecond);
  // Still tracked just before the timeout, gone after it.
  EXPECT_EQ(fw_.connections(kT0 + 119 * kSecond, 10).size(), 1u);
  fw_.expire(kT0 + 121 * kSecond);
  EXPECT_EQ(fw_.stats().connections, 0u);
  EXPECT_EQ(fw_.stats().expired, 1u);
  // A new SYN on the same tuple starts a fresh connection.
  EXPECT_EQ(Send(true, kTcpSyn, 90000, 0, kT0 + 122 * kSecond).action, Action::kAccept);
  EXPECT_EQ(State(kT0 + 122 * kSecond), "SYN_SENT");
}

TEST_F(ConntrackTest, SynReopensTimeWait) {
  Handshake(kT0);
  Send(true, kTcpFin | kTcpAck, kCIsn + 1, kSIsn + 1, kT0);
  Send(false, kTcpFin | kTcpAck, kSIsn + 1, kCIsn + 2, kT0);
  Send(true, kTcpAck, kCIsn + 2, kSIsn + 2, kT0);
  ASSERT_EQ(State(kT0), "TIME_WAIT");
  EXPECT_EQ(Send(true, kTcpSyn, 777777, 0, kT0 + kSecond).action, Action::kAccept);
  EXPECT_EQ(State(kT0 + kSecond), "SYN_SENT");
  EXPECT_EQ(fw_.stats().connections, 1u);
}

TEST_F(ConntrackTest, SynSentTimesOut) {
  ASSERT_EQ(Send(true, kTcpSyn, kCIsn, 0, kT0).action, Action::kAccept);
  // The answer after the SYN_SENT timeout finds nothing: a new flow from the WAN without SYN.
  EXPECT_TRUE(Send(false, kTcpSyn | kTcpAck, kSIsn, kCIsn + 1, kT0 + 121 * kSecond).invalid);
  EXPECT_EQ(fw_.stats().connections, 0u);
}

TEST_F(ConntrackTest, EstablishedTimeout) {
  Handshake(kT0);
  EXPECT_EQ(Send(true, kTcpAck, kCIsn + 1, kSIsn + 1, kT0 + 431999 * kSecond).action, Action::kAccept);
  EXPECT_TRUE(Send(true, kTcpAck, kCIsn + 1, kSIsn + 1, kT0 + (431999 + 432001) * kSecond).invalid);
}

TEST_F(ConntrackTest, GsoSuperFrameUsesWholePayload) {
  Handshake(kT0);
  // One 60000-byte super-frame: the server may then acknowledge all of it and the next segment follows it.
  ASSERT_EQ(Send(true, kTcpAck | kTcpPsh, kCIsn + 1, kSIsn + 1, kT0, 60000).action, Action::kAccept);
  EXPECT_EQ(Send(false, kTcpAck, kSIsn + 1, kCIsn + 1 + 60000, kT0).action, Action::kAccept);
  EXPECT_EQ(Send(true, kTcpAck, kCIsn + 1 + 60000, kSIsn + 1, kT0, 1000).action, Action::kAccept);
  EXPECT_EQ(fw_.stats().invalid, 0u);
}

TEST_F(ConntrackTest, WindowScaleFromSynOptions) {
  Spec syn;
  syn.src = V4("10.0.0.2");
  syn.dst = V4("198.51.100.7");
  syn.sport = 40000;
  syn.dport = 443;
  syn.flags = kTcpSyn;
  syn.seq = kCIsn;
  syn.wscale = 7;
  Frame f1 = Build(syn);
  ASSERT_EQ(Pass(fw_, f1, kLan, kWan, kT0).action, Action::kAccept);
  Spec synack = syn;
  std::swap(synack.src, synack.dst);
  std::swap(synack.sport, synack.dport);
  synack.flags = kTcpSyn | kTcpAck;
  synack.seq = kSIsn;
  synack.ack = kCIsn + 1;
  Frame f2 = Build(synack);
  ASSERT_EQ(Pass(fw_, f2, kWan, kLan, kT0).action, Action::kAccept);
  // The client's ACK advertises 1024 << 7 = 128 KiB: the server may send 100 KB ahead (two super-frames).
  Spec ack = syn;
  ack.flags = kTcpAck;
  ack.seq = kCIsn + 1;
  ack.ack = kSIsn + 1;
  ack.window = 1024;
  ack.wscale = 0xff;
  Frame f3 = Build(ack);
  ASSERT_EQ(Pass(fw_, f3, kLan, kWan, kT0).action, Action::kAccept);
  EXPECT_EQ(Send(false, kTcpAck, kSIsn + 1, kCIsn + 1, kT0, 60000).action, Action::kAccept);
  EXPECT_EQ(Send(false, kTcpAck, kSIsn + 1 + 60000, kCIsn + 1, kT0, 40000).action, Action::kAccept);
  EXPECT_TRUE(Send(false, kTcpAck, kSIsn + 1 + 200000, kCIsn + 1, kT0, 100).invalid);
}

Frame Udp(bool from_client, uint16_t cport = 5353) {
  Spec s;
  s.proto = kIpProtoUdp;
  s.src = from_client ? V4("10.0.0.2") : V4("198.51.100.7");
  s.dst = from_client ? V4("198.51.100.7") : V4("10.0.0.2");
  s.sport = from_client ? cport : 53;
  s.dport = from_client ? 53 : cport;
  s.payload = 20;
  return Build(s);
}

TEST_F(ConntrackTest, UdpUnrepliedThenStream) {
  Frame q = Udp(true);
  ASSERT_EQ(Pass(fw_, q, kLan, kWan, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "UDP");
  EXPECT_EQ(ExpiresIn(kT0), 30 * kSecond);
  EXPECT_FALSE(fw_.connections(kT0, 1)[0].assured);
  Frame a = Udp(false);
  ASSERT_EQ(Pass(fw_, a, kWan, kLan, kT0 + kSecond).action, Action::kAccept);
  EXPECT_EQ(State(kT0 + kSecond), "UDP_STREAM");
  EXPECT_EQ(ExpiresIn(kT0 + kSecond), 120 * kSecond);
  EXPECT_TRUE(fw_.connections(kT0, 1)[0].assured);
}

TEST_F(ConntrackTest, UdpUnrepliedExpires) {
  Frame q = Udp(true);
  ASSERT_EQ(Pass(fw_, q, kLan, kWan, kT0).action, Action::kAccept);
  // 31 s later the answer is a new flow from the WAN, which the policy drops.
  Frame a = Udp(false);
  Verdict v = Pass(fw_, a, kWan, kLan, kT0 + 31 * kSecond);
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_FALSE(v.invalid);
  EXPECT_EQ(fw_.stats().policy_drop, 1u);
}

Frame Echo(bool request, uint16_t id) {
  Spec s;
  s.proto = kIpProtoIcmp;
  s.src = request ? V4("10.0.0.2") : V4("198.51.100.7");
  s.dst = request ? V4("198.51.100.7") : V4("10.0.0.2");
  s.icmp_type = request ? kIcmpEchoRequest : kIcmpEchoReply;
  s.icmp_id = id;
  s.payload = 32;
  return Build(s);
}

TEST_F(ConntrackTest, IcmpEchoRequestCreatesReplyMatches) {
  Frame unsolicited = Echo(false, 77);
  EXPECT_TRUE(Pass(fw_, unsolicited, kWan, kLan, kT0).invalid);
  Frame req = Echo(true, 77);
  ASSERT_EQ(Pass(fw_, req, kLan, kWan, kT0).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "ICMP");
  EXPECT_EQ(ExpiresIn(kT0), 30 * kSecond);
  Frame rep = Echo(false, 77);
  EXPECT_EQ(Pass(fw_, rep, kWan, kLan, kT0).action, Action::kAccept);
  Frame other = Echo(false, 78);
  EXPECT_TRUE(Pass(fw_, other, kWan, kLan, kT0).invalid);
}

Frame IcmpError(const Frame& offending, const char* to) {
  Spec s;
  s.proto = kIpProtoIcmp;
  s.src = V4("192.0.2.1");
  s.dst = V4(to);
  s.icmp_type = kIcmpDestUnreachable;
  s.icmp_code = 4;
  s.quote = offending.Ip(28);
  return Build(s);
}

TEST_F(ConntrackTest, IcmpErrorRelatedToTrackedFlow) {
  Handshake(kT0);
  Frame data = Tcp(true, kTcpAck, kCIsn + 1, kSIsn + 1, 1400);
  Frame err = IcmpError(data, "10.0.0.2");
  FlowState flow;
  Verdict v = Pass(fw_, err, kWan, kLan, kT0, V4("203.0.113.1"), &flow);
  EXPECT_EQ(v.action, Action::kAccept);
  EXPECT_EQ(flow.state, CtState::kRelated);
  EXPECT_TRUE(flow.reply);
  // The same error about a flow nobody opened is invalid.
  Frame stray = Tcp(true, kTcpAck, kCIsn + 1, kSIsn + 1, 1400, 40001);
  Frame err2 = IcmpError(stray, "10.0.0.2");
  EXPECT_TRUE(Pass(fw_, err2, kWan, kLan, kT0).invalid);
  // And a related error entering from the wrong side is invalid too.
  Frame err3 = IcmpError(data, "10.0.0.2");
  EXPECT_TRUE(Pass(fw_, err3, kLan, kLan, kT0).invalid);
}

TEST_F(ConntrackTest, PacketFromWrongZoneIsInvalid) {
  Handshake(kT0);
  Frame f = Tcp(false, kTcpAck, kSIsn + 1, kCIsn + 1, 10);
  EXPECT_TRUE(Pass(fw_, f, kLan, kLan, kT0).invalid);
}

class SmallTableTest : public ConntrackTest {
 protected:
  static ConntrackConfig Small(size_t n) {
    ConntrackConfig c;
    c.max_connections = n;
    return c;
  }
  SmallTableTest() : ConntrackTest(Small(64)) {}
};

TEST_F(SmallTableTest, SynFloodDoesNotEvictEstablished) {
  for (uint16_t p = 1; p <= 10; ++p) Handshake(kT0, static_cast<uint16_t>(30000 + p));
  constexpr int kFlood = 2000;
  for (int i = 0; i < kFlood; ++i) {
    Spec s;
    s.src = V4("10.0.0.66");
    s.dst = V4("198.51.100.7");
    s.sport = static_cast<uint16_t>(1024 + i);
    s.dport = 80;
    s.flags = kTcpSyn;
    s.seq = 1;
    Frame f = Build(s);
    EXPECT_EQ(Pass(fw_, f, kLan, kWan, kT0).action, Action::kAccept);
  }
  FirewallStats st = fw_.stats();
  EXPECT_EQ(st.connections, 64u);
  EXPECT_EQ(st.evicted, static_cast<uint64_t>(kFlood - 54));
  EXPECT_EQ(st.table_full, 0u);
  for (uint16_t p = 1; p <= 10; ++p) {
    EXPECT_EQ(Send(false, kTcpAck, kSIsn + 1, kCIsn + 1, kT0, 10, static_cast<uint16_t>(30000 + p)).action,
              Action::kAccept)
        << p;
  }
}

TEST_F(SmallTableTest, FullOfEstablishedRefusesNewFlows) {
  for (uint16_t p = 0; p < 64; ++p) Handshake(kT0, static_cast<uint16_t>(30000 + p));
  Verdict v = Send(true, kTcpSyn, kCIsn, 0, kT0, 0, 20000);
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_TRUE(v.invalid);
  EXPECT_EQ(fw_.stats().table_full, 1u);
  EXPECT_EQ(fw_.stats().evicted, 0u);
  // Expiry frees room again.
  for (int i = 0; i < 4; ++i) fw_.expire(kT0 + 432001 * kSecond);
  EXPECT_EQ(fw_.stats().connections, 0u);
}

class LooseTableTest : public ConntrackTest {
 protected:
  static ConntrackConfig Loose() {
    ConntrackConfig c;
    c.max_connections = 16;
    c.tcp_loose = true;
    return c;
  }
  LooseTableTest() : ConntrackTest(Loose()) {}
};

TEST_F(LooseTableTest, MidStreamPickupIsEvictableUntilAnswered) {
  // Picked up mid-stream: established at once, but not assured until the other side answers.
  ASSERT_EQ(Send(true, kTcpAck, kCIsn + 1, kSIsn + 1, kT0, 10).action, Action::kAccept);
  EXPECT_EQ(State(kT0), "ESTABLISHED");
  EXPECT_FALSE(fw_.connections(kT0, 1)[0].assured);
  ASSERT_EQ(Send(false, kTcpAck, kSIsn + 1, kCIsn + 11, kT0, 10).action, Action::kAccept);
  EXPECT_TRUE(fw_.connections(kT0, 1)[0].assured);
  // A flood of bare ACKs cycles through the other 15 slots and never pushes the answered connection out.
  for (uint16_t p = 0; p < 100; ++p) {
    EXPECT_EQ(Send(true, kTcpAck, 1, 1, kT0, 0, static_cast<uint16_t>(20000 + p)).action, Action::kAccept);
  }
  EXPECT_EQ(fw_.stats().evicted, 100u - 15u);
  EXPECT_EQ(Send(false, kTcpAck, kSIsn + 11, kCIsn + 11, kT0).action, Action::kAccept);
}

TEST(ConntrackTable, FindsBothTuplesAndRemoves) {
  ConntrackConfig config;
  config.max_connections = 1000;
  Conntrack ct(config, 42);
  std::vector<uint32_t> ids;
  for (uint16_t i = 0; i < 1000; ++i) {
    CtTuple o;
    o.family = 4;
    o.proto = kIpProtoUdp;
    o.src = V4("10.0.0.1").bytes;
    o.dst = V4("10.0.0.2").bytes;
    o.sport = i;
    o.dport = 53;
    CtTuple r = o.Reversed();
    r.dport = static_cast<uint16_t>(i + 20000);  // NATed reply tuple
    ids.push_back(ct.Create(o, r, 0));
    ASSERT_NE(ids.back(), kNoConn);
  }
  EXPECT_EQ(ct.size(), 1000u);
  for (uint16_t i = 0; i < 1000; i += 2) ct.Remove(ids[i]);
  for (uint16_t i = 0; i < 1000; ++i) {
    const Connection& c = ct.at(ids[i]);
    bool reply = false;
    if (i % 2) {
      EXPECT_EQ(ct.Find(ct.tuple(ids[i], false), 1, &reply), ids[i]);
      EXPECT_FALSE(reply);
      EXPECT_EQ(ct.Find(ct.tuple(ids[i], true), 1, &reply), ids[i]);
      EXPECT_TRUE(reply);
      EXPECT_TRUE(c.snat);
      EXPECT_FALSE(c.dnat);
    } else {
      EXPECT_FALSE(ct.Contains(ct.tuple(ids[i], false)));
      EXPECT_FALSE(ct.Contains(ct.tuple(ids[i], true)));
    }
  }
  EXPECT_EQ(ct.size(), 500u);
}

// prefetch(batch) is a hint: packets routed in another order than announced, packets it did not announce and more
// packets than kMaxBatch get exactly the verdicts they get without it.
TEST_F(ConntrackTest, BatchPrefetchIsOnlyAHint) {
  constexpr uint16_t kConns = 8;
  for (uint16_t i = 0; i < kConns; ++i) Handshake(kT0, static_cast<uint16_t>(40000 + i));
  std::vector<Frame> frames;
  for (uint16_t i = 0; i < kConns; ++i) {
    frames.push_back(Tcp(i % 2 == 0, kTcpAck, i % 2 == 0 ? kCIsn + 1 : kSIsn + 1, i % 2 == 0 ? kSIsn + 1 : kCIsn + 1, 0,
                         static_cast<uint16_t>(40000 + i)));
  }
  std::vector<L3Info> announced;
  for (size_t k = 0; k < 2 * kMaxBatch; ++k) announced.push_back(frames[k % kConns].info);
  announced[3].has_l4 = false;  // a fragment in the batch
  fw_.prefetch(announced);
  // Reverse order, then a packet of a connection that does not exist (a bare ACK: invalid either way).
  for (size_t k = kConns; k-- > 0;) {
    const bool client = k % 2 == 0;
    FlowState flow;
    const Verdict v = Pass(fw_, frames[k], client ? kLan : kWan, client ? kWan : kLan, kT0, V4("203.0.113.1"), &flow);
    EXPECT_EQ(v.action, Action::kAccept) << k;
    EXPECT_EQ(flow.state, CtState::kEstablished) << k;
  }
  Frame stray = Tcp(true, kTcpAck, kCIsn + 1, kSIsn + 1, 0, 50000);
  EXPECT_TRUE(Pass(fw_, stray, kLan, kWan, kT0).invalid);
  // In the announced order this time.
  fw_.prefetch(std::span<const L3Info>(announced.data(), kConns));
  for (size_t k = 0; k < kConns; ++k) {
    const bool client = k % 2 == 0;
    EXPECT_EQ(Pass(fw_, frames[k], client ? kLan : kWan, client ? kWan : kLan, kT0).action, Action::kAccept) << k;
  }
  const auto conns = fw_.connections(kT0, 100);
  ASSERT_EQ(conns.size(), kConns);
  for (const ConnectionInfo& c : conns) EXPECT_EQ(c.packets_orig + c.packets_reply, 5u);  // handshake 3 + 2
}

// Random churn against a model, in a table run at its full load (4/7 of the index), so buckets spill into their
// neighbours and deletions must keep the spilled tuples reachable. Half the connections are NATed (reply tuple
// stored apart), half not (reply tuple = original reversed).
TEST(ConntrackTable, ChurnAtFullLoadMatchesModel) {
  ConntrackConfig config;
  config.max_connections = 512;
  Conntrack ct(config, 7);
  std::mt19937 rng(3);
  std::map<uint32_t, std::pair<CtTuple, CtTuple>> live;  // conn -> (original, reply)
  std::vector<std::pair<CtTuple, CtTuple>> gone;
  uint32_t next_port = 0;
  for (int op = 0; op < 40000; ++op) {
    if (live.size() < config.max_connections && (rng() % 3 != 0 || live.empty())) {
      CtTuple o;
      o.family = 4;
      o.proto = kIpProtoTcp;
      o.src = V4("10.0.0.1").bytes;
      o.dst = V4("10.0.0.2").bytes;
      o.sport = static_cast<uint16_t>(next_port & 0xffff);
      o.dport = static_cast<uint16_t>(next_port >> 16);
      ++next_port;
      CtTuple r = o.Reversed();
      if (rng() % 2) r.dst = V4("203.0.113.1").bytes;
      const uint32_t conn = ct.Create(o, r, 0);
      ASSERT_NE(conn, kNoConn);
      live[conn] = {o, r};
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      gone.push_back(it->second);
      ct.Remove(it->first);
      live.erase(it);
    }
    if (op % 1000 != 999) continue;
    ASSERT_EQ(ct.size(), live.size());
    for (const auto& [conn, tuples] : live) {
      bool reply = true;
      ASSERT_EQ(ct.Find(tuples.first, 1, &reply), conn);
      EXPECT_FALSE(reply);
      ASSERT_EQ(ct.Find(tuples.second, 1, &reply), conn);
      EXPECT_TRUE(reply);
    }
    for (size_t i = gone.size() > 200 ? gone.size() - 200 : 0; i < gone.size(); ++i) {
      ASSERT_FALSE(ct.Contains(gone[i].first));
      ASSERT_FALSE(ct.Contains(gone[i].second));
    }
  }
}

}  // namespace
}  // namespace cloudlet::firewall

// The engine: zone policies, rules and counters, replace(), trace(), compile errors, NAT exhaustion.
#include "firewall/firewall.h"

#include <gtest/gtest.h>

#include "frame_builder.h"

namespace cloudlet::firewall {
namespace {

using testing::Build;
using testing::Frame;
using testing::MustCompile;
using testing::Pass;
using testing::Spec;
using testing::V4;

constexpr ZoneId kLan = 0, kWan = 1, kDmz = 2;
constexpr Nanos kT0 = kSecond;

Frame Syn(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  Spec s;
  s.src = V4(src);
  s.dst = V4(dst);
  s.sport = sport;
  s.dport = dport;
  s.flags = kTcpSyn;
  s.seq = 1;
  return Build(s);
}

RuleSet ThreeZones() {
  RuleSet rs;
  rs.zones = {"lan", "wan", "dmz"};
  return rs;
}

TEST(Firewall, DefaultPolicyAcceptsWithinZoneDropsBetween) {
  Firewall fw;
  fw.replace(MustCompile(ThreeZones()), 0);
  Frame a = Syn("10.0.0.2", "10.0.0.3", 1000, 22);
  Verdict v = Pass(fw, a, kLan, kLan, kT0);
  EXPECT_EQ(v.action, Action::kAccept);
  EXPECT_EQ(v.rule, kNoMatch);
  Frame b = Syn("10.0.0.2", "198.51.100.1", 1000, 22);
  v = Pass(fw, b, kLan, kWan, kT0);
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_FALSE(v.invalid);
  EXPECT_EQ(fw.stats().policy_accept, 1u);
  EXPECT_EQ(fw.stats().policy_drop, 1u);
  EXPECT_EQ(fw.stats().connections, 1u);
}

TEST(Firewall, ExplicitPolicyMatrix) {
  RuleSet rs = ThreeZones();
  rs.policy.assign(9, Action::kDrop);
  rs.policy[kLan * 3 + kDmz] = Action::kReject;
  Firewall fw;
  fw.replace(MustCompile(rs), 0);
  Frame a = Syn("10.0.0.2", "10.0.0.3", 1000, 22);
  EXPECT_EQ(Pass(fw, a, kLan, kLan, kT0).action, Action::kDrop);
  Frame b = Syn("10.0.0.2", "172.16.0.1", 1000, 22);
  EXPECT_EQ(Pass(fw, b, kLan, kDmz, kT0).action, Action::kReject);
  EXPECT_EQ(fw.stats().connections, 0u);
}

TEST(Firewall, FirstMatchingRuleDecidesAndIsCounted) {
  RuleSet rs = ThreeZones();
  Rule ssh;
  ssh.from_zones = {kWan};
  ssh.to_zones = {kDmz};
  ssh.proto = kIpProtoTcp;
  ssh.dports = {{22, 22}};
  ssh.action = Action::kReject;
  ssh.log = true;
  Rule web = ssh;
  web.dports = {{1, 65535}};
  web.action = Action::kAccept;
  web.log = false;
  rs.rules = {ssh, web};
  rs.rule_names = {"no-ssh", "web"};
  Firewall fw;
  fw.replace(MustCompile(rs), 0);
  Frame a = Syn("192.0.2.9", "172.16.0.1", 1000, 22);
  Verdict v = Pass(fw, a, kWan, kDmz, kT0);
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.rule, 0u);
  EXPECT_TRUE(v.log);
  Frame b = Syn("192.0.2.9", "172.16.0.1", 1000, 443);
  v = Pass(fw, b, kWan, kDmz, kT0);
  EXPECT_EQ(v.action, Action::kAccept);
  EXPECT_EQ(v.rule, 1u);
  auto counters = fw.rule_counters();
  ASSERT_EQ(counters.size(), 2u);
  EXPECT_EQ(counters[0].packets, 1u);
  EXPECT_EQ(counters[1].packets, 1u);
  EXPECT_EQ(counters[1].bytes, b.info.ip_len);
  EXPECT_EQ(fw.rules().rule_names[1], "web");
}

TEST(Firewall, TraceClassifiesWithoutState) {
  RuleSet rs = ThreeZones();
  Rule r;
  r.from_zones = {kLan};
  r.proto = kIpProtoUdp;
  r.dports = {{53, 53}};
  r.action = Action::kAccept;
  rs.rules = {r};
  Firewall fw;
  fw.replace(MustCompile(rs), 0);
  ClassifyKey k;
  k.from = kLan;
  k.to = kWan;
  k.proto = kIpProtoUdp;
  k.dport = 53;
  Verdict v = fw.trace(k);
  EXPECT_EQ(v.action, Action::kAccept);
  EXPECT_EQ(v.rule, 0u);
  k.dport = 54;
  v = fw.trace(k);
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.rule, kNoMatch);
  EXPECT_EQ(fw.stats().connections, 0u);
  EXPECT_EQ(fw.rule_counters()[0].packets, 0u);
}

TEST(Firewall, ReplaceKeepsAllowedConnectionsAndDropsOthers) {
  RuleSet rs = ThreeZones();
  Rule web;
  web.from_zones = {kLan};
  web.to_zones = {kWan};
  web.proto = kIpProtoTcp;
  web.dports = {{443, 443}};
  Rule ssh = web;
  ssh.dports = {{22, 22}};
  rs.rules = {web, ssh};
  Firewall fw;
  fw.replace(MustCompile(rs), 0);
  Frame a = Syn("10.0.0.2", "198.51.100.1", 1000, 443);
  Frame b = Syn("10.0.0.2", "198.51.100.1", 1001, 22);
  ASSERT_EQ(Pass(fw, a, kLan, kWan, kT0).action, Action::kAccept);
  ASSERT_EQ(Pass(fw, b, kLan, kWan, kT0).action, Action::kAccept);
  ASSERT_EQ(fw.stats().connections, 2u);

  RuleSet next = rs;
  next.rules = {web};  // ssh no longer allowed
  fw.replace(MustCompile(next), kT0);
  auto conns = fw.connections(kT0, 10);
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].dport, 443);
  EXPECT_EQ(fw.rule_counters().size(), 1u);
  EXPECT_EQ(fw.rule_counters()[0].packets, 0u);  // restarted
  // The kept connection still takes the fast path; the removed one's next packet is a new flow without SYN.
  Spec ack;
  ack.src = V4("198.51.100.1");
  ack.dst = V4("10.0.0.2");
  ack.sport = 443;
  ack.dport = 1000;
  ack.flags = kTcpSyn | kTcpAck;
  ack.seq = 50;
  ack.ack = 2;
  Frame ra = Build(ack);
  EXPECT_EQ(Pass(fw, ra, kWan, kLan, kT0).action, Action::kAccept);
  ack.sport = 22;
  ack.dport = 1001;
  Frame rb = Build(ack);
  EXPECT_TRUE(Pass(fw, rb, kWan, kLan, kT0).invalid);
}

TEST(Firewall, MasqueradePortExhaustionDropsAndCounts) {
  RuleSet rs;
  rs.zones = {"lan", "wan"};
  Rule out;
  out.from_zones = {kLan};
  out.to_zones = {kWan};
  rs.rules = {out};
  rs.masquerade = {Masquerade{kLan, kWan, 3000, 3001}};
  Firewall fw;
  fw.replace(MustCompile(rs), 0);
  for (uint16_t p = 0; p < 2; ++p) {
    Frame f = Syn("10.0.0.2", "198.51.100.1", static_cast<uint16_t>(5000 + p), 443);
    ASSERT_EQ(Pass(fw, f, kLan, kWan, kT0).action, Action::kAccept);
    EXPECT_GE(f.info.sport, 3000);
    EXPECT_LE(f.info.sport, 3001);
  }
  Frame f = Syn("10.0.0.2", "198.51.100.1", 5002, 443);
  Verdict v = Pass(fw, f, kLan, kWan, kT0);
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(fw.stats().nat_failed, 1u);
  EXPECT_EQ(fw.stats().connections, 2u);
}

TEST(Firewall, CompileRejectsInconsistentSets) {
  RuleSet rs = ThreeZones();
  rs.policy.assign(4, Action::kAccept);
  EXPECT_FALSE(Firewall::Compile(rs).ok());
  rs = ThreeZones();
  Rule r;
  r.from_zones = {7};
  rs.rules = {r};
  auto c = Firewall::Compile(rs);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("zone 7"), std::string::npos);
  rs = ThreeZones();
  PortForward f;
  f.proto = kIpProtoTcp;
  f.port_lo = 10;
  f.port_hi = 5;
  rs.forwards = {f};
  EXPECT_FALSE(Firewall::Compile(rs).ok());
  rs = ThreeZones();
  rs.masquerade = {Masquerade{kLan, kWan, 5000, 4000}};
  EXPECT_FALSE(Firewall::Compile(rs).ok());
  rs = ThreeZones();
  Rule bad;
  bad.dports = {{1, 2}};  // ports without tcp/udp: the classifier refuses it
  rs.rules = {bad};
  EXPECT_FALSE(Firewall::Compile(rs).ok());
}

TEST(Firewall, NonFirstFragmentIsInvalid) {
  Firewall fw;
  fw.replace(MustCompile(ThreeZones()), 0);
  Frame f = Syn("10.0.0.2", "10.0.0.3", 1000, 22);
  f.info.has_l4 = false;
  f.info.is_fragment = true;
  EXPECT_TRUE(Pass(fw, f, kLan, kLan, kT0).invalid);
}

TEST(Firewall, StateNames) {
  EXPECT_STREQ(CtStateName(CtState::kEstablished), "established");
  EXPECT_STREQ(CtStateName(CtState::kRelated), "related");
  EXPECT_STREQ(CtStateName(CtState::kInvalid), "invalid");
  EXPECT_STREQ(CtStateName(CtState::kNew), "new");
}

}  // namespace
}  // namespace cloudlet::firewall

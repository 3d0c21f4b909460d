// The compiled classifier: each field kind, edge cases, validation, and a differential test against the linear-scan
// definition (ClassifyReference) over random rule sets and keys.
#include "firewall/classifier.h"

#include <gtest/gtest.h>

#include <random>

namespace cloudlet::firewall {
namespace {

IpPrefix P(const char* text) {
  auto p = ParseIpPrefix(text);
  EXPECT_TRUE(p.has_value()) << text;
  return *p;
}

ClassifyKey V4Key(const char* src, const char* dst, uint8_t proto = 6, uint16_t sport = 1000, uint16_t dport = 80) {
  ClassifyKey k;
  k.family = 4;
  k.proto = proto;
  k.src = ParseIpAddress(src)->bytes;
  k.dst = ParseIpAddress(dst)->bytes;
  k.sport = sport;
  k.dport = dport;
  return k;
}

ClassifyKey V6Key(const char* src, const char* dst, uint8_t proto = 6, uint16_t sport = 1000, uint16_t dport = 80) {
  ClassifyKey k = V4Key("0.0.0.0", "0.0.0.0", proto, sport, dport);
  k.family = 6;
  k.src = ParseIpAddress(src)->bytes;
  k.dst = ParseIpAddress(dst)->bytes;
  return k;
}

std::shared_ptr<const Classifier> MustCompile(const std::vector<Rule>& rules) {
  auto c = Classifier::Compile(rules);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c.ok() ? *c : nullptr;
}

// Checks classify(), classify_batch() and the reference agree on `key`, and returns the answer.
uint32_t Check(const std::vector<Rule>& rules, const Classifier& c, const ClassifyKey& key) {
  const uint32_t want = ClassifyReference(rules, key);
  EXPECT_EQ(c.classify(key), want);
  uint32_t batch = 0;
  c.classify_batch(&key, 1, &batch);
  EXPECT_EQ(batch, want);
  return want;
}

TEST(ClassifierTest, ActionNames) {
  EXPECT_STREQ(ActionName(Action::kAccept), "accept");
  EXPECT_STREQ(ActionName(Action::kDrop), "drop");
  EXPECT_STREQ(ActionName(Action::kReject), "reject");
}

TEST(ClassifierTest, EmptyRuleListNeverMatches) {
  std::vector<Rule> rules;
  auto c = MustCompile(rules);
  EXPECT_EQ(c->rule_count(), 0u);
  EXPECT_EQ(c->classify(V4Key("1.2.3.4", "5.6.7.8")), kNoMatch);
  ClassifyKey keys[3] = {V4Key("1.2.3.4", "5.6.7.8"), V6Key("::1", "::2"), {}};
  uint32_t out[3] = {1, 2, 3};
  c->classify_batch(keys, 3, out);
  for (uint32_t o : out) EXPECT_EQ(o, kNoMatch);
}

TEST(ClassifierTest, AnyRuleMatchesEverything) {
  std::vector<Rule> rules(1);
  auto c = MustCompile(rules);
  EXPECT_EQ(Check(rules, *c, V4Key("1.2.3.4", "5.6.7.8")), 0u);
  EXPECT_EQ(Check(rules, *c, V6Key("fd00::1", "::")), 0u);
  ClassifyKey odd = V4Key("1.2.3.4", "5.6.7.8", 47);
  odd.from = 65535;
  odd.to = 12345;
  EXPECT_EQ(Check(rules, *c, odd), 0u);
}

TEST(ClassifierTest, FirstMatchWins) {
  std::vector<Rule> rules(3);
  rules[0].dports = {{22, 22}};
  rules[0].proto = 6;
  rules[0].action = Action::kDrop;
  rules[1].src = {P("10.0.0.0/8")};
  rules[2].action = Action::kReject;  // catch-all
  auto c = MustCompile(rules);
  EXPECT_EQ(Check(rules, *c, V4Key("10.1.1.1", "1.1.1.1", 6, 5, 22)), 0u);
  EXPECT_EQ(Check(rules, *c, V4Key("10.1.1.1", "1.1.1.1", 6, 5, 23)), 1u);
  EXPECT_EQ(Check(rules, *c, V4Key("11.1.1.1", "1.1.1.1", 6, 5, 23)), 2u);
  EXPECT_EQ(Check(rules, *c, V4Key("11.1.1.1", "1.1.1.1", 17, 5, 22)), 2u);
}

TEST(ClassifierTest, Zones) {
  std::vector<Rule> rules(3);
  rules[0].from_zones = {1, 3};
  rules[0].to_zones = {2};
  rules[1].to_zones = {65535};
  rules[2].from_zones = {0};
  auto c = MustCompile(rules);
  auto key = [](ZoneId from, ZoneId to) {
    ClassifyKey k = V4Key("1.1.1.1", "2.2.2.2");
    k.from = from;
    k.to = to;
    return k;
  };
  EXPECT_EQ(Check(rules, *c, key(1, 2)), 0u);
  EXPECT_EQ(Check(rules, *c, key(3, 2)), 0u);
  EXPECT_EQ(Check(rules, *c, key(2, 2)), kNoMatch);
  EXPECT_EQ(Check(rules, *c, key(2, 65535)), 1u);
  EXPECT_EQ(Check(rules, *c, key(0, 7)), 2u);
  EXPECT_EQ(Check(rules, *c, key(40000, 7)), kNoMatch);  // beyond every zone a rule names
}

TEST(ClassifierTest, FamilyAndPrefixFamily) {
  std::vector<Rule> rules(3);
  rules[0].family = 6;
  rules[0].proto = 17;
  rules[1].src = {P("0.0.0.0/0")};  // all of IPv4 and nothing of IPv6
  rules[2].dst = {P("::/0")};
  auto c = MustCompile(rules);
  EXPECT_EQ(Check(rules, *c, V6Key("::1", "::2", 17)), 0u);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 17)), 1u);
  EXPECT_EQ(Check(rules, *c, V4Key("255.255.255.255", "0.0.0.0", 6)), 1u);
  EXPECT_EQ(Check(rules, *c, V6Key("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6)), 2u);
  ClassifyKey other = V4Key("1.1.1.1", "2.2.2.2");
  other.family = 5;  // neither family: only prefix-free rules of family 0 could match
  EXPECT_EQ(Check(rules, *c, other), kNoMatch);
}

TEST(ClassifierTest, V4PrefixLengths) {
  std::vector<Rule> rules(3);
  rules[0].src = {P("192.168.1.7/32")};
  rules[1].src = {P("192.168.1.0/24"), P("172.16.0.0/12")};
  rules[2].src = {P("10.20.30.40/0")};  // host bits ignored: any IPv4
  auto c = MustCompile(rules);
  EXPECT_EQ(Check(rules, *c, V4Key("192.168.1.7", "1.1.1.1")), 0u);
  EXPECT_EQ(Check(rules, *c, V4Key("192.168.1.6", "1.1.1.1")), 1u);
  EXPECT_EQ(Check(rules, *c, V4Key("192.168.1.8", "1.1.1.1")), 1u);
  EXPECT_EQ(Check(rules, *c, V4Key("192.168.1.255", "1.1.1.1")), 1u);
  EXPECT_EQ(Check(rules, *c, V4Key("192.168.2.0", "1.1.1.1")), 2u);
  EXPECT_EQ(Check(rules, *c, V4Key("172.31.255.255", "1.1.1.1")), 1u);
  EXPECT_EQ(Check(rules, *c, V4Key("172.32.0.0", "1.1.1.1")), 2u);
  EXPECT_EQ(Check(rules, *c, V4Key("0.0.0.0", "1.1.1.1")), 2u);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "::")), kNoMatch);
}

TEST(ClassifierTest, V6PrefixLengths) {
  std::vector<Rule> rules(4);
  rules[0].dst = {P("fd00::1/128")};
  rules[1].dst = {P("fd00::/64")};
  rules[2].dst = {P("fd00:0:0:0:8000::/65"), P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")};
  rules[3].dst = {P("2000::/3")};
  auto c = MustCompile(rules);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "fd00::1")), 0u);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "fd00::2")), 1u);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "fd00::ffff:ffff:ffff:ffff")), 1u);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "fd00:0:0:1::")), kNoMatch);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 2u);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")), kNoMatch);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "2001:db8::1")), 3u);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "3fff:ffff::")), 3u);
  EXPECT_EQ(Check(rules, *c, V6Key("::", "4000::")), kNoMatch);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "253.0.0.1")), kNoMatch);
}

TEST(ClassifierTest, PortsAndRanges) {
  std::vector<Rule> rules(4);
  rules[0].proto = 6;
  rules[0].dports = {{0, 0}, {65535, 65535}};
  rules[1].proto = 17;
  rules[1].sports = {{53, 53}};
  rules[1].dports = {{1024, 65535}};
  rules[2].proto = 6;
  rules[2].dports = {{80, 90}, {85, 100}};  // overlapping ranges of one rule
  rules[3].proto = 1;
  auto c = MustCompile(rules);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 6, 1, 0)), 0u);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 6, 1, 65535)), 0u);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 17, 1, 65535)), kNoMatch);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 17, 53, 65535)), 1u);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 17, 53, 1023)), kNoMatch);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 6, 1, 79)), kNoMatch);
  for (uint16_t port = 80; port <= 100; ++port)
    EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 6, 1, port)), 2u);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 6, 1, 101)), kNoMatch);
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 1, 0, 0)), 3u);  // ports are not looked at for ICMP
}

TEST(ClassifierTest, IcmpTypeAndCode) {
  std::vector<Rule> rules(4);
  rules[0].proto = 1;
  rules[0].icmp_type = 8;
  rules[1].proto = 58;
  rules[1].icmp_type = 1;
  rules[1].icmp_code = 4;
  rules[2].proto = 1;
  rules[2].icmp_code = 0;
  rules[3].proto = 58;
  rules[3].icmp_type = 255;
  auto c = MustCompile(rules);
  auto key = [](uint8_t family, uint8_t proto, uint8_t type, uint8_t code) {
    ClassifyKey k = family == 4 ? V4Key("1.1.1.1", "2.2.2.2", proto, 0, 0) : V6Key("::1", "::2", proto, 0, 0);
    k.icmp_type = type;
    k.icmp_code = code;
    return k;
  };
  EXPECT_EQ(Check(rules, *c, key(4, 1, 8, 0)), 0u);
  EXPECT_EQ(Check(rules, *c, key(4, 1, 0, 0)), 2u);
  EXPECT_EQ(Check(rules, *c, key(4, 1, 0, 1)), kNoMatch);
  EXPECT_EQ(Check(rules, *c, key(6, 58, 1, 4)), 1u);
  EXPECT_EQ(Check(rules, *c, key(6, 58, 1, 3)), kNoMatch);
  EXPECT_EQ(Check(rules, *c, key(6, 58, 255, 9)), 3u);
  EXPECT_EQ(Check(rules, *c, key(6, 6, 255, 9)), kNoMatch);  // type of a TCP key is ignored
}

TEST(ClassifierTest, ManyRulesAcrossWords) {
  // Rule i matches only dport i; the answer for port p is p across many 64-rule words and aggregate words.
  std::vector<Rule> rules(5000);
  for (size_t i = 0; i < rules.size(); ++i) {
    rules[i].proto = 6;
    rules[i].dports = {{static_cast<uint16_t>(i), static_cast<uint16_t>(i)}};
  }
  rules.back().dports.clear();  // the last rule catches the rest
  auto c = MustCompile(rules);
  for (uint16_t p : {0, 1, 63, 64, 4095, 4096, 4998, 4999, 5000, 65535}) {
    EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 6, 1, p)), p < 4999 ? p : 4999u);
  }
  EXPECT_EQ(Check(rules, *c, V4Key("1.1.1.1", "2.2.2.2", 17, 1, 7)), kNoMatch);
  EXPECT_GT(c->memory_bytes(), 0u);
}

void ExpectCompileError(const Rule& bad, const std::string& substring) {
  std::vector<Rule> rules(13);  // the bad rule goes at index 12
  rules[12] = bad;
  auto c = Classifier::Compile(rules);
  ASSERT_FALSE(c.ok()) << substring;
  EXPECT_NE(c.error().message().find("rule 12: "), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find(substring), std::string::npos) << c.error().message();
}

TEST(ClassifierTest, CompileErrors) {
  Rule r;
  r.dports = {{80, 80}};
  ExpectCompileError(r, "ports need proto tcp or udp");
  r.proto = 1;
  ExpectCompileError(r, "ports need proto tcp or udp");
  r = {};
  r.proto = 6;
  r.sports = {{90, 80}};
  ExpectCompileError(r, "lo > hi");
  r = {};
  r.icmp_type = 8;
  ExpectCompileError(r, "icmp type/code need proto icmp or icmpv6");
  r = {};
  r.proto = 17;
  r.icmp_code = 0;
  ExpectCompileError(r, "icmp type/code need proto icmp or icmpv6");
  r = {};
  r.proto = 1;
  r.icmp_type = 256;
  ExpectCompileError(r, "out of range");
  r = {};
  r.family = 4;
  r.dst = {P("fd00::/8")};
  ExpectCompileError(r, "IPv6 but the rule's family is 4");
  r = {};
  r.family = 6;
  r.src = {P("10.0.0.0/8")};
  ExpectCompileError(r, "IPv4 but the rule's family is 6");
  r = {};
  r.src = {P("10.0.0.0/8")};
  r.dst = {P("fd00::/8")};
  ExpectCompileError(r, "share no address family");
  r = {};
  r.src = {IpPrefix{IpAddress::V4(10, 0, 0, 0), 33}};
  ExpectCompileError(r, "exceeds 32 bits");
  r = {};
  r.family = 5;
  ExpectCompileError(r, "family 5");

  // Valid neighbours of those: mixed-family lists sharing a family, icmp with proto, ports with udp.
  std::vector<Rule> ok(3);
  ok[0].src = {P("10.0.0.0/8"), P("fd00::/8")};
  ok[0].dst = {P("fd00::/8")};
  ok[1].proto = 58;
  ok[1].icmp_type = 128;
  ok[2].proto = 17;
  ok[2].sports = {{0, 65535}};
  EXPECT_TRUE(Classifier::Compile(ok).ok());

  auto too_many = Classifier::Compile(std::vector<Rule>(kMaxRules + 1));
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message().find("too many rules"), std::string::npos);
}

// ---- Differential test ----

struct Generator {
  explicit Generator(uint64_t seed) : rng(seed) {
    // A small pool of overlapping prefixes of varied lengths, so keys actually land in them.
    for (const char* t : {"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.128/25", "10.1.2.3/32",
                          "10.1.2.4/30", "192.168.0.0/16", "192.168.1.0/24", "192.168.1.1/32", "172.16.0.0/12",
                          "255.255.255.255/32", "0.0.0.0/32", "128.0.0.0/1"}) {
      v4.push_back(P(t));
    }
    for (const char* t :
         {"::/0", "fd00::/8", "fd00:1::/32", "fd00:1:2::/48", "fd00:1:2:3::/64", "fd00:1:2:3::1/128",
          "fd00:1:2:3:8000::/65", "2001:db8::/32", "2001:db8::1/128", "::/128", "ffff::/16", "fd00:1:2:3::/127"}) {
      v6.push_back(P(t));
    }
  }
  std::mt19937_64 rng;
  std::vector<IpPrefix> v4, v6;

  uint32_t U(uint32_t n) { return static_cast<uint32_t>(rng() % n); }
  bool Chance(uint32_t percent) { return U(100) < percent; }

  uint16_t Port() {
    static constexpr uint16_t kPorts[] = {0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65534, 65535};
    return Chance(70) ? kPorts[U(std::size(kPorts))] : static_cast<uint16_t>(rng());
  }
  std::vector<PortRange> Ports() {
    std::vector<PortRange> out;
    if (Chance(40)) return out;
    const uint32_t n = 1 + U(3);
    for (uint32_t i = 0; i < n; ++i) {
      uint16_t a = Port(), b = Chance(50) ? a : Port();
      if (a > b) std::swap(a, b);
      out.push_back({a, b});
    }
    return out;
  }
  std::vector<ZoneId> Zones() {
    std::vector<ZoneId> out;
    if (Chance(40)) return out;
    const uint32_t n = 1 + U(3);
    for (uint32_t i = 0; i < n; ++i) out.push_back(static_cast<ZoneId>(U(8)));
    return out;
  }
  std::vector<IpPrefix> Prefixes(int family) {  // family 0: either, possibly mixed
    std::vector<IpPrefix> out;
    const uint32_t n = 1 + U(3);
    for (uint32_t i = 0; i < n; ++i) {
      const bool six = family == 6 || (family == 0 && Chance(50));
      IpPrefix p = six ? v6[U(v6.size())] : v4[U(v4.size())];
      if (Chance(20)) p.address.bytes[p.address.bit_width() / 8 - 1] ^= static_cast<uint8_t>(rng());  // host bits
      out.push_back(p);
    }
    return out;
  }

  Rule MakeRule() {
    Rule r;
    r.from_zones = Zones();
    r.to_zones = Zones();
    const uint32_t f = U(3);
    r.family = f == 0 ? 0 : (f == 1 ? 4 : 6);
    // Prefixes use one family (the rule's, or either) so src and dst always share one.
    const int pf = r.family != 0 ? r.family : (Chance(50) ? 4 : 6);
    if (Chance(60)) {
      r.src = Prefixes(Chance(20) && r.family == 0 ? 0 : pf);
      r.src.push_back(Prefixes(pf)[0]);  // a mixed list still holds one of the dst's family
    }
    if (Chance(60)) r.dst = Prefixes(pf);
    static constexpr uint8_t kProtos[] = {0, 6, 6, 17, 17, 1, 58, 47};
    r.proto = kProtos[U(std::size(kProtos))];
    if (r.proto == 6 || r.proto == 17) {
      r.sports = Chance(30) ? Ports() : std::vector<PortRange>{};
      r.dports = Ports();
    }
    if (r.proto == 1 || r.proto == 58) {
      if (Chance(60)) r.icmp_type = static_cast<int16_t>(Chance(80) ? U(12) : U(256));
      if (Chance(40)) r.icmp_code = static_cast<int16_t>(U(5));
    }
    r.action = static_cast<Action>(U(3));
    return r;
  }

  std::array<uint8_t, 16> AddrIn(const std::vector<IpPrefix>& prefixes, uint8_t family) {
    std::array<uint8_t, 16> a{};
    const int width = family == 4 ? 4 : 16;
    for (int i = 0; i < width; ++i) a[i] = static_cast<uint8_t>(rng());
    std::vector<const IpPrefix*> fit;
    for (const IpPrefix& p : prefixes) {
      if ((p.address.family == IpAddress::Family::kV6) == (family == 6)) fit.push_back(&p);
    }
    if (fit.empty()) return a;
    const IpPrefix& p = *fit[U(fit.size())];
    for (int bit = 0; bit < p.length; ++bit) {
      const uint8_t mask = 0x80 >> (bit % 8);
      a[bit / 8] = static_cast<uint8_t>((a[bit / 8] & ~mask) | (p.address.bytes[bit / 8] & mask));
    }
    return a;
  }

  ClassifyKey RandomKey() {
    ClassifyKey k;
    k.from = static_cast<ZoneId>(U(9));
    k.to = static_cast<ZoneId>(U(9));
    k.family = Chance(50) ? 4 : 6;
    static constexpr uint8_t kProtos[] = {6, 17, 1, 58, 47, 0};
    k.proto = kProtos[U(std::size(kProtos))];
    // Addresses near the pool's prefixes (random host part) or fully random.
    const std::vector<IpPrefix>& pool = k.family == 4 ? v4 : v6;
    k.src = Chance(70) ? AddrIn(pool, k.family) : AddrIn({}, k.family);
    k.dst = Chance(70) ? AddrIn(pool, k.family) : AddrIn({}, k.family);
    if (k.proto == 6 || k.proto == 17) {
      k.sport = Port();
      k.dport = Port();
    }
    if (k.proto == 1 || k.proto == 58) {
      k.icmp_type = static_cast<uint8_t>(Chance(80) ? U(12) : U(256));
      k.icmp_code = static_cast<uint8_t>(U(5));
    }
    if (Chance(2)) k.family = 0;  // malformed: must still agree with the reference (only prefix-free rules)
    return k;
  }

  // A key satisfying `r` (later fields random where the rule says any); an earlier rule may still win.
  ClassifyKey KeyFor(const Rule& r) {
    ClassifyKey k = RandomKey();
    if (!r.from_zones.empty()) k.from = r.from_zones[U(r.from_zones.size())];
    if (!r.to_zones.empty()) k.to = r.to_zones[U(r.to_zones.size())];
    if (r.family != 0) k.family = r.family;
    for (const auto* list : {&r.src, &r.dst}) {
      if (!list->empty()) k.family = (*list)[0].address.family == IpAddress::Family::kV6 ? 6 : 4;
    }
    k.src = AddrIn(r.src.empty() ? (k.family == 4 ? v4 : v6) : r.src, k.family);
    k.dst = AddrIn(r.dst.empty() ? (k.family == 4 ? v4 : v6) : r.dst, k.family);
    if (r.proto != 0) k.proto = r.proto;
    auto port_in = [&](const std::vector<PortRange>& ranges, uint16_t fallback) -> uint16_t {
      if (ranges.empty()) return fallback;
      const PortRange& pr = ranges[U(ranges.size())];
      return static_cast<uint16_t>(pr.lo + U(uint32_t{pr.hi} - pr.lo + 1));
    };
    k.sport = port_in(r.sports, k.sport);
    k.dport = port_in(r.dports, k.dport);
    if (r.icmp_type >= 0) k.icmp_type = static_cast<uint8_t>(r.icmp_type);
    if (r.icmp_code >= 0) k.icmp_code = static_cast<uint8_t>(r.icmp_code);
    return k;
  }
};

TEST(ClassifierTest, DifferentialAgainstReference) {
  size_t matched = 0, total = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    Generator g(seed);
    // Mostly small sets, some large ones (to cross 64-rule words and 4096-rule aggregate words).
    const uint32_t size = seed % 20 == 0 ? 1 + g.U(2000) : (seed % 3 == 0 ? 1 + g.U(300) : 1 + g.U(40));
    std::vector<Rule> rules;
    for (uint32_t i = 0; i < size; ++i) rules.push_back(g.MakeRule());
    auto compiled = Classifier::Compile(rules);
    ASSERT_TRUE(compiled.ok()) << "seed " << seed << ": " << compiled.error().message();
    const Classifier& c = **compiled;
    ASSERT_EQ(c.rule_count(), rules.size());

    constexpr size_t kKeys = 400;
    std::vector<ClassifyKey> keys;
    for (size_t i = 0; i < kKeys; ++i) keys.push_back(i % 2 ? g.KeyFor(rules[g.U(rules.size())]) : g.RandomKey());
    std::vector<uint32_t> batch(kKeys + 1, 0xdeadbeef);
    c.classify_batch(keys.data(), kKeys, batch.data());
    EXPECT_EQ(batch[kKeys], 0xdeadbeef);  // nothing written past n
    for (size_t i = 0; i < kKeys; ++i) {
      const uint32_t want = ClassifyReference(rules, keys[i]);
      ASSERT_EQ(c.classify(keys[i]), want) << "seed " << seed << " key " << i;
      ASSERT_EQ(batch[i], want) << "seed " << seed << " key " << i;
      matched += want != kNoMatch;
      ++total;
    }
  }
  // The generator is useful only if keys both hit and miss.
  EXPECT_GT(matched, total / 4);
  EXPECT_LT(matched, total);
}

}  // namespace
}  // namespace cloudlet::firewall

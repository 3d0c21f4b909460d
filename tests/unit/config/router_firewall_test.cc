// Routed VLANs, router: and firewall:: parsing, every model check (FILE:LINE: field errors), the zone helpers, the
// JSON form (lossless round trip, strict decoding) and the host check of the uplink interface.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "config/config.h"

namespace cloudlet {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Lines 1-12. VLAN 10 is routed; vlan_extra goes after line 5 (inside vlan 10), the rest at the end.
std::string Yaml(const std::string& vlan_extra = "", const std::string& rest = "") {
  return "vlans:\n"                   // 1
         "  - id: 10\n"               // 2
         "    name: web\n"            // 3
         "    ipv4: 10.10.0.1/24\n"   // 4
         "    ipv6: fd00:10::1/64\n"  // 5
         + vlan_extra +               //
         "  - id: 20\n"               // 6
         "    ipv4: 10.20.0.1/24\n"   // 7
         "  - id: 30\n"               // 8
         "switches:\n"                // 9
         "  - name: sw1\n"            // 10
         "router:\n"                  // 11
         "  switch: sw1\n"            // 12
         + rest;
}

const std::string kUplink =
    "  uplink:\n"                    // 13
    "    interface: eth1\n"          // 14
    "    ipv4: 192.168.50.2/24\n"    // 15
    "    gateway4: 192.168.50.1\n";  // 16

std::string ErrorOf(const std::string& yaml) {
  auto result = ParseConfig(yaml, "t.yaml");
  return result.ok() ? "" : result.error().message();
}

std::filesystem::path Example() {
  return (std::filesystem::path(__FILE__).parent_path() / "../../../examples/router.yaml").lexically_normal();
}

// A config using every new field.
const std::string kFull = Yaml(
    "    zone: front\n"
    "    mtu: 9000\n"
    "    dhcp:\n"
    "      range: 10.10.0.100-10.10.0.199\n"
    "      lease: 2h\n"
    "      dns: [10.10.0.1, 1.1.1.1]\n"
    "      domain: lab.example\n"
    "      reservations:\n"
    "        - {mac: \"52:54:00:00:00:01\", address: 10.10.0.50}\n",
    "  mac: 02:00:00:00:00:01\n"
    "  uplink:\n"
    "    interface: eth1\n"
    "    zone: wan\n"
    "    ipv4: 192.168.50.2/24\n"
    "    gateway4: 192.168.50.1\n"
    "    ipv6: 2001:db8::2/64\n"
    "    gateway6: 2001:db8::1\n"
    "    mtu: 1492\n"
    "  routes:\n"
    "    - {to: 10.99.0.0/16, via: 10.10.0.5}\n"
    "    - {to: \"fd99::/48\", via: \"2001:db8::9\"}\n"
    "  masquerade: [front, vlan20]\n"
    "  port_forwards:\n"
    "    - {proto: tcp, port: 8080, to: 10.10.0.2, to_port: 80}\n"
    "    - {proto: udp, port: \"5000-5010\", to: 10.20.0.9}\n"
    "firewall:\n"
    "  max_connections: 4096\n"
    "  sets:\n"
    "    admins: [10.10.0.5, 10.20.0.0/24, \"fd00::/8\"]\n"
    "    v4only: 10.30.0.0/16\n"
    "  policies:\n"
    "    - {from: front, to: vlan20, action: accept}\n"
    "    - {from: any, to: wan, action: reject}\n"
    "  rules:\n"
    "    - name: web-to-db\n"
    "      from: front\n"
    "      to: [vlan20]\n"
    "      src: [10.10.0.0/24, \"@admins\"]\n"
    "      dst: 10.20.0.2\n"
    "      family: ipv4\n"
    "      proto: tcp\n"
    "      sport: 1024-65535\n"
    "      dport: [5432, \"8000-8100\"]\n"
    "      action: accept\n"
    "      log: true\n"
    "    - {name: pmtu, proto: icmpv6, icmp_type: packet-too-big, icmp_code: 0, action: accept}\n"
    "    - {proto: icmp, icmp_type: 8, action: drop, log: false}\n"
    "    - {proto: 47, from: any, action: reject}\n");

TEST(RouterConfig, FullConfigParses) {
  auto cfg = ParseConfig(kFull, "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  const VlanDecl& v = cfg->vlans[0];
  EXPECT_EQ(v.zone, "front");
  EXPECT_EQ(v.ipv4, "10.10.0.1/24");
  EXPECT_EQ(v.ipv6, "fd00:10::1/64");
  EXPECT_EQ(v.mtu, 9000u);
  ASSERT_TRUE(v.dhcp);
  EXPECT_EQ(v.dhcp->range, "10.10.0.100-10.10.0.199");
  EXPECT_EQ(v.dhcp->lease_seconds, 7200u);
  EXPECT_EQ(v.dhcp->dns, (std::vector<std::string>{"10.10.0.1", "1.1.1.1"}));
  EXPECT_EQ(v.dhcp->domain, "lab.example");
  ASSERT_EQ(v.dhcp->reservations.size(), 1u);
  EXPECT_EQ(v.dhcp->reservations[0].address, "10.10.0.50");
  EXPECT_EQ(cfg->vlans[1].mtu, 1500u);
  EXPECT_FALSE(VlanRouted(cfg->vlans[2]));

  ASSERT_TRUE(cfg->router);
  const RouterDecl& r = *cfg->router;
  EXPECT_EQ(r.switch_name, "sw1");
  EXPECT_EQ(r.mac, "02:00:00:00:00:01");
  ASSERT_TRUE(r.uplink);
  EXPECT_EQ(r.uplink->zone, "wan");
  EXPECT_EQ(r.uplink->gateway6, "2001:db8::1");
  EXPECT_EQ(r.uplink->mtu, 1492u);
  ASSERT_EQ(r.routes.size(), 2u);
  EXPECT_EQ(r.routes[1].via, "2001:db8::9");
  EXPECT_EQ(r.masquerade, (std::vector<std::string>{"front", "vlan20"}));
  ASSERT_EQ(r.port_forwards.size(), 2u);
  EXPECT_EQ(r.port_forwards[0].to_port, 80);
  EXPECT_EQ(r.port_forwards[1].proto, ip_proto::kUdp);
  EXPECT_EQ(r.port_forwards[1].port, (PortRangeDecl{5000, 5010}));
  EXPECT_EQ(r.port_forwards[1].to_port, 5000);  // defaults to the first port

  ASSERT_TRUE(cfg->firewall);
  const FirewallDecl& fw = *cfg->firewall;
  EXPECT_EQ(fw.max_connections, 4096u);
  ASSERT_EQ(fw.sets.size(), 2u);
  EXPECT_EQ(fw.sets[0].name, "admins");
  EXPECT_EQ(fw.sets[0].entries.size(), 3u);
  EXPECT_EQ(fw.sets[1].entries, (std::vector<std::string>{"10.30.0.0/16"}));
  ASSERT_EQ(fw.policies.size(), 2u);
  EXPECT_EQ(fw.policies[1].action, FirewallActionDecl::kReject);
  ASSERT_EQ(fw.rules.size(), 4u);
  const FirewallRuleDecl& rule = fw.rules[0];
  EXPECT_EQ(rule.name, "web-to-db");
  EXPECT_EQ(rule.from, (std::vector<std::string>{"front"}));
  EXPECT_EQ(rule.dst, (std::vector<std::string>{"10.20.0.2"}));
  EXPECT_EQ(rule.family, 4);
  EXPECT_EQ(rule.proto, ip_proto::kTcp);
  EXPECT_EQ(rule.sport, (std::vector<PortRangeDecl>{{1024, 65535}}));
  EXPECT_EQ(rule.dport, (std::vector<PortRangeDecl>{{5432, 5432}, {8000, 8100}}));
  EXPECT_EQ(rule.action, FirewallActionDecl::kAccept);
  EXPECT_TRUE(rule.log);
  EXPECT_EQ(fw.rules[1].icmp_type, 2);  // packet-too-big, ICMPv6
  EXPECT_EQ(fw.rules[1].icmp_code, 0);
  EXPECT_EQ(fw.rules[2].icmp_type, 8);
  EXPECT_EQ(fw.rules[3].proto, 47);
  EXPECT_FALSE(fw.rules[3].icmp_type);
}

TEST(RouterConfig, IcmpNamesDependOnTheProtocol) {
  auto cfg = ParseConfig(Yaml("",
                              "firewall:\n  rules:\n    - {proto: icmpv6, icmp_type: echo-request, action: accept}\n"
                              "    - {icmp_type: echo-reply, proto: icmp, action: accept}\n"),
                         "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ(cfg->firewall->rules[0].icmp_type, 128);
  EXPECT_EQ(cfg->firewall->rules[1].icmp_type, 0);
}

TEST(RouterConfig, ExampleValidates) {
  auto cfg = LoadConfig(Example().string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_TRUE(cfg->router);
  EXPECT_TRUE(cfg->firewall);
  auto back = FromJson(ToJson(*cfg));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, *cfg);
}

TEST(RouterConfig, Zones) {
  auto cfg = ParseConfig(kFull, "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ(ZoneNames(*cfg), (std::vector<std::string>{"front", "vlan20", "wan"}));
  EXPECT_EQ(VlanZone(cfg->vlans[0]), "front");
  EXPECT_EQ(VlanZone(cfg->vlans[1]), "vlan20");
  VlanDecl named{.id = 5, .name = "office"};
  EXPECT_EQ(VlanZone(named), "office");
  // Several VLANs may share a zone; it is listed once. The uplink's default zone is "uplink".
  std::string y = Yaml("    zone: inside\n", kUplink);
  y.replace(y.find("    ipv4: 10.20.0.1/24\n"), 0, "    zone: inside\n");
  auto shared = ParseConfig(y, "t.yaml");
  ASSERT_TRUE(shared.ok()) << shared.error().message();
  EXPECT_EQ(ZoneNames(*shared), (std::vector<std::string>{"inside", "uplink"}));
}

TEST(RouterConfig, SwitchingOnlyJsonUnchanged) {
  auto plain = ParseConfig("vlans: [{id: 10, name: a}]\nswitches: [{name: sw1}]\n", "p.yaml");
  ASSERT_TRUE(plain.ok());
  auto j = ToJson(*plain);
  EXPECT_FALSE(j.contains("router"));
  EXPECT_FALSE(j.contains("firewall"));
  EXPECT_EQ(j["vlans"][0].size(), 3u);  // id, name, loc
}

TEST(RouterConfig, JsonRoundTripIsLossless) {
  auto cfg = ParseConfig(kFull, "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  auto back = FromJson(ToJson(*cfg));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, *cfg);
  // Through text too, as the CLI sends it.
  auto reparsed = FromJson(nlohmann::json::parse(ToJson(*cfg).dump()));
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().message();
  EXPECT_EQ(*reparsed, *cfg);
}

TEST(RouterConfig, JsonRejectsBadNewFields) {
  auto cfg = ParseConfig(kFull, "t.yaml");
  ASSERT_TRUE(cfg.ok());
  const auto good = ToJson(*cfg);
  auto error_of = [](const nlohmann::json& j) {
    auto r = FromJson(j);
    return r.ok() ? std::string() : r.error().message();
  };
  auto j = good;
  j["router"]["uplink"]["password"] = "x";
  EXPECT_THAT(error_of(j), HasSubstr("router.uplink.password: unknown key"));
  j = good;
  j["firewall"]["rules"][0]["action"] = "allow";
  EXPECT_THAT(error_of(j), HasSubstr("firewall.rules[0].action: unknown action"));
  j = good;
  j["firewall"]["rules"][0]["dport"] = nlohmann::json::array({5432});
  EXPECT_THAT(error_of(j), HasSubstr("firewall.rules[0].dport[0]: expected a port range [lo, hi]"));
  j = good;
  j["firewall"]["rules"][0]["log"] = 1;
  EXPECT_THAT(error_of(j), HasSubstr("firewall.rules[0].log: expected a boolean"));
  j = good;
  j["firewall"]["rules"][0]["proto"] = 300;
  EXPECT_THAT(error_of(j), HasSubstr("firewall.rules[0].proto: 300 out of range 0-255"));
  j = good;
  j["vlans"][0]["dhcp"]["reservations"][0]["address"] = "10.99.0.1";
  EXPECT_THAT(error_of(j), HasSubstr("vlans[0].dhcp.reservations[0].address: '10.99.0.1' is not a host address "
                                     "inside the VLAN's subnet"));
  j = good;
  j["vlans"][0]["ipv4"] = "10.20.0.1/16";  // re-validated: overlaps vlan 20
  EXPECT_THAT(error_of(j), HasSubstr("vlans[1].ipv4: '10.20.0.1/24' overlaps the subnet 10.20.0.0/16 of vlan 10"));
  j = good;
  j["firewall"]["sets"][0]["loc"]["fields"]["x"] = 3;
  EXPECT_THAT(error_of(j), HasSubstr("firewall.sets[0].loc.fields.x: unknown key"));
  j = good;
  j["router"]["port_forwards"][0]["port"] = "8080";
  EXPECT_THAT(error_of(j), HasSubstr("router.port_forwards[0].port: expected a port range"));
  j = good;
  j["firewall"]["rules"][1]["icmp_type"] = nullptr;  // null is "none": then icmp_code needs a type
  EXPECT_THAT(error_of(j), HasSubstr("firewall.rules[1].icmp_code: needs icmp_type:"));
}

TEST(RouterConfig, UnknownKeysAndBadTypes) {
  EXPECT_THAT(ErrorOf(Yaml("    ipv5: 10.0.0.1/24\n")), HasSubstr("t.yaml:6: vlans[0].ipv5: unknown key"));
  EXPECT_THAT(ErrorOf(Yaml("", "  uplnk: {}\n")),
              HasSubstr("t.yaml:13: router.uplnk: unknown key (did you mean 'uplink'?)"));
  EXPECT_THAT(ErrorOf(Yaml("", "firewall:\n  rules:\n    - {action: accept, dprt: 80}\n")),
              HasSubstr("t.yaml:15: firewall.rules[0].dprt: unknown key (did you mean 'dport'?)"));
  EXPECT_THAT(ErrorOf(Yaml("", "firewall:\n  rules:\n    - {action: allow}\n")),
              HasSubstr("t.yaml:15: firewall.rules[0].action: unknown action 'allow': use accept, drop or reject"));
  EXPECT_THAT(ErrorOf(Yaml("", "firewall:\n  rules:\n    - {action: drop, proto: gre}\n")),
              HasSubstr("t.yaml:15: firewall.rules[0].proto: unknown proto 'gre'"));
  EXPECT_THAT(ErrorOf(Yaml("", "firewall:\n  rules:\n    - {action: drop, log: maybe}\n")),
              HasSubstr("firewall.rules[0].log: expected true or false"));
  EXPECT_THAT(ErrorOf(Yaml("", "firewall:\n  rules:\n    - {action: drop, family: ipx}\n")),
              HasSubstr("firewall.rules[0].family: unknown family 'ipx'"));
  EXPECT_THAT(ErrorOf(Yaml("", "firewall:\n  sets: [a, b]\n")),
              HasSubstr("t.yaml:14: firewall.sets: expected a mapping of set names"));
  EXPECT_THAT(ErrorOf(Yaml("    mtu: 100\n")), HasSubstr("t.yaml:6: vlans[0].mtu: 100 out of range 576-9000"));
  EXPECT_THAT(ErrorOf(Yaml("", "firewall:\n  max_connections: 10\n")),
              HasSubstr("t.yaml:14: firewall.max_connections: 10 out of range 1024-16777216"));
  EXPECT_THAT(
      ErrorOf(Yaml("", "  port_forwards:\n    - {proto: sctp, port: 1, to: 10.10.0.2}\n")),
      HasSubstr("t.yaml:14: router.port_forwards[0].proto: unknown proto 'sctp': a port forward is tcp or udp"));
  EXPECT_THAT(ErrorOf(Yaml("", "firewall:\n  rules:\n    - {action: drop, proto: tcp, dport: \"90-80\"}\n")),
              HasSubstr("firewall.rules[0].dport: range 90-80 must be ascending within 1-65535"));
}

TEST(RouterConfig, RoutedVlanAddresses) {
  std::string e = ErrorOf(Yaml("    zone: any\n") + "  mac: 01:00:5e:00:00:01\n");
  EXPECT_THAT(e, HasSubstr("t.yaml:6: vlans[0].zone: 'any' is reserved"));
  EXPECT_THAT(e, HasSubstr("t.yaml:14: router.mac: '01:00:5e:00:00:01' is not a unicast address"));
  std::string y = Yaml();
  y.replace(y.find("10.10.0.1/24"), 12, "10.10.0.0/24");
  EXPECT_THAT(ErrorOf(y), HasSubstr("t.yaml:4: vlans[0].ipv4: '10.10.0.0/24' is the subnet's network address"));
  y = Yaml();
  y.replace(y.find("10.10.0.1/24"), 12, "10.10.0.255/24");
  EXPECT_THAT(ErrorOf(y), HasSubstr("t.yaml:4: vlans[0].ipv4: '10.10.0.255/24' is the subnet's broadcast address"));
  y = Yaml();
  y.replace(y.find("10.10.0.1/24"), 12, "10.10.0.1/31");
  EXPECT_THAT(ErrorOf(y), HasSubstr("t.yaml:4: vlans[0].ipv4: '10.10.0.1/31': a /31 leaves no room for hosts"));
  y = Yaml();
  y.replace(y.find("10.10.0.1/24"), 12, "fd00::1/64");
  EXPECT_THAT(ErrorOf(y), HasSubstr("t.yaml:4: vlans[0].ipv4: 'fd00::1/64' is not an IPv4 address"));
  y = Yaml();
  y.replace(y.find("10.20.0.1/24"), 12, "10.10.0.2/16");
  EXPECT_THAT(ErrorOf(y), HasSubstr("t.yaml:7: vlans[1].ipv4: '10.10.0.2/16' overlaps the subnet 10.10.0.0/24 of "
                                    "vlan 10 (line 4)"));
  y = Yaml("", kUplink);
  y.replace(y.find("192.168.50.2/24"), 15, "10.20.0.9/24");
  y.replace(y.find("192.168.50.1"), 12, "10.20.0.1");
  EXPECT_THAT(ErrorOf(y), HasSubstr("t.yaml:15: router.uplink.ipv4: '10.20.0.9/24' overlaps the subnet "
                                    "10.20.0.0/24 of vlan 20 (line 7)"));
  // zone only on routed VLANs
  std::string z = Yaml();
  z.replace(z.find("  - id: 30\n"), 11, "  - id: 30\n    zone: x\n");
  EXPECT_THAT(ErrorOf(z), HasSubstr("t.yaml:9: vlans[2].zone: only routed VLANs are in a zone"));
}

TEST(RouterConfig, RouterPresence) {
  std::string no_router = Yaml();
  no_router = no_router.substr(0, no_router.find("router:"));
  EXPECT_THAT(ErrorOf(no_router), AllOf(HasSubstr("t.yaml:4: vlans[0].ipv4: a routed VLAN needs a router: section"),
                                        HasSubstr("t.yaml:7: vlans[1].ipv4: a routed VLAN needs a router:")));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches: [{name: sw1}]\nrouter: {switch: sw1}\n"),
              HasSubstr("t.yaml:3: router: no VLAN is routed"));
  std::string sw = Yaml();
  sw.replace(sw.find("switch: sw1"), 11, "switch: sw2");
  EXPECT_THAT(ErrorOf(sw), HasSubstr("t.yaml:12: router.switch: unknown switch 'sw2' (did you mean 'sw1'?)"));
  std::string none = Yaml();
  none.replace(none.find("  switch: sw1\n"), 14, "  mac: 02:00:00:00:00:01\n");
  EXPECT_THAT(ErrorOf(none), HasSubstr("router.switch: required"));
}

TEST(RouterConfig, Dhcp) {
  auto dhcp = [](const std::string& body) { return Yaml("    dhcp:\n" + body); };  // dhcp: at line 6
  EXPECT_THAT(ErrorOf(dhcp("      lease: 1h\n")), HasSubstr("t.yaml:6: vlans[0].dhcp.range: required"));
  EXPECT_THAT(ErrorOf(dhcp("      range: 10.10.0.200-10.10.0.100\n")),
              HasSubstr("t.yaml:7: vlans[0].dhcp.range: '10.10.0.200-10.10.0.100': the first address is above the "
                        "last"));
  EXPECT_THAT(ErrorOf(dhcp("      range: 10.10.0.100-10.10.1.5\n")),
              HasSubstr("t.yaml:7: vlans[0].dhcp.range: '10.10.0.100-10.10.1.5' is not inside the VLAN's subnet "
                        "10.10.0.0/24"));
  EXPECT_THAT(ErrorOf(dhcp("      range: 10.10.0.1-10.10.0.50\n")),
              HasSubstr("t.yaml:7: vlans[0].dhcp.range: '10.10.0.1-10.10.0.50' holds the router's own address "
                        "10.10.0.1"));
  EXPECT_THAT(ErrorOf(dhcp("      range: 10.10.0.100\n")), HasSubstr("is not an IPv4 range FIRST-LAST"));
  EXPECT_THAT(ErrorOf(dhcp("      range: 10.10.0.100-10.10.0.199\n      lease: 30s\n")),
              HasSubstr("t.yaml:8: vlans[0].dhcp.lease: 30s out of range 60-2592000 seconds"));
  EXPECT_THAT(ErrorOf(dhcp("      range: 10.10.0.100-10.10.0.199\n      dns: [\"fd00::1\"]\n")),
              HasSubstr("t.yaml:8: vlans[0].dhcp.dns: 'fd00::1' is not an IPv4 address"));
  EXPECT_THAT(ErrorOf(dhcp("      range: 10.10.0.100-10.10.0.199\n      domain: -bad-\n")),
              HasSubstr("t.yaml:8: vlans[0].dhcp.domain: '-bad-' is not a DNS domain"));
  std::string e =
      ErrorOf(dhcp("      range: 10.10.0.100-10.10.0.199\n"
                   "      reservations:\n"
                   "        - {mac: \"52:54:00:00:00:01\", address: 10.10.0.50}\n"    // 9
                   "        - {mac: \"52:54:00:00:00:01\", address: 10.10.0.50}\n"    // 10
                   "        - {mac: \"03:00:00:00:00:01\", address: 10.10.0.1}\n"));  // 11
  EXPECT_THAT(e, HasSubstr("t.yaml:10: vlans[0].dhcp.reservations[1].mac: MAC 52:54:00:00:00:01 already has a "
                           "reservation (line 9)"));
  EXPECT_THAT(e, HasSubstr("t.yaml:10: vlans[0].dhcp.reservations[1].address: '10.10.0.50' is already reserved"));
  EXPECT_THAT(e, HasSubstr("t.yaml:11: vlans[0].dhcp.reservations[2].mac: '03:00:00:00:00:01' is not a unicast"));
  EXPECT_THAT(e, HasSubstr("t.yaml:11: vlans[0].dhcp.reservations[2].address: '10.10.0.1' is the router's own"));
  // dhcp needs ipv4
  std::string v6only = Yaml();
  v6only.replace(v6only.find("    ipv4: 10.10.0.1/24\n"), 23, "    dhcp: {range: 10.10.0.2-10.10.0.3}\n");
  EXPECT_THAT(ErrorOf(v6only), HasSubstr("t.yaml:4: vlans[0].dhcp: DHCP needs ipv4:"));
}

TEST(RouterConfig, Uplink) {
  EXPECT_THAT(ErrorOf(Yaml("", "  uplink: {zone: wan}\n")),
              AllOf(HasSubstr("t.yaml:13: router.uplink.interface: required"),
                    HasSubstr("t.yaml:13: router.uplink.ipv4: the uplink needs ipv4: and/or ipv6:")));
  std::string gw = Yaml("", kUplink);
  gw.replace(gw.find("192.168.50.1"), 12, "192.168.51.1");
  EXPECT_THAT(ErrorOf(gw), HasSubstr("t.yaml:16: router.uplink.gateway4: '192.168.51.1' is not inside the uplink's "
                                     "subnet '192.168.50.2/24'"));
  EXPECT_THAT(ErrorOf(Yaml("", kUplink + "    gateway6: 2001:db8::1\n")),
              HasSubstr("t.yaml:17: router.uplink.gateway6: needs ipv6:"));
  EXPECT_THAT(ErrorOf(Yaml("", kUplink + "    zone: web\n")),
              HasSubstr("t.yaml:17: router.uplink.zone: zone 'web' is already the zone of vlan 10 (line 2)"));
  std::string port = Yaml("", kUplink);
  port.replace(port.find("  - name: sw1\n"), 14, "  - name: sw1\n    ports: [{name: p1, interface: eth1, vlan: 30}]\n");
  EXPECT_THAT(ErrorOf(port), HasSubstr("t.yaml:15: router.uplink.interface: 'eth1' is already used by "
                                       "switches[0].ports[0]"));
}

TEST(RouterConfig, RoutesMasqueradeAndPortForwards) {
  std::string e =
      ErrorOf(Yaml("", kUplink + "  routes:\n"                                                             // 17
                                 "    - {to: 10.99.0.1/16, via: 10.10.0.5}\n"                              // 18
                                 "    - {to: 10.98.0.0/16, via: 10.50.0.5}\n"                              // 19
                                 "    - {to: \"fd99::/48\", via: 10.10.0.5}\n"                             // 20
                                 "    - {to: 10.98.0.0/16, via: 192.168.50.7}\n"                           // 21
                                 "  masquerade: [web, nowhere, uplink, web]\n"                             // 22
                                 "  port_forwards:\n"                                                      // 23
                                 "    - {proto: tcp, port: 8080, to: 10.10.0.2}\n"                         // 24
                                 "    - {proto: tcp, port: 8000-8090, to: 10.10.0.3}\n"                    // 25
                                 "    - {proto: udp, port: 65530-65535, to: 10.10.0.3, to_port: 65533}\n"  // 26
                                 "    - {proto: udp, port: 53, to: 192.168.50.9}\n"                        // 27
                                 "    - {proto: udp, port: 54, to: \"fd00:10::5\"}\n"                      // 28
                                 "    - {proto: udp, port: 55}\n"));                                       // 29
  EXPECT_THAT(e, HasSubstr("t.yaml:18: router.routes[0].to: '10.99.0.1/16' has host bits set (did you mean "
                           "10.99.0.0/16?)"));
  EXPECT_THAT(e, HasSubstr("t.yaml:19: router.routes[1].via: '10.50.0.5' is not inside a routed VLAN's or the "
                           "uplink's subnet"));
  EXPECT_THAT(e, HasSubstr("t.yaml:20: router.routes[2].via: '10.10.0.5' is IPv4 but the route's prefix is IPv6"));
  EXPECT_THAT(e, HasSubstr("t.yaml:21: router.routes[3].to: a route to '10.98.0.0/16' is already declared (line 19)"));
  EXPECT_THAT(e, HasSubstr("t.yaml:22: router.masquerade: unknown zone 'nowhere'; zones: 'web', 'vlan20', 'uplink'"));
  EXPECT_THAT(e, HasSubstr("t.yaml:22: router.masquerade: 'uplink' is the uplink's own zone"));
  EXPECT_THAT(e, HasSubstr("t.yaml:22: router.masquerade: zone 'web' listed more than once"));
  EXPECT_THAT(e, HasSubstr("t.yaml:25: router.port_forwards[1].port: overlaps the ports of "
                           "router.port_forwards[0] (line 24)"));
  EXPECT_THAT(e, HasSubstr("t.yaml:26: router.port_forwards[2].to_port: 65533 + the range's width"));
  EXPECT_THAT(e, Not(HasSubstr("router.port_forwards[2].port")));  // udp does not clash with tcp
  EXPECT_THAT(e, HasSubstr("t.yaml:27: router.port_forwards[3].to: '192.168.50.9' is not inside a routed VLAN's "
                           "subnet"));
  EXPECT_THAT(e, HasSubstr("t.yaml:28: router.port_forwards[4].to: 'fd00:10::5' is IPv6 but the uplink has no ipv6"));
  EXPECT_THAT(e, HasSubstr("t.yaml:29: router.port_forwards[5].to: required"));

  std::string no_uplink = ErrorOf(Yaml("", "  masquerade: [web]\n  port_forwards: [{port: 80, to: 10.10.0.2}]\n"));
  EXPECT_THAT(no_uplink, HasSubstr("t.yaml:13: router.masquerade: needs an uplink:"));
  EXPECT_THAT(no_uplink, HasSubstr("t.yaml:14: router.port_forwards: needs an uplink:"));
}

TEST(RouterConfig, FirewallSetsAndPolicies) {
  std::string e = ErrorOf(Yaml("",
                               "firewall:\n"                                       // 13
                               "  sets:\n"                                         // 14
                               "    empty: []\n"                                   // 15
                               "    nested: [\"@empty\"]\n"                        // 16
                               "    Bad: [10.0.0.0/8]\n"                           // 17
                               "    hosty: [10.0.0.1/8, nonsense]\n"               // 18
                               "  policies:\n"                                     // 19
                               "    - {from: web, to: mars, action: drop}\n"       // 20
                               "    - {from: web, to: vlan20}\n"                   // 21
                               "    - {from: web, to: vlan20, action: accept}\n"   // 22
                               "    - {from: web, to: vlan20, action: deny}\n"));  // 23
  EXPECT_THAT(e, HasSubstr("t.yaml:15: firewall.sets.empty: a set needs at least one address"));
  EXPECT_THAT(e, HasSubstr("t.yaml:16: firewall.sets.nested: '@empty': sets may not reference other sets"));
  EXPECT_THAT(e, HasSubstr("t.yaml:17: firewall.sets: set name 'Bad' is not a valid name"));
  EXPECT_THAT(e, HasSubstr("t.yaml:18: firewall.sets.hosty: '10.0.0.1/8' has host bits set"));
  EXPECT_THAT(e, HasSubstr("t.yaml:18: firewall.sets.hosty: 'nonsense' is not an IPv4 or IPv6 address or prefix"));
  EXPECT_THAT(e, HasSubstr("t.yaml:20: firewall.policies[0].to: unknown zone 'mars'; zones: 'web', 'vlan20'"));
  EXPECT_THAT(e, HasSubstr("t.yaml:21: firewall.policies[1].action: required"));
  EXPECT_THAT(e, HasSubstr("t.yaml:22: firewall.policies[2]: a policy from 'web' to 'vlan20' is already declared "
                           "(line 21)"));
  EXPECT_THAT(e, HasSubstr("t.yaml:23: firewall.policies[3].action: unknown action 'deny'"));
  EXPECT_THAT(ErrorOf(Yaml("", "firewall:\n  sets:\n    a: [10.0.0.0/8]\n    a: [10.0.0.0/8]\n")),
              HasSubstr("t.yaml:16: firewall.sets.a: duplicate set (first at line 15)"));
}

TEST(RouterConfig, FirewallRules) {
  auto rule = [](const std::string& r) {
    return ErrorOf(Yaml("", "firewall:\n  sets: {v6: [\"fd00::/8\"]}\n  rules:\n    - " + r + "\n"));  // line 16
  };
  EXPECT_THAT(rule("{from: web}"), HasSubstr("t.yaml:16: firewall.rules[0].action: required"));
  EXPECT_THAT(rule("{name: Web!, action: drop}"), HasSubstr("t.yaml:16: firewall.rules[0].name: 'Web!' is not a "
                                                            "valid name"));
  EXPECT_THAT(rule("{from: [web, dmz], action: drop}"),
              HasSubstr("t.yaml:16: firewall.rules[0].from: unknown zone 'dmz'"));
  EXPECT_THAT(rule("{to: any, from: any, action: drop}"), Not(HasSubstr("zone")));
  EXPECT_THAT(rule("{src: \"@admin\", action: drop}"),
              HasSubstr("t.yaml:16: firewall.rules[0].src: unknown address set '@admin'; sets: 'v6'"));
  EXPECT_THAT(rule("{dst: 10.0.0.300, action: drop}"),
              HasSubstr("firewall.rules[0].dst: '10.0.0.300' is not an IPv4 or IPv6 address or prefix (or an @set)"));
  EXPECT_THAT(rule("{dport: 80, action: drop}"), HasSubstr("firewall.rules[0].dport: ports need proto: tcp or udp"));
  EXPECT_THAT(rule("{proto: icmp, sport: [80], action: drop}"),
              HasSubstr("firewall.rules[0].sport: ports need proto: tcp or udp"));
  EXPECT_THAT(rule("{proto: tcp, icmp_type: 8, action: drop}"),
              HasSubstr("firewall.rules[0].icmp_type: needs proto: icmp or icmpv6"));
  EXPECT_THAT(rule("{icmp_type: echo-request, action: drop}"),
              HasSubstr("firewall.rules[0].icmp_type: needs proto: icmp or icmpv6"));
  EXPECT_THAT(rule("{proto: icmp, icmp_type: packet-too-big, action: drop}"),
              HasSubstr("firewall.rules[0].icmp_type: unknown ICMP type 'packet-too-big': packet-too-big is ICMPv6"));
  EXPECT_THAT(rule("{proto: icmp, icmp_type: 300, action: drop}"),
              HasSubstr("firewall.rules[0].icmp_type: 300 out of range 0-255"));
  EXPECT_THAT(rule("{proto: icmp, family: ipv6, action: drop}"),
              HasSubstr("firewall.rules[0].proto: icmp is IPv4's; for IPv6 use icmpv6"));
  EXPECT_THAT(rule("{src: 10.0.0.0/8, dst: \"@v6\", action: drop}"),
              HasSubstr("t.yaml:16: firewall.rules[0].dst: the rule can never match: src is all IPv4 and dst all "
                        "IPv6"));
  EXPECT_THAT(rule("{family: ipv4, src: [10.0.0.0/8, \"fd00::1\"], action: drop}"),
              HasSubstr("firewall.rules[0].src: 'fd00::1' is IPv6 but the rule's family is ipv4"));
  EXPECT_THAT(rule("{family: ipv4, dst: \"@v6\", action: drop}"),
              HasSubstr("firewall.rules[0].dst: set '@v6' holds no IPv4 address but the rule's family is ipv4"));
  // Both families on one side are fine without family:.
  EXPECT_EQ(rule("{src: [10.0.0.0/8, \"@v6\"], dst: \"fd00::1\", action: drop}"), "");
  std::string dup = ErrorOf(Yaml("",
                                 "firewall:\n  rules:\n    - {name: a, action: drop}\n"
                                 "    - {name: a, action: drop}\n"));
  EXPECT_THAT(dup, HasSubstr("t.yaml:16: firewall.rules[1].name: rule 'a' already declared (line 15)"));
}

TEST(RouterConfig, EveryProblemAtOnce) {
  std::string e = ErrorOf(Yaml("    mtu: 10\n", "  masquerade: [nowhere]\nfirewall:\n  rules:\n    - {dport: 1}\n"));
  EXPECT_THAT(e, HasSubstr("vlans[0].mtu"));
  EXPECT_THAT(e, HasSubstr("router.masquerade"));
  EXPECT_THAT(e, HasSubstr("firewall.rules[0].dport"));
  EXPECT_THAT(e, HasSubstr("firewall.rules[0].action"));
}

class FakeHost : public HostProbe {
 public:
  bool interface_exists(const std::string& name) const override { return name == "eth0"; }
};

TEST(RouterConfig, HostCheckFindsTheUplinkInterface) {
  auto cfg = ParseConfig(Yaml("", kUplink), "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  Status s = ValidateHost(*cfg, FakeHost());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(),
              HasSubstr("t.yaml:14: router.uplink.interface: host interface 'eth1' does not exist"));
}

}  // namespace
}  // namespace cloudlet

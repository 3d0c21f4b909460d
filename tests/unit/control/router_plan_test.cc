// BuildRouterPlan: what a project's vlans/router/firewall/vpns sections become for the router port (interfaces,
// routes, DHCP, the compiled-ready rule set with zones, policies, rules, masquerade and port forwards), and the
// router's trunk port in BuildSwitchPlans.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "config/config.h"
#include "control/naming.h"
#include "control/planner.h"
#include "control/router_runtime.h"
#include "firewall/firewall.h"

namespace cloudlet {
namespace {

using ::testing::HasSubstr;

const std::string kProject = "/srv/router.yaml";

IpAddress Ip(const char* s) { return *ParseIpAddress(s); }
IpPrefix Pfx(const char* s) { return *ParseIpPrefix(s); }

// VLANs 20 (front, declared first), 10 (front too: a zone shared by two VLANs), 5 (db) are routed, 30 is not.
// The VPN's key file does not exist: ParseConfig does not look at files (ValidateHost does).
const char kYaml[] = R"(
version: 1
vlans:
  - id: 20
    name: api
    zone: front
    ipv4: 10.20.0.1/24
  - id: 10
    name: web
    zone: front
    ipv4: 10.10.0.1/24
    ipv6: fd00:10::1/64
    dhcp:
      range: 10.10.0.100-10.10.0.199
      lease: 2h
      dns: [10.10.0.1, 1.1.1.1]
      domain: lab.example
      reservations:
        - {mac: "52:54:00:00:00:01", address: 10.10.0.50}
  - id: 5
    name: db
    ipv4: 10.5.0.1/24
    ipv6: fd00:5::1/64
    mtu: 9000
  - id: 30
    name: storage
switches:
  - name: sw0
  - name: sw1
endpoints:
  - {name: web1, switch: sw1, vlan: 10, addresses: [10.10.0.2/24], gateway: 10.10.0.1}
vpns:
  - name: remote
    listen_port: 51820
    private_key_file: /nonexistent/cloudlet-test/remote.key
    address: 10.99.0.1/24
    attach: {switch: sw1, vlan: 10, address: 10.10.0.254/24}
    peers:
      - name: alice
        public_key: ykYzvRgFPgq330YgCjBgTJrD2E7dGHL0p6uXMtRILwI=
        allowed_ips: [10.99.0.2/32, 192.168.77.0/24]
      - name: bob
        public_key: mAOoEEe9VClAVLBMC1xnZCMKialCk66YFph2MHo1Pwc=
        allowed_ips: [10.98.0.0/16]
router:
  switch: sw1
  uplink:
    interface: eth1
    zone: wan
    ipv4: 192.168.50.2/24
    gateway4: 192.168.50.1
    ipv6: 2001:db8::2/64
    gateway6: 2001:db8::1
    mtu: 1492
  routes:
    - {to: 10.77.0.0/16, via: 10.5.0.9}
    - {to: "fd77::/48", via: "fd00:5::9"}
  masquerade: [front, db]
  port_forwards:
    - {proto: tcp, port: 8080, to: 10.10.0.2, to_port: 80}
    - {proto: udp, port: "5000-5010", to: 10.20.0.9}
    - {proto: tcp, port: 443, to: "fd00:10::2"}
firewall:
  max_connections: 4096
  sets:
    admins: [10.10.0.5, 10.20.0.0/24, "fd00::/8"]
  policies:
    - {from: db, to: wan, action: reject}
    - {from: any, to: wan, action: accept}
    - {from: front, to: any, action: reject}
    - {from: front, to: db, action: accept}
  rules:
    - name: web-to-db
      from: front
      to: [db]
      src: [10.10.0.0/24, "@admins"]
      dst: 10.5.0.2
      family: ipv4
      proto: tcp
      sport: 1024-65535
      dport: [5432, "8000-8100"]
      action: accept
      log: true
    - name: admins-v6
      src: "@admins"
      family: ipv6
      proto: tcp
      dport: 22
      action: accept
    - name: admins-any
      from: [db, front]
      to: any
      src: "@admins"
      action: drop
    - {name: pmtu, proto: icmpv6, icmp_type: packet-too-big, icmp_code: 0, action: accept}
    - {proto: icmp, icmp_type: echo-request, action: reject}
)";

CloudConfig Parsed() {
  auto cfg = ParseConfig(kYaml, "router.yaml");
  EXPECT_TRUE(cfg.ok()) << cfg.error().message();
  return cfg.ok() ? *cfg : CloudConfig{};
}

RouterPlan Plan(const CloudConfig& cfg, const std::string& lease_dir = "/var/lib/cloudlet/leases") {
  auto plan = BuildRouterPlan(kProject, cfg, lease_dir);
  EXPECT_TRUE(plan.ok()) << plan.error().message();
  if (!plan.ok() || !*plan) {
    ADD_FAILURE() << "no plan";
    return {};
  }
  return **plan;
}

bool HasRoute(const router::RouterConfig& c, const char* to, const char* via) {
  return std::count(c.routes.begin(), c.routes.end(), router::StaticRoute{Pfx(to), Ip(via)}) == 1;
}
size_t RoutesTo(const router::RouterConfig& c, const char* to) {
  return std::count_if(c.routes.begin(), c.routes.end(), [&](const auto& r) { return r.dst == Pfx(to); });
}

TEST(RouterPlan, NoRouterSectionIsNullopt) {
  CloudConfig cfg = Parsed();
  cfg.router.reset();
  auto plan = BuildRouterPlan(kProject, cfg, "/tmp");
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_FALSE(plan->has_value());
}

TEST(RouterPlan, Identity) {
  RouterPlan p = Plan(Parsed());
  EXPECT_EQ(p.project, kProject);
  EXPECT_EQ(p.switch_name, "sw1");
  EXPECT_EQ(p.port_name, "router");
  EXPECT_EQ(p.instance, RouterPortKey(kProject));
  EXPECT_EQ(p.uplink_ifname, "eth1");
  EXPECT_EQ(p.vlans, (std::vector<uint16_t>{20, 10, 5}));  // declaration order, VLAN 30 is not routed
  EXPECT_EQ(p.conntrack.max_connections, 4096u);
}

TEST(RouterPlan, InterfacesInVlanOrderThenUplink) {
  RouterPlan p = Plan(Parsed());
  ASSERT_EQ(p.rules.zones, (std::vector<std::string>{"front", "db", "wan"}));
  const auto& ifs = p.config.interfaces;
  ASSERT_EQ(ifs.size(), 4u);
  EXPECT_EQ(ifs[0].name, "api");
  EXPECT_EQ(ifs[0].vlan, 20);
  EXPECT_EQ(ifs[0].zone, 0);
  EXPECT_EQ(ifs[0].addresses, (std::vector<IpPrefix>{Pfx("10.20.0.1/24")}));
  EXPECT_EQ(ifs[0].mtu, 1500u);
  EXPECT_FALSE(ifs[0].dhcp);
  EXPECT_EQ(ifs[0].dhcp_lease_file, "");

  EXPECT_EQ(ifs[1].name, "web");
  EXPECT_EQ(ifs[1].vlan, 10);
  EXPECT_EQ(ifs[1].zone, 0);  // shares "front" with VLAN 20
  // The addresses keep their host part (the router's own address), with the subnet length.
  EXPECT_EQ(ifs[1].addresses, (std::vector<IpPrefix>{Pfx("10.10.0.1/24"), Pfx("fd00:10::1/64")}));

  EXPECT_EQ(ifs[2].name, "db");
  EXPECT_EQ(ifs[2].vlan, 5);
  EXPECT_EQ(ifs[2].zone, 1);
  EXPECT_EQ(ifs[2].mtu, 9000u);
  EXPECT_EQ(ifs[2].addresses, (std::vector<IpPrefix>{Pfx("10.5.0.1/24"), Pfx("fd00:5::1/64")}));

  EXPECT_EQ(ifs[3].name, "uplink");
  EXPECT_EQ(ifs[3].vlan, 0);
  EXPECT_EQ(ifs[3].zone, 2);
  EXPECT_EQ(ifs[3].mtu, 1492u);
  EXPECT_EQ(ifs[3].addresses, (std::vector<IpPrefix>{Pfx("192.168.50.2/24"), Pfx("2001:db8::2/64")}));
}

TEST(RouterPlan, MacDerivedStableAndPerProject) {
  CloudConfig cfg = Parsed();
  RouterPlan a = Plan(cfg);
  const MacAddr mac = a.config.interfaces[0].mac;
  for (const auto& i : a.config.interfaces) EXPECT_EQ(i.mac, mac) << i.name;
  EXPECT_EQ(mac.bytes[0], 0x02);  // locally administered, unicast
  EXPECT_EQ(mac.bytes[0] & 1, 0);
  EXPECT_EQ(Plan(cfg).config.interfaces[0].mac, mac);  // stable across plans
  auto other = BuildRouterPlan("/srv/other.yaml", cfg, "");
  ASSERT_TRUE(other.ok() && *other);
  EXPECT_NE((*other)->config.interfaces[0].mac, mac);
  EXPECT_EQ(*BuildRouterPlan(kProject, cfg, "/var/lib/cloudlet/leases"), a);  // the whole plan is deterministic

  cfg.router->mac = "02:00:00:00:00:01";
  EXPECT_EQ(Plan(cfg).config.interfaces[2].mac, *MacAddr::Parse("02:00:00:00:00:01"));
}

TEST(RouterPlan, Dhcp) {
  RouterPlan p = Plan(Parsed(), "/var/lib/cloudlet/leases");
  const auto& web = p.config.interfaces[1];
  ASSERT_TRUE(web.dhcp);
  EXPECT_EQ(web.dhcp->subnet, Pfx("10.10.0.0/24"));
  EXPECT_EQ(web.dhcp->server, Ip("10.10.0.1"));
  EXPECT_EQ(web.dhcp->range_lo, Ip("10.10.0.100"));
  EXPECT_EQ(web.dhcp->range_hi, Ip("10.10.0.199"));
  EXPECT_EQ(web.dhcp->dns, (std::vector<IpAddress>{Ip("10.10.0.1"), Ip("1.1.1.1")}));
  EXPECT_EQ(web.dhcp->domain, "lab.example");
  EXPECT_EQ(web.dhcp->lease_seconds, 7200u);
  EXPECT_EQ(web.dhcp->mtu, 0u);  // the default MTU is not announced
  ASSERT_EQ(web.dhcp->reservations.size(), 1u);
  EXPECT_EQ(web.dhcp->reservations[0].first, *MacAddr::Parse("52:54:00:00:00:01"));
  EXPECT_EQ(web.dhcp->reservations[0].second, Ip("10.10.0.50"));
  EXPECT_EQ(web.dhcp_lease_file, "/var/lib/cloudlet/leases/" + RouterPortKey(kProject) + "-vlan10.json");
  EXPECT_FALSE(p.config.interfaces[2].dhcp);

  // Not persisted without a lease directory.
  EXPECT_EQ(Plan(Parsed(), "").config.interfaces[1].dhcp_lease_file, "");
}

TEST(RouterPlan, Routes) {
  RouterPlan p = Plan(Parsed());
  const auto& c = p.config;
  // Default routes from the uplink's gateways.
  EXPECT_TRUE(HasRoute(c, "0.0.0.0/0", "192.168.50.1"));
  EXPECT_TRUE(HasRoute(c, "::/0", "2001:db8::1"));
  // Static routes as declared.
  EXPECT_TRUE(HasRoute(c, "10.77.0.0/16", "10.5.0.9"));
  EXPECT_TRUE(HasRoute(c, "fd77::/48", "fd00:5::9"));
  // The VPN's tunnel subnet and its peers' allowed IPs, through the VPN gateway's address on VLAN 10.
  EXPECT_TRUE(HasRoute(c, "10.99.0.0/24", "10.10.0.254"));
  EXPECT_TRUE(HasRoute(c, "10.99.0.2/32", "10.10.0.254"));
  EXPECT_TRUE(HasRoute(c, "192.168.77.0/24", "10.10.0.254"));
  EXPECT_TRUE(HasRoute(c, "10.98.0.0/16", "10.10.0.254"));
  EXPECT_EQ(c.routes.size(), 8u);
  for (const auto& r : c.routes) EXPECT_EQ(r.dst, MaskedPrefix(r.dst)) << FormatIpPrefix(r.dst);
}

TEST(RouterPlan, VpnRoutesSkipConnectedAndKnownPrefixes) {
  CloudConfig cfg = Parsed();
  // Built in code (validation refuses these): a peer claiming a connected subnet, a static route's prefix, a
  // prefix with host bits, an address of the other family, and the whole IPv4 space.
  cfg.vpns[0].peers[0].allowed_ips = {"10.5.0.0/24", "10.77.0.0/16", "192.168.78.9/24", "fd00:99::2/128", "0.0.0.0/0"};
  RouterPlan p = Plan(cfg);
  const auto& c = p.config;
  // The /0 stays with the uplink: one default route only, through the uplink's gateway.
  EXPECT_EQ(RoutesTo(c, "0.0.0.0/0"), 1u);
  EXPECT_TRUE(HasRoute(c, "0.0.0.0/0", "192.168.50.1"));
  EXPECT_EQ(RoutesTo(c, "10.5.0.0/24"), 0u);   // connected (VLAN 5)
  EXPECT_EQ(RoutesTo(c, "10.77.0.0/16"), 1u);  // the declared static route wins
  EXPECT_TRUE(HasRoute(c, "10.77.0.0/16", "10.5.0.9"));
  EXPECT_TRUE(HasRoute(c, "192.168.78.0/24", "10.10.0.254"));  // masked
  EXPECT_EQ(RoutesTo(c, "fd00:99::2/128"), 0u);                // not of the attach address' family

  // A VPN attached to an unrouted VLAN adds nothing.
  cfg.vpns[0].attach.vlan = 30;
  cfg.vpns[0].attach.address = "10.30.0.254/24";
  RouterPlan q = Plan(cfg);
  EXPECT_EQ(RoutesTo(q.config, "10.99.0.0/24"), 0u);
  EXPECT_EQ(q.config.routes.size(), 4u);
}

TEST(RouterPlan, PolicyMatrixMoreSpecificWins) {
  RouterPlan p = Plan(Parsed());
  const auto& r = p.rules;
  ASSERT_EQ(r.zones.size(), 3u);
  ASSERT_EQ(r.policy.size(), 9u);
  using firewall::Action;
  auto at = [&](int from, int to) { return r.policy[from * 3 + to]; };
  enum { kFront = 0, kDb = 1, kWan = 2 };
  // Exact pairs win over "any" whatever their place in the file.
  EXPECT_EQ(at(kFront, kDb), Action::kAccept);
  EXPECT_EQ(at(kDb, kWan), Action::kReject);   // exact pair beats any -> wan (declared before it)
  EXPECT_EQ(at(kWan, kWan), Action::kAccept);  // any -> wan
  EXPECT_EQ(at(kDb, kDb), Action::kAccept);    // default within a zone
  EXPECT_EQ(at(kDb, kFront), Action::kDrop);   // default between zones
  EXPECT_EQ(at(kWan, kFront), Action::kDrop);
  EXPECT_EQ(at(kWan, kDb), Action::kDrop);

  // No firewall section: accept within a zone, drop between zones.
  CloudConfig cfg = Parsed();
  cfg.firewall.reset();
  RouterPlan q = Plan(cfg);
  for (int from = 0; from < 3; ++from) {
    for (int to = 0; to < 3; ++to) {
      EXPECT_EQ(q.rules.policy[from * 3 + to], from == to ? Action::kAccept : Action::kDrop) << from << "," << to;
    }
  }
  EXPECT_TRUE(q.rules.rules.empty());
  EXPECT_EQ(q.conntrack.max_connections, firewall::ConntrackConfig{}.max_connections);
}

TEST(RouterPlan, PolicyFromAnyToSameRowIsOverriddenByExactPair) {
  RouterPlan p = Plan(Parsed());
  // front -> any (reject) and any -> wan (accept) are equally specific; front -> wan is set by one of them, and the
  // later one in the file wins within a pass. Pin it so a change is deliberate.
  EXPECT_EQ(p.rules.policy[0 * 3 + 2], firewall::Action::kReject);
  EXPECT_EQ(p.rules.policy[0 * 3 + 0], firewall::Action::kReject);  // front -> front via front -> any
}

TEST(RouterPlan, Rules) {
  RouterPlan p = Plan(Parsed());
  const auto& rules = p.rules.rules;
  ASSERT_EQ(rules.size(), 5u);
  EXPECT_EQ(p.rules.rule_names, (std::vector<std::string>{"web-to-db", "admins-v6", "admins-any", "pmtu", ""}));

  const firewall::Rule& a = rules[0];
  EXPECT_EQ(a.from_zones, (std::vector<firewall::ZoneId>{0}));
  EXPECT_EQ(a.to_zones, (std::vector<firewall::ZoneId>{1}));
  EXPECT_EQ(a.family, 4);
  // The set's IPv6 entry is left out of an IPv4 rule.
  EXPECT_EQ(a.src, (std::vector<IpPrefix>{Pfx("10.10.0.0/24"), Pfx("10.10.0.5/32"), Pfx("10.20.0.0/24")}));
  EXPECT_EQ(a.dst, (std::vector<IpPrefix>{Pfx("10.5.0.2/32")}));
  EXPECT_EQ(a.proto, kIpProtoTcp);
  EXPECT_EQ(a.sports, (std::vector<firewall::PortRange>{{1024, 65535}}));
  EXPECT_EQ(a.dports, (std::vector<firewall::PortRange>{{5432, 5432}, {8000, 8100}}));
  EXPECT_EQ(a.icmp_type, -1);
  EXPECT_EQ(a.icmp_code, -1);
  EXPECT_EQ(a.action, firewall::Action::kAccept);
  EXPECT_TRUE(a.log);

  const firewall::Rule& b = rules[1];  // IPv6 only: the set's IPv6 entry only
  EXPECT_EQ(b.family, 6);
  EXPECT_EQ(b.src, (std::vector<IpPrefix>{Pfx("fd00::/8")}));
  EXPECT_TRUE(b.from_zones.empty());
  EXPECT_TRUE(b.to_zones.empty());
  EXPECT_EQ(b.dports, (std::vector<firewall::PortRange>{{22, 22}}));
  EXPECT_FALSE(b.log);

  const firewall::Rule& c = rules[2];  // no family: the whole set
  EXPECT_EQ(c.family, 0);
  EXPECT_EQ(c.src, (std::vector<IpPrefix>{Pfx("10.10.0.5/32"), Pfx("10.20.0.0/24"), Pfx("fd00::/8")}));
  EXPECT_EQ(c.from_zones, (std::vector<firewall::ZoneId>{1, 0}));
  EXPECT_TRUE(c.to_zones.empty());  // "any"
  EXPECT_EQ(c.proto, 0);
  EXPECT_EQ(c.action, firewall::Action::kDrop);

  const firewall::Rule& d = rules[3];
  EXPECT_EQ(d.proto, kIpProtoIcmpv6);
  EXPECT_EQ(d.icmp_type, 2);  // packet-too-big
  EXPECT_EQ(d.icmp_code, 0);

  const firewall::Rule& e = rules[4];
  EXPECT_EQ(e.proto, kIpProtoIcmp);
  EXPECT_EQ(e.icmp_type, 8);  // echo-request
  EXPECT_EQ(e.icmp_code, -1);
  EXPECT_EQ(e.action, firewall::Action::kReject);
}

TEST(RouterPlan, RulePrefixesAreMasked) {
  CloudConfig cfg = Parsed();
  // Validation refuses host bits; a config built in code may still have them.
  cfg.firewall->rules[0].src = {"10.10.0.77/24"};
  cfg.firewall->rules[0].dst = {"10.5.0.2/16"};
  cfg.firewall->sets[0].entries = {"10.20.0.9/24", "fd00::1/8"};
  cfg.firewall->rules[2].src = {"@admins"};
  RouterPlan p = Plan(cfg);
  EXPECT_EQ(p.rules.rules[0].src, (std::vector<IpPrefix>{Pfx("10.10.0.0/24")}));
  EXPECT_EQ(p.rules.rules[0].dst, (std::vector<IpPrefix>{Pfx("10.5.0.0/16")}));
  EXPECT_EQ(p.rules.rules[2].src, (std::vector<IpPrefix>{Pfx("10.20.0.0/24"), Pfx("fd00::/8")}));

  cfg.firewall->rules[0].src = {"@nosuchset"};
  auto bad = BuildRouterPlan(kProject, cfg, "");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("nosuchset"));
}

TEST(RouterPlan, MasqueradeAndPortForwards) {
  RouterPlan p = Plan(Parsed());
  const auto& r = p.rules;
  EXPECT_EQ(r.masquerade, (std::vector<firewall::Masquerade>{{0, 2, 1024, 65535}, {1, 2, 1024, 65535}}));
  ASSERT_EQ(r.forwards.size(), 3u);

  const firewall::PortForward& tcp = r.forwards[0];
  EXPECT_EQ(tcp.from, 2);
  EXPECT_EQ(tcp.proto, kIpProtoTcp);
  EXPECT_EQ(tcp.match_dst, (std::vector<IpAddress>{Ip("192.168.50.2")}));  // the uplink's IPv4 address only
  EXPECT_EQ(tcp.port_lo, 8080);
  EXPECT_EQ(tcp.port_hi, 8080);
  EXPECT_EQ(tcp.to_address, Ip("10.10.0.2"));
  EXPECT_EQ(tcp.to_port, 80);

  const firewall::PortForward& udp = r.forwards[1];
  EXPECT_EQ(udp.proto, kIpProtoUdp);
  EXPECT_EQ(udp.port_lo, 5000);
  EXPECT_EQ(udp.port_hi, 5010);
  EXPECT_EQ(udp.to_address, Ip("10.20.0.9"));
  EXPECT_EQ(udp.to_port, 5000);  // defaults to the first port

  const firewall::PortForward& v6 = r.forwards[2];
  EXPECT_EQ(v6.match_dst, (std::vector<IpAddress>{Ip("2001:db8::2")}));
  EXPECT_EQ(v6.to_address, Ip("fd00:10::2"));
  EXPECT_EQ(v6.to_port, 443);

  // to_port 0 in a config built in code also means "the first port".
  CloudConfig cfg = Parsed();
  cfg.router->port_forwards[1].to_port = 0;
  EXPECT_EQ(Plan(cfg).rules.forwards[1].to_port, 5000);

  // Without an uplink there is nothing to masquerade to or forward from.
  cfg.router->uplink.reset();
  cfg.router->masquerade.clear();
  cfg.router->port_forwards.clear();
  cfg.vpns.clear();
  RouterPlan q = Plan(cfg);
  EXPECT_EQ(q.uplink_ifname, "");
  EXPECT_EQ(q.config.interfaces.size(), 3u);
  EXPECT_EQ(q.rules.zones, (std::vector<std::string>{"front", "db"}));
  EXPECT_EQ(RoutesTo(q.config, "0.0.0.0/0"), 0u);
}

TEST(RouterPlan, RuleSetCompilesAndRouterAcceptsConfig) {
  RouterPlan p = Plan(Parsed());
  auto compiled = firewall::Firewall::Compile(p.rules);
  ASSERT_TRUE(compiled.ok()) << compiled.error().message();
  EXPECT_NE(*compiled, nullptr);
  firewall::Firewall fw(p.conntrack);
  auto router = router::Router::Create(p.config, &fw, [] { return int64_t{1'700'000'000}; });
  ASSERT_TRUE(router.ok()) << router.error().message();
}

TEST(RouterPlan, ExampleRouterYamlCompiles) {
  const auto path =
      (std::filesystem::path(__FILE__).parent_path() / "../../../examples/router.yaml").lexically_normal();
  auto cfg = LoadConfig(path.string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  RouterPlan p = Plan(*cfg);
  EXPECT_EQ(p.vlans, (std::vector<uint16_t>{10, 20}));
  EXPECT_EQ(p.rules.zones, (std::vector<std::string>{"web", "db", "uplink"}));
  auto compiled = firewall::Firewall::Compile(p.rules);
  ASSERT_TRUE(compiled.ok()) << compiled.error().message();
}

TEST(RouterPlan, SwitchPlansHaveTheRouterTrunk) {
  CloudConfig cfg = Parsed();
  auto plans = BuildSwitchPlans(kProject, cfg);
  ASSERT_EQ(plans.size(), 2u);
  auto router_ports = [](const SwitchPlan& sp) {
    return std::count_if(sp.ports.begin(), sp.ports.end(),
                         [](const PortPlan& p) { return p.kind == PortPlanKind::kRouter; });
  };
  EXPECT_EQ(router_ports(plans[0]), 0);
  ASSERT_EQ(plans[1].name, "sw1");
  ASSERT_EQ(router_ports(plans[1]), 1);
  auto it = std::find_if(plans[1].ports.begin(), plans[1].ports.end(),
                         [](const PortPlan& p) { return p.kind == PortPlanKind::kRouter; });
  EXPECT_EQ(it->name, "router");
  EXPECT_EQ(it->mode, PortModeDecl::kTrunk);
  EXPECT_EQ(it->vlans, (std::vector<uint16_t>{20, 10, 5}));
  EXPECT_EQ(it->native_vlan, 0);
  EXPECT_EQ(it->ifname, "eth1");
  EXPECT_EQ(it->instance, RouterPortKey(kProject));
  RouterPlan p = Plan(cfg);
  EXPECT_EQ(it->vlans, p.vlans);
  EXPECT_EQ(it->instance, p.instance);
  EXPECT_EQ(it->name, p.port_name);

  cfg.router->uplink.reset();
  cfg.router->masquerade.clear();
  cfg.router->port_forwards.clear();
  plans = BuildSwitchPlans(kProject, cfg);
  it = std::find_if(plans[1].ports.begin(), plans[1].ports.end(),
                    [](const PortPlan& p) { return p.kind == PortPlanKind::kRouter; });
  ASSERT_NE(it, plans[1].ports.end());
  EXPECT_EQ(it->ifname, "");

  cfg.router.reset();
  plans = BuildSwitchPlans(kProject, cfg);
  EXPECT_EQ(router_ports(plans[1]), 0);
}

}  // namespace
}  // namespace cloudlet

// Planner and naming: fresh up, idempotence, changes, removal, ownership of namespaces, collisions.
#include "control/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/naming.h"
#include "fakes.h"

namespace cloudlet {
namespace {

using ::testing::Contains;
using testing::FakeHost;
using ::testing::HasSubstr;
using testing::QuickstartConfig;

const std::string kProject = "/srv/quickstart.yaml";

ProjectPlan Plan(FakeHost& host, const CloudConfig* cfg, const ProjectRecord* rec) {
  return PlanProject(kProject, cfg, rec, host.Observe(TargetsFor(kProject, cfg, rec)));
}

// Plans and executes against the fake host; returns the record as the executor would store it.
ProjectRecord Converge(FakeHost& host, const CloudConfig* cfg, const ProjectRecord* rec) {
  ProjectPlan p = Plan(host, cfg, rec);
  for (const auto* phase : {&p.teardown, &p.setup}) {
    for (const auto& a : *phase) EXPECT_TRUE(host.Execute(a).ok()) << a.Describe();
  }
  return p.result;
}

std::vector<std::string> Describe(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) {
    if (!a.quiet) out.push_back(a.Describe());
  }
  return out;
}

TEST(Naming, DeterministicShortAndDistinct) {
  EXPECT_EQ(EndpointHostIfname("/a.yaml", "a1"), EndpointHostIfname("/a.yaml", "a1"));
  EXPECT_NE(EndpointHostIfname("/a.yaml", "a1"), EndpointHostIfname("/b.yaml", "a1"));
  EXPECT_NE(EndpointHostIfname("/a.yaml", "a1"), EndpointHostIfname("/a.yaml", "a2"));
  EXPECT_NE(LinkIfname("/a.yaml", "t", 'a'), LinkIfname("/a.yaml", "t", 'b'));
  EXPECT_EQ(EndpointHostIfname("/a.yaml", "a1").rfind("clp-", 0), 0u);
  EXPECT_EQ(LinkIfname("/a.yaml", "t", 'a').rfind("cll-", 0), 0u);
  // A known value: the hash must not change between releases, or a restarted daemon loses its veths.
  EXPECT_EQ(StableHash32("cloudlet"), StableHash32("cloudlet"));
  EXPECT_EQ(StableHash32(""), 2166136261u);
  std::set<std::string> names;
  for (int i = 0; i < 2000; ++i) {
    std::string ep = "endpoint-with-a-rather-long-name-" + std::to_string(i);
    std::string n = EndpointHostIfname("/very/long/project/path/file.yaml", ep);
    EXPECT_LE(n.size(), 15u);
    names.insert(n);
    std::string l = LinkIfname("/p.yaml", ep, 'b');
    EXPECT_LE(l.size(), 15u);
    names.insert(l);
  }
  EXPECT_EQ(names.size(), 4000u);
}

TEST(Planner, FreshUpCreatesNamespacesVethsAddresses) {
  FakeHost host;
  CloudConfig cfg = QuickstartConfig();
  ProjectPlan p = Plan(host, &cfg, nullptr);
  EXPECT_TRUE(p.teardown.empty());
  auto lines = Describe(p.setup);
  std::string a1 = EndpointHostIfname(kProject, "a1");
  EXPECT_THAT(lines, Contains("created netns a1"));
  EXPECT_THAT(lines, Contains("created veth " + a1 + " <-> a1:eth0"));
  EXPECT_THAT(lines, Contains("set addresses of a1:eth0: 10.10.0.1/24"));
  EXPECT_THAT(lines, Contains("created veth " + LinkIfname(kProject, "trunk1", 'a') + " <-> " +
                              LinkIfname(kProject, "trunk1", 'b')));
  // Namespaces come before the veths put into them.
  auto pos = [&](const std::string& s) { return std::find(lines.begin(), lines.end(), s) - lines.begin(); };
  EXPECT_LT(pos("created netns a1"), pos("created veth " + a1 + " <-> a1:eth0"));
  // Every namespace is recorded as created by cloudlet; every veth is recorded.
  ASSERT_EQ(p.result.netns.size(), 3u);
  for (const auto& n : p.result.netns) EXPECT_TRUE(n.created) << n.name;
  EXPECT_EQ(p.result.veths.size(), 4u);
  EXPECT_TRUE(p.intent.pending);
  // Link veths: MTU for QinQ, IPv6 off on both host-side ends.
  for (const auto& a : p.setup) {
    if (a.kind == ActionKind::kCreateVeth && a.veth.peer_netns.empty()) EXPECT_EQ(a.veth.mtu, kLinkMtu);
  }
  int ipv6_off = 0;
  for (const auto& a : p.setup) ipv6_off += a.kind == ActionKind::kDisableIpv6;
  EXPECT_EQ(ipv6_off, 5);  // three endpoint host ends + both link ends
}

TEST(Planner, SecondUpHasNoActions) {
  FakeHost host;
  CloudConfig cfg = QuickstartConfig();
  ProjectRecord rec = Converge(host, &cfg, nullptr);
  ProjectPlan again = Plan(host, &cfg, &rec);
  EXPECT_TRUE(again.empty()) << ::testing::PrintToString(Describe(again.setup));
  EXPECT_TRUE(again.detach.empty());
  EXPECT_EQ(again.result.netns, rec.netns);
}

TEST(Planner, GatewayInstalledOnceThenRemembered) {
  FakeHost host;
  CloudConfig cfg = QuickstartConfig();
  cfg.endpoints[0].gateway = "10.10.0.254";
  ProjectRecord rec = Converge(host, &cfg, nullptr);
  EXPECT_EQ(host.routes["a1"], "10.10.0.254");
  EXPECT_EQ(rec.gateways["a1"], "10.10.0.254");
  EXPECT_TRUE(Plan(host, &cfg, &rec).empty());
  cfg.endpoints[0].gateway = "10.10.0.253";
  EXPECT_EQ(Describe(Plan(host, &cfg, &rec).setup),
            std::vector<std::string>{"set default route in a1 via 10.10.0.253"});
}

TEST(Planner, ChangedAddressOnlyReplacesAddresses) {
  FakeHost host;
  CloudConfig cfg = QuickstartConfig();
  ProjectRecord rec = Converge(host, &cfg, nullptr);
  cfg.endpoints[1].addresses = {"10.10.0.22/24", "FD00::2/64"};
  ProjectPlan p = Plan(host, &cfg, &rec);
  EXPECT_TRUE(p.teardown.empty());
  EXPECT_TRUE(p.detach.empty());
  EXPECT_EQ(Describe(p.setup), std::vector<std::string>{"set addresses of a2:eth0: 10.10.0.22/24, FD00::2/64"});
  rec = Converge(host, &cfg, &rec);
  // The kernel reports canonical text plus a link-local address: still equal.
  host.addresses[{"a2", "eth0"}] = {"fe80::1/64", "fd00::2/64", "10.10.0.22/24"};
  EXPECT_TRUE(Plan(host, &cfg, &rec).empty());
}

TEST(Planner, ChangedMtuIsSetInPlace) {
  FakeHost host;
  CloudConfig cfg = QuickstartConfig();
  ProjectRecord rec = Converge(host, &cfg, nullptr);
  cfg.endpoints[0].mtu = 9000;
  ProjectPlan p = Plan(host, &cfg, &rec);
  std::string a1 = EndpointHostIfname(kProject, "a1");
  EXPECT_EQ(Describe(p.setup),
            (std::vector<std::string>{"set mtu of " + a1 + " to 9000", "set mtu of a1:eth0 to 9000"}));
  EXPECT_TRUE(p.detach.empty());
}

TEST(Planner, ChangedMacRecreatesTheVethAndDetachesItsPort) {
  FakeHost host;
  CloudConfig cfg = QuickstartConfig();
  ProjectRecord rec = Converge(host, &cfg, nullptr);
  cfg.endpoints[0].mac = "02:aa:bb:cc:dd:01";
  ProjectPlan p = Plan(host, &cfg, &rec);
  std::string a1 = EndpointHostIfname(kProject, "a1");
  EXPECT_EQ(Describe(p.teardown), std::vector<std::string>{"deleted veth " + a1});
  EXPECT_THAT(Describe(p.setup), Contains("created veth " + a1 + " <-> a1:eth0"));
  EXPECT_THAT(Describe(p.setup), Contains("set addresses of a1:eth0: 10.10.0.1/24"));
  EXPECT_EQ(p.detach, std::set<std::string>{a1});
  rec = Converge(host, &cfg, &rec);
  EXPECT_TRUE(Plan(host, &cfg, &rec).empty());
}

TEST(Planner, VethDeletedBehindOurBackIsRecreated) {
  FakeHost host;
  CloudConfig cfg = QuickstartConfig();
  ProjectRecord rec = Converge(host, &cfg, nullptr);
  std::string a2 = EndpointHostIfname(kProject, "a2");
  ASSERT_TRUE(host.Execute(Action{.kind = ActionKind::kDeleteLink, .ifname = a2}).ok());
  ProjectPlan p = Plan(host, &cfg, &rec);
  EXPECT_TRUE(p.teardown.empty());
  EXPECT_THAT(Describe(p.setup), Contains("created veth " + a2 + " <-> a2:eth0"));
  EXPECT_TRUE(p.detach.count(a2));
}

TEST(Planner, RemovedEndpointIsTornDown) {
  FakeHost host;
  CloudConfig cfg = QuickstartConfig();
  ProjectRecord rec = Converge(host, &cfg, nullptr);
  cfg.endpoints.pop_back();  // b1
  ProjectPlan p = Plan(host, &cfg, &rec);
  std::string b1 = EndpointHostIfname(kProject, "b1");
  EXPECT_EQ(Describe(p.teardown), (std::vector<std::string>{"deleted veth " + b1, "deleted netns b1"}));
  EXPECT_TRUE(p.setup.empty());
  EXPECT_EQ(p.detach, std::set<std::string>{b1});
  // The intent still lists b1 (a crash now must not forget it); the result does not.
  auto has_b1 = [](const ProjectRecord& r) {
    return std::any_of(r.netns.begin(), r.netns.end(), [](const NetnsRecord& n) { return n.name == "b1"; });
  };
  EXPECT_TRUE(has_b1(p.intent));
  EXPECT_FALSE(has_b1(p.result));
}

TEST(Planner, DownRemovesOnlyWhatUpCreated) {
  FakeHost host;
  host.netns.insert("a1");  // existed before cloudlet
  host.links[{"", "eth9"}] = {"eth9", 3, "device", 1500, true, ""};
  CloudConfig cfg = QuickstartConfig();
  ProjectRecord rec = Converge(host, &cfg, nullptr);
  auto a1 = std::find_if(rec.netns.begin(), rec.netns.end(), [](const NetnsRecord& n) { return n.name == "a1"; });
  ASSERT_NE(a1, rec.netns.end());
  EXPECT_FALSE(a1->created);
  // A second up keeps knowing that a1 was not ours.
  ProjectRecord rec2 = Plan(host, &cfg, &rec).result;
  EXPECT_EQ(rec2.netns, rec.netns);

  ProjectPlan down = Plan(host, nullptr, &rec);
  EXPECT_TRUE(down.setup.empty());
  EXPECT_TRUE(down.intent.removing);
  for (const auto& a : down.teardown) EXPECT_TRUE(host.Execute(a).ok());
  EXPECT_TRUE(host.netns.count("a1"));
  EXPECT_FALSE(host.netns.count("a2"));
  EXPECT_FALSE(host.netns.count("b1"));
  EXPECT_EQ(host.CountPrefix("clp-"), 0u);
  EXPECT_EQ(host.CountPrefix("cll-"), 0u);
  EXPECT_TRUE(host.links.count({"", "eth9"}));
  EXPECT_TRUE(Plan(host, nullptr, &rec).teardown.empty());  // a second down has nothing left to do
}

TEST(Planner, NamespaceMovedRecreatesVethAndDropsOldNamespace) {
  FakeHost host;
  CloudConfig cfg = QuickstartConfig();
  ProjectRecord rec = Converge(host, &cfg, nullptr);
  cfg.endpoints[0].netns = "tenant-a1";
  ProjectPlan p = Plan(host, &cfg, &rec);
  std::string a1 = EndpointHostIfname(kProject, "a1");
  EXPECT_EQ(Describe(p.teardown), (std::vector<std::string>{"deleted veth " + a1, "deleted netns a1"}));
  EXPECT_THAT(Describe(p.setup), Contains("created netns tenant-a1"));
  EXPECT_THAT(Describe(p.setup), Contains("created veth " + a1 + " <-> tenant-a1:eth0"));
}

TEST(Planner, SwitchPlansFollowTheConfig) {
  CloudConfig cfg = QuickstartConfig();
  PortDecl tap;
  tap.name = "vm1";
  tap.tap = "tap-vm1";
  tap.vlan = 20;
  PortDecl uplink;
  uplink.name = "uplink";
  uplink.interface = "eth1";
  uplink.mode = PortModeDecl::kTrunk;
  uplink.vlans = {10, 20};
  uplink.tpid = 0x88a8;
  uplink.max_macs = 7;
  cfg.switches[0].ports = {tap, uplink};
  auto plans = BuildSwitchPlans(kProject, cfg);
  ASSERT_EQ(plans.size(), 2u);
  const auto& sw1 = plans[0];
  ASSERT_EQ(sw1.ports.size(), 5u);  // vm1, uplink, a1, b1, trunk1
  EXPECT_EQ(sw1.ports[0].kind, PortPlanKind::kTap);
  EXPECT_EQ(sw1.ports[0].ifname, "tap-vm1");
  EXPECT_EQ(sw1.ports[1].kind, PortPlanKind::kAfPacket);
  EXPECT_EQ(sw1.ports[1].tpid, 0x88a8);
  EXPECT_EQ(sw1.ports[1].max_macs, 7u);
  EXPECT_EQ(sw1.ports[0].max_macs, 1024u);
  EXPECT_EQ(sw1.ports[2].name, "a1");
  EXPECT_EQ(sw1.ports[2].mode, PortModeDecl::kAccess);
  EXPECT_EQ(sw1.ports[2].vlan, 10);
  EXPECT_EQ(sw1.ports[2].ifname, EndpointHostIfname(kProject, "a1"));
  EXPECT_EQ(sw1.ports[4].name, "trunk1");
  EXPECT_EQ(sw1.ports[4].mode, PortModeDecl::kTrunk);
  EXPECT_EQ(sw1.ports[4].vlans, (std::vector<uint16_t>{10, 20}));
  EXPECT_EQ(sw1.ports[4].ifname, LinkIfname(kProject, "trunk1", 'a'));
  EXPECT_EQ(plans[1].ports.back().ifname, LinkIfname(kProject, "trunk1", 'b'));
}

TEST(Planner, DescribesSwitchChanges) {
  CloudConfig cfg = QuickstartConfig();
  auto before = BuildSwitchPlans(kProject, cfg);
  EXPECT_EQ(DescribeSwitchChanges({}, before),
            (std::vector<std::string>{"started switch sw1 (3 ports)", "started switch sw2 (2 ports)"}));
  EXPECT_TRUE(DescribeSwitchChanges(before, before).empty());
  cfg.endpoints[2].vlan = 10;
  cfg.endpoints.erase(cfg.endpoints.begin());
  auto after = BuildSwitchPlans(kProject, cfg);
  EXPECT_EQ(DescribeSwitchChanges(before, after),
            (std::vector<std::string>{"removed port a1 from sw1", "updated port b1 on sw1"}));
  EXPECT_EQ(DescribeSwitchChanges(before, {}), (std::vector<std::string>{"stopped switch sw1", "stopped switch sw2"}));
}

TEST(Planner, NameCollisionsAcrossProjectsAreRejected) {
  CloudConfig a = QuickstartConfig();
  std::map<std::string, CloudConfig> others{{"/srv/a.yaml", a}};
  // The same file again is not a collision with itself.
  EXPECT_TRUE(CheckCollisions("/srv/a.yaml", a, others).ok());

  auto st = CheckCollisions("/srv/b.yaml", a, others);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("/srv/a.yaml"));

  CloudConfig b;
  SwitchDecl sw;
  sw.name = "sw9";
  b.switches = {sw};
  EndpointDecl ep;
  ep.name = "x1";
  ep.switch_name = "sw9";
  ep.vlan = 10;
  ep.netns = "a2";  // someone else's namespace
  b.endpoints = {ep};
  st = CheckCollisions("/srv/b.yaml", b, others);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("netns \"a2\""));

  b.endpoints[0].netns = "x1";
  EXPECT_TRUE(CheckCollisions("/srv/b.yaml", b, others).ok());

  PortDecl p;
  p.name = "up";
  p.interface = "eth1";
  b.switches[0].ports = {p};
  CloudConfig c = a;
  c.switches[0].ports = {p};
  std::map<std::string, CloudConfig> with_eth1{{"/srv/c.yaml", c}};
  st = CheckCollisions("/srv/b.yaml", b, with_eth1);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("interface \"eth1\""));
}

TEST(Planner, NormalizesAddresses) {
  EXPECT_EQ(NormalizeCidr("FD00:0::1/64"), "fd00::1/64");
  EXPECT_EQ(NormalizeCidr("10.0.0.1/24"), "10.0.0.1/24");
  EXPECT_EQ(NormalizeCidr("garbage"), "garbage");
  EXPECT_TRUE(IsIpv6LinkLocal("fe80::1/64"));
  EXPECT_TRUE(IsIpv6LinkLocal("febf::1/64"));
  EXPECT_FALSE(IsIpv6LinkLocal("fec0::1/64"));
  EXPECT_FALSE(IsIpv6LinkLocal("10.0.0.1/8"));
}

}  // namespace
}  // namespace cloudlet

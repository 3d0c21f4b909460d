// VPNs in the planner and the reconciler: the gateway namespace and veth, the switch port, the tunnel plans,
// idempotence, in-place peer changes, restart, down, collisions across projects; and the UAPI `get` parser the
// status uses (no private key ever reported).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "control/naming.h"
#include "control/planner.h"
#include "control/reconciler.h"
#include "control/vpn_runtime.h"
#include "fakes.h"

namespace cloudlet {
namespace {

using ::testing::Contains;
using testing::FakeHost;
using testing::FakeRuntime;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::QuickstartConfig;

const std::string kProject = "/srv/vpn.yaml";
const std::string kKeyA = "ykYzvRgFPgq330YgCjBgTJrD2E7dGHL0p6uXMtRILwI=";
const std::string kKeyB = "mAOoEEe9VClAVLBMC1xnZCMKialCk66YFph2MHo1Pwc=";

CloudConfig VpnConfig() {
  CloudConfig c = QuickstartConfig();
  c.endpoints[0].gateway = "10.10.0.254";
  VpnDecl v;
  v.name = "remote";
  v.listen_port = 51820;
  v.private_key_file = "/etc/cloudlet/remote.key";
  v.address = "10.99.0.1/24";
  v.attach.switch_name = "sw1";
  v.attach.vlan = 10;
  v.attach.address = "10.10.0.254/24";
  VpnPeerDecl alice;
  alice.name = "alice";
  alice.public_key = kKeyA;
  alice.allowed_ips = {"10.99.0.2/32"};
  v.peers = {alice};
  c.vpns = {v};
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c).message();
  return c;
}

// Records what it is asked to run; "running" tunnels can be killed to model a daemon restart.
class FakeVpnRuntime final : public VpnRuntime {
 public:
  std::vector<VpnPlan> running;
  int applies = 0;
  Result<std::vector<std::string>> Apply(const std::vector<VpnPlan>& vpns) override {
    ++applies;
    std::vector<std::string> changes;
    for (const auto& v : vpns) {
      bool known = std::any_of(running.begin(), running.end(), [&](const VpnPlan& r) { return r == v; });
      if (!known) changes.push_back("started vpn " + v.name);
    }
    for (const auto& r : running) {
      bool kept = std::any_of(vpns.begin(), vpns.end(), [&](const VpnPlan& v) { return v.ifname == r.ifname; });
      if (!kept) changes.push_back("stopped vpn " + r.name);
    }
    running = vpns;
    return changes;
  }
  bool Matches(const std::vector<VpnPlan>& vpns) override { return vpns == running; }
  nlohmann::json Snapshot() override {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : running) {
      out.push_back({{"name", v.name}, {"project", v.project}, {"interface", v.ifname}, {"public_key", "PUB"}});
    }
    return out;
  }
};

TEST(VpnNaming, ShortDistinctAndStable) {
  EXPECT_EQ(VpnNetns(kProject, "remote").rfind("clv-", 0), 0u);
  EXPECT_EQ(VpnHostIfname(kProject, "remote").rfind("clg-", 0), 0u);
  EXPECT_EQ(VpnTunIfname(kProject, "remote").rfind("clw-", 0), 0u);
  EXPECT_LE(VpnTunIfname(kProject, "a-fifteen-chars").size(), 15u);
  EXPECT_NE(VpnTunIfname(kProject, "remote"), VpnTunIfname("/other.yaml", "remote"));
  // The vpn kind keeps a vpn apart from an endpoint of the same name.
  EXPECT_NE(VpnHostIfname(kProject, "a1").substr(4), EndpointHostIfname(kProject, "a1").substr(4));
}

TEST(VpnPlanner, GatewayNamespaceVethAndSwitchPort) {
  FakeHost host;
  CloudConfig cfg = VpnConfig();
  ProjectPlan plan = PlanProject(kProject, &cfg, nullptr, host.Observe(TargetsFor(kProject, &cfg, nullptr)));
  const std::string ns = VpnNetns(kProject, "remote"), host_if = VpnHostIfname(kProject, "remote");
  std::vector<std::string> described;
  for (const auto& a : plan.setup) {
    if (!a.quiet) described.push_back(a.Describe());
  }
  EXPECT_THAT(described, Contains("created netns " + ns));
  EXPECT_THAT(described, Contains("created veth " + host_if + " <-> " + ns + ":eth0"));
  EXPECT_THAT(described, Contains("set addresses of " + ns + ":eth0: 10.10.0.254/24"));
  EXPECT_THAT(described, Contains("set default route in a1 via 10.10.0.254"));
  EXPECT_TRUE(std::any_of(plan.result.netns.begin(), plan.result.netns.end(),
                          [&](const NetnsRecord& n) { return n.name == ns && n.created; }));

  auto switches = BuildSwitchPlans(kProject, cfg);
  const auto& ports = switches[0].ports;
  auto port = std::find_if(ports.begin(), ports.end(), [](const PortPlan& p) { return p.name == "remote"; });
  ASSERT_NE(port, ports.end());
  EXPECT_EQ(port->ifname, host_if);
  EXPECT_EQ(port->mode, PortModeDecl::kAccess);
  EXPECT_EQ(port->vlan, 10);

  auto vpns = BuildVpnPlans(kProject, cfg);
  ASSERT_EQ(vpns.size(), 1u);
  EXPECT_EQ(vpns[0].ifname, VpnTunIfname(kProject, "remote"));
  EXPECT_EQ(vpns[0].netns, ns);
  EXPECT_EQ(vpns[0].listen_port, 51820);
  EXPECT_EQ(vpns[0].private_key_file, "/etc/cloudlet/remote.key");
  ASSERT_EQ(vpns[0].peers.size(), 1u);
  EXPECT_EQ(vpns[0].peers[0].allowed_ips, std::vector<std::string>{"10.99.0.2/32"});
}

TEST(VpnPlanner, SecondUpAndDown) {
  FakeHost host;
  CloudConfig cfg = VpnConfig();
  auto converge = [&](const CloudConfig* c, const ProjectRecord* rec) {
    ProjectPlan p = PlanProject(kProject, c, rec, host.Observe(TargetsFor(kProject, c, rec)));
    for (const auto* phase : {&p.teardown, &p.setup}) {
      for (const auto& a : *phase) EXPECT_TRUE(host.Execute(a).ok()) << a.Describe();
    }
    return p;
  };
  ProjectRecord rec = converge(&cfg, nullptr).result;
  EXPECT_TRUE(converge(&cfg, &rec).empty());
  ProjectPlan down = converge(nullptr, &rec);
  EXPECT_EQ(host.CountPrefix("clg-"), 0u);
  EXPECT_EQ(host.netns.count(VpnNetns(kProject, "remote")), 0u);
  EXPECT_THAT(down.detach, Contains(VpnHostIfname(kProject, "remote")));
}

TEST(VpnPlanner, CollisionsAcrossProjects) {
  CloudConfig mine = VpnConfig();
  CloudConfig other;
  VpnDecl v = mine.vpns[0];
  v.name = "elsewhere";
  v.peers.clear();
  other.vpns = {v};  // same UDP port
  auto st = CheckCollisions(kProject, mine, {{"/srv/other.yaml", other}});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("UDP port \"51820\" is already used by project /srv/other.yaml"));
  other.vpns[0].listen_port = 51821;
  other.vpns[0].name = "remote";
  EXPECT_THAT(CheckCollisions(kProject, mine, {{"/srv/other.yaml", other}}).message(),
              HasSubstr("vpn \"remote\" is already used"));
}

class VpnReconcilerTest : public ::testing::Test {
 protected:
  FakeHost host_;
  FakeRuntime runtime_;
  FakeVpnRuntime vpns_;
};

TEST_F(VpnReconcilerTest, UpRunsTunnelsAfterTheHostAndIsIdempotent) {
  Reconciler r(host_, runtime_, nullptr, &vpns_);
  CloudConfig cfg = VpnConfig();
  auto report = r.Up(kProject, cfg, ToJson(cfg));
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_THAT(report.changes, Contains("started vpn remote"));
  EXPECT_EQ(report.changes.back(), "started vpn remote");  // after the namespace and the veth exist
  ASSERT_EQ(vpns_.running.size(), 1u);
  EXPECT_EQ(vpns_.running[0].project, kProject);

  auto again = r.Up(kProject, cfg, ToJson(cfg));
  EXPECT_TRUE(again.changes.empty());
  EXPECT_EQ(vpns_.applies, 1);

  // A peer added: only the tunnel is touched, no kernel action.
  size_t executed = host_.executed.size();
  VpnPeerDecl bob;
  bob.name = "bob";
  bob.public_key = kKeyB;
  bob.allowed_ips = {"10.99.0.3/32"};
  cfg.vpns[0].peers.push_back(bob);
  auto changed = r.Up(kProject, cfg, ToJson(cfg));
  ASSERT_TRUE(changed.status.ok());
  EXPECT_EQ(host_.executed.size(), executed);
  EXPECT_EQ(vpns_.running[0].peers.size(), 2u);

  auto status = r.StatusJson();
  ASSERT_EQ(status["vpns"].size(), 1u);
  EXPECT_EQ(status["vpns"][0]["attach"]["switch"], "sw1");
  EXPECT_EQ(status["vpns"][0]["attach"]["host_interface"], VpnHostIfname(kProject, "remote"));

  auto down = r.Down(kProject);
  ASSERT_TRUE(down.status.ok());
  EXPECT_EQ(down.changes.front(), "stopped vpn remote");  // before its namespace goes
  EXPECT_TRUE(vpns_.running.empty());
  EXPECT_EQ(host_.netns.count(VpnNetns(kProject, "remote")), 0u);
}

TEST_F(VpnReconcilerTest, RestartBringsTunnelsBackFromState) {
  CloudConfig cfg = VpnConfig();
  DaemonState saved;
  {
    Reconciler r(host_, runtime_, nullptr, &vpns_);
    ASSERT_TRUE(r.Up(kProject, cfg, ToJson(cfg)).status.ok());
    saved.projects[kProject].config = ToJson(cfg);
    ProjectPlan p = PlanProject(kProject, &cfg, nullptr, HostView{});
    saved.projects[kProject].netns = p.result.netns;
    saved.projects[kProject].veths = p.result.veths;
  }
  FakeRuntime fresh_switches;
  FakeVpnRuntime fresh_vpns;  // the tunnels died with the process
  Reconciler r(host_, fresh_switches, nullptr, &fresh_vpns);
  auto problems = r.Restore(saved, [](const nlohmann::json& j) { return FromJson(j); });
  EXPECT_TRUE(problems.empty()) << problems[0];
  ASSERT_EQ(fresh_vpns.running.size(), 1u);
  EXPECT_EQ(fresh_vpns.running[0].name, "remote");
}

TEST_F(VpnReconcilerTest, WithoutARuntimeVpnsAreRefused) {
  Reconciler r(host_, runtime_, nullptr);
  CloudConfig cfg = VpnConfig();
  auto report = r.Up(kProject, cfg, ToJson(cfg));
  EXPECT_FALSE(report.status.ok());
  EXPECT_THAT(report.status.message(), HasSubstr("runs no VPNs"));
}

TEST(UapiGetPeers, ParsesPeersAndSkipsThePrivateKey) {
  const std::string reply =
      "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
      "listen_port=51820\n"
      "public_key=ca4633bd18053e0ab7df46200a30604c9ac3d84edd1872f4a7ab9732d4482f02\n"
      "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
      "protocol_version=1\n"
      "endpoint=172.31.1.2:40000\n"
      "last_handshake_time_sec=1700000000\n"
      "last_handshake_time_nsec=5\n"
      "tx_bytes=100\n"
      "rx_bytes=200\n"
      "persistent_keepalive_interval=0\n"
      "allowed_ip=10.99.0.2/32\n"
      "errno=0\n\n";
  auto peers = ParseUapiGetPeers(reply);
  ASSERT_TRUE(peers.ok()) << peers.error().message();
  ASSERT_EQ(peers->size(), 1u);
  ASSERT_TRUE(peers->contains(kKeyA));
  const auto& p = peers->at(kKeyA);
  EXPECT_EQ(p["endpoint"], "172.31.1.2:40000");
  EXPECT_EQ(p["latest_handshake"], 1700000000);
  EXPECT_EQ(p["rx_bytes"], 200u);
  EXPECT_EQ(p["tx_bytes"], 100u);
  EXPECT_THAT(peers->dump(), Not(HasSubstr("e84b5a6d")));

  EXPECT_FALSE(ParseUapiGetPeers("errno=22\n\n").ok());
  EXPECT_FALSE(ParseUapiGetPeers("public_key=zz\n").ok());
  EXPECT_FALSE(ParseUapiGetPeers("listen_port=1\n").ok());  // truncated: no errno line
}

}  // namespace
}  // namespace cloudlet

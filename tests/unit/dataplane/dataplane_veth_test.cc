// Dataplane with real veths (root): namespaces as hosts on switch access ports. Ping and a multi-megabyte TCP
// transfer with default offloads on, VLAN isolation, idempotent apply(), all-or-nothing apply() on a missing
// interface, two switches joined by a trunk veth pair, status with learned MACs.
// DISABLED_ThroughputVersusLinuxBridge is a by-hand iperf3 comparison (no assertion on the numbers).
#include <gtest/gtest.h>

#include <iostream>
#include <regex>

#include "../port/netns_util.h"
#include "dataplane/dataplane.h"

namespace cloudlet {
namespace {

using testing::NetnsGuard;
using testing::Sh;
using testing::UniqueName;

// A host: a namespace with eth0 (a veth) whose other end (`host_if`) stays in the root namespace for the switch.
struct Host {
  Host(const std::string& ns_name, const std::string& host_if_name, const std::string& cidr)
      : ns(ns_name), host_if(host_if_name), ip(cidr.substr(0, cidr.find('/'))) {
    ok = ns.ok() && Sh("ip link add " + host_if + " type veth peer name eth0 netns " + ns.name()) &&
         Sh("sysctl -qw net.ipv6.conf." + host_if + ".disable_ipv6=1 >/dev/null") &&
         Sh("ip link set " + host_if + " up") && Sh("ip -n " + ns.name() + " addr add " + cidr + " dev eth0") &&
         Sh("ip -n " + ns.name() + " link set eth0 up");
  }
  ~Host() { Sh("ip link del " + host_if + " 2>/dev/null"); }
  bool Ping(const std::string& dst, int count = 2) const {
    return ns.Exec("ping -q -c " + std::to_string(count) + " -W 1 " + dst + " >/dev/null 2>&1");
  }
  std::string Mac() const {
    return testing::Capture("ip -n " + ns.name() + " -br link show eth0 | awk '{print $3}' | tr -d '\\n'");
  }

  NetnsGuard ns;
  std::string host_if;
  std::string ip;
  bool ok = false;
};

PortSpec Access(const std::string& name, const std::string& ifname, uint16_t vlan) {
  PortSpec p;
  p.config.name = name;
  p.config.vlan = vlan;
  p.ifname = ifname;
  return p;
}

PortSpec Trunk(const std::string& name, const std::string& ifname, std::initializer_list<uint16_t> vlans) {
  PortSpec p;
  p.config.name = name;
  p.config.mode = PortMode::kTrunk;
  for (uint16_t v : vlans) p.config.trunk_vlans.set(v);
  p.ifname = ifname;
  return p;
}

std::string MacString(const std::array<uint8_t, 6>& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

const PortStatus* FindPort(const SwitchStatus& st, const std::string& name) {
  for (const PortStatus& p : st.ports) {
    if (p.spec.config.name == name) return &p;
  }
  return nullptr;
}

class DataplaneVethTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::IsRoot()) GTEST_SKIP() << "needs root: creates network namespaces and veth pairs";
    static int counter = 0;
    base_ = ++counter * 10;
  }
  std::unique_ptr<Host> MakeHost(int i, const std::string& cidr) {
    auto h = std::make_unique<Host>(UniqueName("h2dn", base_ + i), UniqueName("h2d", base_ + i), cidr);
    EXPECT_TRUE(h->ok) << "host " << i;
    return h;
  }

  MonotonicClock clock_;
  int base_ = 0;
};

TEST_F(DataplaneVethTest, OneSwitchPingTcpIsolationApplyAndStatus) {
  auto h1 = MakeHost(1, "10.78.0.1/24");
  auto h2 = MakeHost(2, "10.78.0.2/24");
  auto h3 = MakeHost(3, "10.78.0.3/24");
  ASSERT_TRUE(h1->ok && h2->ok && h3->ok);

  Dataplane dp(clock_);
  SwitchSpec sw;
  sw.config.name = "s1";
  sw.ports = {Access("p1", h1->host_if, 10), Access("p2", h2->host_if, 10), Access("p3", h3->host_if, 20)};
  DataplaneSpec spec{{sw}};
  ASSERT_TRUE(dp.apply(spec).ok());

  EXPECT_TRUE(h1->Ping(h2->ip));
  EXPECT_FALSE(h3->Ping(h1->ip, 1)) << "VLAN 20 must not reach VLAN 10";
  EXPECT_FALSE(h1->Ping(h3->ip, 1));

  // A few MB of TCP with every offload on: GSO super-frames and partial checksums cross the switch as such.
  constexpr size_t kBytes = 8 << 20;
  testing::TcpTransfer tcp(h2->ns.name(), h2->ip, 5301, h1->ns.name(), kBytes);
  EXPECT_EQ(tcp.join(), kBytes);

  auto st = dp.status();
  ASSERT_EQ(st.size(), 1u);
  const PortStatus* p1 = FindPort(st[0], "p1");
  const PortStatus* p2 = FindPort(st[0], "p2");
  ASSERT_TRUE(p1 && p2);
  EXPECT_GT(p1->counters.rx_packets, 0u);
  EXPECT_GT(p1->counters.rx_bytes, kBytes);
  EXPECT_GT(p2->counters.tx_bytes, kBytes);
  EXPECT_EQ(p2->counters.total_drops(), 0u);
  std::set<std::string> macs_on_10;
  for (const MacEntryInfo& m : st[0].macs) {
    if (m.vlan == 10) macs_on_10.insert(MacString(m.mac));
  }
  EXPECT_TRUE(macs_on_10.count(h1->Mac())) << h1->Mac();
  EXPECT_TRUE(macs_on_10.count(h2->Mac())) << h2->Mac();

  // Same spec again: nothing reopened, counters and MACs kept.
  ASSERT_TRUE(dp.apply(spec).ok());
  auto again = dp.status();
  EXPECT_GE(FindPort(again[0], "p1")->counters.rx_packets, p1->counters.rx_packets);
  EXPECT_EQ(again[0].macs.size(), st[0].macs.size());

  // A missing interface fails the whole apply and changes nothing.
  SwitchSpec broken = sw;
  broken.ports[2].config.vlan = 10;
  broken.ports.push_back(Access("p4", "clp-x", 10));
  Status failed = dp.apply({{broken}});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.message(), "switch 's1' port 'p4': interface clp-x: No such device");
  auto after = dp.status();
  EXPECT_EQ(after[0].ports.size(), 3u);
  EXPECT_EQ(FindPort(after[0], "p3")->spec.config.vlan, 20);
  EXPECT_FALSE(h3->Ping(h1->ip, 1));
  EXPECT_TRUE(h1->Ping(h2->ip));
}

TEST_F(DataplaneVethTest, TwoSwitchesJoinedByATrunkCarryTwoVlans) {
  // One subnet for everyone, so only the VLANs keep hosts apart.
  auto a10 = MakeHost(1, "10.79.0.1/24");
  auto a20 = MakeHost(2, "10.79.0.2/24");
  auto b10 = MakeHost(3, "10.79.0.3/24");
  auto b20 = MakeHost(4, "10.79.0.4/24");
  ASSERT_TRUE(a10->ok && a20->ok && b10->ok && b20->ok);
  testing::VethGuard trunk(UniqueName("h2t", base_), UniqueName("h2u", base_));
  ASSERT_TRUE(trunk.ok());
  ASSERT_TRUE(Sh("ip link set " + trunk.a() + " up && ip link set " + trunk.b() + " up"));

  SwitchSpec s1, s2;
  s1.config.name = "s1";
  s1.ports = {Access("a10", a10->host_if, 10), Access("a20", a20->host_if, 20), Trunk("up", trunk.a(), {10, 20})};
  s2.config.name = "s2";
  s2.ports = {Access("b10", b10->host_if, 10), Access("b20", b20->host_if, 20), Trunk("up", trunk.b(), {10, 20})};
  Dataplane dp(clock_);
  ASSERT_TRUE(dp.apply({{s1, s2}}).ok());

  EXPECT_TRUE(a10->Ping(b10->ip));
  EXPECT_TRUE(a20->Ping(b20->ip));
  EXPECT_FALSE(a10->Ping(b20->ip, 1));
  EXPECT_FALSE(a20->Ping(b10->ip, 1));

  // TCP across the trunk: tags pushed by scatter-gather on GSO frames, moved out of band by the receiving veth,
  // re-inserted and popped again by the second switch.
  constexpr size_t kBytes = 4 << 20;
  testing::TcpTransfer tcp(b20->ns.name(), b20->ip, 5302, a20->ns.name(), kBytes);
  EXPECT_EQ(tcp.join(), kBytes);

  auto st = dp.status();
  ASSERT_EQ(st.size(), 2u);
  const PortStatus* up = FindPort(st[1], "up");
  ASSERT_TRUE(up);
  EXPECT_GT(up->counters.rx_bytes, kBytes);
  EXPECT_EQ(up->counters.total_drops(), 0u);
  EXPECT_EQ(up->io.rx_errors, 0u);
}

TEST_F(DataplaneVethTest, TapPortCarriesTcpBothWays) {
  auto h1 = MakeHost(1, "10.81.0.1/24");
  ASSERT_TRUE(h1->ok);
  NetnsGuard vm_ns(UniqueName("h2dv", base_));
  ASSERT_TRUE(vm_ns.ok());
  const std::string tap = UniqueName("h2tap", base_);

  Dataplane dp(clock_);
  SwitchSpec sw;
  sw.config.name = "s1";
  PortSpec tap_port = Access("vm", tap, 10);
  tap_port.kind = PortKind::kTap;
  sw.ports = {Access("p1", h1->host_if, 10), tap_port};
  ASSERT_TRUE(dp.apply({{sw}}).ok());
  // The VM side of the TAP, played by a namespace: the device moves, the port's file descriptor stays attached.
  ASSERT_TRUE(Sh("ip link set " + tap + " netns " + vm_ns.name()));
  ASSERT_TRUE(Sh("ip -n " + vm_ns.name() + " addr add 10.81.0.2/24 dev " + tap));
  ASSERT_TRUE(Sh("ip -n " + vm_ns.name() + " link set " + tap + " up"));

  EXPECT_TRUE(h1->Ping("10.81.0.2"));
  constexpr size_t kBytes = 4 << 20;
  {
    testing::TcpTransfer to_vm(vm_ns.name(), "10.81.0.2", 5303, h1->ns.name(), kBytes);
    EXPECT_EQ(to_vm.join(), kBytes);
  }
  {
    testing::TcpTransfer from_vm(h1->ns.name(), h1->ip, 5304, vm_ns.name(), kBytes);
    EXPECT_EQ(from_vm.join(), kBytes);
  }
  auto st = dp.status();
  const PortStatus* vm = FindPort(st[0], "vm");
  ASSERT_TRUE(vm);
  EXPECT_GT(vm->counters.rx_bytes, kBytes);
  EXPECT_GT(vm->counters.tx_bytes, kBytes);
  // No tx_errors check: frames flooded to the TAP while it moved namespaces (device down) are refused by the kernel.
  EXPECT_EQ(vm->io.rx_errors, 0u);
}

// By hand: ./unit_dataplane --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
// iperf3 TCP between two namespaces through one switch with two access ports, then through a Linux bridge.
TEST_F(DataplaneVethTest, DISABLED_ThroughputVersusLinuxBridge) {
  auto run_iperf = [](const Host& server, const Host& client) -> double {
    testing::ChildProcess iperf_server(
        {"ip", "netns", "exec", server.ns.name(), "iperf3", "-s", "-1", "-p", "5399", "--logfile", "/dev/null"});
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::string out =
        testing::Capture("ip netns exec " + client.ns.name() + " iperf3 -c " + server.ip + " -p 5399 -t 5 -f g 2>&1");
    std::cout << out;
    std::smatch m;
    std::regex receiver(R"(([0-9.]+) Gbits/sec\s+receiver)");
    return std::regex_search(out, m, receiver) ? std::stod(m[1]) : 0.0;
  };

  double switch_gbps = 0, bridge_gbps = 0;
  {
    auto h1 = MakeHost(1, "10.80.0.1/24");
    auto h2 = MakeHost(2, "10.80.0.2/24");
    ASSERT_TRUE(h1->ok && h2->ok);
    Dataplane dp(clock_);
    SwitchSpec sw;
    sw.config.name = "s1";
    sw.ports = {Access("p1", h1->host_if, 10), Access("p2", h2->host_if, 10)};
    ASSERT_TRUE(dp.apply({{sw}}).ok());
    ASSERT_TRUE(h1->Ping(h2->ip));
    switch_gbps = run_iperf(*h2, *h1);
    const std::vector<SwitchStatus> status = dp.status();
    for (const PortStatus& p : status[0].ports) {
      std::cout << p.spec.config.name << ": rx " << p.counters.rx_packets << " pkts " << p.counters.rx_bytes
                << " B, tx " << p.counters.tx_packets << " pkts, drops " << p.counters.total_drops()
                << ", io rx_errors " << p.io.rx_errors << " tx_errors " << p.io.tx_errors << " rx_dropped "
                << p.io.rx_dropped << "\n";
    }
    std::cout << testing::Capture("ip -s link show " + h1->host_if + "; ip -s link show " + h2->host_if);
  }
  {
    auto h1 = MakeHost(3, "10.80.0.1/24");
    auto h2 = MakeHost(4, "10.80.0.2/24");
    ASSERT_TRUE(h1->ok && h2->ok);
    std::string br = UniqueName("h2br", base_);
    ASSERT_TRUE(Sh("ip link add " + br + " type bridge && ip link set " + br + " up"));
    struct BridgeGuard {
      std::string name;
      ~BridgeGuard() { Sh("ip link del " + name + " 2>/dev/null"); }
    } bridge_guard{br};
    ASSERT_TRUE(
        Sh("ip link set " + h1->host_if + " master " + br + " && ip link set " + h2->host_if + " master " + br));
    ASSERT_TRUE(h1->Ping(h2->ip));
    bridge_gbps = run_iperf(*h2, *h1);
  }
  std::cout << "cloudlet switch: " << switch_gbps << " Gbit/s, Linux bridge: " << bridge_gbps
            << " Gbit/s, ratio: " << (bridge_gbps > 0 ? switch_gbps / bridge_gbps : 0) << "\n";
}

}  // namespace
}  // namespace cloudlet

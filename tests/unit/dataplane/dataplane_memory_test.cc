// Dataplane with in-process MemoryPorts (no root): forwarding through the data-plane thread, apply() diffing
// (idempotent, atomic on failure, in-place updates, removals), status snapshots, shutdown.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "dataplane/dataplane.h"
#include "port/memory_port.h"

namespace cloudlet {
namespace {

using Frame = std::vector<uint8_t>;

Frame MakeFrame(uint8_t dst_last, uint8_t src_last, size_t len = 64, uint8_t fill = 0) {
  Frame f = {0x02, 0, 0, 0, 0, dst_last, 0x02, 0, 0, 0, 0, src_last, 0x88, 0xb5};
  f.resize(len, fill);
  return f;
}
Frame Broadcast(uint8_t src_last) {
  Frame f = MakeFrame(0, src_last);
  std::fill(f.begin(), f.begin() + 6, 0xff);
  return f;
}

// Opens MemoryPorts by interface name and remembers them so the test can inject and collect frames. Names listed
// in `missing` fail like an absent kernel interface.
class MemoryPorts {
 public:
  PortOpener opener() {
    return [this](const PortSpec& spec) -> Result<std::unique_ptr<Port>> {
      std::lock_guard<std::mutex> lock(mu_);
      if (spec.ifname.rfind("missing", 0) == 0) return Error("interface " + spec.ifname + ": No such device");
      auto port = MemoryPort::Create({.name = spec.ifname});
      if (!port.ok()) return port.error();
      ports_[spec.ifname] = port.value().get();
      ++opened_;
      return std::unique_ptr<Port>(std::move(port).value());
    };
  }
  MemoryPort& operator[](const std::string& ifname) {
    std::lock_guard<std::mutex> lock(mu_);
    return *ports_.at(ifname);
  }
  int opened() {
    std::lock_guard<std::mutex> lock(mu_);
    return opened_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, MemoryPort*> ports_;
  int opened_ = 0;
};

// Waits (bounded) for the next frame the port sent.
std::optional<Frame> NextSent(MemoryPort& port, int timeout_ms = 2000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Frame f;
  while (std::chrono::steady_clock::now() < deadline) {
    if (port.pop_sent(f)) return f;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::nullopt;
}

PortSpec Access(const std::string& name, uint16_t vlan) {
  PortSpec p;
  p.config.name = name;
  p.config.mode = PortMode::kAccess;
  p.config.vlan = vlan;
  p.ifname = "if-" + name;
  return p;
}

SwitchSpec OneSwitch(std::vector<PortSpec> ports) {
  SwitchSpec s;
  s.config.name = "sw0";
  s.ports = std::move(ports);
  return s;
}

const PortStatus* FindPort(const SwitchStatus& st, const std::string& name) {
  for (const PortStatus& p : st.ports) {
    if (p.spec.config.name == name) return &p;
  }
  return nullptr;
}

class DataplaneMemoryTest : public ::testing::Test {
 protected:
  MonotonicClock clock_;
  MemoryPorts ports_;
  std::unique_ptr<Dataplane> dp_ = std::make_unique<Dataplane>(clock_, ports_.opener());
};

TEST_F(DataplaneMemoryTest, ForwardsWithinVlanAndLearns) {
  DataplaneSpec spec{{OneSwitch({Access("a", 10), Access("b", 10), Access("c", 20)})}};
  ASSERT_TRUE(dp_->apply(spec).ok());

  ASSERT_TRUE(ports_["if-a"].inject(Broadcast(1)));
  auto flooded = NextSent(ports_["if-b"]);
  ASSERT_TRUE(flooded);
  EXPECT_EQ(*flooded, Broadcast(1));
  ASSERT_TRUE(ports_["if-b"].inject(MakeFrame(1, 2)));
  auto unicast = NextSent(ports_["if-a"]);
  ASSERT_TRUE(unicast);
  EXPECT_EQ(*unicast, MakeFrame(1, 2));
  Frame none;
  EXPECT_FALSE(NextSent(ports_["if-c"], 100)) << "VLAN 20 must not see VLAN 10 traffic";

  auto st = dp_->status();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].config.name, "sw0");
  ASSERT_EQ(st[0].ports.size(), 3u);
  EXPECT_EQ(FindPort(st[0], "a")->counters.rx_packets, 1u);
  EXPECT_EQ(FindPort(st[0], "a")->counters.tx_packets, 1u);
  EXPECT_EQ(FindPort(st[0], "b")->counters.tx_packets, 1u);
  ASSERT_EQ(st[0].macs.size(), 2u);
  for (const MacEntryInfo& m : st[0].macs) {
    EXPECT_EQ(m.vlan, 10);
    const PortStatus* on = m.mac[5] == 1 ? FindPort(st[0], "a") : FindPort(st[0], "b");
    EXPECT_EQ(m.port, on->id);
  }
  bool saw_vlan10 = false;
  for (const VlanStatus& v : st[0].vlans) saw_vlan10 = saw_vlan10 || (v.vlan == 10 && v.counters.packets == 2);
  EXPECT_TRUE(saw_vlan10);
}

TEST_F(DataplaneMemoryTest, ApplyTwiceIsANoOp) {
  DataplaneSpec spec{{OneSwitch({Access("a", 10), Access("b", 10)})}};
  ASSERT_TRUE(dp_->apply(spec).ok());
  ASSERT_TRUE(ports_["if-a"].inject(Broadcast(1)));
  ASSERT_TRUE(NextSent(ports_["if-b"]));
  auto before = dp_->status();
  ASSERT_TRUE(dp_->apply(spec).ok());
  auto after = dp_->status();
  EXPECT_EQ(ports_.opened(), 2) << "no port reopened";
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(FindPort(after[0], "a")->counters.rx_packets, 1u);
  EXPECT_EQ(after[0].macs.size(), before[0].macs.size());
}

TEST_F(DataplaneMemoryTest, FailedApplyChangesNothing) {
  ASSERT_TRUE(dp_->apply({{OneSwitch({Access("a", 10), Access("b", 10)})}}).ok());
  ASSERT_TRUE(ports_["if-a"].inject(Broadcast(1)));
  ASSERT_TRUE(NextSent(ports_["if-b"]));

  // A new switch, a removed port, a changed port, and one port whose interface is missing: all or nothing.
  PortSpec broken = Access("x", 10);
  broken.ifname = "missing0";
  SwitchSpec other;
  other.config.name = "sw1";
  other.ports = {Access("z", 5)};
  Status st = dp_->apply({{OneSwitch({Access("a", 30), broken}), other}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "switch 'sw0' port 'x': interface missing0: No such device");

  auto now = dp_->status();
  ASSERT_EQ(now.size(), 1u);
  ASSERT_EQ(now[0].ports.size(), 2u);
  EXPECT_EQ(FindPort(now[0], "a")->spec.config.vlan, 10);
  EXPECT_EQ(FindPort(now[0], "a")->counters.rx_packets, 1u);
  ASSERT_TRUE(ports_["if-b"].inject(MakeFrame(1, 2)));
  EXPECT_TRUE(NextSent(ports_["if-a"])) << "still forwarding";
}

TEST_F(DataplaneMemoryTest, RejectsInvalidSpecsBeforeTouchingAnything) {
  EXPECT_FALSE(dp_->apply({{OneSwitch({Access("a", 10), Access("a", 10)})}}).ok());
  PortSpec bad = Access("b", 4095);
  EXPECT_FALSE(dp_->apply({{OneSwitch({bad})}}).ok());
  PortSpec same_if = Access("c", 10);
  same_if.ifname = "if-a";
  Status st = dp_->apply({{OneSwitch({Access("a", 10), same_if})}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("already used by"), std::string::npos) << st.message();
  PortSpec no_if = Access("d", 10);
  no_if.ifname.clear();
  EXPECT_EQ(dp_->apply({{OneSwitch({no_if})}}).message(), "switch 'sw0' port 'd': no interface name");
  EXPECT_EQ(ports_.opened(), 0);
  EXPECT_TRUE(dp_->status().empty());
}

TEST_F(DataplaneMemoryTest, UpdatesInPlaceAndRemoves) {
  ASSERT_TRUE(dp_->apply({{OneSwitch({Access("a", 10), Access("b", 10), Access("c", 20)})}}).ok());
  ASSERT_TRUE(ports_["if-a"].inject(Broadcast(1)));
  ASSERT_TRUE(NextSent(ports_["if-b"]));

  // c moves to VLAN 10 (same port object, counters kept), b goes away.
  ASSERT_TRUE(dp_->apply({{OneSwitch({Access("a", 10), Access("c", 10)})}}).ok());
  EXPECT_EQ(ports_.opened(), 3);
  auto st = dp_->status();
  ASSERT_EQ(st[0].ports.size(), 2u);
  EXPECT_EQ(FindPort(st[0], "b"), nullptr);
  EXPECT_EQ(FindPort(st[0], "a")->counters.rx_packets, 1u);
  EXPECT_EQ(FindPort(st[0], "c")->spec.config.vlan, 10);
  ASSERT_TRUE(ports_["if-a"].inject(Broadcast(1)));
  EXPECT_TRUE(NextSent(ports_["if-c"]));

  // Removing the switch stops its thread and closes its ports.
  ASSERT_TRUE(dp_->apply({}).ok());
  EXPECT_TRUE(dp_->status().empty());
}

TEST_F(DataplaneMemoryTest, TwoSwitchesJoinedByATrunk) {
  // A trunk between two switches, modelled in memory: whatever one trunk port sends is fed into the other.
  SwitchSpec s0 = OneSwitch({Access("a", 10), Access("c", 20)});
  PortSpec trunk;
  trunk.config.name = "up";
  trunk.config.mode = PortMode::kTrunk;
  trunk.config.trunk_vlans.set(10).set(20);
  trunk.ifname = "trunk0";
  s0.ports.push_back(trunk);
  SwitchSpec s1;
  s1.config.name = "sw1";
  PortSpec b = Access("b", 10), d = Access("d", 20);
  b.ifname = "if-b1";
  d.ifname = "if-d1";
  trunk.ifname = "trunk1";
  s1.ports = {b, d, trunk};
  ASSERT_TRUE(dp_->apply({{s0, s1}}).ok());

  ASSERT_TRUE(ports_["if-c"].inject(Broadcast(3)));
  auto on_trunk = NextSent(ports_["trunk0"]);
  ASSERT_TRUE(on_trunk);
  ASSERT_GE(on_trunk->size(), 18u);
  EXPECT_EQ((*on_trunk)[12], 0x81);
  EXPECT_EQ((*on_trunk)[15], 20) << "tagged with VLAN 20";
  ASSERT_TRUE(ports_["trunk1"].inject(*on_trunk));
  auto at_d = NextSent(ports_["if-d1"]);
  ASSERT_TRUE(at_d);
  EXPECT_EQ(*at_d, Broadcast(3)) << "untagged again on the access port";
  EXPECT_FALSE(NextSent(ports_["if-b1"], 100));
}

TEST_F(DataplaneMemoryTest, ConcurrentStatusWhileForwarding) {
  ASSERT_TRUE(dp_->apply({{OneSwitch({Access("a", 10), Access("b", 10)})}}).ok());
  std::thread producer([&] {
    for (int i = 0; i < 2000; ++i) {
      while (!ports_["if-a"].inject(MakeFrame(2, 1))) std::this_thread::yield();
    }
  });
  std::thread consumer([&] {
    Frame f;
    for (int got = 0, spins = 0; got < 2000 && spins < 5'000'000; ++spins) {
      if (ports_["if-b"].pop_sent(f)) ++got;
    }
  });
  for (int i = 0; i < 50; ++i) (void)dp_->status();
  producer.join();
  consumer.join();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  uint64_t rx = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    rx = FindPort(dp_->status()[0], "a")->counters.rx_packets;
    if (rx == 2000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(rx, 2000u);
  dp_.reset();  // clean shutdown with traffic having flowed
}

}  // namespace
}  // namespace cloudlet

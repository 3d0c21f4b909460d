// RouterPort driven in process as the switch drives it (send() of untagged frames with Packet.vlan set, receive() of
// tagged ones), with a MemoryPort as the uplink: ARP, forwarding between VLANs, the firewall, the uplink, the control
// queue and its lifetime, slot exhaustion and the drop counters. No kernel interfaces.
#include "router/router_port.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <thread>
#include <vector>

#include "frames.h"
#include "net/ethernet.h"
#include "port/memory_port.h"

namespace cloudlet::router {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the frame builders

const MacAddr kRouterMac = Mac(0, 1);
const MacAddr kHostA = Mac(1, 5), kHostB = Mac(2, 5), kHostUp = Mac(9, 9);
const IpAddress kIpA = Ip("10.0.10.5"), kIpB = Ip("10.0.20.5"), kIpUp = Ip("192.168.50.77");
const IpAddress kGw10 = Ip("10.0.10.1"), kGw20 = Ip("10.0.20.1"), kGwUp = Ip("192.168.50.2");

// A frame as the port returned it, tag included, copied out.
struct Out {
  uint16_t vlan = 0;  // Packet.vlan
  Bytes bytes;        // tagged
  uint16_t TagVid() const { return LoadBe16(&bytes[14]) & 0x0fff; }
  uint16_t Tpid() const { return LoadBe16(&bytes[12]); }
  uint16_t InnerType() const { return LoadBe16(&bytes[16]); }
  MacAddr Dst() const { return MacAddr::From(&bytes[0]); }
  MacAddr Src() const { return MacAddr::From(&bytes[6]); }
  const uint8_t* L3() const { return &bytes[18]; }
};

// The rule set: zones a (VLAN 10), b (VLAN 20), wan (uplink); one rule: ICMP echo requests from a are accepted.
// Everything else between zones is dropped by the default policy.
firewall::RuleSet Rules() {
  firewall::RuleSet rs;
  rs.zones = {"a", "b", "wan"};
  firewall::Rule ping;
  ping.from_zones = {0};
  ping.proto = kIpProtoIcmp;
  ping.icmp_type = 8;
  ping.action = firewall::Action::kAccept;
  rs.rules = {ping};
  rs.rule_names = {"ping-from-a"};
  return rs;
}

RouterConfig Config() {
  RouterConfig c;
  c.interfaces.push_back(InterfaceConfig{"vlan10", 10, kRouterMac, {Pfx("10.0.10.1/24")}, 0, 1500, {}, ""});
  c.interfaces.push_back(InterfaceConfig{"vlan20", 20, kRouterMac, {Pfx("10.0.20.1/24")}, 1, 1500, {}, ""});
  c.interfaces.push_back(InterfaceConfig{"uplink", 0, kRouterMac, {Pfx("192.168.50.2/24")}, 2, 1500, {}, ""});
  return c;
}

class RouterPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MemoryPort::Options o;
    o.name = "eth1";
    auto up = MemoryPort::Create(o);
    ASSERT_TRUE(up.ok()) << up.error().message();
    uplink_ = up->get();
    control_ = std::make_shared<RouterControl>();
    auto port = RouterPort::Create("router", std::move(*up), control_, clock_, [] { return int64_t{1'700'000'000}; });
    ASSERT_TRUE(port.ok()) << port.error().message();
    port_ = std::move(*port);
  }

  void Configure(bool with_firewall = true) {
    RouterPortConfig cfg;
    cfg.router = Config();
    if (with_firewall) {
      auto compiled = firewall::Firewall::Compile(Rules());
      ASSERT_TRUE(compiled.ok()) << compiled.error().message();
      cfg.rules = *compiled;
    }
    cfg.conntrack.max_connections = 1024;
    Status s = port_->configure(std::move(cfg));
    ASSERT_TRUE(s.ok()) << s.message();
  }

  // Hands the port frames on `vlan` as the switch does (untagged, Packet.vlan set); returns what send() accepted.
  size_t Send(uint16_t vlan, const std::vector<Bytes>& frames) {
    std::deque<Bytes> bufs;  // the switch's buffers: only valid during send()
    std::vector<Packet> pkts(frames.size());
    std::vector<TxItem> items;
    for (size_t i = 0; i < frames.size(); ++i) {
      Bytes& b = bufs.emplace_back(kPacketHeadroom + frames[i].size());
      std::memcpy(b.data() + kPacketHeadroom, frames[i].data(), frames[i].size());
      pkts[i].data = b.data() + kPacketHeadroom;
      pkts[i].len = static_cast<uint32_t>(frames[i].size());
      pkts[i].headroom = kPacketHeadroom;
      pkts[i].vlan = vlan;
      items.push_back(TxItem{&pkts[i], 0x8100, MakeTci(0, false, vlan)});
    }
    const size_t accepted = port_->send(items);
    for (auto& b : bufs) std::memset(b.data(), 0xee, b.size());  // the switch reuses its buffers
    return accepted;
  }
  size_t Send(uint16_t vlan, const Bytes& frame) { return Send(vlan, std::vector<Bytes>{frame}); }

  // One receive() call, copied out.
  std::vector<Out> Receive(size_t max = kMaxBatch) {
    std::vector<Packet*> pkts(max);
    const size_t n = port_->receive(pkts.data(), max);
    std::vector<Out> out;
    for (size_t i = 0; i < n; ++i) {
      out.push_back(Out{pkts[i]->vlan, Bytes(pkts[i]->data, pkts[i]->data + pkts[i]->len)});
    }
    return out;
  }

  // Every frame the uplink MemoryPort was asked to send so far.
  std::vector<Bytes> UplinkSent() {
    std::vector<Bytes> out;
    Bytes f;
    while (uplink_->pop_sent(f)) out.push_back(f);
    return out;
  }

  // Host A on VLAN 10 and host B on VLAN 20 ask for their gateway: the router learns them and answers each.
  void LearnHosts() {
    ASSERT_EQ(Send(10, Arp(1, kHostA, kIpA, MacAddr{}, kGw10, MacAddr::Broadcast())), 1u);
    ASSERT_EQ(Send(20, Arp(1, kHostB, kIpB, MacAddr{}, kGw20, MacAddr::Broadcast())), 1u);
    auto out = Receive();
    ASSERT_EQ(out.size(), 2u);
  }

  FakeClock clock_{1'000 * kSecond};
  MemoryPort* uplink_ = nullptr;  // owned by port_
  std::shared_ptr<RouterControl> control_;
  std::unique_ptr<RouterPort> port_;
};

TEST_F(RouterPortTest, ArpForTheGatewayIsAnsweredTaggedOnItsVlan) {
  Configure();
  EXPECT_EQ(port_->name(), "router");
  EXPECT_EQ(port_->uplink_name(), "eth1");
  ASSERT_EQ(Send(20, Arp(1, kHostB, kIpB, MacAddr{}, kGw20, MacAddr::Broadcast())), 1u);
  auto out = Receive();
  ASSERT_EQ(out.size(), 1u);
  const Out& r = out[0];
  EXPECT_EQ(r.vlan, 20);
  EXPECT_EQ(r.Tpid(), kEtherTypeVlan);
  EXPECT_EQ(r.TagVid(), 20);
  EXPECT_EQ(r.InnerType(), kEtherTypeArp);
  EXPECT_EQ(r.Dst(), kHostB);
  EXPECT_EQ(r.Src(), kRouterMac);
  ASSERT_GE(r.bytes.size(), 18u + 28u);
  const uint8_t* arp = r.L3();
  EXPECT_EQ(LoadBe16(arp + 6), 2);  // reply
  EXPECT_EQ(MacAddr::From(arp + 8), kRouterMac);
  EXPECT_EQ(std::memcmp(arp + 14, kGw20.bytes.data(), 4), 0);
  EXPECT_EQ(MacAddr::From(arp + 18), kHostB);
  EXPECT_EQ(std::memcmp(arp + 24, kIpB.bytes.data(), 4), 0);
  EXPECT_EQ(port_->counters().rx_from_switch, 1u);
  EXPECT_EQ(port_->counters().tx_to_switch, 1u);
  EXPECT_TRUE(Receive().empty());  // nothing more, and the slot lent out is back
}

TEST_F(RouterPortTest, ForwardsBetweenVlansAndFiltersTheRest) {
  Configure();
  LearnHosts();

  // A -> B, echo request: allowed by the rule, forwarded tagged with VLAN 20, TTL decremented.
  ASSERT_EQ(Send(10, Ip4(kHostA, kRouterMac, kIpA, kIpB, kIpProtoIcmp, Echo(8, 7))), 1u);
  auto out = Receive();
  ASSERT_EQ(out.size(), 1u);
  const Out& f = out[0];
  EXPECT_EQ(f.vlan, 20);
  EXPECT_EQ(f.Tpid(), kEtherTypeVlan);
  EXPECT_EQ(f.TagVid(), 20);
  EXPECT_EQ(f.InnerType(), kEtherTypeIpv4);
  EXPECT_EQ(f.Dst(), kHostB);
  EXPECT_EQ(f.Src(), kRouterMac);
  EXPECT_EQ(f.L3()[8], 63);  // TTL
  EXPECT_TRUE(IPv4HeaderChecksumOk(f.L3(), 20));
  EXPECT_EQ(std::memcmp(f.L3() + 12, kIpA.bytes.data(), 4), 0);
  EXPECT_EQ(std::memcmp(f.L3() + 16, kIpB.bytes.data(), 4), 0);
  EXPECT_EQ(port_->router()->counters().forwarded, 1u);

  // B -> A, UDP: a new flow between zones with no rule: dropped by the policy, nothing comes out.
  ASSERT_EQ(Send(20, Ip4(kHostB, kRouterMac, kIpB, kIpA, kIpProtoUdp, Udp(4000, 53))), 1u);
  EXPECT_TRUE(Receive().empty());
  EXPECT_TRUE(UplinkSent().empty());
  EXPECT_EQ(port_->router()->counters().firewall_drop, 1u);
  EXPECT_EQ(port_->router()->counters().forwarded, 1u);

  // A -> B, UDP: not allowed either (the only rule is about pings).
  ASSERT_EQ(Send(10, Ip4(kHostA, kRouterMac, kIpA, kIpB, kIpProtoUdp, Udp(4000, 53))), 1u);
  EXPECT_TRUE(Receive().empty());
  EXPECT_EQ(port_->router()->counters().firewall_drop, 2u);
}

TEST_F(RouterPortTest, WithoutRulesEverythingRoutes) {
  Configure(/*with_firewall=*/false);
  EXPECT_EQ(port_->firewall(), nullptr);
  LearnHosts();
  ASSERT_EQ(Send(20, Ip4(kHostB, kRouterMac, kIpB, kIpA, kIpProtoUdp, Udp(4000, 53))), 1u);
  auto out = Receive();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].TagVid(), 10);
  EXPECT_EQ(out[0].Dst(), kHostA);
}

TEST_F(RouterPortTest, UplinkInAndOut) {
  Configure();
  LearnHosts();
  // A host on the uplink asks for the router's uplink address: the request arrives through the uplink port (polled by
  // receive()), the reply leaves through it, untagged.
  ASSERT_TRUE(uplink_->inject(Arp(1, kHostUp, kIpUp, MacAddr{}, kGwUp, MacAddr::Broadcast())));
  std::vector<Bytes> sent;
  for (int i = 0; i < 1000 && sent.empty(); ++i) {
    EXPECT_TRUE(Receive().empty());  // nothing for the switch
    sent = UplinkSent();
    if (sent.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(LoadBe16(&sent[0][12]), kEtherTypeArp);
  EXPECT_EQ(MacAddr::From(&sent[0][0]), kHostUp);
  EXPECT_EQ(LoadBe16(&sent[0][14 + 6]), 2);
  EXPECT_EQ(port_->counters().rx_from_uplink, 1u);
  EXPECT_EQ(port_->counters().tx_to_uplink, 1u);

  // A -> the uplink host (neighbour known now): routed out of the uplink, untagged, TTL decremented.
  ASSERT_EQ(Send(10, Ip4(kHostA, kRouterMac, kIpA, kIpUp, kIpProtoIcmp, Echo(8, 9))), 1u);
  EXPECT_TRUE(Receive().empty());
  sent = UplinkSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(LoadBe16(&sent[0][12]), kEtherTypeIpv4);
  EXPECT_EQ(MacAddr::From(&sent[0][0]), kHostUp);
  EXPECT_EQ(MacAddr::From(&sent[0][6]), kRouterMac);
  EXPECT_EQ(sent[0][14 + 8], 63);
  EXPECT_EQ(port_->counters().tx_to_uplink, 2u);

  // The uplink host's reply comes back through the uplink and reaches A on VLAN 10 (tracked connection).
  Bytes reply = Echo(8, 9);
  reply[0] = 0;  // echo reply
  ASSERT_TRUE(uplink_->inject(Ip4(kHostUp, kRouterMac, kIpUp, kIpA, kIpProtoIcmp, reply)));
  std::vector<Out> out;
  for (int i = 0; i < 1000 && out.empty(); ++i) {
    out = Receive();
    if (out.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].TagVid(), 10);
  EXPECT_EQ(out[0].Dst(), kHostA);
}

TEST_F(RouterPortTest, UnroutedVlanAndNotConfigured) {
  // Before configure(): counted, nothing else.
  ASSERT_EQ(Send(10, Arp(1, kHostA, kIpA, MacAddr{}, kGw10, MacAddr::Broadcast())), 1u);
  EXPECT_EQ(port_->counters().not_configured, 1u);
  EXPECT_TRUE(Receive().empty());

  Configure();
  ASSERT_EQ(Send(30, Arp(1, kHostA, kIpA, MacAddr{}, Ip("10.0.30.1"), MacAddr::Broadcast())), 1u);
  EXPECT_EQ(port_->counters().unrouted_vlan, 1u);
  EXPECT_EQ(port_->counters().rx_from_switch, 0u);
  EXPECT_TRUE(Receive().empty());

  // A batch mixing VLANs: each run goes its own way.
  std::vector<Packet> pkts(3);
  std::vector<Bytes> bufs = {Arp(1, kHostA, kIpA, MacAddr{}, kGw10, MacAddr::Broadcast()),
                             Arp(1, kHostA, kIpA, MacAddr{}, kGw10, MacAddr::Broadcast()),
                             Arp(1, kHostB, kIpB, MacAddr{}, kGw20, MacAddr::Broadcast())};
  std::vector<Bytes> store;
  std::vector<TxItem> items;
  const uint16_t vlans[] = {10, 30, 20};
  for (size_t i = 0; i < 3; ++i) {
    store.emplace_back(kPacketHeadroom + bufs[i].size());
    std::memcpy(store[i].data() + kPacketHeadroom, bufs[i].data(), bufs[i].size());
  }
  for (size_t i = 0; i < 3; ++i) {
    pkts[i].data = store[i].data() + kPacketHeadroom;
    pkts[i].len = static_cast<uint32_t>(bufs[i].size());
    pkts[i].headroom = kPacketHeadroom;
    pkts[i].vlan = vlans[i];
    items.push_back(TxItem{&pkts[i], 0, 0});
  }
  EXPECT_EQ(port_->send(items), 3u);
  EXPECT_EQ(port_->counters().unrouted_vlan, 2u);
  auto out = Receive();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].TagVid(), 10);
  EXPECT_EQ(out[1].TagVid(), 20);
}

TEST_F(RouterPortTest, SlotExhaustionCountsNoBuffer) {
  Configure();
  LearnHosts();
  // Forwarded frames wait in their slots until receive(); send far more than there are slots without receiving.
  const size_t kFrames = 700;
  size_t accepted = 0;
  for (size_t i = 0; i < kFrames; i += kMaxBatch) {
    std::vector<Bytes> batch;
    for (size_t j = i; j < std::min(kFrames, i + kMaxBatch); ++j) {
      batch.push_back(Ip4(kHostA, kRouterMac, kIpA, kIpB, kIpProtoIcmp, Echo(8, 7, 32, static_cast<uint16_t>(j))));
    }
    accepted += Send(10, batch);
  }
  EXPECT_EQ(accepted, kFrames);  // the port takes everything (and drops what it cannot hold)
  const uint64_t no_buffer = port_->counters().no_buffer;
  EXPECT_GT(no_buffer, 0u);
  EXPECT_LT(no_buffer, kFrames);

  // Drain: every frame that got a slot comes out, tagged for VLAN 20, in bounded receive() calls.
  size_t got = 0;
  for (int i = 0; i < 100; ++i) {
    auto out = Receive();
    if (out.empty()) break;
    for (const auto& o : out) {
      EXPECT_EQ(o.TagVid(), 20);
      EXPECT_EQ(o.L3()[8], 63);
    }
    got += out.size();
  }
  EXPECT_EQ(got + no_buffer, kFrames);
  EXPECT_EQ(port_->counters().tx_to_switch, got + 2);  // + the two ARP replies

  // Slots come back: the port works normally afterwards.
  ASSERT_EQ(Send(10, Ip4(kHostA, kRouterMac, kIpA, kIpB, kIpProtoIcmp, Echo(8, 8))), 1u);
  EXPECT_EQ(Receive().size(), 1u);
  EXPECT_EQ(port_->counters().no_buffer, no_buffer);
}

TEST_F(RouterPortTest, ControlRunsOnTheReceivingThread) {
  Configure();
  EXPECT_TRUE(control_->attached());
  const std::thread::id data_plane = std::this_thread::get_id();
  std::atomic<bool> done{false};
  std::thread::id ran_on;
  size_t interfaces = 0;
  Status status = Error("not run");
  std::thread caller([&] {
    status = control_->call(
        [&](RouterPort& port) {
          ran_on = std::this_thread::get_id();
          interfaces = port.router()->config().interfaces.size();
        },
        10 * kSecond);
    done = true;
  });
  // The test thread is the data plane: it loops receive() (bounded) until the call went through.
  for (int i = 0; i < 10000 && !done; ++i) {
    Receive();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  caller.join();
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(ran_on, data_plane);
  EXPECT_EQ(interfaces, 3u);

  // Reconfiguring through the handle: atomic for the traffic.
  RouterConfig smaller = Config();
  smaller.interfaces.pop_back();  // no uplink
  done = false;
  std::thread reconf([&] {
    status = control_->call(
        [&](RouterPort& port) {
          RouterPortConfig c;
          c.router = smaller;
          Status s = port.configure(std::move(c));
          ASSERT_TRUE(s.ok()) << s.message();
        },
        10 * kSecond);
    done = true;
  });
  for (int i = 0; i < 10000 && !done; ++i) {
    Receive();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  reconf.join();
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(port_->router()->config().interfaces.size(), 2u);

  // Once the port is gone the handle says so, at once.
  port_.reset();
  EXPECT_FALSE(control_->attached());
  Status after = control_->call([](RouterPort&) { ADD_FAILURE() << "ran on a destroyed port"; });
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.message().find("not running"), std::string::npos) << after.message();
}

TEST_F(RouterPortTest, CallTimesOutWhenNobodyReceives) {
  Configure();
  // Nothing is on the data-plane thread: the call gives up after its timeout with a clear error.
  Status s = control_->call([](RouterPort&) {}, 50 * kMillisecond);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("did not answer"), std::string::npos) << s.message();
}

TEST_F(RouterPortTest, TimedOutCallNeverRunsLater) {
  Configure();
  // The request usually refers to the caller's stack: once call() gave up, the data plane must not run it.
  auto ran = std::make_shared<std::atomic<int>>(0);
  Status s = control_->call([ran](RouterPort&) { ++*ran; }, 20 * kMillisecond);
  ASSERT_FALSE(s.ok());
  for (int i = 0; i < 5; ++i) Receive();  // the data plane comes round at last
  EXPECT_EQ(*ran, 0);
  // The next request runs normally.
  std::atomic<bool> done{false};
  std::thread caller([&] {
    s = control_->call([ran](RouterPort&) { *ran += 10; }, 10 * kSecond);
    done = true;
  });
  for (int i = 0; i < 10000 && !done; ++i) {
    Receive();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  caller.join();
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(*ran, 10);
}

TEST_F(RouterPortTest, CallPendingWhenThePortIsDestroyedFails) {
  Configure();
  std::atomic<bool> done{false};
  Status status;
  std::thread caller([&] {
    status = control_->call([](RouterPort&) {}, 10 * kSecond);
    done = true;
  });
  // Give the caller a chance to queue its request (either way the call must fail, neither hang nor crash).
  for (int i = 0; i < 50 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  port_.reset();
  caller.join();
  ASSERT_FALSE(status.ok());
  // Either it was queued and dropped, or it came too late: both say so.
  EXPECT_TRUE(status.message().find("stopped") != std::string::npos ||
              status.message().find("not running") != std::string::npos)
      << status.message();
}

}  // namespace
}  // namespace cloudlet::router

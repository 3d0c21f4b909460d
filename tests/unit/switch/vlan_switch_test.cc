// Tests for switch/vlan_switch.h: the access/trunk/native/QinQ ingress and egress matrix, learning, aging, limits,
// moves, flooding scope, drop counters by reason, port changes. Frames are checked as they would go on the wire.
#include "switch/vlan_switch.h"

#include <gtest/gtest.h>

#include <cctype>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "net/ethernet.h"

namespace cloudlet {
namespace {

using Bytes = std::vector<uint8_t>;

MacAddr Mac(uint64_t n) { return MacAddr::FromU64(0x020000000000ULL | n); }  // locally administered unicast
const MacAddr kA = Mac(0xa);
const MacAddr kB = Mac(0xb);
const MacAddr kC = Mac(0xc);

Bytes Frame(const MacAddr& dst, const MacAddr& src, const std::vector<VlanTag>& tags = {},
            uint16_t ethertype = kEtherTypeIpv4, size_t payload = 46) {
  Bytes f(2 * kEthAddrLen);
  std::copy(dst.bytes.begin(), dst.bytes.end(), f.begin());
  std::copy(src.bytes.begin(), src.bytes.end(), f.begin() + kEthAddrLen);
  for (const VlanTag& t : tags) {
    f.push_back(t.tpid >> 8), f.push_back(t.tpid & 0xff);
    f.push_back(t.tci >> 8), f.push_back(t.tci & 0xff);
  }
  f.push_back(ethertype >> 8), f.push_back(ethertype & 0xff);
  for (size_t i = 0; i < payload; ++i) f.push_back(static_cast<uint8_t>(i * 7));
  return f;
}
VlanTag Q(uint16_t vid, uint8_t pcp = 0) { return {kTpid8021Q, MakeTci(pcp, false, vid)}; }
VlanTag S(uint16_t vid, uint8_t pcp = 0) { return {kTpid8021AD, MakeTci(pcp, false, vid)}; }

// What a port would put on the wire for one TxItem.
Bytes Wire(const TxItem& item) {
  const Packet& p = *item.pkt;
  if (item.tpid == 0) return Bytes(p.data, p.data + p.len);
  Bytes w(16);
  EXPECT_TRUE(WriteTaggedHeader(p, item.tpid, item.tci, w.data()));
  w.insert(w.end(), p.data + 12, p.data + p.len);
  return w;
}

using Sent = std::map<PortId, std::vector<Bytes>>;

class SwitchHarness {
 public:
  explicit SwitchHarness(SwitchConfig config = {}) : sw(std::move(config)), out(std::make_unique<EgressQueues>()) {}

  PortId Add(PortConfig c) {
    if (c.name.empty()) c.name = "p" + std::to_string(next_name_++);
    auto id = sw.add_port(c);
    EXPECT_TRUE(id.ok()) << id.error().message();
    return id.ok() ? *id : 0;
  }
  PortId Access(uint16_t vlan, uint32_t max_macs = 1024) {
    PortConfig c;
    c.vlan = vlan;
    c.max_macs = max_macs;
    return Add(c);
  }
  PortId Trunk(std::vector<uint16_t> vlans, uint16_t native = 0, uint16_t tpid = kTpid8021Q) {
    PortConfig c;
    c.mode = PortMode::kTrunk;
    for (uint16_t v : vlans) c.trunk_vlans.set(v);
    c.native_vlan = native;
    c.tpid = tpid;
    return Add(c);
  }
  PortId Tunnel(uint16_t service_vlan) {
    PortConfig c;
    c.mode = PortMode::kDot1qTunnel;
    c.vlan = service_vlan;
    return Add(c);
  }

  // Runs one batch received on `in`; returns each egress port's frames in wire form. Everything queued is reported
  // to account_tx as sent. Buffers stay alive for the harness's lifetime.
  Sent Send(PortId in, const std::vector<Bytes>& frames, Nanos now = 0) {
    std::vector<Packet*> batch;
    for (const Bytes& f : frames) {
      Buffer& b = buffers_.emplace_back();
      b.bytes.resize(kPacketHeadroom + f.size());
      std::copy(f.begin(), f.end(), b.bytes.begin() + kPacketHeadroom);
      b.pkt.data = b.bytes.data() + kPacketHeadroom;
      b.pkt.len = static_cast<uint32_t>(f.size());
      b.pkt.headroom = kPacketHeadroom;
      batch.push_back(&b.pkt);
    }
    out->clear();
    sw.process(in, batch.data(), batch.size(), now, *out);
    Sent sent;
    for (uint64_t m = out->pending_ports(); m != 0; m &= m - 1) {
      const PortId p = static_cast<PortId>(__builtin_ctzll(m));
      auto items = out->items(p);
      if (items.empty()) continue;
      std::set<const Packet*> unique;
      for (const TxItem& item : items) {
        EXPECT_TRUE(unique.insert(item.pkt).second) << "a frame queued twice for port " << p;
        sent[p].push_back(Wire(item));
      }
      sw.account_tx(p, items, items.size());
      EXPECT_NE(p, in) << "never out of the ingress port";
    }
    if (buffers_.size() > 4096) buffers_.clear();
    return sent;
  }
  Sent Send(PortId in, const Bytes& frame, Nanos now = 0) { return Send(in, std::vector<Bytes>{frame}, now); }

  // Sweeps the whole MAC table.
  void AgeAll(Nanos now) {
    for (int i = 0; i < 1100; ++i) sw.age(now);
  }

  uint64_t Drops(PortId port, DropReason r) const { return sw.port_counters(port).drop(r); }

  VlanSwitch sw;
  std::unique_ptr<EgressQueues> out;

 private:
  struct Buffer {
    Bytes bytes;
    Packet pkt;
  };
  std::deque<Buffer> buffers_;
  int next_name_ = 0;
};

std::set<PortId> Ports(const Sent& s) {
  std::set<PortId> ports;
  for (const auto& [p, frames] : s) ports.insert(p);
  return ports;
}

TEST(VlanSwitchTest, LearnsThenForwardsKnownUnicast) {
  SwitchHarness h;
  PortId a = h.Access(10), b = h.Access(10), c = h.Access(10), other = h.Access(20);
  const Bytes a_to_b = Frame(kB, kA);
  Sent s = h.Send(a, a_to_b);
  EXPECT_EQ(Ports(s), (std::set<PortId>{b, c})) << "unknown unicast floods within VLAN 10 only";
  EXPECT_EQ(s[b], std::vector<Bytes>{a_to_b}) << "access to access: frame unchanged";
  s = h.Send(b, Frame(kA, kB));
  EXPECT_EQ(Ports(s), std::set<PortId>{a});
  s = h.Send(a, a_to_b);
  EXPECT_EQ(Ports(s), std::set<PortId>{b});
  EXPECT_EQ(h.sw.mac_count(), 2u);
  EXPECT_EQ(h.sw.port_counters(a).macs, 1u);
  EXPECT_EQ(h.sw.port_counters(other).rx_packets, 0u);
  EXPECT_EQ(h.sw.vlan_counters(10).packets, 3u);
  EXPECT_EQ(h.sw.vlan_counters(10).flooded, 1u);
}

TEST(VlanSwitchTest, FloodsOnlyToTheVlansPortsNeverIngress) {
  SwitchHarness h;
  PortId a1 = h.Access(10), a2 = h.Access(10), a20 = h.Access(20);
  PortId t = h.Trunk({10, 20}), t30 = h.Trunk({30}), tun = h.Tunnel(10);
  for (const MacAddr& dst : {MacAddr::Broadcast(), *MacAddr::Parse("01:00:5e:00:00:fb"), kC}) {
    Sent s = h.Send(a1, Frame(dst, kA));
    EXPECT_EQ(Ports(s), (std::set<PortId>{a2, t, tun})) << dst.to_string();
    EXPECT_EQ(s[t], std::vector<Bytes>{Frame(dst, kA, {Q(10)})});
    EXPECT_EQ(s[a2], std::vector<Bytes>{Frame(dst, kA)});
  }
  (void)a20;
  (void)t30;
  Sent s = h.Send(t, Frame(MacAddr::Broadcast(), kB, {Q(20, 3)}));
  EXPECT_EQ(Ports(s), std::set<PortId>{a20});
  EXPECT_EQ(s[a20], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kB)}) << "tag popped toward the access port";
  EXPECT_EQ(h.sw.vlan_counters(10).flooded, 3u);
}

TEST(VlanSwitchTest, AccessToTrunkPushesTagAndKeepsPriority) {
  SwitchHarness h;
  PortId a = h.Access(10), b = h.Access(10), t = h.Trunk({10, 20}), t2 = h.Trunk({10});
  Sent s = h.Send(a, Frame(MacAddr::Broadcast(), kA));
  EXPECT_EQ(s[t], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kA, {Q(10, 0)})});
  // Priority-tagged (VID 0) on an access port: accepted, PCP carried to the trunk tag, tag dropped toward access.
  s = h.Send(a, Frame(MacAddr::Broadcast(), kA, {Q(0, 5)}));
  EXPECT_EQ(s[t], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kA, {Q(10, 5)})});
  EXPECT_EQ(s[b], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kA)});
  // Trunk to trunk keeps PCP; trunk to access pops the tag.
  s = h.Send(t, Frame(MacAddr::Broadcast(), kB, {Q(10, 6)}));
  EXPECT_EQ(s[t2], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kB, {Q(10, 6)})});
  EXPECT_EQ(s[a], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kB)});
  // Known unicast trunk -> access.
  s = h.Send(t, Frame(kA, kB, {Q(10, 7)}));
  EXPECT_EQ(Ports(s), std::set<PortId>{a});
  EXPECT_EQ(s[a], std::vector<Bytes>{Frame(kA, kB)});
  s = h.Send(a, Frame(kB, kA));
  EXPECT_EQ(Ports(s), std::set<PortId>{t});
  EXPECT_EQ(s[t], std::vector<Bytes>{Frame(kB, kA, {Q(10)})});
}

TEST(VlanSwitchTest, NativeVlanIsUntaggedOnTheTrunk) {
  SwitchHarness h;
  PortId t = h.Trunk({20}, /*native=*/10), a10 = h.Access(10), a20 = h.Access(20), t2 = h.Trunk({10, 20});
  Sent s = h.Send(t, Frame(MacAddr::Broadcast(), kA));
  EXPECT_EQ(Ports(s), (std::set<PortId>{a10, t2}));
  EXPECT_EQ(s[t2], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kA, {Q(10)})});
  s = h.Send(a10, Frame(MacAddr::Broadcast(), kB));
  EXPECT_EQ(s[t], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kB)}) << "native VLAN leaves untagged";
  s = h.Send(a20, Frame(MacAddr::Broadcast(), kC));
  EXPECT_EQ(s[t], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kC, {Q(20)})});
  // Tagged with the native VID, or priority-tagged: also the native VLAN.
  s = h.Send(t, Frame(MacAddr::Broadcast(), Mac(0xd), {Q(10, 2)}));
  EXPECT_EQ(s[t2], std::vector<Bytes>{Frame(MacAddr::Broadcast(), Mac(0xd), {Q(10, 2)})});
  s = h.Send(t, Frame(MacAddr::Broadcast(), Mac(0xe), {Q(0, 4)}));
  EXPECT_EQ(s[t2], std::vector<Bytes>{Frame(MacAddr::Broadcast(), Mac(0xe), {Q(10, 4)})});
  EXPECT_EQ(s[a10], std::vector<Bytes>{Frame(MacAddr::Broadcast(), Mac(0xe))});
  EXPECT_EQ(h.sw.port_counters(t).total_drops(), 0u);
}

TEST(VlanSwitchTest, IngressDropsByReason) {
  SwitchHarness h;
  PortId a = h.Access(10), t = h.Trunk({10, 20}), b = h.Access(10);
  (void)b;
  EXPECT_TRUE(h.Send(a, Frame(MacAddr::Broadcast(), kA, {Q(10)})).empty());
  EXPECT_TRUE(h.Send(a, Frame(MacAddr::Broadcast(), kA, {S(10)})).empty());
  EXPECT_TRUE(h.Send(a, Frame(MacAddr::Broadcast(), kA, {S(0)})).empty()) << "only 802.1Q priority tags";
  EXPECT_EQ(h.Drops(a, DropReason::kTaggedOnAccess), 3u);

  EXPECT_TRUE(h.Send(t, Frame(MacAddr::Broadcast(), kA, {Q(30)})).empty());
  EXPECT_TRUE(h.Send(t, Frame(MacAddr::Broadcast(), kA, {Q(4095)})).empty());
  EXPECT_EQ(h.Drops(t, DropReason::kVlanNotAllowed), 2u);
  EXPECT_EQ(h.sw.vlan_counters(30).drops, 1u);
  EXPECT_TRUE(h.Send(t, Frame(MacAddr::Broadcast(), kA)).empty());
  EXPECT_TRUE(h.Send(t, Frame(MacAddr::Broadcast(), kA, {Q(0, 3)})).empty());
  EXPECT_EQ(h.Drops(t, DropReason::kUntaggedWithoutNative), 2u);

  EXPECT_TRUE(h.Send(a, Frame(kB, *MacAddr::Parse("01:00:5e:00:00:01"))).empty());
  EXPECT_TRUE(h.Send(a, Frame(kB, MacAddr::Broadcast())).empty());
  EXPECT_TRUE(h.Send(a, Frame(kB, MacAddr{})).empty());
  EXPECT_EQ(h.Drops(a, DropReason::kInvalidSource), 3u);
  EXPECT_EQ(h.sw.mac_count(), 0u) << "nothing learned from dropped frames";

  // Truncated frames: every length below a full header, and tags cut short.
  const Bytes tagged = Frame(MacAddr::Broadcast(), kA, {Q(10)}, kEtherTypeIpv4, 0);
  std::vector<Bytes> runts;
  for (size_t len = 0; len < 18; ++len) runts.emplace_back(tagged.begin(), tagged.begin() + len);
  EXPECT_TRUE(h.Send(t, runts).empty());
  EXPECT_EQ(h.Drops(t, DropReason::kMalformed), 18u);
  EXPECT_EQ(h.sw.port_counters(t).rx_packets, 4u + 18u);
  // A bare 14-byte untagged frame is fine.
  EXPECT_FALSE(h.Send(a, Frame(MacAddr::Broadcast(), kA, {}, kEtherTypeArp, 0)).empty());
}

TEST(VlanSwitchTest, ForeignTpidOnATrunkIsUntaggedTraffic) {
  SwitchHarness h;
  PortId s_trunk = h.Trunk({100}, 0, kTpid8021AD), c_trunk = h.Trunk({100}, /*native=*/5), a5 = h.Access(5);
  // A C-tagged frame on an 802.1ad trunk is untagged at the S-VLAN layer: no native VLAN, so it drops.
  EXPECT_TRUE(h.Send(s_trunk, Frame(MacAddr::Broadcast(), kA, {Q(100)})).empty());
  EXPECT_EQ(h.Drops(s_trunk, DropReason::kUntaggedWithoutNative), 1u);
  // An S-tagged frame on an 802.1Q trunk with a native VLAN joins it, S-tag kept as payload.
  Sent s = h.Send(c_trunk, Frame(MacAddr::Broadcast(), kA, {S(100)}));
  EXPECT_EQ(Ports(s), std::set<PortId>{a5});
  EXPECT_EQ(s[a5], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kA, {S(100)})});
}

TEST(VlanSwitchTest, QinQTunnelAndServiceTrunk) {
  SwitchHarness h;
  PortId tun = h.Tunnel(100), tun2 = h.Tunnel(100), s_trunk = h.Trunk({100, 200}, 0, kTpid8021AD);
  PortId c_trunk = h.Trunk({100}), other = h.Tunnel(200);
  (void)other;
  // A C-tagged customer frame: S-tag pushed in front of the C-tag, PCP from the C-tag.
  const Bytes customer = Frame(MacAddr::Broadcast(), kA, {Q(42, 3)});
  Sent s = h.Send(tun, customer);
  EXPECT_EQ(Ports(s), (std::set<PortId>{tun2, s_trunk, c_trunk}));
  EXPECT_EQ(s[s_trunk], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kA, {S(100, 3), Q(42, 3)})});
  EXPECT_EQ(s[tun2], std::vector<Bytes>{customer}) << "tunnel to tunnel: customer frame untouched";
  EXPECT_EQ(s[c_trunk], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kA, {Q(100, 3), Q(42, 3)})});
  // Untagged customer frame.
  s = h.Send(tun, Frame(MacAddr::Broadcast(), kB));
  EXPECT_EQ(s[s_trunk], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kB, {S(100)})});
  // From the provider side: S-tag removed, customer C-tag delivered as it was; learned address is used.
  s = h.Send(s_trunk, Frame(kA, kC, {S(100, 1), Q(42, 3)}));
  EXPECT_EQ(Ports(s), std::set<PortId>{tun});
  EXPECT_EQ(s[tun], std::vector<Bytes>{Frame(kA, kC, {Q(42, 3)})});
  // S-VLAN 200 reaches only its own tunnel port.
  s = h.Send(s_trunk, Frame(MacAddr::Broadcast(), kC, {S(200), Q(7)}));
  EXPECT_EQ(Ports(s), std::set<PortId>{other});
  EXPECT_EQ(s[other], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kC, {Q(7)})});
}

TEST(VlanSwitchTest, SamePortDestinationDrops) {
  SwitchHarness h;
  PortId a = h.Access(10), b = h.Access(10);
  (void)b;
  h.Send(a, Frame(MacAddr::Broadcast(), kA));
  EXPECT_TRUE(h.Send(a, Frame(kA, kC)).empty()) << "kA and kC both behind port a";
  EXPECT_EQ(h.Drops(a, DropReason::kSamePort), 1u);
  EXPECT_EQ(h.sw.vlan_counters(10).drops, 1u);
}

TEST(VlanSwitchTest, MacMoveUpdatesEntryAndCounts) {
  SwitchHarness h;
  PortId a = h.Access(10), b = h.Access(10), c = h.Access(10);
  h.Send(a, Frame(MacAddr::Broadcast(), kA));
  EXPECT_EQ(h.sw.port_counters(a).macs, 1u);
  h.Send(b, Frame(MacAddr::Broadcast(), kA));  // kA now behind b
  EXPECT_EQ(h.sw.port_counters(b).mac_moves, 1u);
  EXPECT_EQ(h.sw.port_counters(a).macs, 0u);
  EXPECT_EQ(h.sw.port_counters(b).macs, 1u);
  EXPECT_EQ(h.sw.mac_count(), 1u);
  Sent s = h.Send(c, Frame(kA, kC));
  EXPECT_EQ(Ports(s), std::set<PortId>{b});
}

TEST(VlanSwitchTest, RepliesLaterInTheSameBatchAreKnownUnicast) {
  SwitchHarness h;
  PortId a = h.Access(10), b = h.Access(10), c = h.Access(10);
  h.Send(b, Frame(MacAddr::Broadcast(), kB));
  Sent s = h.Send(a, std::vector<Bytes>{Frame(kB, kA), Frame(kB, kC), Frame(kB, kA)});
  EXPECT_EQ(s[b].size(), 3u);
  EXPECT_EQ(s.count(c), 0u);
  s = h.Send(c, std::vector<Bytes>{Frame(MacAddr::Broadcast(), Mac(0x77)), Frame(kA, Mac(0x77))});
  EXPECT_EQ(s[a].size(), 2u);
  EXPECT_EQ(s[b].size(), 1u);
}

TEST(VlanSwitchTest, AgingForgetsSilentAddresses) {
  FakeClock clock(1000 * kSecond);
  SwitchHarness h;  // default aging: 300 s
  ASSERT_EQ(h.sw.config().mac_aging, 300 * kSecond);
  PortId a = h.Access(10), b = h.Access(10), c = h.Access(10);
  h.Send(a, Frame(MacAddr::Broadcast(), kA), clock.now());
  clock.advance(299 * kSecond);
  h.AgeAll(clock.now());
  EXPECT_EQ(h.sw.mac_count(), 1u);
  EXPECT_EQ(Ports(h.Send(b, Frame(kA, kB), clock.now())), std::set<PortId>{a});
  // kA silent for 301 s (kB refreshed itself above).
  clock.advance(2 * kSecond);
  EXPECT_EQ(Ports(h.Send(b, Frame(kA, kB), clock.now())), (std::set<PortId>{a, c})) << "expired: flood again";
  auto entries = h.sw.mac_entries(clock.now());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].mac, kB.bytes);
  EXPECT_EQ(entries[0].port, b);
  EXPECT_EQ(entries[0].age, 0);
  h.AgeAll(clock.now());
  EXPECT_EQ(h.sw.mac_count(), 1u);
  EXPECT_EQ(h.sw.port_counters(a).macs, 0u);
  clock.advance(400 * kSecond);
  h.AgeAll(clock.now());
  EXPECT_EQ(h.sw.mac_count(), 0u);
}

TEST(VlanSwitchTest, ShorterAgingFromConfig) {
  SwitchConfig cfg;
  cfg.mac_aging = 10 * kSecond;
  SwitchHarness h(cfg);
  PortId a = h.Access(10), b = h.Access(10);
  (void)b;
  h.Send(a, Frame(MacAddr::Broadcast(), kA), 0);
  h.AgeAll(9 * kSecond);
  EXPECT_EQ(h.sw.mac_count(), 1u);
  h.AgeAll(10 * kSecond);
  EXPECT_EQ(h.sw.mac_count(), 0u);
}

// MAC flood from one port: the table stops growing at the port's limit, the flood is still forwarded, and an
// established flow between two other ports stays known unicast.
TEST(VlanSwitchTest, PerPortLimitContainsMacFlood) {
  SwitchHarness h;
  PortId victim = h.Access(10), server = h.Access(10), attacker = h.Access(10, /*max_macs=*/16);
  h.Send(victim, Frame(MacAddr::Broadcast(), kA));
  h.Send(server, Frame(MacAddr::Broadcast(), kB));
  std::mt19937_64 rng(7);
  size_t forwarded = 0;
  for (int batch = 0; batch < 100; ++batch) {
    std::vector<Bytes> frames;
    for (int i = 0; i < 50; ++i) frames.push_back(Frame(Mac(rng() & 0xffffff), Mac(0x1000000 + (rng() & 0xffffff))));
    Sent s = h.Send(attacker, frames, batch * kMillisecond);
    forwarded += s[victim].size();
  }
  EXPECT_EQ(h.sw.port_counters(attacker).macs, 16u);
  EXPECT_EQ(h.sw.mac_count(), 18u);
  EXPECT_EQ(h.sw.port_counters(attacker).learn_limit_hits, 5000u - 16u);
  EXPECT_EQ(forwarded, 5000u) << "unlearned sources are still forwarded (flooded)";
  Sent s = h.Send(victim, Frame(kB, kA), kSecond);
  EXPECT_EQ(Ports(s), std::set<PortId>{server});
  s = h.Send(server, Frame(kA, kB), kSecond);
  EXPECT_EQ(Ports(s), std::set<PortId>{victim});
}

TEST(VlanSwitchTest, SwitchLimitContainsMacFlood) {
  SwitchConfig cfg;
  cfg.max_macs = 32;
  SwitchHarness h(cfg);
  PortId victim = h.Access(10), server = h.Access(10), attacker = h.Trunk({10, 20, 30});
  h.Send(victim, Frame(MacAddr::Broadcast(), kA));
  h.Send(server, Frame(MacAddr::Broadcast(), kB));
  std::mt19937_64 rng(9);
  for (int batch = 0; batch < 40; ++batch) {
    std::vector<Bytes> frames;
    for (int i = 0; i < 64; ++i)
      frames.push_back(Frame(MacAddr::Broadcast(), Mac(0x1000000 + (rng() & 0xffffff)), {Q(10 + 10 * (i % 3))}));
    h.Send(attacker, frames);
  }
  EXPECT_EQ(h.sw.mac_count(), 32u);
  EXPECT_EQ(h.sw.port_counters(attacker).learn_limit_hits, 40u * 64u - 30u);
  EXPECT_EQ(Ports(h.Send(victim, Frame(kB, kA))), std::set<PortId>{server});
  // Raising the limit beyond what the table was sized for keeps every entry.
  cfg.max_macs = 100000;
  h.sw.set_config(cfg);
  EXPECT_EQ(h.sw.mac_count(), 32u);
  EXPECT_EQ(Ports(h.Send(server, Frame(kA, kB))), std::set<PortId>{victim});
  h.Send(attacker, Frame(MacAddr::Broadcast(), Mac(0x5555), {Q(20)}));
  EXPECT_EQ(h.sw.mac_count(), 33u);
}

TEST(VlanSwitchTest, RemovePortForgetsItsAddressesAndFreesItsId) {
  SwitchHarness h;
  PortId a = h.Access(10), b = h.Access(10), c = h.Access(10);
  h.Send(a, Frame(MacAddr::Broadcast(), kA));
  h.Send(b, Frame(MacAddr::Broadcast(), kB));
  h.sw.remove_port(a);
  EXPECT_FALSE(h.sw.has_port(a));
  EXPECT_EQ(h.sw.mac_count(), 1u);
  EXPECT_EQ(Ports(h.Send(b, Frame(kA, kB))), std::set<PortId>{c}) << "removed port gets nothing, kA floods";
  EXPECT_TRUE(h.Send(a, Frame(kB, kA)).empty()) << "frames for a removed port are ignored";
  PortId again = h.Access(20);
  EXPECT_EQ(again, a) << "lowest free id is reused";
  EXPECT_EQ(h.sw.port_counters(again).rx_packets, 0u) << "fresh counters";
  EXPECT_EQ(Ports(h.Send(b, Frame(MacAddr::Broadcast(), kB))), std::set<PortId>{c});
}

TEST(VlanSwitchTest, UpdatePortRederivesMembership) {
  SwitchHarness h;
  PortId a = h.Access(10), b = h.Access(10), c20 = h.Access(20);
  h.Send(a, Frame(MacAddr::Broadcast(), kA));
  PortConfig cfg = h.sw.port_config(a);
  cfg.max_macs = 5;  // no VLAN change: addresses stay
  ASSERT_TRUE(h.sw.update_port(a, cfg).ok());
  EXPECT_EQ(h.sw.mac_count(), 1u);
  cfg.vlan = 20;
  ASSERT_TRUE(h.sw.update_port(a, cfg).ok());
  EXPECT_EQ(h.sw.mac_count(), 0u) << "VLAN change flushes the port's addresses";
  EXPECT_EQ(Ports(h.Send(a, Frame(MacAddr::Broadcast(), kA))), std::set<PortId>{c20});
  EXPECT_EQ(Ports(h.Send(b, Frame(MacAddr::Broadcast(), kB))), std::set<PortId>{});
  // Access -> trunk.
  cfg.mode = PortMode::kTrunk;
  cfg.trunk_vlans.set(10);
  ASSERT_TRUE(h.sw.update_port(a, cfg).ok());
  Sent s = h.Send(b, Frame(MacAddr::Broadcast(), kB));
  EXPECT_EQ(s[a], std::vector<Bytes>{Frame(MacAddr::Broadcast(), kB, {Q(10)})});
  EXPECT_FALSE(h.sw.update_port(40, cfg).ok());
}

TEST(VlanSwitchTest, GsoFrameTagPopShiftsVnetOffsets) {
  SwitchHarness h;
  PortId t = h.Trunk({10}), a = h.Access(10);
  Bytes big = Frame(MacAddr::Broadcast(), kA, {Q(10, 5)}, kEtherTypeIpv4, 65536 - 18);
  // Through the harness path, but set the vnet header by hand: build the batch directly.
  std::vector<uint8_t> buf(kPacketHeadroom + big.size());
  std::copy(big.begin(), big.end(), buf.begin() + kPacketHeadroom);
  Packet pkt;
  pkt.data = buf.data() + kPacketHeadroom;
  pkt.len = static_cast<uint32_t>(big.size());
  pkt.headroom = kPacketHeadroom;
  pkt.vnet.flags = VnetHdr::kFlagNeedsCsum;
  pkt.vnet.gso_type = VnetHdr::kGsoTcpV4;
  pkt.vnet.gso_size = 1448;
  pkt.vnet.csum_start = 18 + 20;
  pkt.vnet.csum_offset = 16;
  pkt.vnet.hdr_len = 18 + 40;
  Packet* batch[] = {&pkt};
  EgressQueues& out = *h.out;
  out.clear();
  h.sw.process(t, batch, 1, 0, out);
  auto items = out.items(a);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].tpid, 0);
  EXPECT_EQ(pkt.len, 65536u - 4) << "tag popped";
  EXPECT_EQ(pkt.vlan, 10);
  EXPECT_EQ(pkt.pcp, 5);
  EXPECT_EQ(pkt.vnet.csum_start, 34);
  EXPECT_EQ(pkt.vnet.hdr_len, 54);
  EXPECT_EQ(pkt.vnet.gso_size, 1448);
  EXPECT_EQ(Wire(items[0]), Frame(MacAddr::Broadcast(), kA, {}, kEtherTypeIpv4, 65536 - 18));
  h.sw.account_tx(a, items, 1);
  EXPECT_EQ(h.sw.port_counters(a).tx_bytes, 65536u - 4);
  EXPECT_EQ(h.sw.port_counters(t).rx_bytes, 65536u);
}

TEST(VlanSwitchTest, TxAccountingAndFailures) {
  SwitchHarness h;
  PortId a = h.Access(10), t = h.Trunk({10});
  h.Send(a, Frame(MacAddr::Broadcast(), kA));
  EXPECT_EQ(h.sw.port_counters(t).tx_packets, 1u);
  EXPECT_EQ(h.sw.port_counters(t).tx_bytes, 64u) << "60 bytes + pushed tag";
  EXPECT_EQ(h.sw.port_counters(a).rx_bytes, 60u);
  // The port accepts only 1 of 3.
  Bytes f = Frame(MacAddr::Broadcast(), kA);
  std::vector<uint8_t> bufs[3];
  Packet pkts[3];
  Packet* batch[3];
  for (int i = 0; i < 3; ++i) {
    bufs[i].assign(kPacketHeadroom, 0);
    bufs[i].insert(bufs[i].end(), f.begin(), f.end());
    pkts[i].data = bufs[i].data() + kPacketHeadroom;
    pkts[i].len = 60;
    pkts[i].headroom = kPacketHeadroom;
    batch[i] = &pkts[i];
  }
  h.out->clear();
  h.sw.process(a, batch, 3, 0, *h.out);
  h.sw.account_tx(t, h.out->items(t), 1);
  EXPECT_EQ(h.sw.port_counters(t).tx_packets, 2u);
  EXPECT_EQ(h.Drops(t, DropReason::kTxFailed), 2u);
  EXPECT_EQ(h.sw.vlan_counters(10).drops, 2u);
  EXPECT_EQ(h.sw.vlan_counters(10).packets, 4u);
  EXPECT_EQ(h.sw.vlan_counters(10).bytes, 240u);
}

TEST(VlanSwitchTest, OversizedBatchCannotOverflowQueues) {
  SwitchHarness h;
  PortId a = h.Access(10), b = h.Access(10);
  std::vector<Bytes> frames(kMaxBatch + 10, Frame(MacAddr::Broadcast(), kA));
  Sent s = h.Send(a, frames);
  EXPECT_EQ(s[b].size(), kMaxBatch);
  EXPECT_EQ(h.Drops(a, DropReason::kQueueFull), 10u);
}

TEST(VlanSwitchTest, RejectsInvalidPortConfigs) {
  VlanSwitch sw(SwitchConfig{"br0"});
  PortConfig c;
  c.name = "x";
  c.vlan = 0;
  auto r = sw.add_port(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("vlan 0 out of range 1-4094"), std::string::npos) << r.error().message();
  c.vlan = 4095;
  EXPECT_FALSE(sw.add_port(c).ok());
  c = PortConfig{"t", PortMode::kTrunk};
  c.tpid = 0x9100;
  EXPECT_FALSE(sw.add_port(c).ok());
  c.tpid = kTpid8021Q;
  c.trunk_vlans.set(4095);
  EXPECT_FALSE(sw.add_port(c).ok());
  c.trunk_vlans.reset();
  c.native_vlan = 5000;
  EXPECT_FALSE(sw.add_port(c).ok());
  c.native_vlan = 0;
  ASSERT_TRUE(sw.add_port(c).ok());
  auto dup = sw.add_port(c);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message().find("already exists"), std::string::npos);
  for (size_t i = 1; i < kMaxPortsPerSwitch; ++i) {
    PortConfig p;
    p.name = "p" + std::to_string(i);
    ASSERT_TRUE(sw.add_port(p).ok()) << i;
  }
  PortConfig extra;
  extra.name = "extra";
  auto full = sw.add_port(extra);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.error().message().find("all 64 ports are in use"), std::string::npos);
  EXPECT_EQ(sw.port_config(63).name, "p63");
  EXPECT_EQ(sw.port_config(200).name, "") << "unknown ids are harmless";
}

TEST(VlanSwitchTest, DropReasonNamesAreDistinctSnakeCase) {
  std::set<std::string> names;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    std::string n = DropReasonName(static_cast<DropReason>(i));
    EXPECT_TRUE(names.insert(n).second) << n;
    for (char ch : n) EXPECT_TRUE(std::islower(static_cast<unsigned char>(ch)) || ch == '_') << n;
  }
  EXPECT_STREQ(DropReasonName(DropReason::kUntaggedWithoutNative), "untagged_without_native");
  EXPECT_STREQ(DropReasonName(DropReason::kSamePort), "same_port");
}

TEST(VlanSwitchTest, StatusViews) {
  SwitchHarness h;
  PortId a = h.Access(10), t = h.Trunk({10, 30});
  h.Send(a, Frame(MacAddr::Broadcast(), kB), 5 * kSecond);
  h.Send(t, Frame(MacAddr::Broadcast(), kA, {Q(30)}), 6 * kSecond);
  h.Send(t, Frame(MacAddr::Broadcast(), kA, {Q(10)}), 7 * kSecond);
  EXPECT_EQ(h.sw.active_vlans(), (std::vector<uint16_t>{10, 30}));
  auto entries = h.sw.mac_entries(8 * kSecond);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].vlan, 10);
  EXPECT_EQ(entries[0].mac, kA.bytes);
  EXPECT_EQ(entries[0].port, t);
  EXPECT_EQ(entries[0].age, kSecond);
  EXPECT_EQ(entries[1].mac, kB.bytes);
  EXPECT_EQ(entries[2].vlan, 30);
  EXPECT_EQ(entries[2].age, 2 * kSecond);
}

}  // namespace
}  // namespace cloudlet

// Two Devices joined by an in-memory network: handshakes, staging, data both ways, roaming, cryptokey routing,
// replay, wrong keys, cookies under load, rekey and keepalive timers, and reconfiguration.
#include "vpn/device.h"

#include <gtest/gtest.h>

#include <random>

#include "identity_fixture.h"

namespace cloudlet::vpn {
namespace {

constexpr int64_t kWallStart = 1'700'000'000LL * kSecond;

struct Datagram {
  UdpEndpoint to;
  std::vector<uint8_t> bytes;
};

struct Net : DeviceSink {
  std::vector<Datagram> sent;
  void SendDatagram(const UdpEndpoint& to, ByteView bytes) override {
    sent.push_back({to, std::vector<uint8_t>(bytes.begin(), bytes.end())});
  }
};

UdpEndpoint Ep(uint8_t last, uint16_t port) { return {IpAddress::V4(192, 0, 2, last), port}; }

// An IPv4/UDP packet from src to dst with `payload_len` bytes of a recognisable payload.
std::vector<uint8_t> Ipv4Packet(IpAddress src, IpAddress dst, size_t payload_len, uint8_t fill = 0x5a) {
  const size_t total = 20 + 8 + payload_len;
  std::vector<uint8_t> p(total, fill);
  p[0] = 0x45;
  p[1] = 0;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[8] = 64;
  p[9] = 17;
  std::memcpy(&p[12], src.bytes.data(), 4);
  std::memcpy(&p[16], dst.bytes.data(), 4);
  return p;
}

class Node {
 public:
  Node(uint8_t last, uint16_t port, const TimerDurations& timers = {})
      : addr(Ep(last, port)), identity(MakeIdentity()) {
    DeviceOptions options;
    options.timers = timers;
    options.random = [this] { return rng(); };
    options.unix_nanos = [this] { return kWallStart + now; };
    auto dev = Device::Create(std::move(options));
    EXPECT_TRUE(dev.ok());
    device = std::move(*dev);
    config.private_key = identity.private_key;
    config.listen_port = port;
    rng.seed(last);
  }

  void AddPeer(const Node& other, IpPrefix allowed, bool with_endpoint = true) {
    PeerConfig& pc = config.peers[other.identity.public_key];
    pc.allowed_ips.insert(allowed);
    if (with_endpoint) pc.endpoint = other.addr;
    Sync();
  }
  void Sync() { device->Sync(config, now, net); }

  // Seals an IP packet; returns the sealed message when the device says send.
  std::optional<Datagram> Send(const std::vector<uint8_t>& packet) {
    std::vector<uint8_t> buf(SealedSize(packet.size()));
    std::memcpy(buf.data() + kTransportHeaderSize, packet.data(), packet.size());
    const Sealed s = device->Seal(buf.data(), buf.size(), packet.size(), now, net);
    if (s.kind != Sealed::Kind::kSend) return std::nullopt;
    buf.resize(s.message_len);
    return Datagram{*device->endpoint(s.peer), buf};
  }

  UdpEndpoint addr;
  LocalIdentity identity;
  std::unique_ptr<Device> device;
  DeviceConfig config;
  Net net;
  Nanos now = kSecond;
  std::mt19937_64 rng;
  std::vector<std::vector<uint8_t>> delivered;
};

// Delivers every queued datagram between the two nodes (as from the sender's address) until both are quiet.
void Pump(Node& a, Node& b, int max_rounds = 8) {
  for (int round = 0; round < max_rounds && (!a.net.sent.empty() || !b.net.sent.empty()); ++round) {
    for (auto [from, to] : {std::pair<Node*, Node*>{&a, &b}, {&b, &a}}) {
      std::vector<Datagram> queue = std::move(from->net.sent);
      from->net.sent.clear();
      for (Datagram& d : queue) {
        if (!(d.to == to->addr)) continue;  // sent somewhere else: lost
        const Received r = to->device->Receive(d.bytes.data(), d.bytes.size(), from->addr, to->now, to->net);
        if (r.kind == Received::Kind::kDeliver) to->delivered.emplace_back(r.packet, r.packet + r.packet_len);
      }
    }
  }
}

Received Deliver(Node& to, const Node& from, Datagram& d) {  // the packet lives in d
  return to.device->Receive(d.bytes.data(), d.bytes.size(), from.addr, to.now, to.net);
}

uint64_t Drops(const Node& n, DeviceDrop reason) { return n.device->counters().drops[static_cast<size_t>(reason)]; }

const IpAddress kA = IpAddress::V4(10, 77, 0, 1);
const IpAddress kB = IpAddress::V4(10, 77, 0, 2);

class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a.AddPeer(b, {kB, 32});
    b.AddPeer(a, {kA, 32});
  }
  // A's first packet starts the handshake; returns once both have a session.
  void Connect() {
    EXPECT_FALSE(a.Send(Ipv4Packet(kA, kB, 100)).has_value());  // staged
    Pump(a, b);
    ASSERT_TRUE(a.device->has_session(b.identity.public_key));
    ASSERT_TRUE(b.device->has_session(a.identity.public_key));
  }
  Node a{1, 51820};
  Node b{2, 51821};
};

TEST_F(DeviceTest, FirstPacketIsStagedThenDeliveredAfterHandshake) {
  const auto packet = Ipv4Packet(kA, kB, 100);
  EXPECT_FALSE(a.Send(packet).has_value());
  EXPECT_EQ(a.device->staged_count(b.identity.public_key), 1u);
  ASSERT_EQ(a.net.sent.size(), 1u);  // the initiation
  EXPECT_EQ(a.net.sent[0].bytes.size(), kInitiationSize);
  Pump(a, b);
  ASSERT_EQ(b.delivered.size(), 1u);
  EXPECT_EQ(b.delivered[0], packet);
  EXPECT_EQ(a.device->staged_count(b.identity.public_key), 0u);
  EXPECT_EQ(a.device->counters().handshakes_completed, 1u);
  EXPECT_EQ(b.device->counters().handshakes_completed, 1u);  // confirmed by the staged packet

  // The responder answers directly now, no staging.
  const auto reply = Ipv4Packet(kB, kA, 1400, 0x33);
  auto sealed = b.Send(reply);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(sealed->to, a.addr);
  EXPECT_EQ(sealed->bytes.size(), SealedSize(reply.size()));
  const Received r = Deliver(a, b, *sealed);
  ASSERT_EQ(r.kind, Received::Kind::kDeliver);
  EXPECT_EQ(std::vector<uint8_t>(r.packet, r.packet + r.packet_len), reply);

  DeviceConfig stats = a.config;
  a.device->FillStats(stats);
  const PeerConfig& pb = stats.peers.at(b.identity.public_key);
  EXPECT_GT(pb.rx_bytes, 0u);
  EXPECT_GT(pb.tx_bytes, 0u);
  EXPECT_EQ(pb.last_handshake_unix_nanos, kWallStart + a.now);
}

TEST_F(DeviceTest, ResponderWithoutAnythingToSendIsConfirmedByKeepalive) {
  // A persistent keepalive with no session starts a handshake; A has no data, so a keepalive confirms it to B.
  a.config.peers.at(b.identity.public_key).persistent_keepalive_interval = 25;
  a.Sync();
  Pump(a, b);
  EXPECT_TRUE(a.device->has_session(b.identity.public_key));
  EXPECT_TRUE(b.device->has_session(a.identity.public_key));
  EXPECT_TRUE(b.delivered.empty());  // keepalives are consumed, not delivered
}

TEST_F(DeviceTest, EndpointRoamsToLatestAuthenticatedSource) {
  Connect();
  auto sealed = a.Send(Ipv4Packet(kA, kB, 10));
  ASSERT_TRUE(sealed.has_value());
  const UdpEndpoint roamed = Ep(99, 40000);
  ASSERT_EQ(b.device->Receive(sealed->bytes.data(), sealed->bytes.size(), roamed, b.now, b.net).kind,
            Received::Kind::kDeliver);
  DeviceConfig stats = b.config;
  b.device->FillStats(stats);
  EXPECT_EQ(stats.peers.at(a.identity.public_key).endpoint, roamed);
  auto back = b.Send(Ipv4Packet(kB, kA, 10));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->to, roamed);

  // A forged packet from elsewhere moves nothing.
  std::vector<uint8_t> forged = sealed->bytes;
  forged.back() ^= 1;
  EXPECT_EQ(b.device->Receive(forged.data(), forged.size(), Ep(66, 1), b.now, b.net).kind, Received::Kind::kDropped);
  b.device->FillStats(stats);
  EXPECT_EQ(stats.peers.at(a.identity.public_key).endpoint, roamed);
}

TEST_F(DeviceTest, ReplayedTransportIsDropped) {
  Connect();
  auto sealed = a.Send(Ipv4Packet(kA, kB, 50));
  ASSERT_TRUE(sealed.has_value());
  Datagram copy = *sealed;
  EXPECT_EQ(Deliver(b, a, *sealed).kind, Received::Kind::kDeliver);
  EXPECT_EQ(Deliver(b, a, copy).kind, Received::Kind::kDropped);
  EXPECT_EQ(b.device->counters().replayed, 1u);
}

TEST_F(DeviceTest, SourceOutsidePeersAllowedIpsIsDropped) {
  Connect();
  auto sealed = a.Send(Ipv4Packet(IpAddress::V4(10, 99, 0, 1), kB, 20));  // routed by destination, any source
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(Deliver(b, a, *sealed).kind, Received::Kind::kDropped);
  EXPECT_EQ(Drops(b, DeviceDrop::kSourceNotAllowed), 1u);
}

TEST_F(DeviceTest, DestinationWithoutPeerIsDropped) {
  EXPECT_FALSE(a.Send(Ipv4Packet(kA, IpAddress::V4(10, 1, 1, 1), 20)).has_value());
  EXPECT_EQ(Drops(a, DeviceDrop::kNoPeerForDestination), 1u);
  EXPECT_TRUE(a.net.sent.empty());
  std::vector<uint8_t> garbage(40, 0xff);
  EXPECT_FALSE(a.Send(garbage).has_value());
  EXPECT_EQ(Drops(a, DeviceDrop::kMalformedPacket), 1u);
}

TEST_F(DeviceTest, WrongPeerKeyNeverHandshakes) {
  Node c{3, 51822};  // B believes A's key is C's
  b.config.peers.clear();
  b.AddPeer(c, {kA, 32}, /*with_endpoint=*/false);
  EXPECT_FALSE(a.Send(Ipv4Packet(kA, kB, 10)).has_value());
  Pump(a, b);
  EXPECT_FALSE(a.device->has_session(b.identity.public_key));
  EXPECT_EQ(Drops(b, DeviceDrop::kHandshakeRejected), 1u);
  EXPECT_TRUE(b.net.sent.empty());
}

TEST_F(DeviceTest, MalformedDatagramsAreCountedNotFatal) {
  std::mt19937 gen(7);
  for (size_t len : {0, 1, 3, 4, 16, 31, 32, 91, 92, 93, 147, 148, 149, 500}) {
    std::vector<uint8_t> d(len);
    for (auto& x : d) x = static_cast<uint8_t>(gen());
    if (len >= 4) d[0] = static_cast<uint8_t>(1 + len % 4), d[1] = d[2] = d[3] = 0;
    EXPECT_EQ(b.device->Receive(d.data(), d.size(), a.addr, b.now, b.net).kind, Received::Kind::kDropped) << len;
  }
  EXPECT_TRUE(b.net.sent.empty());
}

TEST_F(DeviceTest, UnderLoadAnswersWithCookieThenAcceptsMac2) {
  // A's initiation, replayed many times within one second, puts B under load.
  EXPECT_FALSE(a.Send(Ipv4Packet(kA, kB, 10)).has_value());
  ASSERT_EQ(a.net.sent.size(), 1u);
  Datagram initiation = a.net.sent[0];
  a.net.sent.clear();
  for (uint32_t i = 0; i <= kUnderLoadHandshakesPerSecond; ++i) (void)Deliver(b, a, initiation);
  EXPECT_TRUE(b.device->under_load(b.now));
  EXPECT_GT(b.device->counters().cookie_replies_sent, 0u);
  ASSERT_FALSE(b.net.sent.empty());
  // The last cookie reply answers A's MAC1; A takes it and its retry carries MAC2.
  Datagram cookie = b.net.sent.back();
  EXPECT_EQ(cookie.bytes.size(), kCookieReplySize);
  b.net.sent.clear();
  EXPECT_EQ(Deliver(a, b, cookie).kind, Received::Kind::kConsumed);
  a.now += 6 * kSecond;  // retransmit timer (REKEY_TIMEOUT + jitter); B stays under load if flooded again
  b.now += 6 * kSecond;
  for (uint32_t i = 0; i <= kUnderLoadHandshakesPerSecond; ++i) (void)Deliver(b, a, initiation);
  b.net.sent.clear();
  const uint64_t cookies_before = b.device->counters().cookie_replies_sent;
  a.device->Tick(a.now, a.net);
  ASSERT_EQ(a.net.sent.size(), 1u);
  Pump(a, b);
  EXPECT_EQ(b.device->counters().cookie_replies_sent, cookies_before);  // MAC2 accepted: no new cookie needed
  EXPECT_TRUE(a.device->has_session(b.identity.public_key));
  EXPECT_EQ(b.delivered.size(), 1u);
}

TEST(DeviceTimers, RekeysAfterRekeyAfterTimeAndKeepsDelivering) {
  TimerDurations fast;
  fast.rekey_after_time = 3 * kSecond;
  Node a{1, 51820, fast};
  Node b{2, 51821, fast};
  a.AddPeer(b, {kB, 32});
  b.AddPeer(a, {kA, 32});
  EXPECT_FALSE(a.Send(Ipv4Packet(kA, kB, 10)).has_value());
  Pump(a, b);
  ASSERT_EQ(a.device->counters().handshakes_completed, 1u);
  size_t sent = 1;
  for (int i = 0; i < 10; ++i) {
    a.now += kSecond;
    b.now += kSecond;
    a.device->Tick(a.now, a.net);
    b.device->Tick(b.now, b.net);
    if (auto d = a.Send(Ipv4Packet(kA, kB, 10, static_cast<uint8_t>(i)))) a.net.sent.push_back(*d);
    ++sent;
    if (auto d = b.Send(Ipv4Packet(kB, kA, 10))) b.net.sent.push_back(*d);
    Pump(a, b);
  }
  EXPECT_GE(a.device->counters().handshakes_completed, 3u);
  EXPECT_EQ(b.delivered.size(), sent);  // nothing lost across the key rotations
}

TEST(DeviceTimers, PassiveKeepaliveAfterReceivingData) {
  Node a{1, 51820};
  Node b{2, 51821};
  a.AddPeer(b, {kB, 32});
  b.AddPeer(a, {kA, 32});
  EXPECT_FALSE(a.Send(Ipv4Packet(kA, kB, 10)).has_value());
  Pump(a, b);
  ASSERT_EQ(b.delivered.size(), 1u);
  b.now += kKeepaliveTimeout + kMillisecond;
  b.device->Tick(b.now, b.net);
  ASSERT_EQ(b.net.sent.size(), 1u);
  EXPECT_EQ(b.net.sent[0].bytes.size(), kTransportMinSize);  // an empty transport message
  EXPECT_EQ(Deliver(a, b, b.net.sent[0]).kind, Received::Kind::kConsumed);
}

TEST(DeviceTimers, KeysZeroedAfterThreeRejectPeriods) {
  Node a{1, 51820};
  Node b{2, 51821};
  a.AddPeer(b, {kB, 32});
  b.AddPeer(a, {kA, 32});
  EXPECT_FALSE(a.Send(Ipv4Packet(kA, kB, 10)).has_value());
  Pump(a, b);
  ASSERT_TRUE(a.device->has_session(b.identity.public_key));
  // Nobody talks; b is unreachable from now on.
  for (int i = 0; i < 600 && a.device->has_session(b.identity.public_key); ++i) {
    a.now += kSecond;
    a.device->Tick(a.now, a.net);
    a.net.sent.clear();
  }
  EXPECT_FALSE(a.device->has_session(b.identity.public_key));
  EXPECT_GE(a.now, kSecond + 3 * kRejectAfterTime);
}

TEST_F(DeviceTest, RemovingPeerAndChangingKeyDropSessions) {
  Connect();
  // A new private key for B voids B's sessions; A's old session then gets nothing through.
  b.config.private_key = MakeIdentity().private_key;
  b.Sync();
  EXPECT_FALSE(b.device->has_session(a.identity.public_key));
  auto sealed = a.Send(Ipv4Packet(kA, kB, 10));
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(Deliver(b, a, *sealed).kind, Received::Kind::kDropped);
  EXPECT_EQ(Drops(b, DeviceDrop::kUnknownIndex), 1u);

  a.config.peers.clear();
  a.Sync();
  EXPECT_EQ(a.device->peer_count(), 0u);
  EXPECT_FALSE(a.Send(Ipv4Packet(kA, kB, 10)).has_value());
  EXPECT_EQ(Drops(a, DeviceDrop::kNoPeerForDestination), 1u);
}

TEST_F(DeviceTest, StagingIsBounded) {
  for (size_t i = 0; i < kMaxStagedPackets + 10; ++i) EXPECT_FALSE(a.Send(Ipv4Packet(kA, kB, 10)).has_value());
  EXPECT_EQ(a.device->staged_count(b.identity.public_key), kMaxStagedPackets);
  EXPECT_EQ(Drops(a, DeviceDrop::kStagedOverflow), 10u);
  Pump(a, b, 4);
  EXPECT_EQ(b.delivered.size(), kMaxStagedPackets);
}

TEST(DeviceIp, ParsesHeadersStrictly) {
  auto p = Ipv4Packet(kA, kB, 10);
  auto info = ParseIpHeader(p.data(), p.size());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->total_len, p.size());
  EXPECT_EQ(info->source, kA);
  p.push_back(0);  // trailing padding is allowed, the header's length wins
  EXPECT_EQ(ParseIpHeader(p.data(), p.size())->total_len, p.size() - 1);
  p[3] += 2;  // claims more than there is
  EXPECT_FALSE(ParseIpHeader(p.data(), p.size()).has_value());
  p[0] = 0x44;  // IHL 4
  EXPECT_FALSE(ParseIpHeader(p.data(), p.size()).has_value());
  std::vector<uint8_t> v6(48, 0);
  v6[0] = 0x60;
  v6[5] = 8;
  v6[23] = 1;
  info = ParseIpHeader(v6.data(), v6.size());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->source.family, IpAddress::Family::kV6);
  EXPECT_EQ(info->source.bytes[15], 1);
  v6[5] = 9;
  EXPECT_FALSE(ParseIpHeader(v6.data(), v6.size()).has_value());
}

}  // namespace
}  // namespace cloudlet::vpn

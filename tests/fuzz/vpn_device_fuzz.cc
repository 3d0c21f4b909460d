// libFuzzer target for vpn::Device, the whole receive and send path of a WireGuard interface. Each input builds two
// devices with fixed keys, completes a real handshake between them (recording the initiation, response and a data
// message), then runs operations chosen by the input against device B: raw datagrams, recorded messages with bytes
// overwritten, outbound packets, time jumps with timer ticks, and peer removal / re-adding. Invariants use abort():
// a delivered packet lies inside its datagram and is a well-formed IP packet from the peer's allowed IPs; every
// datagram the device emits has a WireGuard size; counters never run backwards.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "vpn/device.h"

namespace cloudlet::vpn {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

struct Out : DeviceSink {
  std::vector<std::vector<uint8_t>> sent;
  void SendDatagram(const UdpEndpoint& /*to*/, ByteView bytes) override {
    const size_t n = bytes.size();
    Check(n == kInitiationSize || n == kResponseSize || n == kCookieReplySize ||
          (n >= kTransportMinSize && (n - kTransportMinSize) % kPaddingMultiple == 0));
    sent.emplace_back(bytes.begin(), bytes.end());
  }
};

struct Side {
  std::unique_ptr<Device> device;
  DeviceConfig config;
  PublicKey public_key{};
  UdpEndpoint addr;
  Out out;
  std::mt19937_64 rng;
  Nanos now = kSecond;
};

void Build(Side& s, uint8_t fill, uint8_t last_octet) {
  std::array<uint8_t, kKeySize> bytes;
  bytes.fill(fill);
  const PrivateKey key{std::span<const uint8_t, kKeySize>(bytes)};
  auto id = LocalIdentity::FromPrivate(key);
  Check(id.ok());
  s.public_key = id->public_key;
  s.config.private_key = key;
  s.addr = {IpAddress::V4(192, 0, 2, last_octet), static_cast<uint16_t>(51820 + last_octet)};
  s.rng.seed(fill);
  DeviceOptions options;
  options.random = [&s] { return s.rng(); };
  options.unix_nanos = [&s] { return int64_t{1700000000} * kSecond + s.now; };
  auto dev = Device::Create(std::move(options));
  Check(dev.ok());
  s.device = std::move(*dev);
}

std::vector<uint8_t> Ipv4(uint8_t src_last, uint8_t dst_last, size_t payload) {
  std::vector<uint8_t> p(20 + payload, 0x42);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[9] = 17;
  const uint8_t src[4] = {10, 77, 0, src_last}, dst[4] = {10, 77, 0, dst_last};
  std::memcpy(&p[12], src, 4);
  std::memcpy(&p[16], dst, 4);
  return p;
}

// Delivers everything `from` sent to `to`; returns how many packets `to` delivered.
size_t Pump(Side& from, Side& to, std::vector<std::vector<uint8_t>>* record) {
  size_t delivered = 0;
  std::vector<std::vector<uint8_t>> queue = std::move(from.out.sent);
  from.out.sent.clear();
  for (auto& d : queue) {
    if (record) record->push_back(d);
    if (to.device->Receive(d.data(), d.size(), from.addr, to.now, to.out).kind == Received::Kind::kDeliver) {
      ++delivered;
    }
  }
  return delivered;
}

void Run(const uint8_t* data, size_t size) {
  Side a, b;
  Build(a, 0x21, 1);
  Build(b, 0x42, 2);
  a.config.peers[b.public_key].allowed_ips.insert({IpAddress::V4(10, 77, 0, 2), 32});
  a.config.peers[b.public_key].endpoint = b.addr;
  b.config.peers[a.public_key].allowed_ips.insert({IpAddress::V4(10, 77, 0, 1), 32});
  a.device->Sync(a.config, a.now, a.out);
  b.device->Sync(b.config, b.now, b.out);

  // A real handshake, recording what crossed the wire: seeds for the mutation operations below.
  std::vector<std::vector<uint8_t>> recorded;
  std::vector<uint8_t> first = Ipv4(1, 2, 64);
  std::vector<uint8_t> buf(SealedSize(first.size()));
  std::memcpy(buf.data() + kTransportHeaderSize, first.data(), first.size());
  Check(a.device->Seal(buf.data(), buf.size(), first.size(), a.now, a.out).kind == Sealed::Kind::kStaged);
  for (int round = 0; round < 3; ++round) {
    Pump(a, b, &recorded);
    Pump(b, a, &recorded);
  }
  Check(b.device->has_session(a.public_key));

  FuzzedDataProvider in(data, size);
  DeviceCounters before = b.device->counters();
  for (int op = 0; op < 32 && in.remaining_bytes() > 0; ++op) {
    switch (in.ConsumeIntegralInRange<int>(0, 5)) {
      case 0: {  // a raw datagram from anywhere
        std::vector<uint8_t> d = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 300));
        std::vector<uint8_t> exact(d.begin(), d.end());  // exactly sized: ASan sees reads past the end
        const UdpEndpoint from{IpAddress::V4(198, 51, 100, in.ConsumeIntegral<uint8_t>()),
                               in.ConsumeIntegral<uint16_t>()};
        const Received r = b.device->Receive(exact.data(), exact.size(), from, b.now, b.out);
        if (r.kind == Received::Kind::kDeliver) {
          Check(r.packet >= exact.data() + kTransportHeaderSize &&
                r.packet + r.packet_len <= exact.data() + exact.size());
        }
        break;
      }
      case 1: {  // a recorded message with some bytes overwritten, from the real peer's address
        if (recorded.empty()) break;
        std::vector<uint8_t> d = recorded[in.ConsumeIntegralInRange<size_t>(0, recorded.size() - 1)];
        const int edits = in.ConsumeIntegralInRange<int>(0, 4);
        for (int e = 0; e < edits && !d.empty(); ++e)
          d[in.ConsumeIntegralInRange<size_t>(0, d.size() - 1)] = in.ConsumeIntegral<uint8_t>();
        if (in.ConsumeBool() && !d.empty()) d.resize(in.ConsumeIntegralInRange<size_t>(0, d.size()));
        const Received r = b.device->Receive(d.data(), d.size(), a.addr, b.now, b.out);
        if (r.kind == Received::Kind::kDeliver) {
          const auto info = ParseIpHeader(r.packet, r.packet_len);
          Check(info.has_value() && info->total_len == r.packet_len && info->source == IpAddress::V4(10, 77, 0, 1));
        }
        break;
      }
      case 2: {  // an outbound packet of any shape
        std::vector<uint8_t> p = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 200));
        std::vector<uint8_t> out(SealedSize(p.size()));
        if (!p.empty()) std::memcpy(out.data() + kTransportHeaderSize, p.data(), p.size());
        const Sealed s = b.device->Seal(out.data(), out.size(), p.size(), b.now, b.out);
        if (s.kind == Sealed::Kind::kSend) Check(s.message_len == SealedSize(p.size()));
        break;
      }
      case 3: {  // time passes: timers fire on both sides, and what they send crosses
        const Nanos step = in.ConsumeIntegralInRange<Nanos>(0, 400) * kSecond / 4;
        a.now += step;
        b.now += step;
        a.device->Tick(a.now, a.out);
        b.device->Tick(b.now, b.out);
        Pump(a, b, nullptr);
        Pump(b, a, nullptr);
        Check(b.device->NextDeadline(b.now) >= b.now);
        break;
      }
      case 4: {  // the peer is removed and comes back (keys, sessions and indices must be released cleanly)
        DeviceConfig without = b.config;
        without.peers.clear();
        b.device->Sync(without, b.now, b.out);
        Check(b.device->peer_count() == 0);
        b.device->Sync(b.config, b.now, b.out);
        break;
      }
      case 5: {  // fresh traffic from A, which may start a new handshake
        std::vector<uint8_t> p = Ipv4(1, 2, in.ConsumeIntegralInRange<size_t>(0, 100));
        std::vector<uint8_t> out(SealedSize(p.size()));
        std::memcpy(out.data() + kTransportHeaderSize, p.data(), p.size());
        const Sealed s = a.device->Seal(out.data(), out.size(), p.size(), a.now, a.out);
        if (s.kind == Sealed::Kind::kSend) {
          out.resize(s.message_len);
          a.out.sent.push_back(out);
        }
        Pump(a, b, &recorded);
        Pump(b, a, nullptr);
        break;
      }
    }
    const DeviceCounters& now = b.device->counters();
    for (size_t i = 0; i < static_cast<size_t>(DeviceDrop::kCount); ++i) Check(now.drops[i] >= before.drops[i]);
    Check(now.handshakes_completed >= before.handshakes_completed);
    before = now;
    b.out.sent.clear();
  }
}

}  // namespace
}  // namespace cloudlet::vpn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cloudlet::vpn::Run(data, size);
  return 0;
}

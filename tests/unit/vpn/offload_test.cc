// TUN offload helpers: TSO segmentation checked against an independent checksum, coalescing back to the original
// super-packet, the validation of malformed input, and every coalescing rule.
#include "vpn/offload.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace cloudlet::vpn {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20, kEce = 0x40,
                  kCwr = 0x80;

// --- an independent reference: byte at a time, 32-bit sum ---
uint16_t RefSum(const uint8_t* b, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i < n; i += 2) s += uint32_t{b[i]} << 8 | (i + 1 < n ? b[i + 1] : 0u);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}
uint16_t Rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Rd32(const uint8_t* p) { return uint32_t{Rd16(p)} << 16 | Rd16(p + 2); }
void Wr16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
size_t IpHdrLen(const uint8_t* ip) { return (ip[0] >> 4) == 4 ? size_t{ip[0] & 0xfu} * 4 : 40; }

// Sum of the TCP pseudo-header for `ip` with TCP length `l4`.
uint32_t RefPseudo(const uint8_t* ip, uint32_t l4) {
  const bool v4 = (ip[0] >> 4) == 4;
  uint32_t s = RefSum(ip + (v4 ? 12 : 8), v4 ? 8 : 32);
  return s + 6 + (l4 >> 16) + (l4 & 0xffff);
}
bool TcpChecksumValid(const uint8_t* ip, size_t len) {
  const size_t iphl = IpHdrLen(ip);
  const auto l4 = static_cast<uint32_t>(len - iphl);
  return RefSum(ip + iphl, l4, RefPseudo(ip, l4)) == 0xffff;
}
bool Ipv4HeaderValid(const uint8_t* ip) { return RefSum(ip, IpHdrLen(ip)) == 0xffff; }

// --- packet builders ---
struct Tcp {
  int version = 4;
  uint32_t seq = 1000;
  uint32_t ack = 77;
  size_t payload = 100;
  uint8_t flags = kAck;
  Bytes options;
  uint16_t sport = 40000, dport = 443;
  uint8_t src_last = 1;  // last byte of the source address (different flows)
  uint8_t ttl = 64, tos = 0;
  uint16_t window = 500;
  uint16_t ip_id = 0x1234;
  Bytes ip_options;        // IPv4 only
  uint16_t frag = 0x4000;  // DF
};

uint8_t PayloadByte(uint32_t seq) { return static_cast<uint8_t>(seq * 7 + 3); }

// One IP/TCP packet; `full_checksum`: a valid TCP checksum (as a peer sends), else the pseudo-header sum (what the
// kernel leaves for NEEDS_CSUM in a TSO packet).
Bytes Build(const Tcp& t, bool full_checksum = true) {
  const size_t iphl = t.version == 4 ? 20 + t.ip_options.size() : 40;
  const size_t thl = 20 + t.options.size();
  Bytes p(iphl + thl + t.payload, 0);
  uint8_t* ip = p.data();
  if (t.version == 4) {
    ip[0] = static_cast<uint8_t>(0x40 | (iphl / 4));
    ip[1] = t.tos;
    Wr16(ip + 2, p.size());
    Wr16(ip + 4, t.ip_id);
    Wr16(ip + 6, t.frag);
    ip[8] = t.ttl;
    ip[9] = 6;
    const uint8_t src[4] = {10, 0, 0, t.src_last}, dst[4] = {10, 0, 0, 200};
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, dst, 4);
    if (!t.ip_options.empty()) std::memcpy(ip + 20, t.ip_options.data(), t.ip_options.size());
    Wr16(ip + 10, static_cast<uint16_t>(~RefSum(ip, iphl)));
  } else {
    ip[0] = static_cast<uint8_t>(0x60 | (t.tos >> 4));
    ip[1] = static_cast<uint8_t>(t.tos << 4 | 0x0a);  // flow label 0xa1234
    ip[2] = 0x12;
    ip[3] = 0x34;
    Wr16(ip + 4, p.size() - 40);
    ip[6] = 6;
    ip[7] = t.ttl;
    for (int i = 0; i < 16; ++i) ip[8 + i] = static_cast<uint8_t>(0x20 + i);
    ip[23] = t.src_last;
    for (int i = 0; i < 16; ++i) ip[24 + i] = static_cast<uint8_t>(0xf0 - i);
  }
  uint8_t* tcp = ip + iphl;
  Wr16(tcp, t.sport);
  Wr16(tcp + 2, t.dport);
  Wr16(tcp + 4, t.seq >> 16);
  Wr16(tcp + 6, t.seq);
  Wr16(tcp + 8, t.ack >> 16);
  Wr16(tcp + 10, t.ack);
  tcp[12] = static_cast<uint8_t>((thl / 4) << 4);
  tcp[13] = t.flags;
  Wr16(tcp + 14, t.window);
  if (!t.options.empty()) std::memcpy(tcp + 20, t.options.data(), t.options.size());
  for (size_t i = 0; i < t.payload; ++i) tcp[thl + i] = PayloadByte(static_cast<uint32_t>(t.seq + i));
  const auto l4 = static_cast<uint32_t>(thl + t.payload);
  if (full_checksum) {
    Wr16(tcp + 16, static_cast<uint16_t>(~RefSum(tcp, l4, RefPseudo(ip, l4))));
  } else {
    Wr16(tcp + 16, RefSum(nullptr, 0, RefPseudo(ip, l4)));
  }
  return p;
}

VnetHdr TsoHeader(const Tcp& t, uint16_t mss) {
  VnetHdr h;
  h.flags = VnetHdr::kFlagNeedsCsum;
  h.gso_type = t.version == 4 ? VnetHdr::kGsoTcpV4 : VnetHdr::kGsoTcpV6;
  const size_t iphl = t.version == 4 ? 20 + t.ip_options.size() : 40;
  h.hdr_len = static_cast<uint16_t>(iphl + 20 + t.options.size());
  h.gso_size = mss;
  h.csum_start = static_cast<uint16_t>(iphl);
  h.csum_offset = 16;
  return h;
}

const Bytes kTimestamps = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};

// A segmentation output area with the device's layout (16 bytes in front, a stride per segment).
struct Area {
  static constexpr size_t kOffset = 16;
  size_t stride;
  Bytes out;
  std::vector<size_t> lengths;
  Area(size_t stride_, size_t max) : stride(stride_), out(stride_ * max, 0xee), lengths(max) {}
  SegmentArea get() { return SegmentArea{out, stride, kOffset, lengths}; }
  uint8_t* seg(size_t i) { return out.data() + i * stride + kOffset; }
};

// --- checksum ---

TEST(OffloadChecksum, MatchesReferenceForEveryLengthAndAlignment) {
  std::mt19937 rng(1);
  Bytes buf(300);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t start = 0; start < 8; ++start) {
    for (size_t len = 0; len + start <= buf.size(); ++len) {
      ASSERT_EQ(ChecksumFold(ChecksumAdd({buf.data() + start, len})), RefSum(buf.data() + start, len))
          << start << " " << len;
    }
  }
  // Chained in even chunks, with an odd last one.
  uint64_t s = ChecksumAdd({buf.data(), 64});
  s = ChecksumAdd({buf.data() + 64, 2}, s);
  s = ChecksumAdd({buf.data() + 66, 101}, s);
  EXPECT_EQ(ChecksumFold(s), RefSum(buf.data(), 167));
  Bytes ones(65536, 0xff);
  EXPECT_EQ(ChecksumFold(ChecksumAdd(ones)), 0xffff);
  EXPECT_EQ(ChecksumFinish(0), 0xffff);
}

TEST(OffloadChecksum, PseudoHeader) {
  Bytes p = Build(Tcp{.version = 6, .payload = 10});
  EXPECT_EQ(ChecksumFold(PseudoHeaderSum({p.data() + 8, 32}, 6, 30)), RefSum(nullptr, 0, RefPseudo(p.data(), 30)));
  EXPECT_EQ(ChecksumFold(PseudoHeaderSum({p.data() + 8, 32}, 6, 70000)),
            RefSum(nullptr, 0, RefPseudo(p.data(), 70000)));
}

// --- segmentation ---

// Segments `t` at `mss` and checks every segment against the original.
void CheckSegments(const Tcp& t, uint16_t mss) {
  SCOPED_TRACE(testing::Message() << "v" << t.version << " payload " << t.payload << " mss " << mss << " opts "
                                  << t.options.size() << " flags " << int{t.flags});
  const Bytes orig = Build(t, /*full_checksum=*/false);
  const VnetHdr h = TsoHeader(t, mss);
  const size_t iphl = h.csum_start;
  const size_t hlen = h.hdr_len;
  Area area(16 + hlen + mss + 32, 64);
  auto n = SegmentTunPacket(h, orig, area.get());
  ASSERT_TRUE(n.ok()) << n.error().message();
  const size_t want = t.payload == 0 ? 1 : (t.payload + mss - 1) / mss;
  ASSERT_EQ(*n, want);
  size_t payload_seen = 0;
  for (size_t i = 0; i < *n; ++i) {
    SCOPED_TRACE(i);
    const uint8_t* s = area.seg(i);
    const size_t len = area.lengths[i];
    const size_t seg_payload = std::min<size_t>(mss, t.payload - i * mss);
    ASSERT_EQ(len, hlen + seg_payload);
    // Nothing written in front of or past the segment inside its stride slot.
    EXPECT_EQ(area.out[i * area.stride], 0xee);
    EXPECT_EQ(area.out[i * area.stride + 16 + len], 0xee);
    if (t.version == 4) {
      EXPECT_EQ(Rd16(s + 2), len);
      EXPECT_EQ(Rd16(s + 4), static_cast<uint16_t>(t.ip_id + i));
      EXPECT_TRUE(Ipv4HeaderValid(s));
      EXPECT_EQ(std::memcmp(s + 6, orig.data() + 6, 4), 0);
      EXPECT_EQ(std::memcmp(s + 12, orig.data() + 12, iphl - 12), 0);
    } else {
      EXPECT_EQ(Rd16(s + 4), len - 40);
      EXPECT_EQ(std::memcmp(s, orig.data(), 4), 0);
      EXPECT_EQ(std::memcmp(s + 6, orig.data() + 6, 34), 0);
    }
    const uint8_t* tcp = s + iphl;
    EXPECT_EQ(Rd32(tcp + 4), static_cast<uint32_t>(t.seq + i * mss));
    uint8_t flags = t.flags;
    if (i + 1 < *n) flags &= static_cast<uint8_t>(~(kFin | kPsh));
    if (i > 0) flags &= static_cast<uint8_t>(~kCwr);
    EXPECT_EQ(tcp[13], flags);
    EXPECT_EQ(std::memcmp(tcp, orig.data() + iphl, 4), 0);
    EXPECT_EQ(std::memcmp(tcp + 8, orig.data() + iphl + 8, 5), 0);
    EXPECT_EQ(std::memcmp(tcp + 14, orig.data() + iphl + 14, 2), 0);
    EXPECT_EQ(std::memcmp(tcp + 18, orig.data() + iphl + 18, hlen - iphl - 18), 0);
    EXPECT_TRUE(TcpChecksumValid(s, len));
    EXPECT_EQ(std::memcmp(s + hlen, orig.data() + hlen + i * mss, seg_payload), 0);
    payload_seen += seg_payload;
  }
  EXPECT_EQ(payload_seen, t.payload);
}

TEST(OffloadSegment, Ipv4AndIpv6WithAndWithoutOptions) {
  for (int v : {4, 6}) {
    for (const Bytes& opts : {Bytes{}, kTimestamps}) {
      CheckSegments(Tcp{.version = v, .payload = 10000, .options = opts}, 1448);            // odd last segment
      CheckSegments(Tcp{.version = v, .payload = 4 * 1000, .options = opts}, 1000);         // exact multiple
      CheckSegments(Tcp{.version = v, .payload = 65535 - 40 - 60, .options = opts}, 1220);  // near 64 KiB
      CheckSegments(Tcp{.version = v, .payload = 999, .options = opts}, 1000);              // one segment
      CheckSegments(Tcp{.version = v, .payload = 0, .options = opts}, 1000);                // no payload at all
      CheckSegments(Tcp{.version = v, .payload = 7, .options = opts}, 1);                   // 1-byte MSS, odd sums
    }
  }
}

TEST(OffloadSegment, FlagsOnlyWhereTheyBelong) {
  for (int v : {4, 6}) {
    CheckSegments(Tcp{.version = v, .payload = 5000, .flags = kAck | kPsh}, 1448);
    CheckSegments(Tcp{.version = v, .payload = 5000, .flags = kAck | kPsh | kFin}, 1448);
    CheckSegments(Tcp{.version = v, .payload = 5000, .flags = kAck | kCwr | kEce}, 1448);
  }
}

TEST(OffloadSegment, IdAndSeqWrap) { CheckSegments(Tcp{.seq = 0xffffff00, .payload = 3000, .ip_id = 0xffff}, 1000); }

TEST(OffloadSegment, Ipv4OptionsAndEcnFlag) {
  Tcp t{.payload = 3000, .ip_options = {1, 1, 1, 0}};
  CheckSegments(t, 1000);
  const Bytes orig = Build(t, false);
  VnetHdr h = TsoHeader(t, 1000);
  h.gso_type |= VnetHdr::kGsoEcn;
  Area area(2000, 8);
  auto n = SegmentTunPacket(h, orig, area.get());
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 3u);
}

TEST(OffloadSegment, HdrLenIsOnlyAnUpperBound) {
  // The kernel may report the whole linear part as hdr_len; the real header length comes from the TCP header.
  Tcp t{.payload = 3000};
  const Bytes orig = Build(t, false);
  VnetHdr h = TsoHeader(t, 1000);
  h.hdr_len = 1500;
  Area area(2000, 8);
  auto n = SegmentTunPacket(h, orig, area.get());
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(area.lengths[0], 1040u);
}

TEST(OffloadSegment, NeedsCsumWithoutGsoCompletesTheChecksum) {
  // TCP: the field holds the pseudo-header sum.
  for (int v : {4, 6}) {
    Tcp t{.version = v, .payload = 333, .options = kTimestamps};
    Bytes p = Build(t, false);
    VnetHdr h = TsoHeader(t, 0);
    h.gso_type = VnetHdr::kGsoNone;
    Area area(2000, 4);
    auto n = SegmentTunPacket(h, p, area.get());
    ASSERT_TRUE(n.ok()) << n.error().message();
    ASSERT_EQ(*n, 1u);
    ASSERT_EQ(area.lengths[0], p.size());
    EXPECT_TRUE(TcpChecksumValid(area.seg(0), p.size()));
    Bytes full = Build(t, true);
    EXPECT_EQ(std::memcmp(area.seg(0), full.data(), full.size()), 0);
  }
  // UDP over IPv4, checksum at offset 6, pseudo sum seeded.
  Bytes u(20 + 8 + 13, 0);
  u[0] = 0x45;
  Wr16(&u[2], u.size());
  u[8] = 64;
  u[9] = 17;
  u[12] = 10, u[15] = 1, u[16] = 10, u[19] = 2;
  Wr16(&u[10], static_cast<uint16_t>(~RefSum(u.data(), 20)));
  Wr16(&u[20], 5353);
  Wr16(&u[22], 53);
  Wr16(&u[24], 21);
  for (size_t i = 28; i < u.size(); ++i) u[i] = static_cast<uint8_t>(i);
  uint32_t pseudo = RefSum(&u[12], 8) + 17 + 21;
  Wr16(&u[26], RefSum(nullptr, 0, pseudo));
  VnetHdr h{.flags = VnetHdr::kFlagNeedsCsum, .csum_start = 20, .csum_offset = 6};
  Area area(2000, 1);
  auto n = SegmentTunPacket(h, u, area.get());
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(RefSum(area.seg(0) + 20, 21, RefSum(&u[12], 8) + 17 + 21), 0xffff);
}

TEST(OffloadSegment, PlainPacketIsCopiedAsIs) {
  Bytes p = {0x45, 1, 2, 3, 4, 5, 6};  // not even a valid header: no offload asked, nothing to check
  Area area(100, 1);
  auto n = SegmentTunPacket(VnetHdr{}, p, area.get());
  ASSERT_TRUE(n.ok()) << n.error().message();
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(area.lengths[0], p.size());
  EXPECT_EQ(Bytes(area.seg(0), area.seg(0) + p.size()), p);
}

TEST(OffloadSegment, MalformedInputIsRejected) {
  const Tcp t{.payload = 3000};
  const Bytes good = Build(t, false);
  const VnetHdr gh = TsoHeader(t, 1000);
  Area area(2000, 8);
  ASSERT_TRUE(SegmentTunPacket(gh, good, area.get()).ok());

  auto rejects = [&](const VnetHdr& h, const Bytes& p, const char* why) {
    auto r = SegmentTunPacket(h, p, area.get());
    EXPECT_FALSE(r.ok()) << why;
    if (!r.ok()) {
      EXPECT_FALSE(r.error().message().empty());
    }
  };
  VnetHdr h = gh;
  h.hdr_len = static_cast<uint16_t>(good.size() + 1);
  rejects(h, good, "hdr_len past end");
  h = gh;
  h.gso_size = 0;
  rejects(h, good, "gso_size 0");
  rejects(gh, Bytes(good.begin(), good.begin() + 19), "truncated IPv4 header");
  rejects(gh, Bytes(good.begin(), good.begin() + 30), "truncated TCP header");
  rejects(gh, Bytes{}, "empty");
  rejects(VnetHdr{}, Bytes{}, "empty, no offload");
  Bytes p = good;
  p[0] = 0x44;
  rejects(gh, p, "IHL < 5");
  p = good;
  p[0] = 0x4f;
  rejects(gh, Bytes(p.begin(), p.begin() + 50), "IHL past end");
  p = good;
  Wr16(&p[2], good.size() - 1);
  rejects(gh, p, "total length shorter");
  Wr16(&p[2], good.size() + 1);
  rejects(gh, p, "total length longer");
  p = good;
  p[9] = 17;
  rejects(gh, p, "UDP with TSO type");
  p = good;
  Wr16(&p[6], 0x2000);
  rejects(gh, p, "fragment");
  p = good;
  p[20 + 12] = 0x40;
  rejects(gh, p, "TCP data offset < 5");
  p = good;
  p[20 + 12] = 0xf0;
  rejects(gh, Bytes(p.begin(), p.begin() + 70), "TCP header past end");
  p = good;
  p[0] = 0x35;
  rejects(gh, p, "IP version 3");
  h = gh;
  h.gso_type = VnetHdr::kGsoTcpV6;
  rejects(h, good, "TCPV6 type on IPv4");
  h.gso_type = VnetHdr::kGsoUdp;
  rejects(h, good, "UFO");
  h.gso_type = 5;  // UDP_L4, never enabled
  rejects(h, good, "USO");
  h = gh;
  h.csum_start = 21;
  rejects(h, good, "csum_start not at TCP");
  h = gh;
  h.csum_offset = 6;
  rejects(h, good, "csum_offset not TCP's");
  const Bytes v6 = Build(Tcp{.version = 6, .payload = 3000}, false);
  p = v6;
  p[6] = 0;  // hop-by-hop extension header
  rejects(TsoHeader(Tcp{.version = 6}, 1000), p, "IPv6 extension header");
  p = v6;
  Wr16(&p[4], 0);
  rejects(TsoHeader(Tcp{.version = 6}, 1000), p, "IPv6 payload length 0");
  rejects(gh, v6, "TCPV4 type on IPv6");

  // Area limits.
  Area small(2000, 2);
  EXPECT_FALSE(SegmentTunPacket(gh, good, small.get()).ok()) << "3 segments, max 2";
  Area narrow(16 + 1039, 8);
  EXPECT_FALSE(SegmentTunPacket(gh, good, narrow.get()).ok()) << "segment longer than stride";
  Area exact(16 + 1040, 3);
  EXPECT_TRUE(SegmentTunPacket(gh, good, exact.get()).ok());
  Area area2(2000, 8);
  SegmentArea short_out = area2.get();
  short_out.out = short_out.out.first(2 * 2000 + 16 + 1039);
  EXPECT_FALSE(SegmentTunPacket(gh, good, short_out).ok()) << "last segment past the output";
  short_out.out = area2.out;
  short_out.offset = 2001;
  EXPECT_FALSE(SegmentTunPacket(gh, good, short_out).ok()) << "offset past stride";

  // Non-GSO NEEDS_CSUM.
  VnetHdr nc{.flags = VnetHdr::kFlagNeedsCsum, .csum_start = 20, .csum_offset = 16};
  Bytes one = Build(Tcp{.payload = 10}, false);
  EXPECT_TRUE(SegmentTunPacket(nc, one, area.get()).ok());
  nc.csum_start = 10;
  rejects(nc, one, "csum_start inside IP header");
  nc.csum_start = static_cast<uint16_t>(one.size());
  nc.csum_offset = 0;
  rejects(nc, one, "csum_start at end");
  nc.csum_start = 20;
  nc.csum_offset = static_cast<uint16_t>(one.size() - 21);
  rejects(nc, one, "checksum field straddles the end");
  nc.csum_offset = 16;
  Bytes bad_len = one;
  Wr16(&bad_len[2], 1000);
  rejects(nc, bad_len, "total length mismatch");
}

// --- coalescing ---

// The bytes a CoalescedPacket would writev(), without the virtio header; that header separately.
Bytes Gather(const CoalescedPacket& p, VnetHdr* vnet) {
  EXPECT_GE(p.iov_count, 2u);
  EXPECT_EQ(p.iov[0].iov_len, sizeof(VnetHdr));
  std::memcpy(vnet, p.iov[0].iov_base, sizeof(VnetHdr));
  Bytes out;
  for (size_t i = 1; i < p.iov_count; ++i) {
    auto* b = static_cast<const uint8_t*>(p.iov[i].iov_base);
    out.insert(out.end(), b, b + p.iov[i].iov_len);
  }
  EXPECT_EQ(out.size(), p.ip_length);
  return out;
}

void ExpectVnetEq(const VnetHdr& a, const VnetHdr& b) {
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.gso_type, b.gso_type);
  EXPECT_EQ(a.hdr_len, b.hdr_len);
  EXPECT_EQ(a.gso_size, b.gso_size);
  EXPECT_EQ(a.csum_start, b.csum_start);
  EXPECT_EQ(a.csum_offset, b.csum_offset);
}

TEST(OffloadCoalesce, SegmentsCoalesceBackToTheOriginal) {
  for (int v : {4, 6}) {
    for (const Bytes& opts : {Bytes{}, kTimestamps}) {
      for (uint8_t flags : {kAck, static_cast<uint8_t>(kAck | kPsh)}) {
        for (size_t payload : {size_t{10000}, size_t{4000}, size_t{65535 - 100}}) {
          SCOPED_TRACE(testing::Message() << v << " " << opts.size() << " " << int{flags} << " " << payload);
          const Tcp t{.version = v, .payload = payload, .flags = flags, .options = opts};
          const Bytes orig = Build(t, false);
          const VnetHdr h = TsoHeader(t, 1000);
          Area area(1200, 80);
          auto n = SegmentTunPacket(h, orig, area.get());
          ASSERT_TRUE(n.ok()) << n.error().message();
          TcpCoalescer c(80);
          for (size_t i = 0; i < *n; ++i) {
            // Decrypted packets carry zero padding up to a multiple of 16; it must be stripped.
            const size_t padded = (area.lengths[i] + 15) / 16 * 16;
            std::memset(area.seg(i) + area.lengths[i], 0, padded - area.lengths[i]);
            ASSERT_TRUE(c.Add({area.seg(i), padded}).ok());
          }
          auto out = c.Finish();
          ASSERT_EQ(out.size(), 1u);
          EXPECT_EQ(out[0].segments, *n);
          EXPECT_EQ(out[0].iov_count, *n + 2);
          VnetHdr got;
          Bytes bytes = Gather(out[0], &got);
          ExpectVnetEq(got, h);
          EXPECT_EQ(bytes, orig);
        }
      }
    }
  }
}

struct Batch {
  std::vector<Bytes> pkts;
  TcpCoalescer c;
  explicit Batch(size_t cap = 64) : c(cap) { pkts.reserve(cap + 8); }
  Status Add(Bytes p) {
    pkts.push_back(std::move(p));
    return c.Add(pkts.back());
  }
  void AddOk(const Tcp& t) { ASSERT_TRUE(Add(Build(t)).ok()); }
  // Output as (segment count) per packet.
  std::vector<size_t> Shape() {
    std::vector<size_t> s;
    for (const auto& p : c.Finish()) s.push_back(p.segments);
    return s;
  }
};
using Shape = std::vector<size_t>;

TEST(OffloadCoalesce, SeqGapMakesTwoGroups) {
  Batch b;
  b.AddOk(Tcp{.seq = 0, .payload = 100});
  b.AddOk(Tcp{.seq = 100, .payload = 100});
  b.AddOk(Tcp{.seq = 300, .payload = 100});  // gap
  b.AddOk(Tcp{.seq = 400, .payload = 100});
  EXPECT_EQ(b.Shape(), (Shape{2, 2}));
}

TEST(OffloadCoalesce, InterleavedFlowsGroupSeparatelyInOrder) {
  Batch b;
  for (uint32_t i = 0; i < 4; ++i) {
    b.AddOk(Tcp{.seq = i * 100, .payload = 100, .src_last = 1});
    b.AddOk(Tcp{.version = 6, .seq = 5000 + i * 100, .payload = 100, .src_last = 1});
    b.AddOk(Tcp{.seq = 9000 + i * 100, .payload = 100, .src_last = 2});
    b.AddOk(Tcp{.seq = 7000 + i * 100, .payload = 100, .sport = 1});
  }
  auto out = b.c.Finish();
  ASSERT_EQ(out.size(), 4u);
  const uint32_t first_seq[] = {0, 5000, 9000, 7000};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(out[i].segments, 4u);
    VnetHdr h;
    Bytes g = Gather(out[i], &h);
    EXPECT_EQ(Rd32(g.data() + IpHdrLen(g.data()) + 4), first_seq[i]);
    EXPECT_EQ(h.gso_size, 100);
  }
}

TEST(OffloadCoalesce, FlagsRules) {
  for (uint8_t f : {kSyn, kFin, kRst, kUrg, kEce, kCwr}) {
    SCOPED_TRACE(int{f});
    Batch b;
    b.AddOk(Tcp{.seq = 0, .payload = 100});
    b.AddOk(Tcp{.seq = 100, .payload = 100, .flags = static_cast<uint8_t>(kAck | f)});
    b.AddOk(Tcp{.seq = 200, .payload = 100});
    b.AddOk(Tcp{.seq = 300, .payload = 100});
    EXPECT_EQ(b.Shape(), (Shape{1, 1, 2}));
  }
  {  // PSH joins as the last segment and closes the group.
    Batch b;
    b.AddOk(Tcp{.seq = 0, .payload = 100});
    b.AddOk(Tcp{.seq = 100, .payload = 100, .flags = kAck | kPsh});
    b.AddOk(Tcp{.seq = 200, .payload = 100});
    b.AddOk(Tcp{.seq = 300, .payload = 100});
    EXPECT_EQ(b.Shape(), (Shape{2, 2}));
    VnetHdr h;
    Bytes g = Gather(b.c.Finish()[0], &h);
    EXPECT_EQ(g[20 + 13], kAck | kPsh);
  }
  {  // A PSH first segment stays alone; no ACK at all never merges.
    Batch b;
    b.AddOk(Tcp{.seq = 0, .payload = 100, .flags = kAck | kPsh});
    b.AddOk(Tcp{.seq = 100, .payload = 100, .flags = 0});
    b.AddOk(Tcp{.seq = 200, .payload = 100, .flags = 0});
    EXPECT_EQ(b.Shape(), (Shape{1, 1, 1}));
  }
}

TEST(OffloadCoalesce, HeaderFieldsMustMatch) {
  struct Case {
    const char* name;
    Tcp second;
  };
  const Case cases[] = {
      {"options", Tcp{.seq = 100, .options = kTimestamps}},
      {"ack", Tcp{.seq = 100, .ack = 78}},
      {"window", Tcp{.seq = 100, .window = 501}},
      {"ttl", Tcp{.seq = 100, .ttl = 63}},
      {"tos", Tcp{.seq = 100, .tos = 4}},
      {"df", Tcp{.seq = 100, .frag = 0}},
      {"bigger payload", Tcp{.seq = 100, .payload = 101}},
      {"empty payload", Tcp{.seq = 100, .payload = 0}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    Batch b;
    b.AddOk(Tcp{.seq = 0, .options = {}});
    b.AddOk(k.second);
    EXPECT_EQ(b.Shape(), (Shape{1, 1}));
  }
  for (const Tcp& t : {Tcp{.version = 6, .seq = 100, .ttl = 1}, Tcp{.version = 6, .seq = 100, .tos = 0x20}}) {
    Batch b;
    b.AddOk(Tcp{.version = 6, .seq = 0});
    b.AddOk(t);
    EXPECT_EQ(b.Shape(), (Shape{1, 1}));
  }
  {  // Same options merge.
    Batch b;
    b.AddOk(Tcp{.seq = 0, .options = kTimestamps});
    b.AddOk(Tcp{.seq = 100, .options = kTimestamps});
    EXPECT_EQ(b.Shape(), (Shape{2}));
  }
}

TEST(OffloadCoalesce, ShortSegmentEndsTheGroup) {
  Batch b;
  b.AddOk(Tcp{.seq = 0, .payload = 100});
  b.AddOk(Tcp{.seq = 100, .payload = 50});
  b.AddOk(Tcp{.seq = 150, .payload = 100});
  EXPECT_EQ(b.Shape(), (Shape{2, 1}));
}

TEST(OffloadCoalesce, OtherPacketsPassThroughInOrder) {
  Batch b;
  b.AddOk(Tcp{.seq = 0});
  Bytes icmp = Build(Tcp{.payload = 8});
  icmp[9] = 1;
  ASSERT_TRUE(b.Add(icmp).ok());
  b.AddOk(Tcp{.seq = 100});
  b.AddOk(Tcp{.seq = 200, .payload = 0});  // pure ACK of the same flow: later segments must not overtake it
  b.AddOk(Tcp{.seq = 200});
  b.AddOk(Tcp{.seq = 300, .ip_options = {1, 1, 1, 0}});  // IPv4 options: alone
  b.AddOk(Tcp{.seq = 400, .frag = 0x2000});              // fragment: alone
  b.AddOk(Tcp{.seq = 500, .frag = 0x2000});
  EXPECT_EQ(b.Shape(), (Shape{2, 1, 1, 1, 1, 1, 1}));
  auto out = b.c.Finish();
  VnetHdr h;
  EXPECT_EQ(Gather(out[1], &h), icmp);
  ExpectVnetEq(h, VnetHdr{.flags = VnetHdr::kFlagDataValid});
  EXPECT_EQ(Gather(out[3], &h), b.pkts[4]);
}

TEST(OffloadCoalesce, FragmentsAndExtensionHeadersCloseGroupsBetweenTheirHosts) {
  {
    Batch b;
    b.AddOk(Tcp{.seq = 0});
    b.AddOk(Tcp{.seq = 100});
    b.AddOk(Tcp{.seq = 0, .src_last = 9});
    b.AddOk(Tcp{.seq = 1, .frag = 0x2001});  // may be part of the flow: nothing of it may overtake this
    b.AddOk(Tcp{.seq = 200});
    b.AddOk(Tcp{.seq = 100, .src_last = 9});  // other hosts: still open
    EXPECT_EQ(b.Shape(), (Shape{2, 2, 1, 1}));
  }
  {
    Batch b;
    b.AddOk(Tcp{.version = 6, .seq = 0});
    Bytes ext = Build(Tcp{.version = 6, .seq = 100});
    ext[6] = 0;  // hop-by-hop options
    ASSERT_TRUE(b.Add(ext).ok());
    b.AddOk(Tcp{.version = 6, .seq = 100});
    EXPECT_EQ(b.Shape(), (Shape{1, 1, 1}));
  }
  {  // UDP between the same hosts is no TCP segment: the group stays open.
    Batch b;
    b.AddOk(Tcp{.seq = 0});
    Bytes udp = Build(Tcp{.payload = 8});
    udp[9] = 17;
    ASSERT_TRUE(b.Add(udp).ok());
    b.AddOk(Tcp{.seq = 100});
    EXPECT_EQ(b.Shape(), (Shape{2, 1}));
  }
}

TEST(OffloadCoalesce, OldestOpenGroupIsClosedWhenTableIsFull) {
  Batch b;
  for (uint8_t f = 0; f < TcpCoalescer::kMaxOpenGroups + 1; ++f) b.AddOk(Tcp{.seq = 0, .src_last = f});
  // Flow 8 evicted flow 0, the least recently used; flows 1..8 still merge, flow 0 starts a new packet.
  for (uint8_t f = 1; f < TcpCoalescer::kMaxOpenGroups + 1; ++f) b.AddOk(Tcp{.seq = 100, .src_last = f});
  b.AddOk(Tcp{.seq = 100, .src_last = 0});
  Shape want(TcpCoalescer::kMaxOpenGroups + 2, 2);
  want[0] = 1;
  want.back() = 1;
  EXPECT_EQ(b.Shape(), want);
}

TEST(OffloadCoalesce, CapacityBound) {
  Batch b(3);
  b.AddOk(Tcp{.seq = 0});
  b.AddOk(Tcp{.seq = 100});
  b.AddOk(Tcp{.seq = 200});
  EXPECT_TRUE(b.c.full());
  EXPECT_FALSE(b.Add(Build(Tcp{.seq = 300})).ok());
  EXPECT_EQ(b.Shape(), (Shape{3}));
  EXPECT_FALSE(b.Add(Build(Tcp{.seq = 300})).ok()) << "Add after Finish without Reset";
  b.c.Reset();
  b.pkts.clear();
  b.AddOk(Tcp{.seq = 300});
  EXPECT_EQ(b.Shape(), (Shape{1}));
}

TEST(OffloadCoalesce, SixtyFourKibBound) {
  Batch b(128);
  // 40 header bytes + n * 1000 <= 65535 -> 65 segments fit, the 66th starts a new packet.
  for (uint32_t i = 0; i < 70; ++i) b.AddOk(Tcp{.seq = i * 1000, .payload = 1000});
  auto out = b.c.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].segments, 65u);
  EXPECT_EQ(out[0].ip_length, 40u + 65000u);
  EXPECT_EQ(out[1].segments, 5u);
  VnetHdr h;
  Bytes g = Gather(out[0], &h);
  EXPECT_EQ(Rd16(g.data() + 2), 65040);
  EXPECT_TRUE(Ipv4HeaderValid(g.data()));
  // NEEDS_CSUM: the field holds the pseudo-header sum; completing it gives a valid segment.
  const uint16_t partial = Rd16(g.data() + 20 + 16);
  EXPECT_EQ(partial, RefSum(nullptr, 0, RefPseudo(g.data(), 65020)));
  Wr16(g.data() + 36, static_cast<uint16_t>(~RefSum(g.data() + 20, 65020)));
  EXPECT_TRUE(TcpChecksumValid(g.data(), g.size()));
}

TEST(OffloadCoalesce, TrailingPaddingStripped) {
  Batch b;
  Bytes lone = Build(Tcp{.payload = 0});
  Bytes padded = lone;
  padded.resize(lone.size() + 13, 0);
  ASSERT_TRUE(b.Add(padded).ok());
  auto out = b.c.Finish();
  ASSERT_EQ(out.size(), 1u);
  VnetHdr h;
  EXPECT_EQ(Gather(out[0], &h), lone);
}

TEST(OffloadCoalesce, MalformedPacketsRejected) {
  TcpCoalescer c(8);
  Bytes p = Build(Tcp{});
  auto rejects = [&](Bytes bad, const char* why) { EXPECT_FALSE(c.Add(bad).ok()) << why; };
  rejects(Bytes{}, "empty");
  rejects(Bytes(p.begin(), p.begin() + 19), "truncated IPv4");
  Bytes q = p;
  q[0] = 0x44;
  rejects(q, "IHL < 5");
  q = p;
  Wr16(&q[2], p.size() + 1);
  rejects(q, "total length past the buffer");
  q = p;
  Wr16(&q[2], 30);
  rejects(q, "total length cuts the TCP header");
  q = p;
  q[32] = 0x30;
  rejects(q, "TCP data offset < 5");
  q = Build(Tcp{.payload = 20});
  q[32] = 0xf0;
  rejects(q, "TCP header past total length");
  Bytes v6 = Build(Tcp{.version = 6});
  rejects(Bytes(v6.begin(), v6.begin() + 39), "truncated IPv6");
  q = v6;
  Wr16(&q[4], v6.size());
  rejects(q, "IPv6 payload length past the buffer");
  q = p;
  q[0] = 0x15;
  rejects(q, "version 1");
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(c.Finish().empty());
}

}  // namespace
}  // namespace cloudlet::vpn

// Tests for net/l3.h: parsing (valid, malformed, truncated, fragments, IPv6 extension headers), checksums checked
// against an independent big-endian reference sum, NAT / TTL rewrites (full and partial checksums), ICMP errors.
#include "net/l3.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "net/ethernet.h"

namespace cloudlet {
namespace {

using Bytes = std::vector<uint8_t>;
using Addr = std::array<uint8_t, 16>;

// --- reference checksum: a straightforward RFC 1071 sum over big-endian words, written independently ---
uint32_t RefSum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i < n; i += 2) sum += (p[i] << 8) | (i + 1 < n ? p[i + 1] : 0);
  return sum;
}
uint16_t RefFold(uint32_t sum) {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}
uint32_t RefPseudo(int family, const uint8_t* src, const uint8_t* dst, uint8_t proto, uint32_t l4_len) {
  const size_t alen = family == 4 ? 4 : 16;
  uint32_t sum = RefSum(src, alen) + RefSum(dst, alen) + proto;
  return sum + (l4_len >> 16) + (l4_len & 0xffff);
}
// Verifies the L4 checksum of the IP packet at pkt[off..]; returns true when the whole sum folds to 0xffff.
bool RefL4Ok(const Bytes& pkt, size_t off = 0) {
  const uint8_t* ip = pkt.data() + off;
  const int family = ip[0] >> 4;
  size_t l4, end;
  uint8_t proto;
  if (family == 4) {
    l4 = (ip[0] & 0xf) * 4;
    end = (ip[2] << 8) | ip[3];
    proto = ip[9];
  } else {
    l4 = 40;
    end = 40 + ((ip[4] << 8) | ip[5]);
    proto = ip[6];
  }
  const uint8_t* src = ip + (family == 4 ? 12 : 8);
  const uint8_t* dst = ip + (family == 4 ? 16 : 24);
  uint32_t sum = proto == kIpProtoIcmp ? 0 : RefPseudo(family, src, dst, proto, static_cast<uint32_t>(end - l4));
  return RefFold(RefSum(ip + l4, end - l4, sum)) == 0xffff;
}
bool RefIpv4HeaderOk(const Bytes& pkt, size_t off = 0) {
  return RefFold(RefSum(pkt.data() + off, (pkt[off] & 0xf) * 4)) == 0xffff;
}
uint16_t Get16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
void Put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
}

Addr V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return Addr{a, b, c, d}; }
Addr V6(uint8_t last, uint8_t first = 0xfd) {
  Addr a{};
  a[0] = first;
  a[15] = last;
  return a;
}

size_t CsumAt(uint8_t proto) { return proto == kIpProtoTcp ? 16 : proto == kIpProtoUdp ? 6 : 2; }

// Stores the reference L4 checksum (or the not-inverted pseudo-header sum when `partial`).
void RefSetL4(Bytes& pkt, bool partial = false) {
  const int family = pkt[0] >> 4;
  const size_t l4 = family == 4 ? (pkt[0] & 0xf) * 4 : 40;
  const uint8_t proto = family == 4 ? pkt[9] : pkt[6];
  if (proto != kIpProtoTcp && proto != kIpProtoUdp && proto != kIpProtoIcmp && proto != kIpProtoIcmpv6) return;
  const size_t at = l4 + CsumAt(proto);
  if (at + 2 > pkt.size()) return;
  Put16(pkt, at, 0);
  const uint8_t* src = pkt.data() + (family == 4 ? 12 : 8);
  const uint8_t* dst = pkt.data() + (family == 4 ? 16 : 24);
  const uint32_t l4_len = static_cast<uint32_t>(pkt.size() - l4);
  const uint32_t ph = proto == kIpProtoIcmp ? 0 : RefPseudo(family, src, dst, proto, l4_len);
  if (partial) {
    Put16(pkt, at, RefFold(ph));
    return;
  }
  uint16_t c = ~RefFold(RefSum(pkt.data() + l4, l4_len, ph));
  if (proto == kIpProtoUdp && c == 0) c = 0xffff;
  Put16(pkt, at, c);
}

Bytes Tcp(uint16_t sport, uint16_t dport, uint8_t flags, const Bytes& options = {}, size_t payload = 0) {
  Bytes t(20 + options.size() + payload, 0);
  Put16(t, 0, sport);
  Put16(t, 2, dport);
  t[4] = 0x11, t[7] = 0x22, t[11] = 0x33;
  t[12] = static_cast<uint8_t>(((20 + options.size()) / 4) << 4);
  t[13] = flags;
  Put16(t, 14, 0xfaf0);
  std::copy(options.begin(), options.end(), t.begin() + 20);
  for (size_t i = 0; i < payload; ++i) t[20 + options.size() + i] = static_cast<uint8_t>(i * 7 + 1);
  return t;
}
Bytes Udp(uint16_t sport, uint16_t dport, size_t payload = 5) {
  Bytes u(8 + payload, 0);
  Put16(u, 0, sport);
  Put16(u, 2, dport);
  Put16(u, 4, static_cast<uint16_t>(u.size()));
  for (size_t i = 0; i < payload; ++i) u[8 + i] = static_cast<uint8_t>(i * 13 + 3);
  return u;
}
Bytes Icmp(uint8_t type, uint16_t id, size_t payload = 6) {
  Bytes m(8 + payload, 0);
  m[0] = type;
  Put16(m, 4, id);
  Put16(m, 6, 1);
  for (size_t i = 0; i < payload; ++i) m[8 + i] = static_cast<uint8_t>(i + 0x41);
  return m;
}

Bytes Ip4(uint8_t proto, const Addr& src, const Addr& dst, const Bytes& l4, uint16_t frag = 0x4000,
          bool checksum = true) {
  Bytes p(20);
  p[0] = 0x45;
  Put16(p, 2, static_cast<uint16_t>(20 + l4.size()));
  Put16(p, 4, 0x1234);
  Put16(p, 6, frag);
  p[8] = 64;
  p[9] = proto;
  std::copy(src.begin(), src.begin() + 4, p.begin() + 12);
  std::copy(dst.begin(), dst.begin() + 4, p.begin() + 16);
  Put16(p, 10, ~RefFold(RefSum(p.data(), 20)));
  p.insert(p.end(), l4.begin(), l4.end());
  if (checksum) RefSetL4(p);
  return p;
}
Bytes Ip6(uint8_t next, const Addr& src, const Addr& dst, const Bytes& l4, const Bytes& ext = {},
          bool checksum = true) {
  Bytes p(40);
  p[0] = 0x60;
  Put16(p, 4, static_cast<uint16_t>(ext.size() + l4.size()));
  p[6] = next;
  p[7] = 64;
  std::copy(src.begin(), src.end(), p.begin() + 8);
  std::copy(dst.begin(), dst.end(), p.begin() + 24);
  p.insert(p.end(), ext.begin(), ext.end());
  p.insert(p.end(), l4.begin(), l4.end());
  if (checksum && ext.empty()) RefSetL4(p);
  return p;
}
// An IPv6 extension header of 8 bytes (hop-by-hop / routing / destination options / fragment).
Bytes Ext(uint8_t next, uint16_t frag_word = 0) {
  Bytes e(8, 0);
  e[0] = next;
  if (frag_word) Put16(e, 2, frag_word);
  return e;
}

L3Info Parse(const Bytes& p, L3Error want = L3Error::kNone, size_t off = 0) {
  L3Info info;
  const uint16_t et = (p[off] >> 4) == 6 ? kEtherTypeIpv6 : kEtherTypeIpv4;
  EXPECT_EQ(ParseL3(p.data(), p.size(), off, et, &info), want) << L3ErrorName(want);
  return info;
}

// --- parsing ---

TEST(L3Parse, Ipv4TcpSynWithOptionsEthernetOffsetAndPadding) {
  const Bytes opts = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0};  // MSS, NOP, wscale 7, SACK-permitted, EOL pad
  Bytes pkt = Ip4(kIpProtoTcp, V4(10, 0, 0, 1), V4(10, 0, 0, 2), Tcp(40000, 443, kTcpSyn, opts, 3));
  Bytes frame(14, 0);
  frame.insert(frame.end(), pkt.begin(), pkt.end());
  frame.resize(frame.size() + 6, 0xee);  // Ethernet padding
  L3Info info = Parse(frame, L3Error::kNone, 14);
  EXPECT_EQ(info.family, 4);
  EXPECT_EQ(info.proto, kIpProtoTcp);
  EXPECT_EQ(info.l3_offset, 14u);
  EXPECT_EQ(info.l4_offset, 34u);
  EXPECT_EQ(info.ip_len, pkt.size());
  EXPECT_EQ(info.sport, 40000);
  EXPECT_EQ(info.dport, 443);
  EXPECT_EQ(info.tcp_flags, kTcpSyn);
  EXPECT_EQ(info.tcp_seq, 0x11000022u);
  EXPECT_EQ(info.tcp_ack, 0x00000033u);
  EXPECT_EQ(info.tcp_window, 0xfaf0);
  EXPECT_EQ(info.tcp_wscale, 7);
  EXPECT_EQ(info.l4_payload_len, 3u);
  EXPECT_EQ(info.ttl, 64);
  EXPECT_TRUE(info.dont_fragment);
  EXPECT_FALSE(info.is_fragment);
  EXPECT_TRUE(info.has_l4);
  EXPECT_EQ(info.src_address(), IpAddress::V4(10, 0, 0, 1));
  EXPECT_EQ(info.dst_address(), IpAddress::V4(10, 0, 0, 2));
}

TEST(L3Parse, WindowScaleOnlyOnSynAndClampedAndMalformedOptionsStop) {
  L3Info info = Parse(Ip4(kIpProtoTcp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Tcp(1, 2, kTcpAck, {3, 3, 7, 0})));
  EXPECT_EQ(info.tcp_wscale, 0xff);
  info = Parse(Ip4(kIpProtoTcp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Tcp(1, 2, kTcpSyn, {3, 3, 20, 0})));
  EXPECT_EQ(info.tcp_wscale, 14);
  // An option whose length runs past the header is ignored, not read.
  info = Parse(Ip4(kIpProtoTcp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Tcp(1, 2, kTcpSyn, {2, 40, 0, 0, 3, 3, 5, 0})));
  EXPECT_EQ(info.tcp_wscale, 0xff);
  info = Parse(Ip4(kIpProtoTcp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Tcp(1, 2, kTcpSyn, {1, 1, 1, 3})));
  EXPECT_EQ(info.tcp_wscale, 0xff);
}

TEST(L3Parse, Ipv4Errors) {
  const Bytes good = Ip4(kIpProtoUdp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Udp(1, 2));
  L3Info info;
  EXPECT_EQ(ParseL3(good.data(), good.size(), 0, kEtherTypeArp, &info), L3Error::kNotIp);
  EXPECT_EQ(ParseL3(good.data(), 19, 0, kEtherTypeIpv4, &info), L3Error::kTruncated);
  EXPECT_EQ(ParseL3(good.data(), good.size(), good.size() + 1, kEtherTypeIpv4, &info), L3Error::kTruncated);
  Bytes p = good;
  p[0] = 0x65;
  EXPECT_EQ(ParseL3(p.data(), p.size(), 0, kEtherTypeIpv4, &info), L3Error::kBadHeader);
  p = good;
  p[0] = 0x44;  // IHL 4
  Parse(p, L3Error::kBadHeader);
  p = good;
  p[0] = 0x4f;  // IHL 15 = 60 bytes > 33 present
  Parse(p, L3Error::kTruncated);
  p = good;
  Put16(p, 2, 19);
  Parse(p, L3Error::kBadHeader);
  p = good;
  Put16(p, 2, static_cast<uint16_t>(good.size() + 1));
  Parse(p, L3Error::kTruncated);
  // L4 minimums.
  Parse(Ip4(kIpProtoUdp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Bytes(7, 0), 0, false), L3Error::kBadL4);
  Parse(Ip4(kIpProtoTcp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Bytes(19, 0), 0, false), L3Error::kBadL4);
  Parse(Ip4(kIpProtoIcmp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Bytes(7, 0), 0, false), L3Error::kBadL4);
  Bytes tcp = Tcp(1, 2, kTcpAck);
  tcp[12] = 0x40;  // doff 4
  Parse(Ip4(kIpProtoTcp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), tcp), L3Error::kBadL4);
  tcp[12] = 0x60;  // doff 6 but only 20 bytes
  Parse(Ip4(kIpProtoTcp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), tcp), L3Error::kBadL4);
  // Header length 0 with nothing after the header is not a GSO frame.
  p = Ip4(kIpProtoUdp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), {}, 0, false);
  Put16(p, 2, 0);
  Parse(p, L3Error::kBadHeader);
}

TEST(L3Parse, Ipv4FragmentsAndGso) {
  // First fragment: MF, offset 0: ports parsed.
  L3Info info = Parse(Ip4(kIpProtoUdp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Udp(53, 5353), 0x2000));
  EXPECT_TRUE(info.is_fragment);
  EXPECT_TRUE(info.has_l4);
  EXPECT_FALSE(info.dont_fragment);
  EXPECT_EQ(info.sport, 53);
  // Later fragment: no L4, even with fewer bytes than a UDP header.
  info = Parse(Ip4(kIpProtoUdp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Bytes(3, 0xaa), 0x0010, false));
  EXPECT_TRUE(info.is_fragment);
  EXPECT_FALSE(info.has_l4);
  EXPECT_EQ(info.sport, 0);
  EXPECT_FALSE(MayAnswerWithIcmpError(info));
  // GSO: total length 0 with bytes present means all of them.
  Bytes p = Ip4(kIpProtoTcp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Tcp(1, 2, kTcpAck, {}, 3000));
  Put16(p, 2, 0);
  info = Parse(p);
  EXPECT_EQ(info.ip_len, p.size());
  EXPECT_EQ(info.l4_payload_len, 3000u);
}

TEST(L3Parse, IcmpEchoIdInPorts) {
  L3Info info = Parse(Ip4(kIpProtoIcmp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Icmp(kIcmpEchoRequest, 0x4242)));
  EXPECT_EQ(info.sport, 0x4242);
  EXPECT_EQ(info.dport, 0x4242);
  EXPECT_EQ(info.icmp_type, kIcmpEchoRequest);
  EXPECT_FALSE(info.is_icmp_error());
  info = Parse(Ip6(kIpProtoIcmpv6, V6(1), V6(2), Icmp(kIcmp6EchoReply, 0x777)));
  EXPECT_EQ(info.sport, 0x777);
  EXPECT_EQ(info.dport, 0x777);
  info = Parse(Ip4(kIpProtoIcmp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Icmp(kIcmpTimeExceeded, 0x777)));
  EXPECT_EQ(info.sport, 0);
  EXPECT_TRUE(info.is_icmp_error());
}

TEST(L3Parse, Ipv6UdpAndExtensionHeaders) {
  L3Info info = Parse(Ip6(kIpProtoUdp, V6(1), V6(2), Udp(1000, 53)));
  EXPECT_EQ(info.family, 6);
  EXPECT_EQ(info.l4_offset, 40u);
  EXPECT_EQ(info.sport, 1000);
  EXPECT_TRUE(info.dont_fragment);
  EXPECT_EQ(info.src_address(), IpAddress::V6(V6(1)));

  // Hop-by-hop -> routing -> destination options (16 bytes) -> TCP.
  Bytes ext = Ext(43);
  Bytes routing = Ext(60);
  Bytes dopts = Ext(kIpProtoTcp);
  dopts.resize(16, 0);
  dopts[1] = 1;
  ext.insert(ext.end(), routing.begin(), routing.end());
  ext.insert(ext.end(), dopts.begin(), dopts.end());
  info = Parse(Ip6(0, V6(1), V6(2), Tcp(22, 2222, kTcpSyn | kTcpAck), ext));
  EXPECT_EQ(info.proto, kIpProtoTcp);
  EXPECT_EQ(info.l4_offset, 40u + 32u);
  EXPECT_EQ(info.dport, 2222);

  // AH: length in 4-byte units minus 2 (here 3 -> 20 bytes).
  Bytes ah(20, 0);
  ah[0] = kIpProtoUdp;
  ah[1] = 3;
  info = Parse(Ip6(51, V6(1), V6(2), Udp(7, 8), ah));
  EXPECT_EQ(info.l4_offset, 60u);
  EXPECT_EQ(info.dport, 8);

  // First fragment (offset 0, M): ports; later fragment: none.
  info = Parse(Ip6(44, V6(1), V6(2), Udp(7, 8), Ext(kIpProtoUdp, 0x0001)));
  EXPECT_TRUE(info.is_fragment);
  EXPECT_TRUE(info.has_l4);
  EXPECT_EQ(info.sport, 7);
  info = Parse(Ip6(44, V6(1), V6(2), Bytes(4, 0xab), Ext(kIpProtoUdp, 0x00a8)));
  EXPECT_TRUE(info.is_fragment);
  EXPECT_FALSE(info.has_l4);
  EXPECT_EQ(info.proto, kIpProtoUdp);
  EXPECT_EQ(info.l4_offset, 48u);

  // ESP and no-next-header stop the walk.
  info = Parse(Ip6(60, V6(1), V6(2), Bytes(16, 1), Ext(50)));
  EXPECT_EQ(info.proto, 50);
  EXPECT_EQ(info.l4_offset, 48u);
  info = Parse(Ip6(59, V6(1), V6(2), {}));
  EXPECT_EQ(info.proto, 59);
}

TEST(L3Parse, Ipv6Errors) {
  // Eight extension headers are fine, nine are not.
  Bytes ext8;
  for (int i = 0; i < 8; ++i) {
    Bytes e = Ext(i == 7 ? kIpProtoUdp : 60);
    ext8.insert(ext8.end(), e.begin(), e.end());
  }
  Parse(Ip6(60, V6(1), V6(2), Udp(1, 2), ext8));
  Bytes ext9 = ext8;
  ext9[7 * 8] = 60;
  Bytes last = Ext(kIpProtoUdp);
  ext9.insert(ext9.end(), last.begin(), last.end());
  Parse(Ip6(60, V6(1), V6(2), Udp(1, 2), ext9), L3Error::kBadHeader);
  // Hop-by-hop after another header.
  Parse(Ip6(60, V6(1), V6(2), Udp(1, 2), Ext(0)), L3Error::kBadHeader);
  // Extension header longer than the packet.
  Bytes big = Ext(kIpProtoUdp);
  big[1] = 10;
  Parse(Ip6(60, V6(1), V6(2), Udp(1, 2), big), L3Error::kTruncated);
  Parse(Ip6(60, V6(1), V6(2), {}, Bytes(4, 0)), L3Error::kTruncated);
  // Short header, wrong version, payload length past the end, short L4.
  Bytes p = Ip6(kIpProtoUdp, V6(1), V6(2), Udp(1, 2));
  L3Info info;
  EXPECT_EQ(ParseL3(p.data(), 39, 0, kEtherTypeIpv6, &info), L3Error::kTruncated);
  EXPECT_EQ(ParseL3(p.data(), p.size(), 0, kEtherTypeIpv4, &info), L3Error::kBadHeader);
  Bytes q = p;
  Put16(q, 4, static_cast<uint16_t>(p.size()));
  Parse(q, L3Error::kTruncated);
  Parse(Ip6(kIpProtoUdp, V6(1), V6(2), Bytes(7, 0), {}, false), L3Error::kBadL4);
  Parse(Ip6(kIpProtoIcmpv6, V6(1), V6(2), Bytes(7, 0), {}, false), L3Error::kBadL4);
  // GSO: payload length 0 with bytes present.
  q = p;
  Put16(q, 4, 0);
  info = Parse(q);
  EXPECT_EQ(info.ip_len, p.size());
}

// --- checksums and rewrites ---

TEST(L3Checksum, ChecksumPartialMatchesReference) {
  const Bytes data = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xff, 0xee, 0x01};
  uint8_t c[2];
  const uint16_t v = ChecksumFold(ChecksumPartial(data.data(), data.size()));
  std::memcpy(c, &v, 2);
  EXPECT_EQ(static_cast<uint16_t>(c[0] << 8 | c[1]), static_cast<uint16_t>(~RefFold(RefSum(data.data(), data.size()))));
  // Continuing a sum over an even split is the same as one sum.
  EXPECT_EQ(ChecksumPartial(data.data() + 4, 9, ChecksumPartial(data.data(), 4)),
            ChecksumPartial(data.data(), data.size()));
}

TEST(L3Checksum, TtlDecrement) {
  Bytes p = Ip4(kIpProtoTcp, V4(10, 1, 2, 3), V4(10, 3, 2, 1), Tcp(1, 2, kTcpAck));
  L3Info info = Parse(p);
  for (int i = 0; i < 70; ++i) {
    if (info.ttl <= 1) break;
    DecrementTtl(p.data(), info);
    ASSERT_TRUE(RefIpv4HeaderOk(p));
    ASSERT_TRUE(IPv4HeaderChecksumOk(p.data(), 20));
  }
  EXPECT_EQ(p[8], 1);
  EXPECT_EQ(info.ttl, 1);
  EXPECT_TRUE(RefL4Ok(p));
  Bytes q = Ip6(kIpProtoUdp, V6(1), V6(2), Udp(1, 2));
  info = Parse(q);
  DecrementTtl(q.data(), info);
  EXPECT_EQ(q[7], 63);
  EXPECT_EQ(info.ttl, 63);
  EXPECT_TRUE(RefL4Ok(q));
}

TEST(L3Checksum, SetIpv4HeaderChecksum) {
  Bytes p = Ip4(kIpProtoUdp, V4(1, 2, 3, 4), V4(5, 6, 7, 8), Udp(1, 2));
  p[10] = p[11] = 0x55;
  EXPECT_FALSE(IPv4HeaderChecksumOk(p.data(), 20));
  SetIPv4HeaderChecksum(p.data(), 20);
  EXPECT_TRUE(RefIpv4HeaderOk(p));
  EXPECT_TRUE(IPv4HeaderChecksumOk(p.data(), 20));
}

struct NatCase {
  const char* name;
  Bytes pkt;
};

std::vector<NatCase> NatCases() {
  return {
      {"tcp4", Ip4(kIpProtoTcp, V4(192, 168, 1, 10), V4(8, 8, 8, 8), Tcp(51000, 443, kTcpAck, {}, 11))},
      {"udp4", Ip4(kIpProtoUdp, V4(192, 168, 1, 10), V4(8, 8, 8, 8), Udp(51000, 9, 9))},
      {"icmp4", Ip4(kIpProtoIcmp, V4(192, 168, 1, 10), V4(8, 8, 8, 8), Icmp(kIcmpEchoRequest, 0x1111, 7))},
      {"tcp6", Ip6(kIpProtoTcp, V6(0x10), V6(0x20, 0x20), Tcp(51000, 443, kTcpSyn, {}, 5))},
      {"udp6", Ip6(kIpProtoUdp, V6(0x10), V6(0x20, 0x20), Udp(51000, 9, 10))},
      {"icmp6", Ip6(kIpProtoIcmpv6, V6(0x10), V6(0x20, 0x20), Icmp(kIcmp6EchoRequest, 0x1111, 7))},
  };
}

TEST(L3Rewrite, SnatAndDnatKeepChecksums) {
  for (NatCase& c : NatCases()) {
    SCOPED_TRACE(c.name);
    Bytes& p = c.pkt;
    ASSERT_TRUE(RefL4Ok(p));
    L3Info info = Parse(p);
    const bool v4 = info.family == 4;
    const Addr snat = v4 ? V4(203, 0, 113, 7) : V6(0x77, 0x20);
    const Addr dnat = v4 ? V4(10, 9, 8, 7) : V6(0x99);
    RewriteSource(p.data(), info, VnetHdr{}, snat, 61000);
    EXPECT_TRUE(RefL4Ok(p));
    if (v4) {
      EXPECT_TRUE(RefIpv4HeaderOk(p));
    }
    EXPECT_EQ(info.src, snat);
    EXPECT_EQ(info.sport, 61000);
    RewriteDestination(p.data(), info, VnetHdr{}, dnat, 8443);
    EXPECT_TRUE(RefL4Ok(p));
    if (v4) {
      EXPECT_TRUE(RefIpv4HeaderOk(p));
    }
    L3Info again = Parse(p);
    EXPECT_EQ(again.src, snat);
    EXPECT_EQ(again.dst, dnat);
    EXPECT_EQ(again.sport, info.sport);
    EXPECT_EQ(again.dport, info.dport);
    if (info.proto == kIpProtoTcp || info.proto == kIpProtoUdp) {
      EXPECT_EQ(again.sport, 61000);
      EXPECT_EQ(again.dport, 8443);
    } else {
      EXPECT_EQ(again.sport, 8443);  // echo id: both rewrites set the one identifier
    }
    // Same address and port again: nothing changes.
    const Bytes before = p;
    RewriteSource(p.data(), info, VnetHdr{}, snat, info.sport);
    EXPECT_EQ(p, before);
  }
}

TEST(L3Rewrite, UdpZeroChecksumStaysZero) {
  Bytes p = Ip4(kIpProtoUdp, V4(192, 168, 1, 10), V4(8, 8, 8, 8), Udp(5000, 53), 0x4000, false);
  ASSERT_EQ(Get16(p, 26), 0);
  L3Info info = Parse(p);
  RewriteSource(p.data(), info, VnetHdr{}, V4(1, 2, 3, 4), 6000);
  RewriteDestination(p.data(), info, VnetHdr{}, V4(5, 6, 7, 8), 7000);
  EXPECT_EQ(Get16(p, 26), 0);
  EXPECT_EQ(Get16(p, 20), 6000);
  EXPECT_TRUE(RefIpv4HeaderOk(p));
}

TEST(L3Checksum, SetL4ChecksumAndUdpZeroBecomesAllOnes) {
  for (NatCase& c : NatCases()) {
    SCOPED_TRACE(c.name);
    L3Info info = Parse(c.pkt);
    const size_t at = info.l4_offset + CsumAt(info.proto);
    Put16(c.pkt, at, 0x1357);
    EXPECT_FALSE(RefL4Ok(c.pkt));
    EXPECT_FALSE(L4ChecksumOk(c.pkt.data(), info));
    SetL4Checksum(c.pkt.data(), info);
    EXPECT_TRUE(RefL4Ok(c.pkt));
    EXPECT_TRUE(L4ChecksumOk(c.pkt.data(), info));
  }
  // Pick the last payload word so the UDP sum comes out as 0: it must be stored as 0xffff.
  Bytes p = Ip4(kIpProtoUdp, V4(10, 0, 0, 1), V4(10, 0, 0, 2), Udp(1, 2, 2), 0x4000, false);
  Put16(p, 28, 0);
  const uint32_t sum = RefSum(p.data() + 20, 10, RefPseudo(4, p.data() + 12, p.data() + 16, kIpProtoUdp, 10));
  Put16(p, 28, static_cast<uint16_t>(0xffff - RefFold(sum)));
  L3Info info = Parse(p);
  SetL4Checksum(p.data(), info);
  EXPECT_EQ(Get16(p, 26), 0xffff);
  EXPECT_TRUE(RefL4Ok(p));
}

TEST(L3Rewrite, PartialChecksumFollowsPseudoHeaderOnly) {
  VnetHdr vnet;
  vnet.flags = VnetHdr::kFlagNeedsCsum;
  for (NatCase& c : NatCases()) {
    if (c.pkt[0] >> 4 == 4 && c.pkt[9] == kIpProtoIcmp) continue;  // no pseudo-header
    SCOPED_TRACE(c.name);
    Bytes& p = c.pkt;
    RefSetL4(p, /*partial=*/true);
    L3Info info = Parse(p);
    const bool v4 = info.family == 4;
    const Addr snat = v4 ? V4(203, 0, 113, 7) : V6(0x77, 0x20);
    const Addr dnat = v4 ? V4(10, 9, 8, 7) : V6(0x99);
    RewriteSource(p.data(), info, vnet, snat, 61000);
    RewriteDestination(p.data(), info, vnet, dnat, 8443);
    if (v4) {
      EXPECT_TRUE(RefIpv4HeaderOk(p));
    }
    const size_t at = info.l4_offset + CsumAt(info.proto);
    const uint16_t got = Get16(p, at);
    Bytes expected = p;
    RefSetL4(expected, /*partial=*/true);
    const uint16_t want = Get16(expected, at);
    // One's-complement equality (0 and 0xffff are both zero).
    EXPECT_EQ(got % 0xffff, want % 0xffff) << std::hex << got << " vs " << want;
    // And the NIC's finishing step (sum over L4 with that seed) gives a valid packet.
    Put16(p, at, 0);
    const uint32_t l4_len = static_cast<uint32_t>(p.size() - (info.l4_offset));
    uint16_t fin = ~RefFold(RefSum(p.data() + info.l4_offset, l4_len, got));
    Put16(p, at, fin);
    EXPECT_TRUE(RefL4Ok(p));
  }
}

TEST(L3Rewrite, NonFirstFragmentOnlyTouchesIpHeader) {
  Bytes p = Ip4(kIpProtoUdp, V4(192, 168, 1, 10), V4(8, 8, 8, 8), Bytes(16, 0x5a), 0x0020, false);
  L3Info info = Parse(p);
  ASSERT_FALSE(info.has_l4);
  RewriteSource(p.data(), info, VnetHdr{}, V4(1, 2, 3, 4), 1234);
  EXPECT_TRUE(RefIpv4HeaderOk(p));
  EXPECT_EQ(Bytes(p.begin() + 20, p.end()), Bytes(16, 0x5a));
  EXPECT_EQ(info.src_address(), IpAddress::V4(1, 2, 3, 4));
  Bytes q = Ip6(44, V6(1), V6(2), Bytes(16, 0x5a), Ext(kIpProtoTcp, 0x00a8));
  info = Parse(q);
  RewriteDestination(q.data(), info, VnetHdr{}, V6(3), 1234);
  EXPECT_EQ(Bytes(q.begin() + 48, q.end()), Bytes(16, 0x5a));
  EXPECT_EQ(q[39], 3);
}

TEST(L3Rewrite, FirstFragmentKeepsWholeDatagramChecksumRight) {
  // The L4 checksum covers the reassembled datagram; an incremental update on the first fragment keeps it right.
  Bytes whole = Ip4(kIpProtoUdp, V4(192, 168, 1, 10), V4(8, 8, 8, 8), Udp(1000, 2000, 40));
  Bytes first = whole;
  Put16(first, 6, 0x2000);
  L3Info info = Parse(first);
  RewriteSource(first.data(), info, VnetHdr{}, V4(1, 2, 3, 4), 3000);
  Put16(first, 6, 0x4000);
  Put16(first, 10, 0);
  Put16(first, 10, ~RefFold(RefSum(first.data(), 20)));
  EXPECT_TRUE(RefL4Ok(first));
}

// --- ICMP errors ---

TEST(L3Icmp, BuildV4QuotesUpTo576AndInnerParses) {
  const Bytes offending = Ip4(kIpProtoTcp, V4(192, 168, 1, 10), V4(8, 8, 8, 8), Tcp(40000, 80, kTcpAck, {}, 1000));
  const L3Info oinfo = Parse(offending);
  ASSERT_TRUE(MayAnswerWithIcmpError(oinfo));
  uint8_t out[1500];
  const size_t n = BuildIcmpError(offending.data(), offending.size(), oinfo, V4(192, 168, 1, 1), kIcmpDestUnreachable,
                                  4, 1400, out, sizeof(out));
  ASSERT_EQ(n, 576u);
  Bytes err(out, out + n);
  EXPECT_TRUE(RefIpv4HeaderOk(err));
  EXPECT_TRUE(RefL4Ok(err));
  EXPECT_EQ(Get16(err, 26), 1400);
  EXPECT_EQ(Bytes(err.begin() + 28, err.end()), Bytes(offending.begin(), offending.begin() + 548));
  L3Info info = Parse(err);
  EXPECT_TRUE(info.is_icmp_error());
  EXPECT_FALSE(MayAnswerWithIcmpError(info));
  EXPECT_EQ(info.src_address(), IpAddress::V4(192, 168, 1, 1));
  EXPECT_EQ(info.dst_address(), IpAddress::V4(192, 168, 1, 10));
  EXPECT_EQ(info.ttl, 64);
  L3Info inner;
  ASSERT_EQ(ParseIcmpInner(err.data(), err.size(), info, &inner), L3Error::kNone);
  EXPECT_EQ(inner.l3_offset, 28u);
  EXPECT_EQ(inner.sport, 40000);
  EXPECT_EQ(inner.dport, 80);
  EXPECT_EQ(inner.src_address(), IpAddress::V4(192, 168, 1, 10));
  EXPECT_EQ(inner.ip_len, 548u);
  // Too small a buffer: nothing written.
  EXPECT_EQ(BuildIcmpError(offending.data(), offending.size(), oinfo, V4(1, 1, 1, 1), 11, 0, 0, out, 500), 0u);
  // Parameter problem carries the pointer; a short packet is quoted whole (without Ethernet padding).
  Bytes small = Ip4(kIpProtoUdp, V4(192, 168, 1, 10), V4(8, 8, 8, 8), Udp(1, 2, 2));
  const size_t small_len = small.size();
  small.resize(small.size() + 10, 0);
  const size_t m =
      BuildIcmpError(small.data(), small.size(), Parse(small), V4(1, 1, 1, 1), kIcmpParamProblem, 0, 9, out, 1500);
  EXPECT_EQ(m, 28 + small_len);
  EXPECT_EQ(out[24], 9);
}

TEST(L3Icmp, BuildV6QuotesUpTo1280AndInnerParses) {
  const Bytes offending = Ip6(kIpProtoUdp, V6(0x10), V6(0x20, 0x20), Udp(5000, 6000, 1400));
  const L3Info oinfo = Parse(offending);
  uint8_t out[2000];
  const size_t n =
      BuildIcmpError(offending.data(), offending.size(), oinfo, V6(1), kIcmp6PacketTooBig, 0, 1280, out, sizeof(out));
  ASSERT_EQ(n, 1280u);
  Bytes err(out, out + n);
  EXPECT_TRUE(RefL4Ok(err));
  EXPECT_EQ(Get16(err, 46), 1280);
  L3Info info = Parse(err);
  EXPECT_TRUE(info.is_icmp_error());
  EXPECT_EQ(info.dst, V6(0x10));
  L3Info inner;
  ASSERT_EQ(ParseIcmpInner(err.data(), err.size(), info, &inner), L3Error::kNone);
  EXPECT_EQ(inner.family, 6);
  EXPECT_EQ(inner.sport, 5000);
  EXPECT_EQ(inner.dport, 6000);
  EXPECT_EQ(inner.l3_offset, 48u);
}

TEST(L3Icmp, InnerParseErrors) {
  const Bytes icmp_hdr = {kIcmpTimeExceeded, 0, 0, 0, 0, 0, 0, 0};
  // Only 10 bytes of the offending packet: its header is truncated.
  Bytes payload = icmp_hdr;
  payload.resize(18, 0x45);
  Bytes err = Ip4(kIpProtoIcmp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), payload);
  L3Info outer = Parse(err);
  L3Info inner;
  EXPECT_EQ(ParseIcmpInner(err.data(), err.size(), outer, &inner), L3Error::kTruncated);
  // A full inner header but only 4 bytes of its UDP header.
  const Bytes quoted = Ip4(kIpProtoUdp, V4(2, 2, 2, 2), V4(3, 3, 3, 3), Udp(1, 2));
  payload = icmp_hdr;
  payload.insert(payload.end(), quoted.begin(), quoted.begin() + 24);
  err = Ip4(kIpProtoIcmp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), payload);
  outer = Parse(err);
  EXPECT_EQ(ParseIcmpInner(err.data(), err.size(), outer, &inner), L3Error::kBadL4);
  // A truncated TCP header (8 bytes) is enough.
  const Bytes qtcp = Ip4(kIpProtoTcp, V4(2, 2, 2, 2), V4(3, 3, 3, 3), Tcp(1111, 2222, kTcpSyn));
  payload = icmp_hdr;
  payload.insert(payload.end(), qtcp.begin(), qtcp.begin() + 28);
  err = Ip4(kIpProtoIcmp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), payload);
  outer = Parse(err);
  ASSERT_EQ(ParseIcmpInner(err.data(), err.size(), outer, &inner), L3Error::kNone);
  EXPECT_EQ(inner.sport, 1111);
  EXPECT_EQ(inner.dport, 2222);
  // Not an ICMP error at all.
  L3Info echo = Parse(Ip4(kIpProtoIcmp, V4(1, 1, 1, 1), V4(2, 2, 2, 2), Icmp(kIcmpEchoRequest, 1)));
  EXPECT_NE(ParseIcmpInner(err.data(), err.size(), echo, &inner), L3Error::kNone);
}

TEST(L3Icmp, MayAnswerWithIcmpError) {
  auto v4 = [](Addr src, Addr dst) { return Parse(Ip4(kIpProtoUdp, src, dst, Udp(1, 2))); };
  EXPECT_TRUE(MayAnswerWithIcmpError(v4(V4(10, 0, 0, 1), V4(10, 0, 0, 2))));
  EXPECT_FALSE(MayAnswerWithIcmpError(v4(V4(10, 0, 0, 1), V4(224, 0, 0, 1))));
  EXPECT_FALSE(MayAnswerWithIcmpError(v4(V4(10, 0, 0, 1), V4(255, 255, 255, 255))));
  EXPECT_FALSE(MayAnswerWithIcmpError(v4(V4(0, 0, 0, 0), V4(10, 0, 0, 2))));
  EXPECT_FALSE(MayAnswerWithIcmpError(v4(V4(127, 0, 0, 1), V4(10, 0, 0, 2))));
  auto v6 = [](Addr src, Addr dst) { return Parse(Ip6(kIpProtoUdp, src, dst, Udp(1, 2))); };
  EXPECT_TRUE(MayAnswerWithIcmpError(v6(V6(1), V6(2))));
  EXPECT_FALSE(MayAnswerWithIcmpError(v6(V6(1), V6(1, 0xff))));
  EXPECT_FALSE(MayAnswerWithIcmpError(v6(V6(0, 0), V6(2))));
  EXPECT_FALSE(MayAnswerWithIcmpError(v6(V6(1, 0), V6(2))));
  EXPECT_TRUE(MayAnswerWithIcmpError(Parse(Ip6(kIpProtoIcmpv6, V6(1), V6(2), Icmp(kIcmp6EchoRequest, 1)))));
  EXPECT_FALSE(MayAnswerWithIcmpError(Parse(Ip6(kIpProtoIcmpv6, V6(1), V6(2), Icmp(kIcmp6TimeExceeded, 1)))));
}

// --- cross-check with Wireshark's dissectors, when installed ---

TEST(L3Pcap, TsharkFindsNoBadChecksums) {
  if (std::system("command -v tshark >/dev/null 2>&1") != 0) GTEST_SKIP() << "tshark not installed";
  std::vector<Bytes> packets;
  for (NatCase& c : NatCases()) {
    L3Info info = Parse(c.pkt);
    const bool v4 = info.family == 4;
    RewriteSource(c.pkt.data(), info, VnetHdr{}, v4 ? V4(203, 0, 113, 7) : V6(0x77, 0x20), 61000);
    DecrementTtl(c.pkt.data(), info);
    packets.push_back(c.pkt);
    uint8_t out[1500];
    const size_t n = BuildIcmpError(c.pkt.data(), c.pkt.size(), info, v4 ? V4(192, 0, 2, 1) : V6(0xfe, 0x20),
                                    v4 ? kIcmpTimeExceeded : kIcmp6TimeExceeded, 0, 0, out, sizeof(out));
    ASSERT_GT(n, 0u);
    packets.emplace_back(out, out + n);
  }
  char path[] = "/tmp/l3_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  FILE* f = fdopen(fd, "wb");
  const uint32_t global[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 101};  // LINKTYPE_RAW
  std::fwrite(global, sizeof(global), 1, f);
  for (const Bytes& p : packets) {
    const uint32_t rec[4] = {1, 0, static_cast<uint32_t>(p.size()), static_cast<uint32_t>(p.size())};
    std::fwrite(rec, sizeof(rec), 1, f);
    std::fwrite(p.data(), p.size(), 1, f);
  }
  std::fclose(f);
  const std::string cmd = std::string("tshark -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE ") +
                          "-o udp.check_checksum:TRUE -r " + path + " -V 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, got);
  pclose(pipe);
  std::remove(path);
  EXPECT_EQ(output.find("Bad"), std::string::npos) << output;
  EXPECT_EQ(output.find("Malformed"), std::string::npos) << output;
  EXPECT_EQ(output.find("incorrect"), std::string::npos) << output;
  EXPECT_NE(output.find("Good"), std::string::npos) << output.substr(0, 2000);
}

}  // namespace
}  // namespace cloudlet

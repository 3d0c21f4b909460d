// IPv4 / IPv6 parsing, Internet checksums and in-place rewrites (see l3.h).
//
// Checksum arithmetic runs on 16-bit words loaded with memcpy in host order: the one's-complement sum is byte-order
// independent (RFC 1071 2(B)), so values read from and stored to the packet this way are "network order as they sit
// in the packet" without any swapping.
#include "net/l3.h"

#include <algorithm>
#include <cstring>

#include "net/ethernet.h"

namespace cloudlet {
namespace {

constexpr uint8_t kIp6HopByHop = 0;
constexpr uint8_t kIp6Routing = 43;
constexpr uint8_t kIp6Fragment = 44;
constexpr uint8_t kIp6Esp = 50;
constexpr uint8_t kIp6Ah = 51;
constexpr uint8_t kIp6NoNext = 59;
constexpr uint8_t kIp6DestOptions = 60;
constexpr int kMaxIp6ExtHeaders = 8;
constexpr uint8_t kTcpOptWindowScale = 3;
constexpr uint8_t kMaxWindowScale = 14;  // RFC 7323 2.3: larger values are treated as 14
constexpr size_t kIcmpHeaderLen = 8;
constexpr size_t kIpv4HeaderLen = 20;
constexpr size_t kIpv6HeaderLen = 40;
constexpr size_t kIcmpv4ErrorMax = 576;   // RFC 1812 4.3.2.3
constexpr size_t kIcmpv6ErrorMax = 1280;  // RFC 4443 2.4 (c): the IPv6 minimum MTU

uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void Store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
}
void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void PutBe32(uint8_t* p, uint32_t v) {
  PutBe16(p, static_cast<uint16_t>(v >> 16));
  PutBe16(p + 2, static_cast<uint16_t>(v));
}

uint16_t Fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The L4 header fields; `quoted` = inside an ICMP error, where only the first 8 bytes are guaranteed.
L3Error ParseL4(const uint8_t* l4, size_t avail, bool quoted, L3Info* out) {
  switch (out->proto) {
    case kIpProtoTcp: {
      if (avail < (quoted ? 8u : 20u)) return L3Error::kBadL4;
      out->sport = Be16(l4);
      out->dport = Be16(l4 + 2);
      out->tcp_seq = Be32(l4 + 4);
      if (avail >= 12) out->tcp_ack = Be32(l4 + 8);
      size_t header_len = std::min<size_t>(avail, 20);
      if (avail >= 13) {
        header_len = (l4[12] >> 4) * 4u;
        if (header_len < 20) return L3Error::kBadL4;
        if (header_len > avail) {
          if (!quoted) return L3Error::kBadL4;
          header_len = avail;
        }
      }
      if (avail >= 14) out->tcp_flags = l4[13];
      if (avail >= 16) out->tcp_window = Be16(l4 + 14);
      if ((out->tcp_flags & kTcpSyn) && header_len > 20) {
        // Options: a malformed list stops the scan (the segment itself is still valid to forward).
        size_t i = 20;
        while (i < header_len) {
          const uint8_t kind = l4[i];
          if (kind == 0) break;
          if (kind == 1) {
            ++i;
            continue;
          }
          if (i + 1 >= header_len) break;
          const uint8_t opt_len = l4[i + 1];
          if (opt_len < 2 || i + opt_len > header_len) break;
          if (kind == kTcpOptWindowScale && opt_len == 3) out->tcp_wscale = std::min(l4[i + 2], kMaxWindowScale);
          i += opt_len;
        }
      }
      out->l4_payload_len = static_cast<uint32_t>(avail - header_len);
      return L3Error::kNone;
    }
    case kIpProtoUdp:
      if (avail < 8) return L3Error::kBadL4;
      out->sport = Be16(l4);
      out->dport = Be16(l4 + 2);
      out->l4_payload_len = static_cast<uint32_t>(avail - 8);
      return L3Error::kNone;
    case kIpProtoIcmp:
    case kIpProtoIcmpv6: {
      // ICMP over the wrong family is just an unknown protocol.
      if ((out->proto == kIpProtoIcmp) != (out->family == 4)) break;
      if (avail < kIcmpHeaderLen) return L3Error::kBadL4;
      out->icmp_type = l4[0];
      out->icmp_code = l4[1];
      const bool echo = out->family == 4 ? (out->icmp_type == kIcmpEchoRequest || out->icmp_type == kIcmpEchoReply)
                                         : (out->icmp_type == kIcmp6EchoRequest || out->icmp_type == kIcmp6EchoReply);
      if (echo) out->sport = out->dport = Be16(l4 + 4);
      out->l4_payload_len = static_cast<uint32_t>(avail - kIcmpHeaderLen);
      return L3Error::kNone;
    }
    default:
      break;
  }
  out->l4_payload_len = static_cast<uint32_t>(avail);
  return L3Error::kNone;
}

L3Error ParseIpv4(const uint8_t* ip, size_t avail, bool quoted, L3Info* out) {
  if (avail < kIpv4HeaderLen) return L3Error::kTruncated;
  if ((ip[0] >> 4) != 4) return L3Error::kBadHeader;
  const size_t header_len = (ip[0] & 0x0f) * 4u;
  if (header_len < kIpv4HeaderLen) return L3Error::kBadHeader;
  if (header_len > avail) return L3Error::kTruncated;
  size_t total = Be16(ip + 2);
  if (total == 0 && avail > header_len) {
    total = avail;  // GSO super-frame (or a quoted one): the length field is not meaningful, use the bytes present
  } else if (total < header_len) {
    return L3Error::kBadHeader;
  } else if (total > avail) {
    if (!quoted) return L3Error::kTruncated;
    total = avail;  // an ICMP error quotes only the start of the packet
  }
  out->family = 4;
  out->tos = ip[1];
  const uint16_t frag = Be16(ip + 6);
  out->dont_fragment = frag & 0x4000;
  out->is_fragment = (frag & 0x2000) || (frag & 0x1fff);
  out->has_l4 = (frag & 0x1fff) == 0;
  out->ttl = ip[8];
  out->proto = ip[9];
  std::memcpy(out->src.data(), ip + 12, 4);
  std::memcpy(out->dst.data(), ip + 16, 4);
  out->ip_len = static_cast<uint32_t>(total);
  out->l4_offset = out->l3_offset + static_cast<uint32_t>(header_len);
  if (!out->has_l4) return L3Error::kNone;
  return ParseL4(ip + header_len, total - header_len, quoted, out);
}

L3Error ParseIpv6(const uint8_t* ip, size_t avail, bool quoted, L3Info* out) {
  if (avail < kIpv6HeaderLen) return L3Error::kTruncated;
  if ((ip[0] >> 4) != 6) return L3Error::kBadHeader;
  size_t total = kIpv6HeaderLen + Be16(ip + 4);
  if (total == kIpv6HeaderLen && avail > kIpv6HeaderLen) {
    total = avail;  // GSO super-frame or jumbogram: payload length 0, use the bytes present
  } else if (total > avail) {
    if (!quoted) return L3Error::kTruncated;
    total = avail;
  }
  out->family = 6;
  out->tos = static_cast<uint8_t>((ip[0] & 0x0f) << 4 | ip[1] >> 4);
  out->ttl = ip[7];
  out->dont_fragment = true;
  std::memcpy(out->src.data(), ip + 8, 16);
  std::memcpy(out->dst.data(), ip + 24, 16);
  out->ip_len = static_cast<uint32_t>(total);

  uint8_t next = ip[6];
  size_t off = kIpv6HeaderLen;
  bool first_fragment = true;
  for (int count = 0;; ++count) {
    if (next != kIp6HopByHop && next != kIp6Routing && next != kIp6DestOptions && next != kIp6Fragment &&
        next != kIp6Ah) {
      break;
    }
    if (count == kMaxIp6ExtHeaders) return L3Error::kBadHeader;
    if (next == kIp6HopByHop && count != 0) return L3Error::kBadHeader;  // RFC 8200 4.1: only right after the header
    if (off + 8 > total) return L3Error::kTruncated;
    const uint8_t* ext = ip + off;
    size_t ext_len;
    if (next == kIp6Fragment) {
      ext_len = 8;
      out->is_fragment = true;
      first_fragment = (Be16(ext + 2) >> 3) == 0;
    } else if (next == kIp6Ah) {
      ext_len = (ext[1] + 2u) * 4u;  // RFC 4302: length in 4-byte units minus 2
    } else {
      ext_len = (ext[1] + 1u) * 8u;
    }
    if (off + ext_len > total) return L3Error::kTruncated;
    next = ext[0];
    off += ext_len;
    if (!first_fragment) break;  // what follows is fragment data, not headers
  }
  out->proto = next;
  out->l4_offset = out->l3_offset + static_cast<uint32_t>(off);
  out->has_l4 = first_fragment;
  if (!out->has_l4) return L3Error::kNone;
  if (next == kIp6Esp || next == kIp6NoNext) {
    out->l4_payload_len = static_cast<uint32_t>(total - off);
    return L3Error::kNone;
  }
  return ParseL4(ip + off, total - off, quoted, out);
}

L3Error Parse(const uint8_t* data, size_t len, size_t l3_offset, uint16_t ethertype, bool quoted, L3Info* out) {
  *out = L3Info{};
  if (ethertype != kEtherTypeIpv4 && ethertype != kEtherTypeIpv6) return L3Error::kNotIp;
  if (l3_offset > len) return L3Error::kTruncated;
  out->l3_offset = static_cast<uint32_t>(l3_offset);
  const L3Error err = ethertype == kEtherTypeIpv4 ? ParseIpv4(data + l3_offset, len - l3_offset, quoted, out)
                                                  : ParseIpv6(data + l3_offset, len - l3_offset, quoted, out);
  if (err != L3Error::kNone) {
    *out = L3Info{};
    out->l3_offset = static_cast<uint32_t>(l3_offset);
  }
  return err;
}

// Where the L4 checksum sits, or nullptr when there is none or it is not inside the packet's bytes.
uint8_t* L4ChecksumField(uint8_t* data, const L3Info& info) {
  if (!info.has_l4) return nullptr;
  size_t at;
  switch (info.proto) {
    case kIpProtoTcp:
      at = 16;
      break;
    case kIpProtoUdp:
      at = 6;
      break;
    case kIpProtoIcmp:
      if (info.family != 4) return nullptr;
      at = 2;
      break;
    case kIpProtoIcmpv6:
      if (info.family != 6) return nullptr;
      at = 2;
      break;
    default:
      return nullptr;
  }
  if (info.l4_offset + at + 2 > static_cast<size_t>(info.l3_offset) + info.ip_len) return nullptr;
  return data + info.l4_offset + at;
}

bool IsEcho(const L3Info& info) {
  if (!info.has_l4) return false;
  if (info.family == 4 && info.proto == kIpProtoIcmp) {
    return info.icmp_type == kIcmpEchoRequest || info.icmp_type == kIcmpEchoReply;
  }
  if (info.family == 6 && info.proto == kIpProtoIcmpv6) {
    return info.icmp_type == kIcmp6EchoRequest || info.icmp_type == kIcmp6EchoReply;
  }
  return false;
}

void Rewrite(uint8_t* data, L3Info& info, const VnetHdr& vnet, const std::array<uint8_t, 16>& addr, uint16_t port,
             bool source) {
  uint8_t* ip = data + info.l3_offset;
  const bool partial = vnet.flags & VnetHdr::kFlagNeedsCsum;
  uint8_t* csum = L4ChecksumField(data, info);
  const bool udp = info.proto == kIpProtoUdp;
  // UDP over IPv4 with checksum 0 has none (RFC 768): it stays 0.
  if (csum && udp && info.family == 4 && !partial && Load16(csum) == 0) csum = nullptr;
  const bool pseudo = csum && info.proto != kIpProtoIcmp;  // ICMPv4 has no pseudo-header
  const bool had_nonzero = csum && Load16(csum) != 0;

  std::array<uint8_t, 16>& field = source ? info.src : info.dst;
  if (info.family == 4) {
    uint8_t* a = ip + (source ? 12 : 16);
    if (std::memcmp(a, addr.data(), 4) != 0) {
      ChecksumReplace32(ip + 10, a, addr.data());
      if (pseudo) ChecksumReplace32(csum, a, addr.data(), partial);
      std::memcpy(a, addr.data(), 4);
    }
    field = {};
    std::memcpy(field.data(), addr.data(), 4);
  } else {
    uint8_t* a = ip + (source ? 8 : 24);
    if (std::memcmp(a, addr.data(), 16) != 0) {
      if (pseudo) ChecksumReplace128(csum, a, addr.data(), partial);
      std::memcpy(a, addr.data(), 16);
    }
    field = addr;
  }

  // Ports live only in the first fragment; a partial checksum is finished by the NIC over the new port.
  uint8_t* port_at = nullptr;
  if (info.has_l4 && (info.proto == kIpProtoTcp || info.proto == kIpProtoUdp)) {
    port_at = data + info.l4_offset + (source ? 0 : 2);
  } else if (IsEcho(info)) {
    port_at = data + info.l4_offset + 4;
  }
  if (port_at) {
    uint8_t next[2];
    PutBe16(next, port);
    if (Be16(port_at) != port) {
      if (csum && !partial) ChecksumReplace16(csum, Load16(port_at), Load16(next));
      std::memcpy(port_at, next, 2);
    }
    if (IsEcho(info)) {
      info.sport = info.dport = port;
    } else if (source) {
      info.sport = port;
    } else {
      info.dport = port;
    }
  }
  // A computed UDP checksum of 0 is sent as all ones (RFC 768): 0 would mean "no checksum".
  if (csum && udp && !partial && had_nonzero && Load16(csum) == 0) Store16(csum, 0xffff);
}

bool IsV4Unusable(const uint8_t* a) {
  return a[0] == 0 || a[0] == 127 || a[0] >= 224;  // "this network", loopback, multicast, class E and broadcast
}
bool IsV6Unusable(const std::array<uint8_t, 16>& a) {
  if (a[0] == 0xff) return true;  // multicast
  for (int i = 0; i < 15; ++i) {
    if (a[i] != 0) return false;
  }
  return a[15] <= 1;  // :: or ::1
}

}  // namespace

const char* L3ErrorName(L3Error error) {
  switch (error) {
    case L3Error::kNone:
      return "none";
    case L3Error::kNotIp:
      return "not IP";
    case L3Error::kTruncated:
      return "truncated";
    case L3Error::kBadHeader:
      return "bad IP header";
    case L3Error::kBadL4:
      return "bad L4 header";
  }
  return "unknown";
}

IpAddress L3Info::src_address() const {
  return family == 6 ? IpAddress::V6(src) : IpAddress::V4(src[0], src[1], src[2], src[3]);
}
IpAddress L3Info::dst_address() const {
  return family == 6 ? IpAddress::V6(dst) : IpAddress::V4(dst[0], dst[1], dst[2], dst[3]);
}

bool L3Info::is_icmp_error() const {
  if (!has_l4) return false;
  if (family == 4 && proto == kIpProtoIcmp) {
    return icmp_type == kIcmpDestUnreachable || icmp_type == 4 || icmp_type == 5 || icmp_type == kIcmpTimeExceeded ||
           icmp_type == kIcmpParamProblem;
  }
  if (family == 6 && proto == kIpProtoIcmpv6) return icmp_type >= 1 && icmp_type <= 4;
  return false;
}

L3Error ParseL3(const uint8_t* data, size_t len, size_t l3_offset, uint16_t ethertype, L3Info* out) {
  return Parse(data, len, l3_offset, ethertype, /*quoted=*/false, out);
}

L3Error ParseIcmpInner(const uint8_t* data, size_t len, const L3Info& outer, L3Info* inner) {
  const size_t end = std::min<size_t>(len, static_cast<size_t>(outer.l3_offset) + outer.ip_len);
  if (!outer.is_icmp_error()) {
    *inner = L3Info{};
    return L3Error::kBadL4;
  }
  const size_t start = static_cast<size_t>(outer.l4_offset) + kIcmpHeaderLen;
  if (start > end) {
    *inner = L3Info{};
    return L3Error::kTruncated;
  }
  return Parse(data, end, start, outer.family == 4 ? kEtherTypeIpv4 : kEtherTypeIpv6, /*quoted=*/true, inner);
}

uint32_t ChecksumPartial(const uint8_t* data, size_t len, uint32_t initial) {
  uint64_t sum = initial;
  size_t i = 0;
  for (; i + 1 < len; i += 2) sum += Load16(data + i);
  if (i < len) {
    const uint8_t last[2] = {data[i], 0};
    sum += Load16(last);
  }
  return Fold(sum);
}

uint16_t ChecksumFold(uint32_t sum) { return static_cast<uint16_t>(~Fold(sum)); }

bool IPv4HeaderChecksumOk(const uint8_t* ip_header, size_t header_len) {
  return ChecksumFold(ChecksumPartial(ip_header, header_len)) == 0;
}

void SetIPv4HeaderChecksum(uint8_t* ip_header, size_t header_len) {
  Store16(ip_header + 10, 0);
  Store16(ip_header + 10, ChecksumFold(ChecksumPartial(ip_header, header_len)));
}

uint32_t PseudoHeaderSum(const L3Info& info, uint32_t l4_len) {
  uint8_t ph[40] = {};
  if (info.family == 4) {
    std::memcpy(ph, info.src.data(), 4);
    std::memcpy(ph + 4, info.dst.data(), 4);
    ph[9] = info.proto;
    PutBe16(ph + 10, static_cast<uint16_t>(l4_len));
    return ChecksumPartial(ph, 12);
  }
  std::memcpy(ph, info.src.data(), 16);
  std::memcpy(ph + 16, info.dst.data(), 16);
  PutBe32(ph + 32, l4_len);
  ph[39] = info.proto;
  return ChecksumPartial(ph, 40);
}

namespace {
// The full sum over pseudo-header (if any) and L4 bytes, or false when it cannot be computed.
bool L4Sum(const uint8_t* data, const L3Info& info, uint32_t* sum) {
  if (!info.has_l4 || info.is_fragment) return false;
  const size_t l4_len = static_cast<size_t>(info.l3_offset) + info.ip_len - info.l4_offset;
  const uint32_t initial = info.proto == kIpProtoIcmp ? 0 : PseudoHeaderSum(info, static_cast<uint32_t>(l4_len));
  *sum = ChecksumPartial(data + info.l4_offset, l4_len, initial);
  return true;
}
}  // namespace

void SetL4Checksum(uint8_t* data, const L3Info& info) {
  uint8_t* csum = L4ChecksumField(data, info);
  if (!csum || info.is_fragment) return;
  Store16(csum, 0);
  uint32_t sum = 0;
  L4Sum(data, info, &sum);
  uint16_t value = ChecksumFold(sum);
  if (info.proto == kIpProtoUdp && value == 0) value = 0xffff;
  Store16(csum, value);
}

bool L4ChecksumOk(const uint8_t* data, const L3Info& info) {
  uint8_t* csum = L4ChecksumField(const_cast<uint8_t*>(data), info);
  if (!csum || info.is_fragment) return true;
  if (info.proto == kIpProtoUdp && info.family == 4 && Load16(csum) == 0) return true;
  uint32_t sum = 0;
  L4Sum(data, info, &sum);
  return ChecksumFold(sum) == 0;
}

void ChecksumReplace16(uint8_t* field, uint16_t from, uint16_t to, bool partial) {
  const uint16_t hc = Load16(field);
  if (partial) {
    Store16(field, Fold(uint64_t{hc} + static_cast<uint16_t>(~from) + to));
  } else {
    Store16(field,
            static_cast<uint16_t>(~Fold(uint64_t{static_cast<uint16_t>(~hc)} + static_cast<uint16_t>(~from) + to)));
  }
}

namespace {
void ChecksumReplaceN(uint8_t* field, const uint8_t* from, const uint8_t* to, size_t n, bool partial) {
  const uint16_t hc = Load16(field);
  uint64_t sum = partial ? hc : static_cast<uint16_t>(~hc);
  for (size_t i = 0; i < n; i += 2) sum += static_cast<uint16_t>(~Load16(from + i)) + uint64_t{Load16(to + i)};
  const uint16_t folded = Fold(sum);
  Store16(field, partial ? folded : static_cast<uint16_t>(~folded));
}
}  // namespace

void ChecksumReplace32(uint8_t* field, const uint8_t from[4], const uint8_t to[4], bool partial) {
  ChecksumReplaceN(field, from, to, 4, partial);
}
void ChecksumReplace128(uint8_t* field, const uint8_t from[16], const uint8_t to[16], bool partial) {
  ChecksumReplaceN(field, from, to, 16, partial);
}

void DecrementTtl(uint8_t* data, L3Info& info) {
  uint8_t* ip = data + info.l3_offset;
  if (info.family == 4) {
    if (ip[8] == 0) return;
    const uint16_t before = Load16(ip + 8);
    --ip[8];
    ChecksumReplace16(ip + 10, before, Load16(ip + 8));
    info.ttl = ip[8];
  } else if (info.family == 6) {
    if (ip[7] == 0) return;
    --ip[7];
    info.ttl = ip[7];
  }
}

void RewriteSource(uint8_t* data, L3Info& info, const VnetHdr& vnet, const std::array<uint8_t, 16>& addr,
                   uint16_t port) {
  Rewrite(data, info, vnet, addr, port, /*source=*/true);
}

void RewriteDestination(uint8_t* data, L3Info& info, const VnetHdr& vnet, const std::array<uint8_t, 16>& addr,
                        uint16_t port) {
  Rewrite(data, info, vnet, addr, port, /*source=*/false);
}

size_t BuildIcmpError(const uint8_t* offending, size_t offending_len, const L3Info& offending_info,
                      const std::array<uint8_t, 16>& router_addr, uint8_t type, uint8_t code, uint32_t mtu,
                      uint8_t* out, size_t cap) {
  if (offending_info.family == 4) {
    if (offending_len < kIpv4HeaderLen || (offending[0] >> 4) != 4 || (offending[0] & 0x0f) < 5) return 0;
    // Ethernet padding after the packet is not part of it.
    const size_t declared = Be16(offending + 2);
    if (declared >= kIpv4HeaderLen && declared < offending_len) offending_len = declared;
    const size_t headers = kIpv4HeaderLen + kIcmpHeaderLen;
    const size_t quote = std::min(offending_len, kIcmpv4ErrorMax - headers);
    const size_t total = headers + quote;
    if (cap < total) return 0;
    std::memset(out, 0, headers);
    out[0] = 0x45;
    out[1] = 0xc0;  // precedence "internetwork control", as RFC 1812 4.3.2.5 suggests for ICMP errors
    PutBe16(out + 2, static_cast<uint16_t>(total));
    out[8] = 64;
    out[9] = kIpProtoIcmp;
    std::memcpy(out + 12, router_addr.data(), 4);
    std::memcpy(out + 16, offending + 12, 4);
    SetIPv4HeaderChecksum(out, kIpv4HeaderLen);
    uint8_t* icmp = out + kIpv4HeaderLen;
    icmp[0] = type;
    icmp[1] = code;
    if (type == kIcmpDestUnreachable && code == 4) PutBe16(icmp + 6, static_cast<uint16_t>(mtu));
    if (type == kIcmpParamProblem) icmp[4] = static_cast<uint8_t>(mtu);
    std::memcpy(icmp + kIcmpHeaderLen, offending, quote);
    Store16(icmp + 2, ChecksumFold(ChecksumPartial(icmp, kIcmpHeaderLen + quote)));
    return total;
  }
  if (offending_info.family != 6) return 0;
  if (offending_len < kIpv6HeaderLen || (offending[0] >> 4) != 6) return 0;
  const size_t declared = kIpv6HeaderLen + Be16(offending + 4);
  if (declared > kIpv6HeaderLen && declared < offending_len) offending_len = declared;
  const size_t headers = kIpv6HeaderLen + kIcmpHeaderLen;
  const size_t quote = std::min(offending_len, kIcmpv6ErrorMax - headers);
  const size_t total = headers + quote;
  if (cap < total) return 0;
  std::memset(out, 0, headers);
  out[0] = 0x60;
  PutBe16(out + 4, static_cast<uint16_t>(kIcmpHeaderLen + quote));
  out[6] = kIpProtoIcmpv6;
  out[7] = 64;
  std::memcpy(out + 8, router_addr.data(), 16);
  std::memcpy(out + 24, offending + 8, 16);
  uint8_t* icmp = out + kIpv6HeaderLen;
  icmp[0] = type;
  icmp[1] = code;
  if (type == kIcmp6PacketTooBig || type == kIcmp6ParamProblem) PutBe32(icmp + 4, mtu);
  std::memcpy(icmp + kIcmpHeaderLen, offending, quote);
  L3Info info;
  info.family = 6;
  info.proto = kIpProtoIcmpv6;
  std::memcpy(info.src.data(), out + 8, 16);
  std::memcpy(info.dst.data(), out + 24, 16);
  const uint32_t icmp_len = static_cast<uint32_t>(kIcmpHeaderLen + quote);
  Store16(icmp + 2, ChecksumFold(ChecksumPartial(icmp, icmp_len, PseudoHeaderSum(info, icmp_len))));
  return total;
}

bool MayAnswerWithIcmpError(const L3Info& info) {
  if (info.is_icmp_error()) return false;
  if (info.is_fragment && !info.has_l4) return false;  // not the first fragment
  if (info.family == 4) return !IsV4Unusable(info.src.data()) && !IsV4Unusable(info.dst.data());
  if (info.family == 6) return !IsV6Unusable(info.src) && !IsV6Unusable(info.dst);
  return false;
}

}  // namespace cloudlet

#include "vpn/offload.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

namespace cloudlet::vpn {
namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;
constexpr size_t kTcpMinHeader = 20;
constexpr size_t kTcpChecksumOffset = 16;
constexpr size_t kMaxIpLength = 65535;

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpCwr = 0x80;

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Store32(uint8_t* p, uint32_t v) {
  Store16(p, static_cast<uint16_t>(v >> 16));
  Store16(p + 2, static_cast<uint16_t>(v));
}

// What the fixed IP header says. Errors are static strings so that the rejection path decides itself whether to
// build an Error.
struct IpHeader {
  uint8_t version = 0;
  size_t header_len = 0;  // IPv4: IHL * 4; IPv6: 40 (extension headers count as payload)
  size_t total_len = 0;   // from the header, never trusted beyond the buffer by callers
  uint8_t protocol = 0;   // IPv6: the first next-header value
  bool fragment = false;  // IPv4 MF set or fragment offset != 0
};

const char* ParseIp(std::span<const uint8_t> p, IpHeader* ip) {
  if (p.empty()) return "empty packet";
  ip->version = p[0] >> 4;
  if (ip->version == 4) {
    if (p.size() < kIpv4MinHeader) return "truncated IPv4 header";
    ip->header_len = size_t{p[0] & 0x0fu} * 4;
    if (ip->header_len < kIpv4MinHeader) return "IPv4 IHL below 5";
    if (ip->header_len > p.size()) return "IPv4 header longer than the packet";
    ip->total_len = Load16(&p[2]);
    if (ip->total_len < ip->header_len) return "IPv4 total length shorter than its header";
    ip->protocol = p[9];
    ip->fragment = (Load16(&p[6]) & 0x3fff) != 0;
    return nullptr;
  }
  if (ip->version == 6) {
    if (p.size() < kIpv6Header) return "truncated IPv6 header";
    ip->header_len = kIpv6Header;
    ip->total_len = kIpv6Header + Load16(&p[4]);
    ip->protocol = p[6];
    ip->fragment = false;
    return nullptr;
  }
  return "not an IPv4 or IPv6 packet";
}

// True if the packet could be TCP whose header we cannot see: an IPv4 TCP fragment, or IPv6 with an extension
// header (hop-by-hop, routing, fragment, ESP, AH, destination options, mobility, HIP, shim6).
bool MayHideTcp(const IpHeader& ip) {
  if (ip.version == 4) return ip.protocol == kProtoTcp && ip.fragment;
  switch (ip.protocol) {
    case 0:
    case 43:
    case 44:
    case 50:
    case 51:
    case 60:
    case 135:
    case 139:
    case 140:
      return true;
    default:
      return false;
  }
}

Error MakeError(const char* what) { return Error(std::string("offload: ") + what); }

void SetIpv4Checksum(uint8_t* ip, size_t header_len) {
  Store16(ip + 10, 0);
  Store16(ip + 10, ChecksumFinish(ChecksumAdd({ip, header_len})));
}

// Pseudo-header sum over the packet's own addresses.
uint64_t PacketPseudoSum(const uint8_t* ip, uint8_t version, uint32_t l4_length) {
  return version == 4 ? PseudoHeaderSum({ip + 12, 8}, kProtoTcp, l4_length)
                      : PseudoHeaderSum({ip + 8, 32}, kProtoTcp, l4_length);
}

// Checks that `count` segments, the longest `longest` and the last `last` bytes long, fit the area.
const char* CheckArea(const SegmentArea& area, size_t count, size_t longest, size_t last) {
  if (count > area.lengths.size()) return "more segments than the caller allows";
  if (area.offset > area.stride || longest > area.stride - area.offset) return "segment does not fit in the stride";
  if (area.out.size() < area.offset + last) return "output area too small";
  if ((count - 1) > (area.out.size() - area.offset - last) / std::max<size_t>(area.stride, 1)) {
    return "output area too small";
  }
  return nullptr;
}

Result<size_t> SegmentNonGso(const VnetHdr& vnet, std::span<const uint8_t> packet, const SegmentArea& area) {
  if (packet.empty()) return MakeError("empty packet");
  if (const char* err = CheckArea(area, 1, packet.size(), packet.size())) return MakeError(err);
  uint8_t* dst = area.out.data() + area.offset;
  if (vnet.flags & VnetHdr::kFlagNeedsCsum) {
    IpHeader ip;
    if (const char* err = ParseIp(packet, &ip)) return MakeError(err);
    if (ip.total_len != packet.size()) return MakeError("IP total length does not match the packet length");
    const size_t start = vnet.csum_start;
    if (start < ip.header_len || start >= packet.size()) return MakeError("csum_start outside the IP payload");
    if (vnet.csum_offset > packet.size() - start || packet.size() - start - vnet.csum_offset < 2) {
      return MakeError("csum_offset past the end of the packet");
    }
    std::memcpy(dst, packet.data(), packet.size());
    // The field holds the pseudo-header sum (CHECKSUM_PARTIAL); summing over it completes the checksum. Like
    // skb_checksum_help, a result of 0 goes out as 0xffff, which UDP needs and TCP accepts.
    const uint16_t csum = ChecksumFinish(ChecksumAdd({dst + start, packet.size() - start}));
    Store16(dst + start + vnet.csum_offset, csum == 0 ? 0xffff : csum);
  } else {
    std::memcpy(dst, packet.data(), packet.size());
  }
  area.lengths[0] = packet.size();
  return size_t{1};
}

}  // namespace

uint64_t ChecksumAdd(std::span<const uint8_t> data, uint64_t sum) {
  // Native-endian 32-bit words into a 64-bit accumulator (no carry handling needed below 2^32 words); the
  // one's-complement sum is byte-order independent up to a final swap (RFC 1071 section 2(B)).
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
  auto word = [](const uint8_t* q) {
    uint32_t w;
    std::memcpy(&w, q, 4);
    return uint64_t{w};
  };
  while (n >= 32) {
    acc +=
        word(p) + word(p + 4) + word(p + 8) + word(p + 12) + word(p + 16) + word(p + 20) + word(p + 24) + word(p + 28);
    p += 32;
    n -= 32;
  }
  while (n >= 4) {
    acc += word(p);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    acc += h;
    p += 2;
    n -= 2;
  }
  if (n == 1) acc += std::endian::native == std::endian::little ? uint64_t{p[0]} : uint64_t{p[0]} << 8;
  uint16_t folded = ChecksumFold(acc);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>(folded << 8 | folded >> 8);
  }
  return sum + folded;
}

uint16_t ChecksumFold(uint64_t sum) {
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

uint64_t PseudoHeaderSum(std::span<const uint8_t> addresses, uint8_t protocol, uint32_t l4_length) {
  return ChecksumAdd(addresses) + protocol + (l4_length >> 16) + (l4_length & 0xffff);
}

Result<size_t> SegmentTunPacket(const VnetHdr& vnet, std::span<const uint8_t> packet, const SegmentArea& area) {
  const uint8_t gso = vnet.gso_type & static_cast<uint8_t>(~VnetHdr::kGsoEcn);
  if (gso == VnetHdr::kGsoNone) return SegmentNonGso(vnet, packet, area);
  if (gso != VnetHdr::kGsoTcpV4 && gso != VnetHdr::kGsoTcpV6) return MakeError("unsupported gso_type");
  if (vnet.gso_size == 0) return MakeError("gso_size 0");
  if (vnet.hdr_len > packet.size()) return MakeError("hdr_len past the end of the packet");

  IpHeader ip;
  if (const char* err = ParseIp(packet, &ip)) return MakeError(err);
  if (ip.version != (gso == VnetHdr::kGsoTcpV4 ? 4 : 6)) return MakeError("gso_type does not match the IP version");
  if (ip.total_len != packet.size()) return MakeError("IP total length does not match the packet length");
  if (ip.protocol != kProtoTcp) return MakeError("TSO packet is not TCP (or has IPv6 extension headers)");
  if (ip.fragment) return MakeError("TSO packet is an IPv4 fragment");
  const size_t iphl = ip.header_len;
  if (vnet.flags & VnetHdr::kFlagNeedsCsum) {
    if (vnet.csum_start != iphl || vnet.csum_offset != kTcpChecksumOffset) {
      return MakeError("csum_start/csum_offset do not point at the TCP checksum");
    }
  }
  if (packet.size() - iphl < kTcpMinHeader) return MakeError("truncated TCP header");
  // hdr_len is not used: the kernel may set it to the whole linear part, not the header length.
  const size_t thl = static_cast<size_t>(packet[iphl + 12] >> 4) * 4;
  if (thl < kTcpMinHeader) return MakeError("TCP data offset below 5");
  if (thl > packet.size() - iphl) return MakeError("TCP header longer than the packet");

  const size_t hlen = iphl + thl;
  const size_t payload = packet.size() - hlen;
  const size_t mss = vnet.gso_size;
  const size_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
  const size_t longest = hlen + std::min(mss, payload);
  const size_t last = hlen + (payload - (count - 1) * mss);
  if (const char* err = CheckArea(area, count, longest, last)) return MakeError(err);

  const uint8_t flags = packet[iphl + 13];
  const uint32_t seq = Load32(&packet[iphl + 4]);
  const uint16_t ipv4_id = Load16(&packet[4]);
  // The addresses' share of the pseudo-header is the same for every segment.
  const uint64_t address_sum =
      ip.version == 4 ? ChecksumAdd(packet.subspan(12, 8)) : ChecksumAdd(packet.subspan(8, 32));
  for (size_t i = 0; i < count; ++i) {
    const size_t seg_payload = std::min(mss, payload - i * mss);
    const size_t seg_len = hlen + seg_payload;
    uint8_t* dst = area.out.data() + i * area.stride + area.offset;
    std::memcpy(dst, packet.data(), hlen);
    std::memcpy(dst + hlen, packet.data() + hlen + i * mss, seg_payload);
    if (ip.version == 4) {
      Store16(dst + 2, static_cast<uint16_t>(seg_len));
      Store16(dst + 4, static_cast<uint16_t>(ipv4_id + i));
      SetIpv4Checksum(dst, iphl);
    } else {
      Store16(dst + 4, static_cast<uint16_t>(seg_len - kIpv6Header));
    }
    uint8_t* tcp = dst + iphl;
    Store32(tcp + 4, static_cast<uint32_t>(seq + i * mss));
    uint8_t seg_flags = flags;
    if (i + 1 < count) seg_flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (i > 0) seg_flags &= static_cast<uint8_t>(~kTcpCwr);
    tcp[13] = seg_flags;
    Store16(tcp + kTcpChecksumOffset, 0);
    const uint32_t l4_len = static_cast<uint32_t>(thl + seg_payload);
    const uint64_t sum = address_sum + kProtoTcp + (l4_len >> 16) + (l4_len & 0xffff);
    Store16(tcp + kTcpChecksumOffset, ChecksumFinish(ChecksumAdd({tcp, l4_len}, sum)));
    area.lengths[i] = seg_len;
  }
  return count;
}

// --- TcpCoalescer ---

TcpCoalescer::TcpCoalescer(size_t capacity)
    : entries_(capacity), outputs_(capacity), packets_(capacity), iovecs_(3 * capacity) {}

void TcpCoalescer::Reset() {
  count_ = 0;
  outputs_used_ = 0;
  open_count_ = 0;
  finished_ = false;
}

bool TcpCoalescer::SameAddresses(const Entry& a, const Entry& b) {
  if (a.version != b.version) return false;
  return a.version == 4 ? std::memcmp(a.data + 12, b.data + 12, 8) == 0 : std::memcmp(a.data + 8, b.data + 8, 32) == 0;
}

bool TcpCoalescer::SameFlow(const Entry& a, const Entry& b) {
  return SameAddresses(a, b) && std::memcmp(a.data + a.ip_hdr_len, b.data + b.ip_hdr_len, 4) == 0;
}

bool TcpCoalescer::CanMerge(const Output& group, const Entry& e) const {
  const Entry& first = entries_[group.first];
  if (group.closed || group.count >= kMaxGroupSegments) return false;
  if (e.seq != group.next_seq) return false;
  if (e.payload_len() > first.payload_len()) return false;
  if (first.tcp_hdr_len != e.tcp_hdr_len) return false;
  if (first.ip_hdr_len + first.tcp_hdr_len + group.payload + e.payload_len() > kMaxIpLength) return false;
  // Flags were checked when the entry was taken (ACK, maybe PSH; the first has no PSH or the group would be closed).
  const uint8_t* a = first.data;
  const uint8_t* b = e.data;
  if (e.version == 4) {
    // TOS, fragment word (DF; MF and offset are 0 for candidates), TTL.
    if (a[1] != b[1] || Load16(a + 6) != Load16(b + 6) || a[8] != b[8]) return false;
  } else {
    // Version, traffic class and flow label; hop limit.
    if (std::memcmp(a, b, 4) != 0 || a[7] != b[7]) return false;
  }
  const uint8_t* ta = a + first.ip_hdr_len;
  const uint8_t* tb = b + e.ip_hdr_len;
  // Ack number, data offset, window, urgent pointer and options must match; seq, flags and checksum may differ.
  return std::memcmp(ta + 8, tb + 8, 5) == 0 && std::memcmp(ta + 14, tb + 14, 2) == 0 &&
         std::memcmp(ta + 18, tb + 18, e.tcp_hdr_len - 18) == 0;
}

void TcpCoalescer::CloseOpen(size_t slot) {
  outputs_[open_[slot]].closed = true;
  for (size_t i = slot + 1; i < open_count_; ++i) open_[i - 1] = open_[i];
  --open_count_;
}

Status TcpCoalescer::Add(std::span<uint8_t> packet) {
  if (finished_) return MakeError("coalescer: Add after Finish without Reset");
  if (full()) return MakeError("coalescer full");
  IpHeader ip;
  if (const char* err = ParseIp(packet, &ip)) return MakeError(err);
  if (ip.total_len > packet.size()) return MakeError("IP total length past the end of the packet");

  Entry e;
  e.data = packet.data();
  e.len = static_cast<uint32_t>(ip.total_len);  // drops the padding
  e.version = ip.version;
  e.ip_hdr_len = static_cast<uint16_t>(ip.header_len);
  if (ip.protocol == kProtoTcp && !ip.fragment) {
    if (e.len - ip.header_len < kTcpMinHeader) return MakeError("truncated TCP header");
    const size_t thl = static_cast<size_t>(packet[ip.header_len + 12] >> 4) * 4;
    if (thl < kTcpMinHeader) return MakeError("TCP data offset below 5");
    if (thl > e.len - ip.header_len) return MakeError("TCP header longer than the packet");
    e.tcp = true;
    e.tcp_hdr_len = static_cast<uint16_t>(thl);
    e.seq = Load32(&packet[ip.header_len + 4]);
    e.tcp_flags = packet[ip.header_len + 13];
    e.candidate = (ip.version == 6 || ip.header_len == kIpv4MinHeader) && e.payload_len() > 0 &&
                  (e.tcp_flags & ~kTcpPsh) == kTcpAck;
  }

  const auto idx = static_cast<uint32_t>(count_++);
  entries_[idx] = e;
  if (e.tcp) {
    for (size_t slot = 0; slot < open_count_; ++slot) {
      Output& group = outputs_[open_[slot]];
      if (!SameFlow(entries_[group.first], e)) continue;
      if (e.candidate && CanMerge(group, e)) {
        entries_[group.last].next = idx;
        group.last = idx;
        ++group.count;
        group.payload += e.payload_len();
        group.next_seq = e.seq + e.payload_len();
        // A short segment or PSH ends the group, as does reaching the segment bound.
        const uint32_t out = open_[slot];
        CloseOpen(slot);
        if (!(e.tcp_flags & kTcpPsh) && e.payload_len() == entries_[group.first].payload_len() &&
            group.count < kMaxGroupSegments) {
          // Still open, now the most recently used.
          group.closed = false;
          open_[open_count_++] = out;
        }
        return Status::Ok();
      }
      // Anything later of this flow must come after this packet, so the group takes no more.
      CloseOpen(slot);
      break;
    }
  } else if (MayHideTcp(ip)) {
    // A fragment or a packet behind IPv6 extension headers may belong to any open flow between these hosts.
    for (size_t slot = 0; slot < open_count_;) {
      if (SameAddresses(entries_[outputs_[open_[slot]].first], e)) {
        CloseOpen(slot);
      } else {
        ++slot;
      }
    }
  }

  const auto out = static_cast<uint32_t>(outputs_used_++);
  outputs_[out] = Output{idx, idx, 1, e.payload_len(), e.seq + e.payload_len(), false};
  if (e.candidate && !(e.tcp_flags & kTcpPsh)) {
    if (open_count_ == kMaxOpenGroups) CloseOpen(0);
    open_[open_count_++] = out;
  }
  return Status::Ok();
}

std::span<const CoalescedPacket> TcpCoalescer::Finish() {
  if (finished_) return {packets_.data(), outputs_used_};
  finished_ = true;
  size_t k = 0;
  for (size_t i = 0; i < outputs_used_; ++i) {
    const Output& o = outputs_[i];
    const Entry& first = entries_[o.first];
    CoalescedPacket& pkt = packets_[i];
    pkt = CoalescedPacket{};
    pkt.iov = &iovecs_[k];
    pkt.segments = o.count;
    iovecs_[k++] = iovec{&pkt.vnet, sizeof(VnetHdr)};
    if (o.count == 1) {
      pkt.vnet.flags = VnetHdr::kFlagDataValid;
      pkt.ip_length = first.len;
      iovecs_[k++] = iovec{first.data, first.len};
      pkt.iov_count = 2;
      continue;
    }
    const size_t hlen = first.ip_hdr_len + first.tcp_hdr_len;
    const size_t ip_len = hlen + o.payload;
    uint8_t* ip = first.data;
    uint8_t* tcp = ip + first.ip_hdr_len;
    if (first.version == 4) {
      Store16(ip + 2, static_cast<uint16_t>(ip_len));
      SetIpv4Checksum(ip, first.ip_hdr_len);
    } else {
      Store16(ip + 4, static_cast<uint16_t>(ip_len - kIpv6Header));
    }
    tcp[13] = static_cast<uint8_t>(tcp[13] | (entries_[o.last].tcp_flags & kTcpPsh));
    const auto l4_len = static_cast<uint32_t>(first.tcp_hdr_len + o.payload);
    // NEEDS_CSUM: the kernel sums from csum_start over the field, so it holds the uncomplemented pseudo-header sum.
    Store16(tcp + kTcpChecksumOffset, ChecksumFold(PacketPseudoSum(ip, first.version, l4_len)));

    pkt.vnet.flags = VnetHdr::kFlagNeedsCsum;
    pkt.vnet.gso_type = first.version == 4 ? VnetHdr::kGsoTcpV4 : VnetHdr::kGsoTcpV6;
    pkt.vnet.hdr_len = static_cast<uint16_t>(hlen);
    pkt.vnet.gso_size = static_cast<uint16_t>(first.payload_len());
    pkt.vnet.csum_start = first.ip_hdr_len;
    pkt.vnet.csum_offset = kTcpChecksumOffset;
    pkt.ip_length = ip_len;
    iovecs_[k++] = iovec{ip, hlen};
    for (uint32_t e = o.first; e != kNone; e = entries_[e].next) {
      const Entry& seg = entries_[e];
      const size_t seg_hlen = seg.ip_hdr_len + seg.tcp_hdr_len;
      iovecs_[k++] = iovec{seg.data + seg_hlen, seg.len - seg_hlen};
    }
    pkt.iov_count = 2 + o.count;
  }
  return {packets_.data(), outputs_used_};
}

}  // namespace cloudlet::vpn

// Masquerade port allocation, port forward matching and NAT rewrites (see nat.h).
#include "firewall/nat.h"

#include <algorithm>
#include <cstring>

namespace cloudlet::firewall {
namespace {

uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

bool HasPorts(uint8_t proto) { return proto == kIpProtoTcp || proto == kIpProtoUdp; }

// The quoted packet inside an ICMP error and the outer ICMP checksum that covers it. Every byte changed in the quote
// is folded into the outer checksum; the quote's own IPv4 header checksum and (when it was quoted whole) its L4
// checksum are kept consistent too.
struct Quote {
  uint8_t* data;
  size_t len;
  uint8_t* outer_csum;
  L3Info* inner;

  void Replace16(uint8_t* field, uint16_t from, uint16_t to) {
    const uint16_t before = Load16(field);
    ChecksumReplace16(field, from, to);
    ChecksumReplace16(outer_csum, before, Load16(field));
  }

  uint8_t* L4Csum() {
    const size_t l4 = inner->l4_offset;
    size_t at = 0;
    if (inner->proto == kIpProtoUdp) {
      at = l4 + 6;
      if (at + 2 > len || Load16(data + at) == 0) return nullptr;
    } else if (inner->proto == kIpProtoTcp) {
      at = l4 + 16;
    } else if (inner->proto == kIpProtoIcmp || inner->proto == kIpProtoIcmpv6) {
      at = l4 + 2;
    } else {
      return nullptr;
    }
    return at + 2 <= len ? data + at : nullptr;
  }

  void Rewrite(bool source, const std::array<uint8_t, 16>& addr, uint16_t port) {
    uint8_t* ip = data + inner->l3_offset;
    uint8_t* l4csum = L4Csum();
    const bool pseudo = inner->proto != kIpProtoIcmp;
    const size_t alen = inner->family == 4 ? 4 : 16;
    uint8_t* a = inner->family == 4 ? ip + (source ? 12 : 16) : ip + (source ? 8 : 24);
    if (std::memcmp(a, addr.data(), alen) != 0) {
      if (alen == 4) {
        ChecksumReplace32(outer_csum, a, addr.data());
        const uint16_t before = Load16(ip + 10);
        ChecksumReplace32(ip + 10, a, addr.data());
        ChecksumReplace16(outer_csum, before, Load16(ip + 10));
        if (l4csum && pseudo) {
          const uint16_t b = Load16(l4csum);
          ChecksumReplace32(l4csum, a, addr.data());
          ChecksumReplace16(outer_csum, b, Load16(l4csum));
        }
      } else {
        ChecksumReplace128(outer_csum, a, addr.data());
        if (l4csum && pseudo) {
          const uint16_t b = Load16(l4csum);
          ChecksumReplace128(l4csum, a, addr.data());
          ChecksumReplace16(outer_csum, b, Load16(l4csum));
        }
      }
      std::memcpy(a, addr.data(), alen);
      (source ? inner->src : inner->dst) = addr;
    }
    size_t at = 0;
    bool echo_request;
    if (HasPorts(inner->proto)) {
      at = inner->l4_offset + (source ? 0 : 2);
    } else if (IsIcmpEcho(*inner, &echo_request)) {
      at = inner->l4_offset + 4;
    } else {
      return;
    }
    if (at + 2 > len) return;
    uint8_t next[2] = {static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port)};
    const uint16_t from = Load16(data + at);
    const uint16_t to = Load16(next);
    if (from == to) return;
    if (l4csum && l4csum != data + at) Replace16(l4csum, from, to);
    ChecksumReplace16(outer_csum, from, to);
    std::memcpy(data + at, next, 2);
  }
};

}  // namespace

bool AllocateMasqueradePort(const Conntrack& ct, CtTuple* reply, uint16_t lo, uint16_t hi) {
  const bool ported = HasPorts(reply->proto) || reply->proto == kIpProtoIcmp || reply->proto == kIpProtoIcmpv6;
  if (!ported) return !ct.Contains(*reply);
  if (lo > hi) return false;
  const bool echo = !HasPorts(reply->proto);
  // ICMP echo replies carry the identifier in both port fields.
  auto set = [&](uint16_t p) {
    reply->dport = p;
    if (echo) reply->sport = p;
  };
  if (reply->dport >= lo && reply->dport <= hi && !ct.Contains(*reply)) return true;
  const uint32_t n = static_cast<uint32_t>(hi - lo) + 1;
  const uint32_t start = static_cast<uint32_t>(ct.Hash(*reply) % n);
  const uint32_t attempts = n < kMaxPortAttempts ? n : kMaxPortAttempts;
  for (uint32_t k = 0; k < attempts; ++k) {
    set(static_cast<uint16_t>(lo + (start + k) % n));
    if (!ct.Contains(*reply)) return true;
  }
  return false;
}

bool MatchForward(const PortForward& fw, const L3Info& info, ZoneId from, std::array<uint8_t, 16>* to_addr,
                  uint16_t* to_port) {
  if (fw.from != kNoZone && fw.from != from) return false;
  if (info.proto != fw.proto || !info.has_l4) return false;
  if (info.dport < fw.port_lo || info.dport > fw.port_hi) return false;
  if ((fw.to_address.family == IpAddress::Family::kV4) != (info.family == 4)) return false;
  if (!fw.match_dst.empty()) {
    bool hit = false;
    for (const IpAddress& a : fw.match_dst) hit = hit || a.bytes == info.dst;
    if (!hit) return false;
  }
  *to_addr = fw.to_address.bytes;
  *to_port = static_cast<uint16_t>(fw.to_port + (info.dport - fw.port_lo));
  return true;
}

void ApplyNat(uint8_t* data, L3Info& info, const VnetHdr& vnet, const Connection& c, const CtTuple& r, bool reply) {
  if (!reply) {
    if (c.snat) RewriteSource(data, info, vnet, r.dst, r.dport);
    if (c.dnat) RewriteDestination(data, info, vnet, r.src, r.sport);
  } else {
    if (c.snat) RewriteDestination(data, info, vnet, c.original.src, c.original.sport);
    if (c.dnat) RewriteSource(data, info, vnet, c.original.dst, c.original.dport);
  }
}

void ApplyNatIcmpError(uint8_t* data, size_t len, L3Info& outer, L3Info& inner, const VnetHdr& vnet,
                       const Connection& c, const CtTuple& r, bool reply) {
  // The quote ends where the outer IP packet does (trailing frame bytes are not part of it).
  len = std::min<size_t>(len, static_cast<size_t>(outer.l3_offset) + outer.ip_len);
  if (outer.l4_offset + 4 > len) return;
  const CtTuple& o = c.original;
  // The quote first (its changes are folded into the ICMP checksum), then the outer header (the pseudo-header part
  // of an ICMPv6 checksum). The outer ports stay: an error has none.
  Quote q{data, len, data + outer.l4_offset + 2, &inner};
  if (reply) {
    if (c.snat) q.Rewrite(true, o.src, o.sport);
    if (c.dnat) q.Rewrite(false, o.dst, o.dport);
    if (c.snat && outer.dst == r.dst) RewriteDestination(data, outer, vnet, o.src, 0);
    if (c.dnat && outer.src == r.src) RewriteSource(data, outer, vnet, o.dst, 0);
  } else {
    if (c.snat) q.Rewrite(false, r.dst, r.dport);
    if (c.dnat) q.Rewrite(true, r.src, r.sport);
    if (c.snat) RewriteSource(data, outer, vnet, r.dst, 0);
    if (c.dnat && outer.dst == o.dst) RewriteDestination(data, outer, vnet, r.src, 0);
  }
}

}  // namespace cloudlet::firewall

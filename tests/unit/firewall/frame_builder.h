// Hand-built Ethernet + IPv4/IPv6 + TCP/UDP/ICMP frames for the firewall tests, parsed with ParseL3.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "firewall/firewall.h"
#include "net/ip_address.h"
#include "net/l3.h"

namespace cloudlet::firewall::testing {

struct Spec {
  IpAddress src, dst;
  uint8_t proto = kIpProtoTcp;
  uint16_t sport = 0, dport = 0;
  uint8_t flags = 0;
  uint32_t seq = 0, ack = 0;
  uint16_t window = 65535;
  uint8_t wscale = 0xff;  // on a SYN when != 0xff
  size_t payload = 0;
  uint8_t icmp_type = 0, icmp_code = 0;
  uint16_t icmp_id = 0;
  std::vector<uint8_t> quote;  // ICMP error body (an IP packet, from its first byte)
};

struct Frame {
  std::vector<uint8_t> bytes;
  L3Info info;
  uint8_t* data() { return bytes.data(); }
  uint32_t len() const { return static_cast<uint32_t>(bytes.size()); }
  // The IP packet (no Ethernet header), at most `max` bytes: what an ICMP error quotes.
  std::vector<uint8_t> Ip(size_t max = 1 << 20) const {
    const size_t n = std::min(max, bytes.size() - 14);
    return {bytes.begin() + 14, bytes.begin() + 14 + static_cast<long>(n)};
  }
};

inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}
inline void Put32(uint8_t* p, uint32_t v) {
  Put16(p, v >> 16);
  Put16(p + 2, v & 0xffff);
}

inline Frame Build(const Spec& s) {
  const bool v4 = s.src.family == IpAddress::Family::kV4;
  const size_t iphl = v4 ? 20 : 40;
  size_t l4hl = 8;
  if (s.proto == kIpProtoTcp) l4hl = s.wscale != 0xff ? 24 : 20;
  const size_t body = s.quote.empty() ? s.payload : s.quote.size();
  Frame f;
  f.bytes.assign(14 + iphl + l4hl + body, 0);
  uint8_t* p = f.bytes.data();
  std::memset(p, 0x02, 12);
  Put16(p + 12, v4 ? 0x0800 : 0x86dd);
  uint8_t* ip = p + 14;
  const size_t total = iphl + l4hl + body;
  if (v4) {
    ip[0] = 0x45;
    Put16(ip + 2, static_cast<uint16_t>(total));
    ip[6] = 0x40;  // DF
    ip[8] = 64;
    ip[9] = s.proto;
    std::memcpy(ip + 12, s.src.bytes.data(), 4);
    std::memcpy(ip + 16, s.dst.bytes.data(), 4);
  } else {
    ip[0] = 0x60;
    Put16(ip + 4, static_cast<uint16_t>(total - 40));
    ip[6] = s.proto;
    ip[7] = 64;
    std::memcpy(ip + 8, s.src.bytes.data(), 16);
    std::memcpy(ip + 24, s.dst.bytes.data(), 16);
  }
  uint8_t* l4 = ip + iphl;
  if (s.proto == kIpProtoTcp) {
    Put16(l4, s.sport);
    Put16(l4 + 2, s.dport);
    Put32(l4 + 4, s.seq);
    Put32(l4 + 8, s.ack);
    l4[12] = static_cast<uint8_t>((l4hl / 4) << 4);
    l4[13] = s.flags;
    Put16(l4 + 14, s.window);
    if (s.wscale != 0xff) {
      l4[20] = 1;  // NOP
      l4[21] = 3;
      l4[22] = 3;
      l4[23] = s.wscale;
    }
  } else if (s.proto == kIpProtoUdp) {
    Put16(l4, s.sport);
    Put16(l4 + 2, s.dport);
    Put16(l4 + 4, static_cast<uint16_t>(8 + body));
  } else {
    l4[0] = s.icmp_type;
    l4[1] = s.icmp_code;
    Put16(l4 + 4, s.icmp_id);
  }
  if (!s.quote.empty()) std::memcpy(l4 + l4hl, s.quote.data(), s.quote.size());
  EXPECT_EQ(ParseL3(p, f.bytes.size(), 14, v4 ? 0x0800 : 0x86dd, &f.info), L3Error::kNone);
  if (v4) SetIPv4HeaderChecksum(ip, 20);
  SetL4Checksum(p, f.info);
  return f;
}

// Every checksum in the frame is right (recomputed on a copy and compared).
inline bool ChecksumsOk(const Frame& f) {
  std::vector<uint8_t> copy = f.bytes;
  L3Info info;
  const uint16_t et = f.info.family == 4 ? 0x0800 : 0x86dd;
  if (ParseL3(copy.data(), copy.size(), 14, et, &info) != L3Error::kNone) return false;
  if (info.family == 4 && !IPv4HeaderChecksumOk(copy.data() + 14, 20)) return false;
  SetL4Checksum(copy.data(), info);
  return copy == f.bytes;
}

inline IpAddress V4(const char* s) { return *ParseIpAddress(s); }

// Both halves of the firewall for one routed packet, as the router calls them.
inline Verdict Pass(Firewall& fw, Frame& f, ZoneId from, ZoneId to, Nanos now,
                    const IpAddress& egress = V4("203.0.113.1"), FlowState* out = nullptr) {
  VnetHdr vnet;
  FlowState flow;
  Verdict v = fw.ingress(f.data(), f.info, vnet, f.len(), from, now, &flow);
  if (v.action == Action::kAccept) v = fw.egress(f.data(), f.info, vnet, f.len(), to, egress, now, &flow);
  if (out) *out = flow;
  return v;
}

inline std::shared_ptr<const CompiledRuleSet> MustCompile(const RuleSet& rs) {
  auto c = Firewall::Compile(rs);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
  return c.ok() ? c.value() : nullptr;
}

}  // namespace cloudlet::firewall::testing

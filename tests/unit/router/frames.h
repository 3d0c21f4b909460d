// Frames built by hand for the router's tests (router_test, router_port_test): Ethernet, IPv4/IPv6 with valid
// checksums, UDP, TCP, ICMP echo, ARP.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "net/ethernet.h"
#include "net/ip_address.h"
#include "net/l3.h"

namespace cloudlet::router::test {

using Bytes = std::vector<uint8_t>;

inline IpAddress Ip(const char* s) { return *ParseIpAddress(s); }
inline IpPrefix Pfx(const char* s) { return *ParseIpPrefix(s); }
inline MacAddr Mac(uint8_t a, uint8_t b) { return MacAddr{{0x02, 0, 0, 0, a, b}}; }

inline void PutMacAt(Bytes& b, size_t off, const MacAddr& m) { std::memcpy(&b[off], m.bytes.data(), 6); }

inline Bytes Eth(const MacAddr& src, const MacAddr& dst, uint16_t type) {
  Bytes b(14);
  PutMacAt(b, 0, dst);
  PutMacAt(b, 6, src);
  StoreBe16(&b[12], type);
  return b;
}

inline void FixChecksums(Bytes& f) {
  L3Info info;
  ASSERT_EQ(ParseL3(f.data(), f.size(), 14, LoadBe16(&f[12]), &info), L3Error::kNone);
  if (info.family == 4) SetIPv4HeaderChecksum(&f[14], 20);
  SetL4Checksum(f.data(), info);
}

inline Bytes Ip4(const MacAddr& smac, const MacAddr& dmac, const IpAddress& src, const IpAddress& dst, uint8_t proto,
                 const Bytes& l4, uint8_t ttl = 64, bool df = false) {
  Bytes f = Eth(smac, dmac, kEtherTypeIpv4);
  Bytes ip(20, 0);
  ip[0] = 0x45;
  StoreBe16(&ip[2], static_cast<uint16_t>(20 + l4.size()));
  StoreBe16(&ip[4], 0x1234);
  if (df) ip[6] = 0x40;
  ip[8] = ttl;
  ip[9] = proto;
  std::memcpy(&ip[12], src.bytes.data(), 4);
  std::memcpy(&ip[16], dst.bytes.data(), 4);
  f.insert(f.end(), ip.begin(), ip.end());
  f.insert(f.end(), l4.begin(), l4.end());
  FixChecksums(f);
  return f;
}

inline Bytes Ip6(const MacAddr& smac, const MacAddr& dmac, const IpAddress& src, const IpAddress& dst, uint8_t proto,
                 const Bytes& l4, uint8_t hops = 64) {
  Bytes f = Eth(smac, dmac, kEtherTypeIpv6);
  Bytes ip(40, 0);
  ip[0] = 0x60;
  StoreBe16(&ip[4], static_cast<uint16_t>(l4.size()));
  ip[6] = proto;
  ip[7] = hops;
  std::memcpy(&ip[8], src.bytes.data(), 16);
  std::memcpy(&ip[24], dst.bytes.data(), 16);
  f.insert(f.end(), ip.begin(), ip.end());
  f.insert(f.end(), l4.begin(), l4.end());
  FixChecksums(f);
  return f;
}

inline Bytes Udp(uint16_t sport, uint16_t dport, size_t payload = 20) {
  Bytes u(8 + payload, 0xab);
  StoreBe16(&u[0], sport);
  StoreBe16(&u[2], dport);
  StoreBe16(&u[4], static_cast<uint16_t>(u.size()));
  StoreBe16(&u[6], 0);
  return u;
}

inline Bytes Tcp(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, size_t payload = 0) {
  Bytes t(20 + payload, 0);
  StoreBe16(&t[0], sport);
  StoreBe16(&t[2], dport);
  for (int i = 0; i < 4; ++i) t[4 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) t[8 + i] = static_cast<uint8_t>(ack >> (24 - 8 * i));
  t[12] = 5 << 4;
  t[13] = flags;
  StoreBe16(&t[14], 65535);
  return t;
}

inline Bytes Echo(uint8_t type, uint16_t id, size_t payload = 32, uint16_t seq = 1) {
  Bytes e(8 + payload, 0x5a);
  e[0] = type;
  e[1] = 0;
  e[2] = e[3] = 0;
  StoreBe16(&e[4], id);
  StoreBe16(&e[6], seq);
  return e;
}

inline Bytes Arp(uint16_t op, const MacAddr& sha, const IpAddress& spa, const MacAddr& tha, const IpAddress& tpa,
                 const MacAddr& eth_dst) {
  Bytes f = Eth(sha, eth_dst, kEtherTypeArp);
  Bytes a(28, 0);
  StoreBe16(&a[0], 1);
  StoreBe16(&a[2], kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  StoreBe16(&a[6], op);
  std::memcpy(&a[8], sha.bytes.data(), 6);
  std::memcpy(&a[14], spa.bytes.data(), 4);
  std::memcpy(&a[18], tha.bytes.data(), 6);
  std::memcpy(&a[24], tpa.bytes.data(), 4);
  f.insert(f.end(), a.begin(), a.end());
  f.resize(60, 0);
  return f;
}

}  // namespace cloudlet::router::test

// libFuzzer target for the firewall's packet path: conntrack (TCP state/window tracking, ICMP errors and their quoted
// packets), NAT rewrites and classification. The input is a sequence of records:
//   2-byte big-endian length L (capped at 1500), time delta byte (x 2^(delta % 40) ns), zone byte (low nibble: the
//   ingress zone % 3, high nibble: the egress zone % 3), then L bytes of IP packet (IPv4 or IPv6 by its version).
// Each packet sits in an exactly-sized heap buffer behind a 14-byte Ethernet header (so ASan sees reads past its end),
// is parsed with ParseL3 and goes through ingress()/egress() of a small Firewall (64 connections, two rules, a
// masquerade and a port forward); expire() runs after every record. Invariants (abort on failure): the table never
// exceeds its bound, a packet the firewall rewrote still parses, and connections() agrees with stats().
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "firewall/firewall.h"
#include "net/l3.h"

namespace cloudlet::firewall {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

constexpr size_t kMax = 64;

std::shared_ptr<const CompiledRuleSet> Rules() {
  RuleSet rs;
  rs.zones = {"lan", "wan", "dmz"};
  Rule out;
  out.from_zones = {0};
  out.to_zones = {1};
  Rule web;
  web.from_zones = {1};
  web.proto = kIpProtoTcp;
  web.dports = {{80, 80}};
  rs.rules = {out, web};
  rs.masquerade = {Masquerade{0, 1, 1024, 1100}};
  PortForward fw;
  fw.from = 1;
  fw.proto = kIpProtoTcp;
  fw.port_lo = 8080;
  fw.port_hi = 8090;
  fw.to_address = IpAddress::V4(10, 0, 0, 5);
  fw.to_port = 80;
  rs.forwards = {fw};
  auto c = Firewall::Compile(rs);
  Check(c.ok());
  return c.value();
}

}  // namespace
}  // namespace cloudlet::firewall

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cloudlet;
  using namespace cloudlet::firewall;
  static const auto rules = Rules();
  ConntrackConfig config;
  config.max_connections = kMax;
  config.tcp_loose = size % 2 == 1;
  Firewall fw(config);
  fw.replace(rules, 0);
  Nanos now = kSecond;
  const IpAddress egress4 = IpAddress::V4(203, 0, 113, 1);
  const IpAddress egress6 = *ParseIpAddress("2001:db8::1");
  size_t pos = 0;
  while (pos + 4 <= size) {
    size_t len = static_cast<size_t>(data[pos] << 8 | data[pos + 1]) % 1501;
    now += Nanos{1} << (data[pos + 2] % 40);
    const ZoneId from = (data[pos + 3] & 0xf) % 3;
    const ZoneId to = (data[pos + 3] >> 4) % 3;
    pos += 4;
    len = std::min(len, size - pos);
    std::unique_ptr<uint8_t[]> frame(new uint8_t[14 + len]);
    std::memset(frame.get(), 0, 12);
    const bool v6 = len > 0 && (data[pos] >> 4) == 6;
    frame[12] = v6 ? 0x86 : 0x08;
    frame[13] = v6 ? 0xdd : 0x00;
    if (len) std::memcpy(frame.get() + 14, data + pos, len);
    pos += len;
    const uint32_t flen = static_cast<uint32_t>(14 + len);
    const uint16_t et = v6 ? 0x86dd : 0x0800;
    L3Info info;
    if (ParseL3(frame.get(), flen, 14, et, &info) == L3Error::kNone) {
      VnetHdr vnet;
      FlowState flow;
      Verdict v = fw.ingress(frame.get(), info, vnet, flen, from, now, &flow);
      if (v.action == Action::kAccept) {
        v = fw.egress(frame.get(), info, vnet, flen, to, v6 ? egress6 : egress4, now, &flow);
      }
      Check(!(v.invalid && v.action == Action::kAccept));
      // A rewritten packet is still a well-formed one.
      L3Info again;
      Check(ParseL3(frame.get(), flen, 14, et, &again) == L3Error::kNone);
    }
    fw.expire(now);
    const FirewallStats st = fw.stats();
    Check(st.connections <= kMax);
    Check(fw.connections(now - 1, 1000).size() <= st.connections);
  }
  // replace() keeps only what the same rules still allow: nothing grows.
  const size_t before = fw.stats().connections;
  fw.replace(rules, now);
  Check(fw.stats().connections <= before);
  return 0;
}

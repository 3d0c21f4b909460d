// libFuzzer target for the DHCP server: any bytes into DhcpServer::handle must give no reply or a well-formed
// BOOTREPLY within the buffer, never a crash, an overrun or a lease outside the pool/reservations. The input is split
// into several messages (first byte of each chunk: its length / 4) so multi-message exchanges (DORA, decline,
// release) are explored against one server whose clock advances between them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "router/dhcp.h"

using cloudlet::IpAddress;
using cloudlet::router::DhcpConfig;
using cloudlet::router::DhcpReplyTo;
using cloudlet::router::DhcpServer;
using cloudlet::router::kMinDhcpReplyCap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DhcpConfig c;
  c.subnet = *cloudlet::ParseIpPrefix("10.10.0.0/24");
  c.server = IpAddress::V4(10, 10, 0, 1);
  c.range_lo = IpAddress::V4(10, 10, 0, 1);  // includes the server: it must be skipped
  c.range_hi = IpAddress::V4(10, 10, 0, 4);
  c.dns = {IpAddress::V4(10, 10, 0, 1)};
  c.domain = "fuzz.example";
  c.mtu = 1400;
  c.reservations = {{cloudlet::MacAddr{{0x52, 0x54, 0, 0, 0, 7}}, IpAddress::V4(10, 10, 0, 200)}};
  int64_t now = 1'000'000;
  DhcpServer server(c, "", [&now] { return now; });
  if (!server.load().ok()) std::abort();

  uint8_t out[kMinDhcpReplyCap + 16];
  size_t off = 0;
  while (off < size) {
    size_t n = std::min<size_t>(size - off - 1, size_t{data[off]} * 8);
    const uint8_t* msg = data + off + 1;
    // The whole remaining input as one message too, so long messages (> 2040 bytes) are reached.
    if (data[off] == 0xff) n = size - off - 1;
    std::memset(out, 0xa5, sizeof out);
    DhcpReplyTo to;
    const size_t r = server.handle(msg, n, out, kMinDhcpReplyCap, &to);
    if (r > kMinDhcpReplyCap || out[kMinDhcpReplyCap] != 0xa5) std::abort();  // overran the buffer it was given
    if (r != 0 && (r < 300 || out[0] != 2 || std::memcmp(out + 4, msg + 4, 4) != 0)) std::abort();
    off += 1 + n;
    now += 7;
    if ((off & 3) == 0) server.expire();
  }
  for (const auto& l : server.leases()) {
    const uint8_t last = l.address.bytes[3];
    const bool in_pool = l.address.bytes[0] == 10 && l.address.bytes[1] == 10 && l.address.bytes[2] == 0 &&
                         ((last >= 2 && last <= 4) || last == 200);
    if (!in_pool) std::abort();
  }
  return 0;
}

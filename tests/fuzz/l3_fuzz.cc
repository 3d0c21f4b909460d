// libFuzzer target for net/l3.h: the input is an IP packet, parsed as IPv4 and as IPv6 (ParseL3, then ParseIcmpInner
// for ICMP errors). Every valid parse is rewritten on a copy (TTL, SNAT, DNAT, full and partial checksums) and answered
// with an ICMP error, checking the checksum invariants. Packets sit in exactly-sized heap buffers so ASan reports any
// read past the end; invariants are checked with abort().
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "net/ethernet.h"
#include "net/l3.h"

namespace cloudlet {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

size_t L4ChecksumOffset(const L3Info& info) {
  switch (info.proto) {
    case kIpProtoTcp:
      return 16;
    case kIpProtoUdp:
      return 6;
    case kIpProtoIcmpv6:
      return info.family == 6 ? 2 : SIZE_MAX;
    default:
      return SIZE_MAX;
  }
}

void CheckInfo(const L3Info& info, size_t size) {
  const size_t end = static_cast<size_t>(info.l3_offset) + info.ip_len;
  Check(end <= size);
  Check(info.l4_offset <= end);
  Check(info.l4_payload_len <= end - info.l4_offset);
  Check(info.family == 4 || info.family == 6);
}

void Exercise(const std::vector<uint8_t>& packet, uint16_t ethertype) {
  L3Info info;
  if (ParseL3(packet.data(), packet.size(), 0, ethertype, &info) != L3Error::kNone) return;
  CheckInfo(info, packet.size());
  Check(info.family == (ethertype == kEtherTypeIpv4 ? 4 : 6));

  if (info.is_icmp_error()) {
    L3Info inner;
    if (ParseIcmpInner(packet.data(), packet.size(), info, &inner) == L3Error::kNone) {
      CheckInfo(inner, info.l3_offset + info.ip_len);
      Check(inner.l3_offset == info.l4_offset + 8);
      Check(inner.family == info.family);
    }
  }

  const std::array<uint8_t, 16> new_src =
      info.family == 4 ? std::array<uint8_t, 16>{198, 51, 100, 9}
                       : std::array<uint8_t, 16>{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34};
  const std::array<uint8_t, 16> new_dst =
      info.family == 4 ? std::array<uint8_t, 16>{10, 0, 0, 99}
                       : std::array<uint8_t, 16>{0xfd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99};

  // Full checksums: whatever verified before still verifies after each rewrite.
  {
    std::vector<uint8_t> copy(packet);
    L3Info i = info;
    const bool header_ok = info.family != 4 || IPv4HeaderChecksumOk(copy.data(), (copy[0] & 0x0f) * 4u);
    const bool l4_ok = L4ChecksumOk(copy.data(), i);
    if (i.ttl > 1) {
      DecrementTtl(copy.data(), i);
      Check(i.ttl == info.ttl - 1);
    }
    RewriteSource(copy.data(), i, VnetHdr{}, new_src, static_cast<uint16_t>(i.sport ^ 0x5a5a));
    RewriteDestination(copy.data(), i, VnetHdr{}, new_dst, 4242);
    if (info.family == 4) Check(IPv4HeaderChecksumOk(copy.data(), (copy[0] & 0x0f) * 4u) == header_ok);
    if (l4_ok) Check(L4ChecksumOk(copy.data(), i));
    L3Info again;
    Check(ParseL3(copy.data(), copy.size(), 0, ethertype, &again) == L3Error::kNone);
    Check(again.src == new_src && again.dst == new_dst);
    Check(again.sport == i.sport && again.dport == i.dport);
    SetL4Checksum(copy.data(), i);
    Check(L4ChecksumOk(copy.data(), i));
  }

  // Partial checksums: the field follows the pseudo-header sum of the new addresses.
  const size_t at = L4ChecksumOffset(info);
  const size_t end = static_cast<size_t>(info.l3_offset) + info.ip_len;
  if (info.has_l4 && !info.is_fragment && at != SIZE_MAX && info.l4_offset + at + 2 <= end) {
    std::vector<uint8_t> copy(packet);
    L3Info i = info;
    const uint32_t l4_len = static_cast<uint32_t>(end - info.l4_offset);
    const uint16_t seed = static_cast<uint16_t>(PseudoHeaderSum(i, l4_len));
    std::memcpy(copy.data() + i.l4_offset + at, &seed, 2);
    VnetHdr vnet;
    vnet.flags = VnetHdr::kFlagNeedsCsum;
    RewriteSource(copy.data(), i, vnet, new_src, 1000);
    RewriteDestination(copy.data(), i, vnet, new_dst, 2000);
    uint16_t got;
    std::memcpy(&got, copy.data() + i.l4_offset + at, 2);
    const uint16_t want = static_cast<uint16_t>(PseudoHeaderSum(i, l4_len));
    Check(got % 0xffff == want % 0xffff);
  }

  // ICMP errors: bounded size, valid checksums, parseable.
  // Built even where MayAnswerWithIcmpError says no: the builder must still be safe.
  {
    const bool may_answer = MayAnswerWithIcmpError(info);
    Check(!may_answer || !info.is_icmp_error());
    std::vector<uint8_t> out(1500);
    const uint8_t type = info.family == 4 ? kIcmpTimeExceeded : kIcmp6TimeExceeded;
    const size_t n = BuildIcmpError(packet.data() + info.l3_offset, info.ip_len, info, new_src, type, 0, 1280,
                                    out.data(), out.size());
    if (n == 0) return;
    Check(n <= (info.family == 4 ? 576u : 1280u));
    out.resize(n);
    L3Info err;
    Check(ParseL3(out.data(), n, 0, ethertype, &err) == L3Error::kNone);
    Check(err.is_icmp_error() && err.ip_len == n);
    if (info.family == 4) Check(IPv4HeaderChecksumOk(out.data(), 20));
    Check(L4ChecksumOk(out.data(), err));
    L3Info inner;
    if (ParseIcmpInner(out.data(), n, err, &inner) == L3Error::kNone) {
      CheckInfo(inner, n);
      Check(inner.src == info.src && inner.dst == info.dst);
    }
  }
}

}  // namespace
}  // namespace cloudlet

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> packet(data, data + size);
  cloudlet::Exercise(packet, cloudlet::kEtherTypeIpv4);
  cloudlet::Exercise(packet, cloudlet::kEtherTypeIpv6);
  return 0;
}

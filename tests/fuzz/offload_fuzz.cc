// libFuzzer target for the TUN offload helpers (vpn/offload.h). Byte 0 picks the mode:
//   even: SegmentTunPacket. Bytes 1-10 are the virtio header (little-endian, as the TUN gives it), byte 11 the
//         segment limit, byte 12 the stride, byte 13 how much the output area falls short; the rest is the packet,
//         in an exactly-sized heap buffer so ASan sees any read past it. Invariants: segments lie inside their
//         stride slot and the area (canary bytes untouched), a TSO packet's segments carry its payload in order with
//         valid IPv4 header and TCP checksums.
//   odd:  TcpCoalescer. Byte 1 is the capacity, then records: op byte, kind = op % 4:
//         0 raw packet (2-byte LE length, bytes), 1 the previous packet continued (TCP seq advanced by its payload,
//         one byte XORed: position byte, value byte), 2 the same plus (op >> 2) % 16 zero padding bytes,
//         3 end of batch. Invariants: every accepted byte leaves exactly once (merged segments count their header
//         once), groups stay within 64 KiB and the iovec limit, and a group cut again with SegmentTunPacket gives back
//         as many segments as it took.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "vpn/offload.h"

namespace cloudlet::vpn {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

uint16_t Rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

constexpr uint8_t kCanary = 0xa5;
constexpr size_t kOffset = 16;

// Offsets of a TCP packet as the fuzzer itself reads them (0 if it is not one): IP header length, header length.
struct TcpView {
  size_t iphl = 0, hlen = 0, len = 0;
};
TcpView ViewTcp(const uint8_t* p, size_t n) {
  TcpView v;
  if (n < 20) return v;
  size_t iphl = 0, len = 0;
  if ((p[0] >> 4) == 4) {
    iphl = size_t{p[0] & 0xfu} * 4;
    len = Rd16(p + 2);
    if (p[9] != 6 || iphl < 20 || (Rd16(p + 6) & 0x3fff) != 0) return v;
  } else if ((p[0] >> 4) == 6) {
    if (n < 40 || p[6] != 6) return v;
    iphl = 40;
    len = 40 + size_t{Rd16(p + 4)};
  } else {
    return v;
  }
  if (len > n || len < iphl + 20) return v;
  const size_t thl = static_cast<size_t>(p[iphl + 12] >> 4) * 4;
  if (thl < 20 || iphl + thl > len) return v;
  return TcpView{iphl, iphl + thl, len};
}

void FuzzSegment(const uint8_t* data, size_t size) {
  if (size < 14) return;
  VnetHdr h;
  h.flags = data[1];
  h.gso_type = data[2];
  h.hdr_len = Le16(data + 3);
  h.gso_size = Le16(data + 5);
  h.csum_start = Le16(data + 7);
  h.csum_offset = Le16(data + 9);
  const size_t max_segments = 1 + data[11] % 64;
  const size_t stride = kOffset + 100 + 200 * (data[12] % 32);
  const size_t out_size = stride * max_segments - data[13] % 64;
  auto packet = std::make_unique<uint8_t[]>(size - 14);
  std::memcpy(packet.get(), data + 14, size - 14);
  const std::span<const uint8_t> in(packet.get(), size - 14);
  auto out = std::make_unique<uint8_t[]>(out_size);
  std::memset(out.get(), kCanary, out_size);
  auto lengths = std::make_unique<size_t[]>(max_segments);

  auto n = SegmentTunPacket(h, in, SegmentArea{{out.get(), out_size}, stride, kOffset, {lengths.get(), max_segments}});
  if (!n.ok()) return;
  Check(*n >= 1 && *n <= max_segments);
  size_t payload = 0;
  const TcpView orig = ViewTcp(in.data(), in.size());
  const bool tso = (h.gso_type & 0x7f) != VnetHdr::kGsoNone;
  for (size_t i = 0; i < *n; ++i) {
    const size_t len = lengths[i];
    Check(len > 0 && kOffset + len <= stride && i * stride + kOffset + len <= out_size);
    for (size_t j = 0; j < kOffset; ++j) Check(out[i * stride + j] == kCanary);
    const size_t end = std::min(out_size, (i + 1) * stride);
    for (size_t j = i * stride + kOffset + len; j < end; ++j) Check(out[j] == kCanary);
    if (!tso) {
      Check(*n == 1 && len == in.size());
      continue;
    }
    const uint8_t* s = out.get() + i * stride + kOffset;
    Check(orig.hlen != 0);
    const TcpView v = ViewTcp(s, len);
    Check(v.hlen == orig.hlen && v.len == len);
    if ((s[0] >> 4) == 4) Check(ChecksumFold(ChecksumAdd({s, v.iphl})) == 0xffff);
    const auto l4 = static_cast<uint32_t>(len - v.iphl);
    const uint64_t pseudo =
        (s[0] >> 4) == 4 ? PseudoHeaderSum({s + 12, 8}, 6, l4) : PseudoHeaderSum({s + 8, 32}, 6, l4);
    Check(ChecksumFold(ChecksumAdd({s + v.iphl, l4}, pseudo)) == 0xffff);
    Check(std::memcmp(s + v.hlen, in.data() + orig.hlen + payload, len - v.hlen) == 0);
    payload += len - v.hlen;
  }
  for (size_t j = (*n - 1) * stride + stride; j < out_size; ++j) Check(out[j] == kCanary);
  if (tso) Check(payload == in.size() - orig.hlen);
}

struct Batch {
  std::vector<std::unique_ptr<uint8_t[]>> buffers;  // exactly sized, alive until the batch ends
  size_t accepted_bytes = 0;                        // IP lengths of the accepted packets
  size_t accepted = 0;
};

void CheckBatch(TcpCoalescer& c, Batch& batch) {
  auto out = c.Finish();
  size_t segments = 0, bytes = 0;
  for (const CoalescedPacket& p : out) {
    Check(p.iov_count >= 2 && p.iov_count <= 1024 && p.iov[0].iov_len == sizeof(VnetHdr));
    Check(p.segments >= 1 && p.iov_count == (p.segments == 1 ? 2 : p.segments + 2));
    VnetHdr h;
    std::memcpy(&h, p.iov[0].iov_base, sizeof h);
    std::vector<uint8_t> gathered;
    for (size_t i = 1; i < p.iov_count; ++i) {
      auto* b = static_cast<const uint8_t*>(p.iov[i].iov_base);
      gathered.insert(gathered.end(), b, b + p.iov[i].iov_len);
    }
    Check(gathered.size() == p.ip_length);
    segments += p.segments;
    if (p.segments == 1) {
      Check(h.flags == VnetHdr::kFlagDataValid && h.gso_type == VnetHdr::kGsoNone);
      bytes += p.ip_length;
      continue;
    }
    Check(h.flags == VnetHdr::kFlagNeedsCsum && h.gso_size > 0 && p.ip_length <= 65535);
    Check(p.ip_length > size_t{h.hdr_len} + h.gso_size);
    bytes += p.ip_length + (p.segments - 1) * h.hdr_len;
    // Cut it again: the same number of segments, each with valid checksums (checked by the segment path above).
    std::vector<uint8_t> area((p.segments + 1) * (kOffset + h.hdr_len + h.gso_size));
    std::vector<size_t> lengths(p.segments + 1);
    auto n =
        SegmentTunPacket(h, gathered, SegmentArea{area, kOffset + size_t{h.hdr_len} + h.gso_size, kOffset, lengths});
    Check(n.ok() && *n == p.segments);
  }
  Check(segments == batch.accepted && bytes == batch.accepted_bytes);
  c.Reset();
  batch = Batch{};
}

void FuzzCoalesce(const uint8_t* data, size_t size) {
  if (size < 2) return;
  TcpCoalescer c(1 + data[1] % 128);
  Batch batch;
  std::vector<uint8_t> prev;  // the previous input packet, as given
  size_t pos = 2;
  while (pos < size) {
    const uint8_t op = data[pos++];
    std::vector<uint8_t> pkt;
    switch (op % 4) {
      case 0: {
        if (size - pos < 2) return CheckBatch(c, batch);
        const size_t len = std::min<size_t>(Le16(data + pos), size - pos - 2);
        pkt.assign(data + pos + 2, data + pos + 2 + len);
        pos += 2 + len;
        break;
      }
      case 1:
      case 2: {
        if (size - pos < 2) return CheckBatch(c, batch);
        pkt = prev;
        const TcpView v = ViewTcp(pkt.data(), pkt.size());
        if (v.hlen != 0) {
          uint8_t* seq = pkt.data() + v.iphl + 4;
          const uint32_t next = (uint32_t{Rd16(seq)} << 16 | Rd16(seq + 2)) + static_cast<uint32_t>(v.len - v.hlen);
          seq[0] = static_cast<uint8_t>(next >> 24);
          seq[1] = static_cast<uint8_t>(next >> 16);
          seq[2] = static_cast<uint8_t>(next >> 8);
          seq[3] = static_cast<uint8_t>(next);
        }
        if (!pkt.empty()) pkt[data[pos] % pkt.size()] ^= data[pos + 1];
        pos += 2;
        if (op % 4 == 2) pkt.resize(pkt.size() + (op >> 2) % 16, 0);
        break;
      }
      default:
        CheckBatch(c, batch);
        continue;
    }
    prev = pkt;
    if (c.full()) CheckBatch(c, batch);
    auto buf = std::make_unique<uint8_t[]>(pkt.size());
    if (!pkt.empty()) std::memcpy(buf.get(), pkt.data(), pkt.size());
    // The IP length the coalescer must keep, read before Finish() rewrites any header.
    size_t ip_len = 0;
    if (pkt.size() >= 20 && (pkt[0] >> 4) == 4) ip_len = Rd16(&pkt[2]);
    if (pkt.size() >= 40 && (pkt[0] >> 4) == 6) ip_len = 40 + size_t{Rd16(&pkt[4])};
    if (c.Add({buf.get(), pkt.size()}).ok()) {
      Check(ip_len != 0 && ip_len <= pkt.size());
      batch.accepted_bytes += ip_len;
      ++batch.accepted;
    }
    batch.buffers.push_back(std::move(buf));
  }
  CheckBatch(c, batch);
}

}  // namespace
}  // namespace cloudlet::vpn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    cloudlet::vpn::FuzzSegment(data, size);
  } else {
    cloudlet::vpn::FuzzCoalesce(data, size);
  }
  return 0;
}

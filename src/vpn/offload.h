// Offload helpers for the WireGuard device's TUN side, sans-IO. The TUN is opened with IFF_VNET_HDR and
// TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6, so every read() is a virtio_net_hdr followed by an IP packet that may be a
// TCP super-packet of up to 64 KiB (TSO) or one packet whose checksum is left to us (NEEDS_CSUM). WireGuard carries
// plain IP packets, so:
//   TX  SegmentTunPacket() cuts a super-packet into MSS-sized IP packets with full checksums, writing them at a
//       fixed stride so that the sealed messages end up back to back for one UDP GSO sendmsg();
//   RX  TcpCoalescer groups decrypted consecutive segments of one TCP flow into a super-packet again (Linux
//       tcp_gro_receive rules), as a zero-copy gather list to writev() to the TUN.
// Nothing here allocates per packet; the coalescer allocates its tables once, at construction.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "net/packet.h"

namespace cloudlet::vpn {

// --- Internet checksum (RFC 1071) ---

// Adds `data`, read as big-endian 16-bit words (an odd last byte padded with zero), to a running sum. Chain calls
// only with even-sized chunks except the last. The result is unfolded and uncomplemented.
uint64_t ChecksumAdd(std::span<const uint8_t> data, uint64_t sum = 0);
// The 16-bit one's-complement sum of a running sum (not complemented).
uint16_t ChecksumFold(uint64_t sum);
// The value to store in a checksum field: the complemented folded sum.
inline uint16_t ChecksumFinish(uint64_t sum) { return static_cast<uint16_t>(~ChecksumFold(sum)); }
// The sum of the TCP/UDP pseudo-header: `addresses` is the IP source address followed by the destination address
// (8 bytes for IPv4, 32 for IPv6), `l4_length` the transport header + payload length.
uint64_t PseudoHeaderSum(std::span<const uint8_t> addresses, uint8_t protocol, uint32_t l4_length);

// --- TX: segmentation of what the TUN hands us ---

// Where SegmentTunPacket writes: segment i goes to out[i * stride + offset, ...), its length to lengths[i]. At most
// lengths.size() segments are written. `offset` leaves room in front (the WireGuard data header); a segment longer
// than stride - offset is refused, so the caller sizes stride to hold offset + the longest segment + its trailer.
struct SegmentArea {
  std::span<uint8_t> out;
  size_t stride = 0;
  size_t offset = 0;
  std::span<size_t> lengths;
};

// Turns one TUN read (its virtio header `vnet` and the IP packet after it) into plain IP packets in `area`; returns
// how many. A TSO packet (gso_type TCPV4/TCPV6) becomes gso_size-payload TCP segments with fixed-up IP lengths, IPv4
// ids and header checksums, sequence numbers, flags (FIN/PSH only on the last, CWR only on the first) and full TCP
// checksums. A non-GSO packet with NEEDS_CSUM gets its checksum completed (the sum from csum_start to the end is
// stored at csum_start + csum_offset); any other packet is copied as is. Every header field is validated; garbage
// is an error and nothing read or written lies outside `packet` and `area`.
Result<size_t> SegmentTunPacket(const VnetHdr& vnet, std::span<const uint8_t> packet, const SegmentArea& area);

// --- RX: coalescing decrypted packets for the TUN ---

// One packet to write to the TUN: iov[0] is its virtio header (`vnet`), the rest are the IP packet's bytes, so
// writev(tun_fd, iov, iov_count) sends it as is.
struct CoalescedPacket {
  VnetHdr vnet;
  const iovec* iov = nullptr;
  size_t iov_count = 0;
  size_t ip_length = 0;  // IP packet bytes (without the virtio header)
  size_t segments = 0;   // input packets it carries
};

// Groups consecutive TCP segments of one flow, in arrival order, into super-packets; everything else passes through
// as lone packets (flags DATA_VALID: the WireGuard layer authenticated them, so their checksums are not checked).
// Segments merge when they continue the group's flow (same addresses, ports, IP version), sequence (seq == previous
// seq + previous payload length) and ack, carry the same payload size as the first except for a smaller last one,
// have flags exactly ACK (ACK|PSH closes the group), identical TCP options and window, and no IPv4 options,
// fragmentation or IPv6 extension headers, with equal TOS/TTL/DF (IPv6: first word and hop limit), up to 64 KiB of
// IP length. Packets of one flow leave in the order they came (a fragment or IPv6 extension-header packet closes the
// groups between its hosts, as it may belong to one); at most kMaxOpenGroups flows are open at once (the
// least recently used is closed to make room).
//
// Use per batch: Add() each packet, Finish() for the output, write it, then Reset(). Packet buffers must stay valid
// until Reset(): the output points into them, and Finish() rewrites the first header of each group in place.
class TcpCoalescer {
 public:
  static constexpr size_t kMaxOpenGroups = 8;
  // One writev() takes at most UIO_MAXIOV (1024) iovecs: the virtio header, the first header, one per segment.
  static constexpr size_t kMaxGroupSegments = 1022;

  // Room for `capacity` input packets per batch; all tables are allocated here.
  explicit TcpCoalescer(size_t capacity);

  // Takes one decrypted IP packet (bytes past the IP total length, such as WireGuard's zero padding, are dropped).
  // Errors: the coalescer is full(), or the IP or TCP header is malformed; the packet is then not taken (drop it).
  Status Add(std::span<uint8_t> packet);
  bool full() const { return count_ == entries_.size(); }
  size_t size() const { return count_; }

  // Closes every group, rewrites the first header of each multi-segment group (IP length and checksum, TCP
  // checksum field = pseudo-header sum for NEEDS_CSUM, PSH of the last segment) and returns the packets to write,
  // valid until Reset(). Call once per batch.
  std::span<const CoalescedPacket> Finish();
  // Forgets the batch (and the packet buffers).
  void Reset();

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Entry {
    uint8_t* data = nullptr;
    uint32_t len = 0;  // IP length, padding stripped
    uint16_t ip_hdr_len = 0;
    uint16_t tcp_hdr_len = 0;  // 0 unless `tcp`
    uint32_t seq = 0;
    uint8_t tcp_flags = 0;
    uint8_t version = 0;
    bool tcp = false;        // TCP with a valid header (not a fragment): it belongs to a flow
    bool candidate = false;  // may join a group: payload, flags ACK (maybe PSH), no IPv4 options
    uint32_t next = kNone;   // next entry of the same output packet
    uint32_t payload_len() const { return len - ip_hdr_len - tcp_hdr_len; }
  };
  struct Output {
    uint32_t first = 0;
    uint32_t last = 0;
    uint32_t count = 0;
    uint32_t payload = 0;   // sum of the segments' payload lengths
    uint32_t next_seq = 0;  // seq the next segment must have
    bool closed = false;
  };

  static bool SameAddresses(const Entry& a, const Entry& b);
  static bool SameFlow(const Entry& a, const Entry& b);
  bool CanMerge(const Output& group, const Entry& e) const;
  void CloseOpen(size_t slot);

  std::vector<Entry> entries_;
  std::vector<Output> outputs_;
  std::vector<CoalescedPacket> packets_;
  std::vector<iovec> iovecs_;
  size_t count_ = 0;  // entries used
  size_t outputs_used_ = 0;
  // Open groups (indices into outputs_), least recently used first.
  uint32_t open_[kMaxOpenGroups] = {};
  size_t open_count_ = 0;
  bool finished_ = false;
};

}  // namespace cloudlet::vpn

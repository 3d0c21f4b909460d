// Scatter-gather layout of one transmitted frame, shared by the kernel ports:
//   [virtio_net_hdr copy][12 address bytes][outer tag, if TxItem.tpid][rest of the frame]
// The tag is inserted by the iovec layout, so one received buffer can go out of several ports with different tagging
// and nothing is copied in userspace. When a tag is pushed, the vnet copy's offsets move by +4.
#pragma once

#include <sys/uio.h>

#include <cstdint>

#include "net/packet.h"

namespace cloudlet {

constexpr size_t kEthAddrBytes = 12;  // destination + source MAC
constexpr size_t kEthHeaderBytes = 14;
constexpr size_t kVlanTagBytes = 4;

struct TxScatter {
  VnetHdr vnet;
  uint8_t tag[kVlanTagBytes];
  iovec iov[4];
  int iovcnt = 0;
};

// Fills `s` for `item`. Returns false (and leaves `s` unusable) when the item cannot be sent: no packet, a frame too
// short to carry an Ethernet header, or a tag that would not fit the largest frame a port accepts.
inline bool BuildTxScatter(const TxItem& item, TxScatter& s) {
  const Packet* pkt = item.pkt;
  if (pkt == nullptr || pkt->data == nullptr || pkt->len < kEthHeaderBytes) return false;
  s.vnet = pkt->vnet;
  s.iov[0] = {&s.vnet, sizeof(VnetHdr)};
  if (item.tpid == 0) {
    s.iov[1] = {pkt->data, pkt->len};
    s.iovcnt = 2;
    return true;
  }
  if (pkt->len + kVlanTagBytes > kMaxFrameSize) return false;
  s.tag[0] = static_cast<uint8_t>(item.tpid >> 8);
  s.tag[1] = static_cast<uint8_t>(item.tpid);
  s.tag[2] = static_cast<uint8_t>(item.tci >> 8);
  s.tag[3] = static_cast<uint8_t>(item.tci);
  s.vnet.shift(+static_cast<int>(kVlanTagBytes));
  s.iov[1] = {pkt->data, kEthAddrBytes};
  s.iov[2] = {s.tag, kVlanTagBytes};
  s.iov[3] = {pkt->data + kEthAddrBytes, pkt->len - kEthAddrBytes};
  s.iovcnt = 4;
  return true;
}

// Writes an out-of-band tag (from the kernel's packet metadata) back inline, in the packet's headroom: the 12 address
// bytes move 4 bytes towards the buffer start and the tag goes after them. Offload offsets move by +4.
// Returns false when there is no headroom or the frame is too short.
inline bool InsertTagInline(Packet& pkt, uint16_t tpid, uint16_t tci) {
  if (pkt.headroom < kVlanTagBytes || pkt.len < kEthAddrBytes) return false;
  uint8_t* start = pkt.data - kVlanTagBytes;
  __builtin_memmove(start, pkt.data, kEthAddrBytes);
  start[12] = static_cast<uint8_t>(tpid >> 8);
  start[13] = static_cast<uint8_t>(tpid);
  start[14] = static_cast<uint8_t>(tci >> 8);
  start[15] = static_cast<uint8_t>(tci);
  pkt.data = start;
  pkt.len += kVlanTagBytes;
  pkt.headroom -= kVlanTagBytes;
  pkt.vnet.shift(+static_cast<int>(kVlanTagBytes));
  return true;
}

}  // namespace cloudlet

// A packet as it moves through the data plane: a view into a port-owned buffer plus offload metadata.
// Nothing here allocates; buffers belong to the port that received the packet and stay valid until that port's
// next receive() call, which the runtime only makes after the whole batch has been transmitted.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cloudlet {

// Largest batch a port returns from one receive() and the switch processes in one call.
constexpr size_t kMaxBatch = 64;
// Headroom every port leaves before a received frame, so tags can be re-inserted in place without copying the
// payload (an out-of-band VLAN tag from the kernel is written back inline by moving the 12 address bytes).
constexpr size_t kPacketHeadroom = 64;
// Largest frame a port accepts: a 64 KiB GSO super-frame plus Ethernet and two tags.
constexpr size_t kMaxFrameSize = 65536 + 14 + 8;

// Offload metadata, layout-identical to Linux's struct virtio_net_hdr (little-endian fields on x86, which is
// what AF_PACKET with PACKET_VNET_HDR and TAP with IFF_VNET_HDR use on a little-endian host).
struct VnetHdr {
  static constexpr uint8_t kFlagNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
  static constexpr uint8_t kFlagDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
  static constexpr uint8_t kGsoNone = 0;
  static constexpr uint8_t kGsoTcpV4 = 1;
  static constexpr uint8_t kGsoUdp = 3;
  static constexpr uint8_t kGsoTcpV6 = 4;
  static constexpr uint8_t kGsoEcn = 0x80;

  uint8_t flags = 0;
  uint8_t gso_type = kGsoNone;
  uint16_t hdr_len = 0;      // length of L2+L3+L4 headers
  uint16_t gso_size = 0;     // segment payload size
  uint16_t csum_start = 0;   // offset from frame start where checksumming starts
  uint16_t csum_offset = 0;  // offset after csum_start where the checksum is stored

  // Keeps the offsets right when `delta` bytes are inserted (positive) or removed (negative) before the L3 header,
  // as happens on VLAN tag push/pop.
  void shift(int delta) {
    if (flags & kFlagNeedsCsum) csum_start = static_cast<uint16_t>(csum_start + delta);
    if (gso_type != kGsoNone && hdr_len != 0) hdr_len = static_cast<uint16_t>(hdr_len + delta);
  }
};
static_assert(sizeof(VnetHdr) == 10, "must match struct virtio_net_hdr");

struct Packet {
  uint8_t* data = nullptr;  // first byte of the Ethernet frame
  uint32_t len = 0;         // frame length in bytes (without any vnet header)
  uint32_t headroom = 0;    // bytes writable before `data`
  VnetHdr vnet;             // offload metadata; all-zero for an ordinary frame

  // Set by the switch at ingress: the VLAN the frame belongs to inside the switch and its 802.1p priority.
  // By then the classifying tag has been removed from `data` (inner tags of QinQ stay in the payload).
  uint16_t vlan = 0;
  uint8_t pcp = 0;
};

// One frame to transmit, with the outer tag to put on the wire (tpid == 0: send as is). Ports insert the tag on the
// way out (scatter-gather where they can), so one received buffer can be flooded with different tagging per port.
struct TxItem {
  const Packet* pkt = nullptr;
  uint16_t tpid = 0;  // 0, 0x8100 or 0x88a8
  uint16_t tci = 0;   // PCP(3) | DEI(1) | VID(12)
};

}  // namespace cloudlet

// AfPacketPort: a switch port on an existing kernel Ethernet interface (veth end, host NIC) through an AF_PACKET
// socket. Offload-aware: with PACKET_VNET_HDR a 64 KiB GSO super-frame and its partial checksum cross as one unit
// (the virtio_net_hdr travels in Packet::vnet); VLAN tags the kernel moved out of band are put back inline.
// Batched: recvmmsg into buffers allocated once at open, sendmmsg with scatter-gather tag insertion.
#pragma once

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <array>
#include <memory>
#include <string>

#include "base/fd.h"
#include "base/status.h"
#include "port/port.h"
#include "port/tx_scatter.h"

namespace cloudlet {

class AfPacketPort final : public Port {
 public:
  struct Options {
    // Largest frame a receive buffer holds; longer frames arrive truncated and are counted as rx_errors.
    // Smaller values are for tests.
    size_t frame_capacity = kMaxFrameSize;
    // Socket buffer sizes (forced past rmem_max/wmem_max when running as root).
    int rcvbuf_bytes = 32 << 20;
    int sndbuf_bytes = 32 << 20;
  };

  // Attaches to `ifname` in the calling thread's network namespace. The interface must exist; bringing it up is the
  // caller's job. Error example: "interface clp-x: No such device".
  static Result<std::unique_ptr<AfPacketPort>> Open(const std::string& ifname);
  static Result<std::unique_ptr<AfPacketPort>> Open(const std::string& ifname, const Options& options);

  const std::string& name() const override { return name_; }
  int poll_fd() const override { return fd_.get(); }
  bool supports_offload() const override { return true; }
  size_t receive(Packet** out, size_t max) override;
  size_t send(std::span<const TxItem> items) override;
  const PortIoCounters& io_counters() const override;  // reads PACKET_STATISTICS for rx_dropped

  int ifindex() const { return ifindex_; }

 private:
  AfPacketPort(std::string name, UniqueFd fd, int ifindex, size_t frame_capacity);
  size_t send_chunk(std::span<const TxItem> items);

  // Room for one PACKET_AUXDATA control message per received frame.
  static constexpr size_t kCmsgSpace = CMSG_SPACE(sizeof(tpacket_auxdata));
  struct alignas(cmsghdr) CmsgBuf {
    uint8_t bytes[kCmsgSpace];
  };

  std::string name_;
  UniqueFd fd_;
  int ifindex_ = -1;
  size_t frame_capacity_;
  size_t slot_bytes_;
  std::unique_ptr<uint8_t[]> buffers_;  // kMaxBatch slots of [headroom][frame_capacity]
  mutable PortIoCounters io_;

  // Receive state: one message per buffer slot, iovec [vnet header -> packets_[i].vnet][frame at headroom].
  std::array<Packet, kMaxBatch> packets_{};
  std::array<std::array<iovec, 2>, kMaxBatch> rx_iov_{};
  std::array<CmsgBuf, kMaxBatch> rx_cmsg_{};
  std::array<mmsghdr, kMaxBatch> rx_msgs_{};

  // Transmit state, rebuilt per send().
  std::array<TxScatter, kMaxBatch> tx_scatter_{};
  std::array<mmsghdr, kMaxBatch> tx_msgs_{};
};

}  // namespace cloudlet

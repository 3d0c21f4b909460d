// TapPort: a switch port on a TAP device the port creates (for VMs, or a namespace's side of the switch).
// The device belongs to the open file descriptor and disappears when the port is destroyed. Offload-aware like
// AfPacketPort: IFF_VNET_HDR plus TUNSETOFFLOAD make the kernel hand over GSO super-frames with partial checksums.
#pragma once

#include <sys/uio.h>

#include <array>
#include <memory>
#include <string>

#include "base/fd.h"
#include "base/status.h"
#include "port/port.h"
#include "port/tx_scatter.h"

namespace cloudlet {

class TapPort final : public Port {
 public:
  // Creates TAP device `ifname` in the calling thread's network namespace and brings it up.
  // Error example: "tap clp-x: create: Device or resource busy".
  static Result<std::unique_ptr<TapPort>> Open(const std::string& ifname);

  const std::string& name() const override { return name_; }
  int poll_fd() const override { return fd_.get(); }
  bool supports_offload() const override { return true; }
  size_t receive(Packet** out, size_t max) override;
  size_t send(std::span<const TxItem> items) override;
  const PortIoCounters& io_counters() const override { return io_; }

 private:
  TapPort(std::string name, UniqueFd fd);

  std::string name_;
  UniqueFd fd_;
  size_t slot_bytes_;
  std::unique_ptr<uint8_t[]> buffers_;  // kMaxBatch slots of [headroom][kMaxFrameSize]
  std::array<Packet, kMaxBatch> packets_{};
  PortIoCounters io_;
  TxScatter tx_scatter_;
};

}  // namespace cloudlet

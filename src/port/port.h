// What a switch port is to the data plane: something that receives and transmits batches of frames.
// AF_PACKET (veth, host NICs), TAP (VMs), and later WireGuard, VXLAN and vhost-user ports implement this; the
// forwarding logic in dataplane/ never sees which kind it talks to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "net/packet.h"

namespace cloudlet {

struct PortIoCounters {
  uint64_t rx_errors = 0;   // receive syscalls that failed, or frames the port could not represent (truncated)
  uint64_t tx_errors = 0;   // frames the kernel refused or that did not fit
  uint64_t rx_dropped = 0;  // frames the kernel dropped before the port read them (receive queue full)
};

class Port {
 public:
  virtual ~Port() = default;

  // Kernel interface name (e.g. "clp-3fa2c1d0") or a descriptive name for in-process ports.
  virtual const std::string& name() const = 0;
  // File descriptor that becomes readable when receive() has work; -1 for ports that are polled.
  virtual int poll_fd() const = 0;
  // True when send() accepts GSO super-frames (vnet.gso_type != kGsoNone) and partial checksums.
  virtual bool supports_offload() const = 0;

  // Receives up to `max` (<= kMaxBatch) frames into port-owned buffers and points `out[i]` at them.
  // Returns how many; 0 when nothing is pending. The packets stay valid until the next receive() on this port.
  // Frames arrive with all their tags inline (an out-of-band tag from the kernel is re-inserted).
  virtual size_t receive(Packet** out, size_t max) = 0;

  // Transmits a batch; returns how many were accepted. The caller owns the packets; the port must be done with
  // them (copied into the kernel) when send() returns.
  virtual size_t send(std::span<const TxItem> items) = 0;

  // Ports whose kernel keeps its own drop count refresh rx_dropped here (a syscall: call it for status, not per batch).
  virtual const PortIoCounters& io_counters() const = 0;
};

}  // namespace cloudlet
